import json

import numpy as np
import pytest
from safetensors.torch import load_file

from kdlab.config import resolve
from kdlab.distill.teachers import RunTeacher, TeacherSchedule
from kdlab.records import RunDir
from kdlab.train.runner import run_config
from tests.interrupt import Interrupt, stop_after

SMALL = {
    "data": {"name": "digits", "label_noise": 0.2, "train_size": 192},
    "model": {"name": "resnet20"},
    "train": {"epochs": 4, "batch_size": 64, "lr": 0.05, "warmup_epochs": 1, "decay_epochs": [3]},
    "record": {"predictions_every_epochs": 2, "checkpoint_every_epochs": 1},
}
quiet = dict(progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    run, _ = run_config(resolve({**SMALL, "name": "teacher"}), out, **quiet)
    return run


def _student(teacher, **extra):
    return resolve({**SMALL, "name": "student", "seed": 1,
                    "loss": {"onehot_weight": 1.0, "kd_weight": 0.0, "switch": {"to": "kd", "at_step": 5, "window": 3}},
                    "teacher": {"run": str(teacher.root)}, **extra})



def _tensors(run: RunDir):
    return load_file(str(run.final_weights))


@pytest.mark.parametrize("checkpoint_every,stop_at", [(1, 2), (2, 3)])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, teacher, checkpoint_every, stop_at):
    cfg = _student(teacher, record={"predictions_every_epochs": 2, "checkpoint_every_epochs": checkpoint_every})
    whole, _ = run_config(cfg, tmp_path / "whole", **quiet)
    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path / "parts", hooks=[stop_after(stop_at)], **quiet)
    parts, _ = run_config(cfg, tmp_path / "parts", **quiet)

    a, b = _tensors(whole), _tensors(parts)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k  # bit-identical on CPU
    for step in whole.prediction_steps():
        with np.load(whole.prediction_path(step)) as pa, np.load(parts.prediction_path(step)) as pb:
            assert np.array_equal(pa["logits"], pb["logits"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    read = lambda r: [json.loads(line) for line in r.metrics_path.read_text().splitlines()]  # noqa: E731
    assert strip(read(whole)) == strip(read(parts))
    assert parts.summary().test_acc == whole.summary().test_acc


def test_records_and_summary(teacher):
    assert teacher.prediction_steps() == [6, 12]  # 192 / 64 = 3 steps an epoch; epochs 2 and 4
    with np.load(teacher.prediction_path(12)) as z:
        assert set(z.files) >= {"index", "logits", "label", "orig_label", "noisy", "split"}
        train = z["split"] == "train"
        assert train.sum() == 192 and (~train).sum() == 450
        assert np.array_equal(z["noisy"], z["label"] != z["orig_label"])
        assert z["noisy"][~train].sum() == 0
        acc = (z["logits"][train].argmax(1) == z["label"][train]).mean()
    summary = teacher.summary()
    assert summary.train_acc == pytest.approx(acc)
    assert summary.noisy_train_samples > 0
    assert teacher.checkpoint_epochs() == [1, 2, 3, 4]
    assert teacher.info().num_classes == 10


def test_switch_appears_in_metrics(tmp_path, teacher):
    run, _ = run_config(_student(teacher), tmp_path, **quiet)
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    # step counts at epoch ends: 3, 6, 9, 12; the switch runs over steps 5..8
    assert [(r["w_onehot"], r["w_kd"]) for r in rows][0] == (1.0, 0.0)
    assert rows[-1]["w_kd"] == 1.0 and "train_kd" in rows[-1]


def test_finished_run_is_reused(tmp_path, teacher):
    cfg = resolve({**SMALL, "name": "again", "train": {**SMALL["train"], "epochs": 1}})
    run, first = run_config(cfg, tmp_path, **quiet)
    mtime = run.final_weights.stat().st_mtime_ns
    messages = []
    _, second = run_config(cfg, tmp_path, progress=False, log=messages.append)
    assert second == first and run.final_weights.stat().st_mtime_ns == mtime
    assert "reusing" in messages[0]


def test_online_teacher_walks_checkpoints(tmp_path, teacher):
    import torch

    cfg = resolve({**SMALL, "name": "online", "seed": 2, "train": {**SMALL["train"], "epochs": 2},
                   "loss": {"onehot_weight": 0, "kd_weight": 1},
                   "teacher": {"run": str(teacher.root), "online": True, "epoch_ratio": 2.0}})
    run, _ = run_config(cfg, tmp_path, **quiet)
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert [r["teacher_epoch"] for r in rows] == [2, 4]
    schedule = TeacherSchedule(cfg.teacher.model_copy(update={"epoch_ratio": 0.5, "checkpoint": 3}), teacher)
    assert [schedule.epoch_for(e) for e in (1, 2, 3, 8)] == [1, 1, 2, 3]  # ceil(t * r), capped at the chosen epoch
    t = RunTeacher(teacher, cfg.teacher, 10, (1, 8, 8), torch.device("cpu"))
    assert [t.version(e) for e in (1, 2, 3)] == [2, 4, 4]  # r = 2, capped at the teacher's last epoch
