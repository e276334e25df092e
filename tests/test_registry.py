"""Registries: one new file is one new entry (in kdlab's packages and in a plugin's), and a builder's
options are checked against its signature: required, optional (default None) and typed."""

import json
import subprocess
import sys

import pytest
import yaml

from kdlab.errors import ConfigError
from kdlab.registry import REQUIRED, Registry
from tests.plugin import install_plugin


def test_a_registry_imports_every_module_of_its_package(tmp_path, monkeypatch):
    package = tmp_path / "kdlab_tmp_things"
    (package / "deeper").mkdir(parents=True)
    (package / "__init__.py").write_text("")  # lists nothing
    (package / "registry.py").write_text("from kdlab.registry import Registry\nTHINGS = Registry('thing', package='kdlab_tmp_things')\n")
    for path, name in [(package / "first.py", "first"), (package / "deeper" / "second.py", "second")]:
        path.write_text(f"from kdlab_tmp_things.registry import THINGS\n\n@THINGS.register('{name}')\ndef {name}():\n    return '{name}'\n")
    (package / "deeper" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    from kdlab_tmp_things.registry import THINGS

    assert THINGS.names() == ["first", "second"] and THINGS.build("second", {}) == "second"
    with pytest.raises(ConfigError, match="unknown thing 'third'.*a new one is a file of kdlab_tmp_things"):
        THINGS.get("third")


def test_required_and_default_none_are_told_apart():
    reg = Registry("term")

    @reg.register("scaled")
    def scaled(factor: float, smoothing: float | None = None, label: str = "x"):
        return factor, smoothing

    assert reg.options("scaled") == {"factor": REQUIRED, "smoothing": None, "label": "x"}
    assert reg.build("scaled", {"factor": 2}) == (2.0, None)  # smoothing may stay None
    assert reg.build("scaled", {"factor": 2, "smoothing": 0.1}) == (2.0, 0.1)
    with pytest.raises(ConfigError, match="term 'scaled' needs option 'factor'; its options: factor, smoothing, label"):
        reg.build("scaled", {"smoothing": 0.1})
    with pytest.raises(ConfigError, match=r"option 'smoothing' of term 'scaled': .*\(got 'a'; default None\)"):
        reg.build("scaled", {"factor": 1, "smoothing": "a"})
    assert reg.with_defaults("scaled", {"factor": 1}) == {"factor": 1.0, "smoothing": None, "label": "x"}


TERM_FILE = '''
import torch.nn.functional as F

from kdlab.losses import LOSS_TERMS, LossTerm


@LOSS_TERMS.register("smoothed_ce")
class SmoothedCE(LossTerm):
    """Cross-entropy with optional label smoothing: an option whose default is None."""

    def __init__(self, smoothing: float | None = None):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, out):
        return F.cross_entropy(out.logits, out.labels, label_smoothing=self.smoothing or 0.0)
'''


def test_a_loss_term_in_one_new_file_of_a_plugin_package_works_by_name(tmp_path):
    """The plugin package's __init__ lists nothing: the new file alone registers the term."""
    env = install_plugin(tmp_path / "site", "kdlab_extra_terms", files={"__init__.py": "", "smoothed_ce.py": TERM_FILE})
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"name": "plugged", "data": {"train_size": 64}, "model": {"name": "mlp", "hidden": [8]},
                                   "train": {"epochs": 1, "batch_size": 32},
                                   "loss": {"terms": {"smoothed_ce": {"weight": 1.0}}}}))
    proc = subprocess.run([sys.executable, "-m", "kdlab", "run", str(cfg), "--out", str(tmp_path / "runs"), "--json",
                           "--no-progress"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "runs" / "plugged"
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["loss"]["terms"]["smoothed_ce"] == {"term": None, "weight": 1.0, "schedule": None, "object": None,
                                                      "smoothing": None}
    info = json.loads((run / "run.json").read_text())
    assert info["code"]["loss term smoothed_ce"]  # a plugin's code is part of the run's identity
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["train_smoothed_ce"] > 0


def test_a_broken_plugin_is_one_line(tmp_path):
    env = install_plugin(tmp_path / "site", "kdlab_broken", files={"__init__.py": "", "bad.py": "raise ValueError('boom')\n"})
    proc = subprocess.run([sys.executable, "-m", "kdlab", "data", "inspect", "digits"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "the kdlab plugin 'kdlab_broken'" in proc.stderr and "ValueError: boom" in proc.stderr


def test_executor_options_are_spelled_as_flags():
    from kdlab.executors import EXECUTORS

    with pytest.raises(ConfigError, match="unknown option '--jobs' for executor 'ray'; valid options: --address, --cpus-per-run"):
        EXECUTORS.check_options("ray", {"jobs": 2})
    with pytest.raises(ConfigError, match=r"option '--jobs' of executor 'local': Input should be greater than 0 \(got 0"):
        EXECUTORS.check_options("local", {"jobs": 0})

