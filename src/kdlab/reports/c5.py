"""P1 App. C.5 report: teacher and self-distilled student on `synthetic-channels`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis import analyze_runs
from ..analysis.figures import plot_main
from ..plotting import STUDENT, TEACHER, plt, save_figure
from ..records import RunDir
from ..tables import percent
from .base import REPORTS, Report, Table, runs_named

# Each counting rule (kdlab.probes.constructive_updates), for the one-hot target along the teacher's
# (one-hot) training and for the distillation target along the student's (KD) training.
RULES = ("constructive", "constructive_all", "sign_rule")
RULE_NAMES = {"constructive": "constructive, non-zero channels (kdlab)",
              "constructive_all": "constructive, all channels",
              "sign_rule": "sign-correct (P1's stated rule)", "logit_rule": "sign-correct, teacher logit > 0"}


def mean_over_steps(rows: list[dict], key: str) -> float | None:
    """Each metrics row holds the mean over its epoch's steps; epochs have equal step counts."""
    vals = [r[key] for r in rows if key in r]
    return float(np.mean(vals)) if vals else None


def pair_numbers(teacher: RunDir, student: RunDir) -> dict:
    """The C.5 numbers of one teacher (one-hot) and its self-distilled student."""
    summary = {"teacher": teacher.summary(), "student": student.summary()}
    rows = {"teacher": teacher.metrics(), "student": student.metrics()}
    cos = {role: np.array(rd.probe_summary("channel_alignment")["channel_cos"])
           for role, rd in (("teacher", teacher), ("student", student))}
    out = {f"{role}_{split}_acc": getattr(summary[role], f"{split}_acc") for role in summary for split in ("train", "test")}
    for rule in RULES:
        out[f"{rule}_onehot"] = mean_over_steps(rows["teacher"], f"{rule}_onehot")
        out[f"{rule}_kd"] = mean_over_steps(rows["student"], f"{rule}_kd")
    out["logit_rule_kd"] = mean_over_steps(rows["student"], "logit_rule_kd")
    out["constructive_onehot_on_student_path"] = mean_over_steps(rows["student"], "constructive_onehot")
    out.update({"teacher_cos": cos["teacher"].tolist(), "student_cos": cos["student"].tolist(),
                "classes_student_better_aligned": int((cos["student"] > cos["teacher"]).sum()),
                "num_classes": len(cos["teacher"]), "test_gap": out["student_test_acc"] - out["teacher_test_acc"]})
    return out


@REPORTS.register("c5")
def c5_report(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", student: str = "student") -> Report:
    r = runs_named({"teacher": teacher, "student": student}, runs)
    result = pair_numbers(r["teacher"], r["student"])
    cos = {role: np.array(result[f"{role}_cos"]) for role in ("teacher", "student")}
    figures = Path(out)
    k = result["num_classes"]
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    ax.bar(np.arange(k) - 0.2, cos["teacher"], 0.4, color=TEACHER, label="teacher")
    ax.bar(np.arange(k) + 0.2, cos["student"], 0.4, color=STUDENT, label="student (KD)")
    lo = float(min(cos["teacher"].min(), cos["student"].min()))
    ax.set_ylim(max(-1.0, lo - 0.05), 1.0)
    ax.set_xticks(range(k))
    ax.set_xlabel("class k")
    ax.set_ylabel(r"cos($w_k$, $\mu^*_k$)")
    ax.set_title("Weight alignment per class (P1 Fig 23 middle)", fontsize=10)
    ax.legend(fontsize=8)
    paths = [save_figure(fig, figures / "c5_alignment.png")]
    paths.append(plot_main(analyze_runs(r["teacher"].root, r["student"].root, evolution=False), figures / "deviation_scatter.png"))

    rows = [
        ["train accuracy %", percent(result["teacher_train_acc"]), percent(result["student_train_acc"]), ""],
        ["test accuracy %", percent(result["teacher_test_acc"]), percent(result["student_test_acc"]), ""],
        *[[f"{RULE_NAMES[rule]} %", percent(result[f"{rule}_onehot"]), percent(result[f"{rule}_kd"]),
           "73.22 / 97.77" if rule == "sign_rule" else ""] for rule in RULES],
        [f"{RULE_NAMES['logit_rule']} %", "", percent(result["logit_rule_kd"]), ""],
        ["mean cos(w_k, mu*_k)", f"{cos['teacher'].mean():.4f}", f"{cos['student'].mean():.4f}",
         f"student better on {result['classes_student_better_aligned']}/{result['num_classes']} classes"],
    ]
    table = Table("P1 App. C.5: teacher and self-distilled student on synthetic channels, one seed pair "
                  "(c5_seeds gives the spread; P1 does not say how it counted distillation)",
                  ["C.5", "teacher (one-hot)", "student (KD)", "P1"], rows, paths)
    return Report("c5", tables=[table], data=result)
