"""Tiny-ImageNet from its `tiny-imagenet-200/` folder; JPEGs are decoded once and cached as uint8."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import DAMAGED_NPZ_ERRORS, write_npz
from .base import DATASETS, Dataset, Split, cache_root, channel_stats, normalize_spec

SIZE = 64


def _decode(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.size != (SIZE, SIZE):  # read from the header: a huge image is refused before decoding
                raise DataError(f"{path}: expected a {SIZE}x{SIZE} image, got {im.size[0]}x{im.size[1]}")
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode image {path} ({type(e).__name__}: {str(e)[:120]})") from None
    return arr.transpose(2, 0, 1)


def _listing(root: Path) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    wnids_file = root / "wnids.txt"
    if not wnids_file.is_file():
        raise DataError(f"no Tiny-ImageNet at {root}: expected wnids.txt, train/<wnid>/images/*.JPEG, val/")
    wnids = [w.strip() for w in wnids_file.read_text().split() if w.strip()]
    cls = {w: i for i, w in enumerate(wnids)}
    train = []
    for w in wnids:
        folder = root / "train" / w / "images"
        if not folder.is_dir():
            raise DataError(f"missing Tiny-ImageNet folder {folder}")
        train += [(p, cls[w]) for p in sorted(folder.glob("*.JPEG"))]
    ann = root / "val" / "val_annotations.txt"
    if not ann.is_file():
        raise DataError(f"missing {ann}")
    val = []
    for line in ann.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in cls:
            raise DataError(f"{ann}: malformed line {line!r} (expected <file>\\t<wnid>...)")
        val.append((root / "val" / "images" / parts[0], cls[parts[1]]))
    return wnids, train, val


def _cache_path(root: Path, files: list[tuple[Path, int]]) -> Path:
    """Keyed by content: every image's bytes and label, so a replaced image is decoded again. Hashing
    reads each file once per load; decoding, which the cache saves, is the expensive part."""
    h = hashlib.sha256()
    for p, y in files:
        try:
            data = p.read_bytes()
        except OSError as e:
            raise DataError(f"cannot read image {p} ({e.strerror})") from None
        h.update(f"{p.name}:{y}:{len(data)};".encode())
        h.update(data)
    return cache_root() / f"tinyimagenet-{h.hexdigest()[:16]}.npz"


@DATASETS.register("tinyimagenet")
def load(root) -> Dataset:
    if root is None:
        raise DataError("tinyimagenet needs data.root: the tiny-imagenet-200 folder")
    root = Path(root)
    if (root / "tiny-imagenet-200").is_dir():
        root = root / "tiny-imagenet-200"
    wnids, train, val = _listing(root)
    cache = _cache_path(root, train + val)
    arrays = None
    if cache.is_file():
        try:
            with np.load(cache) as z:
                arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        except DAMAGED_NPZ_ERRORS:
            arrays = None  # a damaged cache is rebuilt, never trusted
        if arrays is not None and (arrays["x_train"].shape[1:] != (3, SIZE, SIZE) or len(arrays["x_train"]) != len(train)
                                   or len(arrays["x_test"]) != len(val)):
            arrays = None
    if arrays is None:
        arrays = {
            "x_train": np.stack([_decode(p) for p, _ in train]) if train else np.zeros((0, 3, SIZE, SIZE), np.uint8),
            "y_train": np.array([y for _, y in train], dtype=np.int64),
            "x_test": np.stack([_decode(p) for p, _ in val]) if val else np.zeros((0, 3, SIZE, SIZE), np.uint8),
            "y_test": np.array([y for _, y in val], dtype=np.int64),
        }
        write_npz(cache, **arrays)
    train_split = Split.from_numpy(arrays["x_train"], arrays["y_train"])
    mean, std = channel_stats(train_split.inputs)
    return Dataset(
        name="tinyimagenet", num_classes=len(wnids), train=train_split,
        test=Split.from_numpy(arrays["x_test"], arrays["y_test"], start_index=len(train)),
        transforms=[{"name": "crop_flip", "padding": 8}, normalize_spec(mean, std)],
    )
