"""`eigenspace` (kdlab theory eigenspace): P1 §4.1, Theorem 4.1, made runnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import STUDENT, TEACHER, plt, save_figure
from ..theory import eigenspace as es
from .base import REPORTS, Report, Table


@REPORTS.register("eigenspace")
def eigenspace_report(runs: dict, out: Path, quick: bool = False) -> Report:
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
        ax.plot(np.arange(1, 51), te, "o-", ms=3, color=TEACHER, label="teacher (one-hot)")
        ax.plot(np.arange(1, 51), st, "s-", ms=3, color=STUDENT, label="student (distilled)")
        ax.set_title(rf"top direction fit to $\alpha^*$ = {a_star}; $\lambda_k = 1/k$", fontsize=9)
        ax.set_xlabel("eigendirection k")
        ax.set_ylabel(r"$\alpha_k$")
        ax.legend(fontsize=8)
    fig.suptitle("The student fits low eigendirections less at the same top-direction fit (Theorem 4.1)", fontsize=10)
    figure = save_figure(fig, out / "eigenspace_alphas.png")
    te, st = es.matched_alphas(lams, 0.9)
    data = {
        "closed_form_vs_gd": {"teacher_rel_error": check.teacher_rel_error, "student_rel_error": check.student_rel_error},
        "theorem_4_1": {"spectra": len(spectra), "checked": checked, "violations": violations, "min_margin": min_margin,
                        "examples": [e for g in grids for e in g["examples"]][:5]},
        "alphas_at_alpha_star_0.9": {"teacher": te.tolist(), "student": st.tolist()},
    }
    tables = [
        Table("Closed-form gradient flow against gradient descent (step 1e-3)", ["model", "relative error of beta"],
              [["teacher", f"{check.teacher_rel_error:.2e}"], ["student", f"{check.student_rel_error:.2e}"]]),
        Table("Theorem 4.1: student alpha~_k2 < one-hot alpha_k2(t) whenever alpha_k1(t) >= alpha*",
              ["random spectra", "(pair, alpha*) checked", "violations", "smallest margin"],
              [[str(len(spectra)), str(checked), str(violations), f"{min_margin:.3g}"]]),
        Table("alpha_k at alpha* = 0.9 (lam_k = 1/k)", ["k", "teacher", "student"],
              [[str(k), f"{te[k - 1]:.3f}", f"{st[k - 1]:.3f}"] for k in (1, 2, 5, 10, 20, 50)], [figure]),
    ]
    return Report("eigenspace", tables=tables, data=data)
