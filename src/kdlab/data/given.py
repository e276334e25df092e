"""Datasets given as objects from Python: tensors, or a torch.utils.data.Dataset with sample ids.

    from_tensors(train=(x, y), test=(x_test, y_test))                 # ids 0..n-1, then n.. for test
    from_tensors(train={"inputs": ids, "attention_mask": m, "label": y, "index": i}, test=...)
    from_torch(train=my_torch_dataset, test=...)  # items (input, label, index) or mappings

Everything is read once into tensors (kdlab keeps data on the training device). Normalisation and
augmentation are named transforms (`transforms=[{"name": "normalize", "mean": [...], "std": [...]}]`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import torch

from ..errors import DataError
from .base import TARGET_KEYS, Dataset, Split


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"{what} cannot be read as a tensor ({e})") from None


def _split(part: Any, start: int, what: str) -> Split:
    """A split from (inputs, labels[, index]) or a mapping with 'inputs', 'label' and optionally 'index'."""
    if isinstance(part, Mapping):
        missing = [k for k in ("inputs", "label") if k not in part]
        if missing:
            raise DataError(f"the {what} mapping has no '{missing[0]}'; give 'inputs', 'label', optionally 'index' "
                            f"and any other per-sample model inputs")
        fields = {k: _as_tensor(v, f"{what} '{k}'") for k, v in part.items()}
    elif isinstance(part, Sequence) and len(part) in (2, 3):
        fields = dict(zip(("inputs", "label", "index"), (_as_tensor(v, what) for v in part)))
    else:
        raise DataError(f"the {what} split must be (inputs, labels), (inputs, labels, index) or a mapping, "
                        f"got {type(part).__name__}")
    n = len(fields["label"])
    for k, v in fields.items():
        if v.dim() == 0 or len(v) != n:
            raise DataError(f"the {what} split's '{k}' has {len(v) if v.dim() else 0} rows, its labels {n}")
    label = fields.pop("label")
    if label.is_floating_point() or label.dim() != 1:
        raise DataError(f"the {what} labels must be a 1-D tensor of integer class ids, got {label.dtype} {tuple(label.shape)}")
    index = fields.pop("index", None)
    index = torch.arange(start, start + n) if index is None else index.long()
    orig = fields.pop("orig_label", label)
    inputs = fields.pop("inputs")
    return Split(inputs, label.long(), orig.long().clone(), index, {k: v for k, v in fields.items() if k not in TARGET_KEYS})


def from_tensors(train: Any, test: Any, *, name: str = "tensors", num_classes: int | None = None,
                 transforms: list[dict[str, Any]] = (), extras: dict | None = None) -> Dataset:
    tr = _split(train, 0, "train")
    te = _split(test, len(tr), "test")
    if len(tr) == 0:
        raise DataError("the train split is empty")
    both = torch.cat([tr.index, te.index])
    if len(torch.unique(both)) != len(both):
        raise DataError("sample ids (index) must be unique across the train and test splits")
    top = int(max(tr.label.max(), te.label.max() if len(te) else 0))
    k = num_classes if num_classes is not None else top + 1
    if int(min(tr.label.min(), te.label.min() if len(te) else 0)) < 0 or top >= k:
        raise DataError(f"labels must lie in 0..{k - 1} (num_classes {k}); found {top}")
    if tr.inputs.shape[1:] != te.inputs.shape[1:] and len(te):
        raise DataError(f"train inputs are {tuple(tr.inputs.shape[1:])}, test inputs {tuple(te.inputs.shape[1:])}")
    return Dataset(name=name, num_classes=k, train=tr, test=te, transforms=list(transforms), extras=dict(extras or {}))


def _collect(ds: torch.utils.data.Dataset, what: str) -> dict[str, torch.Tensor]:
    """Read every item of a torch Dataset: (input, label, index) tuples or mappings."""
    try:
        items = [ds[i] for i in range(len(ds))]
    except Exception as e:  # the user's dataset failed: say which, keep the reason
        raise DataError(f"reading the {what} dataset failed ({type(e).__name__}: {e})") from None
    if not items:
        raise DataError(f"the {what} dataset is empty")
    first = items[0]
    if isinstance(first, Mapping):
        keys = list(first)
        return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in keys}
    if isinstance(first, (tuple, list)) and len(first) == 3:
        return {k: torch.stack([torch.as_tensor(it[j]) for it in items]) for j, k in enumerate(("inputs", "label", "index"))}
    raise DataError(f"items of the {what} dataset must be (input, label, index) or mappings with 'inputs', 'label', "
                    f"'index'; got {type(first).__name__}")


def from_torch(train: torch.utils.data.Dataset, test: torch.utils.data.Dataset, **kwargs) -> Dataset:
    ds = from_tensors(_collect(train, "train"), _collect(test, "test"), **kwargs)
    return replace(ds, origins=(train, test))  # their classes' code counts in a run's identity


def as_dataset(data: Any) -> Dataset:
    """A kdlab Dataset from what `kdlab.fit(data=...)` accepts."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Mapping) and {"train", "test"} <= set(data):
        extra = {k: v for k, v in data.items() if k not in ("train", "test")}
        if isinstance(data["train"], torch.utils.data.Dataset):
            return from_torch(data["train"], data["test"], **extra)
        return from_tensors(data["train"], data["test"], **extra)
    raise DataError("data must be a kdlab Dataset or a mapping {'train': ..., 'test': ...} of tensors or torch Datasets "
                    "(see kdlab.data.from_tensors)")
