"""Class 2: one process per run directory, for the whole run and for its resume."""

import json
import os
import subprocess
import sys
import time

from kdlab.records.lock import RunLock

from .conftest import TINY, write_yaml

SLOW = {**TINY, "name": "shared", "data": {"name": "digits"}, "model": {"name": "resnet20"},
        "train": {"epochs": 6, "batch_size": 64}}


def _kdlab(*argv):
    return subprocess.Popen([sys.executable, "-m", "kdlab.cli", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_on_one_run_directory(tmp_path):
    cfg = write_yaml(tmp_path / "c.yaml", SLOW)
    out = tmp_path / "runs"
    first = _kdlab("run", cfg, "--out", out, "--no-progress", "--json")
    lock = out / "shared" / ".lock"
    deadline = time.time() + 60
    while not (lock.is_file() and lock.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    second = _kdlab("run", cfg, "--out", out, "--no-progress")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"in use by another kdlab process (pid {first.pid})" in err
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    summary = json.loads(out1)
    third = _kdlab("run", cfg, "--out", out, "--no-progress", "--json")
    out3, err3 = third.communicate(timeout=120)
    assert third.returncode == 0 and "reusing finished run" in err3
    assert json.loads(out3)["test_acc"] == summary["test_acc"]


def test_a_held_lock_names_its_holder_and_a_released_one_frees_the_run(tmp_path, fails, cli):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    out = tmp_path / "runs"
    with RunLock(out / "tiny"):
        proc = _kdlab("run", cfg, "--out", out, "--no-progress")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and f"(pid {os.getpid()})" in err and err.count("\n") == 1
    code, _, err = cli("run", cfg, "--out", out, "--no-progress")
    assert code == 0, err  # the lock file left behind does not count as a foreign directory


def test_a_killed_holder_does_not_block_the_resume(tmp_path, cli):
    cfg = write_yaml(tmp_path / "c.yaml", SLOW)
    out = tmp_path / "runs"
    proc = _kdlab("run", cfg, "--out", out, "--no-progress")
    state = out / "shared" / "checkpoints" / "state.pt"
    deadline = time.time() + 120
    while not state.is_file() and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    code, stdout, err = cli("run", cfg, "--out", out, "--no-progress")
    assert code == 0 and "resuming" in stdout, err
