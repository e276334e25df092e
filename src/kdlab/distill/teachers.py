"""Teachers: fixed models in eval mode, without gradients, called on batches.

- `Teacher(module)`: any module, as given.
- `RunTeacher`: the teacher of a finished run directory, read at the checkpoints its
  `TeacherSchedule` names. Its architecture is rebuilt from the run's config, or given as a module
  when the run's model was itself given as an object.
- `TeacherSchedule`: which checkpoint a student reads at each of its epochs; the one rule that
  training, `kdlab complexity` and reports use.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..config import TeacherConfig
from ..errors import RunError
from ..models import build_model, logits_of
from ..records import RunDir, load_weights


class Teacher:
    """A fixed model in eval mode, without gradients."""

    run: RunDir | None = None

    def __init__(self, model: nn.Module):
        self.model = model.eval().requires_grad_(False)
        # The same sample gets the same logits from one version (see `version`), so the training loop
        # may compute them once when the data has no augmentation. A module whose outputs are random
        # says so with an attribute `deterministic = False`.
        self.deterministic = bool(getattr(model, "deterministic", True))

    @torch.no_grad()
    def logits(self, batch: dict[str, torch.Tensor], student_epoch: int, forward: nn.Module | None = None) -> torch.Tensor:
        """`forward`: the model as called (e.g. compiled); it shares the model's weights."""
        return logits_of(forward if forward is not None else self.model, batch)

    def version(self, student_epoch: int) -> int:
        """Which weights answer at this student epoch: logits of the same version are the same."""
        return 0


def run_model(run: RunDir, num_classes: int, input_shape: tuple[int, ...], model: nn.Module | None = None) -> nn.Module:
    """The architecture of a run: `model` when given, else rebuilt from the run's saved config."""
    if model is not None:
        return model
    cfg = run.config()
    if cfg.model.object is not None:
        raise RunError(f"run {run.root} trained a model given as an object ({cfg.model.name}); kdlab cannot rebuild it: "
                       f"pass the module, e.g. kdlab.load_run('{run.root}', model={cfg.model.name}(...))")
    return build_model(cfg.model.name, num_classes, input_shape, cfg.model.options)


def check_same_tokenizer(run: RunDir, data_extras: dict) -> None:
    """A text teacher reads the student's token ids: they must come from the tokenizer it learnt with."""
    theirs, ours = run.info().tokenizer_id, data_extras.get("tokenizer_id")
    if theirs != ours and (theirs is not None or ours is not None):
        raise RunError(f"teacher run {run.root} learnt from token ids of another tokenizer ({theirs}) than the "
                       f"student's data ({ours}); give the student's data the teacher's data.tokenizer and "
                       f"data.vocab_size (and the same data)")


class TeacherSchedule:
    """Which weights of a teacher run a student reads at each of its epochs.

    Offline: one checkpoint, the final weights or those of an early-stopped epoch. Online (our
    reading of P2): at student epoch t (1-based) the teacher's checkpoint of epoch min(ceil(t * r),
    last), r = teacher.epoch_ratio; where that epoch was not kept, the nearest earlier one. `last` is
    the teacher's final epoch (for a `train.steps` teacher too: run.json records its epoch count),
    or the early-stopped one."""

    def __init__(self, cfg: TeacherConfig, run: RunDir):
        self.cfg, self.run = cfg, run
        kept = run.checkpoint_epochs()
        epochs = run.info().epochs
        if epochs is None:  # recorded by earlier kdlab versions without it
            train = run.config().train
            epochs = train.epochs if train.steps is None else max(kept, default=1)
        self.last_epoch = epochs if cfg.checkpoint == "final" else cfg.checkpoint
        self.kept = [e for e in kept if e <= self.last_epoch] if cfg.online else kept
        if cfg.online and not self.kept:
            raise RunError(f"teacher run {run.root} kept no epoch checkpoints up to epoch {self.last_epoch} for online "
                           f"distillation (record.checkpoint_every_epochs)")

    def epoch_for(self, student_epoch: int) -> int:
        """The teacher epoch whose weights answer at 1-based student epoch t."""
        if not self.cfg.online:
            return self.last_epoch
        wanted = min(math.ceil(student_epoch * self.cfg.epoch_ratio), self.last_epoch)
        earlier = [e for e in self.kept if e <= wanted]
        return earlier[-1] if earlier else self.kept[0]

    def weights_for(self, student_epoch: int) -> Path:
        if self.cfg.online:
            return self.run.weights_path(self.epoch_for(student_epoch))
        if self.cfg.checkpoint == "final":
            if not self.run.final_weights.is_file():
                raise RunError(f"teacher run {self.run.root} has not finished (no checkpoints/final.safetensors); "
                               f"finish it or choose an epoch with teacher.checkpoint=N (kept: {self.kept or 'none'})")
            return self.run.final_weights
        if self.cfg.checkpoint not in self.kept:
            raise RunError(f"teacher run {self.run.root} has no checkpoint of epoch {self.cfg.checkpoint}; "
                           f"kept epochs: {self.kept or 'none'}")
        return self.run.weights_path(self.cfg.checkpoint)


class RunTeacher(Teacher):
    """The teacher of a finished run directory: one checkpoint, or its checkpoint sequence (online)."""

    def __init__(self, run: RunDir, cfg: TeacherConfig, num_classes: int, input_shape: tuple[int, ...],
                 device: torch.device, model: nn.Module | None = None):
        if not run.root.is_dir():
            raise RunError(f"teacher run {run.root} does not exist; teacher.run must name a finished run directory")
        self.run = run
        info = run.info()
        # Token ids fit a text model at any length (their tokenizer is checked in check_same_tokenizer).
        same_shape = tuple(info.input_shape) == tuple(input_shape) or info.tokenizer_id is not None
        if info.num_classes != num_classes or not same_shape:
            raise RunError(
                f"teacher run {run.root} was trained for {info.num_classes} classes on inputs "
                f"{tuple(info.input_shape)}; the student's data has {num_classes} classes and inputs {tuple(input_shape)}"
            )
        super().__init__(run_model(run, num_classes, input_shape, model).to(device))
        self.schedule = TeacherSchedule(cfg, run)
        self.loaded: Path | None = None
        self._load(self.schedule.weights_for(1))

    def version(self, student_epoch: int) -> int:
        return self.schedule.epoch_for(student_epoch)

    def _load(self, path: Path) -> None:
        if path != self.loaded:
            load_weights(path, self.model)
            self.loaded = path

    def logits(self, batch: dict[str, torch.Tensor], student_epoch: int, forward: nn.Module | None = None) -> torch.Tensor:
        if self.schedule.cfg.online:  # offline, the one checkpoint was loaded (and checked) at construction
            self._load(self.schedule.weights_for(student_epoch))
        return super().logits(batch, student_epoch, forward)
