"""TensorBoard event files: the expected tags, one value per epoch, and one trajectory after a resume."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kdlab.config import resolve
from kdlab.train.runner import run_config
from tests.interrupt import Interrupt, stop_after

BASE = {"data": {"name": "digits", "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 4, "batch_size": 32}, "record": {"checkpoint_every_epochs": 2},
        "loss": {"onehot_weight": 1.0, "kd_weight": 0.0, "switch": {"to": "kd", "at_step": 6, "window": 4}}}
quiet = dict(progress=False, log=lambda s: None)


def _scalars(run):
    events = EventAccumulator(str(run.root / "tb"))
    events.Reload()
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    run, _ = run_config(resolve({**BASE, "name": "t", "loss": {}}), tmp_path_factory.mktemp("t"), **quiet)
    return run


def test_tags_and_steps(tmp_path, teacher):
    run, _ = run_config(resolve({**BASE, "name": "s", "teacher": {"run": str(teacher.root)}}), tmp_path, **quiet)
    got = _scalars(run)
    assert {"loss/loss", "loss/onehot", "loss/kd", "loss/kl", "weight/onehot", "weight/kd", "accuracy/test",
            "accuracy/train_augmented", "lr"} <= set(got)
    assert [s for s, _ in got["accuracy/test"]] == [4, 8, 12, 16]  # 128 / 32 = 4 steps an epoch
    # the weight at each epoch's last step (3, 7, 11, 15) of a switch over steps 6..10: 0, 1/4, 1, 1
    assert [v for _, v in got["weight/kd"]] == [0.0, 0.25, 1.0, 1.0]
    assert [s for s, _ in got["loss/kd"]] == [8, 12, 16]  # the KD term weighs from step 7 on


def test_a_resumed_run_holds_one_trajectory(tmp_path, teacher):
    cfg = resolve({**BASE, "name": "r", "teacher": {"run": str(teacher.root)}})
    whole, _ = run_config(cfg, tmp_path / "whole", **quiet)
    with pytest.raises(Interrupt):  # killed after epoch 3; the last checkpoint is epoch 2
        run_config(cfg, tmp_path / "parts", hooks=[stop_after(3)], **quiet)
    parts, _ = run_config(cfg, tmp_path / "parts", **quiet)
    a, b = _scalars(whole), _scalars(parts)
    assert a.keys() == b.keys() and all(a[t] == b[t] for t in a)


def test_switched_off(tmp_path):
    run, _ = run_config(resolve({**BASE, "name": "off", "loss": {}, "record": {"tensorboard": False}}), tmp_path, **quiet)
    assert not (run.root / "tb").exists()
