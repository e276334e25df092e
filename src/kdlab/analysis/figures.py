"""Deviation figures (P1 Fig 1a, 2, 3, 11, 12, 18): scatter plots of teacher X against student Y,
with the dashed X = Y line. Beyond a few thousand points a log-density hexbin replaces the dots,
so 50k+ points stay legible; noisy-label points are drawn on top in the NOISY colour.

Each figure is made by a `*_figure(analysis)` function (the figure object, for a caller or a test
to inspect) and written by `plot_*(analysis, path, dpi)` in the format the path's suffix names.
The panels of a figure that compares steps or groups share one square range of X and Y.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..plotting import (CLEAN, NOISY, REFERENCE, SEQUENTIAL, FigureFormat, figure_grid, plain,
                        save_figure)
from .runs import LABEL_SOURCES, RunAnalysis
from .summary import dissection_masks

DENSE = 4000
PHI = r"$\phi(p) = \log\,p/(1-p)$"
# File stems of the figures write_figures makes, in order; the suffix is the chosen format's.
STEMS = ("deviation_scatter", "deviation_scatter_label_class", "deviation_dissection", "deviation_metrics",
         "deviation_evolution")


def shared_limits(*arrays) -> tuple[float, float] | None:
    """One range for X and Y over every panel of a figure (both are phi of a probability), with a
    small margin; None when there is nothing finite to show."""
    finite = [a[np.isfinite(a)] for a in map(np.asarray, arrays) if len(a)]
    finite = [a for a in finite if len(a)]
    if not finite:
        return None
    lo, hi = min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)
    pad = 0.03 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


def scatter(ax, x, y, noisy=None, title="", xlabel="teacher X", ylabel="student Y", diagonal=True, limits=None):
    """Y against X: dots in the CLEAN colour, or above DENSE points a log-density hexbin; noisy-label
    points on top in the NOISY colour. `limits`: the (lo, hi) range of both axes, shared by a
    figure's panels (the hexbin's grid then spans it, so cells are the same size in every panel)."""
    x, y = np.asarray(x), np.asarray(y)
    noisy = None if noisy is None else np.asarray(noisy, dtype=bool)
    dense = len(x) > DENSE
    if dense:  # the density of all points, noisy ones included
        ax.hexbin(x, y, gridsize=90, bins="log", cmap=SEQUENTIAL, mincnt=1, linewidths=0,
                  extent=(*limits, *limits) if limits else None)
    elif len(x):
        clean = slice(None) if noisy is None else ~noisy
        ax.scatter(x[clean], y[clean], s=6, alpha=0.5, color=CLEAN, linewidths=0,
                   label="clean label" if noisy is not None else None)
    if noisy is not None and noisy.any():
        n = int(noisy.sum())
        # Over a density, small dots that leave it readable beneath them, as one image in pdf/svg
        # (thousands of vector circles make files that viewers and journals choke on); zorder:
        # over the hexbin, whatever is drawn later.
        ax.scatter(x[noisy], y[noisy], s=1 if dense else 8, alpha=0.4 if dense else 0.7, color=NOISY, linewidths=0,
                   label=f"noisy label ({n})", rasterized=dense, zorder=3)
        ax.legend(loc="upper left", markerscale=5 if dense else 2)  # legend dots of one size either way
    if diagonal and (limits or len(x)):
        lo, hi = limits or (float(min(x.min(), y.min())), float(max(x.max(), y.max())))
        ax.plot([lo, hi], [lo, hi], ls="--", color=REFERENCE, lw=1)
    if limits:
        ax.set_xlim(limits)
        ax.set_ylim(limits)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def mean_gap(d_x, d_y) -> str:
    """A panel's mean Y - X, as its title shows it ('' for no points)."""
    return f"mean(Y-X) {np.mean(np.asarray(d_y) - np.asarray(d_x)):+.2f}" if len(d_x) else ""


def main_figure(a: RunAnalysis, label_class: bool = False):
    """Train and test side by side (P1 Fig 1a, 2; Fig 11 with `label_class`), on one range."""
    fig, axes = figure_grid(2, cols=2, size=4.2, share=True)
    pairs = {split: (d.x_label, d.y_label) if label_class else (d.x, d.y) for split, d in a.splits.items()}
    limits = shared_limits(*(v for xy in pairs.values() for v in xy))
    cls = "label class y*" if label_class else "teacher's class"
    for ax, (split, d) in zip(axes, a.splits.items()):
        x, y = pairs[split]
        scatter(ax, x, y, d.noisy, f"{split} (n={len(d)}), {cls}: {mean_gap(x, y)}",
                f"teacher {PHI}", f"student {PHI}", limits=limits)
    fig.suptitle(plain(a.pair_title))
    return fig


def dissection_figure(a: RunAnalysis, split: str = "test"):
    """The split's points by who is right (P1 Fig 12): four panels on one range."""
    d = a.splits[split]
    masks = dissection_masks(d.teacher_correct, d.student_correct)
    fig, axes = figure_grid(4, cols=4, share=True)
    limits = shared_limits(d.x, d.y)
    for ax, (name, m) in zip(axes, masks.items()):
        scatter(ax, d.x[m], d.y[m], None if d.noisy is None else d.noisy[m],
                f"{name.replace('_', ' ')} ({int(m.sum())})", limits=limits)
    fig.suptitle(plain(f"{split} points by who is right against {LABEL_SOURCES[a.label_source]}: {a.pair_title}"))
    return fig


def metrics_figure(a: RunAnalysis):
    """Fig 18: probabilities, entropies and KL; a row per split."""
    fig, axes = figure_grid(8, cols=4)
    for row, (split, d) in enumerate(a.splits.items()):
        ax = axes[4 * row : 4 * row + 4]
        scatter(ax[0], d.p_teacher, d.p_student, d.noisy, f"{split}: probability of teacher's class", "teacher p", "student p")
        scatter(ax[1], d.entropy_teacher, d.entropy_student, d.noisy, f"{split}: entropy", "teacher H", "student H")
        scatter(ax[2], d.x, d.kl, d.noisy, f"{split}: KL(te||st) vs X", "teacher X", "KL", diagonal=False)
        scatter(ax[3], d.entropy_teacher, d.kl, d.noisy, f"{split}: KL vs teacher entropy", "teacher H", "KL", diagonal=False)
    fig.suptitle(plain(a.pair_title))
    return fig


def evolution_figure(a: RunAnalysis):
    """Y at every recorded student step against the final teacher's X (P1 Fig 3): one panel per
    step, all on one range, so a step's cloud can be compared with the next."""
    if not a.evolution:
        raise ConfigError("this analysis has no evolution (analyze_runs(..., evolution=False))")
    fig, axes = figure_grid(len(a.evolution), share=True)
    limits = shared_limits(*(v for _, d in a.evolution for v in (d.x, d.y)))
    for ax, (step, d) in zip(axes, a.evolution):
        scatter(ax, d.x, d.y, d.noisy, f"student step {step}: {mean_gap(d.x, d.y)}", limits=limits)
    fig.suptitle(plain(f"{a.student_label} over its training against {a.teacher_label} at its step "
                       f"{a.teacher_step}: train split, X fixed to the final teacher (P1 Fig 3)"))
    return fig


def plot_main(a: RunAnalysis, path: Path, label_class: bool = False, dpi: int = 120) -> Path:
    return save_figure(main_figure(a, label_class), path, dpi)


def plot_dissection(a: RunAnalysis, path: Path, split: str = "test", dpi: int = 120) -> Path:
    return save_figure(dissection_figure(a, split), path, dpi)


def plot_metrics(a: RunAnalysis, path: Path, dpi: int = 120) -> Path:
    return save_figure(metrics_figure(a), path, dpi)


def plot_evolution(a: RunAnalysis, path: Path, dpi: int = 120) -> Path:
    return save_figure(evolution_figure(a), path, dpi)


def write_figures(a: RunAnalysis, out: Path, figure_format: FigureFormat = FigureFormat()) -> list[Path]:
    """Every deviation figure into `out`, as <stem>.<format>; the evolution only where there is one."""
    path = lambda stem: figure_format.path(out, stem)  # noqa: E731
    dpi = figure_format.dpi
    scatter_, label_class, dissection, metrics, evolution = STEMS
    paths = [plot_main(a, path(scatter_), dpi=dpi),
             plot_main(a, path(label_class), label_class=True, dpi=dpi),
             plot_dissection(a, path(dissection), dpi=dpi),
             plot_metrics(a, path(metrics), dpi=dpi)]
    if a.evolution:
        paths.append(plot_evolution(a, path(evolution), dpi=dpi))
    return paths
