"""Relational KD: distance and angle potentials of three points by hand, against a float64
re-implementation with explicit loops over pairs and triplets, on extreme inputs."""

import itertools
import math

import pytest
import torch

from tests.losses.pairs import evaluate, extreme_inputs, finite_value_and_gradient, matches_reimplementation, term_on


def huber(x):
    return 0.5 * x * x if abs(x) <= 1 else abs(x) - 0.5


def test_rkd_by_hand():
    # Student (0, 0), (1, 0), (0, 1); teacher (0, 0), (1, 0), (2, 0) (collinear).
    s = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    r2 = math.sqrt(2)
    # Distances of the pairs (0,1), (0,2), (1,2): student 1, 1, sqrt 2; teacher 1, 2, 1; each over its mean.
    mu_s, mu_t = (2 + r2) / 3, 4 / 3
    diffs = [1 / mu_s - 1 / mu_t, 1 / mu_s - 2 / mu_t, r2 / mu_s - 1 / mu_t]
    distance = 2 * sum(huber(x) for x in diffs) / 9  # both orders of each pair; the diagonal is 0 - 0
    # Angles at each vertex between the two other points: student 90, 45, 45 degrees (cosines 0, 1/sqrt 2,
    # 1/sqrt 2); teacher 0, 180, 0 degrees (1, -1, 1). Both orders; every other triplet agrees (1 or 0).
    diffs = [0 - 1, 1 / r2 + 1, 1 / r2 - 1]
    angle = 2 * sum(huber(x) for x in diffs) / 27
    loss, extra = evaluate(term_on("rkd", [s], [t]), [s], [t])
    assert extra["rkd_d"].item() == pytest.approx(distance, rel=1e-12)
    assert extra["rkd_a"].item() == pytest.approx(angle, rel=1e-12)
    assert loss.item() == pytest.approx(25 * distance + 50 * angle, rel=1e-12)
    loss, _ = evaluate(term_on("rkd", [s], [t], distance_weight=1.0, angle_weight=2.0), [s], [t])
    assert loss.item() == pytest.approx(distance + 2 * angle, rel=1e-12)
    # Scaled, shifted copies of the teacher have its structure: 0.
    loss, _ = evaluate(term_on("rkd", [s], [t]), [3 * t + 1], [t])
    assert loss.item() == pytest.approx(0.0, abs=1e-14)


def _paper_rkd(student, teacher, wd=25.0, wa=50.0):
    """Park et al.: psi_D = ||x_i - x_j|| / mu (mu the mean over pairs at a positive distance), psi_A
    the cosine at x_i of x_j, x_k; Huber (delta 1) of the differences averaged over all pairs and
    triplets (as the authors' code); wd * RKD-D + wa * RKD-A, summed over feature pairs."""
    total = 0
    for s, t in zip(student, teacher):
        s, t = s.reshape(len(s), -1), t.reshape(len(t), -1)
        n = len(s)

        def dist(x):
            d = torch.stack([torch.stack([(x[i] - x[j]).norm() if i != j else x.new_zeros(()) for j in range(n)])
                             for i in range(n)])
            return d / d[d > 0].mean()

        def cos(x, i, j, k):
            if j == i or k == i:
                return x.new_zeros(())
            a, b = x[j] - x[i], x[k] - x[i]
            return a @ b / (a.norm() * b.norm())

        def hub(x):
            return torch.where(x.abs() <= 1, 0.5 * x * x, x.abs() - 0.5)

        loss_d = hub(dist(s) - dist(t)).mean()
        triplets = list(itertools.product(range(n), repeat=3))
        loss_a = sum(hub(cos(s, *ijk) - cos(t, *ijk)) for ijk in triplets) / len(triplets)
        total = total + wd * loss_d + wa * loss_a
    return total


def test_rkd_against_the_paper_in_float64():
    gen = torch.Generator().manual_seed(5)
    student = [torch.randn(5, 4, generator=gen) * 3, torch.randn(5, 2, 2, 2, generator=gen)]
    teacher = [torch.randn(5, 7, generator=gen), torch.randn(5, 3, generator=gen) * 0.1]
    matches_reimplementation("rkd", _paper_rkd, student, teacher)
    matches_reimplementation("rkd", lambda s, t: _paper_rkd(s, t, 2.0, 0.5), student, teacher,
                             distance_weight=2.0, angle_weight=0.5)


@pytest.mark.parametrize("case", extreme_inputs([(5, 6)], [(5, 4)]), ids=lambda c: c[0])
def test_rkd_is_finite_on_extreme_inputs(case):
    _, student, teacher = case
    finite_value_and_gradient("rkd", student, teacher)
