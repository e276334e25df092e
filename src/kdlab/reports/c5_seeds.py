"""`c5_seeds`: P1 App. C.5 over data seeds x model seeds, under both readings of mu*.

C.5 runs in seconds, and one seed pair says little: the student-teacher gap changes sign between
seeds. This report takes the plan's teacher and student runs as templates and trains (or reuses)
one teacher/student pair per (reading, data seed, model seed) under <out>/runs/, then gives every
number as mean ± std over the grid beside P1's. The readings are the text's mu* ~ N(0, I_D)
(`unit_mu: false`) and Theorem 4.2's unit-norm mu* (`unit_mu: true`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Callable

import numpy as np
from pydantic import Field

from ..config import resolve
from ..records import RunDir
from ..train.runner import run_config
from .base import REPORTS, Report, Table, runs_named
from .c5 import RULE_NAMES, RULES, pair_numbers

READINGS = {"text": False, "unit": True}  # reading -> data.unit_mu
READING_TITLES = {"text": "mu* ~ N(0, I) (the text)", "unit": "unit-norm mu* (Theorem 4.2)"}


def _grid_config(template: RunDir, name: str, seed: int, data_seed: int, unit_mu: bool, teacher: Path | None):
    raw = template.config().model_dump(mode="json")
    raw.update(name=name, seed=seed)
    raw["data"].update(data_seed=data_seed, unit_mu=unit_mu)
    if teacher is not None:
        raw["teacher"]["run"] = str(teacher)
    return resolve(raw)


def train_grid(teacher: RunDir, student: RunDir, out: Path, data_seeds: int, model_seeds: int,
               log: Callable[[str], None] = lambda s: None) -> dict[str, list[dict]]:
    """The numbers of every pair, per reading. Model seed s trains the teacher with seed s and the
    student with seed s + (the templates' seed difference), so each pair is a fresh initialisation."""
    offset = student.config().seed - teacher.config().seed
    numbers: dict[str, list[dict]] = {}
    for reading, unit_mu in READINGS.items():
        numbers[reading] = []
        for d in range(data_seeds):
            for s in range(model_seeds):
                tag = f"{reading}_d{d}_s{s}"
                te, _ = run_config(_grid_config(teacher, f"{tag}_teacher", s, d, unit_mu, None), out,
                                   progress=False, log=log)
                st, _ = run_config(_grid_config(student, f"{tag}_student", s + offset, d, unit_mu, te.root), out,
                                   progress=False, log=log)
                numbers[reading].append({"data_seed": d, "model_seed": s, **pair_numbers(te, st)})
    return numbers


def _stats(values: list[float | None]) -> dict | None:
    vals = np.array([v for v in values if v is not None], dtype=float)
    return None if not len(vals) else {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0}


def _pm(s: dict | None, scale: float = 100.0, digits: int = 2) -> str:
    return "-" if s is None else f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"


@REPORTS.register("c5_seeds")
def c5_seeds(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", student: str = "student",
             data_seeds: Annotated[int, Field(ge=2)] = 5, model_seeds: Annotated[int, Field(ge=2)] = 5) -> Report:
    r = runs_named({"teacher": teacher, "student": student}, runs)
    numbers = train_grid(r["teacher"], r["student"], Path(out) / "runs", data_seeds, model_seeds)
    keys = ["teacher_train_acc", "teacher_test_acc", "student_train_acc", "student_test_acc", "test_gap",
            *(f"{rule}_{t}" for rule in RULES for t in ("onehot", "kd")), "logit_rule_kd", "classes_student_better_aligned"]
    stats = {reading: {k: _stats([p[k] for p in pairs]) for k in keys} for reading, pairs in numbers.items()}
    n = len(next(iter(numbers.values())))
    rows = [
        ["teacher train / test accuracy %", *(f"{_pm(stats[x]['teacher_train_acc'])} / {_pm(stats[x]['teacher_test_acc'])}"
                                              for x in READINGS), "high / high"],
        ["student train / test accuracy %", *(f"{_pm(stats[x]['student_train_acc'])} / {_pm(stats[x]['student_test_acc'])}"
                                              for x in READINGS), "high / high"],
        ["student - teacher test accuracy, points", *(_pm(stats[x]["test_gap"]) for x in READINGS), "student better (+0.7)"],
        ["classes where the student is better aligned", *(_pm(stats[x]["classes_student_better_aligned"], 1, 1) + " / 10"
                                                          for x in READINGS), "all (Fig 23 middle)"],
        *[[f"{RULE_NAMES[rule]} %, one-hot / KD",
           *(f"{_pm(stats[x][f'{rule}_onehot'])} / {_pm(stats[x][f'{rule}_kd'])}" for x in READINGS),
           "73.22 / 97.77" if rule == "sign_rule" else ""] for rule in RULES],
        [f"{RULE_NAMES['logit_rule']} %, KD", *(_pm(stats[x]["logit_rule_kd"]) for x in READINGS), ""],
    ]
    table = Table(f"P1 App. C.5 over {data_seeds} data seeds x {model_seeds} model seeds ({n} pairs per reading), "
                  f"mean ± std. P1 states its one-hot counting rule, not its distillation one; its rule is capped "
                  f"near 40% for soft targets",
                  ["C.5", *(READING_TITLES[x] for x in READINGS), "P1"], rows)
    return Report("c5_seeds", tables=[table], data={"readings": {x: {"stats": stats[x], "pairs": numbers[x]} for x in READINGS}},
                  note=f"{2 * n * len(READINGS)} runs under {Path(out) / 'runs'}")
