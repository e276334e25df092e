"""Empirical NTK of resnet20 on n CIFAR-shaped inputs, traced over its 10 logits (P2).

  kdlab:     kdlab.complexity.empirical_ntk (torch.func vmap of per-sample grads, channels_last,
             chunked, products summed in float64)
  reference: a naive loop, one torch.autograd.grad per sample and logit, the Jacobian stacked,
             then Theta = J J^T in float64
Each runs in its own forked process, so its peak resident memory is its own. Prints seconds,
peak memory and the ratios, and the largest relative difference between the two kernels.

Against the hardware: the exact computation is 2 n^2 K P FLOP of contraction plus the Jacobians'
forward/backward work (one forward of n samples, and per logit a backward of twice the forward's
FLOPs: input and per-sample weight gradients), counted with PyTorch's FLOP counter. At the fp32
GEMM rate measured in the same run that bounds the time from below; the table prints the bound,
and the fraction of the GEMM rate each implementation reaches.
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

from roofline import forward_flops, gemm_rate


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


def work(n: int) -> tuple[float, float]:
    """(contraction, Jacobian) FLOP of the exact traced kernel on n samples."""
    model, x = setup(n)
    k = 10
    params = sum(p.numel() for p in model.parameters())
    forward = forward_flops(model, x)
    return 2.0 * n * n * k * params, forward * (1 + 2 * k)


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
    p.add_argument("--skip-naive", action="store_true", help="time kdlab only (the naive loop takes ~30 s at n = 256)")
    args = p.parse_args()
    # the timed children fork first: a parent that has already run OpenMP work can hang a forked child
    ref = None if args.skip_naive else in_child("naive", args.n)
    new = in_child("ours", args.n)
    rate = gemm_rate()
    contraction, jacobians = work(args.n)
    bound = (contraction + jacobians) / rate
    table = Table(title=f"Empirical NTK, resnet20, n = {args.n} CIFAR-shaped inputs, traced over 10 logits, "
                        f"{torch.get_num_threads()} threads")
    for c in ("implementation", "seconds", "peak memory GiB", "GEMM-rate fraction", "time vs bound", "vs reference"):
        table.add_column(c, justify="left" if c == "implementation" else "right")
    rows = [("reference (per-sample autograd loop, J J^T)", ref), ("kdlab empirical_ntk", new)]
    for name, r in rows:
        if r is None:
            continue
        vs = f"{ref['seconds'] / r['seconds']:.2f}x faster" if ref is not None else "-"
        table.add_row(name, f"{r['seconds']:.2f}", f"{r['peak_gib']:.2f}", f"{bound / r['seconds']:.2f}",
                      f"{r['seconds'] / bound:.2f}x", vs)
    Console(width=140).print(table)
    print(f"GEMM rate {rate / 1e9:.0f} GFLOP/s (4096^2 fp32 matmul, this run); work {contraction / 1e9:.0f} GFLOP "
          f"contraction + {jacobians / 1e9:.0f} GFLOP Jacobians = {(contraction + jacobians) / 1e9:.0f} GFLOP; "
          f"bound {bound:.2f} s")
    if ref is not None:
        diff = abs(ref["theta"] - new["theta"]).max() / abs(ref["theta"]).max()
        print(f"largest difference between the kernels, relative to the largest entry: {diff:.2e}")


if __name__ == "__main__":
    main()
