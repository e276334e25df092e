"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018): match the conditional
probabilities with which samples of a batch pick one another as neighbours in the teacher's and the
student's embedding.

With the cosine-similarity kernel K(a, b) = (cos(a, b) + 1) / 2 on embeddings x_1..x_N,
  p_{j|i} = K(x_i, x_j) / sum_k K(x_i, x_k),
for the teacher (p) and the student (q), and
  PKT = 1/N^2 sum_{i,j} p_{j|i} log((p_{j|i} + eps) / (q_{j|i} + eps)),   eps = 1e-7,
for each (student, teacher) pair of features; the term is the sum over pairs. Features are
flattened to (N, D); student and teacher dimensions may differ.

Reference followed: RepDistiller distiller_zoo/PKT.py (`PKT`, itself the authors' code), as wired
in its train_student.py (the penultimate, pooled feature `feat[-1]`; weight beta = 30000 in
scripts/run_cifar_distill.sh). mdistiller (mdistiller/distillers/PKT.py, `pooled_feat`,
FEAT_WEIGHT = 30000) computes the same. Like the authors' code, both keep the pair j = i in the
sums (K(x, x) = 1) and average over the N^2 entries, where the paper writes its probabilities over
the other samples (as t-SNE does) and sums: kdlab follows the code, so the references' weight
carries over. The code's eps in the
logarithm is kept (the paper has none); where the code divides by ||x|| + eps, kdlab takes the exact
cosine (a zero embedding has cosine 0 with every other, as in the code). Features read: student
`@embedding`, teacher `@embedding`, or `student` / `teacher` (a path, a list, a symbolic name).

Numerics (kdlab.losses.pairs): cosines are invariant to each sample's scale, so embeddings are rescaled
per sample first. A batch of 1 gives 0.
"""

from __future__ import annotations

import torch

from .pairs import FeaturePairs, Features, rescaled, unit
from .base import LOSS_TERMS

EPS = 1e-7  # in the logarithm, as the authors' code


def neighbour_probabilities(f: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, N): row i is p_{.|i}, from the cosine-similarity kernel."""
    x = unit(rescaled(f.flatten(1), (1,)), dim=1)
    kernel = (x @ x.T + 1) / 2
    return kernel / kernel.sum(1, keepdim=True)


@LOSS_TERMS.register("pkt")
class PKT(FeaturePairs):
    method = "pkt"

    def __init__(self, student: Features = "@embedding", teacher: Features = "@embedding"):
        super().__init__(student, teacher)

    def pair_loss(self, s, t):
        p, q = neighbour_probabilities(t), neighbour_probabilities(s)
        return (p * torch.log((p + EPS) / (q + EPS))).mean()
