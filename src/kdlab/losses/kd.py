"""Distillation (Hinton et al. 2015; SPEC §1).

KD = -sum_k p_k^te(x; T) log p_k^st(x; T), times T^2 by default so the gradient scale does not
shrink as T grows. KL(p_te || p_st) differs from it by the teacher entropy only and is what metrics
report (as `kl`).

`standardize=True` is logit standardisation (Sun et al., "Logit Standardization in Knowledge
Distillation", CVPR 2024: the Z-score function Z(z; tau) of its Algorithm 1). Each sample's logits,
the teacher's and the student's alike, become (z - mean(z)) / (eps + std(z)) over the classes before
the softmax at temperature T, so the student matches the teacher's logit relations, not their range.
As in the reference (sunshangquan/logit-standardization-KD, mdistiller/distillers/KD.py `normalize`;
torchdistill/losses/mid_level.py `LogitStdKDLoss`), std is torch.std's (the 1/(K-1) estimate) and
eps = 1e-7 is added to it; the paper writes sigma with 1/K, a constant factor sqrt(K/(K-1)) that
amounts to a different tau. `temperature` is then the paper's *base* temperature tau: on the raw
logits each sample is softened by its own temperature tau * (eps + std(z)), separately for teacher and
student, and T^2 scaling multiplies by tau^2 (as the reference does). `kl` is reported on the
standardised logits: it is the divergence the term minimises. Default off: runs without it keep
their numbers bit for bit. Where kdlab differs from the reference: the standard deviation is taken of
the logits divided by their largest deviation (no overflow of the squares for huge logits), and of a
variance clamped at the dtype's smallest normal number, so logits equal across classes (std 0) give
a finite gradient instead of the nan of torch.std's backward. Values agree with the reference's to
rounding.
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


def standardize_logits(logits: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Z-score each row over the classes: (z - mean) / (eps + std), std with the 1/(K-1) estimate of
    torch.std (the reference's); see the module docstring."""
    centered = logits - logits.mean(dim=-1, keepdim=True)
    # std(c) = s * std(c / s) for any constant s > 0: dividing by the row's largest |c| first keeps the
    # squares from overflowing, and a detached s leaves the gradient exact.
    s = centered.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(centered.dtype).tiny).detach()
    var = (centered / s).pow(2).sum(dim=-1, keepdim=True) / max(logits.shape[-1] - 1, 1)
    # sqrt's gradient at 0 is infinite: a row of equal logits would give nan; clamp just above 0.
    std = s * var.clamp_min(torch.finfo(var.dtype).tiny).sqrt()
    return centered / (eps + std)


def kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-sample KL(p_te || p_st) at temperature T."""
    log_p_te = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_p_st = F.log_softmax(student_logits / temperature, dim=-1)
    return (log_p_te.exp() * (log_p_te - log_p_st)).sum(dim=-1)


@LOSS_TERMS.register("kd")
class KD(LossTerm):
    needs_teacher = True

    def __init__(self, temperature: Positive = 4.0, scale: Literal["t2", "none"] = "t2", standardize: bool = False):
        super().__init__()
        self.temperature, self.scale, self.standardize = float(temperature), scale, bool(standardize)

    def forward(self, out: StepOutputs):
        student, teacher = out.logits, out.teacher_logits
        if self.standardize:
            student, teacher = standardize_logits(student), standardize_logits(teacher)
        loss = kd_loss(student, teacher, self.temperature, t2_scale=self.scale == "t2")
        return loss, {"kl": kl_divergence(student.detach(), teacher, self.temperature).mean()}
