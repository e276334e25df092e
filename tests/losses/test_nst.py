"""Neuron selectivity transfer: the squared MMD of channel maps by hand, against a float64
re-implementation with explicit sums over channels, on extreme inputs."""

import math

import pytest
import torch
import torch.nn.functional as F

from kdlab.errors import ConfigError
from tests.losses.pairs import extreme_inputs, finite_value_and_gradient, matches_reimplementation, term_on, value


def test_nst_by_hand():
    # One sample, 1 x 2 maps. Student channels [1, 0] and [0, 3] -> unit [1, 0], [0, 1]; teacher's one
    # channel [1, 1] -> [1, 1] / sqrt 2. With k(x, y) = (x.y)^2:
    #   mean k(t, t) = 1; mean k(s, s) = (1 + 0 + 0 + 1) / 4 = 1/2; mean k(s, t) = (1/2 + 1/2) / 2 = 1/2
    #   MMD^2 = 1 + 1/2 - 2 * 1/2 = 1/2.
    s = torch.tensor([[[[1.0, 0.0]], [[0.0, 3.0]]]], dtype=torch.float64)
    t = torch.tensor([[[[1.0, 1.0]]]], dtype=torch.float64)
    assert value("nst", [s], [t]).item() == pytest.approx(0.5, rel=1e-12)
    # The linear kernel plus 1 (d = 1, c = 1): 2 + (2 + 1 + 1 + 2) / 4 - 2 (1 + 1/sqrt2) = 3/2 - sqrt 2,
    # which is ||mean_s - mean_t||^2 = 2 (1/2 - 1/sqrt 2)^2, as the linear kernel's MMD must be.
    assert value("nst", [s], [t], d=1, c=1.0).item() == pytest.approx(1.5 - math.sqrt(2), rel=1e-12)
    assert 1.5 - math.sqrt(2) == pytest.approx(2 * (0.5 - 1 / math.sqrt(2)) ** 2, rel=1e-12)
    # The teacher against itself: 0; a per-channel scale changes nothing.
    assert value("nst", [t], [t]).item() == pytest.approx(0.0, abs=1e-15)
    assert value("nst", [s * torch.tensor([5.0, 0.1]).view(1, 2, 1, 1)], [t]).item() == pytest.approx(0.5, rel=1e-12)


def _paper_nst(student, teacher, d=2, c=0.0):
    """Huang & Wang: each channel's flattened map, l2-normalised, is a sample; the squared MMD with
    k(x, y) = (x^T y + c)^d and weights 1/C_T^2, 1/C_S^2, 2/(C_S C_T); per sample, then the batch mean.
    Maps pooled to the smaller size first."""
    total = 0
    for s, t in zip(student, teacher):
        h, w = min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3])
        s, t = F.adaptive_avg_pool2d(s, (h, w)), F.adaptive_avg_pool2d(t, (h, w))
        batch = []
        for fs, ft in zip(s, t):
            fs = [m.flatten() / m.flatten().norm() for m in fs]
            ft = [m.flatten() / m.flatten().norm() for m in ft]
            k = lambda a, b: (a @ b + c) ** d  # noqa: E731
            tt = sum(k(a, b) for a in ft for b in ft) / len(ft) ** 2
            ss = sum(k(a, b) for a in fs for b in fs) / len(fs) ** 2
            st = sum(k(a, b) for a in fs for b in ft) / (len(fs) * len(ft))
            batch.append(tt + ss - 2 * st)
        total = total + sum(batch) / len(batch)
    return total


@pytest.mark.parametrize("d,c", [(2, 0.0), (3, 0.5)])
def test_nst_against_the_paper_in_float64(d, c):
    gen = torch.Generator().manual_seed(2)
    student = [torch.randn(3, 3, 4, 4, generator=gen), torch.randn(3, 2, 2, 2, generator=gen)]
    teacher = [torch.randn(3, 5, 2, 2, generator=gen), torch.randn(3, 4, 2, 2, generator=gen)]
    matches_reimplementation("nst", lambda s, t: _paper_nst(s, t, d, c), student, teacher, d=d, c=c)


@pytest.mark.parametrize("case", extreme_inputs([(4, 3, 4, 4), (4, 2, 2, 2)], [(4, 5, 4, 4), (4, 2, 2, 2)]),
                         ids=lambda c: c[0])
def test_nst_is_finite_on_extreme_inputs(case):
    _, student, teacher = case
    finite_value_and_gradient("nst", student, teacher)


def test_nst_refuses_flat_features():
    with pytest.raises(ConfigError, match=r"nst: student 's0' gives \(8,\) and teacher 't0' gives \(8,\); "
                                          r"nst needs feature maps"):
        term_on("nst", [torch.ones(2, 8)], [torch.ones(2, 8)])
