import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kdlab.config import LossConfig
from kdlab.distill.objective import Objective
from kdlab.distill.schedule import switch_progress, weights_at
from kdlab.losses import StepOutputs

ONEHOT = {"onehot": 1.0, "kd": 0.0}


def test_switch_window_edges():
    S, W = 100, 10
    assert weights_at(S - 1, ONEHOT, "kd", S, W) == ONEHOT  # before: old loss
    assert weights_at(S, ONEHOT, "kd", S, W) == ONEHOT  # the window starts at the old loss
    assert weights_at(S + 5, ONEHOT, "kd", S, W) == {"onehot": 0.5, "kd": 0.5}
    assert weights_at(S + W, ONEHOT, "kd", S, W) == {"onehot": 0.0, "kd": 1.0}
    assert weights_at(10**9, ONEHOT, "kd", S, W) == {"onehot": 0.0, "kd": 1.0}


def test_abrupt_switch():
    kd = {"onehot": 0.0, "kd": 1.0}
    assert weights_at(49, kd, "onehot", 50, 0) == kd
    assert weights_at(50, kd, "onehot", 50, 0) == ONEHOT


def test_switch_from_a_mix():
    mix = {"onehot": 0.1, "kd": 0.9}  # the common CIFAR recipe, switched to pure one-hot
    w = weights_at(15, mix, "onehot", 10, 10)
    assert w["onehot"] == pytest.approx(0.55) and w["kd"] == pytest.approx(0.45)


def test_switch_moves_weight_between_any_named_terms():
    w = weights_at(5, {"onehot": 0.5, "kd": 0.5, "dkd": 0.0}, "dkd", 0, 10)
    assert w == pytest.approx({"onehot": 0.25, "kd": 0.25, "dkd": 0.5})


@given(st.integers(0, 10_000), st.integers(0, 5000), st.integers(0, 5000))
def test_progress_is_monotone_and_bounded(step, at, window):
    r = switch_progress(step, at, window)
    assert 0.0 <= r <= 1.0
    assert switch_progress(step + 1, at, window) >= r


def test_objective_uses_teacher_only_while_kd_weighs():
    obj = Objective(LossConfig(onehot_weight=1, kd_weight=0, switch={"to": "kd", "at_step": 10, "window": 4}))
    assert not obj.needs_teacher(10) and obj.needs_teacher(11)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    total, terms = obj(StepOutputs(logits, {"label": labels}, torch.randn(4, 3)), 12)
    assert total.item() == pytest.approx(0.5 * terms["onehot"].item() + 0.5 * terms["kd"].item(), rel=1e-6)
    assert set(terms) == {"onehot", "kd", "kl", "loss"}
