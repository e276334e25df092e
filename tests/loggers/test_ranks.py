"""Under torchrun only rank 0 logs, and what it logs is over every rank's samples: two gloo processes
give one MLflow run and one TensorBoard event file whose numbers are the one-process run's (up to
float rounding, tests/train/test_parallel.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from kdlab.config import resolve  # noqa: E402
from kdlab.records import RunDir  # noqa: E402
from kdlab.train.runner import run_config  # noqa: E402
from tests.train.test_events import _scalars  # noqa: E402

CFG = {"name": "ddp", "seed": 3, "data": {"name": "digits", "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
       "train": {"epochs": 2, "batch_size": 32, "lr": 0.05},
       "record": {"log_every_steps": 3, "loggers": ["tensorboard", "mlflow"]}}


def test_two_processes_log_once_over_both_ranks(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this test's reading client
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CFG))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "kdlab", "run", "cfg.yaml", "--out", "runs", "--no-progress"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = RunDir(tmp_path / "runs" / "ddp")
    one, _ = run_config(resolve(CFG), tmp_path / "one", progress=False, log=lambda s: None)
    assert len(list(ddp.tb.glob("events.out.tfevents.*"))) == 1
    client = MlflowClient(tracking_uri=(tmp_path / "runs" / "mlruns").as_uri())
    assert len(client.search_runs([client.get_experiment_by_name("kdlab").experiment_id])) == 1
    a, b = _scalars(ddp), _scalars(one)
    assert a.keys() == b.keys() and [s for s, _ in a["loss/loss"]] == [3, 6]
    for tag in a:
        assert [s for s, _ in a[tag]] == [s for s, _ in b[tag]], tag
        assert np.allclose([v for _, v in a[tag]], [v for _, v in b[tag]], atol=1e-4), tag
