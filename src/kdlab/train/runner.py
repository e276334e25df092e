"""Run a config into an output folder: train it, resume it, reuse it when it already finished with
the same identity, or train it anew (kdlab.records.identity says which)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterable

from ..config import Given, ResolvedConfig
from ..records import OutDir, Reuse, RunDir, Summary, claim, teacher_identity
from ..records.lock import RunLock
from .loop import EpochHook, pick_device, train
from .parallel import Ranks


def run_config(
    cfg: ResolvedConfig,
    out: str | Path,
    *,
    given: Given = Given(),
    reuse: Reuse = "if_same",
    progress: bool = True,
    hooks: Iterable[EpochHook] = (),
    log: Callable[[str], None] = print,
) -> tuple[RunDir, Summary]:
    """Train `cfg` into <out>/<cfg.name>. `given` holds the user's objects (kdlab.fit); `reuse` is
    'if_same' (reuse a finished run of the same identity, resume an interrupted one) or 'never'
    (train anew). A relative teacher.run is looked up in `out` first, then from the working directory.
    The run directory is locked for the whole call: a second process on it fails at once. Under
    torchrun, rank 0 holds the lock, decides and logs; every rank trains."""
    ranks = Ranks.join(pick_device(cfg.train.device).type)
    if not ranks.writes:
        progress, log = False, _quiet
    folder = OutDir(out)
    run = folder.run(cfg.name)
    with ExitStack() as held:

        def claim_run():
            held.enter_context(RunLock(run.root))
            reads_run = cfg.weighting.uses_teacher and given.teacher is None and cfg.teacher is not None \
                and cfg.teacher.run is not None
            teacher_run = folder.find(cfg.teacher.run) if reads_run else None
            identity = teacher_identity(teacher_run, cfg.teacher) if teacher_run is not None else None  # hashes its weights once
            decision = claim(run, cfg, identity, reuse)
            if decision.status == "anew":
                run.clear()
            return teacher_run, identity, decision

        teacher_run, identity, decision = ranks.on_writer(claim_run)
        if decision.note:
            log(decision.note)
        if decision.status == "finished":
            log(f"reusing finished run {run.root} (same config and code)")
            return run, ranks.on_writer(run.summary)
        summary = train(cfg, run, given=given, teacher_run=teacher_run, teacher=identity, progress=progress,
                        hooks=hooks, log=log, out=folder)
    log(f"trained {run.root} (test acc {100 * summary.test_acc:.2f}%)")
    return run, summary


def _quiet(message: str) -> None:
    pass
