"""Similarity-preserving distillation: the row-normalised batch similarity matrices by hand, against
a float64 re-implementation, on extreme inputs."""

import math

import pytest
import torch

from tests.losses.pairs import extreme_inputs, finite_value_and_gradient, matches_reimplementation, value


def test_sp_by_hand():
    # b = 2. Student rows [1, 0], [1, 1]: G~ = [[1, 1], [1, 2]], rows made unit: [1, 1] / sqrt 2,
    # [1, 2] / sqrt 5. Teacher rows [1, 0, 0], [0, 2, 0]: G~ = [[1, 0], [0, 4]] -> [1, 0], [0, 1].
    # ||G_T - G_S||_F^2 / b^2.
    s = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=torch.float64)
    r2, r5 = 1 / math.sqrt(2), 1 / math.sqrt(5)
    expected = ((1 - r2) ** 2 + r2**2 + r5**2 + (1 - 2 * r5) ** 2) / 4
    assert value("sp", [s], [t]).item() == pytest.approx(expected, rel=1e-12)
    # Maps are flattened: the same numbers as (b, 1, 1, D) maps; one scale for the batch changes nothing.
    assert value("sp", [s.view(2, 1, 1, 2) * 7], [t.view(2, 3, 1, 1)]).item() == pytest.approx(expected, rel=1e-12)
    # A batch of 1: both 1 x 1 matrices are [1].
    assert value("sp", [s[:1]], [t[:1]]).item() == 0.0


def _paper_sp(student, teacher):
    """Tung & Mori: G~ = Q Q^T, G = G~ with rows l2-normalised, (1/b^2) ||G_T - G_S||_F^2, summed over pairs."""
    total = 0
    for s, t in zip(student, teacher):
        b = s.shape[0]
        gs, gt = s.reshape(b, -1) @ s.reshape(b, -1).T, t.reshape(b, -1) @ t.reshape(b, -1).T
        gs = gs / gs.norm(dim=1, keepdim=True)
        gt = gt / gt.norm(dim=1, keepdim=True)
        total = total + ((gt - gs) ** 2).sum() / b**2
    return total


def test_sp_against_the_paper_in_float64():
    gen = torch.Generator().manual_seed(3)
    student = [torch.randn(6, 4, 2, 2, generator=gen), torch.randn(6, 5, generator=gen)]
    teacher = [torch.randn(6, 8, 4, 4, generator=gen), torch.randn(6, 3, generator=gen)]
    matches_reimplementation("sp", _paper_sp, student, teacher)


@pytest.mark.parametrize("case", extreme_inputs([(4, 3, 2, 2)], [(4, 5, 2, 2)]), ids=lambda c: c[0])
def test_sp_is_finite_on_extreme_inputs(case):
    _, student, teacher = case
    finite_value_and_gradient("sp", student, teacher)
