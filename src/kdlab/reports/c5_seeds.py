"""`c5_seeds`: P1 App. C.5 over data seeds x model seeds, under both readings of mu*.

C.5 runs in seconds, and one seed pair says little: the student-teacher gap changes sign between
seeds. This report takes the plan's teacher and student runs as templates and trains (or reuses)
one teacher/student pair per (reading, data seed, model seed) under <out>/runs/, then gives every
number as mean ± std over the grid beside P1's. The readings are the text's mu* ~ N(0, I_D)
(`unit_mu: false`) and Theorem 4.2's unit-norm mu* (`unit_mu: true`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from ..records import RunDir
from .base import REPORTS, Report, Table, runs_named
from .c5 import RULE_NAMES, RULES, pair_numbers
from .grid import pm, summarise, train_pairs

READINGS = {"text": False, "unit": True}  # reading -> data.unit_mu
READING_TITLES = {"text": "mu* ~ N(0, I) (the text)", "unit": "unit-norm mu* (Theorem 4.2)"}


def train_grid(teacher: RunDir, student: RunDir, out: Path, data_seeds: int, model_seeds: int) -> dict[str, list[dict]]:
    """The numbers of every pair, per reading."""
    numbers: dict[str, list[dict]] = {}
    grid = [(d, s) for d in range(data_seeds) for s in range(model_seeds)]
    for reading, unit_mu in READINGS.items():
        points = [(f"{reading}_d{d}_s{s}", [f"data.data_seed={d}", f"data.unit_mu={str(unit_mu).lower()}"], s)
                  for d, s in grid]
        numbers[reading] = [{"data_seed": d, "model_seed": s, **pair_numbers(te, st)}
                            for (te, st), (d, s) in zip(train_pairs(teacher, student, out, points), grid)]
    return numbers


@REPORTS.register("c5_seeds")
def c5_seeds(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", student: str = "student",
             data_seeds: Annotated[int, Field(ge=2)] = 5, model_seeds: Annotated[int, Field(ge=2)] = 5) -> Report:
    r = runs_named({"teacher": teacher, "student": student}, runs)
    numbers = train_grid(r["teacher"], r["student"], Path(out) / "runs", data_seeds, model_seeds)
    keys = ["teacher_train_acc", "teacher_test_acc", "student_train_acc", "student_test_acc", "test_gap",
            *(f"{rule}_{t}" for rule in RULES for t in ("onehot", "kd")), "logit_rule_kd", "classes_student_better_aligned"]
    stats = {reading: summarise(pairs, keys) for reading, pairs in numbers.items()}
    n = len(next(iter(numbers.values())))
    rows = [
        ["teacher train / test accuracy %", *(f"{pm(stats[x]['teacher_train_acc'])} / {pm(stats[x]['teacher_test_acc'])}"
                                              for x in READINGS), "high / high"],
        ["student train / test accuracy %", *(f"{pm(stats[x]['student_train_acc'])} / {pm(stats[x]['student_test_acc'])}"
                                              for x in READINGS), "high / high"],
        ["student - teacher test accuracy, points", *(pm(stats[x]["test_gap"]) for x in READINGS), "student better (+0.7)"],
        ["classes where the student is better aligned", *(pm(stats[x]["classes_student_better_aligned"], 1, 1) + " / 10"
                                                          for x in READINGS), "all (Fig 23 middle)"],
        *[[f"{RULE_NAMES[rule]} %, one-hot / KD",
           *(f"{pm(stats[x][f'{rule}_onehot'])} / {pm(stats[x][f'{rule}_kd'])}" for x in READINGS),
           "73.22 / 97.77" if rule == "sign_rule" else ""] for rule in RULES],
        [f"{RULE_NAMES['logit_rule']} %, KD", *(pm(stats[x]["logit_rule_kd"]) for x in READINGS), ""],
    ]
    table = Table(f"P1 App. C.5 over {data_seeds} data seeds x {model_seeds} model seeds ({n} pairs per reading), "
                  f"mean ± std. P1 states its one-hot counting rule, not its distillation one; its rule is capped "
                  f"near 40% for soft targets",
                  ["C.5", *(READING_TITLES[x] for x in READINGS), "P1"], rows)
    return Report("c5_seeds", tables=[table], data={"readings": {x: {"stats": stats[x], "pairs": numbers[x]} for x in READINGS}},
                  note=f"{2 * n * len(READINGS)} runs under {Path(out) / 'runs'}")
