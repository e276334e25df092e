"""CIFAR-10/100 from the standard "python version" archive or its extracted folder.

The batches are pickles; they are read with an unpickler that only admits the numpy array
constructors the format needs, so a crafted file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import DATASETS, Dataset, Split, channel_stats, normalize_spec

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 pickles (protocol 2) store an array's raw bytes; pure data
}

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}': not a numpy array")


def safe_unpickle(data: bytes, what: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:  # any malformed or hostile pickle
        raise DataError(f"{what} is not a valid CIFAR batch ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{what} is not a valid CIFAR batch (expected a dict, got {type(obj).__name__})")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _archive_reader(root: Path, folder: str, archive_name: str):
    """Return read(name) -> bytes over the extracted folder or the .tar.gz, whichever `root` is."""
    candidates = [root / folder, root] if root.is_dir() else []
    for d in candidates:
        if (d / "batches.meta").exists() or (d / "meta").exists() or (d / "test_batch").exists() or (d / "test").exists():
            return lambda name: _read_file(d / name), str(d)
    archive = root if root.is_file() else root / archive_name
    if not archive.is_file():
        raise DataError(
            f"no CIFAR data at {root}: expected {archive_name} or its extracted folder {folder}/"
        )
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            blobs = {name: tar.extractfile(m).read() for name, m in members.items()}
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{archive} is not a readable .tar.gz archive ({e}); re-download or re-extract it") from None

    def read(name: str) -> bytes:
        if name not in blobs:
            raise DataError(f"{archive} lacks the member {folder}/{name}")
        return blobs[name]

    return read, str(archive)


def _read_file(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"missing CIFAR file {path}")
    return path.read_bytes()


def _load_split(read, where: str, names: list[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        batch = safe_unpickle(read(name), f"{where}/{name}")
        if "data" not in batch or label_key not in batch:
            raise DataError(f"{where}/{name} lacks the keys 'data' and '{label_key}'")
        data = np.asarray(batch["data"])
        try:
            labels = np.asarray(batch[label_key])
            if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or len(labels) == 0):
                raise TypeError(f"{labels.dtype} of shape {labels.shape}")
            labels = labels.astype(np.int64)
        except (TypeError, ValueError) as e:
            raise DataError(f"{where}/{name}: '{label_key}' must be a list of integer class ids ({e})") from None
        if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8 or len(labels) != len(data):
            raise DataError(f"{where}/{name}: expected uint8 data of shape (N, 3072) and N labels, got {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))  # R, G, B planes of 32x32
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def load(name: str, root) -> Dataset:
    if root is None:
        raise DataError(f"{name} needs data.root: the {_LAYOUT[name][0]} folder or its .tar.gz archive")
    folder, train_names, test_names, label_key, k = _LAYOUT[name]
    archive_name = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}[name]
    read, where = _archive_reader(Path(root), folder, archive_name)
    x_tr, y_tr = _load_split(read, where, train_names, label_key)
    x_te, y_te = _load_split(read, where, test_names, label_key)
    if min(y_tr.min(initial=0), y_te.min(initial=0)) < 0 or max(y_tr.max(initial=0), y_te.max(initial=0)) >= k:
        raise DataError(f"{where}: labels outside 0..{k - 1}")
    train = Split.from_numpy(x_tr, y_tr)
    mean, std = channel_stats(train.inputs)
    return Dataset(
        name=name, num_classes=k, train=train, test=Split.from_numpy(x_te, y_te, start_index=len(y_tr)),
        transforms=[{"name": "crop_flip", "padding": 4}, normalize_spec(mean, std)],
    )


DATASETS.register("cifar10")(partial(load, "cifar10"))
DATASETS.register("cifar100")(partial(load, "cifar100"))
