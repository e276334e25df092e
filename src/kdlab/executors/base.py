"""The executors' registry and what they share."""


from __future__ import annotations

from pathlib import Path

from ..config import RunConfig, uses_teacher
from ..registry import Registry

EXECUTORS = Registry("executor", context=("cfgs", "out", "progress", "log"), package="kdlab.executors")


def teacher_in_plan(cfg: RunConfig, out: Path, names: set[str]) -> str | None:
    """The plan run this run distils from (it must finish first), or None."""
    if cfg.teacher is None or cfg.teacher.run is None or not uses_teacher(cfg.loss):
        return None
    path = Path(cfg.teacher.run)
    return path.name if path.parent == out and path.name in names else None
