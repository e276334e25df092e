"""Class 4: values that cannot work are refused up front, naming the key and the valid range."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdlab.config import RunConfig, resolve
from kdlab.errors import ConfigError

from .conftest import TINY, write_yaml

KD = ["loss.terms.kd.weight=1", "teacher.run=somewhere"]


@pytest.mark.parametrize("override,match", [
    ("train.lr=.nan", "config key 'train.lr': Input should be a finite number"),
    ("train.lr=nan", "config key 'train.lr': Input should be a finite number"),
    ("train.lr=.inf", "config key 'train.lr'"),
    ("train.lr=-0.1", "config key 'train.lr': Input should be greater than 0"),
    ("train.lr=0", "config key 'train.lr'"),
    ("train.momentum=1", "config key 'train.momentum': Input should be less than 1"),
    ("train.momentum=-0.5", "config key 'train.momentum'"),
    ("train.decay_factor=-0.1", "config key 'train.decay_factor'"),
    ("train.warmup_epochs=.inf", "config key 'train.warmup_epochs'"),
    ("train.weight_decay=-1", "config key 'train.weight_decay'"),
    ("train.epochs=0", "config key 'train.epochs'"),
    ("train.batch_size=-4", "config key 'train.batch_size'"),
    ("train.decay_epochs=[0]", "config key 'train.decay_epochs.0'"),
    ("seed=9223372036854775808", "config key 'seed': Input should be less than or equal to 9223372036854775807"),
    ("seed=-1", "config key 'seed'"),
    ("data.noise_seed=99999999999999999999999", "config key 'data.noise_seed'"),
    ("data.label_noise=1.5", "config key 'data.label_noise'"),
    ("data.label_noise=.nan", "config key 'data.label_noise'"),
    ("model.hidden=[-3]", "option 'hidden[0]' of model 'mlp': Input should be greater than or equal to 1"),
    ("model.hidden=[0.5]", "option 'hidden[0]' of model 'mlp'"),
    ("record.predictions_every_epochs=0", "config key 'record.predictions_every_epochs'"),
])
def test_bad_training_values(tmp_path, fails, override, match):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    fails("run", cfg, "--out", tmp_path / "out", override, match=match)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra,match", [
    (["loss.terms.kd.temperature=0"], "option 'temperature' of loss term 'kd': Input should be greater than 0"),
    (["loss.terms.kd.temperature=-2"], "option 'temperature' of loss term 'kd'"),
    (["loss.terms.kd.temperature=.inf"], "option 'temperature' of loss term 'kd': Input should be a finite number"),
    (["loss.terms.kd.scale=t3"], "option 'scale' of loss term 'kd'"),
    (["loss.terms.kd.weight=-1"], "config key 'loss.terms.kd.weight'"),
    (["teacher.epoch_ratio=0"], "config key 'teacher.epoch_ratio'"),
])
def test_bad_loss_values(tmp_path, fails, extra, match):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    fails("run", cfg, "--out", tmp_path / "out", *KD, *extra, match=match)


def test_bad_model_options():
    with pytest.raises(ConfigError, match="option 'width' of model 'mobilenetv2': Input should be greater than 0"):
        resolve({"model": {"name": "mobilenetv2", "width": -1}})
    with pytest.raises(ConfigError, match="option 'feature_seed' of model 'random_features'"):
        resolve({"model": {"name": "random_features", "feature_seed": -1}})


@pytest.mark.parametrize("args,match", [
    (["synthetic-channels", "a=.nan"], "option 'a' of dataset 'synthetic-channels': Input should be a finite number"),
    (["synthetic-channels", "a=2"], "option 'a' of dataset 'synthetic-channels'"),
    (["synthetic-channels", "num_train=0"], "option 'num_train'"),
    (["synthetic-channels", "num_similar=10", "similar_replace=false"], "num_similar <= num_classes - 1"),
    (["synthetic-channels", "dim=-5"], "option 'dim'"),
    (["digits", "test_fraction=1.5"], "option 'test_fraction' of dataset 'digits'"),
])
def test_bad_dataset_options(fails, args, match):
    fails("data", "inspect", *args, match=match)


def test_complexity_values(tmp_path, fails, finished):
    fails("complexity", "--teacher", finished, "--student-model", "mlp", "--n", "0", "--out", tmp_path,
          match="option 'n' of report 'complexity': Input should be greater than or equal to 2")
    fails("complexity", "--teacher", finished, "--student-model", "mlp", "--temperatures", "-1", "--out", tmp_path,
          match="option 'temperatures[0]' of report 'complexity'")
    fails("complexity", "--teacher", finished, "--student-model", "mlp", "--n", "abc", match="invalid int value")


def test_a_switch_past_the_last_step_warns(tmp_path, cli):
    cfg = write_yaml(tmp_path / "c.yaml", {**TINY, "loss": {"switch": {"to": "onehot", "at_step": 1000}}})
    code, out, err = cli("run", cfg, "--out", tmp_path / "out", "--no-progress")
    assert code == 0 and "warning: loss.switch.at_step 1000 is at or past the run's last step (2)" in out


KEYS = ["name", "seed", "preset", "data", "data.name", "data.label_noise", "data.train_size", "data.augment",
        "data.noise_seed", "model", "model.name", "model.hidden", "train.lr", "train.epochs", "train.momentum",
        "train.decay_epochs", "train.optimizer", "train.device", "loss", "loss.terms", "loss.terms.kd.weight",
        "loss.terms.kd.temperature", "loss.terms.dkd", "loss.terms.hint.student", "loss.switch", "loss.switch.to",
        "loss.switch.at_step", "loss.kd_weight", "loss.temperature", "teacher", "teacher.run", "teacher.checkpoint",
        "teacher.online", "record.probes", "record.predictions_every_epochs", "trian", "loss.terms.x.term"]
VALUES = st.one_of(
    st.sampled_from([".nan", ".inf", "-.inf", "null", "~", "[]", "{}", "[1, -2]", "{a: 1}", "yes", "''", "'a/b'",
                     "&a [*a]", "!!python/object:os.system ls", "1e400", "-0", "kd", "onehot", "resnet20", "final",
                     "[1, [2, [3]]]", "{terms: {kd: {weight: 1}}}", "'\\x00'", "\t", ":", "- a", "{{", "]"]),
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS) | st.text(min_size=1, max_size=8), VALUES), max_size=4))
def test_any_override_gives_a_config_or_one_config_error(overrides):
    try:
        cfg = resolve({}, [f"{k}={v}" for k, v in overrides])
    except ConfigError as e:
        assert "\n" not in str(e) and len(str(e)) <= 400
    else:
        assert isinstance(cfg, RunConfig)


def test_transforms_that_do_not_fit_the_inputs(tmp_path, fails):
    cfg = write_yaml(tmp_path / "c.yaml", {"name": "cf", "model": {"name": "channel_linear"},
                                           "data": {"name": "synthetic-channels", "num_train": 32, "num_test": 16,
                                                    "augment": "crop_flip"}, "train": {"epochs": 1}})
    fails("run", cfg, "--out", tmp_path / "out", match="transform 'crop_flip' needs images (C, H, W)")
    assert not (tmp_path / "out" / "cf").exists()
