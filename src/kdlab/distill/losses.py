"""One-hot and distillation losses (SPEC §1).

KD = -sum_k p_k^te(x; T) log p_k^st(x; T), times T^2 by default (Hinton et al.) so the gradient
scale does not shrink as T grows. KL(p_te || p_st) differs from it by the teacher entropy only and
is what metrics report.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def onehot_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(student_logits, labels)


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
