"""Loss terms: the named parts of a training objective (`loss.terms` in a config).

A term is an nn.Module. It sees one step's `StepOutputs` (the student's logits, the batch, the
teacher's logits, and the outputs of any submodules it asked for by module path) and returns a
scalar, or a scalar and a dict of extra numbers to report (detached). Terms with parameters (a
FitNets regressor, an embedding) or buffers (a memory bank) are optimised or updated with the
student and checkpointed with the run.

What a term may declare and receive, in the order the objective uses them:
- `needs_teacher`: it reads the teacher (its logits or features);
- `student_features` / `teacher_features`: module paths (as in `model.named_modules()`) whose
  outputs it reads, or symbolic names resolved against the model's `feature_paths` (every kdlab
  model has them: `@stages` for all stage outputs, `@stages[-1]` for the last, `@preact`,
  `@embedding`); `bind(student, teacher)` resolves them to paths before training;
- `setup(ctx)`: once, with a `TermSetup` (the features of a sample batch, the size of the training
  split, the number of classes), to shape what it learns; parameters and buffers made here are
  optimised, updated and checkpointed;
- `forward(out)`: each step. `out.batch["position"]` is each training sample's row in the training
  split (0..num_train-1): what a memory bank is indexed by.

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


@dataclass
class TermSetup:
    """What a term knows before training: the named features of a sample batch (eval mode), the
    number of training samples (the rows `batch["position"]` indexes) and of classes."""

    features: dict[str, torch.Tensor]
    teacher_features: dict[str, torch.Tensor]
    num_train: int
    num_classes: int


def resolve_paths(model: nn.Module | None, specs: tuple[str, ...], role: str) -> tuple[str, ...]:
    """Module paths from specs that are paths or symbolic names of the model's `feature_paths`:
    `@name` (all of them, in order) or `@name[i]` (one, Python indexing)."""
    from ..errors import ConfigError

    paths: list[str] = []
    for spec in specs:
        if not spec.startswith("@"):
            paths.append(spec)
            continue
        name, _, index = spec[1:].partition("[")
        known = getattr(model, "feature_paths", None) or {}
        if name not in known:
            offered = ", ".join(f"@{k}" for k in known) or "none: give module paths instead"
            raise ConfigError(f"the {role} ({type(model).__name__}) has no feature paths '@{name}'; it has {offered}")
        found = list(known[name])
        if index:
            try:
                found = [found[int(index.rstrip("]"))]]
            except (ValueError, IndexError):
                raise ConfigError(f"'{spec}': the {role} has {len(found)} '@{name}' paths; index them as @{name}[0] "
                                  f"to @{name}[{len(found) - 1}] or @{name}[-1]") from None
        paths += found
    return tuple(paths)


class LossTerm(nn.Module):
    needs_teacher: bool = False
    # The temperature of the term's soft targets, where it has one (kd, dkd): what probes and reports
    # take as the run's distillation temperature (kdlab.losses.weighting).
    temperature: float | None = None
    # Module paths (as in model.named_modules()) whose outputs the term reads.
    student_features: tuple[str, ...] = ()
    teacher_features: tuple[str, ...] = ()

    def bind(self, student: nn.Module, teacher: nn.Module | None) -> None:
        """Resolve symbolic feature names (`@stages`, `@embedding[0]`) to the models' module paths."""
        self.student_features = resolve_paths(student, tuple(self.student_features), "student")
        self.teacher_features = resolve_paths(teacher, tuple(self.teacher_features), "teacher")

    def setup(self, ctx: TermSetup) -> None:
        """Called once before training (e.g. to shape a regressor from the features' sizes).
        Parameters and buffers created here are optimised, updated and checkpointed."""

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
