"""IMDB reviews from `aclImdb/{train,test}/{pos,neg}/*.txt` (the `unsup` reviews are not used).

Labels: neg 0, pos 1. Within a split, ids run over neg then pos, each in the order of the files'
numeric ids (`<id>_<rating>.txt`), so they are stable however the folder lists them. HTML line
breaks (`<br />`) become spaces.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError
from ..values import Count
from .base import DATASETS, Dataset
from .text import digest_files, Texts, offset_index, text_dataset

EXPECTED = "the aclImdb folder: train/pos, train/neg, test/pos, test/neg with one review per .txt file"
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _order(path: Path) -> tuple[int, str]:
    head = path.stem.split("_")[0]
    return (int(head), path.name) if head.isdigit() else (1 << 62, path.name)


def review_files(root: Path, split: str) -> list[tuple[Path, int]]:
    files = []
    for label, sentiment in enumerate(("neg", "pos")):
        folder = root / split / sentiment
        if not folder.is_dir():
            raise DataError(f"missing {folder}; expected {EXPECTED}")
        files += [(p, label) for p in sorted(folder.glob("*.txt"), key=_order)]
    return files


def read_reviews(files: list[tuple[Path, int]]) -> Texts:
    texts = []
    for p, _ in files:
        try:
            texts.append(LINE_BREAK.sub(" ", p.read_bytes().decode("utf-8")))
        except UnicodeDecodeError as e:
            raise DataError(f"review {p} is not UTF-8 text (byte {e.start})") from None
        except OSError as e:
            raise DataError(f"cannot read review {p} ({e.strerror})") from None
    return Texts(texts, None, [y for _, y in files], list(range(len(files))), len(files))


@DATASETS.register("imdb")
def load(root, *, max_length: Count = 512, tokenizer: str | None = None, vocab_size: Count = 8192) -> Dataset:
    if root is None:
        raise DataError(f"imdb needs data.root: {EXPECTED}")
    root = Path(root)
    if (root / "aclImdb").is_dir():
        root = root / "aclImdb"
    train_files, test_files = review_files(root, "train"), review_files(root, "test")

    def read():
        train = read_reviews(train_files)
        return train, offset_index(read_reviews(test_files), train.rows)

    return text_dataset("imdb", 2, digest_files([p for p, _ in train_files + test_files]), read, max_length=max_length,
                        tokenizer=tokenizer, vocab_size=vocab_size)
