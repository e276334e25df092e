"""Loss terms: the named parts of a training objective (`loss.terms` in a config).

A term is an nn.Module. It sees one step's `StepOutputs` (the student's logits, the batch, the
teacher's logits, and the outputs of any submodules it asked for by module path) and returns a
scalar, or a scalar and a dict of extra numbers to report (detached). Terms with parameters (a
FitNets regressor) are optimised with the student and checkpointed with the run.

To add a term, register a subclass in a file of this package (or in your own code):

    @LOSS_TERMS.register("my_term")
    class MyTerm(LossTerm):
        needs_teacher = True
        def __init__(self, temperature: float = 4.0): ...
        def forward(self, out: StepOutputs) -> torch.Tensor: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..registry import Registry

LOSS_TERMS = Registry("loss term", package="kdlab.losses")


@dataclass
class StepOutputs:
    logits: torch.Tensor  # the student's, (B, K)
    batch: dict[str, torch.Tensor]  # the prepared batch: inputs, label, index, ...
    teacher_logits: torch.Tensor | None = None  # present while a teacher term weighs
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # student submodule outputs, by path
    teacher_features: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def labels(self) -> torch.Tensor:
        return self.batch["label"]


class LossTerm(nn.Module):
    needs_teacher: bool = False
    # The temperature of the term's soft targets, where it has one (kd, dkd): what probes and reports
    # take as the run's distillation temperature (kdlab.losses.weighting).
    temperature: float | None = None
    # Module paths (as in model.named_modules()) whose outputs the term reads.
    student_features: tuple[str, ...] = ()
    teacher_features: tuple[str, ...] = ()

    def setup(self, features: dict[str, torch.Tensor], teacher_features: dict[str, torch.Tensor]) -> None:
        """Called once before training with the named outputs of a sample batch (e.g. to shape a
        regressor). Parameters created here are optimised and checkpointed."""

    def forward(self, out: StepOutputs) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError


class FeatureTap:
    """Keeps the outputs of named submodules from a model's latest forward pass (forward hooks)."""

    def __init__(self, model: nn.Module, paths: set[str], owner: str):
        from ..errors import ConfigError

        self.outputs: dict[str, torch.Tensor] = {}
        self.handles = []
        modules = dict(model.named_modules())
        for path in sorted(paths):
            if path not in modules:
                near = [n for n in modules if n][:12]
                raise ConfigError(f"the {owner} has no submodule '{path}'; some of its module paths: {', '.join(near)}")
            self.handles.append(modules[path].register_forward_hook(self._keep(path)))

    def _keep(self, path: str):
        def hook(module, args, output):
            self.outputs[path] = getattr(output, "last_hidden_state", output)

        return hook

    def take(self) -> dict[str, torch.Tensor]:
        out, self.outputs = self.outputs, {}
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
