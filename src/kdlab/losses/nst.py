"""Neuron selectivity transfer (Huang & Wang, arXiv:1707.01219, 2017): match the distributions of
the student's and the teacher's neuron selectivity patterns by the maximum mean discrepancy.

Each channel c of a feature map (C, H, W) is one sample from the layer's distribution: its
spatial map flattened to H*W and made unit length, f^c. With the polynomial kernel
k(x, y) = (x^T y + c)^d, for each (student, teacher) pair of layers
  MMD^2 = mean_{i,i'} k(f_T^i, f_T^i') + mean_{j,j'} k(f_S^j, f_S^j') - 2 mean_{i,j} k(f_S^j, f_T^i),
the means over the teacher's C_T and the student's C_S channels (the paper's 1/C_T^2, 1/C_S^2 and
2/(C_T C_S)), then over the batch; the term is the sum over pairs. The paper's polynomial kernel has
d = 2 and c = 0, the defaults here (`d`, `c`). The teacher's part is a constant: the term's value is
the whole MMD^2, zero when the student's maps are the teacher's.

Reference followed: RepDistiller distiller_zoo/NST.py (`NSTLoss`, full_loss = True: the teacher's
part included), as wired in its train_student.py (every stage output but the stem's, `feat[1:-1]`,
paired in order; weight beta = 50 in scripts/run_cifar_distill.sh). mdistiller
(mdistiller/distillers/NST.py, `feats[1:]`, FEAT_WEIGHT = 50) computes the same. Both hard-code
d = 2, c = 0.

Channel counts may differ between student and teacher (the MMD compares distributions); spatial
sizes may too: as both references do, the larger map is average-pooled (adaptive) to the smaller
one's height and width first. Features must be maps (N, C, H, W), as many for the student as for the
teacher. Features read: student `@stages[1:]`, teacher `@stages[1:]` (every stage output but the
stem's: kdlab.losses.at), or `student` / `teacher` (a path, a list, a symbolic name or slice).
Numerics: kdlab.losses.pairs (each channel's map is rescaled before it is normalised; an all-zero
channel is a zero vector).
"""

from __future__ import annotations

import torch

from ..values import Count, NonNegative
from .pairs import FeaturePairs, Features, common_size, rescaled, unit
from .base import LOSS_TERMS


def selectivity(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H*W): each channel's spatial map, unit length."""
    f = rescaled(f.flatten(2), (2,))  # invariant to a per-channel scale
    return unit(f, dim=2)


def mmd2(s: torch.Tensor, t: torch.Tensor, d: int, c: float) -> torch.Tensor:
    """Squared MMD between the rows of s (N, C_S, D) and of t (N, C_T, D), polynomial kernel, mean
    over the batch."""

    def k(a, b):
        return (torch.bmm(a, b.transpose(1, 2)) + c).pow(d).mean()

    return k(t, t) + k(s, s) - 2 * k(s, t)


@LOSS_TERMS.register("nst")
class NST(FeaturePairs):
    method = "nst"
    maps_only = True

    def __init__(self, d: Count = 2, c: NonNegative = 0.0, student: Features = "@stages[1:]",
                 teacher: Features = "@stages[1:]"):
        super().__init__(student, teacher)
        self.d, self.c = int(d), float(c)

    def pair_loss(self, s, t):
        s, t = common_size(s, t)
        return mmd2(selectivity(s), selectivity(t), self.d, self.c)
