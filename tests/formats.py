"""Writers of small dataset files in the real formats (CIFAR pickles, idx, Tiny-ImageNet JPEG folders)."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_batch(n: int, num_classes: int, label_key: str, rng: np.random.Generator) -> bytes:
    # Python-2-era CIFAR pickles have byte-string keys; protocol 2 as the originals.
    return pickle.dumps(
        {b"batch_label": b"batch", label_key.encode(): [int(v) for v in rng.integers(0, num_classes, n)],
         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)},
        protocol=2,
    )


def write_cifar(root: Path, name: str = "cifar10", n_per_batch: int = 8, seed: int = 0, as_tar: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        folder, files, key, k = "cifar-10-batches-py", CIFAR10_FILES, "labels", 10
    else:
        folder, files, key, k = "cifar-100-python", ["train", "test"], "fine_labels", 100
    blobs = {f: cifar_batch(n_per_batch, k, key, rng) for f in files}
    blobs["batches.meta" if name == "cifar10" else "meta"] = pickle.dumps({b"label_names": [b"x"] * k}, protocol=2)
    root.mkdir(parents=True, exist_ok=True)
    if not as_tar:
        (root / folder).mkdir()
        for f, b in blobs.items():
            (root / folder / f).write_bytes(b)
        return root / folder
    archive = root / ("cifar-10-python.tar.gz" if name == "cifar10" else "cifar-100-python.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for f, b in blobs.items():
            info = tarfile.TarInfo(f"{folder}/{f}")
            info.size = len(b)
            tar.addfile(info, io.BytesIO(b))
    return archive


def idx_bytes(arr: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_mnist(root: Path, n_train: int = 20, n_test: int = 10, gz: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1", rng.integers(0, 10, n))):
            data = idx_bytes(arr)
            path = root / f"{prefix}-{kind}-ubyte"
            if gz:
                path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
            else:
                path.write_bytes(data)
    return root


def write_tinyimagenet(root: Path, wnids=("n01", "n02"), per_class: int = 3, n_val: int = 4, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for w in wnids:
        folder = base / "train" / w / "images"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{w}_{i}.JPEG", "JPEG")
    lines = []
    for i in range(n_val):
        name = f"val_{i}.JPEG"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(base / "val" / "images" / name, "JPEG")
        lines.append(f"{name}\t{wnids[i % len(wnids)]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base
