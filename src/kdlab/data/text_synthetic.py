"""Generated text in the shape of P1's language tasks, for the CPU scale and tests (no corpus ships
with kdlab, and nothing is downloaded).

Words are made-up syllable strings. Each topic owns a set of words; a text of topic t draws each word
from t's set with a per-text probability q ("clarity", uniform in [q_min, q_max]) and otherwise from
common words, so low-clarity texts are hard and some are ambiguous. Tasks:
- `topic` (AG News, IMDB): one text, its topic is the class (num_classes topics).
- `pair` (QQP): two texts, class 1 when the second restates the first (keeps some of its words),
  class 0 when it is another text (of any topic).
- `nli` (MNLI): a premise and a hypothesis; entailment: a restatement; neutral: another text;
  contradiction: a restatement with negation words (which also appear in a fifth of the others).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from ..values import Count, Seed
from .base import DATASETS, Dataset
from .text import Texts, text_dataset

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
NEGATIONS = ["not", "never", "no", "nor"]
TOPIC_WORDS = 25
GENERATOR = 2  # part of the cache key: bump whenever the texts generated change
COMMON_WORDS = 150


def _vocabulary(rng: np.random.Generator, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES, size=rng.integers(2, 4))))
    return sorted(words)


class _Writer:
    def __init__(self, rng: np.random.Generator, topics: int, min_words: int, max_words: int, q_min: float, q_max: float):
        words = _vocabulary(rng, topics * TOPIC_WORDS + COMMON_WORDS)
        rng.shuffle(words)
        self.topic_words = [words[t * TOPIC_WORDS:(t + 1) * TOPIC_WORDS] for t in range(topics)]
        self.common = words[topics * TOPIC_WORDS:]
        self.rng, self.min_words, self.max_words, self.q = rng, min_words, max_words, (q_min, q_max)

    def words(self, topic: int) -> list[str]:
        rng = self.rng
        n = int(rng.integers(self.min_words, self.max_words + 1))
        q = rng.uniform(*self.q)
        return [self.topic_words[topic][rng.integers(TOPIC_WORDS)] if rng.random() < q
                else self.common[rng.integers(len(self.common))] for _ in range(n)]

    def restate(self, words: list[str]) -> list[str]:
        """Some of `words` (each kept with a per-text probability in [q_min, q_max]), in order, padded
        with common words: a paraphrase, more or less recognisable."""
        rng = self.rng
        keep = rng.uniform(*self.q)
        kept = [w for w in words if rng.random() < keep]
        while len(kept) < self.min_words:
            kept.insert(int(rng.integers(len(kept) + 1)), self.common[rng.integers(len(self.common))])
        return kept

    def negate(self, words: list[str]) -> list[str]:
        out = list(words)
        for _ in range(int(self.rng.integers(1, 3))):
            out.insert(int(self.rng.integers(len(out) + 1)), NEGATIONS[self.rng.integers(len(NEGATIONS))])
        return out


def generate(task: str, num_classes: int, n: int, writer: _Writer, topics: int) -> tuple[list[str], list[str] | None, list[int]]:
    rng = writer.rng
    first, second, labels = [], [], []
    for _ in range(n):
        y = int(rng.integers(num_classes))
        labels.append(y)
        if task == "topic":
            first.append(" ".join(writer.words(y)))
            continue
        a = writer.words(int(rng.integers(topics)))
        # The second text restates the first (duplicate, entailment, contradiction) or is another text
        # that may share its topic, so only the overlap of the two decides.
        other_topic = int(rng.integers(topics))
        if task == "pair":
            b = writer.restate(a) if y == 1 else writer.words(other_topic)
        else:  # nli: 0 entailment, 1 neutral, 2 contradiction
            b = writer.words(other_topic) if y == 1 else writer.restate(a)
            if y == 2 or rng.random() < 0.2:
                b = writer.negate(b)
        first.append(" ".join(a))
        second.append(" ".join(b))
    return first, (second if task != "topic" else None), labels


@DATASETS.register("text-synthetic")
def load(root=None, *, task: Literal["topic", "pair", "nli"] = "topic",
         num_classes: Annotated[int, Field(ge=2, le=64)] = 4, train_samples: Count = 2000, test_samples: Count = 500,
         min_words: Count = 6, max_words: Count = 24,
         clarity_min: Annotated[float, Field(ge=0, le=1)] = 0.05, clarity_max: Annotated[float, Field(ge=0, le=1)] = 0.5,
         topics: Annotated[int, Field(ge=2, le=64)] = 8, seed: Seed = 0, max_length: Count = 128, tokenizer: str | None = None, vocab_size: Count = 2048) -> Dataset:
    """`num_classes` applies to the `topic` task (one topic per class); `pair` has 2 classes and `nli`
    3, over `topics` topics."""
    if max_words < min_words or clarity_max < clarity_min:
        raise ValueError("max_words must be >= min_words and clarity_max >= clarity_min")
    classes = {"topic": num_classes, "pair": 2, "nli": 3}[task]
    topics = classes if task == "topic" else topics
    settings = (GENERATOR, task, classes, topics, train_samples, test_samples, min_words, max_words, clarity_min, clarity_max, seed)

    def read():
        writer = _Writer(np.random.default_rng(seed), topics, min_words, max_words, clarity_min, clarity_max)
        splits = []
        start = 0
        for n in (train_samples, test_samples):
            a, b, y = generate(task, classes, n, writer, topics)
            splits.append(Texts(a, b, y, list(range(start, start + n)), n))
            start += n
        return splits[0], splits[1]

    return text_dataset("text-synthetic", classes, repr(settings), read, max_length=max_length,
                        tokenizer=tokenizer, vocab_size=vocab_size)
