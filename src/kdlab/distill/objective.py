"""The training objective: a scheduled, weighted sum of named loss terms, one object for every run kind.

Terms come from the registry by name (`loss.terms`) or as objects (kdlab.fit(losses=...)). Terms
that read features get them through forward hooks on the module paths they name; terms with
parameters are part of this module, so the optimizer and checkpoints hold them.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import LossConfig
from ..losses import LOSS_TERMS, FeatureTap, LossTerm, StepOutputs
from ..models import logits_of
from .schedule import weights_at


class Objective(nn.Module):
    def __init__(self, cfg: LossConfig, given: dict[str, LossTerm] | None = None):
        super().__init__()
        given = given or {}
        self.terms = nn.ModuleDict({
            name: given[name] if name in given else LOSS_TERMS.build(cfg.term_type(name), t.options)
            for name, t in cfg.terms.items()
        })
        self.cfg = cfg
        self.kinds = {name: cfg.term_type(name) for name in cfg.terms}
        self.initial = {name: t.weight for name, t in cfg.terms.items()}
        self.switch = cfg.switch
        self.taps: dict[str, FeatureTap] = {}

    def weights(self, step: int) -> dict[str, float]:
        s = self.switch
        return weights_at(step, self.initial) if s is None else weights_at(step, self.initial, s.to, s.at_step, s.window)

    def needs_teacher(self, step: int) -> bool:
        w = self.weights(step)
        return any(w[n] > 0 for n, t in self.terms.items() if t.needs_teacher)

    @property
    def uses_teacher(self) -> bool:
        """Whether a teacher term weighs at some step."""
        return any(self.cfg.weighs_ever(n) for n, t in self.terms.items() if t.needs_teacher)

    def attach(self, student: nn.Module, teacher: nn.Module | None, sample: dict[str, torch.Tensor]) -> None:
        """Hook the submodules the terms read, and let terms shape themselves on a sample batch."""
        wanted = {"student": {p for t in self.terms.values() for p in t.student_features},
                  "teacher": {p for t in self.terms.values() for p in t.teacher_features}}
        if not wanted["student"] and not wanted["teacher"]:
            return
        for role, model in (("student", student), ("teacher", teacher)):
            if wanted[role] and model is not None:
                self.taps[role] = FeatureTap(model, wanted[role], role)
        was_training = student.training
        student.eval()
        with torch.no_grad():  # eval mode: batch-norm statistics stay as they are
            logits_of(student, sample)
            if teacher is not None:
                logits_of(teacher, sample)
        student.train(was_training)
        features = self.features()
        for name, term in self.terms.items():
            if self.cfg.weighs_ever(name):  # a term that never weighs needs no teacher, no shaping
                term.setup(*features)

    def features(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The hooked outputs of the latest student and teacher forward passes."""
        return tuple(self.taps[r].take() if r in self.taps else {} for r in ("student", "teacher"))

    def forward(self, out: StepOutputs, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and the named terms, detached; they stay on the device (no sync per step)."""
        w = self.weights(step)
        metrics: dict[str, torch.Tensor] = {}
        total = out.logits.new_zeros(())
        for name, term in self.terms.items():
            if w[name] <= 0:
                continue
            result = term(out)
            loss, extra = result if isinstance(result, tuple) else (result, {})
            total = total + w[name] * loss
            metrics[name] = loss.detach()
            for key, value in extra.items():  # a term's own numbers, e.g. kd's `kl`
                metrics[key if name == self.kinds[name] else f"{name}_{key}"] = value.detach()
        metrics["loss"] = total.detach()
        return total, metrics
