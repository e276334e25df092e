"""`c4_seeds`: P1 App. C.4's counts over several teacher/student seed pairs, mean ± spread.

The plan's teacher and student runs are the templates; model seed s trains a teacher with seed s and
its student (kdlab.reports.grid). The random-features recipes fix `feature_seed`, so teacher and
student share the features whose eigendirections are projected on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from ..records import RunDir
from .base import REPORTS, Report, Table, runs_named
from .c4 import c4_numbers
from .grid import pm, summarise, train_pairs

COUNTS = {"sooner": "student reaches 90% of the teacher's final top value sooner (headline)",
          "more_convex": "student's trajectory bows more toward the top direction",
          "own_sooner": "secondary: 90% of its own final top value sooner",
          "own_sooner_bottom": "secondary: the same along the bottom direction"}


@REPORTS.register("c4_seeds")
def c4_seeds(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", student: str = "student",
             seed_pairs: Annotated[int, Field(ge=2)] = 5, pairs: int = 15,
             measure: Literal["displacement", "raw"] = "displacement") -> Report:
    r = runs_named({"teacher": teacher, "student": student}, runs)
    points = [(f"s{s}", [], s) for s in range(seed_pairs)]
    per_seed = [{"model_seed": s, **c4_numbers(te, st, pairs=pairs, seed=s, measure=measure)}
                for s, (te, st) in enumerate(train_pairs(r["teacher"], r["student"], Path(out) / "runs", points))]
    stats = summarise(per_seed, [*COUNTS, "num_pairs", "teacher_test_acc", "student_test_acc"])
    n = per_seed[0]["num_pairs"]
    rows = [[label, f"{pm(stats[k], 1, 1)} / {n}", f"{int(stats[k]['min'])}-{int(stats[k]['max'])}",
             "15/15 linear, 13/15 MLP" if k == "sooner" else ""] for k, label in COUNTS.items()]
    rows.append(["test accuracy % teacher / student", f"{pm(stats['teacher_test_acc'])} / {pm(stats['student_test_acc'])}", "", ""])
    table = Table(f"P1 App. C.4 over {seed_pairs} seed pairs ({measure}), mean ± std of the pair counts",
                  ["C.4", "pairs (mean ± std)", "range", "P1"], rows)
    return Report("c4_seeds", tables=[table], data={"stats": stats, "seeds": per_seed})
