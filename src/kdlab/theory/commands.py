"""`kdlab theory eigenspace` and `kdlab theory gradient-space`: tables, figures and a JSON report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import write_json
from . import eigenspace as es
from . import gradient_space as gs


def eigenspace_report(out: Path, quick: bool = False) -> dict:
    from ..analysis.figures import plt, save_figure

    check = es.check_closed_form()
    rng = np.random.default_rng(0)
    spectra = [np.sort(rng.lognormal(0, 2, size=8 if quick else 30))[::-1] for _ in range(3 if quick else 20)]
    alpha_stars = np.linspace(0.02, 0.98, 7 if quick else 49)
    grids = [es.theorem_4_1_grid(lam, alpha_stars) for lam in spectra]
    checked = sum(g["checked"] for g in grids)
    violations = sum(g["violations"] for g in grids)
    min_margin = min(g["min_margin"] for g in grids)

    lams = 1.0 / np.arange(1, 51)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    for ax, a_star in zip(axes, (0.5, 0.9)):
        te, st = es.matched_alphas(lams, a_star)
        ax.plot(np.arange(1, 51), te, "o-", ms=3, label="teacher (one-hot)")
        ax.plot(np.arange(1, 51), st, "s-", ms=3, label="student (distilled)")
        ax.set_title(rf"top direction fit to $\alpha^*$ = {a_star}; $\lambda_k = 1/k$", fontsize=9)
        ax.set_xlabel("eigendirection k")
        ax.set_ylabel(r"$\alpha_k$")
        ax.legend(fontsize=8)
    fig.suptitle("The student fits low eigendirections less at the same top-direction fit (Theorem 4.1)", fontsize=10)
    figure = save_figure(fig, out / "eigenspace_alphas.png")
    te, st = es.matched_alphas(lams, 0.9)
    return {
        "closed_form_vs_gd": {"teacher_rel_error": check.teacher_rel_error, "student_rel_error": check.student_rel_error},
        "theorem_4_1": {"spectra": len(spectra), "checked": checked, "violations": violations, "min_margin": min_margin,
                        "examples": [e for g in grids for e in g["examples"]][:5]},
        "alphas_at_alpha_star_0.9": {"teacher": te.tolist(), "student": st.tolist()},
        "figures": [str(figure)],
        "tables": [
            ("Closed-form gradient flow against gradient descent (step 1e-3)", ["model", "relative error of beta"],
             [["teacher", f"{check.teacher_rel_error:.2e}"], ["student", f"{check.student_rel_error:.2e}"]]),
            ("Theorem 4.1: student alpha~_k2 < one-hot alpha_k2(t) whenever alpha_k1(t) >= alpha*",
             ["random spectra", "(pair, alpha*) checked", "violations", "smallest margin"],
             [[str(len(spectra)), str(checked), str(violations), f"{min_margin:.3g}"]]),
            ("alpha_k at alpha* = 0.9 (lam_k = 1/k)", ["k", "teacher", "student"],
             [[str(k), f"{te[k - 1]:.3f}", f"{st[k - 1]:.3f}"] for k in (1, 2, 5, 10, 20, 50)]),
        ],
    }


def gradient_space_report(out: Path, quick: bool = False) -> dict:
    from ..analysis.figures import plt, save_figure

    alphas = [0.0, 0.5, 1.0, 2.0] if quick else [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    alpha_tes = [0.5, 2.0] if quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    taus = [4.0] if quick else [2.0, 4.0, 8.0]
    dims, ms = ([50], [50]) if quick else ([50, 200], [20, 200])
    rows = gs.sweep(alphas, alpha_tes, taus, dims, ms)
    example = gs.cosines(alpha=0.25, alpha_te=2.0, tau=4.0, dim=100, m=100)

    fig, axes = plt.subplots(1, len(taus), figsize=(3.6 * len(taus), 3.3), squeeze=False, layout="constrained")
    tables = []
    for ax, tau in zip(axes[0], taus):
        grid = np.array([[np.mean([r["holds_fraction"] for r in rows
                                   if r["tau"] == tau and r["alpha"] == a and r["alpha_te"] == at])
                          for a in alphas] for at in alpha_tes])
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", origin="lower", aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(alphas)), [str(a) for a in alphas])
        ax.set_yticks(range(len(alpha_tes)), [str(a) for a in alpha_tes])
        ax.set_xlabel(r"student scale $\alpha$")
        ax.set_ylabel(r"teacher scale $\alpha^{te}$")
        ax.set_title(rf"$\tau$ = {tau}", fontsize=9)
        tables.append((f"tau = {tau}: fraction of (D, m, class) where cos(v~) > max(cos(v), cos(w_te))",
                       ["alpha_te \\ alpha", *map(str, alphas)],
                       [[str(at), *(f"{v:.2f}" for v in grid[i])] for i, at in enumerate(alpha_tes)]))
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle("Where Theorem 4.2's ordering holds (eps_te = 0.1, K = 10)", fontsize=10)
    figure = save_figure(fig, out / "gradient_space_map.png")
    tables.insert(0, ("Example: alpha = 0.25, alpha_te = 2, tau = 4, D = 100, m = 100 (mean over classes)",
                      ["update", "cos-sim to mu*_k"],
                      [["one-hot update v_k", f"{example['onehot'].mean():.6f}"],
                       ["distillation update v~_k", f"{example['distill'].mean():.6f}"],
                       ["teacher weights w_k^te", f"{example['teacher'].mean():.6f}"]]))
    return {"sweep": rows, "example": {k: v.tolist() for k, v in example.items()},
            "holds_fraction": float(np.mean([r["holds_fraction"] for r in rows])),
            "figures": [str(figure)], "tables": tables}


def run_theory(view: str, out: Path, quick: bool = False) -> dict:
    report = (eigenspace_report if view == "eigenspace" else gradient_space_report)(out, quick)
    write_json(out / f"{view}.json", {k: v for k, v in report.items() if k != "tables"})
    return report
