"""Transformed Teacher Matching (Zheng & Yang, "Knowledge Distillation Based on Transformed Teacher
Matching", ICLR 2024).

TTM drops the temperature from the student and keeps it on the teacher only, as a power transform:
with p^t = softmax(z_te) and q = softmax(z_st), both at temperature 1,
  p~ = (p^t)^gamma / sum_k (p^t_k)^gamma          the power-transformed teacher, gamma = 1/T;
  TTM = KL(p~ || q), mean over the batch, with no T^2 factor.
The paper's full objective H(y, q) + beta * TTM is kdlab's `onehot` term plus this one at weight beta.
The reference is the authors' zkxufo/TTM, distiller_zoo/ttm.py (`TTM`; torchdistill has no TTM): its
exponent `ttm_l` is `gamma` here, and its default (train_student.py) is 1.0, which makes TTM
KL(p^t || q), KD at T = 1 without T^2; the authors' README example runs gamma = 0.1 (with
beta = 45), so set it. (Their sample-adaptive weighted variant, WTTM, is not included.)

kdlab differs in how, not what: since (p^t)^gamma is proportional to exp(gamma * z_te), p~ is
softmax(gamma * z_te), so kdlab takes log p~ = log_softmax(gamma * z_te) (the reference powers
probabilities, which underflow to 0 for extreme logits and then lose their relative sizes) and
computes KL from log-probabilities throughout: no log 0, finite values and gradients for extreme
logits. The teacher is a constant (detached). `temperature` (what kdlab reads as the run's
distillation temperature, e.g. for soft targets) is 1/gamma: the teacher's soft targets are
softmax(z_te / T). Note the student's side is at temperature 1, not T.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..values import Positive
from .base import LOSS_TERMS, LossTerm, StepOutputs


def ttm_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample KL(p~ || q): p~ the teacher's probabilities to the power gamma, renormalised."""
    log_p = F.log_softmax(gamma * teacher_logits.detach(), dim=1)
    log_q = F.log_softmax(student_logits, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(1)


@LOSS_TERMS.register("ttm")
class TTM(LossTerm):
    needs_teacher = True

    def __init__(self, gamma: Positive = 1.0):
        super().__init__()
        self.gamma = float(gamma)
        self.temperature = 1.0 / self.gamma

    def forward(self, out: StepOutputs):
        return ttm_divergence(out.logits, out.teacher_logits, self.gamma).mean()
