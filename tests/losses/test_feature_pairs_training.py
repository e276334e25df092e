"""The feature-pair terms (at, nst, sp, pkt, rkd, kdsvd) in kdlab's loop: each trains a resnet8 for an
epoch on digits from a resnet8 teacher, reading the features its defaults name; what they cannot
pair is a one-line error before training."""

import json
import math

import pytest
import torch

from kdlab.config import resolve
from kdlab.errors import ConfigError
from kdlab.losses import LOSS_TERMS
from kdlab.models import build_model
from kdlab.train.runner import run_config
from tests.losses.pairs import value

BASE = {"data": {"name": "digits", "train_size": 64}, "model": {"name": "resnet8"},
        "train": {"epochs": 1, "batch_size": 32}, "record": {"loggers": []}}
quiet = dict(progress=False, log=lambda s: None)
# The references' weights for each term (RepDistiller's scripts/run_cifar_distill.sh, mdistiller's CFG).
WEIGHTS = {"at": 1000.0, "nst": 50.0, "sp": 3000.0, "pkt": 30000.0, "rkd": 1.0, "kdsvd": 1.0}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    run, _ = run_config(resolve({**BASE, "name": "t"}), tmp_path_factory.mktemp("t"), **quiet)
    return run


def _student(teacher_run, name, **options):
    return resolve({**BASE, "name": f"s_{name}", "seed": 1, "teacher": {"run": str(teacher_run.root)},
                    "loss": {"terms": {"onehot": {"weight": 1.0}, name: {"weight": WEIGHTS[name], **options}}}})


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_each_term_trains_a_student_for_an_epoch(tmp_path, teacher, name):
    run, summary = run_config(_student(teacher, name), tmp_path, **quiet)
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert len(rows) == 1
    loss = rows[0][f"train_{name}"]
    assert math.isfinite(loss) and loss >= 0, rows[0]
    assert math.isfinite(rows[0]["train_loss"])
    if name == "rkd":
        assert math.isfinite(rows[0]["train_rkd_d"]) and math.isfinite(rows[0]["train_rkd_a"])
    assert math.isfinite(summary.test_acc)


def test_symbolic_names_resolve_to_the_references_features():
    model = build_model("resnet8", 10, (1, 8, 8))
    expected = {"at": ("blocks.0", "blocks.1", "blocks.2"), "nst": ("blocks.0", "blocks.1", "blocks.2"),
                "kdsvd": ("blocks.0", "blocks.1", "blocks.2"), "sp": ("blocks.2",), "pkt": ("embedding",),
                "rkd": ("embedding",)}
    for name, paths in expected.items():
        term = LOSS_TERMS.build(name, {})
        term.bind(model, model)
        assert term.student_features == paths and term.teacher_features == paths, name
    term = LOSS_TERMS.build("at", {"student": "@stages[-2:]", "teacher": ["@stages[2]", "blocks.2"]})
    term.bind(model, model)
    assert term.student_features == ("blocks.1", "blocks.2") and term.teacher_features == ("blocks.1", "blocks.2")
    with pytest.raises(ConfigError, match=r"'@stages\[9:\]' selects none of the student's \(CifarResNetV2\) 4 "
                                          r"'@stages' paths \(stem, blocks.0, blocks.1, blocks.2\)"):
        LOSS_TERMS.build("at", {"student": "@stages[9:]"}).bind(model, model)
    with pytest.raises(ConfigError, match=r"has no feature paths '@blocks'"):
        LOSS_TERMS.build("at", {"student": "@blocks[1:]"}).bind(model, model)


def test_what_a_term_cannot_pair_is_an_error_before_training(tmp_path, teacher):
    cfg = _student(teacher, "at", student="@stages")
    with pytest.raises(ConfigError, match=r"at: the student's features \(@stages: 'stem' \(16, 8, 8\), 'blocks.0' "
                                          r"\(16, 8, 8\), 'blocks.1' \(32, 4, 4\), 'blocks.2' \(64, 2, 2\)\) and the "
                                          r"teacher's \(@stages\[1:\]: 'blocks.0' .*differ in count \(4 and 3\)"):
        run_config(cfg, tmp_path, **quiet)
    cfg = _student(teacher, "kdsvd", student="@stages[:-1]")
    with pytest.raises(ConfigError, match=r"kdsvd: student 'blocks.0' gives \(16, 8, 8\) and teacher 'blocks.1' gives "
                                          r"\(32, 4, 4\); kdsvd matches singular vectors in channel space"):
        run_config(cfg, tmp_path, **quiet)
    cfg = _student(teacher, "at", student="@embedding", teacher="@embedding")
    with pytest.raises(ConfigError, match=r"at: student 'embedding' gives \(64,\) and teacher 'embedding' gives "
                                          r"\(64,\); at needs feature maps"):
        run_config(cfg, tmp_path, **quiet)


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_under_autocast_the_terms_compute_in_float32(name):
    gen = torch.Generator().manual_seed(8)
    maps = name in ("at", "nst", "kdsvd")
    shapes = [(6, 4, 4, 4), (6, 8, 2, 2)] if maps else [(6, 10)]
    student = [torch.randn(s, generator=gen).bfloat16() for s in shapes]
    teacher = [torch.randn(s, generator=gen).bfloat16() for s in shapes]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = value(name, student, teacher)
    exact = value(name, [f.float() for f in student], [f.float() for f in teacher])
    assert mixed.dtype == torch.float32 and mixed.item() == exact.item()
