"""In-memory datasets: every split is a few tensors, kept on the training device (airbench style).

A split holds `inputs` (uint8 images, float features or token ids, first dim N), the label used for
training, the original label (before noise), a stable sample `index`, and any further per-sample
tensors a model needs (`fields`, e.g. `attention_mask`). A batch is the mapping
{"inputs", "label", "orig_label", "index", **fields} of some rows. How stored inputs become what a
model sees (normalisation, augmentation) is the dataset's list of named transforms.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..registry import Registry

DATASETS = Registry("dataset", context=("root",), package="kdlab.data")

# Batch keys that are targets and bookkeeping, never model inputs.
# Batch fields that are not model inputs. `position`: a training batch's rows in its split (set by the loop).
TARGET_KEYS = ("label", "orig_label", "index", "position")


@dataclass
class Split:
    inputs: torch.Tensor  # first dim N
    label: torch.Tensor  # int64, the label used for training (possibly noisy)
    orig_label: torch.Tensor  # int64, the label before noise
    index: torch.Tensor  # int64, stable sample id
    fields: dict[str, torch.Tensor] = field(default_factory=dict)  # more per-sample model inputs

    @property
    def noisy(self) -> torch.Tensor:
        return self.label != self.orig_label

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        """(input, label, index), as every dataset yields."""
        return self.inputs[i], int(self.label[i]), int(self.index[i])

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"inputs": self.inputs, "label": self.label, "orig_label": self.orig_label, "index": self.index,
                **self.fields}

    def batch(self, rows: torch.Tensor | slice | None = None) -> dict[str, torch.Tensor]:
        """The batch of `rows` (all rows when None), as the mapping models and transforms see."""
        return {k: v if rows is None else v[rows] for k, v in self.tensors().items()}

    def select(self, rows: torch.Tensor) -> "Split":
        return Split(self.inputs[rows], self.label[rows], self.orig_label[rows], self.index[rows],
                     {k: v[rows] for k, v in self.fields.items()})

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.inputs.to(device), self.label.to(device), self.orig_label.to(device),
                     self.index.to(device), {k: v.to(device) for k, v in self.fields.items()})

    def with_labels(self, label: torch.Tensor) -> "Split":
        return replace(self, label=label)

    @classmethod
    def from_numpy(
        cls, x: np.ndarray, labels: np.ndarray, start_index: int = 0, index: np.ndarray | None = None
    ) -> "Split":
        """A clean split; sample ids run from `start_index` unless `index` gives them."""
        labels_t = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if index is None:
            index = np.arange(start_index, start_index + len(labels_t))
        return cls(
            inputs=torch.as_tensor(np.require(x, requirements=["C", "W"])),
            label=labels_t,
            orig_label=labels_t.clone(),
            index=torch.as_tensor(np.asarray(index, dtype=np.int64)),
        )


@dataclass
class Dataset:
    name: str
    num_classes: int
    train: Split
    test: Split
    # Named transforms, in order: [{"name": "crop_flip", "padding": 4}, {"name": "normalize", "mean": ..., "std": ...}].
    # Augmentations among them apply to training batches only (kdlab.data.transforms).
    transforms: list[dict[str, Any]] = field(default_factory=list)
    extras: dict = field(default_factory=dict)  # e.g. the true class directions of synthetic data
    # The user's objects the data was read from (kdlab.data.from_torch): their code is part of the
    # identity of a run that trains on it (kdlab.sources).
    origins: tuple = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.inputs.shape[1:])

    def checksum(self) -> str:
        h = hashlib.sha256()
        for split in (self.train, self.test):
            for t in (split.inputs, split.label, split.orig_label, split.index):
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
            for key, t in sorted(split.fields.items()):
                h.update(key.encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def label_counts(self, split: str) -> list[int]:
        labels = getattr(self, split).label
        return torch.bincount(labels.cpu(), minlength=self.num_classes).tolist()

    def with_splits(self, **splits: Split) -> "Dataset":
        return replace(self, **splits)


def check_dataset(ds: Dataset) -> Dataset:
    """What every dataset must be, however it was loaded: non-empty splits, one input shape, integer
    labels within 0..K-1, one row per sample in every field. Raises a one-line DataError."""
    from ..errors import DataError

    if ds.num_classes < 2:
        raise DataError(f"dataset '{ds.name}' has {ds.num_classes} class(es); distillation needs at least 2")
    for name in ("train", "test"):
        split: Split = getattr(ds, name)
        n = len(split)
        if n == 0:
            raise DataError(f"dataset '{ds.name}': the {name} split is empty")
        for key, t in split.tensors().items():
            if t.dim() == 0 or len(t) != n:
                raise DataError(f"dataset '{ds.name}': the {name} split's '{key}' has {len(t) if t.dim() else 0} rows, not {n}")
        for key in ("label", "orig_label"):
            t = getattr(split, key)
            if t.dtype != torch.int64 or t.dim() != 1 or int(t.min()) < 0 or int(t.max()) >= ds.num_classes:
                raise DataError(f"dataset '{ds.name}': {name} {key}s must be class ids 0..{ds.num_classes - 1}")
    if ds.train.inputs.shape[1:] != ds.test.inputs.shape[1:]:
        raise DataError(f"dataset '{ds.name}': train inputs are {tuple(ds.train.inputs.shape[1:])}, "
                        f"test inputs {tuple(ds.test.inputs.shape[1:])}; they must match")
    return ds


def cache_root() -> Path:
    """Where decoded and tokenised data are cached: $KDLAB_CACHE, default ~/.cache/kdlab."""
    return Path(os.environ.get("KDLAB_CACHE", Path.home() / ".cache" / "kdlab"))


def normalize_spec(mean, std) -> dict[str, Any]:
    return {"name": "normalize", "mean": list(mean), "std": list(std)}


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of images scaled to [0, 1] (computed on the training split)."""
    xf = to_unit_float(x)
    dims = [0] + list(range(2, xf.dim()))
    return tuple(xf.mean(dim=dims).tolist()), tuple(xf.std(dim=dims).clamp_min(1e-6).tolist())


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small CPU tensor (batch indices, random draws of the CPU generator) on `device`. To a GPU it
    goes through pinned memory without blocking, so a training step never waits for the host; the
    values are those of the CPU generator either way, so CPU results do not change."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def iterate_batches(n: int, batch_size: int, generator: torch.Generator | None) -> Iterator[torch.Tensor]:
    """Index batches over n samples: shuffled by `generator`, or in order when it is None."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
