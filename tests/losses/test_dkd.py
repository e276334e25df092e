import numpy as np
import pytest
import torch

from kdlab.losses import LOSS_TERMS, StepOutputs, dkd_parts


def _by_hand(zs, zt, labels, T, alpha, beta):
    """DKD (Zhao et al. 2022) written out sample by sample: TCKD on (p_t, 1 - p_t), NCKD on the
    softmax over the other classes, both KL(teacher || student), times T^2, mean over the batch."""
    total = []
    for s, t, y in zip(zs, zt, labels):
        def probs(z):
            e = np.exp(z / T - np.max(z / T))
            p = e / e.sum()
            others = [k for k in range(len(z)) if k != y]
            eo = np.exp(z[others] / T - np.max(z[others] / T))
            return np.array([p[y], 1 - p[y]]), eo / eo.sum()

        b_s, hat_s = probs(s)
        b_t, hat_t = probs(t)
        tckd = np.sum(b_t * np.log(b_t / b_s))
        nckd = np.sum(hat_t * np.log(hat_t / hat_s))
        total.append(T**2 * (alpha * tckd + beta * nckd))
    return np.mean(total)


@pytest.mark.parametrize("T,alpha,beta", [(1.0, 1.0, 8.0), (4.0, 1.0, 8.0), (2.0, 0.5, 2.0)])
def test_dkd_against_a_hand_computation(T, alpha, beta):
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(6, 5)) * 2, rng.normal(size=(6, 5)) * 2
    labels = rng.integers(0, 5, size=6)
    term = LOSS_TERMS.build("dkd", {"temperature": T, "tckd_weight": alpha, "nckd_weight": beta})
    s = torch.tensor(zs, requires_grad=True)
    loss, extra = term(StepOutputs(s, {"label": torch.tensor(labels)}, torch.tensor(zt)))
    assert loss.item() == pytest.approx(_by_hand(zs, zt, labels, T, alpha, beta), rel=1e-10)
    assert (extra["tckd"] * alpha + extra["nckd"] * beta).item() == pytest.approx(loss.item(), rel=1e-10)
    loss.backward()
    assert torch.isfinite(s.grad).all()


def test_dkd_is_zero_for_the_teacher_itself_and_finite_when_saturated():
    z = torch.tensor([[30.0, -30.0, 0.0], [0.0, 0.0, 100.0]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2])
    tckd, nckd = dkd_parts(z, z.detach(), labels, 1.0)
    assert torch.allclose(tckd, torch.zeros(2, dtype=torch.float64)) and torch.allclose(nckd, torch.zeros(2, dtype=torch.float64))
    (tckd.sum() + nckd.sum()).backward()
    assert torch.isfinite(z.grad).all()
