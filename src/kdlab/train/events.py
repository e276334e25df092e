"""TensorBoard event files: each epoch's metrics row as scalars under <run>/tb/ (`record.tensorboard`).

Tags: `loss/<term>` (and a term's own numbers, e.g. `loss/kl`), `weight/<term>`,
`accuracy/train_augmented`, `accuracy/test`, `lr`, and any probe numbers under `probe/`; the step
is the global optimisation step. A resumed run purges the events past its checkpoint, so the files
hold one trajectory. Without the `tensorboard` package (kdlab[tensorboard]) nothing is written and
the run says so once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

SKIP = {"epoch", "step", "seconds", "recorded_step", "teacher_epoch"}


NAMED = {"train_acc_augmented": "accuracy/train_augmented", "test_acc": "accuracy/test", "lr": "lr"}


def tag(key: str) -> str:
    if key in NAMED:
        return NAMED[key]
    for prefix, group in (("train_", "loss/"), ("w_", "weight/")):
        if key.startswith(prefix):
            return group + key.removeprefix(prefix)
    return "probe/" + key


class EventWriter:
    def __init__(self, folder: Path, resume_step: int, enabled: bool, log: Callable[[str], None]):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log("note: record.tensorboard is on but the tensorboard package is missing "
                "(pip install kdlab[tensorboard]); no event files are written")
            return
        # purge_step drops the events written after the checkpoint a resume starts from (the
        # checkpoint's own row, at resume_step, was written before it and stays)
        self.writer = SummaryWriter(str(folder), purge_step=resume_step + 1 if resume_step else None)

    def add(self, row: dict) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if key not in SKIP and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag(key), value, row["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
