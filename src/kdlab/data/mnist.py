"""MNIST from its four idx files (plain or .gz)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import DATASETS, Dataset, Split, normalize_spec

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(root: Path, stem: str) -> tuple[bytes, Path]:
    for path in (root / stem, root / f"{stem}.gz"):
        if path.is_file():
            try:
                raw = path.read_bytes()
                return (gzip.decompress(raw) if path.suffix == ".gz" else raw), path
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                raise DataError(f"{path} is not a readable gzip file ({e})") from None
    raise DataError(f"missing MNIST file {root / stem}[.gz]; expected the four idx files in {root}")


def read_idx(data: bytes, path: Path, ndim: int) -> np.ndarray:
    """Parse an idx file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian sizes, then the data."""
    if len(data) < 4 + 4 * ndim or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise DataError(f"{path} is not an idx file of {ndim}-D unsigned bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = data[4 + 4 * ndim :]
    if len(body) != math.prod(shape):  # exact: sizes in a damaged header may be huge
        raise DataError(f"{path} is truncated or padded: header says {shape}, found {len(body)} bytes of data")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


@DATASETS.register("mnist")
def load(root) -> Dataset:
    if root is None:
        raise DataError("mnist needs data.root: the folder holding the four idx files")
    root = Path(root)
    splits = {}
    start = 0
    for split, (img_stem, lab_stem) in FILES.items():
        images = read_idx(*_open(root, img_stem), ndim=3)
        labels = read_idx(*_open(root, lab_stem), ndim=1)
        if len(images) != len(labels) or labels.max(initial=0) > 9:
            raise DataError(f"{root}: {img_stem} and {lab_stem} disagree ({len(images)} images, {len(labels)} labels)")
        splits[split] = Split.from_numpy(images[:, None], labels, start_index=start)
        start += len(labels)
    return Dataset(
        name="mnist", num_classes=10, train=splits["train"], test=splits["test"], transforms=[normalize_spec((0.1307,), (0.3081,))]
    )
