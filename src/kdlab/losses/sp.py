"""Similarity-preserving distillation (Tung & Mori, ICCV 2019): the student's activations should
make samples of a batch similar where the teacher's do.

For a batch of b samples and a layer's activations Q (b, C*H*W), G~ = Q Q^T (b x b), G = G~ with
each row made unit length, and
  SP = 1/b^2 ||G_T - G_S||_F^2
for each (student, teacher) pair of layers; the term is the sum over pairs. G is b x b whatever the
layers' shapes, so student and teacher features may differ in channels and size. The method has no
constant of its own beyond its weight gamma (set it as the term's `weight`).

Reference followed: RepDistiller distiller_zoo/SP.py (`Similarity`), as wired in its
train_student.py (the last stage output, `feat[-2]`; weight beta = 3000 in
scripts/run_cifar_distill.sh). mdistiller (mdistiller/distillers/SP.py, `feats[-1]`: the same
tensor; FEAT_WEIGHT = 3000) computes the same. Features read: student `@stages[-1]`, teacher
`@stages[-1]`, or `student` / `teacher` (a path, a list, a symbolic name).

Numerics (kdlab.losses.pairs): G is invariant to one scale for the whole batch, so activations are
divided by the batch's largest magnitude first; a sample whose activations are all zero has a zero
row. A batch of 1 gives 0 (both 1 x 1 matrices normalise to 1).
"""

from __future__ import annotations

import torch

from .pairs import FeaturePairs, Features, rescaled, unit
from .base import LOSS_TERMS


def similarity(f: torch.Tensor) -> torch.Tensor:
    """(b, ...) -> (b, b): the batch's Gram matrix, each row unit length."""
    q = rescaled(f.flatten(1), (0, 1))
    return unit(q @ q.T, dim=1)


@LOSS_TERMS.register("sp")
class SP(FeaturePairs):
    method = "sp"

    def __init__(self, student: Features = "@stages[-1]", teacher: Features = "@stages[-1]"):
        super().__init__(student, teacher)

    def pair_loss(self, s, t):
        b = s.shape[0]
        return (similarity(t) - similarity(s)).pow(2).sum() / b**2
