import json
from pathlib import Path

from kdlab.analysis import analyze_runs
from kdlab.cli import main


def test_analysis_of_two_runs(pair):
    a = analyze_runs(*pair)
    assert len(a.splits["train"]) == 256 and len(a.splits["test"]) == 450
    assert [s for s, _ in a.evolution] == [4, 8, 12]
    assert a.splits["train"].noisy.sum() > 0
    report = a.to_json()
    assert "noisy" in report["splits"]["train"]["underfitting"]
    assert sum(report["splits"]["test"]["dissection"].values()) == 450


def test_a_teacher_s_predictions_read_once_give_the_same_analysis(pair):
    from kdlab.analysis import load_predictions

    teacher, student = pair
    read, again = analyze_runs(load_predictions(teacher), student), analyze_runs(teacher, student)
    assert read.to_json() == again.to_json() and read.teacher == again.teacher == teacher
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
    assert report["figure_format"] == {"format": "png", "dpi": 120}
    assert report["per_sample"] is None and report["per_sample_evolution"] is None  # not asked for


def test_analyze_errors(pair, tmp_path, capsys):
    teacher, student = pair
    assert main(["analyze", "--teacher", str(teacher), "--student", str(student), "--step", "5"]) == 2
    assert "recorded steps: [4, 8, 12]" in capsys.readouterr().err
    assert main(["analyze", "--teacher", str(tmp_path / "nope"), "--student", str(student)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_dense_scatter_for_many_points(tmp_path):
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import to_hex

    from kdlab.analysis.figures import DENSE, scatter
    from kdlab.plotting import NOISY, SEQUENTIAL

    rng = np.random.default_rng(0)
    n = 50_000
    x = rng.normal(size=n)
    noisy = rng.random(n) < 0.1
    fig, ax = plt.subplots()
    scatter(ax, x, x + rng.normal(size=n) * 0.3, noisy)
    density, on_top = ax.collections[:2]
    assert n > DENSE and density.__class__.__name__ == "PolyCollection"  # a hexbin, not 50k dots
    assert density.get_cmap().name == SEQUENTIAL
    # the noisy points: every one of them, in the NOISY colour, drawn over the density
    assert len(on_top.get_offsets()) == noisy.sum() and to_hex(on_top.get_facecolor()[0], keep_alpha=False) == NOISY.lower()
    assert on_top.get_zorder() > density.get_zorder() and on_top.get_rasterized()
    fig.savefig(tmp_path / "dense.png")
    plt.close(fig)
    assert (tmp_path / "dense.png").stat().st_size > 1000


def test_sparse_scatter_draws_clean_and_noisy_points_apart():
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import to_hex

    from kdlab.analysis.figures import scatter
    from kdlab.plotting import CLEAN, NOISY

    x = np.arange(10.0)
    noisy = x % 3 == 0
    fig, ax = plt.subplots()
    scatter(ax, x, x, noisy)
    clean, dirty = ax.collections
    assert len(clean.get_offsets()) == 6 and to_hex(clean.get_facecolor()[0], keep_alpha=False) == CLEAN.lower()
    assert len(dirty.get_offsets()) == 4 and to_hex(dirty.get_facecolor()[0], keep_alpha=False) == NOISY.lower()
    plt.close(fig)


def test_analyze_cli_writes_per_sample_tables_and_svg_figures(pair, tmp_path, cli):
    import pandas as pd

    teacher, student = pair
    samples, evolution = tmp_path / "tables" / "samples.csv", tmp_path / "tables" / "evolution.parquet"
    code, out, err = cli("analyze", "--teacher", teacher, "--student", student, "--out", tmp_path / "figs", "--json",
                         "--format", "SVG", "--dpi", 150, "--per-sample", samples, "--per-sample-evolution", evolution)
    assert code == 0, err
    report = json.loads(out)
    assert report["per_sample"] == str(samples) and report["per_sample_evolution"] == str(evolution)
    assert report["figure_format"] == {"format": "svg", "dpi": 150}
    assert sorted(Path(p).suffix for p in report["figures"]) == [".svg"] * 5
    df, ev = pd.read_csv(samples), pd.read_parquet(evolution)
    assert len(df) == 256 + 450 and (df.step == 12).all()
    assert len(ev) == 3 * 256 and sorted(ev.step.unique()) == [4, 8, 12]
    # without --json, the terminal names every file written
    code, out, err = cli("analyze", "--teacher", teacher, "--student", student, "--out", tmp_path / "figs",
                         "--no-figures", "--per-sample", tmp_path / "again.parquet")
    assert code == 0, err
    assert f"per-sample table: {tmp_path / 'again.parquet'}" in out.splitlines()
    assert f"report: {tmp_path / 'figs' / 'deviations.json'}" in out.splitlines()


def test_analyze_cli_mistakes_are_one_line(pair, tmp_path, fails, monkeypatch):
    import sys

    teacher, student = pair
    run = ("analyze", "--teacher", teacher, "--student", student, "--out", tmp_path / "out")
    fails(*run, "--format", "jpg", match="figure format 'jpg' is not one of png, pdf, svg")
    fails(*run, "--dpi", "0", match="dpi must be a whole number from 10 to 2400")
    fails(*run, "--per-sample", tmp_path / "samples.xlsx", match="samples.xlsx: use a .csv or .parquet file")
    fails(*run, "--per-sample-evolution", tmp_path / "e", match="use a .csv or .parquet file")
    fails(*run, "--per-sample", tmp_path / "a.csv", "--per-sample-evolution", tmp_path / "a.csv", match="give two files")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    fails(*run, "--per-sample", tmp_path / "samples.parquet", match="pip install 'kdlab[parquet]'")
    # each mistake was found before the analysis ran: nothing was written
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
