"""Attention transfer: by hand, against a float64 re-implementation of the paper's attention maps,
on extreme inputs, and the shapes it refuses."""

import math

import pytest
import torch
import torch.nn.functional as F

from kdlab.errors import ConfigError
from tests.losses.pairs import extreme_inputs, finite_value_and_gradient, matches_reimplementation, term_on, value


def maps(*channels):
    """One sample's feature map (1, C, H, W) from its channels' nested lists."""
    return torch.tensor([channels], dtype=torch.float64)


def test_at_by_hand():
    # Student: Q = mean_c f_c^2 = [1, 1/2, 0, 0] over the 4 positions, unit length [2, 1, 0, 0] / sqrt 5.
    # Teacher: Q = [0, 0, 0, 4] -> [0, 0, 0, 1]. Mean over positions of the squared difference:
    # (4/5 + 1/5 + 0 + 1) / 4 = 1/2.
    s = maps([[1, 0], [0, 0]], [[1, 1], [0, 0]])
    t = maps([[0, 0], [0, 2]])
    assert value("at", [s], [t]).item() == pytest.approx(0.5, rel=1e-12)
    # Signs do not matter for p = 2; a scale per sample does not either.
    assert value("at", [-3 * s], [t]).item() == pytest.approx(0.5, rel=1e-12)
    # p = 1: Q = mean_c |f_c| = [1, 1/2, 0, 0] again (entries 0 and 1), teacher [0, 0, 0, 2] -> the same.
    assert value("at", [s], [t], p=1.0).item() == pytest.approx(0.5, rel=1e-12)
    # p = 4 on entries 0 and 2: Q_s = [8, 8, 0, 0] -> [1, 1, 0, 0] / sqrt 2.
    # ((1/sqrt2)^2 * 2 + 1) / 4 = 1/2 once more; with the teacher at (0, 0) instead: Q_t = [1, 0, 0, 0]:
    # ((1/sqrt2 - 1)^2 + 1/2) / 4.
    s2 = maps([[2, 0], [0, 0]], [[0, 2], [0, 0]])
    assert value("at", [s2], [maps([[0, 0], [0, 1]])], p=4.0).item() == pytest.approx(0.5, rel=1e-12)
    expected = ((1 / math.sqrt(2) - 1) ** 2 + 0.5) / 4
    assert value("at", [s2], [maps([[1, 0], [0, 0]])], p=4.0).item() == pytest.approx(expected, rel=1e-12)


def test_at_pools_the_larger_map_and_sums_over_pairs():
    # Student 4x4 with ones in its top-left 2x2 block pools to [[1, 0], [0, 0]]: unit Q = [1, 0, 0, 0];
    # teacher 2x2 all ones: [1/2, 1/2, 1/2, 1/2]. (1/4 + 3 * 1/4) / 4 = 1/4.
    s = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    s[..., :2, :2] = 1
    t = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    assert value("at", [s], [t]).item() == pytest.approx(0.25, rel=1e-12)
    # The other way round, the teacher is pooled; two pairs are summed.
    assert value("at", [t], [s]).item() == pytest.approx(0.25, rel=1e-12)
    assert value("at", [s, t], [t, t]).item() == pytest.approx(0.25, rel=1e-12)


def _paper_at(student, teacher, p=2.0):
    """Zagoruyko & Komodakis: Q = sum_c |A_c|^p, vectorised and made unit length; squared difference
    averaged over the batch and the positions (the authors' code), summed over pairs. Larger maps
    pooled to the smaller size first."""
    total = 0
    for s, t in zip(student, teacher):
        h, w = min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3])
        s, t = F.adaptive_avg_pool2d(s, (h, w)), F.adaptive_avg_pool2d(t, (h, w))
        qs = (s.abs() ** p).sum(1).reshape(len(s), -1)
        qt = (t.abs() ** p).sum(1).reshape(len(t), -1)
        qs = qs / qs.norm(dim=1, keepdim=True)
        qt = qt / qt.norm(dim=1, keepdim=True)
        total = total + ((qs - qt) ** 2).mean()
    return total


@pytest.mark.parametrize("p", [2.0, 1.5, 4.0])
def test_at_against_the_paper_in_float64(p):
    gen = torch.Generator().manual_seed(1)
    student = [torch.randn(5, 3, 8, 8, generator=gen), torch.randn(5, 4, 4, 4, generator=gen)]
    teacher = [torch.randn(5, 6, 4, 4, generator=gen), torch.randn(5, 2, 4, 4, generator=gen)]
    matches_reimplementation("at", lambda s, t: _paper_at(s, t, p), student, teacher, p=p)


@pytest.mark.parametrize("case", extreme_inputs([(4, 3, 4, 4), (4, 2, 2, 2)], [(4, 5, 4, 4), (4, 2, 2, 2)]),
                         ids=lambda c: c[0])
def test_at_is_finite_on_extreme_inputs(case):
    _, student, teacher = case
    finite_value_and_gradient("at", student, teacher)


def test_at_refuses_unpaired_or_flat_features():
    with pytest.raises(ConfigError, match=r"at: the student's features \(s0, s1: 's0' \(2, 4, 4\), 's1' \(2, 2, 2\)\) "
                                          r"and the teacher's \(t0: 't0' \(3, 4, 4\)\) differ in count \(2 and 1\)"):
        term_on("at", [torch.ones(1, 2, 4, 4), torch.ones(1, 2, 2, 2)], [torch.ones(1, 3, 4, 4)])
    with pytest.raises(ConfigError, match=r"at: student 's0' gives \(8,\) and teacher 't0' gives \(3, 4, 4\); "
                                          r"at needs feature maps"):
        term_on("at", [torch.ones(2, 8)], [torch.ones(2, 3, 4, 4)])
    with pytest.raises(ConfigError, match=r"option 'p' of loss term 'at'"):
        term_on("at", [torch.ones(1, 2, 4, 4)], [torch.ones(1, 3, 4, 4)], p=0.5)
