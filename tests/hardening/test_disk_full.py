"""Classes 6 and 9: a full disk during a run's (or a plan's) own writes is one line naming the file
and the free space, exit 2; nothing half-written is trusted, and the rerun after freeing space
resumes to the uninterrupted result."""

import subprocess

import numpy as np
import pytest
from safetensors.torch import load_file

from .conftest import TINY, write_yaml

CONFIG = {**TINY, "model": {"name": "mlp", "hidden": [512]}, "train": {"epochs": 3, "batch_size": 32}}


@pytest.fixture
def small_fs(tmp_path):
    """A 400 KiB filesystem (tmpfs), made bigger by calling the fixture's value with a size."""
    folder = tmp_path / "fs"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()[:100]}")

    def grow(size: str = "8m"):
        subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)

    yield folder, grow
    subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_full_disk_is_one_line_and_the_rerun_resumes_bit_identically(tmp_path, small_fs, cli, fails):
    folder, grow = small_fs
    cfg = write_yaml(tmp_path / "c.yaml", CONFIG)
    err = fails("run", cfg, "--out", folder / "runs", "--no-progress", match="its filesystem is full")
    assert "checkpoints/epoch_" in err and "MiB free" in err and "run the same command again to resume" in err
    assert not list((folder / "runs" / "tiny").rglob("*.tmp"))  # nothing half-written left behind
    grow()
    code, out, err = cli("run", cfg, "--out", folder / "runs", "--no-progress")
    assert code == 0 and "resuming" in out, err
    assert cli("run", cfg, "--out", tmp_path / "whole", "--no-progress")[0] == 0
    a = load_file(str(folder / "runs" / "tiny" / "checkpoints" / "final.safetensors"))
    b = load_file(str(tmp_path / "whole" / "tiny" / "checkpoints" / "final.safetensors"))
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_a_full_disk_in_a_plan_names_the_run_and_keeps_the_finished_ones(tmp_path, small_fs, fails):
    folder, _ = small_fs
    small = {k: v for k, v in TINY.items() if k != "name"} | {"model": {"name": "mlp", "hidden": [16]}}
    big = {k: v for k, v in CONFIG.items() if k != "name"} | {"seed": 1}
    plan = write_yaml(tmp_path / "plan.yaml", {"runs": {"first": small, "second": big}})
    err = fails("reproduce", plan, "--out", folder / "runs", "--no-progress", match="run 'second': writing")
    assert "its filesystem is full" in err
    assert (folder / "runs" / "first" / "summary.json").is_file()  # the finished run is intact
    assert not (folder / "runs" / "second" / "summary.json").exists()
