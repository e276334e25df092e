"""The gradient-space view (P1 §4.2, Theorem 4.2 / B.4): distillation denoises one-hot gradients.

Data: K channels of dimension D. For label y, x_y ~ N(0, I/D) conditioned on x_y . mu*_y = tau;
one "similar" class z != y with x_z ~ N(0, I/D) conditioned on x_z . mu*_z = tau / 2; other
channels zero; ||mu*_k|| = 1. Balanced as in Assumption B.1: every class is the label of m points
and the similar class of m others. Model f_k(x) = w_k . x_k. Student w_k = alpha mu*_k; teacher
w_k^te = alpha_te (sqrt(1 - eps) mu*_k + sqrt(eps) u_k), u_k a unit vector orthogonal to mu*_k.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class ChannelData:
    x: np.ndarray  # (N, K, D)
    y: np.ndarray  # (N,)
    z: np.ndarray  # (N,) the similar class
    mu: np.ndarray  # (K, D), unit rows


def _conditioned(rng: np.random.Generator, mu: np.ndarray, value: float) -> np.ndarray:
    """N(0, I/D) conditioned on x . mu = value, for unit mu (rows): value*mu plus the orthogonal part."""
    g = rng.normal(size=mu.shape) / np.sqrt(mu.shape[1])
    g -= np.einsum("nd,nd->n", g, mu)[:, None] * mu
    return value * mu + g


def make_data(num_classes: int, dim: int, m: int, tau: float, seed: int = 0) -> ChannelData:
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(num_classes, dim))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    y = np.tile(np.arange(num_classes), m)
    shifts = np.repeat(rng.integers(1, num_classes, size=m), num_classes)  # one derangement per round
    z = (y + shifts) % num_classes
    n = len(y)
    x = np.zeros((n, num_classes, dim))
    rows = np.arange(n)
    x[rows, y] = _conditioned(rng, mu[y], tau)
    x[rows, z] = _conditioned(rng, mu[z], tau / 2)
    return ChannelData(x, y, z, mu)


def teacher_weights(mu: np.ndarray, alpha_te: float, eps: float, rng: np.random.Generator) -> np.ndarray:
    u = rng.normal(size=mu.shape)
    u -= np.einsum("kd,kd->k", u, mu)[:, None] * mu
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return alpha_te * (np.sqrt(1 - eps) * mu + np.sqrt(eps) * u)


def _softmax(f: np.ndarray) -> np.ndarray:
    e = np.exp(f - f.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("kd,kd->k", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def updates(data: ChannelData, w_student: np.ndarray, w_teacher: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch negative CE gradients on every node: one-hot v_k and distillation v~_k, (K, D) each."""
    p = _softmax(np.einsum("nkd,kd->nk", data.x, w_student))
    q = _softmax(np.einsum("nkd,kd->nk", data.x, w_teacher))
    onehot = np.eye(data.mu.shape[0])[data.y]
    v = np.einsum("nk,nkd->kd", onehot - p, data.x) / len(data.y)
    v_kd = np.einsum("nk,nkd->kd", q - p, data.x) / len(data.y)
    return v, v_kd


def cosines(alpha: float, alpha_te: float, tau: float, dim: int, m: int, num_classes: int = 10,
            eps: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-class cos-sim to mu*_k of the one-hot update, the distillation update and the teacher."""
    data = make_data(num_classes, dim, m, tau, seed)
    w_te = teacher_weights(data.mu, alpha_te, eps, np.random.default_rng(seed + 1))
    v, v_kd = updates(data, alpha * data.mu, w_te)
    return {"onehot": _cos(v, data.mu), "distill": _cos(v_kd, data.mu), "teacher": _cos(w_te, data.mu)}


def sweep(alphas, alpha_tes, taus, dims, ms, num_classes: int = 10, eps: float = 0.1, seed: int = 0) -> list[dict]:
    """One row per setting: mean cosines and the fraction of classes where Theorem 4.2's ordering holds."""
    rows = []
    for a, a_te, tau, d, m in itertools.product(alphas, alpha_tes, taus, dims, ms):
        c = cosines(a, a_te, tau, d, m, num_classes, eps, seed)
        holds = c["distill"] > np.maximum(c["onehot"], c["teacher"])
        rows.append({"alpha": a, "alpha_te": a_te, "tau": tau, "dim": d, "m": m,
                     "cos_onehot": float(c["onehot"].mean()), "cos_distill": float(c["distill"].mean()),
                     "cos_teacher": float(c["teacher"].mean()), "holds_fraction": float(holds.mean())})
    return rows
