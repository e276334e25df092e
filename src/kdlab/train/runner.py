"""Run a config into an output folder: train it, resume it, or reuse it when it already finished."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from ..config import RunConfig
from .loop import EpochHook, train
from .rundir import RunDir, claim


def run_config(
    cfg: RunConfig,
    out: str | Path,
    *,
    progress: bool = True,
    hooks: Iterable[EpochHook] = (),
    log: Callable[[str], None] = print,
) -> tuple[RunDir, dict]:
    run, status = claim(cfg, out)
    if status == "finished":
        log(f"reusing finished run {run.root} (same resolved config)")
        return run, run.summary()
    summary = train(cfg, run, progress=progress, hooks=hooks, log=log)
    log(f"trained {run.root} (test acc {100 * summary['test_acc']:.2f}%)")
    return run, summary
