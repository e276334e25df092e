"""Datasets by name, or given as objects. Every split yields (input, label, index); label noise keeps
the original labels. Each loader registers itself in its own file."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .base import DATASETS, TARGET_KEYS, Dataset, Split, check_dataset, iterate_batches, to_unit_float
from .given import as_dataset, from_tensors, from_torch
from .inspection import inspect_dataset
from .noise import with_label_noise
from .transforms import TRANSFORMS, Pipeline, with_augmentation


def prepare_dataset(
    ds: Dataset,
    *,
    label_noise: float = 0.0,
    noise_seed: int = 0,
    train_size: int | None = None,
    augment: str = "auto",
) -> Dataset:
    """A run's view of a dataset: a seeded subset, seeded label noise, the chosen augmentation."""
    if train_size is not None and train_size < len(ds.train):
        # A seeded, class-agnostic subset: the same samples for every run of the same settings.
        keep = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(noise_seed))[:train_size]
        ds = ds.with_splits(train=ds.train.select(keep.sort().values))
    if label_noise:
        ds = ds.with_splits(train=with_label_noise(ds.train, label_noise, ds.num_classes, noise_seed))
    if augment != "auto":
        ds = replace(ds, transforms=with_augmentation(ds.transforms, augment))
    return ds


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
    ds: Dataset = check_dataset(DATASETS.build(name, options or {}, root=root))
    return prepare_dataset(ds, label_noise=label_noise, noise_seed=noise_seed, train_size=train_size, augment=augment)


def load_dataset_for(data, given: Dataset | None = None) -> Dataset:
    """The dataset a run config's `data` section describes; `given` replaces the named loader."""
    settings = dict(label_noise=data.label_noise, noise_seed=data.noise_seed, train_size=data.train_size,
                    augment=data.augment)
    if given is not None:
        return prepare_dataset(check_dataset(given), **settings)
    return load_dataset(data.name, data.root, options=data.options, **settings)


__all__ = ["DATASETS", "TARGET_KEYS", "TRANSFORMS", "Dataset", "Pipeline", "Split", "as_dataset", "from_tensors",
           "from_torch", "inspect_dataset", "iterate_batches", "load_dataset", "load_dataset_for", "prepare_dataset", "to_unit_float"]
