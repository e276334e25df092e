"""A report from outside the package: registered by the user's code, or installed as a plugin."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kdlab.plan import run_plan
from kdlab.reports import REPORTS, Report, Table
from tests.plugin import install_plugin

BASE = {"data": {"name": "digits", "train_size": 64}, "model": {"name": "mlp", "hidden": [8]},
        "train": {"epochs": 1, "batch_size": 32}}


@pytest.fixture
def best_run_report():
    @REPORTS.register("best_run")
    def best_run(runs, out: Path, metric: str = "test_acc") -> Report:
        scores = {name: getattr(run.summary(), metric) for name, run in runs.items()}
        best = max(scores, key=scores.get)
        return Report("best_run", tables=[Table(f"best by {metric}", ["run", metric],
                                                [[n, f"{v:.4f}"] for n, v in sorted(scores.items())])],
                      data={"best": best, "scores": scores})

    yield
    REPORTS._builders.pop("best_run")


def test_a_report_registered_by_user_code_runs_in_a_plan(tmp_path, best_run_report):
    raw = {"runs": {"a": BASE, "b": {**BASE, "seed": 1}}, "report": {"name": "best_run", "metric": "train_acc"}}
    result = run_plan(raw, tmp_path, progress=False, log=lambda s: None).to_json()
    rep = result["report"]
    assert rep["name"] == "best_run" and set(rep["scores"]) == {"a", "b"}
    assert rep["best"] == max(rep["scores"], key=rep["scores"].get)
    folder = tmp_path / "reports" / "best_run"
    assert json.loads((folder / "best_run.json").read_text())["best"] == rep["best"]
    assert "<td>a</td>" in (folder / "best_run.html").read_text()


PLUGIN = '''
from kdlab.reports import REPORTS, Report, Table
from tests.plugin import install_plugin


@REPORTS.register("run_count")
def run_count(runs, out, prefix: str = ""):
    names = sorted(n for n in runs if n.startswith(prefix))
    return Report("run_count", tables=[Table("runs", ["run"], [[n] for n in names])], data={"count": len(names)})
'''


def test_an_installed_plugin_is_found_by_the_cli(tmp_path):
    """A distribution with a `kdlab.plugins` entry point: the CLI finds its report by name."""
    env = install_plugin(tmp_path / "site", "kdlab_counting", PLUGIN)
    runs = tmp_path / "runs"
    run_plan({"runs": {"x1": BASE, "x2": {**BASE, "seed": 1}, "y": BASE}}, runs, progress=False, log=lambda s: None)

    proc = subprocess.run([sys.executable, "-m", "kdlab.cli", "report", str(runs), "--name", "run_count", "prefix=x",
                           "--json"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["count"] == 2 and out["tables"][0]["rows"] == [["x1"], ["x2"]]
    # without the plugin installed: a one-line error naming the known reports
    proc = subprocess.run([sys.executable, "-m", "kdlab.cli", "report", str(runs), "--name", "run_count"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown report 'run_count'" in proc.stderr and "overview" in proc.stderr
