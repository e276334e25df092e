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


# --- text sets --------------------------------------------------------------------------------------

MNLI_TRAIN_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
                     "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")
MNLI_DEV_HEADER = MNLI_TRAIN_HEADER.replace("label1\tgold_label", "label1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label")
NLI_LABELS = ["entailment", "neutral", "contradiction"]


def _nli_row(i: int, premise: str, hypothesis: str, label: str, dev: bool) -> str:
    labels = [label] * (5 if dev else 1)
    return "\t".join([str(i), str(1000 + i), f"{1000 + i}e", "fiction", f"( {premise} )", f"( {hypothesis} )",
                      f"(ROOT {premise})", f"(ROOT {hypothesis})", premise, hypothesis, *labels, label])


def write_mnli(root: Path, n_train: int = 12, n_dev: int = 6) -> Path:
    """GLUE's MNLI folder: train.tsv (12 columns) and dev_matched.tsv (16), with bare quotes in the text."""
    root.mkdir(parents=True, exist_ok=True)
    words = ["the cat sat", 'a "quoted" dog ran', "rain fell all day", "they never came back", "he said 'no'"]
    for name, n, dev, header in (("train.tsv", n_train, False, MNLI_TRAIN_HEADER),
                                 ("dev_matched.tsv", n_dev, True, MNLI_DEV_HEADER)):
        rows = [_nli_row(i, words[i % 5], words[(i * 3 + 1) % 5], NLI_LABELS[i % 3], dev) for i in range(n)]
        (root / name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root


QQP_HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"


def write_qqp(root: Path, n_train: int = 40, n_dev: int = 8, malformed_at: int | None = 3) -> Path:
    """GLUE's QQP folder; train.tsv row `malformed_at` lacks its second question, as rows of the real file do."""
    root.mkdir(parents=True, exist_ok=True)
    qs = ["How do I learn Python?", "What is the best way to learn Python?", "Why is the sky blue?",
          "How tall is Everest?", "What makes the sky look blue?"]
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
        rows = []
        for i in range(n):
            fields = [str(i), str(2 * i), str(2 * i + 1), qs[i % 5], qs[(i + 1) % 5], str(i % 2)]
            if name == "train.tsv" and i == malformed_at:
                del fields[4]  # a missing field: five columns instead of six
            rows.append("\t".join(fields))
        (root / name).write_text("\n".join([QQP_HEADER, *rows]) + "\n", encoding="utf-8")
    return root


def write_agnews(root: Path, n_train: int = 16, n_test: int = 8) -> Path:
    """AG News CSVs: quoted "class","title","description" rows, no header, classes 1-4."""
    import csv

    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("train.csv", n_train), ("test.csv", n_test)):
        with open(root / name, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL)
            for i in range(n):
                w.writerow([str(i % 4 + 1), f"Title {i}, with a comma", f"Description {i}\\of the story"])
    return root


def write_imdb(root: Path, per_class: int = 6) -> Path:
    """aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt, with <br /> breaks and non-ASCII text; ids
    past 9 check that files are ordered by number, not by name."""
    base = root / "aclImdb"
    for split in ("train", "test"):
        for sentiment, ratings in (("neg", (1, 2, 3, 4)), ("pos", (7, 8, 9, 10))):
            folder = base / split / sentiment
            folder.mkdir(parents=True)
            for i in range(per_class):
                word = "wonderful" if sentiment == "pos" else "dreadful"
                text = f"Review {i}: a {word} film.<br /><br />Amélie — naïve, 日本語 ✓ {word}!"
                (folder / f"{i * 5}_{ratings[i % 4]}.txt").write_text(text, encoding="utf-8")
    (base / "train" / "unsup").mkdir()
    (base / "train" / "unsup" / "0_0.txt").write_text("unlabelled", encoding="utf-8")
    return root
