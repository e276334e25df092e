"""P1 App. C.4: does the student exaggerate the teacher's bias toward top eigendirections?

From the `eigen_projections` probe of both runs: 15 pairs of a top direction (drawn without
replacement from 0-14) and a bottom one (without replacement from 20-60, capped at the rank of the
Gram matrix: directions past it are null directions of the data), and the 2-D trajectories.

The counts, as P1 words them:
- `sooner` (the headline): the student reaches 90% of the *teacher's* final top-direction value in a
  smaller fraction of training than the teacher does ("the student converges faster towards the
  final X value of the teacher than the rate at which teacher gets there").
- `more_convex`: the trajectory bows further toward the top direction than the teacher's. The bow is
  the signed area between the trajectory and the straight start->final line, in coordinates where
  each axis runs from 0 (start) to 1 (final value): positive when the top direction leads (P1's
  footnote: "the trajectory takes a convex shape").
Secondary, with a caveat (they never compare against the teacher's values): `own_sooner`, the
student reaching 90% of its *own* final top value sooner, and `own_sooner_bottom`, the same along
the bottom direction. A metric that says "sooner" on both axes says little about a bias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import RunError
from ..plotting import STUDENT, TEACHER, figure_grid, save_figure
from ..records import RunDir
from .base import REPORTS, Report, Table, runs_named

MEASURES = {"displacement": "projections", "raw": "raw_projections"}  # probe arrays


def progress(p: np.ndarray) -> np.ndarray:
    """Fraction of the way from the start to the final value, per step."""
    span = p[-1] - p[0]
    return (p - p[0]) / span if abs(span) > 1e-12 else np.ones_like(p)


def time_to(p: np.ndarray, value: float) -> float:
    """Fraction of training until p first reaches `value` (1.0 if it never does)."""
    hit = np.nonzero(p >= value)[0]
    return float(hit[0] / (len(p) - 1)) if len(hit) else 1.0


def bow(top: np.ndarray, bottom: np.ndarray) -> float:
    """Signed area between the normalised trajectory (top, bottom) and the diagonal from (0, 0) to
    (1, 1); positive when the top direction leads. Shoelace over the curve closed by the diagonal
    (the diagonal itself adds nothing: its points are on a line through the origin)."""
    u, v = progress(top), progress(bottom)
    return float(0.5 * np.sum(u[:-1] * v[1:] - u[1:] * v[:-1]))


def choose_pairs(rng: np.random.Generator, pairs: int, top: int, bottom: tuple[int, int], rank: int) -> list[tuple[int, int]]:
    tops = np.arange(min(top, rank))
    bottoms = np.arange(bottom[0], min(bottom[1] + 1, rank))
    n = min(pairs, len(tops), len(bottoms))
    if n == 0:
        raise RunError(f"no bottom directions in {list(bottom)} below the Gram matrix's rank {rank}")
    return list(zip(rng.choice(tops, n, replace=False).tolist(), rng.choice(bottoms, n, replace=False).tolist()))


def gram_rank(eigenvalues: np.ndarray) -> int:
    return int(np.sum(eigenvalues > 1e-9 * eigenvalues.max())) if len(eigenvalues) else 0


def c4_numbers(teacher: RunDir, student: RunDir, pairs: int = 15, top: int = 15, bottom=(20, 60), level: float = 0.9,
               seed: int = 0, measure: str = "displacement") -> dict:
    traj = {role: rd.probe_array("eigen_projections", MEASURES[measure]) for role, rd in
            (("teacher", teacher), ("student", student))}
    eig = teacher.probe_array("eigen_projections", "eigenvalues")
    rank = gram_rank(eig)
    chosen = choose_pairs(np.random.default_rng(seed), pairs, top, tuple(bottom), rank)
    te, st = traj["teacher"], traj["student"]
    rows = []
    for i, j in chosen:
        target = level * te[-1, i]
        rows.append({
            "top": i, "bottom": j,
            "sooner": time_to(st[:, i], target) < time_to(te[:, i], target),
            "more_convex": bow(st[:, i], st[:, j]) > bow(te[:, i], te[:, j]),
            "bow": {"teacher": bow(te[:, i], te[:, j]), "student": bow(st[:, i], st[:, j])},
            "own_sooner": time_to(progress(st[:, i]), level) < time_to(progress(te[:, i]), level),
            "own_sooner_bottom": time_to(progress(st[:, j]), level) < time_to(progress(te[:, j]), level),
        })
    counts = {k: int(sum(r[k] for r in rows)) for k in ("sooner", "more_convex", "own_sooner", "own_sooner_bottom")}
    return {"pairs": rows, "num_pairs": len(rows), "rank": rank, "measure": measure, **counts,
            "teacher_test_acc": teacher.summary().test_acc, "student_test_acc": student.summary().test_acc}


@REPORTS.register("c4")
def c4_report(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", student: str = "student", pairs: int = 15,
              top: int = 15, bottom: list[int] = (20, 60), level: float = 0.9, seed: int = 0,
              measure: Literal["displacement", "raw"] = "displacement") -> Report:
    r = runs_named({"teacher": teacher, "student": student}, runs)
    data = c4_numbers(r["teacher"], r["student"], pairs, top, bottom, level, seed, measure)
    traj = {role: rd.probe_array("eigen_projections", MEASURES[measure]) for role, rd in r.items()}
    n = data["num_pairs"]
    fig, axes = figure_grid(n, cols=5, size=2.6)
    for ax, row in zip(axes, data["pairs"]):
        i, j = row["top"], row["bottom"]
        for role, color in (("teacher", TEACHER), ("student", STUDENT)):
            t = traj[role]
            ax.plot(t[:, i], t[:, j], color=color, lw=1, label=role)
            ax.plot(t[-1, i], t[-1, j], "*", color=color, ms=10)
        ax.set_title(f"v{i} vs v{j}", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    shown = r"\|(W_t - W_0) v\|" if measure == "displacement" else r"\|W_t v\|"
    fig.suptitle(rf"trajectories of ${shown}$: top direction (x) vs bottom direction (y); $\star$ = final", fontsize=9)
    figure = save_figure(fig, Path(out) / "c4_eigen_trajectories.png")
    pct = int(level * 100)
    table = Table(f"P1 App. C.4: eigen-trajectories of teacher and student ({measure}; Gram rank {data['rank']})",
                  ["C.4", "pairs", "P1"], [
                      [f"student reaches {pct}% of the teacher's final top value sooner (headline)", f"{data['sooner']}/{n}",
                       "15/15 linear, 13/15 MLP"],
                      ["student's trajectory bows more toward the top direction", f"{data['more_convex']}/{n}", ""],
                      [f"secondary: student reaches {pct}% of its own final top value sooner", f"{data['own_sooner']}/{n}", ""],
                      ["secondary: the same along the bottom direction (should not be all)", f"{data['own_sooner_bottom']}/{n}", ""],
                      ["test accuracy % teacher / student",
                       f"{100 * data['teacher_test_acc']:.2f} / {100 * data['student_test_acc']:.2f}", ""]],
                  [figure])
    return Report("c4", tables=[table], data=data)
