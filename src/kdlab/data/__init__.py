"""Datasets by name. Every split yields (input, label, index); label noise keeps the original labels."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from ..registry import Registry
from . import cifar, digits, mnist, synthetic, tinyimagenet
from .base import Dataset, Split, iterate_batches, to_unit_float
from .noise import with_label_noise

DATASETS = Registry("dataset", context=("root",))
DATASETS.register("digits")(digits.load)
DATASETS.register("synthetic-channels")(synthetic.load)
DATASETS.register("cifar10")(partial(cifar.load, "cifar10"))
DATASETS.register("cifar100")(partial(cifar.load, "cifar100"))
DATASETS.register("tinyimagenet")(tinyimagenet.load)
DATASETS.register("mnist")(mnist.load)


def load_dataset(
    name: str,
    root: str | None = None,
    *,
    label_noise: float = 0.0,
    noise_seed: int = 0,
    train_size: int | None = None,
    augment: str = "auto",
    options: dict[str, Any] | None = None,
) -> Dataset:
    ds: Dataset = DATASETS.build(name, options or {}, root=root)
    if train_size is not None and train_size < len(ds.train):
        # A seeded, class-agnostic subset: the same samples for every run of the same settings.
        keep = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(noise_seed))[:train_size]
        keep = keep.sort().values
        t = ds.train
        ds = ds.with_splits(train=Split(t.x[keep], t.label[keep], t.orig_label[keep], t.index[keep]))
    if label_noise:
        ds = ds.with_splits(train=with_label_noise(ds.train, label_noise, ds.num_classes, noise_seed))
    if augment != "auto":
        ds.augment = augment
    return ds


def load_dataset_for(data) -> Dataset:
    """The dataset a run config's `data` section describes."""
    return load_dataset(data.name, data.root, label_noise=data.label_noise, noise_seed=data.noise_seed,
                        train_size=data.train_size, augment=data.augment, options=data.options)


__all__ = ["load_dataset_for", "DATASETS", "Dataset", "Split", "iterate_batches", "load_dataset", "to_unit_float"]
