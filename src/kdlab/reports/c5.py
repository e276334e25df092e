"""P1 App. C.5 report: teacher and self-distilled student on `synthetic-channels`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis import analyze_runs
from ..analysis.figures import plot_main
from ..io import read_jsonl
from ..plotting import plt, save_figure
from ..records import RunDir
from .base import REPORTS, Report, Table, runs_named

FRACTIONS = ("constructive_onehot", "constructive_kd", "sign_rule_onehot", "sign_rule_kd")


def mean_over_steps(rows: list[dict], key: str) -> float | None:
    """Each metrics row holds the mean over its epoch's steps; epochs have equal step counts."""
    vals = [r[key] for r in rows if key in r]
    return float(np.mean(vals)) if vals else None


@REPORTS.register("c5")
def c5_report(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", student: str = "student") -> Report:
    r = runs_named({"teacher": teacher, "student": student}, runs)
    summary = {role: rd.summary() for role, rd in r.items()}
    metrics = {role: read_jsonl(rd.metrics_path) for role, rd in r.items()}
    cos = {role: np.array(rd.probe_summary("channel_alignment")["channel_cos"]) for role, rd in r.items()}
    fractions = {role: {k: mean_over_steps(metrics[role], k) for k in FRACTIONS} for role in r}

    figures = Path(out)
    k = len(cos["teacher"])
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    ax.bar(np.arange(k) - 0.2, cos["teacher"], 0.4, label="teacher")
    ax.bar(np.arange(k) + 0.2, cos["student"], 0.4, label="student (KD)")
    lo = float(min(cos["teacher"].min(), cos["student"].min()))
    ax.set_ylim(max(-1.0, lo - 0.05), 1.0)
    ax.set_xticks(range(k))
    ax.set_xlabel("class k")
    ax.set_ylabel(r"cos($w_k$, $\mu^*_k$)")
    ax.set_title("Weight alignment per class (P1 Fig 23 middle)", fontsize=10)
    ax.legend(fontsize=8)
    paths = [save_figure(fig, figures / "c5_alignment.png")]
    paths.append(plot_main(analyze_runs(r["teacher"].root, r["student"].root, evolution=False), figures / "deviation_scatter.png"))

    result = {
        "teacher_train_acc": summary["teacher"]["train_acc"], "teacher_test_acc": summary["teacher"]["test_acc"],
        "student_train_acc": summary["student"]["train_acc"], "student_test_acc": summary["student"]["test_acc"],
        # one-hot along the teacher's (one-hot) training, KD along the student's (KD) training
        "constructive_onehot": fractions["teacher"]["constructive_onehot"],
        "constructive_kd": fractions["student"]["constructive_kd"],
        "constructive_onehot_on_student_path": fractions["student"]["constructive_onehot"],
        "sign_rule_onehot": fractions["teacher"]["sign_rule_onehot"],
        "sign_rule_kd": fractions["student"]["sign_rule_kd"],
        "teacher_cos": cos["teacher"].tolist(), "student_cos": cos["student"].tolist(),
        "classes_student_better_aligned": int((cos["student"] > cos["teacher"]).sum()),
        "num_classes": k,
    }
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}"  # noqa: E731
    rows = [
        ["train accuracy %", pct(result["teacher_train_acc"]), pct(result["student_train_acc"]), ""],
        ["test accuracy %", pct(result["teacher_test_acc"]), pct(result["student_test_acc"]), ""],
        ["constructive updates % (our rule)", pct(result["constructive_onehot"]), pct(result["constructive_kd"]), "one-hot 73.22 / KD 97.77 (P1's rule)"],
        ["sign-correct pairs % (P1's rule)", pct(result["sign_rule_onehot"]), pct(result["sign_rule_kd"]), "73.22 / 97.77"],
        ["mean cos(w_k, mu*_k)", f"{cos['teacher'].mean():.4f}", f"{cos['student'].mean():.4f}",
         f"student better on {result['classes_student_better_aligned']}/{k} classes"],
    ]
    table = Table("P1 App. C.5: teacher and self-distilled student on synthetic channels",
                  ["C.5", "teacher (one-hot)", "student (KD)", "P1"], rows, paths)
    return Report("c5", tables=[table], data=result)
