"""Named transforms of a dataset: how stored inputs become what a model sees.

A dataset lists its transforms as specs ({"name": ..., **options}); `Pipeline` builds them for a
device and applies them in order to a batch mapping. Augmentations (`augment = True`) draw from the
epoch's generator and apply to training batches only; the rest (normalisation) apply to every batch,
so training, evaluation, teachers and probes see inputs prepared the same way.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from ..registry import Registry
from ..values import Finite, NonNegativeInt, Positive
from .augment import crop_flip
from .base import to_unit_float

TRANSFORMS = Registry("transform", context=("device",), package="kdlab.data")


class Transform:
    augment = False  # True: training batches only, random draws from the epoch's generator

    def check(self, input_shape: tuple[int, ...]) -> None:
        """Raise a ConfigError if this transform cannot apply to inputs of `input_shape` (one sample's)."""

    def __call__(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        raise NotImplementedError


@TRANSFORMS.register("normalize")
class Normalize(Transform):
    """uint8 images to [0, 1] floats, then (x - mean) / std per channel when given."""

    def __init__(self, device: torch.device, mean: list[Finite] | None = None, std: list[Positive] | None = None):
        self.mean = self.std = None
        if mean is not None:
            if std is None or len(std) != len(mean):
                raise ValueError("normalize needs mean and std of the same length")
            self.mean = torch.tensor(mean, device=device)
            self.std = torch.tensor(std, device=device)

    def check(self, input_shape):
        if self.mean is not None and (not input_shape or len(self.mean) not in (1, input_shape[0])):
            raise ConfigError(f"transform 'normalize' has {len(self.mean)} channel means, but the inputs are "
                              f"{tuple(input_shape)}: give 1 or {input_shape[0] if input_shape else '?'}")

    def __call__(self, batch, generator):
        x = to_unit_float(batch["inputs"])
        if self.mean is not None:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            x = (x - self.mean.view(shape)) / self.std.view(shape)
        # channels_last makes convolutions faster on CPU (oneDNN) and on GPU tensor cores alike.
        x = x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
        return {**batch, "inputs": x}


@TRANSFORMS.register("crop_flip")
class CropFlip(Transform):
    """Random crop from a zero-padded copy, then a horizontal flip with probability 1/2 (batched)."""

    augment = True

    def __init__(self, device: torch.device, padding: NonNegativeInt = 4):
        self.padding = padding

    def check(self, input_shape):
        if len(input_shape) != 3:
            raise ConfigError(f"transform 'crop_flip' needs images (C, H, W), but the inputs are {tuple(input_shape)}; "
                              f"use data.augment=none")

    def __call__(self, batch, generator):
        return {**batch, "inputs": crop_flip(batch["inputs"], self.padding, generator)}


@TRANSFORMS.register("trim_padding")
class TrimPadding(Transform):
    """Dynamic padding for right-padded token ids: cut a batch to its longest sequence (by its
    `attention_mask`), so a batch of short texts costs what they need. Outputs are unchanged: the
    cut columns are padding that attention masks out."""

    def __init__(self, device: torch.device):
        pass

    def check(self, input_shape):
        if len(input_shape) != 1:
            raise ConfigError(f"transform 'trim_padding' needs token ids (L,), but the inputs are {tuple(input_shape)}")

    def __call__(self, batch, generator):
        mask = batch.get("attention_mask")
        if mask is None:
            raise ConfigError("transform 'trim_padding' needs an 'attention_mask' field in the batch")
        width = max(1, int(mask.sum(1).max())) if len(mask) else mask.shape[1]
        return {**batch, "inputs": batch["inputs"][:, :width], "attention_mask": mask[:, :width]}


class Pipeline:
    """A dataset's transforms, built for one device."""

    def __init__(self, specs: list[dict[str, Any]], device: torch.device | str = "cpu",
                 input_shape: tuple[int, ...] | None = None):
        self.specs = [dict(s) for s in specs]
        self.steps: list[Transform] = [
            TRANSFORMS.build(s["name"], {k: v for k, v in s.items() if k != "name"}, device=torch.device(device))
            for s in self.specs
        ]
        if input_shape is not None:
            for t in self.steps:
                t.check(tuple(input_shape))

    def train(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        for t in self.steps:
            batch = t(batch, generator)
        return batch

    def eval(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        for t in self.steps:
            if not t.augment:
                batch = t(batch, None)
        return batch


def with_augmentation(specs: list[dict[str, Any]], augment: str) -> list[dict[str, Any]]:
    """`data.augment`: 'auto' keeps the dataset's own, 'none' drops every augmentation, 'crop_flip'
    makes sure there is one (without padding unless the dataset gives one)."""
    if augment == "auto":
        return specs
    kept = [s for s in specs if not TRANSFORMS.get(s["name"]).augment]
    if augment == "none":
        return kept
    own = [s for s in specs if s["name"] == augment]
    return (own or [{"name": augment}]) + kept
