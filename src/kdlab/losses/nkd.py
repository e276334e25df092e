"""Normalized KD (Yang et al., "From Knowledge Distillation to Self-Knowledge Distillation: A Unified
Approach with Normalized Loss and Customized Soft Labels", ICCV 2023).

With t the label class, S = softmax(z_st) and T = softmax(z_te) at temperature 1, and N(.) the
probabilities of the non-target classes renormalised to sum to 1 (a softmax over the other K - 1
logits) at temperature lambda:
  L_NKD = -T_t log S_t - gamma * lambda^2 * sum_{i != t} N(T^lambda)_i log N(S^lambda)_i,
mean over the batch: the paper's normalised KD loss (its target part is the teacher's target
probability weighting the student's log-likelihood of the label; its non-target part is a soft
cross-entropy over the non-target classes alone). The student's own CE is kdlab's `onehot` term at
its own weight. (The paper's self-distillation half, USKD, with its customised soft labels, is not
included.) The reference is the authors' yzd-v/cls_KD, mmcls/models/dis_losses/nkd.py
(`NKDLoss`; torchdistill has no NKD), whose defaults are kdlab's: `temperature` (the paper's lambda,
its `temp`) 1.0 and `gamma` 1.5. The teacher's probabilities are constants (detached), as there.

kdlab differs in how, not what: the non-target part takes log-softmax over the logits with the label
masked to -inf (the reference gathers the other K - 1 columns), which is the same softmax over the
non-target classes, with no log 0 for saturated logits; the product at the label's position is zeroed
before the sum, so it gives neither nan nor a nan gradient. Labels are class indices (the reference
also takes one-hot or soft labels through their argmax). The non-target part is a cross-entropy, as
in the paper and reference, so it includes the teacher's non-target entropy: the loss is not 0 when
the student equals the teacher. With K = 2 the non-target part is 0. `temperature` is what kdlab
reads as the run's distillation temperature; it softens the non-target part only (the target part is
at temperature 1). Reported: `target_ce` and `non_target_ce` (the latter times gamma * lambda^2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..values import NonNegative, Positive
from .base import LOSS_TERMS, LossTerm, StepOutputs


def nkd_parts(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
              temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (-T_t log S_t, -sum_{i != t} N(T^lambda)_i log N(S^lambda)_i), without gamma lambda^2."""
    teacher_logits = teacher_logits.detach()
    label = labels[:, None]
    log_s_t = F.log_softmax(student_logits, dim=1).gather(1, label).squeeze(1)
    t_t = F.softmax(teacher_logits, dim=1).gather(1, label).squeeze(1)
    target_part = -t_t * log_s_t

    target = F.one_hot(labels, student_logits.shape[1]).bool()
    log_n_s = F.log_softmax((student_logits / temperature).masked_fill(target, float("-inf")), dim=1)
    n_t = F.softmax((teacher_logits / temperature).masked_fill(target, float("-inf")), dim=1)
    # At the label: n_t is 0 and log_n_s is -inf; zero the log first (no 0 * -inf, no nan gradient).
    non_target_part = -(n_t * log_n_s.masked_fill(target, 0.0)).sum(1)
    return target_part, non_target_part


@LOSS_TERMS.register("nkd")
class NKD(LossTerm):
    needs_teacher = True

    def __init__(self, temperature: Positive = 1.0, gamma: NonNegative = 1.5):
        super().__init__()
        self.temperature, self.gamma = float(temperature), float(gamma)

    def forward(self, out: StepOutputs):
        target_part, non_target_part = nkd_parts(out.logits, out.teacher_logits, out.labels, self.temperature)
        non_target = self.gamma * self.temperature**2 * non_target_part.mean()
        target = target_part.mean()
        return target + non_target, {"target_ce": target.detach(), "non_target_ce": non_target.detach()}
