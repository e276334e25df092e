"""P1 App. C.4 report: does the student exaggerate the teacher's bias toward top eigendirections?

From the `eigen_projections` probe of both runs: 15 random pairs (a top direction among the first
15, a bottom one among indices 20-60), the 2-D trajectories (||W v_top||, ||W v_bottom||), and two
counts. `faster`: the student reaches 90% of its final top-direction value (measured from its
start) in a smaller fraction of training than the teacher does. `exaggerated`: the student's bias,
the mean over training of (progress along top - progress along bottom), exceeds the teacher's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import figure_grid, save_figure
from ..records import RunDir
from .base import REPORTS, Report, Table, runs_named


def progress(p: np.ndarray) -> np.ndarray:
    """Fraction of the way from the start to the final value, per step."""
    span = p[-1] - p[0]
    return (p - p[0]) / span if abs(span) > 1e-12 else np.ones_like(p)


def time_to(r: np.ndarray, level: float) -> float:
    """Fraction of training until progress first reaches `level`."""
    hit = np.nonzero(r >= level)[0]
    return float(hit[0] / (len(r) - 1)) if len(hit) else 1.0


def pair_stats(traj: np.ndarray, i: int, j: int, level: float) -> dict:
    top, bottom = progress(traj[:, i]), progress(traj[:, j])
    return {"time_top": time_to(top, level), "bias": float(np.mean(top - bottom))}


@REPORTS.register("c4")
def c4_report(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", student: str = "student", pairs: int = 15,
              top: int = 15, bottom: list[int] = (20, 60), level: float = 0.9, seed: int = 0) -> Report:
    r = runs_named({"teacher": teacher, "student": student}, runs)
    traj = {}
    for role, rd in r.items():
        traj[role] = rd.probe_array("eigen_projections", "projections")
    count = traj["teacher"].shape[1]
    b0, b1 = bottom[0], min(bottom[1], count)
    rng = np.random.default_rng(seed)
    chosen = [(int(rng.integers(0, top)), int(rng.integers(b0, b1))) for _ in range(pairs)]
    rows, faster, exaggerated = [], 0, 0
    fig, axes = figure_grid(pairs, cols=5, size=2.6)
    for ax, (i, j) in zip(axes, chosen):
        te, st = pair_stats(traj["teacher"], i, j, level), pair_stats(traj["student"], i, j, level)
        faster += st["time_top"] < te["time_top"]
        exaggerated += st["bias"] > te["bias"]
        rows.append({"top": i, "bottom": j, "teacher": te, "student": st})
        for role, color in (("teacher", "tab:blue"), ("student", "tab:orange")):
            t = traj[role]
            ax.plot(t[:, i], t[:, j], color=color, lw=1, label=role)
            ax.plot(t[-1, i], t[-1, j], "*", color=color, ms=10)
        ax.set_title(f"v{i} vs v{j}", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.suptitle(r"trajectories of $\|(W_t - W_0) v\|$: top direction (x) vs bottom direction (y); $\star$ = final", fontsize=9)
    figure = save_figure(fig, Path(out) / "c4_eigen_trajectories.png")
    data = {
        "pairs": rows, "faster": int(faster), "exaggerated": int(exaggerated), "num_pairs": pairs,
        "teacher_test_acc": r["teacher"].summary()["test_acc"], "student_test_acc": r["student"].summary()["test_acc"],
    }
    table = Table("P1 App. C.4: eigen-trajectories of teacher and student", ["C.4", "count", "P1"], [[f"pairs where the student reaches {int(level * 100)}% of its final top value sooner", f"{faster}/{pairs}", "15/15 linear, 13/15 MLP"],
                  ["pairs where the student's top-vs-bottom bias is larger", f"{exaggerated}/{pairs}", ""],
                  ["test accuracy % teacher / student",
                   f"{100 * r['teacher'].summary()['test_acc']:.2f} / {100 * r['student'].summary()['test_acc']:.2f}", ""]],
                  [figure])
    return Report("c4", tables=[table], data=data)
