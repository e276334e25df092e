"""KD-SVD (Lee, Kim & Song, "Self-supervised knowledge distillation using singular value
decomposition", ECCV 2018): compress each stage's feature map to its leading right singular vectors,
and transfer how those of consecutive stages relate, through a radial basis function.

For a feature map (C, H, W), X is the (H*W, C) matrix of its positions' channel vectors, and
X = U diag(sigma) V^T its thin SVD. For stage l:
  the teacher's k leading right singular vectors v_T (C, k), each oriented so its entries sum to >= 0;
  the student's k + 3 leading ones, of which, for each teacher vector, the one of largest |cosine|
  with it is taken, signed to agree with it: v_S (C, k);
  both scaled by the teacher's k leading singular values made unit length (w = sigma_T[:k] / ||.||);
then for consecutive stages l-1, l and each column q <= k, the RBF of every pair of entries,
  G_S[c, c', q] = exp(-(v_S^l[c, q] - v_S^(l-1)[c', q])^2 / 8), likewise G_T,
  KDSVD = sum over l >= 1 of (1/N) sum over the batch, c, c', q of (G_S - G_T)^2.
`k` (the reference's k, default 1) is the number of singular vectors transferred.

Reference followed: RepDistiller distiller_zoo/KDSVD.py (`KDSVD(k=1)`), as wired in its
train_student.py (every stage output but the stem's, `feat[1:-1]`, paired in order; no weight in
scripts/run_cifar_distill.sh: mdistiller's CFG.KDSVD FEAT_WEIGHT = 1). mdistiller
(mdistiller/distillers/KDSVD.py) differs in one place: it decomposes the (C*H, W) reshaping of the map
rather than (H*W, C), which mixes channels and rows and does not give the channel-space vectors the
method compares; kdlab follows RepDistiller (and the authors' TensorFlow code, which decomposes
(H*W, C) too). Two departures, both where the reference leaves a choice to the SVD routine: the
teacher's vectors are oriented by the sign of their sum (the reference takes whatever sign LAPACK
returns, and its value depends on it: the relative sign of consecutive stages' vectors enters the
RBF; for non-negative, post-ReLU maps the sum convention is the leading vector's natural, Perron
orientation); and the SVD's gradient is computed with coinciding singular values (and zero ones)
left out of the terms that divide by their differences, where torch's gives NaN (all-zero maps,
repeated values among the unused vectors). Where the values are distinct the gradient is torch's
(tested). The reference's removal of non-finite values is then not needed.

Needs at least two stage pairs, maps (N, C, H, W) with the same channel count for each student and
teacher stage (the student's vectors are matched to the teacher's in channel space; the spatial
sizes may differ) and at least k singular vectors (k <= min(H*W, C)). Features read: student
`@stages[1:]`, teacher `@stages[1:]` (every stage output but the stem's: kdlab.losses.at), or
`student` / `teacher` (a list of paths, a symbolic name or slice).
Numerics (kdlab.losses.pairs): the vectors are invariant to each sample's scale, so maps are rescaled
per sample first.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..values import Count
from .pairs import FeaturePairs, Features, rescaled, unit
from .base import LOSS_TERMS

CANDIDATES = 3  # the student offers k + 3 singular vectors to match the teacher's k (the reference's choice)
RBF_WIDTH = 8.0  # exp(-d^2 / 8), as the reference and the authors' code


class RightSingularVectors(torch.autograd.Function):
    """V of the thin SVD of a batch of matrices x (B, m, n) = U diag(s) V^T: (B, n, min(m, n)).

    Backward, with U's gradient zero (Townsend, "Differentiating the singular value decomposition",
    2016): dx = U [diag(s) (F o (V^T dV - dV^T V))] V^T + U diag(1/s) dV^T (I - V V^T), where
    F[i, j] = 1 / (s_j^2 - s_i^2) for i != j. F is 0 where s_i and s_j coincide (to rounding) and
    1/s is 0 where s is zero: where the decomposition is not differentiable the gradient is finite
    instead of NaN, and where it is, it is the exact one."""

    @staticmethod
    def forward(ctx, x):
        u, s, vh = torch.linalg.svd(x, full_matrices=False)
        v = vh.transpose(-2, -1)
        ctx.save_for_backward(u, s, v)
        return v

    @staticmethod
    def backward(ctx, gv):
        u, s, v = ctx.saved_tensors
        m, n = u.shape[-2], v.shape[-2]
        eps = torch.finfo(s.dtype).eps * max(m, n)
        top = s.amax(dim=-1, keepdim=True)
        s2 = s * s
        gap = s2[..., None, :] - s2[..., :, None]  # [i, j] = s_j^2 - s_i^2
        apart = gap.abs() > eps * (top * top)[..., None]
        f = torch.where(apart, 1 / torch.where(apart, gap, torch.ones_like(gap)), torch.zeros_like(gap))
        vtgv = v.transpose(-2, -1) @ gv
        inner = s[..., :, None] * (f * (vtgv - vtgv.transpose(-2, -1)))
        gx = u @ inner @ v.transpose(-2, -1)
        if n > s.shape[-1]:  # V does not span R^n: the part of dV outside it
            nonzero = s > eps * top
            inv = torch.where(nonzero, 1 / torch.where(nonzero, s, torch.ones_like(s)), torch.zeros_like(s))
            gvt = gv.transpose(-2, -1)
            outside = gvt - (gvt @ v) @ v.transpose(-2, -1)
            gx = gx + u @ (inv[..., :, None] * outside)
        return gx


def positions_by_channels(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W, C), rescaled per sample."""
    return rescaled(f.flatten(2).transpose(1, 2), (1, 2))


def teacher_vectors(t: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's k leading right singular vectors (N, C, k), oriented to a non-negative sum, and
    its k leading singular values made unit length (N, 1, k)."""
    with torch.no_grad():
        _, s, vh = torch.linalg.svd(positions_by_channels(t), full_matrices=False)
        v = vh.transpose(1, 2)[:, :, :k]
        sign = torch.sign(v.sum(1, keepdim=True))
        return v * torch.where(sign == 0, torch.ones_like(sign), sign), unit(s[:, None, :k], dim=2)


def student_vectors(f: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """For each of the teacher's vectors (N, C, k), the student's right singular vector among its
    k + 3 leading ones of largest |cosine| with it, signed to agree with it: (N, C, k)."""
    k = teacher.shape[2]
    v = RightSingularVectors.apply(positions_by_channels(f))[:, :, :k + CANDIDATES]
    cos = v.transpose(1, 2) @ teacher  # (N, k + 3, k)
    best = cos.abs().argmax(1, keepdim=True)  # (N, 1, k)
    return v.gather(2, best.expand(-1, v.shape[1], -1)) * torch.sign(cos.gather(1, best))


def rbf(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    """(N, C_l, k), (N, C_{l-1}, k) -> (N, C_l, C_{l-1}, k)."""
    return torch.exp(-(top[:, :, None, :] - bottom[:, None, :, :]).pow(2) / RBF_WIDTH)


@LOSS_TERMS.register("kdsvd")
class KDSVD(FeaturePairs):
    method = "kdsvd"
    maps_only = True

    def __init__(self, k: Count = 1, student: Features = "@stages[1:]", teacher: Features = "@stages[1:]"):
        super().__init__(student, teacher)
        self.k = int(k)

    def check(self, pairs):
        if len(pairs) < 2:
            raise ConfigError(f"kdsvd relates consecutive stages: it needs at least 2 (student, teacher) pairs, got "
                              f"{len(pairs)} ({', '.join(p[0] for p in pairs)}); name more (e.g. @stages[1:])")
        for sp, tp, s, t in pairs:
            if s.shape[1] != t.shape[1]:
                raise ConfigError(
                    f"kdsvd: student '{sp}' gives {tuple(s.shape[1:])} and teacher '{tp}' gives {tuple(t.shape[1:])}; "
                    f"kdsvd matches singular vectors in channel space and needs the same channel count for each pair")
            for role, path, x in (("student", sp, s), ("teacher", tp, t)):
                if min(x.shape[1], x.shape[2] * x.shape[3]) < self.k:
                    raise ConfigError(f"kdsvd: {role} '{path}' gives {tuple(x.shape[1:])}: fewer than k = {self.k} "
                                      f"singular vectors (min(C, H*W)); lower k or choose larger maps")

    def loss(self, student, teacher):
        total, below = 0, None
        for s, t in zip(student, teacher):
            v_t, weight = teacher_vectors(t, self.k)
            v_s, v_t = student_vectors(s, v_t) * weight, v_t * weight
            if below is not None:
                total = total + (rbf(v_s, below[0]) - rbf(v_t, below[1])).pow(2).sum() / s.shape[0]
            below = v_s, v_t
        return total
