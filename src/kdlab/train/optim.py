"""Optimizers and the learning-rate schedule: linear warm-up, then step decay at given epochs.

The rate is a pure function of the global step, so a resumed run needs no scheduler state.
"""

from __future__ import annotations

import torch

from ..config import TrainConfig


def build_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
        weight_decay=cfg.weight_decay,
    )


def lr_at(step: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    warmup_steps = cfg.warmup_epochs * steps_per_epoch
    scale = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    epoch = step // steps_per_epoch
    decays = sum(epoch >= e for e in cfg.decay_epochs)
    return cfg.lr * scale * cfg.decay_factor**decays
