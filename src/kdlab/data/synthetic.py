"""The perfectly separable K-channel data with class similarities of P1 App. C.5.

For label y: x_y = a*mu_y + (1-a)*z_y, z_y uniform on the unit sphere, resampled until x_y.mu_y > 0.
Three other random "similar" classes k: x_k = beta*(a*mu_k + (1-a)*z_k), z_k drawn the same way,
beta ~ Beta(4, 1) * 0.8 * (x_y.mu_y). All other channels are zero.

mu*_k is drawn from N(0, I_D) and scaled to unit norm (`unit_mu`, our reading): Theorem 4.2 assumes
||mu*_k|| = 1, and only then is the data perfectly classifiable by w_k = mu*_k as P1 states (100%
of 4,000 samples; with unnormalised mu*, 34%).
"""

from __future__ import annotations

import numpy as np
import torch

from ..values import Count, Fraction, NonNegativeInt, Seed
from .base import DATASETS, Dataset, Split


def _positive_channel(rng: np.random.Generator, mu: np.ndarray, a: float) -> np.ndarray:
    """a*mu + (1-a)*z for z uniform on the sphere, rejection-sampled until its dot with mu is > 0."""
    out = np.empty_like(mu)
    todo = np.arange(len(mu))
    while len(todo):
        z = rng.standard_normal((len(todo), mu.shape[1]))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        cand = a * mu[todo] + (1 - a) * z
        ok = np.einsum("nd,nd->n", cand, mu[todo]) > 0
        out[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return out


def generate(
    n: int, mu: np.ndarray, rng: np.random.Generator, a: float, num_similar: int
) -> tuple[np.ndarray, np.ndarray]:
    k, d = mu.shape
    y = rng.integers(0, k, size=n)
    x = np.zeros((n, k, d))
    rows = np.arange(n)
    x[rows, y] = _positive_channel(rng, mu[y], a)
    margin = np.einsum("nd,nd->n", x[rows, y], mu[y])
    for i in range(n):
        others = rng.choice(np.delete(np.arange(k), y[i]), size=num_similar, replace=False)
        beta = rng.beta(4.0, 1.0, size=num_similar) * 0.8 * margin[i]
        x[i, others] = beta[:, None] * _positive_channel(rng, mu[others], a)
    return x.astype(np.float32), y


@DATASETS.register("synthetic-channels")
def load(
    root=None,
    *,
    num_classes: Count = 10,
    dim: Count = 100,
    num_train: Count = 512,
    num_test: Count = 2048,
    a: Fraction = 0.01,
    num_similar: NonNegativeInt = 3,
    data_seed: Seed = 0,
    unit_mu: bool = True,
) -> Dataset:
    if num_classes < 2 or num_similar > num_classes - 1:
        raise ValueError(f"needs num_classes >= 2 and num_similar <= num_classes - 1 (got {num_classes}, {num_similar})")
    rng = np.random.default_rng(data_seed)
    mu = rng.standard_normal((num_classes, dim))
    if unit_mu:
        mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    x_tr, y_tr = generate(num_train, mu, rng, a, num_similar)
    x_te, y_te = generate(num_test, mu, rng, a, num_similar)
    return Dataset(
        name="synthetic-channels",
        num_classes=num_classes,
        train=Split.from_numpy(x_tr, y_tr),
        test=Split.from_numpy(x_te, y_te, start_index=num_train),
        extras={"mu_star": torch.as_tensor(mu, dtype=torch.float32)},
    )
