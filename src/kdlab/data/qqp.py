"""GLUE QQP from its folder: train.tsv and dev.tsv (question pairs, duplicate or not).

The real train.tsv has malformed rows (a missing question, a row cut short); they are skipped and
counted (`kdlab data inspect` shows how many), and the other rows keep their ids.
"""

from __future__ import annotations

from ..values import Count
from .base import DATASETS, Dataset
from .mnli import glue_root, read_glue_pairs
from .text import digest_files, offset_index, text_dataset


@DATASETS.register("qqp")
def load(root, *, max_length: Count = 128, tokenizer: str | None = None, vocab_size: Count = 8192) -> Dataset:
    root = glue_root(root, "qqp", ("train.tsv", "dev.tsv"))
    train_file, test_file = root / "train.tsv", root / "dev.tsv"
    labels = {"0": 0, "1": 1}

    def read():
        train = read_glue_pairs(train_file, "question1", "question2", "is_duplicate", labels)
        test = read_glue_pairs(test_file, "question1", "question2", "is_duplicate", labels)
        return train, offset_index(test, train.rows)

    return text_dataset("qqp", 2, digest_files([train_file, test_file]), read, max_length=max_length, tokenizer=tokenizer,
                        vocab_size=vocab_size)
