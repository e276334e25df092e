import json
from pathlib import Path

import pytest

from kdlab.analysis import analyze_runs
from kdlab.cli import main
from kdlab.config import resolve
from kdlab.train.runner import run_config

BASE = {"data": {"name": "digits", "label_noise": 0.2, "train_size": 256}, "model": {"name": "mlp", "hidden": [32]},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.1}, "record": {"predictions_every_epochs": 1}}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    quiet = dict(progress=False, log=lambda s: None)
    te, _ = run_config(resolve({**BASE, "name": "teacher"}), out, **quiet)
    st, _ = run_config(resolve({**BASE, "name": "student", "seed": 1, "loss": {"onehot_weight": 0, "kd_weight": 1},
                                "teacher": {"run": str(te.root)}}), out, **quiet)
    return te.root, st.root


def test_analysis_of_two_runs(pair):
    a = analyze_runs(*pair)
    assert len(a.splits["train"]) == 256 and len(a.splits["test"]) == 450
    assert [s for s, _ in a.evolution] == [4, 8, 12]
    assert a.splits["train"].noisy.sum() > 0
    report = a.to_json()
    assert "noisy" in report["splits"]["train"]["underfitting"]
    assert sum(report["splits"]["test"]["dissection"].values()) == 450


def test_analyze_cli_writes_figures_and_json(pair, tmp_path, capsys):
    teacher, student = pair
    assert main(["analyze", "--teacher", str(teacher), "--student", str(student), "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["student_step"] == 12
    names = {Path(p).name for p in report["figures"]}
    assert names == {"deviation_scatter.png", "deviation_scatter_label_class.png", "deviation_dissection.png",
                     "deviation_metrics.png", "deviation_evolution.png"}
    for p in report["figures"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "deviations.json").read_text())["teacher_step"] == 12


def test_analyze_errors(pair, tmp_path, capsys):
    teacher, student = pair
    assert main(["analyze", "--teacher", str(teacher), "--student", str(student), "--step", "5"]) == 2
    assert "recorded steps: [4, 8, 12]" in capsys.readouterr().err
    assert main(["analyze", "--teacher", str(tmp_path / "nope"), "--student", str(student)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_dense_scatter_for_many_points(tmp_path):
    import matplotlib.pyplot as plt
    import numpy as np

    from kdlab.analysis.figures import DENSE, scatter

    rng = np.random.default_rng(0)
    n = 50_000
    x = rng.normal(size=n)
    fig, ax = plt.subplots()
    scatter(ax, x, x + rng.normal(size=n) * 0.3, rng.random(n) < 0.1)
    assert n > DENSE and ax.collections[0].__class__.__name__ == "PolyCollection"  # a hexbin, not 50k dots
    fig.savefig(tmp_path / "dense.png")
    plt.close(fig)
    assert (tmp_path / "dense.png").stat().st_size > 1000
