"""scikit-learn's bundled 8x8 handwritten digits: real data that needs no download."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from typing import Annotated

from pydantic import Field

from ..values import Seed
from .base import DATASETS, Dataset, Split, normalize_spec


@DATASETS.register("digits")
def load(root=None, *, test_fraction: Annotated[float, Field(gt=0.05, lt=0.95)] = 0.25, split_seed: Seed = 0) -> Dataset:
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    index = np.arange(len(images))
    # A fixed, stratified split: the same for every run, whatever the run's seed.
    tr, te = train_test_split(index, test_size=test_fraction, random_state=split_seed, stratify=bunch.target)
    tr, te = np.sort(tr), np.sort(te)
    # Sample ids are positions in scikit-learn's array, stable across splits and runs.
    train = Split.from_numpy(images[tr], bunch.target[tr], index=tr)
    test = Split.from_numpy(images[te], bunch.target[te], index=te)
    return Dataset(name="digits", num_classes=10, train=train, test=test, transforms=[normalize_spec((0.5,), (0.5,))])

