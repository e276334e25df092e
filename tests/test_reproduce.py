"""Plans (`kdlab reproduce`) and the report (`kdlab report`)."""

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from kdlab.cli import main
from kdlab.errors import ConfigError

BASE = {"data": {"name": "digits", "label_noise": 0.2, "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 3, "batch_size": 32, "lr": 0.1}, "record": {"predictions_every_epochs": 1, "checkpoint_every_epochs": 1}}
KD = {"onehot_weight": 0.0, "kd_weight": 1.0}


def _plan(tmp_path: Path, runs: dict, **extra) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"runs": runs, **extra}))
    return str(path)


def small_plan(tmp_path):
    return _plan(tmp_path, {
        "kd": {**BASE, "seed": 1, "loss": KD, "teacher": {"run": "teacher"}},  # listed before its teacher
        "teacher": BASE,
        "onehot": {**BASE, "seed": 1},
        "to_kd": {**BASE, "seed": 1, "loss": {"switch": {"to": "kd", "at_step": 4, "window": 2}}, "teacher": {"run": "teacher"}},
        "to_onehot": {**BASE, "seed": 1, "loss": {**KD, "switch": {"to": "onehot", "at_step": 8}}, "teacher": {"run": "teacher"}},
    })


def _reproduce(capsys, *args):
    code = main(["reproduce", *args, "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def test_order_then_reuse(tmp_path, capsys):
    plan, out = small_plan(tmp_path), str(tmp_path / "runs")
    code, first, err = _reproduce(capsys, plan, "--out", out)
    assert code == 0
    trained = [line.split("trained ")[1].split(" ")[0] for line in err.splitlines() if line.startswith("trained ")]
    assert [Path(t).name for t in trained] == ["teacher", "kd", "onehot", "to_kd", "to_onehot"]  # teacher first
    assert set(first["runs"]) == {"teacher", "kd", "onehot", "to_kd", "to_onehot"}
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.safetensors")}
    code, second, err = _reproduce(capsys, plan, "--out", out)
    assert code == 0 and "trained " not in err and err.count("reusing finished run") == 5
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.safetensors")} == mtimes
    assert second["runs"]["kd"]["test_acc"] == first["runs"]["kd"]["test_acc"]


def test_interrupted_plan_resumes(tmp_path, capsys):
    from kdlab.io import read_yaml
    from kdlab.plan import resolve_plan
    from kdlab.train.runner import run_config

    plan = _plan(tmp_path, {"teacher": BASE, "kd": {**BASE, "seed": 1, "loss": KD, "teacher": {"run": "teacher"}}})
    code, whole, _ = _reproduce(capsys, plan, "--out", str(tmp_path / "whole"))
    assert code == 0
    cfgs = resolve_plan(read_yaml(plan), tmp_path / "parts").runs

    def stop(done, step):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the plan was killed while training its teacher
        run_config(cfgs[0], tmp_path / "parts", progress=False, hooks=[stop], log=lambda s: None)
    code, parts, err = _reproduce(capsys, plan, "--out", str(tmp_path / "parts"))
    assert code == 0 and "resuming" in err
    for name in ("teacher", "kd"):
        assert parts["runs"][name]["test_acc"] == whole["runs"][name]["test_acc"]


def test_cycle_and_missing_dependency_are_clean_errors(tmp_path, capsys):
    cyc = _plan(tmp_path, {"a": {**BASE, "loss": KD, "teacher": {"run": "b"}}, "b": {**BASE, "loss": KD, "teacher": {"run": "a"}}})
    code, _, err = _reproduce(capsys, cyc, "--out", str(tmp_path / "r"))
    assert code == 2 and "cycle" in err and len(err.strip().splitlines()) == 1
    missing = _plan(tmp_path, {"a": {**BASE, "loss": KD, "teacher": {"run": "nowhere"}}})
    code, _, err = _reproduce(capsys, missing, "--out", str(tmp_path / "r"))
    assert code == 2 and "names teacher 'nowhere', neither a run of this plan" in err
    assert not (tmp_path / "r").exists()
    scaled = _plan(tmp_path, {"a": BASE}, scales={"cpu": ["train.epochs=1"]})
    code, _, err = _reproduce(capsys, scaled, "--scale", "huge", "--out", str(tmp_path / "r"))
    assert code == 2 and "no scale 'huge'; its scales: cpu" in err


def test_parallel_jobs(tmp_path, capsys):
    plan = _plan(tmp_path, {"teacher": BASE, "s1": {**BASE, "seed": 1, "loss": KD, "teacher": {"run": "teacher"}},
                            "s2": {**BASE, "seed": 2, "loss": KD, "teacher": {"run": "teacher"}}})
    code, result, err = _reproduce(capsys, plan, "--out", str(tmp_path / "r"), "--jobs", "2")
    assert code == 0 and set(result["runs"]) == {"teacher", "s1", "s2"}
    assert err.count("trained ") == 3
    code, _, err = _reproduce(capsys, plan, "--out", str(tmp_path / "r"), "--jobs", "2")
    assert code == 0 and err.count("reusing finished run") == 3


class Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.images, self._row, self._cell = [], [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)
            self._row = None


def test_report_html_holds_every_row(tmp_path, capsys):
    out = tmp_path / "runs"
    assert _reproduce(capsys, small_plan(tmp_path), "--out", str(out))[0] == 0
    assert main(["report", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runs"] == 5 and len(result["table2"]) == 1 and len(result["switch_groups"]) == 1
    row = result["table2"][0]
    assert (row["teacher"], row["onehot"], row["kd"]) == ("teacher", "onehot", "kd")
    parser = Rows()
    parser.feed(Path(result["html"]).read_text())
    cells = [c for r in parser.rows for c in r]
    t2 = next(t for t in result["tables"] if t["title"].startswith("Teachers and students (P1 Table 2)"))
    assert [r[2] for r in t2["rows"]] == ["teacher", "onehot", "kd"]  # the pair's runs, one row each
    for name in ("to_kd", "to_onehot", "kd", "onehot"):
        assert name in cells
    assert "onehot → kd (T=4) over steps 4–6" in cells  # the switch as the run's objective recorded it
    assert parser.images and all(src.startswith("data:image/png;base64,") for src in parser.images)
    md = Path(result["markdown"]).read_text()
    assert "| 1 | teacher | teacher |" in md and "| to_kd |" in md
    for f in result["figures"]:
        assert Path(f).is_file()


def test_run_and_reproduce_default_to_the_same_scale(tmp_path, capsys):
    plan = _plan(tmp_path, {"a": BASE}, scales={"paper": ["train.epochs=4"], "cpu": ["train.epochs=1"]})
    out = str(tmp_path / "r")
    assert main(["run", plan, "--out", out, "--json", "--no-progress"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["scale"] == "cpu" and first["runs"]["a"]["epochs"] == 1
    code, second, err = _reproduce(capsys, plan, "--out", out)
    assert code == 0 and second["scale"] == "cpu" and "reusing finished run" in err
    single = tmp_path / "single.yaml"
    single.write_text(yaml.safe_dump(BASE))
    assert main(["run", str(single), "--scale", "cpu", "--out", out]) == 2
    assert "--scale is for plans" in capsys.readouterr().err


def test_a_pattern_override_reaches_the_runs_it_matches(tmp_path):
    from kdlab.plan import resolve_plan

    raw = {"runs": {"t_mnli_a": BASE, "t_mnli_b": {**BASE, "seed": 1}, "t_qqp_a": BASE}}
    cfgs = resolve_plan(raw, tmp_path, ["runs.t_mnli_*.train.batch_size=7"]).runs
    assert {c.name: c.train.batch_size for c in cfgs} == {"t_mnli_a": 7, "t_mnli_b": 7, "t_qqp_a": BASE["train"]["batch_size"]}
    with pytest.raises(ConfigError, match="names no run"):
        resolve_plan(raw, tmp_path, ["runs.t_imdb_*.train.batch_size=7"])
