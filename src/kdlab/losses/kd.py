"""Distillation (Hinton et al. 2015; SPEC §1).

KD = -sum_k p_k^te(x; T) log p_k^st(x; T), times T^2 by default so the gradient scale does not
shrink as T grows. KL(p_te || p_st) differs from it by the teacher entropy only and is what metrics
report (as `kl`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..values import Positive
from .base import LOSS_TERMS, LossTerm, StepOutputs


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, t2_scale: bool = True
) -> torch.Tensor:
    """Soft cross-entropy of the student against the teacher at temperature T, mean over the batch."""
    p_te = F.softmax(teacher_logits / temperature, dim=-1)
    log_p_st = F.log_softmax(student_logits / temperature, dim=-1)
    loss = -(p_te * log_p_st).sum(dim=-1).mean()
    return loss * temperature**2 if t2_scale else loss


def kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-sample KL(p_te || p_st) at temperature T."""
    log_p_te = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_p_st = F.log_softmax(student_logits / temperature, dim=-1)
    return (log_p_te.exp() * (log_p_te - log_p_st)).sum(dim=-1)


@LOSS_TERMS.register("kd")
class KD(LossTerm):
    needs_teacher = True

    def __init__(self, temperature: Positive = 4.0, scale: Literal["t2", "none"] = "t2"):
        super().__init__()
        self.temperature, self.scale = float(temperature), scale

    def forward(self, out: StepOutputs):
        loss = kd_loss(out.logits, out.teacher_logits, self.temperature, t2_scale=self.scale == "t2")
        return loss, {"kl": kl_divergence(out.logits.detach(), out.teacher_logits, self.temperature).mean()}
