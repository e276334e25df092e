"""`complexity` (what `kdlab complexity` makes; P2): how complex a teacher's targets are for a
student's NTK, over the teacher's checkpoints and temperatures, against the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from ..complexity.runs import complexity_report
from ..errors import ConfigError
from ..plotting import REFERENCE, TEACHER, plt, save_figure, series_color
from ..records import RunDir
from ..values import Positive
from .base import REPORTS, Report, Table


@REPORTS.register("complexity")
def complexity(runs: dict[str, RunDir], out: Path, student_model: str | None = None, n: Annotated[int, Field(ge=2)] = 256,
               temperatures: Annotated[list[Positive], Field(min_length=1)] = (1.0, 2.0, 4.0, 8.0),
               center: bool = False, term: str | None = None) -> Report:
    """runs: {"teacher": RUN} and optionally {"student": RUN} (its NTK at init and trained); else
    the NTK of `student_model` at initialisation. `term`: the student's loss term whose temperature
    scores the teacher over the student's training (default: its distillation's)."""
    if "teacher" not in runs:
        raise ConfigError("the complexity report needs a run named 'teacher'")
    student = runs.get("student")
    result = complexity_report(runs["teacher"].root, student_model, student.root if student else None, n=n,
                               temperatures=temperatures, center=center, term=term)
    tables = [kernel_table(result, kname) for kname in result["kernels"]]
    figures = [_figure(result, Path(out) / "complexity.png")]
    if "over_training" in result:
        ot = result["over_training"]
        tables.append(Table(f"P2's curve: adjusted complexity under the student's NTK at each of its epochs "
                            f"(teacher targets at tau = {ot['temperature']}; online teacher epochs "
                            f"{ot['online_teacher_epochs']})", ["targets", *(f"epoch {e}" for e in ot["student_epochs"])],
                            [[name, *(f"{v:.4f}" for v in values)] for name, values in ot["curves"].items()]))
        figures.append(_over_training_figure(result, Path(out) / "complexity_over_training.png"))
    return Report("complexity", tables=tables, figures=figures, data=result)


def kernel_table(result: dict, kname: str) -> Table:
    """Adjusted complexity of each teacher checkpoint's targets at each temperature, under the NTK
    `kname` (init or trained), and of the labels: one value, under the first temperature only, since
    one-hot labels have no temperature (the same number under every tau read as if it varied)."""
    k = result["kernels"][kname]
    temps = list(k["teacher"])
    epochs = [r["epoch"] for r in k["teacher"][temps[0]]]
    rows = [[f"teacher epoch {e}", *(f"{k['teacher'][t][i]['adjusted']:.4f}" for t in temps)] for i, e in enumerate(epochs)]
    rows.append(["labels (one-hot, any tau)", f"{k['labels']['adjusted']:.4f}", *([""] * (len(temps) - 1))])
    return Table(f"Adjusted supervision complexity, {result['student_model']} NTK at {kname}, n = {result['n']} "
                 f"(jitter {k['jitter']:.2e}); the labels do not depend on tau: their one value is under the first",
                 ["targets", *(f"tau = {t}" for t in temps)], rows)


def _over_training_figure(result: dict, path: Path) -> Path:
    ot = result["over_training"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    # The labels are the reference the teachers are measured against; the offline teacher is the
    # teacher of every other figure
    colors = {"labels": REFERENCE, "offline teacher": TEACHER, "online teacher": series_color(2),
              "random labels": series_color(4)}
    for i, (name, values) in enumerate(ot["curves"].items()):
        ax.plot(ot["student_epochs"], values, marker="o", ms=3, color=colors.get(name, series_color(i)), label=name)
    ax.set_xlabel("student epoch (its NTK at that checkpoint)")
    ax.set_ylabel("adjusted supervision complexity")
    ax.set_title(f"Supervision complexity over the student's training (P2), n = {result['n']}", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def _figure(result: dict, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    styles = {"init": "-", "trained": "--"}
    for kname, k in result["kernels"].items():
        for i, (t, rows) in enumerate(k["teacher"].items()):
            axes[0].plot([r["epoch"] for r in rows], [r["adjusted"] for r in rows], styles[kname], marker="o", ms=3,
                         color=series_color(i), label=f"teacher, tau={t} ({kname} NTK)")
        axes[0].axhline(k["labels"]["adjusted"], color=REFERENCE, ls=styles[kname], lw=1, label=f"labels ({kname} NTK)")
        temps = [float(t) for t in k["teacher"]]
        axes[1].plot(temps, [rows[-1]["adjusted"] for rows in k["teacher"].values()], styles[kname], marker="s",
                     color=TEACHER, label=f"last teacher checkpoint ({kname} NTK)")
        axes[1].axhline(k["labels"]["adjusted"], color=REFERENCE, ls=styles[kname], lw=1, label=f"labels ({kname} NTK)")
    axes[0].set_xlabel("teacher epoch")
    axes[0].set_ylabel("adjusted supervision complexity")
    axes[0].set_title("Teacher targets over training", fontsize=9)
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel(r"temperature $\tau$")
    axes[1].set_title("Temperature", fontsize=9)
    for ax in axes:
        ax.legend(fontsize=6)
    fig.suptitle(f"Supervision complexity for {result['student_model']}'s NTK, n = {result['n']}", fontsize=10)
    return save_figure(fig, path)
