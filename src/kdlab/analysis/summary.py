"""Numbers for the deviation plots (ours; P1 shows only the plots).

For X-quantile bins: mean(Y - X). On the hardest and the easiest 20% by X: mean(Y - X) and the
fraction with Y < X (underfit). The least-squares slope of Y on X. With label noise, each split by
clean and noisy samples.
"""

from __future__ import annotations

import numpy as np

DISSECTION = ("both_correct", "only_student", "only_teacher", "neither")


def _tail(d: np.ndarray) -> dict:
    return {"n": len(d),
            "mean_y_minus_x": float(d.mean()) if len(d) else float("nan"),
            "frac_y_below_x": float((d < 0).mean()) if len(d) else float("nan")}


def _summary(x: np.ndarray, y: np.ndarray, bins: int, tail: float) -> dict:
    n = len(x)
    if n == 0:
        return {"n": 0}
    order = np.argsort(x, kind="stable")  # sorted once; tails, quantiles and bins read from it
    xs, diff = x[order], y[order] - x[order]
    k = max(1, int(round(tail * n)))
    edges = np.interp(np.linspace(0, n - 1, bins + 1), np.arange(n), xs)  # = np.quantile(x, ...)
    which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=diff, minlength=bins)
    binned = [{"x_lo": float(edges[b]), "x_hi": float(edges[b + 1]), "n": int(counts[b]),
               "mean_y_minus_x": float(sums[b] / counts[b]) if counts[b] else float("nan")} for b in range(bins)]
    xc = x - x.mean()
    var = float(xc @ xc)
    slope = float(xc @ (y - y.mean()) / var) if var > 0 else float("nan")
    # hard: the lowest teacher confidence X, the teacher's hard points; easy: the highest
    return {"n": n, "mean_y_minus_x": float(diff.mean()), "slope": slope,
            "hard": _tail(diff[:k]), "easy": _tail(diff[-k:]), "bins": binned}


def underfitting_summary(x, y, noisy=None, bins: int = 10, tail: float = 0.2) -> dict:
    """The summary of all samples, and where some labels are noisy, of clean and noisy ones apart.

    Hard and easy tails are taken within each group."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    out = _summary(x, y, bins, tail)
    if noisy is not None and np.any(noisy):
        noisy = np.asarray(noisy, dtype=bool)
        out["clean"] = _summary(x[~noisy], y[~noisy], bins, tail)
        out["noisy"] = _summary(x[noisy], y[noisy], bins, tail)
    return out


def dissection(teacher_correct, student_correct) -> dict[str, int]:
    """Counts of test points by who is right (P1 Fig 12); they add up to the number of points."""
    return {k: int(m.sum()) for k, m in dissection_masks(teacher_correct, student_correct).items()}


def dissection_masks(teacher_correct, student_correct) -> dict[str, np.ndarray]:
    t, s = np.asarray(teacher_correct, bool), np.asarray(student_correct, bool)
    return {"both_correct": t & s, "only_student": ~t & s, "only_teacher": t & ~s, "neither": ~t & ~s}
