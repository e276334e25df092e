"""TensorBoard event files (kdlab.loggers.tensorboard, the default logger): training numbers every
record.log_every_steps steps, test numbers at each evaluation, the hyper-parameters, the training
accuracy's tag, and one trajectory after a resume."""

import numpy as np
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from kdlab.config import resolve
from kdlab.loggers import hyperparameters
from kdlab.records import RunDir
from kdlab.train.optim import lr_at
from kdlab.train.runner import run_config
from tests.interrupt import Interrupt, stop_after

# 128 / 32 = 4 steps an epoch, 16 in all; logged every 3 steps: windows end at steps 3, 6, 9, 12, 15.
BASE = {"data": {"name": "digits", "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 4, "batch_size": 32, "lr": 0.05}, "record": {"checkpoint_every_epochs": 2, "log_every_steps": 3},
        "loss": {"onehot_weight": 1.0, "kd_weight": 0.0, "switch": {"to": "kd", "at_step": 6, "window": 4}}}
PER_STEP = {"loss/loss", "loss/onehot", "loss/kd", "loss/kl", "weight/onehot", "weight/kd", "lr", "accuracy/train"}
quiet = dict(progress=False, log=lambda s: None)


def _events(run: RunDir) -> EventAccumulator:
    events = EventAccumulator(str(run.tb))
    events.Reload()
    return events


def _scalars(run: RunDir) -> dict[str, list[tuple[int, float]]]:
    events = _events(run)
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}


def _hparams(run: RunDir) -> dict[str, plugin_data_pb2.HParamsPluginData]:
    content = _events(run).PluginTagToContent("hparams")
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(data) for tag, data in content.items()}


def _student(teacher: RunDir, name: str, **record) -> dict:
    return {**BASE, "name": name, "teacher": {"run": str(teacher.root)}, "record": {**BASE["record"], **record}}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    run, _ = run_config(resolve({**BASE, "name": "t", "loss": {}}), tmp_path_factory.mktemp("t"), **quiet)
    return run


@pytest.fixture(scope="module")
def every_3(tmp_path_factory, teacher):
    cfg = resolve(_student(teacher, "s"))
    run, _ = run_config(cfg, tmp_path_factory.mktemp("s"), **quiet)
    return cfg, run


def test_training_numbers_every_interval_and_test_numbers_every_evaluation(every_3):
    cfg, run = every_3
    got = _scalars(run)
    assert set(got) == PER_STEP | {"accuracy/test", "loss/test"}  # no tag that does not apply (no augmentation)
    for tag in PER_STEP - {"loss/onehot", "loss/kd", "loss/kl"}:
        assert [s for s, _ in got[tag]] == [3, 6, 9, 12, 15], tag
    # a term is logged for the windows where it weighs: KD from step 7 (0-based) on, one-hot until step 9
    assert [s for s, _ in got["loss/kd"]] == [9, 12, 15]
    assert [s for s, _ in got["loss/onehot"]] == [3, 6, 9, 12]
    # weights and lr at each window's last step (2, 5, 8, 11, 14) of a switch over steps 6..10
    assert [v for _, v in got["weight/kd"]] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert [v for _, v in got["lr"]] == pytest.approx([lr_at(s - 1, cfg.train, 4) for s in (3, 6, 9, 12, 15)])
    rows = run.metrics()
    assert [s for s, _ in got["accuracy/test"]] == [s for s, _ in got["loss/test"]] == [4, 8, 12, 16]
    assert [v for _, v in got["accuracy/test"]] == [np.float32(r["test_acc"]) for r in rows]
    assert [v for _, v in got["loss/test"]] == [np.float32(r["test_loss"]) for r in rows]
    assert all(0 < r["test_loss"] < 10 for r in rows)


def test_a_window_holds_the_mean_of_its_steps(tmp_path, teacher, every_3):
    """Each logged number is the mean over its window's steps (equal batches here): the same run logged
    every step gives the per-step numbers. A term counts only the steps where it weighs."""
    _, run = every_3
    single, _ = run_config(resolve(_student(teacher, "s", log_every_steps=1)), tmp_path, **quiet)
    windows, steps = _scalars(run), {t: dict(points) for t, points in _scalars(single).items()}
    assert sorted(steps["loss/loss"]) == list(range(1, 17))
    assert sorted(steps["loss/kd"]) == list(range(8, 17)) and sorted(steps["loss/onehot"]) == list(range(1, 11))
    for tag in ("loss/loss", "loss/onehot", "loss/kd", "loss/kl", "accuracy/train"):
        for step, value in windows[tag]:
            inside = [steps[tag][s] for s in (step - 2, step - 1, step) if s in steps[tag]]
            assert value == pytest.approx(np.mean(inside), rel=1e-5), (tag, step)
    assert windows["loss/kd"][0] == (9, pytest.approx(np.mean([steps["loss/kd"][8], steps["loss/kd"][9]]), rel=1e-5))


def test_the_hyper_parameters_are_the_flattened_config(every_3):
    cfg, run = every_3
    plugin = _hparams(run)
    start = plugin["_hparams_/session_start_info"].session_start_info.hparams
    flat = hyperparameters(cfg.model_dump(mode="json"))
    assert set(start) == set(flat)
    assert start["train.lr"].number_value == 0.05
    assert start["loss.terms.kd.temperature"].number_value == 4.0
    assert start["data.name"].string_value == "digits"
    assert start["model.hidden"].string_value == "[16]"
    assert start["train.nesterov"].string_value == "true"  # a bool, as text (torch's summary would make it 1.0)
    assert start["record.log_every_steps"].number_value == 3
    metrics = [m.name.tag for m in plugin["_hparams_/experiment"].experiment.metric_infos]
    assert metrics == ["accuracy/test", "loss/test"]
    assert "_hparams_/session_end_info" in plugin  # the run finished


def test_the_training_accuracy_tag_says_whether_batches_are_augmented(tmp_path):
    run, _ = run_config(resolve({**BASE, "name": "aug", "loss": {}, "data": {**BASE["data"], "augment": "crop_flip"}}),
                        tmp_path, **quiet)
    tags = set(_scalars(run))
    assert "accuracy/train_augmented" in tags and "accuracy/train" not in tags


def test_a_resumed_run_holds_one_trajectory(tmp_path, teacher):
    """Killed after epoch 3 (step 12), resumed from the checkpoint of epoch 2 (step 8): the window
    ending at step 9 spans the checkpoint, and the steps logged past it are purged and logged again."""
    cfg = resolve(_student(teacher, "r"))
    whole, _ = run_config(cfg, tmp_path / "whole", **quiet)
    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path / "parts", hooks=[stop_after(3)], **quiet)
    parts, _ = run_config(cfg, tmp_path / "parts", **quiet)
    a, b = _scalars(whole), _scalars(parts)
    assert a.keys() == b.keys() and all(a[t] == b[t] for t in a)
    assert _hparams(whole) == _hparams(parts)


def test_switched_off_by_the_older_key(tmp_path):
    run, _ = run_config(resolve({**BASE, "name": "off", "loss": {}, "record": {"tensorboard": False}}), tmp_path, **quiet)
    assert not run.tb.exists()
    record = yaml.safe_load(run.config_path.read_text())["record"]
    assert record["loggers"] == [] and "tensorboard" not in record  # read, never written


def test_a_run_stored_with_the_older_key_is_still_the_same_run(tmp_path):
    """A finished run whose config.yaml says `record.tensorboard: true` (as earlier kdlab wrote it) is
    reused by the same config file, not refused as a different config."""
    cfg = resolve({**BASE, "name": "old", "loss": {}, "record": {"checkpoint_every_epochs": 2}})
    run, _ = run_config(cfg, tmp_path, **quiet)
    stored = yaml.safe_load(run.config_path.read_text())
    assert stored["record"].pop("loggers") == [{"name": "tensorboard"}] and stored["record"].pop("log_every_steps") == 10
    stored["record"]["tensorboard"] = True
    run.config_path.write_text(yaml.safe_dump(stored))
    assert [e.name for e in run.config().record.loggers] == ["tensorboard"]
    said = []
    run_config(cfg, tmp_path, progress=False, log=said.append)
    assert any(s.startswith("reusing finished run") for s in said), said
