"""Figure setup, in one place: matplotlib without a display, and atomic PNG writes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files: no display is needed, or wanted on a server
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_path  # noqa: E402

__all__ = ["plt", "save_figure", "figure_grid", "plain"]


def plain(text: str) -> str:
    """Text shown as written: names of runs and files may hold '$', which matplotlib reads as math."""
    return str(text).replace("$", r"\$")


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def figure_grid(n: int, cols: int = 4, size: float = 3.2):
    """A grid of n axes (cols per row); the unused ones are switched off."""
    rows = max(1, -(-n // cols))
    cols = min(cols, max(n, 1))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat)
