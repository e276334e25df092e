"""The one figure style of kdlab: every figure in the package is made and saved through this module.

- matplotlib without a display (figures are files);
- a colour-blind-safe palette (Okabe & Ito, 2008) as the colour cycle, with named roles: `CLEAN`
  and `NOISY` points of a deviation scatter, `TEACHER` and `STUDENT` curves, `REFERENCE` lines
  (X = Y, a baseline's level); `series_color(i)` for the i-th of several series; `SEQUENTIAL`, the
  colour map of densities and of values on a scale;
- `save_figure(fig, path)`: the format from the path's suffix (png, pdf or svg), written atomically;
  `FigureFormat` carries a user's choice (`--format`, `--dpi`) to the code that names the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files: no display is needed, or wanted on a server
import matplotlib.pyplot as plt  # noqa: E402
from cycler import cycler  # noqa: E402

from .errors import ConfigError  # noqa: E402
from .io import atomic_path  # noqa: E402

__all__ = ["CLEAN", "FORMATS", "FigureFormat", "NOISY", "PALETTE", "REFERENCE", "SEQUENTIAL", "STUDENT", "TEACHER",
           "figure_grid", "plain", "plt", "save_figure", "series_color"]

# Okabe-Ito: distinguishable under the common colour-vision deficiencies, and in greyscale by lightness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
CLEAN, NOISY = PALETTE[0], PALETTE[3]  # blue and vermillion
TEACHER, STUDENT = PALETTE[0], PALETTE[1]  # blue and orange
REFERENCE = PALETTE[-1]  # black: the palette's last colour, kept for reference lines
SEQUENTIAL = "cividis"  # for densities: perceptually uniform and colour-blind-safe
FORMATS = ("png", "pdf", "svg")

plt.rcParams.update({
    "axes.prop_cycle": cycler(color=PALETTE),
    "image.cmap": SEQUENTIAL,
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "figure.titlesize": 10,
    "pdf.fonttype": 42, "ps.fonttype": 42,  # TrueType in PDFs: text stays text for journals and editors
    "svg.fonttype": "none",
})


@dataclass(frozen=True)
class FigureFormat:
    """How figures are written: png (raster, `dpi`), pdf or svg (vector; rasterised layers at `dpi`)."""

    format: str = "png"
    dpi: int = 120

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ConfigError(f"figure format '{self.format}' is not one of {', '.join(FORMATS)}")
        if not isinstance(self.dpi, int) or not 10 <= self.dpi <= 2400:
            raise ConfigError(f"figure dpi must be a whole number from 10 to 2400, got {self.dpi}")

    def path(self, folder: str | Path, stem: str) -> Path:
        return Path(folder) / f"{stem}.{self.format}"


def series_color(i: int) -> str:
    """The colour of the i-th of several series (temperatures, runs): the palette in order, without
    its black, which `REFERENCE` lines keep."""
    return PALETTE[i % (len(PALETTE) - 1)]


def plain(text: str) -> str:
    """Text shown as written: names of runs and files may hold '$', which matplotlib reads as math."""
    return str(text).replace("$", r"\$")


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Write `fig` in the format its suffix names (png, pdf, svg), atomically, and close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"cannot write a figure as {path.name}: the suffix must be one of {', '.join(FORMATS)}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    plt.close(fig)
    return path


def figure_grid(n: int, cols: int = 4, size: float = 3.2, share: bool = False):
    """A grid of n axes (cols per row); the unused ones are switched off. `share`: one x and one y
    range for every panel, so panels (steps, groups) can be compared by eye."""
    rows = max(1, -(-n // cols))
    cols = min(cols, max(n, 1))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False, layout="constrained",
                             sharex=share, sharey=share)
    for ax in axes.flat[n:]:
        ax.axis("off")
    if share and n % cols:
        # Shared axes show x tick labels on the bottom row only; above a switched-off panel that
        # would leave a column without any, so the panel there keeps its own.
        for ax in axes[-2, n % cols:] if rows > 1 else ():
            ax.xaxis.set_tick_params(labelbottom=True)
    return fig, list(axes.flat)
