"""Empirical NTK of resnet20 on n CIFAR-shaped inputs, traced over its 10 logits (P2).

  kdlab:     kdlab.complexity.empirical_ntk (torch.func vmap of per-sample grads, channels_last,
             chunked, products summed in float64)
  reference: a naive loop, one torch.autograd.grad per sample and logit, the Jacobian stacked,
             then Theta = J J^T in float64
Each runs in its own forked process, so its peak resident memory is its own. Prints seconds,
peak memory and the ratios, and the largest relative difference between the two kernels.
Run: .venv/bin/python benchmarks/ntk.py [--n 256]
"""

from __future__ import annotations

import argparse
import os
import pickle
import time

import torch
from rich.console import Console
from rich.table import Table

from kdlab.complexity import empirical_ntk
from kdlab.models import build_model


def setup(n: int):
    torch.manual_seed(0)
    model = build_model("resnet20", 10, (3, 32, 32)).eval()
    return model, torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def naive(model, x) -> torch.Tensor:
    params = [p for p in model.parameters()]
    rows = []
    for i in range(len(x)):
        out = model(x[i : i + 1])[0]
        for k in range(out.shape[0]):
            grads = torch.autograd.grad(out[k], params, retain_graph=k < out.shape[0] - 1)
            rows.append(torch.cat([g.flatten() for g in grads]))
    J = torch.stack(rows).double()  # (n * K, P)
    J = J.view(len(x), -1)  # sample i's row holds all K logits' gradients: the trace over logits
    return J @ J.T


def ours(model, x) -> torch.Tensor:
    return empirical_ntk(model, x, mode="trace")


def in_child(fn_name: str, n: int) -> dict:
    """Run one implementation in a forked child; return its seconds, peak RSS and kernel."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        model, x = setup(n)
        t0 = time.perf_counter()
        theta = {"naive": naive, "ours": ours}[fn_name](model, x)
        seconds = time.perf_counter() - t0
        with os.fdopen(w, "wb") as f:
            pickle.dump({"seconds": seconds, "theta": theta.numpy()}, f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        result = pickle.loads(f.read())
    _, _, usage = os.wait4(pid, 0)
    result["peak_gib"] = usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=256)
    args = p.parse_args()
    ref = in_child("naive", args.n)
    new = in_child("ours", args.n)
    diff = abs(ref["theta"] - new["theta"]).max() / abs(ref["theta"]).max()
    table = Table(title=f"Empirical NTK, resnet20, n = {args.n} CIFAR-shaped inputs, traced over 10 logits, "
                        f"{torch.get_num_threads()} threads")
    for c in ("implementation", "seconds", "peak memory GiB", "time vs reference", "memory vs reference"):
        table.add_column(c, justify="left" if c == "implementation" else "right")
    table.add_row("reference (per-sample autograd loop, J J^T)", f"{ref['seconds']:.1f}", f"{ref['peak_gib']:.2f}", "1.00x", "1.00x")
    table.add_row("kdlab empirical_ntk", f"{new['seconds']:.1f}", f"{new['peak_gib']:.2f}",
                  f"{ref['seconds'] / new['seconds']:.2f}x faster", f"{ref['peak_gib'] / new['peak_gib']:.2f}x less")
    Console().print(table)
    print(f"largest relative difference between the kernels: {diff:.2e}")


if __name__ == "__main__":
    main()
