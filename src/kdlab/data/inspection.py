"""What `kdlab data inspect` reports about a dataset: classes, input shape, split sizes and label
counts, the content checksum, and a loader's own details (e.g. a text set's tokenizer)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..tables import Table
from .base import Dataset


@dataclass
class Inspection:
    ds: Dataset

    @cached_property
    def _report(self) -> dict:
        """Computed once: the checksum hashes every sample, and the table and notes read it too."""
        ds = self.ds
        return {
            "name": ds.name,
            "num_classes": ds.num_classes,
            "input_shape": list(ds.input_shape),
            "splits": {s: {"size": len(getattr(ds, s)), "label_counts": ds.label_counts(s)} for s in ("train", "test")},
            "checksum": ds.checksum(),
            **({"details": ds.extras["inspect"]} if "inspect" in ds.extras else {}),
        }

    def to_json(self) -> dict:
        return self._report

    def tables(self) -> list[Table]:
        ds = self.ds
        return [Table(f"{ds.name}: {ds.num_classes} classes, inputs {tuple(ds.input_shape)}, dtype {ds.train.inputs.dtype}",
                      ["split", "size", "smallest class", "largest class"],
                      [[s, str(v["size"]), str(min(v["label_counts"])), str(max(v["label_counts"]))]
                       for s, v in self._report["splits"].items()])]

    def notes(self) -> list[str]:
        details = self._report.get("details", {})
        return [*(f"{key}: {value}" for key, value in details.items()), f"checksum {self._report['checksum']}"]


def inspect_dataset(ds: Dataset) -> Inspection:
    return Inspection(ds)
