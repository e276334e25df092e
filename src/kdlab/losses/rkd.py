"""Relational knowledge distillation (Park, Kim, Lu & Cho, CVPR 2019): transfer the structure of the
teacher's embedding, the distances between samples of a batch and the angles they form, rather than
the embeddings themselves.

For embeddings t_1..t_N (the teacher's; s for the student's), flattened to (N, D):
  distance potential  psi_D(t_i, t_j) = ||t_i - t_j||_2 / mu,  mu the mean distance over the pairs at
                      a positive distance;
  angle potential     psi_A(t_i, t_j, t_k) = <e_ji, e_ki>,  e_ji = (t_j - t_i) / ||t_j - t_i||_2
                      (the cosine of the angle at t_i; e = 0 where t_j = t_i);
  RKD-D = mean over all N^2 pairs of huber(psi_D(t_i, t_j) - psi_D(s_i, s_j)),
  RKD-A = mean over all N^3 triplets of huber(psi_A(t...) - psi_A(s...)),
  RKD   = distance_weight * RKD-D + angle_weight * RKD-A,
with the Huber loss huber(x) = x^2 / 2 for |x| <= 1, |x| - 1/2 beyond (delta = 1), for each
(student, teacher) pair of features; the term is the sum over pairs and reports the unweighted parts
as `rkd_d` and `rkd_a` (the paper's RKD-D and RKD-A). Student and teacher dimensions may differ.

Reference followed: RepDistiller distiller_zoo/RKD.py (`RKDLoss(w_d=25, w_a=50)`), as wired in its
train_student.py (the penultimate, pooled feature `feat[-1]`; weight beta = 1 in
scripts/run_cifar_distill.sh). mdistiller (mdistiller/distillers/RKD.py, `pooled_feat`;
CFG.RKD.DISTANCE_WEIGHT = 25, ANGLE_WEIGHT = 50, FEAT_WEIGHT = 1) computes the same; its further
options (PDIST.SQUARED = False, PDIST.EPSILON = 1e-12) default to RepDistiller's fixed choices and
are not offered here. `distance_weight` and `angle_weight` are the paper's lambda_RKD-D and
lambda_RKD-A. Like the authors' code, both references average rather than sum over pairs and
triplets (the degenerate ones included, where both potentials are 0), and take mu over the pairs at
a positive distance (the paper: over all pairs i != j; they differ only for duplicate embeddings).
Features read: student `@embedding`, teacher `@embedding`, or `student` / `teacher` (a path, a list, a
symbolic name).

Numerics (kdlab.losses.pairs): distances are taken from the differences themselves (the references
expand ||a||^2 + ||b||^2 - 2 a.b and clamp), both potentials are invariant to one scale for the
batch, so embeddings are rescaled by the batch's largest magnitude first; where all embeddings
coincide (all zero, or a batch of 1), mu is taken as 1 and the distances are 0, not 0 / 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..values import NonNegative
from .pairs import FeaturePairs, Features, rescaled, unit
from .base import LOSS_TERMS


def potentials(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, ...) -> psi_D (N, N) and psi_A (N, N, N), [i, j, k] the angle at sample i."""
    x = rescaled(f.flatten(1), (0, 1))
    diff = x[None, :, :] - x[:, None, :]  # [i, j] = x_j - x_i
    dist = torch.linalg.vector_norm(diff, dim=2)
    mu = dist.sum() / (dist > 0).sum().clamp_min(1)
    psi_d = dist / torch.where(mu > 0, mu, torch.ones_like(mu))
    e = unit(diff, dim=2)
    psi_a = torch.bmm(e, e.transpose(1, 2))
    return psi_d, psi_a


def rkd_parts(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(RKD-D, RKD-A) of one pair of embeddings, unweighted."""
    d_s, a_s = potentials(s)
    d_t, a_t = potentials(t)
    return F.smooth_l1_loss(d_s, d_t), F.smooth_l1_loss(a_s, a_t)


@LOSS_TERMS.register("rkd")
class RKD(FeaturePairs):
    method = "rkd"

    def __init__(self, distance_weight: NonNegative = 25.0, angle_weight: NonNegative = 50.0,
                 student: Features = "@embedding", teacher: Features = "@embedding"):
        super().__init__(student, teacher)
        self.distance_weight, self.angle_weight = float(distance_weight), float(angle_weight)

    def loss(self, student, teacher):
        parts = [rkd_parts(s, t) for s, t in zip(student, teacher)]
        distance, angle = sum(p[0] for p in parts), sum(p[1] for p in parts)
        total = self.distance_weight * distance + self.angle_weight * angle
        return total, {"rkd_d": distance.detach(), "rkd_a": angle.detach()}
