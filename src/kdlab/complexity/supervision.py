"""Supervision complexity (P2): how hard targets Y (n x K) are for a kernel Theta.

complexity = sum_c Y_c^T Theta^-1 Y_c; adjusted = sqrt(complexity * tr Theta) / n, which does not
change when Theta is rescaled. Theta^-1 is applied through a Cholesky factor of Theta + jitter * I,
jitter = rel_jitter * tr(Theta) / n (reported). A per-class kernel (K x n x n) pairs class c's
target column with its own kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supervision_complexity(theta: torch.Tensor, targets: torch.Tensor, rel_jitter: float = 1e-6) -> dict[str, float]:
    theta = theta.double()
    y = torch.as_tensor(targets).double()
    kernels = theta.unsqueeze(0) if theta.dim() == 2 else theta  # (1 or K, n, n)
    n = kernels.shape[-1]
    if y.shape[0] != n:
        raise ValueError(f"targets have {y.shape[0]} rows, the kernel {n}")
    trace = kernels.diagonal(dim1=-2, dim2=-1).sum(-1)  # per kernel
    jitter = rel_jitter * trace / n
    eye = torch.eye(n, dtype=torch.float64)
    chol = torch.linalg.cholesky(kernels + jitter[:, None, None] * eye)
    cols = y.T.unsqueeze(-1)  # (K, n, 1)
    if kernels.shape[0] == 1:
        solved = torch.cholesky_solve(y, chol[0])  # (n, K)
        complexity = float((y * solved).sum())
        tr = float(trace[0])
    else:
        solved = torch.cholesky_solve(cols, chol)  # (K, n, 1)
        complexity = float((cols * solved).sum())
        tr = float(trace.mean())  # the per-class kernels' mean trace sets the scale
    return {"complexity": complexity, "adjusted": (complexity * tr) ** 0.5 / n, "jitter": float(jitter.mean()),
            "trace": tr, "n": n}


def onehot_targets(labels: torch.Tensor, num_classes: int, center: bool = False) -> torch.Tensor:
    y = F.one_hot(torch.as_tensor(labels), num_classes).double()
    return y - 1.0 / num_classes if center else y


def soft_targets(logits: torch.Tensor, temperature: float, center: bool = False) -> torch.Tensor:
    p = torch.softmax(torch.as_tensor(logits).double() / temperature, dim=1)
    return p - 1.0 / p.shape[1] if center else p
