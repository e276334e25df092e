"""Variational information distillation (Ahn et al., "Variational Information Distillation for
Knowledge Transfer", CVPR 2019).

The student maximises a variational lower bound on the mutual information between its features and
the teacher's: for each pair of a student feature map s and a teacher map t (C channels), the teacher
is modelled as Gaussian given the student, with mean mu(s) from a learned regressor and one learned
variance per teacher channel,

  -log q(t | s) = sum_{c,h,w} [ log sigma_c + (t_chw - mu_chw(s))^2 / (2 sigma_c^2) ] + const,
  sigma_c^2 = log(1 + exp(alpha_c)) + eps,

(the paper's Sec. 3, the spatial-feature case). The term is, per pair, the mean over batch,
channels and positions of 0.5 * ((t - mu)^2 / sigma_c^2 + log sigma_c^2), summed over the pairs.

Follows RepDistiller (distiller_zoo/VID.py, the authors' code; wired in train_student.py): the
regressor is three bias-free 1x1 convolutions with ReLUs between, C_s -> C_t -> C_t -> C_t (the middle
width is the teacher's channels, as train_student.py builds `VIDLoss(s, t, t)`), at PyTorch's default
initialisation; alpha_c starts where sigma_c^2 = `init_pred_var` (5.0), eps = 1e-5. Where a pair's
maps differ in size the larger is average-pooled to the smaller (the reference pools to a square of
the smaller height; here to the smaller (H, W), the same for square maps). mdistiller
(distillers/VID.py) computes the same loss but keeps the alphas in a plain list, so its variances are
never registered or trained; RepDistiller's are parameters and learn, as the paper's do, and so are
these. Vector features (N, D) are read as (N, D, 1, 1) maps. The term computes in float32 at least,
outside autocast (kdlab.losses.pairs).

Features: `student` and `teacher`, a module path, a list of them or a symbolic name (default
`@stages[1:]` on both: every stage output but the stem's, the reference's feat[1:-1]); they pair up
in order. The regressors and alphas are parameters made in `setup`: optimised with the student and
saved with the run's checkpoints.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..values import Positive
from .base import LOSS_TERMS, LossTerm, StepOutputs, TermSetup
from .pairs import Features, as_map, common_size, exact, feature_specs, wide


class VIDPair(nn.Module):
    """The Gaussian q(t | s) of one feature pair: a regressor for the mean, alpha_c for the variances."""

    def __init__(self, s_channels: int, t_channels: int, init_pred_var: float, eps: float):
        super().__init__()
        mid = t_channels
        self.regressor = nn.Sequential(
            nn.Conv2d(s_channels, mid, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid, mid, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid, t_channels, 1, bias=False),
        )
        # softplus(alpha) + eps = init_pred_var: alpha = log(exp(init_pred_var - eps) - 1)
        alpha = (init_pred_var - eps) + math.log(-math.expm1(-(init_pred_var - eps)))
        self.log_scale = nn.Parameter(torch.full((t_channels,), alpha))
        self.eps = eps

    def variance(self) -> torch.Tensor:
        return F.softplus(self.log_scale) + self.eps

    def forward(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        s, t = common_size(as_map(s), as_map(t))
        mean = self.regressor(s)
        var = self.variance().to(mean.dtype)[None, :, None, None]
        return (0.5 * ((mean - t) ** 2 / var + torch.log(var))).mean()


@LOSS_TERMS.register("vid")
class VID(LossTerm):
    needs_teacher = True

    def __init__(self, init_pred_var: Positive = 5.0, eps: Positive = 1e-5,
                 student: Features = "@stages[1:]", teacher: Features = "@stages[1:]"):
        super().__init__()
        if init_pred_var <= eps:
            raise ConfigError(f"vid: init_pred_var ({init_pred_var}) must exceed eps ({eps}): the variance is softplus(alpha) + eps")
        self.init_pred_var, self.eps = float(init_pred_var), float(eps)
        self.student_features, self.teacher_features = feature_specs(student), feature_specs(teacher)
        self.pairs = nn.ModuleList()

    def setup(self, ctx: TermSetup):
        s_paths, t_paths = self.student_features, self.teacher_features
        if len(s_paths) != len(t_paths) or not s_paths:
            raise ConfigError(f"vid: the student features {list(s_paths)} and teacher features {list(t_paths)} "
                              f"must pair up one to one (give as many of each)")
        for s_path, t_path in zip(s_paths, t_paths):
            s, t = ctx.features[s_path], ctx.teacher_features[t_path]
            for path, x in ((s_path, s), (t_path, t)):
                if x.dim() not in (2, 4):
                    raise ConfigError(f"vid: feature '{path}' has shape {tuple(x.shape[1:])}: neither maps (C, H, W) nor vectors (D)")
            pair = VIDPair(s.shape[1], t.shape[1], self.init_pred_var, self.eps).to(device=s.device)
            self.pairs.append(pair.to(memory_format=torch.channels_last))

    def forward(self, out: StepOutputs):
        student = [wide(out.features[p]) for p in self.student_features]
        teacher = [wide(out.teacher_features[p]).detach() for p in self.teacher_features]
        with exact(student[0].device):
            return sum(pair(s, t) for pair, s, t in zip(self.pairs, student, teacher))
