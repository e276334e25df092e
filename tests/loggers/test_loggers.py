"""Loggers as a registry: record.loggers and record.log_every_steps are checked when a config is
resolved (one-line errors naming what is valid), the older record.tensorboard key still reads, a
user's own logger is one registration, and logging leaves torch's random state alone."""

from importlib.util import find_spec

import pytest
import torch

from kdlab.config import read_stored_config, resolve, validate
from kdlab.errors import ConfigError
from kdlab.loggers import LOGGERS, Logger, build_loggers, hyperparameters
from kdlab.records import OutDir
from kdlab.train.runner import run_config
from tests.interrupt import Interrupt, stop_after

CFG = {"name": "l", "data": {"name": "digits", "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
       "train": {"epochs": 4, "batch_size": 32}, "record": {"checkpoint_every_epochs": 2, "log_every_steps": 5}}
quiet = dict(progress=False, log=lambda s: None)


def _error(raw) -> str:
    with pytest.raises(ConfigError) as e:
        resolve(raw)
    message = str(e.value)
    assert "\n" not in message
    return message


def _record(**record) -> dict:
    return {**CFG, "record": {**CFG["record"], **record}}


def test_an_unknown_logger_or_option_is_one_line_naming_the_valid_ones():
    assert "unknown logger 'tensorbord' (did you mean 'tensorboard'?); known: mlflow, tensorboard" in \
        _error(_record(loggers=["tensorbord"]))
    message = _error(_record(loggers=[{"name": "mlflow", "uri": "file:/x"}]))
    assert message.startswith("record.loggers: unknown option 'uri' for logger 'mlflow'")
    assert "valid options: tracking_uri, experiment" in message
    assert "option 'experiment' of logger 'mlflow'" in _error(_record(loggers=[{"name": "mlflow", "experiment": [1]}]))
    assert "names 'tensorboard' twice" in _error(_record(loggers=["tensorboard", {"name": "tensorboard"}]))
    assert "log_every_steps" in _error(_record(log_every_steps=0))
    message = _error(_record(tensorbard=True))
    assert "unknown config key 'record.tensorbard'" in message and "loggers, log_every_steps" in message


def test_the_older_tensorboard_key_reads_as_loggers_and_is_not_written(tmp_path):
    assert validate(_record(tensorboard=False)).record.loggers == []
    assert [e.name for e in validate(_record(tensorboard=True)).record.loggers] == ["tensorboard"]
    assert validate(_record(tensorboard=False, loggers=["mlflow"])).record.loggers[0].name == "mlflow"  # loggers decides
    assert "true or false" in _error(_record(tensorboard="maybe"))
    stored = tmp_path / "config.yaml"  # as earlier kdlab wrote a run's config
    stored.write_text("name: old\nrecord: {predictions_every_epochs: 10, checkpoint_every_epochs: 1, probes: [],"
                      " tensorboard: false}\n")
    cfg = read_stored_config(stored)
    assert cfg.record.loggers == [] and cfg.record.log_every_steps == 10
    assert "tensorboard" not in cfg.model_dump()["record"]
    assert [e.name for e in validate({}).record.loggers] == ["tensorboard"]  # the default


class Collector(Logger):
    """A user's logger: keeps what it is given."""

    calls: list = []

    def __init__(self, config, run, out, start_step, log, prefix: str = ""):
        self.prefix = prefix
        self.calls.append(("start", start_step, run.root.name, out.root))

    def hparams(self, params):
        self.calls.append(("hparams", params))

    def scalars(self, step, values):
        self.calls.append(("scalars", step, {self.prefix + k: v for k, v in values.items()}))

    def close(self, finished):
        self.calls.append(("close", finished))


@pytest.fixture
def collector():
    LOGGERS.register("collector")(Collector)
    Collector.calls = []
    yield Collector.calls
    LOGGERS._builders.pop("collector")


def test_a_users_logger_is_one_registration(tmp_path, collector):
    cfg = resolve(_record(loggers=[{"name": "collector", "prefix": "my/"}]))
    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path, hooks=[stop_after(3)], **quiet)
    run_config(cfg, tmp_path, **quiet)
    kinds = [c[0] for c in collector]
    assert kinds.count("start") == 2 and kinds.count("hparams") == 1  # the resumed run does not log them again
    assert collector[0] == ("start", 0, "l", tmp_path) and ("start", 8, "l", tmp_path) in collector
    assert collector[1] == ("hparams", hyperparameters(cfg.model_dump(mode="json")))
    assert [c[1] for c in collector if c[0] == "close"] == [False, True]
    training = [c for c in collector if c[0] == "scalars" and "my/lr" in c[2]]
    assert [c[1] for c in training] == [5, 10, 10, 15]  # 10 again: logged past the checkpoint, then resumed
    assert {"my/loss/loss", "my/loss/onehot", "my/weight/onehot", "my/weight/kd", "my/lr", "my/accuracy/train"} \
        == set(training[0][2])
    tested = [c for c in collector if c[0] == "scalars" and "my/accuracy/test" in c[2]]
    assert [c[1] for c in tested] == [4, 8, 12, 12, 16] and set(tested[0][2]) == {"my/accuracy/test", "my/loss/test"}


def test_a_logger_that_needs_a_missing_package_is_refused_at_resolution(collector):
    Collector.requires, Collector.install = "kdlab_no_such_package", "pip install it"
    try:
        assert _error(_record(loggers=["collector"])) == ("record.loggers: logger 'collector' needs the "
                                                          "kdlab_no_such_package package, which is not installed; pip install it")
    finally:
        del Collector.requires, Collector.install


def test_logging_leaves_torchs_random_state_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the mlflow logger sets it: undone after the test
    cfg = resolve(_record(loggers=["tensorboard", "mlflow"]) if find_spec("mlflow") else _record())
    torch.manual_seed(5)
    before = torch.get_rng_state()
    run = OutDir(tmp_path).run("l")
    loggers = build_loggers(cfg.record.logger_entries(), config=cfg, run=run, out=OutDir(tmp_path), start_step=0,
                            log=lambda s: None)
    for logger in loggers:
        logger.hparams(hyperparameters(cfg.model_dump(mode="json")))
        logger.scalars(5, {"loss/loss": 1.0, "accuracy/train": 0.5})
        logger.close(True)
    assert len(loggers) == len(cfg.record.loggers) and torch.equal(torch.get_rng_state(), before)
    assert run.tb.is_dir()
