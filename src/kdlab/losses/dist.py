"""DIST: distillation by relations (Huang et al., "Knowledge Distillation from A Stronger Teacher",
NeurIPS 2022).

With Y^s, Y^t the (B, K) probabilities softmax(z / tau) of student and teacher and rho_p the Pearson
correlation, d_p(u, v) = 1 - rho_p(u, v):
  L_inter = 1/B sum_i d_p(Y^s_i,:, Y^t_i,:)   each sample's class probabilities (inter-class relation);
  L_intra = 1/K sum_j d_p(Y^s_:,j, Y^t_:,j)   each class's probabilities across the batch (intra-class);
  DIST    = tau^2 (beta * L_inter + gamma * L_intra).
The paper's L_tr adds alpha * CE, which is kdlab's `onehot` term at its own weight. `beta`, `gamma`,
`tau` are the paper's names; the defaults are the reference code's (beta = gamma = tau = 1;
torchdistill/losses/mid_level.py `DISTLoss`, yoshitomo-matsubara/torchdistill, which follows the
authors' hunto/DIST_KD); the TTM authors' CIFAR-100 DIST baseline (zkxufo/TTM, train_student.py)
uses tau = 4. `temperature` (what kdlab reads as the run's distillation temperature) is tau.

As in the reference, rho_p is the cosine similarity of the centred vectors with eps = 1e-8:
rho = <u - mean u, v - mean v> / (max(|u - mean u|, eps) * max(|v - mean v|, eps)) (torch's
cosine_similarity; the copy in zkxufo/TTM distiller_zoo/dist.py divides by |u - mean u| |v - mean v|
+ eps instead, the same to rounding unless a vector has next to no spread). So a vector with no
spread (all its entries equal) has correlation 0 and distance 1: in a batch of one sample every
class's column is such a vector, so L_intra is exactly 1 there and gives no gradient (the reference
does the same; the loss is then tau^2 (beta * L_inter + gamma)). The same eps makes the gradient at a
student row of exactly equal probabilities (e.g. all-equal logits) of order 1/eps, finite but large:
the Pearson correlation has no derivative there. Probabilities come from softmax, which saturates to
exact 0 and 1 without nan, so extreme logits give finite values and gradients. The teacher's
probabilities are treated as constants (detached). Reported: `inter` and `intra`, each times tau^2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..values import NonNegative, Positive
from .base import LOSS_TERMS, LossTerm, StepOutputs

EPS = 1e-8  # the reference's, on each centred vector's norm


def pearson_distance(u: torch.Tensor, v: torch.Tensor, dim: int) -> torch.Tensor:
    """1 - Pearson correlation of u and v along `dim` (the reference's eps), one value per slice."""
    u = u - u.mean(dim=dim, keepdim=True)
    v = v - v.mean(dim=dim, keepdim=True)
    return 1 - F.cosine_similarity(u, v, dim=dim, eps=EPS)


def dist_parts(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
               tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_inter, L_intra) at temperature tau, without the tau^2 factor."""
    y_s = F.softmax(student_logits / tau, dim=1)
    y_t = F.softmax(teacher_logits.detach() / tau, dim=1)
    inter = pearson_distance(y_s, y_t, dim=1).mean()  # per sample, over the classes
    intra = pearson_distance(y_s, y_t, dim=0).mean()  # per class, over the batch
    return inter, intra


@LOSS_TERMS.register("dist")
class DIST(LossTerm):
    needs_teacher = True

    def __init__(self, beta: NonNegative = 1.0, gamma: NonNegative = 1.0, tau: Positive = 1.0):
        super().__init__()
        self.beta, self.gamma, self.tau = float(beta), float(gamma), float(tau)
        self.temperature = self.tau

    def forward(self, out: StepOutputs):
        inter, intra = dist_parts(out.logits, out.teacher_logits, self.tau)
        t2 = self.tau**2
        loss = t2 * (self.beta * inter + self.gamma * intra)
        return loss, {"inter": t2 * inter.detach(), "intra": t2 * intra.detach()}
