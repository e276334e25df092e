"""Class 6: one damaged or strangely named run does not break `kdlab report` for the others."""

import json
import re
import shutil
from pathlib import Path

from .conftest import TINY, write_yaml

KD = {"loss": {"terms": {"kd": {"weight": 1.0}}}}


def _pair(cli, tmp_path, folder):
    out = tmp_path / "runs" / folder
    t = write_yaml(tmp_path / "t.yaml", {**TINY, "name": "teacher"})
    s = write_yaml(tmp_path / "s.yaml", {**TINY, "name": "student", "seed": 1, **KD, "teacher": {"run": str(out / "teacher")}})
    for cfg in (t, s):
        code, _, err = cli("run", cfg, "--out", out, "--no-progress")
        assert code == 0, err
    return out


def test_damaged_runs_are_skipped_one_stderr_line_each(tmp_path, cli):
    _pair(cli, tmp_path, "good")
    bad = _pair(cli, tmp_path, "bad")
    (bad / "teacher" / "summary.json").write_text("[]")
    shutil.copytree(bad / "student", tmp_path / "runs" / "half")
    (tmp_path / "runs" / "half" / "summary.json").unlink()
    (tmp_path / "runs" / "junk").mkdir()
    (tmp_path / "runs" / "junk" / "config.yaml").write_text("just: [a, config, of, nothing]\n")
    code, out, err = cli("report", tmp_path / "runs", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [r["kd"] for r in result["table2"]] == ["good/student"]
    lines = err.strip().splitlines()
    assert len(lines) == len(result["skipped"]) == 3 and all(line.startswith("kdlab: left out ") for line in lines)
    assert any("bad/teacher" in line and "summary.json" in line for line in lines)
    assert any("half: not finished" in line for line in lines)
    assert any("junk" in line and "unknown config key 'just'" in line for line in lines)


def test_damaged_predictions_skip_only_their_deviations(tmp_path, cli):
    out = _pair(cli, tmp_path, "p")
    for f in (out / "student" / "predictions").glob("*.npz"):
        f.write_bytes(f.read_bytes()[:100])
    code, stdout, err = cli("report", tmp_path / "runs", "--json")
    assert code == 0 and len(json.loads(stdout)["table2"]) == 1
    assert err.count("\n") == 1 and "deviations of p/student" in err


def test_strange_names_are_shown_literally(tmp_path, cli):
    folder = r"exp $\notacommand{x}$ | *bold* [link](x) <b>"
    out = _pair(cli, tmp_path, folder)
    code, stdout, err = cli("report", tmp_path / "runs", "--json")
    assert code == 0, err  # matplotlib did not try to parse the name as math
    result = json.loads(stdout)
    assert result["table2"][0]["kd"] == f"{folder}/student"
    md = (tmp_path / "runs" / "report" / "overview.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| 1 | distilled student | "))
    # seven cells (pair, role, run, model, loss, train %, test %): the name's '|' did not split the row
    assert row.count(" | ") == 6
    assert r"\*bold\*" in md and r"\[link\](x)" in md and r"\<b\>" in md
    html = (tmp_path / "runs" / "report" / "overview.html").read_text()
    assert "&lt;b&gt;" in html and "<b>" not in html.replace("<body>", "")
    figures = [Path(p) for p in result["figures"]]
    assert figures and all(p.is_file() and p.parent == tmp_path / "runs" / "report" / "figures" for p in figures)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", p.name) for p in figures)  # the name became a safe file name
    assert f"{folder}/student" in result["table2"][0]["kd"] and (out / "student" / "summary.json").is_file()
