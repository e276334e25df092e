"""Seeded symmetric label noise: a flipped label goes to a uniformly chosen *other* class."""

from __future__ import annotations

import numpy as np
import torch

from .base import Split


def flip_labels(labels: np.ndarray, p: float, num_classes: int, seed: int) -> np.ndarray:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"label noise must be in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    flip = rng.random(len(labels)) < p
    # Adding an offset in 1..K-1 modulo K picks each other class with equal probability.
    offset = rng.integers(1, num_classes, size=len(labels))
    return np.where(flip, (labels + offset) % num_classes, labels)


def with_label_noise(split: Split, p: float, num_classes: int, seed: int) -> Split:
    if p == 0:
        return split
    noisy = flip_labels(split.orig_label.numpy(), p, num_classes, seed)
    return split.with_labels(torch.as_tensor(noisy))
