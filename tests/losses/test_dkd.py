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


# --- logit standardisation (Sun et al. 2024), the `standardize` option ------------------------------

def _dkd_forward_before_standardize(zs, zt, labels, T, alpha, beta):
    """The dkd term's forward as it was before `standardize` existed, written out (frozen)."""
    F = torch.nn.functional
    target = F.one_hot(labels, zs.shape[1]).bool()

    def binary_and_rest(logits):
        z = logits / T
        log_p = F.log_softmax(z, dim=1)
        log_pt = log_p.gather(1, labels[:, None]).squeeze(1)
        log_rest = torch.logsumexp(log_p.masked_fill(target, float("-inf")), dim=1)
        log_hat = F.log_softmax(z.masked_fill(target, float("-inf")), dim=1)
        return torch.stack([log_pt, log_rest], 1), log_hat

    b_st, hat_st = binary_and_rest(zs)
    b_te, hat_te = binary_and_rest(zt)
    tckd = (b_te.exp() * (b_te - b_st)).sum(1)
    nckd = (hat_te.exp() * (hat_te - hat_st).masked_fill(target, 0.0)).sum(1)
    t2 = T**2
    return t2 * (alpha * tckd.mean() + beta * nckd.mean()), t2 * tckd.mean(), t2 * nckd.mean()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T,alpha,beta", [(4.0, 1.0, 8.0), (1.0, 0.5, 2.0)])
def test_dkd_without_standardize_is_bit_identical_to_before(dtype, T, alpha, beta):
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(16, 10, generator=g, dtype=dtype) * 3, torch.randn(16, 10, generator=g, dtype=dtype) * 3
    labels = torch.randint(0, 10, (16,), generator=g)
    s_old, s_new, s_default = (zs.clone().requires_grad_(True) for _ in range(3))
    old_loss, old_tckd, old_nckd = _dkd_forward_before_standardize(s_old, zt, labels, T, alpha, beta)
    old_loss.backward()
    options = {"temperature": T, "tckd_weight": alpha, "nckd_weight": beta}
    for s, term in [(s_new, LOSS_TERMS.build("dkd", {**options, "standardize": False})),
                    (s_default, LOSS_TERMS.build("dkd", options))]:
        loss, extra = term(StepOutputs(s, {"label": labels}, zt))
        loss.backward()
        assert torch.equal(loss, old_loss) and torch.equal(extra["tckd"], old_tckd)
        assert torch.equal(extra["nckd"], old_nckd) and torch.equal(s.grad, s_old.grad)


def _z(z):
    """The reference's Z-score: mean and standard deviation (1/(K-1)) over the classes, eps 1e-7."""
    return (z - z.mean(-1, keepdims=True)) / (1e-7 + z.std(-1, ddof=1, keepdims=True))


@pytest.mark.parametrize("T,alpha,beta", [(1.0, 1.0, 8.0), (2.0, 1.0, 8.0), (4.0, 0.5, 2.0)])
def test_dkd_standardized_against_the_paper(T, alpha, beta):
    """DKD on Z-scored logits (Sun et al.'s DKD with logit_stand), at the base temperature."""
    rng = np.random.default_rng(6)
    zs, zt = rng.normal(size=(6, 5)) * 4 + 2, rng.normal(size=(6, 5))
    labels = rng.integers(0, 5, size=6)
    term = LOSS_TERMS.build("dkd", {"temperature": T, "tckd_weight": alpha, "nckd_weight": beta, "standardize": True})
    loss, _ = term(StepOutputs(torch.tensor(zs), {"label": torch.tensor(labels)}, torch.tensor(zt)))
    assert loss.item() == pytest.approx(_by_hand(_z(zs), _z(zt), labels, T, alpha, beta), rel=1e-10)


def _paper_standardized_dkd(zs, zt, labels, T, alpha, beta):
    """float64, torch.autograd, sample by sample: torch.std Z-score, then DKD's two KLs."""
    total = 0.0
    for s, t, y in zip(zs, zt, labels):
        s, t = ((x - x.mean()) / (1e-7 + x.std()) for x in (s, t))
        others = [k for k in range(len(s)) if k != y]

        def parts(z):
            p = torch.softmax(z / T, 0)
            return torch.stack([p[y], 1 - p[y]]), torch.softmax(z[others] / T, 0)

        (b_s, hat_s), (b_t, hat_t) = parts(s), parts(t)
        tckd = (b_t * torch.log(b_t / b_s)).sum()
        nckd = (hat_t * torch.log(hat_t / hat_s)).sum()
        total = total + T**2 * (alpha * tckd + beta * nckd)
    return total / len(labels)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("T", [1.0, 4.0])
def test_dkd_standardized_value_and_gradient_match_the_paper(dtype, tol, T):
    rng = np.random.default_rng(7)
    zs, zt = rng.normal(size=(8, 10)) * 3, rng.normal(size=(8, 10)) * 2
    labels = rng.integers(0, 10, size=8)
    ref_s = torch.tensor(zs, requires_grad=True)
    expected = _paper_standardized_dkd(ref_s, torch.tensor(zt), labels, T, 1.0, 8.0)
    expected.backward()
    s = torch.tensor(zs, dtype=dtype, requires_grad=True)
    term = LOSS_TERMS.build("dkd", {"temperature": T, "standardize": True})
    loss, _ = term(StepOutputs(s, {"label": torch.tensor(labels)}, torch.tensor(zt, dtype=dtype)))
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=tol, abs=tol)
    scale = ref_s.grad.abs().max().item()
    np.testing.assert_allclose(s.grad.double().numpy(), ref_s.grad.numpy(), rtol=0, atol=tol * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dkd_standardized_ignores_a_shift_and_a_positive_scale(dtype):
    g = torch.Generator().manual_seed(8)
    zs, zt = torch.randn(8, 10, generator=g, dtype=dtype), torch.randn(8, 10, generator=g, dtype=dtype)
    labels = {"label": torch.randint(0, 10, (8,), generator=g)}
    term = LOSS_TERMS.build("dkd", {"temperature": 2.0, "standardize": True})
    base = term(StepOutputs(zs, labels, zt))[0].item()
    f32 = dtype == torch.float32
    for b in (100.0, -7.5):
        assert term(StepOutputs(zs + b, labels, zt - b))[0].item() == pytest.approx(base, rel=1e-5 if f32 else 1e-12)
    for a, b in [(10.0, 0.0), (0.5, 3.0), (1000.0, -1e3)]:  # exact but for the eps = 1e-7 on the std
        assert term(StepOutputs(a * zs + b, labels, 0.5 * zt + 1))[0].item() == pytest.approx(
            base, rel=1e-5 if f32 else 1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dkd_standardized_is_finite_for_extreme_logits_and_a_batch_of_one(dtype):
    z = torch.tensor([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, 1e4, 1e4], [1e30, -1e30, 0.0, 1.0], [7.0, 7.0, 7.0, 7.0]],
                     dtype=dtype)
    term = LOSS_TERMS.build("dkd", {"standardize": True})
    for labels in ([0, 1, 2, 3], [1, 0, 3, 2]):
        for zs, zt, y in [(z, z.flip(0), labels), (z.flip(1), z, labels), (z, z, labels), (z[:1], z[1:2], labels[:1])]:
            s = zs.clone().requires_grad_(True)
            loss, extra = term(StepOutputs(s, {"label": torch.tensor(y)}, zt))
            loss.backward()
            assert torch.isfinite(loss) and all(torch.isfinite(v) for v in extra.values())
            assert torch.isfinite(s.grad).all()
