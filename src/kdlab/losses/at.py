"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017).

AT: the attention map of a feature map A (C, H, W) is Q = vec(sum_c |A_c|^p), here the mean over
channels (the same map once normalised). For each (student, teacher) pair of layers j,
  AT_j = mean over the batch and the H*W positions of (Q_S / ||Q_S||_2 - Q_T / ||Q_T||_2)^2,
and the term is the sum over pairs. `p` = 2 by default.

Reference followed: RepDistiller distiller_zoo/AT.py (`Attention`, p = 2), as wired in its
train_student.py (every stage output but the stem's, `feat[1:-1]`, paired in order; weight
beta = 1000 in scripts/run_cifar_distill.sh). mdistiller (mdistiller/distillers/AT.py, `feats[1:]`;
CFG.AT.P = 2, FEAT_WEIGHT = 1000) computes the same. Both follow the authors' code rather than the paper's Eq. (2),
which has the p-norm of the difference (not its square), a sum and beta / 2: kdlab follows the code,
so the references' weight (1000: set it as the term's `weight`) carries over. Where the paper writes
|A_c|^p, the references write A_c^p; they agree for p = 2 (the default) and for post-ReLU maps.

Stages of different resolutions: as both references do, the larger map is average-pooled
(adaptive) to the smaller one's size before the attention maps are taken (the references pool to the
smaller height in both directions, assuming square maps; kdlab pools to the smaller height and the
smaller width). Features must be maps (N, C, H, W) and as many for the student as for the teacher;
`setup` says which are not.

Features read: student `@stages[1:]`, teacher `@stages[1:]`: every stage output but the first (a
model's `@stages` start with its stem, the references' feat[0]). `student` / `teacher` take a module
path, a list of them, or a symbolic name or slice instead (kdlab.losses.base).

What the feature-pair terms share (pairing, checks, numerics) is in kdlab.losses.pairs.
"""

from __future__ import annotations

import torch

from .base import LOSS_TERMS
from .pairs import AtLeastOne, FeaturePairs, Features, common_size, rescaled, unit


def attention_map(f: torch.Tensor, p: float) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W): mean over channels of |f|^p, unit length per sample."""
    f = rescaled(f, (1, 2, 3))  # the map is invariant to a per-sample scale
    return unit(f.abs().pow(p).mean(1).flatten(1), dim=1)


@LOSS_TERMS.register("at")
class AT(FeaturePairs):
    method = "at"
    maps_only = True

    def __init__(self, p: AtLeastOne = 2.0, student: Features = "@stages[1:]", teacher: Features = "@stages[1:]"):
        super().__init__(student, teacher)
        self.p = float(p)

    def pair_loss(self, s, t):
        s, t = common_size(s, t)
        return (attention_map(s, self.p) - attention_map(t, self.p)).pow(2).mean()
