"""GLUE MNLI from its folder: train.tsv and dev_matched.tsv (premise/hypothesis pairs, three labels).
The test split is dev_matched, as in P1 and GLUE practice (the GLUE test labels are hidden)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..values import Count
from .base import DATASETS, Dataset
from .text import Texts, digest_files, header_columns, offset_index, read_delimited, text_dataset

LABELS = {"entailment": 0, "neutral": 1, "contradiction": 2}  # the GLUE (and Hugging Face) order
EXPECTED = "GLUE's MNLI folder: train.tsv and dev_matched.tsv with sentence1, sentence2 and gold_label columns"


def read_glue_pairs(path: Path, first: str, second: str, label: str, labels: dict[str, int], expected: str) -> Texts:
    """A GLUE TSV of text pairs; rows with another number of fields or an unknown label are malformed."""
    cols, width = header_columns(path, (first, second, label), expected)

    def parse(row: list[str]):
        if len(row) != width or row[cols[label]].strip() not in labels:
            return None
        return row[cols[first]], row[cols[second]], labels[row[cols[label]].strip()]

    return read_delimited(path, delimiter="\t", header=True, parse=parse, expected=expected)


def glue_pairs(name: str, root, files: tuple[str, str], columns: tuple[str, str, str], labels: dict[str, int],
               expected: str, **settings) -> Dataset:
    """A GLUE task of text pairs from its folder: the train file and the labelled dev file (the test split)."""
    if root is None:
        raise DataError(f"{name} needs data.root: the GLUE {name.upper()} folder ({', '.join(files)})")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"no {name} data at {root}: expected a folder with {', '.join(files)}")
    train_file, test_file = root / files[0], root / files[1]

    def read():
        train = read_glue_pairs(train_file, *columns, labels, expected)
        return train, offset_index(read_glue_pairs(test_file, *columns, labels, expected), train.rows)

    return text_dataset(name, len(set(labels.values())), digest_files([train_file, test_file]), read, **settings)


@DATASETS.register("mnli")
def load(root, *, max_length: Count = 128, tokenizer: str | None = None, vocab_size: Count = 8192) -> Dataset:
    return glue_pairs("mnli", root, ("train.tsv", "dev_matched.tsv"), ("sentence1", "sentence2", "gold_label"),
                      LABELS, EXPECTED, max_length=max_length, tokenizer=tokenizer, vocab_size=vocab_size)
