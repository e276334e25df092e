"""Probabilistic knowledge transfer: conditional probabilities from cosine similarities by hand,
against a float64 re-implementation, on extreme inputs."""

import math

import pytest
import torch

from tests.losses.pairs import extreme_inputs, finite_value_and_gradient, matches_reimplementation, value

EPS = 1e-7


def test_pkt_by_hand():
    # Student [1, 0], [0, 1]: cosines [[1, 0], [0, 1]], K = (cos + 1) / 2 = [[1, 1/2], [1/2, 1]], rows
    # over their sums 3/2: [[2/3, 1/3], [1/3, 2/3]]. Teacher [1, 0], [2, 0]: every cosine 1, p = 1/2.
    # Mean over the 4 entries of p log((p + eps) / (q + eps)).
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    h = 0.5
    expected = 2 * (h * math.log((h + EPS) / (2 / 3 + EPS)) + h * math.log((h + EPS) / (1 / 3 + EPS))) / 4
    assert value("pkt", [s], [t]).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(math.log(9 / 8) / 4, rel=1e-5)  # the KL without eps
    # Teacher [1, 0], [-1, 0]: cosine -1 off the diagonal, K = 0 there, p = [[1, 0], [0, 1]].
    t2 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    expected2 = 2 * (1 * math.log((1 + EPS) / (2 / 3 + EPS)) + 0.0) / 4
    assert value("pkt", [s], [t2]).item() == pytest.approx(expected2, rel=1e-12)
    # A batch of 1: p = q = 1.
    assert value("pkt", [s[:1]], [t[:1]]).item() == pytest.approx(0.0, abs=1e-15)


def _paper_pkt(student, teacher):
    """Passalis & Tefas, as the authors' code computes it: K = (cos + 1) / 2, p_{j|i} = K_ij / sum_k K_ik
    (the pair j = i kept), KL(p || q) with eps = 1e-7 in the logarithm, averaged over the N^2 entries."""
    total = 0
    for s, t in zip(student, teacher):
        def probs(x):
            x = x.reshape(len(x), -1)
            cos = torch.stack([torch.stack([a @ b / (a.norm() * b.norm()) for b in x]) for a in x])
            k = (cos + 1) / 2
            return k / k.sum(1, keepdim=True)

        p, q = probs(t), probs(s)
        total = total + (p * torch.log((p + EPS) / (q + EPS))).mean()
    return total


def test_pkt_against_the_paper_in_float64():
    gen = torch.Generator().manual_seed(4)
    student = [torch.randn(6, 5, generator=gen), torch.randn(6, 2, 2, 2, generator=gen)]
    teacher = [torch.randn(6, 9, generator=gen), torch.randn(6, 3, generator=gen)]
    matches_reimplementation("pkt", _paper_pkt, student, teacher)


@pytest.mark.parametrize("case", extreme_inputs([(5, 6)], [(5, 4)]), ids=lambda c: c[0])
def test_pkt_is_finite_on_extreme_inputs(case):
    _, student, teacher = case
    finite_value_and_gradient("pkt", student, teacher)
