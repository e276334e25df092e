"""Class 8: a symbolic link planted in a run directory never sends a write outside --out."""

import os

import pytest

from .conftest import TINY, files_under, write_yaml


@pytest.mark.parametrize("planted", [".lock", "checkpoints", "predictions", "tb", "config.yaml", "metrics.jsonl",
                                     "checkpoints/state.pt"])
def test_a_planted_link_is_refused_and_nothing_is_written_through_it(tmp_path, fails, planted):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target"  # dangling: a link that would create this file or folder
    run = tmp_path / "runs" / "tiny"
    (run / planted).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, run / planted)
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    fails("run", cfg, "--out", tmp_path / "runs", "--no-progress", match="is a symbolic link; kdlab follows no link")
    assert files_under(outside) == set() and not target.exists()


def test_a_finished_run_with_a_planted_link_is_not_reused(tmp_path, cli, fails):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    assert cli("run", cfg, "--out", tmp_path / "runs", "--no-progress")[0] == 0
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "runs" / "tiny" / "figures")
    fails("run", cfg, "--out", tmp_path / "runs", "--no-progress", match="figures is a symbolic link")
