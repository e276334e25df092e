"""NKD (Yang et al. 2023): -T_t log S_t - gamma lambda^2 sum_{i != t} N(T^lambda)_i log N(S^lambda)_i."""

import math

import numpy as np
import pytest
import torch

from kdlab.losses import LOSS_TERMS, StepOutputs
from kdlab.losses.nkd import nkd_parts


def _run(term, zs, zt, labels):
    return term(StepOutputs(zs, {"label": torch.as_tensor(labels)}, zt))


# Logits log(p) give probabilities p at temperature 1.
P_STUDENT = [[0.5, 0.2, 0.3], [0.25, 0.25, 0.5]]
P_TEACHER = [[0.8, 0.1, 0.1], [0.2, 0.6, 0.2]]
LABELS = [0, 2]


def _by_hand(lam, gamma):
    """Worked out from the probabilities above. Target part: -T_t log S_t at temperature 1.
    Non-target part: N(.) renormalises the other two classes; at temperature lambda the logits
    log(p) / lambda give probabilities proportional to p ** (1 / lambda)."""
    def n(p, label):  # the non-target classes, renormalised, at temperature lambda
        others = [p[i] ** (1 / lam) for i in range(3) if i != label]
        return [o / sum(others) for o in others]

    # sample 1, label 0: -0.8 log 0.5; at lambda = 1: N(T) = (1/2, 1/2), N(S) = (2/5, 3/5)
    # sample 2, label 2: -0.2 log 0.5; at lambda = 1: N(T) = (1/4, 3/4), N(S) = (1/2, 1/2): log 2
    target = (-0.8 * math.log(0.5) - 0.2 * math.log(0.5)) / 2
    non_target = 0.0
    for ps, pt, y in zip(P_STUDENT, P_TEACHER, LABELS):
        non_target += -sum(t * math.log(s) for t, s in zip(n(pt, y), n(ps, y))) / 2
    return target + gamma * lam**2 * non_target, target, gamma * lam**2 * non_target


def test_the_hand_computation_at_temperature_one_is_the_one_in_its_comments():
    expected = (-0.8 * math.log(0.5) - 0.2 * math.log(0.5)) / 2 + 1.5 * (
        -(0.5 * math.log(0.4) + 0.5 * math.log(0.6)) + math.log(2)) / 2
    assert _by_hand(1.0, 1.5)[0] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("lam,gamma", [(1.0, 1.5), (2.0, 1.5), (4.0, 0.5), (0.5, 1.0)])
def test_nkd_against_a_hand_computation(lam, gamma):
    zs = torch.tensor(P_STUDENT, dtype=torch.float64).log()
    zt = torch.tensor(P_TEACHER, dtype=torch.float64).log()
    loss, extra = _run(LOSS_TERMS.build("nkd", {"temperature": lam, "gamma": gamma}), zs, zt, LABELS)
    total, target, non_target = _by_hand(lam, gamma)
    assert loss.item() == pytest.approx(total, rel=1e-12)
    assert extra["target_ce"].item() == pytest.approx(target, rel=1e-12)
    assert extra["non_target_ce"].item() == pytest.approx(non_target, rel=1e-12)


def test_nkd_defaults_are_the_references():
    assert LOSS_TERMS.options("nkd") == {"temperature": 1.0, "gamma": 1.5}
    assert LOSS_TERMS.build("nkd", {"temperature": 3.0}).temperature == 3.0


def _paper_nkd(zs, zt, labels, lam, gamma):
    """NKD from the paper, in float64: probabilities written out, the non-target ones renormalised by
    dividing by their sum (N(.)), the target class removed by indexing."""
    def softmax(z):
        e = torch.exp(z - z.max())
        return e / e.sum()

    total = 0.0
    for s, t, y in zip(zs, zt, labels):
        target = -softmax(t)[y] * torch.log(softmax(s)[y])
        others = [k for k in range(len(s)) if k != y]
        ps, pt = softmax(s / lam)[others], softmax(t / lam)[others]
        ns, nt = ps / ps.sum(), pt / pt.sum()
        total = total + target - gamma * lam**2 * (nt * torch.log(ns)).sum()
    return total / len(labels)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("lam,gamma", [(1.0, 1.5), (4.0, 1.0), (0.5, 2.0)])
def test_nkd_value_and_gradient_match_the_paper(dtype, tol, lam, gamma):
    rng = np.random.default_rng(2)
    zs, zt = rng.normal(size=(8, 10)) * 2, rng.normal(size=(8, 10)) * 2
    labels = rng.integers(0, 10, size=8)
    ref_s = torch.tensor(zs, requires_grad=True)
    expected = _paper_nkd(ref_s, torch.tensor(zt), labels, lam, gamma)
    expected.backward()
    s = torch.tensor(zs, dtype=dtype, requires_grad=True)
    loss, _ = _run(LOSS_TERMS.build("nkd", {"temperature": lam, "gamma": gamma}), s,
                   torch.tensor(zt, dtype=dtype), labels)
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=tol, abs=tol)
    scale = ref_s.grad.abs().max().item()
    np.testing.assert_allclose(s.grad.double().numpy(), ref_s.grad.numpy(), rtol=0, atol=tol * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nkd_is_finite_for_extreme_logits(dtype):
    z = torch.tensor([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, 1e4, 1e4], [1e30, -1e30, 0.0, 1.0], [7.0, 7.0, 7.0, 7.0]],
                     dtype=dtype)
    for labels in ([0, 1, 2, 3], [1, 0, 3, 2]):  # the student's largest logit at the label, and far from it
        for zs, zt in [(z, z.flip(0)), (z.flip(1), z), (z, z)]:
            s = zs.clone().requires_grad_(True)
            loss, extra = _run(LOSS_TERMS.build("nkd", {"temperature": 2.0}), s, zt, labels)
            loss.backward()
            assert torch.isfinite(loss) and all(torch.isfinite(v) for v in extra.values())
            assert torch.isfinite(s.grad).all()


def test_nkd_batch_of_one_and_two_classes():
    zs = torch.tensor(P_STUDENT[1:], dtype=torch.float64).log().requires_grad_(True)
    zt = torch.tensor(P_TEACHER[1:], dtype=torch.float64).log()
    loss, _ = _run(LOSS_TERMS.build("nkd", {}), zs, zt, LABELS[1:])
    assert loss.item() == pytest.approx(-0.2 * math.log(0.5) + 1.5 * math.log(2), rel=1e-12)  # sample 2 by hand
    loss.backward()
    assert torch.isfinite(zs.grad).all()
    # two classes: one non-target class, whose renormalised probability is 1: that part is 0
    target, non_target = nkd_parts(torch.tensor([[2.0, -1.0]]), torch.tensor([[0.5, 0.0]]), torch.tensor([1]), 3.0)
    assert non_target.item() == 0.0
    assert target.item() == pytest.approx(-(1 / (1 + math.exp(0.5))) * math.log(1 / (1 + math.exp(3.0))), rel=1e-6)


def test_nkd_does_not_send_gradient_to_the_teacher():
    zs, zt = torch.randn(4, 5), torch.randn(4, 5, requires_grad=True)
    loss, _ = _run(LOSS_TERMS.build("nkd", {}), zs.requires_grad_(True), zt, [0, 1, 2, 3])
    loss.backward()
    assert zt.grad is None
