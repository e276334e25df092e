"""Class 7: no leftovers of interrupted writes, files as the umask says, strict JSON on stdout."""

import json
import os
import stat

import pytest

from kdlab.cli import _print_json
from kdlab.io import atomic_path, dumps, write_json

from .conftest import TINY, files_under, write_yaml


def test_temp_files_of_interrupted_writes_are_removed_on_the_next_start(tmp_path, cli, finished):
    (finished / "summary.json").unlink()  # as if killed before the end
    leftovers = [finished / ".metrics.jsonl.abc123.tmp", finished / "checkpoints" / ".state.pt.x9.tmp",
                 finished / "predictions" / ".step_2.npz.q.tmp"]
    for p in leftovers:
        p.write_bytes(b"half a file")
    code, _, err = cli("run", tmp_path / "tiny.yaml", "--out", finished.parent, "--no-progress")
    assert code == 0, err
    assert not any(p.exists() for p in leftovers)


def test_an_interrupted_atomic_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"v": 1} and files_under(tmp_path) == {target}


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path, cli, umask, mode):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    old = os.umask(umask)
    try:
        code, _, err = cli("run", cfg, "--out", tmp_path / "out", "--no-progress")
    finally:
        os.umask(old)
    assert code == 0, err
    written = [p for p in files_under(tmp_path / "out") if p.name != ".lock"]
    assert written and {stat.S_IMODE(p.stat().st_mode) for p in written} == {mode}


def test_json_output_is_strict(tmp_path, capsys, cli):
    _print_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": -float("inf")}})
    assert json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c)) == \
        {"a": None, "b": [None, 1.5], "c": {"d": None}}
    assert dumps(float("nan")) == "null"
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    code, out, _ = cli("run", cfg, "--out", tmp_path / "out", "--no-progress", "--json")
    assert code == 0 and "NaN" not in out and json.loads(out)["epochs"] == 1
