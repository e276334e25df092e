"""Text classification data: texts (or text pairs) tokenised once into token ids, kept on the device.

A text split holds `inputs` (token ids, right-padded with the tokenizer's pad id to the longest
sequence of the dataset) and the field `attention_mask`; the dataset's `trim_padding` transform cuts
every batch to its own longest sequence (dynamic padding), so a batch costs what its texts need.

The tokenizer is the data's, not the model's: teacher and student must read the same token ids.
`tokenizer: DIR` loads one saved by `save_pretrained` (e.g. roberta-base's); without it, a byte-level
BPE tokenizer (RoBERTa's kind and special-token layout) is trained on the training split. Token ids
are cached under $KDLAB_CACHE, keyed by the source files' content, the tokenizer and the settings.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import DataError
from ..io import DAMAGED_NPZ_ERRORS, write_npz
from .base import Dataset, Split, cache_root

CACHE_FORMAT = 2  # bump when the cached arrays change meaning
# RoBERTa's special tokens and ids; a trained tokenizer uses the same layout, so pad is 1 everywhere.
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
# A file with more rows than this fraction skipped is the wrong file, not a few damaged records.
MAX_SKIPPED_FRACTION = 0.05


@dataclass
class Texts:
    """One split as read from its files: a text (or a pair) and a class id per sample."""

    first: list[str]
    second: list[str] | None  # the pair's second text (MNLI hypothesis, QQP second question)
    label: list[int]
    index: list[int]  # stable sample ids (row numbers in the source file)
    rows: int  # records in the source, malformed ones included
    skipped: int = 0  # malformed records left out


def need_text_extra() -> None:
    try:
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise DataError("text datasets need the text extra: pip install 'kdlab[text]' "
                        "(transformers and tokenizers)") from None


def digest_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        try:
            with open(p, "rb") as f:
                h.update(f"{p.parent.name}/{p.name};".encode())
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError as e:
            raise DataError(f"cannot read {p} ({e.strerror})") from None
    return h.hexdigest()[:16]


def read_delimited(path: Path, *, delimiter: str, header: bool, parse: Callable[[list[str]], tuple[str, str | None, int] | None],
                   expected: str) -> Texts:
    """Rows of a TSV/CSV file through `parse` (None: a malformed row, skipped and counted). The sample
    id of a row is its position among the file's data rows, so skipping one never renumbers the rest."""
    if not path.is_file():
        raise DataError(f"missing {path}; expected {expected}")
    csv.field_size_limit(sys.maxsize)  # some reviews and parses are long
    # GLUE's TSVs contain bare quote characters: they are text, not CSV quoting.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    first, second, label, index = [], [], [], []
    skipped = rows = 0
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
            if header:
                next(reader, None)
            for i, row in enumerate(reader):
                rows += 1
                parsed = parse(row)
                if parsed is None:
                    skipped += 1
                    continue
                a, b, y = parsed
                first.append(a)
                second.append(b)
                label.append(y)
                index.append(i)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}); expected {expected}") from None
    except csv.Error as e:
        raise DataError(f"{path} is not readable as {expected} ({e})") from None
    if rows == 0 or skipped > MAX_SKIPPED_FRACTION * rows:
        raise DataError(f"{path}: {skipped} of {rows} rows are malformed; expected {expected}")
    pairs = any(b is not None for b in second)
    return Texts(first, second if pairs else None, label, index, rows, skipped)


def header_columns(path: Path, needed: tuple[str, ...], expected: str) -> tuple[dict[str, int], int]:
    """Positions of the `needed` columns in a TSV file's header row, and how many columns it has."""
    if not path.is_file():
        raise DataError(f"missing {path}; expected {expected}")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        head = f.readline().rstrip("\r\n").split("\t")
    missing = [c for c in needed if c not in head]
    if missing:
        raise DataError(f"{path} has no column '{missing[0]}' in its header; expected {expected}")
    return {c: head.index(c) for c in needed}, len(head)


# --- tokenizers ---------------------------------------------------------------------------------

def load_tokenizer(path: str):
    """A tokenizer saved with `save_pretrained` in a local folder; never downloaded."""
    from transformers import AutoTokenizer

    folder = Path(path)
    if not folder.is_dir() or not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        raise DataError(f"no tokenizer at {path}: expected a folder with tokenizer.json (or vocab.json and "
                        f"merges.txt), as written by save_pretrained; kdlab never downloads one")
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"cannot load the tokenizer at {path} ({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `texts`, with RoBERTa's special tokens and pair layout
    (<s> A </s></s> B </s>)."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                            show_progress=False)
    bpe.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   cls_token="<s>", sep_token="</s>")


def tokenizer_key(path: str | None, vocab_size: int) -> str:
    if path is None:
        return f"trained-bpe-{vocab_size}"
    files = [Path(path) / f for f in TOKENIZER_FILES if (Path(path) / f).is_file()]
    return "dir-" + digest_files(files)


def encode(tok, texts: Texts, max_length: int) -> tuple[list[list[int]], int]:
    """Token ids per sample, truncated to max_length; and how many samples were truncated."""
    enc = tok(texts.first, texts.second, truncation=True, max_length=max_length, padding=False,
              return_attention_mask=False, return_overflowing_tokens=False)
    ids = enc["input_ids"]
    # Samples at the limit: truncated, or (rarely) exactly max_length long; telling them apart would
    # take a second, untruncated tokenisation of everything.
    truncated = sum(len(x) >= max_length for x in ids)
    return ids, truncated


def vocabulary_digest(tok) -> str:
    """What makes two tokenizers give the same ids: their token-to-id tables (and merges, through them)."""
    table = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(table, ensure_ascii=False).encode()).hexdigest()[:16]


def pad(ids: list[list[int]], width: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.full((len(ids), width), pad_id, dtype=np.int32)
    lengths = np.zeros(len(ids), dtype=np.int32)
    for i, x in enumerate(ids):
        out[i, : len(x)] = x
        lengths[i] = len(x)
    return out, lengths


# --- the dataset ----------------------------------------------------------------------------------

def text_dataset(name: str, num_classes: int, source: str, read: Callable[[], tuple[Texts, Texts]], *,
                 max_length: int, tokenizer: str | None, vocab_size: int) -> Dataset:
    """The tokenised dataset whose texts `read` returns (called only when the cache misses); `source`
    identifies them (a digest of the files, or the settings that generate them)."""
    need_text_extra()
    key = hashlib.sha256(f"{CACHE_FORMAT};{name};{source};{tokenizer_key(tokenizer, vocab_size)};"
                         f"{max_length}".encode()).hexdigest()[:16]
    cache = cache_root() / f"{name}-{key}.npz"
    arrays = _read_cache(cache)
    if arrays is None:
        arrays = _tokenise(read, max_length=max_length, tokenizer=tokenizer, vocab_size=vocab_size)
        write_npz(cache, **arrays)
    splits = {}
    for split in ("train", "test"):
        ids = torch.as_tensor(arrays[f"{split}_ids"].astype(np.int64))
        mask = (torch.arange(ids.shape[1]) < torch.as_tensor(arrays[f"{split}_length"].astype(np.int64))[:, None]).long()
        label = torch.as_tensor(arrays[f"{split}_label"].astype(np.int64))
        splits[split] = Split(ids, label, label.clone(), torch.as_tensor(arrays[f"{split}_index"].astype(np.int64)),
                              {"attention_mask": mask})
    pad_id = int(arrays["pad_id"])
    inspect = {"vocab_size": int(arrays["vocab_size"]), "tokenizer_id": str(arrays["tokenizer_id"]), "max_length": max_length,
               "tokenizer": tokenizer or f"byte-level BPE trained on the training split ({vocab_size} tokens at most)",
               **{f"{s}_{k}": int(arrays[f"{s}_{k}_count"]) for s in ("train", "test") for k in ("skipped", "truncated")}}
    return Dataset(name=name, num_classes=num_classes, train=splits["train"], test=splits["test"],
                   transforms=[{"name": "trim_padding"}],
                   extras={"vocab_size": int(arrays["vocab_size"]), "pad_id": pad_id,
                           "tokenizer_id": str(arrays["tokenizer_id"]), "inspect": inspect})


def _read_cache(cache: Path) -> dict[str, np.ndarray] | None:
    if not cache.is_file():
        return None
    try:
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    except DAMAGED_NPZ_ERRORS:
        return None  # a damaged cache is rebuilt, never trusted


def _tokenise(read: Callable[[], tuple[Texts, Texts]], *, max_length: int, tokenizer: str | None,
              vocab_size: int) -> dict[str, np.ndarray]:
    train, test = read()
    if tokenizer is not None:
        tok = load_tokenizer(tokenizer)
    else:
        tok = train_tokenizer(train.first + (train.second or []), vocab_size)
    if tok.pad_token_id is None:
        raise DataError(f"the tokenizer at {tokenizer} has no pad token; a RoBERTa tokenizer has '<pad>'")
    encoded = {s: encode(tok, t, max_length) for s, t in (("train", train), ("test", test))}
    width = max(1, max(len(x) for ids, _ in encoded.values() for x in ids))
    arrays: dict[str, np.ndarray] = {"vocab_size": np.array(len(tok)), "pad_id": np.array(tok.pad_token_id),
                                     "tokenizer_id": np.array(vocabulary_digest(tok))}
    for s, texts in (("train", train), ("test", test)):
        ids, truncated = encoded[s]
        arrays[f"{s}_ids"], arrays[f"{s}_length"] = pad(ids, width, tok.pad_token_id)
        arrays[f"{s}_label"] = np.asarray(texts.label, dtype=np.int64)
        arrays[f"{s}_index"] = np.asarray(texts.index, dtype=np.int64)
        arrays[f"{s}_skipped_count"] = np.array(texts.skipped)
        arrays[f"{s}_truncated_count"] = np.array(truncated)
    return arrays


def offset_index(texts: Texts, offset: int) -> Texts:
    """Test ids after every train id (`offset` = the train file's rows), as for the image sets."""
    return Texts(texts.first, texts.second, texts.label, [i + offset for i in texts.index], texts.rows, texts.skipped)
