"""The mlflow logger: one MLflow run per kdlab run, in <out>/mlruns or at a tracking URI, holding the
metrics TensorBoard gets (same tags, steps and values) and the flattened config as params; a resumed
kdlab run continues its MLflow run with one value per step."""

import json
import sys

import numpy as np
import pytest
import yaml

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from kdlab.config import resolve  # noqa: E402
from kdlab.errors import ConfigError  # noqa: E402
from kdlab.loggers import hyperparameters  # noqa: E402
from kdlab.train.runner import run_config  # noqa: E402
from tests.interrupt import Interrupt, stop_after  # noqa: E402
from tests.train.test_events import _scalars  # noqa: E402

CFG = {"name": "m", "data": {"name": "digits", "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
       "train": {"epochs": 4, "batch_size": 32, "lr": 0.05},
       "record": {"checkpoint_every_epochs": 2, "log_every_steps": 3, "loggers": ["tensorboard", "mlflow"]}}
quiet = dict(progress=False, log=lambda s: None)


@pytest.fixture(autouse=True)
def file_store_flag(monkeypatch):
    """MLflow 3 opens a file store only with MLFLOW_ALLOW_FILE_STORE=true: unset here, so the logger
    must set it in its process (where the test's reading client finds it too); undone after the test."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")


def _only_run(store, experiment="kdlab"):
    client = MlflowClient(tracking_uri=store.as_uri())
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(found) == 1, [r.info.run_name for r in found]
    return client, found[0]


def _history(client, mlflow_run) -> dict[str, list[tuple[int, float]]]:
    return {key: sorted((m.step, m.value) for m in client.get_metric_history(mlflow_run.info.run_id, key))
            for key in mlflow_run.data.metrics}


def test_the_mlflow_run_holds_what_tensorboard_holds_and_the_params(tmp_path):
    cfg = resolve(CFG)
    run, _ = run_config(cfg, tmp_path, **quiet)
    client, found = _only_run(tmp_path / "mlruns")  # the default store: <out>/mlruns
    assert found.info.run_name == "m" and found.info.status == "FINISHED"
    assert found.data.tags["kdlab.run_dir"] == str(run.root.resolve())
    metrics, scalars = _history(client, found), _scalars(run)
    assert metrics.keys() == scalars.keys() and "accuracy/train" in metrics and "loss/test" in metrics
    for tag, points in scalars.items():  # TensorBoard keeps float32
        assert [(s, np.float32(v)) for s, v in metrics[tag]] == points, tag
    assert [s for s, _ in metrics["loss/loss"]] == [3, 6, 9, 12, 15]
    flat = hyperparameters(cfg.model_dump(mode="json"))
    assert found.data.params == {k: v if isinstance(v, str) else json.dumps(v) for k, v in flat.items()}
    assert found.data.params["train.lr"] == "0.05" and found.data.params["loss.terms.kd.temperature"] == "4.0"
    assert (run.checkpoints / "mlflow_run_id").read_text() == found.info.run_id


def test_a_tracking_uri_and_an_experiment_as_options(tmp_path):
    elsewhere = tmp_path / "store"
    entry = {"name": "mlflow", "tracking_uri": elsewhere.as_uri(), "experiment": "mine"}
    run_config(resolve({**CFG, "record": {**CFG["record"], "loggers": [entry]}}), tmp_path / "out", **quiet)
    _, found = _only_run(elsewhere, "mine")
    assert found.info.run_name == "m" and not (tmp_path / "out" / "mlruns").exists()
    stored = yaml.safe_load((tmp_path / "out" / "m" / "config.yaml").read_text())
    assert stored["record"]["loggers"] == [entry]


def test_a_resumed_run_continues_its_mlflow_run(tmp_path):
    """Killed after epoch 3 (step 12), resumed from epoch 2 (step 8): the same MLflow run, holding what an
    uninterrupted run's holds, each step once (the stopped attempt had logged steps 9 and 12 already)."""
    cfg = resolve(CFG)
    run_config(cfg, tmp_path / "whole", **quiet)
    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path / "parts", hooks=[stop_after(3)], **quiet)
    _, stopped = _only_run(tmp_path / "parts" / "mlruns")
    assert stopped.info.status == "KILLED"
    run_config(cfg, tmp_path / "parts", **quiet)
    whole_client, whole = _only_run(tmp_path / "whole" / "mlruns")
    parts_client, parts = _only_run(tmp_path / "parts" / "mlruns")
    assert parts.info.run_id == stopped.info.run_id and parts.info.status == "FINISHED"
    assert _history(parts_client, parts) == _history(whole_client, whole)
    assert parts.data.params == whole.data.params


def test_without_mlflow_naming_it_is_one_line_before_anything_trains(tmp_path, monkeypatch, fails):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"logger 'mlflow' needs the mlflow package.*kdlab\[mlflow\]"):
        resolve(CFG)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(CFG))
    fails("run", tmp_path / "m.yaml", "--out", tmp_path / "runs", "--no-progress", match="record.loggers: logger 'mlflow'")
    assert not (tmp_path / "runs").exists()
