"""torchrun DDP on CPU (gloo): two processes train one run as one process would, and resume after a kill.

Tolerance: the two-process run averages the two halves' gradients where one process takes the mean
over the whole batch, which differs only in float rounding (measured: 1.8e-7 in the final weights of
this MLP after 96 steps, test accuracy equal). The test allows 1e-4 in every weight and 1 point of test accuracy.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

from kdlab.config import resolve
from kdlab.records import RunDir
from kdlab.train.runner import run_config

CONFIG = {"name": "ddp", "seed": 3, "data": {"name": "digits", "train_size": 1024},
          "model": {"name": "mlp", "hidden": [64]},
          "train": {"epochs": 6, "batch_size": 64, "lr": 0.05},
          "record": {"checkpoint_every_epochs": 1, "predictions_every_epochs": 3}}

# Rank 0 kills itself (SIGKILL: no cleanup at all) once epoch 3 is checkpointed; torchrun then stops rank 1.
KILLER = textwrap.dedent("""
    import os, signal, sys
    from kdlab.config import resolve
    from kdlab.io import read_yaml
    from kdlab.train.runner import run_config

    def kill(epoch, step):
        if epoch == 3 and os.environ["RANK"] == "0":
            os.kill(os.getpid(), signal.SIGKILL)

    run_config(resolve(read_yaml(sys.argv[1])), sys.argv[2], progress=False, hooks=[kill], log=print)
""")


def torchrun(*args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def weights(run: RunDir) -> dict:
    return {k: v.numpy() for k, v in load_file(str(run.final_weights)).items()}


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """The config trained by 2 torchrun processes, uninterrupted."""
    folder = tmp_path_factory.mktemp("ddp")
    (folder / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    done = torchrun("-m", "kdlab", "run", "cfg.yaml", "--out", "runs", "--no-progress", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, RunDir(folder / "runs" / "ddp"), done


def test_two_gloo_processes_train_as_one_process_with_the_same_global_batch(tmp_path, two_processes):
    folder, ddp, done = two_processes
    one, summary = run_config(resolve(CONFIG), tmp_path, progress=False, log=lambda s: None)
    assert json.loads(ddp.info_path.read_text())["processes"] == 2
    assert ddp.summary().steps == summary.steps == 6 * 16  # the global batch is the config's
    a, b = weights(one), weights(ddp)
    assert max(np.abs(a[k] - b[k]).max() for k in a) < 1e-4
    assert abs(ddp.summary().test_acc - summary.test_acc) <= 0.01
    # rank 0 alone printed: exactly one JSON object on stdout
    assert json.loads(done.stdout)["steps"] == summary.steps


def test_a_killed_torchrun_run_resumes_to_the_uninterrupted_result(tmp_path, two_processes):
    _, whole, _ = two_processes
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    (tmp_path / "killer.py").write_text(KILLER)
    killed = torchrun("killer.py", "cfg.yaml", "runs", cwd=tmp_path)
    parts = RunDir(tmp_path / "runs" / "ddp")
    assert killed.returncode != 0 and not parts.finished and parts.state_path.is_file()

    # the same run in another number of processes would continue another trajectory: refused
    alone = subprocess.run([sys.executable, "-m", "kdlab", "run", "cfg.yaml", "--out", "runs"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert alone.returncode == 2 and "started in 2 process(es)" in alone.stderr
    assert alone.stderr.count("\n") == 1

    resumed = torchrun("-m", "kdlab", "run", "cfg.yaml", "--out", "runs", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout and resumed.stdout.count("resuming") == 1  # said once, by rank 0
    a, b = weights(whole), weights(parts)
    for k in a:
        assert np.array_equal(a[k], b[k]), k  # gloo's reductions are deterministic: bit-identical
    assert parts.summary().test_acc == whole.summary().test_acc


def test_a_batch_that_does_not_split_over_the_processes_is_one_line_from_rank_0(tmp_path):
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({**CONFIG, "train": {**CONFIG["train"], "batch_size": 63}}))
    done = torchrun("-m", "kdlab", "run", "cfg.yaml", "--out", "runs", cwd=tmp_path)
    assert done.returncode != 0 and not (tmp_path / "runs" / "ddp").exists()
    lines = [line for line in done.stderr.splitlines() if line.startswith("kdlab: error:")]
    assert lines == ["kdlab: error: train.batch_size=63 is the global batch and must split evenly over 2 "
                     "processes; use a multiple of 2"]
