"""Run a config into an output folder: train it, resume it, or reuse it when it already finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from ..config import RunConfig
from ..records import RunDir, claim
from ..records.lock import RunLock
from ..records.rundir import teacher_identity
from .loop import EpochHook, train


def run_config(
    cfg: RunConfig,
    out: str | Path,
    *,
    progress: bool = True,
    hooks: Iterable[EpochHook] = (),
    log: Callable[[str], None] = print,
    **objects: Any,
) -> tuple[RunDir, dict]:
    """`objects` (model, data, teacher, losses) replace what the config names (see kdlab.fit).
    The run directory is locked for the whole call: a second process on it fails at once."""
    with RunLock(Path(out) / cfg.name):
        identity = teacher_identity(cfg)  # hashes the teacher's weight files: once per call
        run, status = claim(cfg, out, identity)
        if status == "finished":
            log(f"reusing finished run {run.root} (same resolved config)")
            return run, run.summary()
        summary = train(cfg, run, progress=progress, hooks=hooks, log=log, teacher_identity=identity, **objects)
    log(f"trained {run.root} (test acc {100 * summary['test_acc']:.2f}%)")
    return run, summary
