# `make demo` and `make test` set themselves up first; setup is a no-op when nothing changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kdlab-installed
# Where no NVIDIA GPU is present, install this CPU build of torch first (several GB less than
# the default CUDA build). Elsewhere, point TORCH_CPU_PIP_ARGS at PyTorch's CPU wheel index.
TORCH_CPU_VERSION ?= 2.13.0
TORCH_CPU_PIP_ARGS ?=
ARGS ?=

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(PY) -c "import torch" 2>/dev/null; then \
		$(PY) -m pip install -q "torch==$(TORCH_CPU_VERSION)" $(TORCH_CPU_PIP_ARGS); \
	fi
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/kdlab demo $(ARGS)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/analysis.py
	$(PY) benchmarks/ntk.py
	$(PY) benchmarks/text_step.py

clean:
	rm -rf $(VENV) runs
