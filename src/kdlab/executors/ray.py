"""Train a plan's runs as tasks on a Ray cluster (extra `kdlab[ray]`).

    ray start --head                                   # or an existing cluster
    kdlab reproduce PLAN --executor ray --address auto # without --address: a local Ray for this plan

Each run is one Ray task asking for `cpus_per_run` CPUs, and for one GPU when the run trains on
CUDA (`train.device: cuda`, or `auto` on a cluster that has GPUs). A student's task takes its
teacher's task as an argument, so Ray starts it once the teacher has finished. A task trains
through the same `run_config` as the local executor: a finished run is reused, an interrupted one
resumes (a task Ray retries after a lost worker resumes too), and records land in <out>/<run>.

Requirement: every node sees the output folder, the data and the teachers at the same paths (a
shared filesystem). Tasks work in the driver's working directory, so relative paths in configs
mean what they mean on the driver.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable

from pydantic import PositiveInt

from ..config import ResolvedConfig
from ..errors import ConfigError, KdlabError, RunError
from ..records import Reuse
from ..train.parallel import launched_ranks
from .base import EXECUTORS
from .local import train_quietly


@EXECUTORS.register("ray")
def run_ray(cfgs: list[ResolvedConfig], teachers: dict[str, str | None], out: Path, reuse: Reuse, progress: bool,
            log: Callable[[str], None], address: str | None = None, cpus_per_run: PositiveInt = 1) -> dict[str, dict]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'kdlab[ray]'") from None
    if launched_ranks() > 1:
        raise ConfigError("--executor ray starts its own processes; run it once, not under torchrun")
    check_reachable(address)
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            where = f"at {address}" if address else "on this machine"
            raise RunError(f"could not start or reach a Ray cluster {where} ({str(e).splitlines()[0]}); check "
                           f"--address (e.g. auto, or ray://HEAD:10001), or leave it out for a local Ray") from None
    try:
        return _submit_and_collect(ray, cfgs, teachers, out, reuse, log, cpus_per_run)
    finally:
        if started_here:
            ray.shutdown()


def check_reachable(address: str | None) -> None:
    """Fail at once on a HOST:PORT nobody answers at: Ray itself keeps retrying such an address for minutes."""
    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address} is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise RunError(f"no Ray cluster answers at {address} ({e.strerror or type(e).__name__}); start one with "
                       f"`ray start --head` there, or leave out --address for a local Ray") from None


def _submit_and_collect(ray, cfgs: list[ResolvedConfig], teachers: dict[str, str | None], out: Path, reuse: Reuse,
                        log, cpus_per_run: int) -> dict[str, dict]:
    has_gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(_train_task)
    refs: dict[str, Any] = {}
    for cfg in cfgs:  # dependency order: a teacher's ref exists before its students'
        gpus = 1 if cfg.train.device == "cuda" or (cfg.train.device == "auto" and has_gpus) else 0
        teacher = teachers[cfg.name]
        refs[cfg.name] = task.options(num_cpus=cpus_per_run, num_gpus=gpus, name=f"kdlab {cfg.name}").remote(
            cfg.model_dump(mode="json"), str(out), reuse, os.getcwd(), refs[teacher] if teacher else None)
    run_of = {ref: name for name, ref in refs.items()}
    results: dict[str, dict] = {}
    pending = list(refs.values())
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            name = run_of[done[0]]
            try:
                outcome = ray.get(done[0])
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.OutOfMemoryError, ray.exceptions.TaskCancelledError) as e:
                raise RunError(f"the Ray task training '{name}' was lost ({type(e).__name__}); "
                               f"run the same command again to resume") from None
            if "error" in outcome:
                raise KdlabError(f"run '{name}': {outcome['error']}")
            for m in outcome["messages"]:
                log(m)
            results[name] = {"run": outcome["run"], **outcome["summary"]}
    finally:
        for ref in pending:  # an error stops the plan: nothing more starts
            ray.cancel(ref)
    return {c.name: results[c.name] for c in cfgs}


def _train_task(cfg_json: dict, out: str, reuse: Reuse, cwd: str, teacher: dict | None) -> dict:
    """One run, in a Ray worker. `teacher` is the teacher task's outcome: Ray passes it once that
    task has finished, which is what orders the runs. A user mistake comes back as {"error": line}."""
    if teacher is not None and "error" in teacher:
        return {"error": "its teacher failed"}
    try:
        os.chdir(cwd)
    except OSError:
        return {"error": f"this node has no folder {cwd} (the driver's working directory); "
                         f"--executor ray needs a filesystem shared by all nodes at the same paths"}
    try:
        run, summary, messages = train_quietly(cfg_json, out, reuse)
    except KdlabError as e:
        return {"error": str(e)}
    return {"run": run, "summary": summary, "messages": messages}
