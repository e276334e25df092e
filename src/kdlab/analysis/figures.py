"""Deviation figures (P1 Fig 1a, 2, 3, 11, 12, 18): scatter plots of teacher X against student Y,
with the dashed X = Y line. Beyond a few thousand points a log-density hexbin replaces the dots,
so 50k+ points stay legible; noisy-label points are drawn on top in red."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import figure_grid, plain, save_figure
from .runs import RunAnalysis
from .summary import dissection_masks

DENSE = 4000
PHI = r"$\phi(p) = \log\,p/(1-p)$"


def scatter(ax, x, y, noisy=None, title="", xlabel="teacher X", ylabel="student Y", diagonal=True):
    x, y = np.asarray(x), np.asarray(y)
    if len(x) > DENSE:
        ax.hexbin(x, y, gridsize=90, bins="log", cmap="Blues", mincnt=1, linewidths=0)
    else:
        ax.scatter(x, y, s=6, alpha=0.5, color="tab:blue", linewidths=0, label="clean label" if noisy is not None else None)
    if noisy is not None and np.any(noisy):
        n = int(np.sum(noisy))
        ax.scatter(x[noisy], y[noisy], s=4 if n > DENSE else 8, alpha=0.25 if n > DENSE else 0.7,
                   color="tab:red", linewidths=0, label=f"noisy label ({n})", rasterized=True)
        ax.legend(loc="upper left", fontsize=7, markerscale=2)
    if diagonal and len(x):
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def _mean_gap(d_x, d_y) -> str:
    return f"mean(Y-X) {np.mean(np.asarray(d_y) - np.asarray(d_x)):+.2f}" if len(d_x) else ""


def plot_main(a: RunAnalysis, path: Path, label_class: bool = False) -> Path:
    fig, axes = figure_grid(2, cols=2, size=4.2)
    for ax, (split, d) in zip(axes, a.splits.items()):
        x, y = (d.x_label, d.y_label) if label_class else (d.x, d.y)
        cls = "label class y*" if label_class else "teacher's class"
        scatter(ax, x, y, d.noisy, f"{split} (n={len(d)}), {cls}: {_mean_gap(x, y)}",
                f"teacher {PHI}", f"student {PHI}")
    fig.suptitle(plain(f"{a.student.name} vs teacher {a.teacher.name} (student step {a.student_step})"), fontsize=10)
    return save_figure(fig, path)


def plot_dissection(a: RunAnalysis, path: Path, split: str = "test") -> Path:
    d = a.splits[split]
    masks = dissection_masks(d.teacher_correct, d.student_correct)
    fig, axes = figure_grid(4, cols=4)
    for ax, (name, m) in zip(axes, masks.items()):
        scatter(ax, d.x[m], d.y[m], None if d.noisy is None else d.noisy[m],
                f"{name.replace('_', ' ')} ({int(m.sum())})")
    fig.suptitle(f"{split} points by who is right ({a.label_source})", fontsize=10)
    return save_figure(fig, path)


def plot_metrics(a: RunAnalysis, path: Path) -> Path:
    fig, axes = figure_grid(8, cols=4)
    for row, (split, d) in enumerate(a.splits.items()):
        ax = axes[4 * row : 4 * row + 4]
        scatter(ax[0], d.p_teacher, d.p_student, d.noisy, f"{split}: probability of teacher's class", "teacher p", "student p")
        scatter(ax[1], d.entropy_teacher, d.entropy_student, d.noisy, f"{split}: entropy", "teacher H", "student H")
        scatter(ax[2], d.x, d.kl, d.noisy, f"{split}: KL(te||st) vs X", "teacher X", "KL", diagonal=False)
        scatter(ax[3], d.entropy_teacher, d.kl, d.noisy, f"{split}: KL vs teacher entropy", "teacher H", "KL", diagonal=False)
    return save_figure(fig, path)


def plot_evolution(a: RunAnalysis, path: Path) -> Path:
    fig, axes = figure_grid(len(a.evolution))
    for ax, (step, d) in zip(axes, a.evolution):
        scatter(ax, d.x, d.y, d.noisy, f"student step {step}: {_mean_gap(d.x, d.y)}")
    fig.suptitle("train split; X fixed to the final teacher (P1 Fig 3)", fontsize=10)
    return save_figure(fig, path)


def write_figures(a: RunAnalysis, out: Path) -> list[Path]:
    out = Path(out)
    paths = [plot_main(a, out / "deviation_scatter.png"),
             plot_main(a, out / "deviation_scatter_label_class.png", label_class=True),
             plot_dissection(a, out / "deviation_dissection.png"),
             plot_metrics(a, out / "deviation_metrics.png")]
    if a.evolution:
        paths.append(plot_evolution(a, out / "deviation_evolution.png"))
    return paths
