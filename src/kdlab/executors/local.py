"""Train a plan's runs on this machine: in this process, or in `jobs` worker processes."""

from __future__ import annotations

import os
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from pydantic import PositiveInt

from ..config import ResolvedConfig, RunConfig, check
from ..errors import ConfigError, KdlabError, RunError
from ..records import Reuse
from ..train.parallel import launched_ranks
from ..train.runner import run_config
from .base import EXECUTORS


@EXECUTORS.register("local")
def run_local(cfgs: list[ResolvedConfig], teachers: dict[str, str | None], out: Path, reuse: Reuse, progress: bool,
              log: Callable[[str], None], jobs: PositiveInt = 1) -> dict[str, dict]:
    if jobs <= 1:
        results = {}
        for cfg in cfgs:
            with naming(cfg.name):
                run, summary = run_config(cfg, out, reuse=reuse, progress=progress, log=log)
            results[cfg.name] = {"run": str(run.root), **summary.model_dump(mode="json")}
        return results
    if launched_ranks() > 1:
        raise ConfigError("--jobs runs runs in worker processes, which torchrun's processes cannot share; "
                          "under torchrun train a plan's runs one after another (no --jobs)")
    # Independent runs in parallel processes; a student starts once its teacher has finished.
    todo = {c.name: c for c in cfgs}
    results: dict[str, dict] = {}
    jobs = min(jobs, len(cfgs))  # no more worker processes than runs
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(threads,)) as pool:
        running: dict = {}
        while todo or running:
            for name in [n for n in todo if teachers[n] is None or teachers[n] in results]:
                running[pool.submit(train_quietly, todo.pop(name).model_dump(mode="json"), str(out), reuse)] = name
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                name = running.pop(fut)
                try:
                    with naming(name):
                        run_root, summary, messages = fut.result()  # a worker's KdlabError is raised here
                except BrokenProcessPool:
                    raise RunError(f"a worker process died while training '{name}' (killed, or out of memory); "
                                   f"run the same command again to resume") from None
                for m in messages:
                    log(m)
                results[name] = {"run": run_root, **summary}
    return {c.name: results[c.name] for c in cfgs}


@contextmanager
def naming(run: str):
    """A user mistake or a full disk while training a plan's run: the one line names the run too."""
    try:
        yield
    except KdlabError as e:
        raise type(e)(f"run '{run}': {e}") from None


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def train_quietly(cfg_json: dict, out: str, reuse: Reuse = "if_same") -> tuple[str, dict, list[str]]:
    """Train one run from its resolved config as JSON (what crosses a process boundary); returns the
    run's folder, its summary and the messages it would have printed."""
    messages: list[str] = []
    cfg = check(RunConfig.model_validate(cfg_json))
    run, summary = run_config(cfg, out, reuse=reuse, progress=False, log=messages.append)
    return str(run.root), summary.model_dump(mode="json"), messages
