"""The embedded default experiment: teacher, one-hot student and KD student on noisy digits."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .config import RunConfig, load_config
from .train.runner import run_config

ROLES = ("teacher", "student_onehot", "student_kd")


def demo_configs(out: Path, seed: int, overrides: list[str] = ()) -> dict[str, RunConfig]:
    """The three configs; the teacher uses `seed`, the students `seed + 1` (a fresh initialisation)."""
    folder = resources.files("kdlab") / "recipes" / "demo"
    cfgs = {}
    for role in ROLES:
        extra = [f"seed={seed if role == 'teacher' else seed + 1}"]
        if role == "student_kd":
            extra.append(f"teacher.run={out / 'teacher'}")
        with resources.as_file(folder / f"{role}.yaml") as path:
            cfgs[role] = load_config(path, [*overrides, *extra])
    return cfgs


def run_demo(out: Path, seed: int = 0, overrides: list[str] = (), progress: bool = True, log=print) -> dict:
    cfgs = demo_configs(out, seed, overrides)
    results = {}
    for role, cfg in cfgs.items():
        run, summary = run_config(cfg, out, progress=progress, log=log)
        results[role] = {"run": str(run.root), **summary}
    return results
