"""Seed studies: a plan's teacher and student runs as templates, trained again over a grid.

Used by the reports that give a claim as mean ± spread over seeds (`c4_seeds`, `c5_seeds`). Each
grid point trains (or reuses: same config, same teacher) one teacher and its student under <out>.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config import ResolvedConfig, check, deep_merge, parse_override, validate
from ..records import RunDir
from ..train.runner import run_config


def variant(template: RunDir, name: str, overrides: list[str], teacher: str | None = None) -> ResolvedConfig:
    """The template run's config with `overrides` (key=value), under another name (and teacher: a
    run's name in the same output folder)."""
    raw = template.config().model_dump(mode="json")
    for o in overrides:
        raw = deep_merge(raw, parse_override(o))
    raw["name"] = name
    if teacher is not None:
        raw["teacher"]["run"] = teacher
    return check(validate(raw))


def train_pairs(teacher: RunDir, student: RunDir, out: Path, points: list[tuple[str, list[str], int]]
                ) -> list[tuple[RunDir, RunDir]]:
    """For each (tag, overrides, model seed s): a teacher with seed s and its student with seed s plus
    the templates' seed difference, so that every pair starts from fresh initialisations."""
    offset = student.config().seed - teacher.config().seed
    done = []
    for tag, overrides, s in points:
        te, _ = run_config(variant(teacher, f"{tag}_teacher", [*overrides, f"seed={s}"]), out,
                           progress=False, log=lambda m: None)
        st, _ = run_config(variant(student, f"{tag}_student", [*overrides, f"seed={s + offset}"], te.root.name), out,
                           progress=False, log=lambda m: None)
        done.append((te, st))
    return done


def stats(values: list[float | None]) -> dict[str, float] | None:
    vals = np.array([v for v in values if v is not None], dtype=float)
    if not len(vals):
        return None
    return {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "min": float(vals.min()), "max": float(vals.max())}


def pm(s: dict | None, scale: float = 100.0, digits: int = 2) -> str:
    return "-" if s is None else f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"


def summarise(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, dict | None]:
    return {k: stats([r.get(k) for r in rows]) for k in keys}
