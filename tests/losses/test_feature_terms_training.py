"""The stateful feature terms (vid, ofd, crd, reviewkd) in kdlab's loop: each trains a resnet8 on digits
for two epochs from a resnet8 teacher, its loss finite in metrics.jsonl, its parameters and buffers
checkpointed; killed after epoch 1 and resumed, a run ends bit-identical to the uninterrupted one
(the student's weights, the objective's parameters and buffers, the metrics)."""

import json
import math

import numpy as np
import pytest
from safetensors.torch import load_file

from kdlab.config import resolve
from kdlab.train.runner import run_config
from tests.interrupt import Interrupt, stop_after

BASE = {"data": {"name": "digits", "train_size": 64}, "model": {"name": "resnet8"},
        "train": {"epochs": 2, "batch_size": 32, "lr": 0.05},
        "record": {"loggers": [], "checkpoint_every_epochs": 1}}
quiet = dict(progress=False, log=lambda s: None)
# resnet8 is a pre-activation ResNet: OFD distils the batch norms that read its stage outputs.
BN_READING_STAGES = ["blocks.1.bn1", "blocks.2.bn1", "bn"]
TERMS = {  # the references' weights; CRD scaled down for a CPU test (nce_k 16384 -> 32, feat_dim 128 -> 16)
    "vid": {"weight": 1.0},
    "ofd": {"weight": 0.001, "student": BN_READING_STAGES, "teacher": BN_READING_STAGES},
    "crd": {"weight": 0.8, "nce_k": 32, "feat_dim": 16},
    "reviewkd": {"weight": 1.0, "schedule": {"kind": "ramp", "epochs": 2}},  # the references' warm-up, shortened
}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    run, _ = run_config(resolve({**BASE, "name": "t", "train": {**BASE["train"], "epochs": 1}}),
                        tmp_path_factory.mktemp("t"), **quiet)
    return run


def _student(teacher_run, name):
    return resolve({**BASE, "name": f"s_{name}", "seed": 1, "teacher": {"run": str(teacher_run.root)},
                    "loss": {"terms": {"onehot": {"weight": 1.0}, name: TERMS[name]}}})


def _rows(run):
    return [json.loads(line) for line in run.metrics_path.read_text().splitlines()]


@pytest.mark.parametrize("name", sorted(TERMS))
def test_trains_and_resumes_bit_identically(tmp_path, teacher, name):
    cfg = _student(teacher, name)
    whole, summary = run_config(cfg, tmp_path / "whole", **quiet)
    rows = _rows(whole)
    assert len(rows) == 2 and all(math.isfinite(r[f"train_{name}"]) and r[f"train_{name}"] >= 0 for r in rows), rows
    assert math.isfinite(summary.test_acc)

    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path / "parts", hooks=[stop_after(1)], **quiet)
    parts, _ = run_config(cfg, tmp_path / "parts", **quiet)
    for file in ("final.safetensors", "objective_final.safetensors", "objective_epoch_0002.safetensors"):
        a, b = load_file(str(whole.checkpoints / file)), load_file(str(parts.checkpoints / file))
        assert a.keys() == b.keys() and a, file
        for k in a:
            assert np.array_equal(a[k].numpy(), b[k].numpy()), (file, k)  # bit-identical on CPU
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(_rows(whole)) == strip(_rows(parts))

    first = load_file(str(whole.objective_path(1)))
    last = load_file(str(whole.checkpoints / "objective_final.safetensors"))
    learned = [k for k in last if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
               and not k.startswith(("terms.crd.memory", "terms.crd.log_z", "terms.ofd.margin"))]
    assert learned and all(not np.array_equal(first[k].numpy(), last[k].numpy()) for k in learned), learned
    if name == "vid":  # the variances learn (RepDistiller; mdistiller's never register)
        assert {k for k in learned if k.endswith("log_scale")} == {f"terms.vid.pairs.{i}.log_scale" for i in range(3)}
    if name == "crd":  # the banks move; Z, estimated on the first batch, stays
        for bank in ("terms.crd.memory_student", "terms.crd.memory_teacher"):
            assert last[bank].shape == (64, 16) and not np.array_equal(first[bank].numpy(), last[bank].numpy())
            assert np.allclose(np.linalg.norm(last[bank].numpy(), axis=1), 1, atol=1e-5)  # every row visited
        assert np.isfinite(last["terms.crd.log_z"].numpy()).all()
        assert np.array_equal(first["terms.crd.log_z"].numpy(), last["terms.crd.log_z"].numpy())
    if name == "ofd":
        assert {k for k in last if k.startswith("terms.ofd.margin")} == {f"terms.ofd.margin{i}" for i in range(3)}
