"""Class 1: nothing is written outside --out; run names are safe folder names."""

import pytest

from .conftest import TINY, files_under, write_yaml


@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs", ".", "..", "", "a/b", ".hidden", "-dash", "x" * 129,
                                  "name with space", "tab\tname", "nul\x00x", "über"])
def test_unsafe_run_names_are_refused_and_nothing_is_written(tmp_path, fails, name):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    before = files_under(tmp_path)
    fails("run", cfg, "--out", tmp_path / "out", f"name={name}", match="a run name is one folder name")
    assert files_under(tmp_path) == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "/abs"])
def test_unsafe_plan_run_names_are_refused(tmp_path, fails, name):
    plan = write_yaml(tmp_path / "p.yaml", {"runs": {name: {k: v for k, v in TINY.items() if k != "name"}}})
    before = files_under(tmp_path)
    fails("reproduce", plan, "--out", tmp_path / "out", match="a run name is one folder name")
    assert files_under(tmp_path) == before


def test_a_name_inside_a_plan_run_is_checked_too(tmp_path, fails):
    plan = write_yaml(tmp_path / "p.yaml", {"runs": {"a": {**TINY, "name": "../out"}}})
    fails("reproduce", plan, "--out", tmp_path / "out", match="a run name is one folder name")


def test_safe_names_stay_inside_out(tmp_path, cli):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    code, _, err = cli("run", cfg, "--out", tmp_path / "out", "name=ok.name_1-x", "--no-progress")
    assert code == 0, err
    assert all(tmp_path / "out" in p.parents for p in files_under(tmp_path) if p.name != "c.yaml")
