"""GLUE QQP from its folder: train.tsv and dev.tsv (question pairs, duplicate or not).

The real train.tsv has malformed rows (a missing question, a row cut short); they are skipped and
counted (`kdlab data inspect` shows how many), and the other rows keep their ids.
"""

from __future__ import annotations

from ..values import Count
from .base import DATASETS, Dataset
from .mnli import glue_pairs

EXPECTED = "GLUE's QQP folder: train.tsv and dev.tsv with question1, question2 and is_duplicate columns"


@DATASETS.register("qqp")
def load(root, *, max_length: Count = 128, tokenizer: str | None = None, vocab_size: Count = 8192) -> Dataset:
    return glue_pairs("qqp", root, ("train.tsv", "dev.tsv"), ("question1", "question2", "is_duplicate"),
                      {"0": 0, "1": 1}, EXPECTED, max_length=max_length, tokenizer=tokenizer, vocab_size=vocab_size)
