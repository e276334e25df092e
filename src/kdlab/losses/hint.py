"""FitNets hint (Romero et al., ICLR 2015): a learned regressor maps the student's features at one
layer onto the teacher's at another; the term is their mean squared difference.

Layers are module paths (as in `model.named_modules()`, e.g. `stage2` or `layers.1.conv2`), or a
model's symbolic feature names (`@stages[1]`, `@embedding`: see kdlab.losses.base). The
regressor is a 1x1 convolution for feature maps (N, C, H, W) and a linear map for vectors (N, D); it
is created once the layers' shapes are known, optimised with the student and checkpointed with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import LOSS_TERMS, LossTerm, StepOutputs, TermSetup


@LOSS_TERMS.register("hint")
class Hint(LossTerm):
    needs_teacher = True

    def __init__(self, student: str, teacher: str):
        super().__init__()
        self.student_features, self.teacher_features = (student,), (teacher,)
        self.regressor: nn.Module | None = None

    def setup(self, ctx: TermSetup):
        (s_path,), (t_path,) = self.student_features, self.teacher_features
        s, t = ctx.features[s_path], ctx.teacher_features[t_path]
        if s.dim() != t.dim() or s.shape[2:] != t.shape[2:]:
            raise ConfigError(
                f"hint: student layer '{s_path}' gives {tuple(s.shape[1:])} and teacher layer "
                f"'{t_path}' gives {tuple(t.shape[1:])}; choose layers with the same spatial size")
        if s.dim() == 4:
            self.regressor = nn.Conv2d(s.shape[1], t.shape[1], 1, bias=False)
        elif s.dim() == 2:
            self.regressor = nn.Linear(s.shape[1], t.shape[1], bias=False)
        else:
            raise ConfigError(f"hint: features of shape {tuple(s.shape[1:])} are neither maps (C, H, W) nor vectors (D)")
        self.regressor.to(device=s.device)
        if s.dim() == 4:
            self.regressor.to(memory_format=torch.channels_last)

    def forward(self, out: StepOutputs):
        s = out.features[self.student_features[0]]
        t = out.teacher_features[self.teacher_features[0]]
        return F.mse_loss(self.regressor(s), t)
