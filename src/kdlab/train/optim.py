"""Optimizers and the learning-rate schedule: linear warm-up, then step decay at given epochs or a
linear decay to zero at the last step.

The rate is a pure function of the global step, so a resumed run needs no scheduler state.
"""

from __future__ import annotations

import torch

from ..config import TrainConfig


def build_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
        weight_decay=cfg.weight_decay,
    )


def lr_at(step: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    warmup_steps = cfg.warmup(steps_per_epoch)
    scale = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if cfg.schedule == "linear":
        total = cfg.total_steps(steps_per_epoch)
        if step >= warmup_steps:
            scale = max(0.0, (total - step) / max(1.0, total - warmup_steps))
        return cfg.lr * scale
    epoch = step // steps_per_epoch
    decays = sum(epoch >= e for e in cfg.decay_epochs)
    return cfg.lr * scale * cfg.decay_factor**decays
