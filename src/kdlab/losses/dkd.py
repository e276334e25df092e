"""Decoupled knowledge distillation (Zhao et al., CVPR 2022).

With t the label class and probabilities at temperature T:
  TCKD = KL(b_te || b_st), b = (p_t, 1 - p_t): the binary target-class distribution;
  NCKD = KL(p^_te || p^_st), p^ = softmax over the non-target classes alone;
  DKD  = T^2 (tckd_weight * TCKD + nckd_weight * NCKD), mean over the batch.
The paper's alpha and beta are `tckd_weight` and `nckd_weight` (CIFAR defaults 1 and 8). Everything
is computed from log-probabilities, so saturated logits give no log 0.

`standardize=True` applies logit standardisation (Sun et al., CVPR 2024) to both sides first, as the
authors' DKD does (sunshangquan/logit-standardization-KD, mdistiller/distillers/DKD.py, `logit_stand`):
each sample's logits over all K classes become (z - mean) / (1e-7 + std) (kdlab.losses.kd
.standardize_logits; the same definition, reference and differences as for `kd`), and then TCKD and
NCKD are taken as above. `temperature` is the paper's base temperature tau (each sample's own
temperature on the raw logits is tau * std), and the T^2 factor is tau^2. Default off: runs without
it keep their numbers bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..values import NonNegative, Positive
from .base import LOSS_TERMS, LossTerm, StepOutputs
from .kd import standardize_logits


def dkd_parts(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
              temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (TCKD, NCKD) at temperature T, without the T^2 factor."""
    target = F.one_hot(labels, student_logits.shape[1]).bool()

    def binary_and_rest(logits):
        z = logits / temperature
        log_p = F.log_softmax(z, dim=1)
        log_pt = log_p.gather(1, labels[:, None]).squeeze(1)
        log_rest = torch.logsumexp(log_p.masked_fill(target, float("-inf")), dim=1)  # log(1 - p_t)
        log_hat = F.log_softmax(z.masked_fill(target, float("-inf")), dim=1)  # over non-target classes
        return torch.stack([log_pt, log_rest], 1), log_hat

    b_st, hat_st = binary_and_rest(student_logits)
    b_te, hat_te = binary_and_rest(teacher_logits)
    tckd = (b_te.exp() * (b_te - b_st)).sum(1)
    # The target class holds -inf on both sides: zero it before the product (no nan, no nan gradient).
    nckd = (hat_te.exp() * (hat_te - hat_st).masked_fill(target, 0.0)).sum(1)
    return tckd, nckd


@LOSS_TERMS.register("dkd")
class DKD(LossTerm):
    needs_teacher = True

    def __init__(self, temperature: Positive = 4.0, tckd_weight: NonNegative = 1.0, nckd_weight: NonNegative = 8.0,
                 standardize: bool = False):
        super().__init__()
        self.temperature, self.tckd_weight, self.nckd_weight = float(temperature), float(tckd_weight), float(nckd_weight)
        self.standardize = bool(standardize)

    def forward(self, out: StepOutputs):
        student, teacher = out.logits, out.teacher_logits
        if self.standardize:
            student, teacher = standardize_logits(student), standardize_logits(teacher)
        tckd, nckd = dkd_parts(student, teacher, out.labels, self.temperature)
        t2 = self.temperature**2
        loss = t2 * (self.tckd_weight * tckd.mean() + self.nckd_weight * nckd.mean())
        return loss, {"tckd": t2 * tckd.mean().detach(), "nckd": t2 * nckd.mean().detach()}
