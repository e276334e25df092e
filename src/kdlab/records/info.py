"""The two typed records of a run: `RunInfo` (run.json, written once at the start) and `Summary`
(summary.json, written last: it marks a finished run). RunDir reads and writes both; nothing else
reads them by key."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ..losses.weighting import Weighting
from ..tables import Table, percent


class Record(BaseModel):
    # Records written by other kdlab versions may hold more or fewer fields: read what is known.
    model_config = ConfigDict(extra="ignore")


class TeacherIdentity(Record):
    """What a student's result depends on in its teacher run: the teacher's config hash and a digest
    of the weight files the student reads (the chosen checkpoint, or every one up to it when online)."""

    config_hash: str | None = None
    weights_sha256: str


class RunInfo(Record):
    """What a run started with, and what readers need without the code that made it."""

    config_hash: str = ""
    code_version: str = ""  # kdlab's version and git commit (kdlab.io.code_version)
    # Digests of the code behind the run that is not kdlab's, by piece (kdlab.sources)
    code: dict[str, str | None] = {}
    torch: str = ""
    torch_threads: int | None = None  # CPU results are bit-identical for the same count, not across counts
    python: str = ""
    processes: int = 1  # under torchrun: the process count a resume must match
    model: str = ""
    num_classes: int
    input_shape: list[int]
    num_parameters: int = 0
    dataset: str | None = None
    transforms: list[dict[str, Any]] = []
    tokenizer_id: str | None = None
    objective: Weighting | None = None  # its terms, weights and switch: what the run's loss means
    teacher_run: str | None = None  # the teacher as resolved at the start (absolute); None without one
    teacher_identity: TeacherIdentity | None = None
    steps_per_epoch: int | None = None
    epochs: int | None = None  # epochs begun in all (the last of a `train.steps` run may be partial)
    steps: int | None = None
    precision: str = "fp32"
    compile: bool = False

    @property
    def distilled(self) -> bool:
        """Whether a term that reads the teacher weighs at some step (earlier records: whether a teacher was used)."""
        return self.objective.uses_teacher if self.objective is not None else self.teacher_run is not None


class Summary(Record):
    name: str
    seed: int = 0
    model: str = ""
    dataset: str = ""
    epochs: int = 0
    steps: int = 0
    train_seconds: float = 0.0
    num_parameters: int = 0
    config_hash: str = ""
    code_version: str = ""
    device: str = ""
    label_noise: float = 0.0
    noisy_train_samples: int = 0
    train_acc: float  # against the labels it trained on (noisy where noise was injected)
    test_acc: float
    train_acc_orig_labels: float | None = None  # against the labels before noise
    probes: dict[str, dict[str, Any]] = {}  # each probe's own numbers (kdlab.probes)

    def table(self) -> Table:
        rows = [["train", percent(self.train_acc)]]
        if self.label_noise and self.train_acc_orig_labels is not None:
            rows.append(["train (original labels)", percent(self.train_acc_orig_labels)])
        rows.append(["test", percent(self.test_acc)])
        return Table(f"{self.name}: {self.model} on {self.dataset}", ["", "accuracy %"], rows)
