"""`gradient-space` (kdlab theory gradient-space): P1 §4.2, Theorem 4.2, made runnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import SEQUENTIAL, plt, save_figure
from ..theory import gradient_space as gs
from .base import REPORTS, Report, Table


@REPORTS.register("gradient-space")
def gradient_space_report(runs: dict, out: Path, quick: bool = False) -> Report:
    alphas = [0.0, 0.5, 1.0, 2.0] if quick else [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    alpha_tes = [0.5, 2.0] if quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    taus = [4.0] if quick else [2.0, 4.0, 8.0]
    dims, ms = ([50], [50]) if quick else ([50, 200], [20, 200])
    rows = gs.sweep(alphas, alpha_tes, taus, dims, ms)
    example = gs.cosines(alpha=0.25, alpha_te=2.0, tau=4.0, dim=100, m=100)

    fig, axes = plt.subplots(1, len(taus), figsize=(max(3.6 * len(taus), 5.5), 3.3), squeeze=False, layout="constrained")
    tables = []
    for ax, tau in zip(axes[0], taus):
        grid = np.array([[np.mean([r["holds_fraction"] for r in rows
                                   if r["tau"] == tau and r["alpha"] == a and r["alpha_te"] == at])
                          for a in alphas] for at in alpha_tes])
        # A colour-blind-safe sequential map (red-green is the pair most readers cannot tell apart);
        # its low end is dark, so the numbers there are white
        im = ax.imshow(grid, vmin=0, vmax=1, cmap=SEQUENTIAL, origin="lower", aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.5 else "black")
        ax.set_xticks(range(len(alphas)), [str(a) for a in alphas])
        ax.set_yticks(range(len(alpha_tes)), [str(a) for a in alpha_tes])
        ax.set_xlabel(r"student scale $\alpha$")
        ax.set_ylabel(r"teacher scale $\alpha^{te}$")
        ax.set_title(rf"$\tau$ = {tau}", fontsize=9)
        tables.append(Table(f"tau = {tau}: fraction of (D, m, class) where cos(v~) > max(cos(v), cos(w_te))",
                       ["alpha_te \\ alpha", *map(str, alphas)],
                       [[str(at), *(f"{v:.2f}" for v in grid[i])] for i, at in enumerate(alpha_tes)]))
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle("Where Theorem 4.2's ordering holds (eps_te = 0.1, K = 10)", fontsize=10)
    figure = save_figure(fig, out / "gradient_space_map.png")
    tables.insert(0, Table("Example: alpha = 0.25, alpha_te = 2, tau = 4, D = 100, m = 100 (mean over classes)",
                      ["update", "cos-sim to mu*_k"],
                      [["one-hot update v_k", f"{example['onehot'].mean():.6f}"],
                       ["distillation update v~_k", f"{example['distill'].mean():.6f}"],
                       ["teacher weights w_k^te", f"{example['teacher'].mean():.6f}"]]))
    data = {"sweep": rows, "example": {k: v.tolist() for k, v in example.items()},
            "holds_fraction": float(np.mean([r["holds_fraction"] for r in rows]))}
    return Report("gradient-space", tables=tables, figures=[figure], data=data)
