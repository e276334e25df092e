# `make demo` and `make test` set themselves up first; setup is a no-op when nothing changed.
# The demo installs only kdlab's core dependencies; the tests add the extras and test tools (.[dev]).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CORE := $(VENV)/.kdlab-core
DEV := $(VENV)/.kdlab-dev
# Where no NVIDIA GPU is present, install this CPU build of torch first (several GB less than
# the default CUDA build). Elsewhere, point TORCH_CPU_PIP_ARGS at PyTorch's CPU wheel index.
TORCH_CPU_VERSION ?= 2.13.0
TORCH_CPU_PIP_ARGS ?=
ARGS ?=

.PHONY: setup demo test bench clean

setup: $(DEV)

$(CORE): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(PY) -c "import torch" 2>/dev/null; then \
		$(PY) -m pip install -q "torch==$(TORCH_CPU_VERSION)" $(TORCH_CPU_PIP_ARGS); \
	fi
	$(PY) -m pip install -q -e .
	touch $(CORE)

$(DEV): $(CORE)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(DEV)

demo: $(CORE)
	$(VENV)/bin/kdlab demo $(ARGS)

test: $(DEV)
	$(PY) -m pytest -q

bench: $(DEV)
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/analysis.py
	$(PY) benchmarks/ntk.py
	$(PY) benchmarks/text_step.py
	$(PY) benchmarks/methods_step.py

clean:
	rm -rf $(VENV) runs
