"""In-memory datasets: every split is a few tensors, kept on the training device (airbench style).

Images are stored as uint8 (N, C, H, W) and turned into normalised floats per batch; vector data
(digits, synthetic channels) is stored as float32. Every sample carries a stable `index`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
import torch


@dataclass
class Split:
    x: torch.Tensor  # uint8 images or float32 features, first dim N
    label: torch.Tensor  # int64, the label used for training (possibly noisy)
    orig_label: torch.Tensor  # int64, the label before noise
    index: torch.Tensor  # int64, stable sample id

    @property
    def noisy(self) -> torch.Tensor:
        return self.label != self.orig_label

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        """(input, label, index), as every dataset yields."""
        return self.x[i], int(self.label[i]), int(self.index[i])

    def to(self, device: torch.device | str) -> "Split":
        return Split(*(t.to(device) for t in (self.x, self.label, self.orig_label, self.index)))

    @classmethod
    def from_numpy(
        cls, x: np.ndarray, labels: np.ndarray, start_index: int = 0, index: np.ndarray | None = None
    ) -> "Split":
        """A clean split; sample ids run from `start_index` unless `index` gives them."""
        labels_t = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if index is None:
            index = np.arange(start_index, start_index + len(labels_t))
        return cls(
            x=torch.as_tensor(np.require(x, requirements=["C", "W"])),
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
    # Per-channel normalisation applied to float inputs in [0, 1]; None leaves inputs as they are.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    augment: str = "none"  # "none" | "crop_flip"
    crop_padding: int = 0
    extras: dict = field(default_factory=dict)  # e.g. the true class directions of synthetic data

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def checksum(self) -> str:
        h = hashlib.sha256()
        for split in (self.train, self.test):
            for t in (split.x, split.label, split.orig_label, split.index):
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def label_counts(self, split: str) -> list[int]:
        labels = getattr(self, split).label
        return torch.bincount(labels.cpu(), minlength=self.num_classes).tolist()

    def with_splits(self, **splits: Split) -> "Dataset":
        return replace(self, **splits)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of images scaled to [0, 1] (computed on the training split)."""
    xf = to_unit_float(x)
    dims = [0] + list(range(2, xf.dim()))
    return tuple(xf.mean(dim=dims).tolist()), tuple(xf.std(dim=dims).clamp_min(1e-6).tolist())


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def iterate_batches(
    n: int, batch_size: int, generator: torch.Generator | None, drop_last: bool = False
) -> Iterator[torch.Tensor]:
    """Index batches over n samples: shuffled by `generator`, or in order when it is None."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]
