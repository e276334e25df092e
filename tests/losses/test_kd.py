import numpy as np
import pytest
import torch

from kdlab.losses import kd_loss, kl_divergence


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("T", [1.0, 4.0])
@pytest.mark.parametrize("scale", [True, False])
def test_kd_loss_and_gradient_by_hand(T, scale):
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(5, 7)) * 3, rng.normal(size=(5, 7)) * 3
    p_te, p_st = _softmax(zt / T), _softmax(zs / T)
    factor = T**2 if scale else 1.0
    expected = factor * -(p_te * np.log(p_st)).sum(1).mean()
    # d/dz_st of -sum p_te log softmax(z_st / T) is (p_st - p_te) / T, per sample; mean over 5
    expected_grad = factor * (p_st - p_te) / T / 5

    s = torch.tensor(zs, dtype=torch.float64, requires_grad=True)
    loss = kd_loss(s, torch.tensor(zt, dtype=torch.float64), T, t2_scale=scale)
    loss.backward()
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(s.grad.numpy(), expected_grad, rtol=1e-10, atol=1e-14)


def test_kl_is_soft_ce_minus_teacher_entropy():
    zs, zt = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    T = 2.0
    p_te = torch.softmax(zt / T, -1)
    entropy = -(p_te * p_te.log()).sum(-1).mean()
    soft_ce = kd_loss(zs, zt, T, t2_scale=False)
    assert kl_divergence(zs, zt, T).mean().item() == pytest.approx((soft_ce - entropy).item(), rel=1e-12)
    assert kl_divergence(zt, zt, T).abs().max().item() < 1e-12
