"""Run a config into an output folder: train it, resume it, or reuse it when it already finished."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterable

from ..config import RunConfig
from ..records import RunDir, claim
from ..records.lock import RunLock
from ..records.rundir import teacher_identity
from .loop import EpochHook, pick_device, train
from .parallel import Ranks


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
    The run directory is locked for the whole call: a second process on it fails at once. Under
    torchrun, rank 0 holds the lock, decides new/resume/finished and logs; every rank trains."""
    ranks = Ranks.join(pick_device(cfg.train.device).type)
    if not ranks.writes:
        progress, log = False, _quiet
    with ExitStack() as held:

        def claim_run() -> tuple[dict | None, str]:
            held.enter_context(RunLock(Path(out) / cfg.name))
            identity = teacher_identity(cfg)  # hashes the teacher's weight files: once per call
            return identity, claim(cfg, out, identity)[1]

        identity, status = ranks.on_writer(claim_run)
        run = RunDir(Path(out) / cfg.name)
        if status == "finished":
            log(f"reusing finished run {run.root} (same resolved config)")
            return run, ranks.on_writer(run.summary)
        summary = train(cfg, run, progress=progress, hooks=hooks, log=log, teacher_identity=identity, **objects)
    log(f"trained {run.root} (test acc {100 * summary['test_acc']:.2f}%)")
    return run, summary


def _quiet(message: str) -> None:
    pass
