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
  model has them: `@stages` for the stem and every stage's output, `@stages[-1]` for the last,
  `@stages[1:]` for all but the stem, `@preact`, `@embedding`, `@classifier`); `bind(student,
  teacher)` resolves them to paths before training;
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

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import Registry

LOSS_TERMS = Registry("loss term", package="kdlab.losses")


class StepOutputs:
    """One step's outputs: the student's logits (B, K), the prepared batch (inputs, label, index,
    position, ...), the teacher's logits (present while a teacher term weighs) and the outputs of the
    submodules the terms asked for, by path. A term sees them through `seen_by`: reading what it did
    not declare (the teacher without `needs_teacher = True`, a feature not in its `student_features` or
    `teacher_features`) is a one-line error naming the missing declaration."""

    def __init__(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], teacher_logits: torch.Tensor | None = None,
                 features: dict[str, torch.Tensor] | None = None, teacher_features: dict[str, torch.Tensor] | None = None):
        self.logits, self.batch = logits, batch
        self._teacher_logits = teacher_logits
        self.features = features if features is not None else {}
        self.teacher_features = teacher_features if teacher_features is not None else {}
        self._reader: str | None = None  # the term this view is for

    @property
    def labels(self) -> torch.Tensor:
        return self.batch["label"]

    @property
    def teacher_logits(self) -> torch.Tensor | None:
        if self._reader is not None and not self._reads_teacher:
            from ..errors import ConfigError

            raise ConfigError(f"loss term '{self._reader}' reads the teacher's logits but does not declare it: set "
                              f"needs_teacher = True in its class (kdlab then runs the teacher while it weighs)")
        return self._teacher_logits

    def seen_by(self, name: str, term: "LossTerm") -> "StepOutputs":
        """The view of term `name`: what it declared, and errors for what it did not."""
        view = StepOutputs(self.logits, self.batch, self._teacher_logits,
                           _Declared(self.features, name, term.student_features, "student_features"),
                           _Declared(self.teacher_features, name, term.teacher_features, "teacher_features"))
        view._reader, view._reads_teacher = name, bool(term.needs_teacher)
        return view


class _Declared(dict):
    """A term's features: exactly the paths it declared; another is an error naming the declaration."""

    def __init__(self, values: dict[str, torch.Tensor], term: str, declared: tuple[str, ...], attribute: str):
        super().__init__({k: v for k, v in values.items() if k in declared})
        self.term, self.attribute, self.declared = term, attribute, declared

    def __missing__(self, key: str):
        from ..errors import ConfigError

        listed = ", ".join(self.declared) or "nothing"
        raise ConfigError(f"loss term '{self.term}' reads the output of '{key}', which its {self.attribute} does not "
                          f"name ({listed}); list the module path (or @name) there so kdlab hooks it")


@dataclass
class TermSetup:
    """What a term knows before training: the named features of a sample batch (eval mode), the
    number of training samples (the rows `batch["position"]` indexes) and of classes, and the
    training labels by row (as trained on, label noise included; None outside a run)."""

    features: dict[str, torch.Tensor]
    teacher_features: dict[str, torch.Tensor]
    num_train: int
    num_classes: int
    train_labels: torch.Tensor | None = None


def resolve_paths(model: nn.Module | None, specs: tuple[str, ...], role: str) -> tuple[str, ...]:
    """Module paths from specs that are paths or symbolic names of the model's `feature_paths`:
    `@name` (all of them, in order), `@name[i]` (one) or `@name[a:b]` (a slice), as Python indexes."""
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
                parts = [int(p) if p.strip() else None for p in index.rstrip("]").split(":")]
                found = found[slice(*parts)] if len(parts) > 1 else [found[parts[0]]]
            except (ValueError, IndexError, TypeError):
                raise ConfigError(f"'{spec}': the {role} has {len(found)} '@{name}' paths; index them as @{name}[0] "
                                  f"to @{name}[{len(found) - 1}], @{name}[-1], or slice them as @{name}[1:]") from None
            if not found:
                raise ConfigError(f"'{spec}' selects none of the {role}'s ({type(model).__name__}) {len(known[name])} "
                                  f"'@{name}' paths ({', '.join(known[name])})")
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
        """Resolve symbolic feature names (`@stages`, `@embedding[0]`) to the models' module paths.
        The place to read the models' structure (ofd reads the teacher's batch norms here)."""
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
