"""The training objective: named loss terms and their scheduled weights, one object for every run kind."""

from __future__ import annotations

import torch

from ..config import LossConfig
from .losses import kd_loss, kl_divergence, onehot_loss
from .schedule import LossWeights, weights_at


class Objective:
    def __init__(self, cfg: LossConfig):
        self.cfg = cfg
        self.initial = LossWeights(onehot=cfg.onehot_weight, kd=cfg.kd_weight)

    def weights(self, step: int) -> LossWeights:
        s = self.cfg.switch
        if s is None:
            return self.initial
        return weights_at(step, self.initial, s.to, s.at_step, s.window)

    def needs_teacher(self, step: int) -> bool:
        return self.weights(step).kd > 0

    def __call__(
        self, student_logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and the named terms, detached; they stay on the device (no sync per step)."""
        w = self.weights(step)
        terms: dict[str, torch.Tensor] = {}
        total = student_logits.new_zeros(())
        if w.onehot > 0 or teacher_logits is None:
            ce = onehot_loss(student_logits, labels)
            total = total + w.onehot * ce
            terms["onehot"] = ce.detach()
        if teacher_logits is not None:
            T = self.cfg.temperature
            kd = kd_loss(student_logits, teacher_logits, T, t2_scale=self.cfg.kd_scale == "t2")
            total = total + w.kd * kd
            terms["kd"] = kd.detach()
            terms["kl"] = kl_divergence(student_logits.detach(), teacher_logits, T).mean()
        terms["loss"] = total.detach()
        return total, terms
