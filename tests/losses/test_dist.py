"""DIST (Huang et al. 2022): tau^2 (beta * L_inter + gamma * L_intra), L = mean of 1 - Pearson."""

import math

import numpy as np
import pytest
import torch

from kdlab.losses import LOSS_TERMS, StepOutputs


def _term(**options):
    return LOSS_TERMS.build("dist", options)


def _run(term, zs, zt, labels=None):
    labels = torch.zeros(zs.shape[0], dtype=torch.long) if labels is None else labels
    return term(StepOutputs(zs, {"label": labels}, zt))


# Logits log(p) give probabilities p at tau = 1 (and tau * log(p) give p at temperature tau).
P_STUDENT = [[0.5, 0.2, 0.3], [0.1, 0.3, 0.6]]
P_TEACHER = [[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]]
# Worked out by hand. Inter-class, per sample, each vector centred at 1/3 (in units of 1/30):
#   sample 1: u = (5, -4, -1), v = (-4, -1, 5):  u.v = -21, |u|^2 = |v|^2 = 42,   rho = -1/2,  d = 3/2
#   sample 2: u = (-7, -1, 8), v = (-7, 8, -1):  u.v = 33,  |u|^2 = |v|^2 = 114,  rho = 11/38, d = 27/38
#   L_inter = (3/2 + 27/38) / 2 = 21/19.
# Intra-class, per class over the batch of two: two points are perfectly (anti)correlated:
#   class 0: student 0.5 -> 0.1 (down), teacher 0.2 -> 0.1 (down): rho = 1,  d = 0
#   class 1: student 0.2 -> 0.3 (up),   teacher 0.3 -> 0.6 (up):   rho = 1,  d = 0
#   class 2: student 0.3 -> 0.6 (up),   teacher 0.5 -> 0.3 (down): rho = -1, d = 2
#   L_intra = 2/3.
INTER, INTRA = 21 / 19, 2 / 3


@pytest.mark.parametrize("beta,gamma,tau", [(1.0, 1.0, 1.0), (2.0, 0.5, 1.0), (1.0, 1.0, 2.0), (0.5, 3.0, 4.0)])
def test_dist_against_a_hand_computation(beta, gamma, tau):
    zs = tau * torch.tensor(P_STUDENT, dtype=torch.float64).log()
    zt = tau * torch.tensor(P_TEACHER, dtype=torch.float64).log()
    loss, extra = _run(_term(beta=beta, gamma=gamma, tau=tau), zs, zt)
    assert loss.item() == pytest.approx(tau**2 * (beta * INTER + gamma * INTRA), rel=1e-12)
    assert extra["inter"].item() == pytest.approx(tau**2 * INTER, rel=1e-12)
    assert extra["intra"].item() == pytest.approx(tau**2 * INTRA, rel=1e-12)


def test_dist_defaults_are_the_references_and_temperature_is_tau():
    assert LOSS_TERMS.options("dist") == {"beta": 1.0, "gamma": 1.0, "tau": 1.0}
    assert _term(tau=4.0).temperature == 4.0
    # beta = gamma = tau = 1 on the hand example: 21/19 + 2/3 = 101/57
    zs, zt = torch.tensor(P_STUDENT).log(), torch.tensor(P_TEACHER).log()
    assert _run(_term(), zs, zt)[0].item() == pytest.approx(101 / 57, rel=1e-6)


def _paper_dist(zs, zt, beta, gamma, tau):
    """DIST from the paper, in float64: Pearson correlation as covariance over the product of standard
    deviations (no eps), softmax written out."""
    def softmax(z):
        e = torch.exp(z - z.max(dim=1, keepdim=True).values)
        return e / e.sum(dim=1, keepdim=True)

    def pearson(a, b):  # along the last axis
        a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
        return (a * b).mean(-1) / torch.sqrt((a * a).mean(-1) * (b * b).mean(-1))

    ys, yt = softmax(zs / tau), softmax(zt / tau)
    inter = (1 - pearson(ys, yt)).mean()
    intra = (1 - pearson(ys.T, yt.T)).mean()
    return tau**2 * (beta * inter + gamma * intra)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("beta,gamma,tau", [(1.0, 1.0, 1.0), (2.0, 1.0, 4.0), (1.0, 2.0, 0.5)])
def test_dist_value_and_gradient_match_the_paper(dtype, tol, beta, gamma, tau):
    rng = np.random.default_rng(1)
    zs, zt = rng.normal(size=(8, 10)) * 2, rng.normal(size=(8, 10)) * 2
    ref_s = torch.tensor(zs, requires_grad=True)
    expected = _paper_dist(ref_s, torch.tensor(zt), beta, gamma, tau)
    expected.backward()
    s = torch.tensor(zs, dtype=dtype, requires_grad=True)
    loss, _ = _run(_term(beta=beta, gamma=gamma, tau=tau), s, torch.tensor(zt, dtype=dtype))
    loss.backward()
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(expected.item(), rel=tol, abs=tol)
    scale = ref_s.grad.abs().max().item()
    np.testing.assert_allclose(s.grad.double().numpy(), ref_s.grad.numpy(), rtol=0, atol=tol * scale)


EXTREME = [
    [[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, 1e4, 1e4], [3.0, -2.0, 1e4, -1e4]],  # saturated rows, +-1e4
    [[1e30, -1e30, 0.0, 1.0], [0.0, 1e-30, -1e-30, 0.0], [7.0, 7.0, 7.0, 7.0]],  # huge gaps, a flat row
]


@pytest.mark.parametrize("case", range(len(EXTREME)))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dist_is_finite_for_extreme_logits(case, dtype):
    z = torch.tensor(EXTREME[case], dtype=dtype)
    for zs, zt in [(z, z.flip(0)), (z.flip(1), z), (z, z)]:
        s = zs.clone().requires_grad_(True)
        loss, extra = _run(_term(tau=4.0), s, zt)
        loss.backward()
        assert torch.isfinite(loss) and all(torch.isfinite(v) for v in extra.values())
        assert torch.isfinite(s.grad).all()


def test_dist_is_zero_for_the_teacher_itself():
    z = torch.randn(6, 5, dtype=torch.float64)
    loss, _ = _run(_term(tau=2.0), z.clone(), z)
    assert abs(loss.item()) < 1e-12


def test_dist_batch_of_one_has_an_intra_class_distance_of_one_as_the_reference():
    """Over a batch of one sample, each class's column has no spread: its correlation is 0 (the
    reference's eps), so L_intra = 1 exactly and only L_inter moves the student."""
    zs = torch.tensor(P_STUDENT[:1], dtype=torch.float64).log().requires_grad_(True)
    zt = torch.tensor(P_TEACHER[:1], dtype=torch.float64).log()
    loss, extra = _run(_term(beta=1.0, gamma=2.0, tau=1.0), zs, zt)
    assert extra["intra"].item() == 1.0
    assert extra["inter"].item() == pytest.approx(3 / 2, rel=1e-12)  # sample 1 of the hand example
    assert loss.item() == pytest.approx(3 / 2 + 2.0, rel=1e-12)
    loss.backward()
    assert torch.isfinite(zs.grad).all()
    # the gradient is L_inter's alone
    s2 = zs.detach().clone().requires_grad_(True)
    _run(_term(beta=1.0, gamma=0.0, tau=1.0), s2, zt)[0].backward()
    assert torch.equal(zs.grad, s2.grad)


def test_dist_options_are_validated():
    from kdlab.errors import ConfigError

    with pytest.raises(ConfigError, match="tau"):
        _term(tau=0.0)
    with pytest.raises(ConfigError, match="beta"):
        _term(beta=-1.0)
    assert math.isclose(_term(beta=0.5).beta, 0.5)
