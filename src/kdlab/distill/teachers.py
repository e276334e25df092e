"""Teachers: fixed models in eval mode, without gradients, called on batches.

- `Teacher(module)`: any module, as given.
- `RunTeacher`: the teacher of a finished run directory. Offline: one checkpoint (the final one, or
  an early-stopped epoch). Online (our reading of P2): at student epoch t (1-based) the teacher is
  its checkpoint of epoch min(ceil(t * r), last), with r = teacher epochs / student epochs; where
  that epoch was not kept, the nearest earlier one. Its architecture is rebuilt from the run's
  config, or given as a module when the run's model was itself given as an object.
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
    # The same sample gets the same logits from one version (see `version`), so the training loop
    # may compute them once when the data has no augmentation. A teacher with randomness sets False.
    deterministic = True

    def __init__(self, model: nn.Module):
        self.model = model.eval().requires_grad_(False)

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
    theirs, ours = run.info().get("tokenizer_id"), data_extras.get("tokenizer_id")
    if theirs != ours and (theirs is not None or ours is not None):
        raise RunError(f"teacher run {run.root} learnt from token ids of another tokenizer ({theirs}) than the "
                       f"student's data ({ours}); give the student's data the teacher's data.tokenizer and "
                       f"data.vocab_size (and the same data)")


class RunTeacher(Teacher):
    """The teacher of a finished run directory: one checkpoint, or its checkpoint sequence (online)."""

    def __init__(self, cfg: TeacherConfig, num_classes: int, input_shape: tuple[int, ...], device: torch.device,
                 model: nn.Module | None = None):
        self.cfg = cfg
        if cfg.run is None:
            raise RunError("this run's teacher was given as a module (teacher.object); pass the same module again")
        self.run = RunDir(Path(cfg.run))
        if not self.run.root.is_dir():
            raise RunError(f"teacher run {cfg.run} does not exist; teacher.run must name a finished run directory")
        info = self.run.info()
        # Token ids fit a text model at any length (their tokenizer is checked in check_same_tokenizer).
        same_shape = tuple(info["input_shape"]) == tuple(input_shape) or "tokenizer_id" in info
        if info["num_classes"] != num_classes or not same_shape:
            raise RunError(
                f"teacher run {cfg.run} was trained for {info['num_classes']} classes on inputs "
                f"{tuple(info['input_shape'])}; the student's data has {num_classes} classes and inputs {tuple(input_shape)}"
            )
        run_cfg = self.run.config()
        super().__init__(run_model(self.run, num_classes, input_shape, model).to(device))
        self.epochs = self.run.checkpoint_epochs()
        # A `train.steps` teacher's epoch count depends on its data: its last kept checkpoint.
        final_epoch = run_cfg.train.epochs if run_cfg.train.steps is None else max(self.epochs, default=1)
        self.last_epoch = final_epoch if cfg.checkpoint == "final" else cfg.checkpoint
        self.loaded: Path | None = None
        if cfg.online:
            self.epochs = [e for e in self.epochs if e <= self.last_epoch]
            if not self.epochs:
                raise RunError(f"teacher run {cfg.run} kept no epoch checkpoints up to epoch {self.last_epoch} for online distillation")
        else:
            self._load(self._offline_path())

    def _offline_path(self) -> Path:
        if self.cfg.checkpoint == "final":
            if not self.run.final_weights.is_file():
                raise RunError(
                    f"teacher run {self.cfg.run} has not finished (no checkpoints/final.safetensors); "
                    f"finish it or choose an epoch with teacher.checkpoint=N (kept: {self.epochs or 'none'})"
                )
            return self.run.final_weights
        if self.cfg.checkpoint not in self.epochs:
            raise RunError(
                f"teacher run {self.cfg.run} has no checkpoint of epoch {self.cfg.checkpoint}; kept epochs: {self.epochs or 'none'}"
            )
        return self.run.weights_path(self.cfg.checkpoint)

    def epoch_for(self, student_epoch: int) -> int:
        """The teacher checkpoint epoch used at 1-based student epoch t (online distillation)."""
        if not self.cfg.online:
            return self.last_epoch
        wanted = min(math.ceil(student_epoch * self.cfg.epoch_ratio), self.last_epoch)
        earlier = [e for e in self.epochs if e <= wanted]
        return earlier[-1] if earlier else self.epochs[0]

    def version(self, student_epoch: int) -> int:
        return self.epoch_for(student_epoch)

    def _load(self, path: Path) -> None:
        if path != self.loaded:
            load_weights(path, self.model)
            self.loaded = path

    def logits(self, batch: dict[str, torch.Tensor], student_epoch: int, forward: nn.Module | None = None) -> torch.Tensor:
        if self.cfg.online:
            self._load(self.run.weights_path(self.epoch_for(student_epoch)))
        return super().logits(batch, student_epoch, forward)
