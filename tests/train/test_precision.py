"""Mixed precision and torch.compile (issue 13's GPU path, checked on the CPU)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from kdlab.config import resolve
from kdlab.errors import ConfigError
from kdlab.models import build_model
from kdlab.train.loop import setup
from kdlab.train.runner import run_config

BASE = {"data": {"name": "digits", "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 1, "batch_size": 64}}
quiet = dict(progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    run, _ = run_config(resolve({**BASE, "name": "t"}), tmp_path_factory.mktemp("t"), **quiet)
    return run


def test_a_bf16_kd_step_runs_under_autocast_on_cpu(tmp_path, teacher):
    cfg = resolve({**BASE, "name": "s", "train": {**BASE["train"], "precision": "bf16"},
                   "loss": {"terms": {"kd": {"weight": 1.0}}}, "teacher": {"run": str(teacher.root)}})
    session = setup(cfg)
    batch = next(iter(session.batches(0)))
    before = [p.detach().clone() for p in session.model.parameters()]
    logits, teacher_logits, terms = session.train_step(batch, 1)
    assert logits.dtype == torch.bfloat16 and teacher_logits.dtype == torch.bfloat16
    assert torch.isfinite(terms["kd"]) and all(p.dtype == torch.float32 for p in session.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, session.model.parameters()))  # it stepped
    run, summary = run_config(cfg, tmp_path, **quiet)
    assert json.loads(run.info_path.read_text())["precision"] == "bfloat16" and 0 <= summary.test_acc <= 1


def test_fp32_is_the_cpu_default_and_fp16_needs_a_gpu(tmp_path):
    assert setup(resolve(BASE)).autocast is None
    with pytest.raises(ConfigError, match="train.precision=fp16 needs a CUDA device"):
        setup(resolve({**BASE, "train": {**BASE["train"], "precision": "fp16"}}))
    with pytest.raises(ConfigError, match="config key 'train.precision'"):
        resolve({**BASE, "train": {**BASE["train"], "precision": "fp8"}})


def test_a_compiled_run_saves_plain_weights(tmp_path):
    run, summary = run_config(resolve({**BASE, "name": "c", "train": {**BASE["train"], "compile": True}}), tmp_path, **quiet)
    state = load_file(str(run.final_weights))
    assert not any(k.startswith("_orig_mod") for k in state)
    build_model("mlp", 10, (1, 8, 8), {"hidden": [16]}).load_state_dict(state)  # loads into the plain model
    assert json.loads(run.info_path.read_text())["compile"] is True
    _, eager = run_config(resolve({**BASE, "name": "e"}), tmp_path, **quiet)
    assert abs(summary.test_acc - eager.test_acc) <= 0.02  # the same training, up to rounding
