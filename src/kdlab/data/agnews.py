"""AG News from its folder: train.csv and test.csv, rows of (class index 1-4, title, description),
no header. A sample's text is its title and description."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..values import Count
from .base import DATASETS, Dataset
from .text import digest_files, offset_index, read_delimited, text_dataset

EXPECTED = "AG News CSV rows: class index 1-4, title, description"


def parse(row: list[str]):
    if len(row) != 3 or row[0].strip() not in ("1", "2", "3", "4"):
        return None
    # The files write a line break inside a description as a literal backslash.
    return f"{row[1]}. {row[2]}".replace("\\", " "), None, int(row[0]) - 1


@DATASETS.register("agnews")
def load(root, *, max_length: Count = 128, tokenizer: str | None = None, vocab_size: Count = 8192) -> Dataset:
    if root is None:
        raise DataError("agnews needs data.root: the folder with train.csv and test.csv")
    root = Path(root)
    train_file, test_file = root / "train.csv", root / "test.csv"

    def read():
        train = read_delimited(train_file, delimiter=",", header=False, parse=parse, expected=EXPECTED)
        test = read_delimited(test_file, delimiter=",", header=False, parse=parse, expected=EXPECTED)
        return train, offset_index(test, train.rows)

    for f in (train_file, test_file):
        if not f.is_file():
            raise DataError(f"missing {f}; expected a folder with train.csv and test.csv ({EXPECTED})")
    return text_dataset("agnews", 4, digest_files([train_file, test_file]), read, max_length=max_length, tokenizer=tokenizer,
                        vocab_size=vocab_size)
