"""KD-SVD: singular vectors of matrices whose SVD is known by hand, against a float64
re-implementation on torch.linalg.svd (autograd for both), its SVD gradient where torch's is NaN,
extreme inputs and the shapes it refuses."""

import math

import pytest
import torch

from kdlab.errors import ConfigError
from kdlab.losses.kdsvd import RightSingularVectors
from tests.losses.pairs import extreme_inputs, finite_value_and_gradient, matches_reimplementation, term_on, value


def as_map(x):
    """The (1, C, 1, H*W) feature map whose (positions x channels) matrix is x."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return x.T.reshape(1, x.shape[1], 1, x.shape[0])


def test_kdsvd_by_hand():
    r3 = math.sqrt(3)
    # Teacher: stage 0 X = diag(2, 1): leading right singular vector (1, 0); stage 1 X = diag(1, 3): (0, 1).
    # Student: stage 0 X = [[0, 1], [2, 0]], X^T X = diag(4, 1): (1, 0) first, matching the teacher's.
    # Stage 1 X = diag(2, 1) [v1; v2] with v1 = (1/2, sqrt3/2), v2 = (-sqrt3/2, 1/2): |cosines| with the
    # teacher's (0, 1) are sqrt3/2 and 1/2, so v1, signed +. k = 1: the singular-value weight is 1.
    teacher = [as_map([[2, 0], [0, 1]]), as_map([[1, 0], [0, 3]])]
    student = [as_map([[0, 1], [2, 0]]), as_map([[1, r3], [-r3 / 2, 0.5]])]
    t0, t1 = (1.0, 0.0), (0.0, 1.0)
    s0, s1 = (1.0, 0.0), (0.5, r3 / 2)
    expected = sum((math.exp(-(s1[c] - s0[d]) ** 2 / 8) - math.exp(-(t1[c] - t0[d]) ** 2 / 8)) ** 2
                   for c in range(2) for d in range(2))
    assert expected > 0.001
    assert value("kdsvd", student, teacher).item() == pytest.approx(expected, rel=1e-10)
    # The teacher's orientation is fixed (entries summing to >= 0), the student's is matched to it:
    # negated maps give the same value; the teacher against itself gives 0.
    assert value("kdsvd", [-f for f in student], [-f for f in teacher]).item() == pytest.approx(expected, rel=1e-10)
    assert value("kdsvd", student, [-teacher[0], teacher[1]]).item() == pytest.approx(expected, rel=1e-10)
    assert value("kdsvd", teacher, teacher).item() == pytest.approx(0.0, abs=1e-15)


def _reference_kdsvd(student, teacher, k=1):
    """KD-SVD as RepDistiller computes it, sample by sample: each map as a (positions x channels)
    matrix; the teacher's k leading right singular vectors (oriented to a non-negative sum); for each,
    of the student's k + 3 leading ones the one of largest |cosine|, signed to agree; both scaled by
    the teacher's k leading singular values made unit length; exp(-d^2 / 8) between every entry of
    consecutive stages' vectors (per column), squared differences summed, over the batch size."""
    vectors = []
    for s, t in zip(student, teacher):
        per_sample = []
        for fs, ft in zip(s, t):
            _, _, vh_s = torch.linalg.svd(fs.reshape(fs.shape[0], -1).T, full_matrices=False)
            _, sig_t, vh_t = torch.linalg.svd(ft.reshape(ft.shape[0], -1).T, full_matrices=False)
            w = sig_t[:k] / sig_t[:k].norm()
            cols_s, cols_t = [], []
            for q in range(k):
                vt = vh_t[q] if vh_t[q].sum() >= 0 else -vh_t[q]
                cos = vh_s[:k + 3] @ vt
                j = int(cos.abs().argmax())
                cols_s.append(vh_s[j] * torch.sign(cos[j]) * w[q])
                cols_t.append(vt * w[q])
            per_sample.append((cols_s, cols_t))
        vectors.append(per_sample)
    total = 0
    for below, above in zip(vectors, vectors[1:]):
        for (bs, bt), (a_s, a_t) in zip(below, above):
            for q in range(k):
                gs = torch.exp(-(a_s[q][:, None] - bs[q][None, :]) ** 2 / 8)
                gt = torch.exp(-(a_t[q][:, None] - bt[q][None, :]) ** 2 / 8)
                total = total + ((gs - gt) ** 2).sum()
    return total / student[0].shape[0]


@pytest.mark.parametrize("k", [1, 2])
def test_kdsvd_against_a_float64_reimplementation(k):
    gen = torch.Generator().manual_seed(6)
    # Stage shapes (C, H, W): more positions than channels, as many, and fewer (V does not span R^C there).
    shapes = [(3, 4, 4), (4, 2, 2), (6, 2, 2)]
    student = [torch.randn(3, *s, generator=gen) for s in shapes]
    teacher = [torch.randn(3, c, h + 1, w, generator=gen) for c, h, w in shapes]  # other spatial sizes
    matches_reimplementation("kdsvd", lambda s, t: _reference_kdsvd(s, t, k), student, teacher, k=k)


def test_the_svd_gradient_is_torchs_where_defined_and_finite_where_not():
    gen = torch.Generator().manual_seed(7)
    for m, n in [(6, 3), (3, 6), (4, 4)]:
        x = torch.randn(2, m, n, dtype=torch.float64, generator=gen)
        weights = torch.randn(2, n, n, dtype=torch.float64, generator=gen)

        def loss(v):  # depends on the leading two vectors only, and not on their signs
            lead = v[:, :, :2]
            return (lead @ lead.transpose(1, 2) * weights).sum()

        ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
        (g,) = torch.autograd.grad(loss(RightSingularVectors.apply(ours)), ours)
        (e,) = torch.autograd.grad(loss(torch.linalg.svd(theirs, full_matrices=False)[2].transpose(1, 2)), theirs)
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)
    # All zero (every singular value 0), and a repeated value among the unused vectors: torch's is NaN.
    repeated = torch.diag(torch.tensor([3.0, 1.0, 1.0], dtype=torch.float64))[None]
    for x in (torch.zeros(1, 4, 3, dtype=torch.float64), repeated):
        x.requires_grad_()
        RightSingularVectors.apply(x)[:, :, 0].pow(3).sum().backward()
        assert torch.isfinite(x.grad).all()
        y = x.detach().clone().requires_grad_()
        torch.linalg.svd(y, full_matrices=False)[2][:, 0].pow(3).sum().backward()
        assert not torch.isfinite(y.grad).all()


@pytest.mark.parametrize("case", extreme_inputs([(4, 3, 4, 4), (4, 4, 2, 2), (4, 6, 2, 2)],
                                                [(4, 3, 4, 4), (4, 4, 2, 2), (4, 6, 2, 2)]), ids=lambda c: c[0])
def test_kdsvd_is_finite_on_extreme_inputs(case):
    _, student, teacher = case
    finite_value_and_gradient("kdsvd", student, teacher)


def test_kdsvd_refuses_what_it_cannot_compare():
    with pytest.raises(ConfigError, match=r"kdsvd: student 's1' gives \(4, 2, 2\) and teacher 't1' gives \(8, 2, 2\); "
                                          r"kdsvd matches singular vectors in channel space"):
        term_on("kdsvd", [torch.ones(1, 2, 4, 4), torch.ones(1, 4, 2, 2)],
                [torch.ones(1, 2, 4, 4), torch.ones(1, 8, 2, 2)])
    with pytest.raises(ConfigError, match=r"kdsvd relates consecutive stages: it needs at least 2 \(student, teacher\) "
                                          r"pairs, got 1 \(s0\)"):
        term_on("kdsvd", [torch.ones(1, 2, 4, 4)], [torch.ones(1, 2, 4, 4)])
    with pytest.raises(ConfigError, match=r"kdsvd: student 's1' gives \(4, 1, 1\): fewer than k = 2 singular vectors"):
        term_on("kdsvd", [torch.ones(1, 2, 4, 4), torch.ones(1, 4, 1, 1)],
                [torch.ones(1, 2, 4, 4), torch.ones(1, 4, 2, 2)], k=2)
