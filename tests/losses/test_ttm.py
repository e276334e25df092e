"""TTM (Zheng & Yang 2024): KL(p~ || q), p~ the teacher's probabilities to the power gamma, renormalised."""

import math

import numpy as np
import pytest
import torch

from kdlab.losses import LOSS_TERMS, StepOutputs, kl_divergence
from kdlab.losses.ttm import ttm_divergence


def _run(term, zs, zt):
    return term(StepOutputs(zs, {"label": torch.zeros(zs.shape[0], dtype=torch.long)}, zt))


P_STUDENT = [[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]]
P_TEACHER = [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]


def _by_hand(gamma):
    """Powers of the teacher's probabilities, renormalised, then KL against the student, per sample."""
    total = 0.0
    for q, p in zip(P_STUDENT, P_TEACHER):
        powered = [pk**gamma for pk in p]
        p_tilde = [x / sum(powered) for x in powered]
        total += sum(pt * math.log(pt / qk) for pt, qk in zip(p_tilde, q))
    return total / 2


def test_the_hand_computation_at_gamma_two():
    # sample 1: p^2 = (0.25, 0.09, 0.04) / 0.38; sample 2: (0.01, 0.36, 0.09) / 0.46
    p1 = [0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38]
    p2 = [0.01 / 0.46, 0.36 / 0.46, 0.09 / 0.46]
    kl1 = p1[0] * math.log(p1[0] / 0.5) + p1[1] * math.log(p1[1] / 0.25) + p1[2] * math.log(p1[2] / 0.25)
    kl2 = p2[0] * math.log(p2[0] / 0.2) + p2[1] * math.log(p2[1] / 0.2) + p2[2] * math.log(p2[2] / 0.6)
    assert _by_hand(2.0) == pytest.approx((kl1 + kl2) / 2, rel=1e-14)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 0.5, 0.1])
def test_ttm_against_a_hand_computation(gamma):
    zs = torch.tensor(P_STUDENT, dtype=torch.float64).log()
    zt = torch.tensor(P_TEACHER, dtype=torch.float64).log()
    term = LOSS_TERMS.build("ttm", {"gamma": gamma})
    assert _run(term, zs, zt).item() == pytest.approx(_by_hand(gamma), rel=1e-12)
    assert term.temperature == pytest.approx(1 / gamma)


def test_ttm_defaults_are_the_references_and_gamma_one_is_kl_at_temperature_one():
    assert LOSS_TERMS.options("ttm") == {"gamma": 1.0}
    zs, zt = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    assert _run(LOSS_TERMS.build("ttm", {}), zs, zt).item() == pytest.approx(
        kl_divergence(zs, zt, 1.0).mean().item(), rel=1e-12)


def _paper_ttm(zs, zt, gamma):
    """TTM as the paper writes it, in float64: softmax probabilities, powered, renormalised (the
    reference's own steps), KL against the student at temperature 1."""
    p = torch.softmax(zt, dim=1) ** gamma
    p = p / p.sum(dim=1, keepdim=True)
    q = torch.softmax(zs, dim=1)
    return (p * (torch.log(p) - torch.log(q))).sum(1).mean()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("gamma", [1.0, 0.1, 0.25, 3.0])
def test_ttm_value_and_gradient_match_the_paper(dtype, tol, gamma):
    rng = np.random.default_rng(3)
    zs, zt = rng.normal(size=(8, 10)) * 2, rng.normal(size=(8, 10)) * 2
    ref_s = torch.tensor(zs, requires_grad=True)
    expected = _paper_ttm(ref_s, torch.tensor(zt), gamma)
    expected.backward()
    s = torch.tensor(zs, dtype=dtype, requires_grad=True)
    loss = _run(LOSS_TERMS.build("ttm", {"gamma": gamma}), s, torch.tensor(zt, dtype=dtype))
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=tol, abs=tol)
    scale = ref_s.grad.abs().max().item()
    np.testing.assert_allclose(s.grad.double().numpy(), ref_s.grad.numpy(), rtol=0, atol=tol * scale)


def test_the_power_transform_is_the_teachers_softmax_at_temperature_one_over_gamma():
    zt = torch.randn(4, 7, dtype=torch.float64) * 3
    for gamma in (0.1, 0.5, 2.0):
        powered = torch.softmax(zt, 1) ** gamma
        assert torch.allclose(powered / powered.sum(1, keepdim=True), torch.softmax(zt / (1 / gamma), 1), rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ttm_is_finite_for_extreme_logits(dtype):
    z = torch.tensor([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, 1e4, 1e4], [1e30, -1e30, 0.0, 1.0], [7.0, 7.0, 7.0, 7.0]],
                     dtype=dtype)
    for gamma in (0.1, 1.0, 4.0):
        for zs, zt in [(z, z.flip(0)), (z.flip(1), z), (z, z)]:
            s = zs.clone().requires_grad_(True)
            loss = _run(LOSS_TERMS.build("ttm", {"gamma": gamma}), s, zt)
            loss.backward()
            assert torch.isfinite(loss) and torch.isfinite(s.grad).all()


def test_ttm_batch_of_one():
    zs = torch.tensor(P_STUDENT[:1], dtype=torch.float64).log().requires_grad_(True)
    zt = torch.tensor(P_TEACHER[:1], dtype=torch.float64).log()
    loss = _run(LOSS_TERMS.build("ttm", {"gamma": 2.0}), zs, zt)
    p1 = [0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38]
    assert loss.item() == pytest.approx(sum(p * math.log(p / q) for p, q in zip(p1, P_STUDENT[0])), rel=1e-12)
    loss.backward()
    # d KL / d z_st = q - p~
    np.testing.assert_allclose(zs.grad.numpy()[0], np.array(P_STUDENT[0]) - np.array(p1), rtol=1e-12)
    assert torch.equal(ttm_divergence(zs.detach(), zt, 2.0), loss.detach().reshape(1))
