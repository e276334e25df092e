"""Class 3: records that cannot lie. A run's identity is what determines its result."""

import pytest
import torch

from kdlab.io import read_yaml
from kdlab.errors import ConfigError
from kdlab.plan import resolve_plan
from tests.formats import write_tinyimagenet

from .conftest import TINY, write_yaml


def test_resume_with_another_thread_count_is_refused_and_run_json_kept(tmp_path, fails, cli):
    from tests.interrupt import Interrupt, stop_after

    from kdlab.config import resolve
    from kdlab.train.runner import run_config

    cfg = resolve({**TINY, "train": {"epochs": 3, "batch_size": 32}})
    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path, hooks=[stop_after(1)], progress=False, log=lambda s: None)
    info = (tmp_path / "tiny" / "run.json").read_text()
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        path = write_yaml(tmp_path / "c.yaml", cfg.model_dump(mode="json"))
        fails("run", path, "--out", tmp_path, match=f"was started with {threads} torch threads")
    finally:
        torch.set_num_threads(threads)
    assert (tmp_path / "tiny" / "run.json").read_text() == info
    code, out, err = cli("run", path, "--out", tmp_path, "--no-progress")  # the same count resumes
    assert code == 0 and "resuming" in out, err


def test_a_student_is_not_reused_after_its_teacher_changed(tmp_path, fails, cli):
    out = tmp_path / "runs"
    teacher = write_yaml(tmp_path / "t.yaml", {**TINY, "name": "teacher"})
    student = write_yaml(tmp_path / "s.yaml", {**TINY, "name": "student", "seed": 1,
                                               "loss": {"terms": {"kd": {"weight": 1.0}}},
                                               "teacher": {"run": str(out / "teacher")}})
    for cfg in (teacher, student):
        assert cli("run", cfg, "--out", out, "--no-progress")[0] == 0
    code, stdout, _ = cli("run", student, "--out", out, "--no-progress")
    assert code == 0 and "reusing finished run" in stdout
    # The teacher is trained again (same config, other weights): the old student must not pass for its student.
    import shutil

    shutil.rmtree(out / "teacher")
    assert cli("run", teacher, "--out", out, "--no-progress", "seed=0", "train.lr=0.05")[0] == 0
    fails("run", student, "--out", out, match="the teacher has been retrained or changed since")


def test_duplicate_yaml_keys_are_refused(tmp_path, fails):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ntrain:\n  lr: 0.1\n  lr: 0.2\n")
    fails("run", path, "--out", tmp_path, match="key 'lr' is given twice in one mapping (line 4)")


def test_a_yaml_merge_key_may_still_be_overridden(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: &t {epochs: 1, batch_size: 32}\nx: {<<: *t, epochs: 2}\n")
    assert read_yaml(path)["x"] == {"epochs": 2, "batch_size": 32}


def test_seeded_runs_that_collide_with_a_run_name_are_refused(tmp_path):
    raw = {"runs": {"a": {"seeds": [1, 2]}, "a_s1": {}}}
    with pytest.raises(ConfigError, match="expands to 'a_s1', which the plan already has"):
        resolve_plan(raw, tmp_path)
    with pytest.raises(ConfigError, match="two runs of this plan are named 'b'"):
        resolve_plan({"runs": {"a": {"name": "b"}, "b": {}}}, tmp_path)
    with pytest.raises(ConfigError, match="distinct integers"):
        resolve_plan({"runs": {"a": {"seeds": [1, 1]}}}, tmp_path)


def test_tinyimagenet_cache_follows_content_and_rebuilds_when_damaged(tmp_path, monkeypatch):
    from PIL import Image

    from kdlab.data import load_dataset

    monkeypatch.setenv("KDLAB_CACHE", str(tmp_path / "cache"))
    root = write_tinyimagenet(tmp_path)
    first = load_dataset("tinyimagenet", str(root)).train.inputs.clone()
    Image.new("RGB", (64, 64), (200, 200, 200)).save(root / "train" / "n01" / "images" / "n01_0.JPEG")
    second = load_dataset("tinyimagenet", str(root)).train.inputs
    assert not torch.equal(first, second) and int(second[0, 0].float().mean()) > 150  # replaced pixels seen
    for cache in (tmp_path / "cache").glob("*.npz"):
        cache.write_bytes(cache.read_bytes()[:200])  # truncated
    again = load_dataset("tinyimagenet", str(root)).train.inputs
    assert torch.equal(again, second)
