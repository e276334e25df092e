"""What `kdlab data inspect` reports about a dataset: classes, input shape, split sizes and label
counts, the content checksum, and a loader's own details (e.g. a text set's tokenizer)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tables import Table
from .base import Dataset


@dataclass
class Inspection:
    ds: Dataset

    def to_json(self) -> dict:
        ds = self.ds
        return {
            "name": ds.name,
            "num_classes": ds.num_classes,
            "input_shape": list(ds.input_shape),
            "splits": {s: {"size": len(getattr(ds, s)), "label_counts": ds.label_counts(s)} for s in ("train", "test")},
            "checksum": ds.checksum(),
            **({"details": ds.extras["inspect"]} if "inspect" in ds.extras else {}),
        }

    def tables(self) -> list[Table]:
        ds, splits = self.ds, self.to_json()["splits"]
        return [Table(f"{ds.name}: {ds.num_classes} classes, inputs {tuple(ds.input_shape)}, dtype {ds.train.inputs.dtype}",
                      ["split", "size", "smallest class", "largest class"],
                      [[s, str(v["size"]), str(min(v["label_counts"])), str(max(v["label_counts"]))]
                       for s, v in splits.items()])]

    def notes(self) -> list[str]:
        details = self.ds.extras.get("inspect", {})
        return [*(f"{key}: {value}" for key, value in details.items()), f"checksum {self.ds.checksum()}"]


def inspect_dataset(ds: Dataset) -> Inspection:
    return Inspection(ds)
