"""The eigenspace view (P1 §4.1, Theorem 4.1): gradient flow on linear regression.

Gradient flow on 1/2 ||X b - y||^2 from b = 0 gives b(t) = X^T (X X^T)^-1 A(t) y with
A(t) = I - exp(-t X X^T). In the eigenbasis of X X^T (eigenvalues lam_k) the fit along direction k
is alpha_k(t) = 1 - exp(-lam_k t). A student trained for time t_s on the outputs of a teacher
stopped at T_te has A(t_s) A(T_te): alpha~_k = (1 - exp(-lam_k t_s)) (1 - exp(-lam_k T_te)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def alpha(lam: np.ndarray, t: float) -> np.ndarray:
    return -np.expm1(-np.asarray(lam) * t)


def student_alpha(lam: np.ndarray, t_student: float, t_teacher: float) -> np.ndarray:
    return alpha(lam, t_student) * alpha(lam, t_teacher)


def flow_beta(X: np.ndarray, targets: np.ndarray, t: float) -> np.ndarray:
    """Closed form b(t) = X^T (X X^T)^-1 A(t) y, for X of full row rank (n <= d)."""
    lam, U = np.linalg.eigh(X @ X.T)
    # (X X^T)^-1 A(t) = U diag((1 - e^{-lam t}) / lam) U^T
    return X.T @ (U @ ((alpha(lam, t) / lam) * (U.T @ targets)))


def gradient_descent(X: np.ndarray, targets: np.ndarray, lr: float, steps: int) -> np.ndarray:
    b = np.zeros(X.shape[1])
    for _ in range(steps):
        b -= lr * X.T @ (X @ b - targets)
    return b


@dataclass
class FlowCheck:
    teacher_rel_error: float
    student_rel_error: float


def check_closed_form(n: int = 20, d: int = 50, lr: float = 1e-3, t_teacher: float = 2.0,
                      t_student: float = 3.0, seed: int = 0) -> FlowCheck:
    """Closed form against discrete gradient descent with a small step, for teacher and student."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    y = rng.normal(size=n)
    b_te = flow_beta(X, y, t_teacher)
    b_te_gd = gradient_descent(X, y, lr, int(round(t_teacher / lr)))
    y_te = X @ b_te  # the teacher's outputs on the training set are the student's targets
    b_st = flow_beta(X, y_te, t_student)
    b_st_gd = gradient_descent(X, X @ b_te_gd, lr, int(round(t_student / lr)))
    rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(a))  # noqa: E731
    return FlowCheck(rel(b_te, b_te_gd), rel(b_st, b_st_gd))


def theorem_4_1_sides(lam_top: float, lam_low: float, alpha_star: float) -> tuple[float, float]:
    """The two sides of Theorem 4.1 for lam_top > lam_low and alpha* in (0, 1).

    Teacher and student both stop at t~ with (1 - e^{-lam_top t~})^2 = alpha*, so the student's top
    direction reaches alpha*. Left: the student's alpha~ on the low direction. Right: the smallest
    alpha_low(t) of any one-hot run with alpha_top(t) >= alpha* (alpha is increasing in t, so the
    infimum is at alpha_top(t) = alpha*). The theorem says left < right.
    """
    t_tilde = -np.log1p(-np.sqrt(alpha_star)) / lam_top
    t_star = -np.log1p(-alpha_star) / lam_top
    return float(alpha(lam_low, t_tilde) ** 2), float(alpha(lam_low, t_star))


def theorem_4_1_grid(lams: np.ndarray, alpha_stars: np.ndarray, claim=None) -> dict:
    """Check the theorem on every pair lam_k1 > lam_k2 of a spectrum and every alpha*.

    `claim(left, right) -> bool` is the inequality checked (default: left < right); a wrong variant
    passed here shows that the checker can fail.
    """
    claim = claim or (lambda left, right: left < right)
    lams = np.sort(np.asarray(lams, dtype=float))[::-1]
    checked, violations, worst = 0, [], float("inf")
    for i in range(len(lams)):
        for j in range(i + 1, len(lams)):
            if not lams[i] > lams[j]:
                continue
            for a in alpha_stars:
                left, right = theorem_4_1_sides(lams[i], lams[j], float(a))
                checked += 1
                worst = min(worst, right - left)
                if not claim(left, right):
                    violations.append({"lam_top": float(lams[i]), "lam_low": float(lams[j]), "alpha_star": float(a),
                                       "student": left, "one_hot": right})
    return {"checked": checked, "violations": len(violations), "examples": violations[:5], "min_margin": worst}


def matched_alphas(lams: np.ndarray, alpha_star: float) -> tuple[np.ndarray, np.ndarray]:
    """alpha_k of the teacher and of the student when each has fit the top direction to alpha*."""
    lams = np.asarray(lams, dtype=float)
    top = lams.max()
    t_teacher = -np.log1p(-alpha_star) / top
    t_tilde = -np.log1p(-np.sqrt(alpha_star)) / top
    return alpha(lams, t_teacher), student_alpha(lams, t_tilde, t_tilde)
