"""Batched tensor augmentation on the training device: random crop with zero padding, and flips."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import to_device


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Crop each image of (N, C, H, W) at a random offset from its zero-padded copy."""
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator), x.device)
    dx = to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator), x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(n, c, h, w + 2 * padding)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=x.device)).view(n, 1, 1, w).expand(n, c, h, w)
    return out.gather(3, cols)


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = to_device(torch.rand(x.shape[0], generator=generator) < 0.5, x.device)
    return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


def crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    return random_hflip(random_crop(x, padding, generator), generator)
