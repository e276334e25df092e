"""The training objective: a scheduled, weighted sum of named loss terms, one object for every run kind.

Terms come from the registry by name (`loss.terms`) or as objects (kdlab.fit(losses=...)). What they
mean (which read the teacher, their temperatures, which weigh when) is the objective's `weighting`
(kdlab.losses.weighting), the one place those questions are answered. Terms that read features get
them through forward hooks on the module paths they name; terms with parameters are part of this
module, so the optimizer and checkpoints hold them.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..config import LossConfig
from ..losses import LOSS_TERMS, FeatureTap, LossTerm, StepOutputs, TermSetup
from ..losses.weighting import Weighting
from ..models import evaluating, logits_of


class Objective(nn.Module):
    def __init__(self, cfg: LossConfig, given: Mapping[str, LossTerm] | None = None, steps_per_epoch: int | None = None):
        super().__init__()
        given = given or {}
        self.terms = nn.ModuleDict({
            name: given[name] if name in given else LOSS_TERMS.build(cfg.term_type(name), t.options)
            for name, t in cfg.terms.items()
        })
        self.weighting = Weighting.of(self.terms, cfg, steps_per_epoch)
        self.taps: dict[str, FeatureTap] = {}

    def weights(self, step: int) -> dict[str, float]:
        return self.weighting.weights(step)

    def needs_teacher(self, step: int) -> bool:
        return self.weighting.needs_teacher(step)

    @property
    def uses_teacher(self) -> bool:
        """Whether a teacher term weighs at some step."""
        return self.weighting.uses_teacher

    def temperature(self, term: str | None = None) -> float | None:
        """A term's temperature, or (no term) the run's distillation temperature: see Weighting.temperature."""
        return self.weighting.temperature(term)

    def attach(self, student: nn.Module, teacher: nn.Module | None, sample: dict[str, torch.Tensor],
               num_train: int, num_classes: int, train_labels: torch.Tensor | None = None) -> None:
        """Resolve the terms' feature names, hook the submodules they read, and let terms shape
        themselves on a sample batch. A term that never weighs needs no teacher, no shaping."""
        active = {name: term for name, term in self.terms.items() if self.weighting.weighs_ever(name)}
        for term in active.values():
            term.bind(student, teacher)
        wanted = {"student": {p for t in active.values() for p in t.student_features},
                  "teacher": {p for t in active.values() for p in t.teacher_features}}
        for role, model in (("student", student), ("teacher", teacher)):
            if wanted[role] and model is not None:
                self.taps[role] = FeatureTap(model, wanted[role], role)
        if self.taps:
            with evaluating(student), torch.no_grad():  # eval mode: batch-norm statistics stay as they are
                logits_of(student, sample)
                if teacher is not None:
                    logits_of(teacher, sample)
        ctx = TermSetup(*self.features(), num_train=num_train, num_classes=num_classes, train_labels=train_labels)
        for term in active.values():
            term.setup(ctx)

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
            result = term(out.seen_by(name, term))
            loss, extra = result if isinstance(result, tuple) else (result, {})
            total = total + w[name] * loss
            metrics[name] = loss.detach()
            for key, value in extra.items():  # a term's own numbers, e.g. kd's `kl`
                metrics[key if name == self.weighting.terms[name].kind else f"{name}_{key}"] = value.detach()
        metrics["loss"] = total.detach()
        return total, metrics
