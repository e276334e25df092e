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


# --- logit standardisation (Sun et al. 2024), the `standardize` option ------------------------------

from kdlab.losses import LOSS_TERMS, StepOutputs  # noqa: E402
from kdlab.losses.kd import standardize_logits  # noqa: E402


def _kd_term(**options):
    return LOSS_TERMS.build("kd", options)


def _kd_forward_before_standardize(zs, zt, T, t2):
    """The kd term's forward as it was before `standardize` existed, written out (frozen)."""
    p_te = torch.nn.functional.softmax(zt / T, dim=-1)
    log_p_st = torch.nn.functional.log_softmax(zs / T, dim=-1)
    loss = -(p_te * log_p_st).sum(dim=-1).mean()
    loss = loss * T**2 if t2 else loss
    log_p_te = torch.nn.functional.log_softmax(zt / T, dim=-1)
    log_p_st_d = torch.nn.functional.log_softmax(zs.detach() / T, dim=-1)
    return loss, (log_p_te.exp() * (log_p_te - log_p_st_d)).sum(dim=-1).mean()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T,scale", [(4.0, "t2"), (1.0, "none"), (2.5, "t2")])
def test_kd_without_standardize_is_bit_identical_to_before(dtype, T, scale):
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(16, 10, generator=g, dtype=dtype) * 3, torch.randn(16, 10, generator=g, dtype=dtype) * 3
    s_old, s_new, s_default = (zs.clone().requires_grad_(True) for _ in range(3))
    old_loss, old_kl = _kd_forward_before_standardize(s_old, zt, T, scale == "t2")
    old_loss.backward()
    for s, term in [(s_new, _kd_term(temperature=T, scale=scale, standardize=False)),
                    (s_default, _kd_term(temperature=T, scale=scale))]:
        loss, extra = term(StepOutputs(s, {"label": torch.zeros(16, dtype=torch.long)}, zt))
        loss.backward()
        assert torch.equal(loss, old_loss) and torch.equal(extra["kl"], old_kl)
        assert torch.equal(s.grad, s_old.grad)


def _z(z):
    """The reference's Z-score: mean and standard deviation (1/(K-1)) over the classes, eps 1e-7."""
    z = np.asarray(z, dtype=np.float64)
    return (z - z.mean(-1, keepdims=True)) / (1e-7 + z.std(-1, ddof=1, keepdims=True))


def test_standardize_logits_by_hand():
    # (1, 2, 3): mean 2, std 1; (0, 0, 6): mean 2, deviations (-2, -2, 4), variance 24 / 2, std 2 sqrt(3)
    z = standardize_logits(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]], dtype=torch.float64))
    np.testing.assert_allclose(z[0].numpy(), np.array([-1.0, 0.0, 1.0]) / (1 + 1e-7), rtol=1e-15)
    np.testing.assert_allclose(z[1].numpy(), np.array([-2.0, -2.0, 4.0]) / (1e-7 + 2 * 3**0.5), rtol=1e-15)
    # equal logits have std 0: the reference's eps gives 0, not nan
    assert torch.equal(standardize_logits(torch.full((1, 4), 7.0)), torch.zeros(1, 4))


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
def test_kd_standardized_against_the_paper(T):
    """Sun et al.: softmax(Z(z) / tau) for both, the KD soft cross-entropy, times tau^2."""
    zs = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])  # both standardise to (-1, 0, 1)
    zt = np.array([[0.0, 0.0, 6.0], [3.0, 1.0, 2.0]])  # to (-1, -1, 2) / sqrt(3) and (1, -1, 0)
    p_te, p_st = _softmax(_z(zt) / T), _softmax(_z(zs) / T)
    expected = T**2 * -(p_te * np.log(p_st)).sum(1).mean()
    loss, extra = _kd_term(temperature=T, standardize=True)(
        StepOutputs(torch.tensor(zs), {"label": torch.zeros(2, dtype=torch.long)}, torch.tensor(zt)))
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert extra["kl"].item() == pytest.approx((p_te * np.log(p_te / p_st)).sum(1).mean(), rel=1e-10)


def _paper_standardized_kd(zs, zt, T):
    """float64, torch.autograd: the reference's Z-score with torch.std, then KD at the base temperature."""
    def z(x):
        return (x - x.mean(-1, keepdim=True)) / (1e-7 + x.std(-1, keepdim=True))

    p_te = torch.softmax(z(zt) / T, -1)
    return T**2 * -(p_te * torch.log(torch.softmax(z(zs) / T, -1))).sum(-1).mean()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
def test_kd_standardized_value_and_gradient_match_the_paper(dtype, tol, T):
    rng = np.random.default_rng(4)
    zs, zt = rng.normal(size=(8, 10)) * 5 + 3, rng.normal(size=(8, 10)) * 2
    ref_s = torch.tensor(zs, requires_grad=True)
    expected = _paper_standardized_kd(ref_s, torch.tensor(zt), T)
    expected.backward()
    s = torch.tensor(zs, dtype=dtype, requires_grad=True)
    loss, _ = _kd_term(temperature=T, standardize=True)(
        StepOutputs(s, {"label": torch.zeros(8, dtype=torch.long)}, torch.tensor(zt, dtype=dtype)))
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=tol, abs=tol)
    scale = ref_s.grad.abs().max().item()
    np.testing.assert_allclose(s.grad.double().numpy(), ref_s.grad.numpy(), rtol=0, atol=tol * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kd_standardized_ignores_a_shift_and_a_positive_scale(dtype):
    g = torch.Generator().manual_seed(5)
    zs, zt = torch.randn(8, 10, generator=g, dtype=dtype), torch.randn(8, 10, generator=g, dtype=dtype)
    term = _kd_term(temperature=2.0, standardize=True)
    labels = {"label": torch.zeros(8, dtype=torch.long)}
    base = term(StepOutputs(zs, labels, zt))[0].item()
    f32 = dtype == torch.float32
    # a shift leaves the standardised logits as they are, to rounding
    for b in (100.0, -7.5, 1e3):
        moved = term(StepOutputs(zs + b, labels, zt - b / 2))[0].item()
        assert moved == pytest.approx(base, rel=1e-5 if f32 else 1e-12)
    # a positive scale too, but for the eps = 1e-7 added to the standard deviation (about 1e-7 relative
    # to the logits' spread, here about 1)
    for a, b in [(10.0, 0.0), (0.5, 3.0), (1000.0, -1e3)]:
        # the student's and the teacher's logits shifted and scaled, separately
        moved = term(StepOutputs(a * zs + b, labels, 3.0 * zt - 2.0))[0].item()
        assert moved == pytest.approx(base, rel=1e-5 if f32 else 1e-6)
    # without standardisation they change it
    assert _kd_term(temperature=2.0)(StepOutputs(10 * zs, labels, zt))[0].item() != pytest.approx(
        _kd_term(temperature=2.0)(StepOutputs(zs, labels, zt))[0].item(), rel=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kd_standardized_is_finite_for_extreme_logits_and_a_batch_of_one(dtype):
    z = torch.tensor([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, 1e4, 1e4], [1e30, -1e30, 0.0, 1.0], [7.0, 7.0, 7.0, 7.0]],
                     dtype=dtype)
    for zs, zt in [(z, z.flip(0)), (z.flip(1), z), (z, z), (z[:1], z[1:2])]:
        s = zs.clone().requires_grad_(True)
        loss, extra = _kd_term(standardize=True)(StepOutputs(s, {"label": torch.zeros(len(zs), dtype=torch.long)}, zt))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(extra["kl"]) and torch.isfinite(s.grad).all()
