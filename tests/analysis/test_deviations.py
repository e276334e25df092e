import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kdlab.analysis import deviations, dissection, logit_margin, underfitting_summary
from kdlab.analysis.runs import pair_deviations


def test_phi_matches_log_odds_where_finite():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(200, 7)) * 3
    cls = rng.integers(0, 7, 200)
    p = np.exp(f - f.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pc = p[np.arange(200), cls]
    np.testing.assert_allclose(logit_margin(f, cls), np.log(pc / (1 - pc)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_phi_is_exact_for_saturated_logits(dtype):
    f = torch.tensor([[100.0, 0.0, 0.0], [0.0, 0.0, -100.0]], dtype=dtype)
    naive_p = torch.softmax(f, 1)[0, 0]
    assert torch.isinf(torch.log(naive_p / (1 - naive_p)))  # the naive formula breaks here
    phi = logit_margin(f, [0, 2])
    assert np.all(np.isfinite(phi))
    assert phi[0] == pytest.approx(100 - math.log(2), rel=1e-6)
    assert phi[1] == pytest.approx(-100 - math.log(2), rel=1e-6)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (5, 2), elements=st.floats(-50, 50)))
def test_phi_two_classes_is_the_logit_gap(f):
    np.testing.assert_allclose(logit_margin(f, np.zeros(5, int)), f[:, 0] - f[:, 1], atol=1e-9)


def test_deviation_quantities():
    rng = np.random.default_rng(1)
    ft, fs = rng.normal(size=(100, 5)), rng.normal(size=(100, 5))
    labels = rng.integers(0, 5, 100)
    d = deviations(ft, fs, labels)
    y_te = ft.argmax(1)
    np.testing.assert_allclose(d.x, logit_margin(ft, y_te), atol=1e-6)
    np.testing.assert_allclose(d.y, logit_margin(fs, y_te), atol=1e-6)
    np.testing.assert_allclose(d.y_label, logit_margin(fs, labels), atol=1e-6)
    assert np.all(d.kl >= -1e-6) and np.all(d.entropy_teacher <= math.log(5) + 1e-6)
    same = deviations(ft, ft, labels)
    assert np.abs(same.kl).max() < 1e-6 and np.allclose(same.x, same.y)


def test_dissection_adds_up():
    rng = np.random.default_rng(2)
    t, s = rng.random(1000) < 0.7, rng.random(1000) < 0.8
    counts = dissection(t, s)
    assert sum(counts.values()) == 1000
    assert counts["both_correct"] == int((t & s).sum()) and counts["neither"] == int((~t & ~s).sum())


def test_summary_on_a_known_answer():
    x = np.linspace(-5, 5, 1000)
    y = x.copy()
    hard = x < np.quantile(x, 0.2)  # the lowest 20% by X
    y[hard] -= 1.0  # the student underfits exactly the hard points by 1
    s = underfitting_summary(x, y)
    assert s["hard"]["n"] == 200 and s["hard"]["mean_y_minus_x"] == pytest.approx(-1.0)
    assert s["hard"]["frac_y_below_x"] == 1.0
    assert s["easy"]["mean_y_minus_x"] == 0.0 and s["easy"]["frac_y_below_x"] == 0.0
    assert s["bins"][0]["mean_y_minus_x"] == pytest.approx(-1.0) and s["bins"][-1]["mean_y_minus_x"] == 0.0
    assert sum(b["n"] for b in s["bins"]) == 1000
    assert "noisy" not in s
    line = underfitting_summary(x, 0.5 * x + 2)
    assert line["slope"] == pytest.approx(0.5)


def test_summary_splits_clean_and_noisy():
    x = np.arange(100.0)
    noisy = np.zeros(100, bool)
    noisy[::4] = True
    y = np.where(noisy, x - 3, x)
    s = underfitting_summary(x, y, noisy)
    assert s["noisy"]["n"] == 25 and s["noisy"]["mean_y_minus_x"] == pytest.approx(-3)
    assert s["clean"]["mean_y_minus_x"] == 0 and s["clean"]["hard"]["frac_y_below_x"] == 0


def test_runs_are_aligned_by_sample_index():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(50, 4))
    rec = {"index": np.arange(50), "logits": logits, "label": rng.integers(0, 4, 50), "noisy": np.zeros(50, bool)}
    rec["orig_label"] = rec["label"]
    perm = rng.permutation(50)
    shuffled = {k: v[perm] for k, v in rec.items()}
    d = pair_deviations(rec, shuffled, "train", "orig_label")
    np.testing.assert_allclose(d.x, d.y, atol=1e-6)  # same logits once matched by index
    assert np.abs(d.kl).max() < 1e-6


@pytest.mark.parametrize("gap", [30.0, 100.0, 300.0])  # 300: the other exponentials underflow in float32
def test_deviations_are_exact_for_saturated_rows(gap):
    f = torch.tensor([[gap, 0.0, 0.0], [0.0, gap, 0.0]], dtype=torch.float32)
    d = deviations(f, f.flip(1), [0, 0])
    assert np.all(np.isfinite(d.x)) and np.all(np.isfinite(d.y)) and np.all(np.isfinite(d.kl))
    np.testing.assert_allclose(d.x, gap - math.log(2), rtol=1e-6)  # teacher: its own top class
    # phi of class 0 in [0, 0, gap] is 0 - logsumexp(0, gap) = -gap - log(1 + e^-gap)
    np.testing.assert_allclose(d.y, [-gap, gap - math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(d.x_label, [gap - math.log(2), -gap], rtol=1e-6)


def test_kl_is_never_negative_even_for_nearly_equal_rows():
    """KL(p_te || p_st) in log space: CE - H in float32 cancels to negative values for close rows."""
    import numpy as np
    import torch

    from kdlab.analysis import deviations

    g = torch.Generator().manual_seed(0)
    t = torch.randn(5000, 10, generator=g) * 5
    for s in (t + 1e-4 * torch.randn(5000, 10, generator=g), t.clone(), torch.randn(5000, 10, generator=g) * 3):
        d = deviations(t, s, torch.zeros(5000, dtype=torch.long))
        exact = (torch.softmax(t.double(), 1) * (torch.log_softmax(t.double(), 1) - torch.log_softmax(s.double(), 1))).sum(1)
        assert (d.kl >= 0).all() and np.allclose(d.kl, exact.numpy(), rtol=1e-3, atol=2e-6)
