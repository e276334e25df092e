"""Time of the deviation analysis (no figures) on 1,000,000 samples x 100 classes.

  kdlab:     deviations() + underfitting_summary() (all, clean, noisy) + dissection()
  reference: the same quantities written plainly in PyTorch: softmax, then log(p / (1 - p)) and
             friends per quantity, numpy quantiles and masks (no stability, no shared work)
The goal is under 5 s on a 2-core CPU. Run: .venv/bin/python benchmarks/analysis.py [--n N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from roofline import copy_bandwidth

from kdlab.analysis import deviations, dissection, underfitting_summary


def ours(ft, fs, labels, noisy):
    d = deviations(ft, fs, labels, noisy)
    underfitting_summary(d.x, d.y, d.noisy)
    underfitting_summary(d.x_label, d.y_label, d.noisy)
    dissection(d.teacher_correct, d.student_correct)


def reference(ft, fs, labels, noisy):
    pt, ps = torch.softmax(ft, 1), torch.softmax(fs, 1)
    y_te = pt.argmax(1, keepdim=True)
    lab = labels.view(-1, 1)
    out = {}
    for name, p, idx in (("x", pt, y_te), ("y", ps, y_te), ("x_label", pt, lab), ("y_label", ps, lab)):
        q = p.gather(1, idx).squeeze(1)
        out[name] = torch.log(q / (1 - q)).numpy()
    out["h_te"] = -(pt * torch.log(pt)).sum(1)
    out["h_st"] = -(ps * torch.log(ps)).sum(1)
    out["kl"] = (pt * (torch.log(pt) - torch.log(ps))).sum(1)
    nz = noisy.numpy()
    for x, y in ((out["x"], out["y"]), (out["x_label"], out["y_label"])):
        for mask in (np.ones_like(nz), ~nz, nz):
            xs, ys = x[mask], y[mask]
            lo, hi = np.quantile(xs, 0.2), np.quantile(xs, 0.8)
            for m in (xs <= lo, xs >= hi):
                (ys[m] - xs[m]).mean(), (ys[m] < xs[m]).mean()
            edges = np.quantile(xs, np.linspace(0, 1, 11))
            for b in range(10):
                m = (xs >= edges[b]) & (xs < edges[b + 1])
                (ys[m] - xs[m]).mean()
            np.polyfit(xs, ys, 1)
    tc, sc = pt.argmax(1) == labels, ps.argmax(1) == labels
    [int(m.sum()) for m in (tc & sc, ~tc & sc, tc & ~sc, ~tc & ~sc)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    g = torch.Generator().manual_seed(0)
    ft = torch.randn(args.n, args.classes, generator=g) * 4
    fs = ft + torch.randn(args.n, args.classes, generator=g)
    labels = torch.randint(0, args.classes, (args.n,), generator=g)
    noisy = torch.rand(args.n, generator=g) < 0.2
    times = {}
    for name, fn in (("reference", reference), ("kdlab", ours)):
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn(ft, fs, labels, noisy)
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    # The least memory traffic any implementation needs: reading both logit matrices once (the
    # per-sample outputs are K times smaller). Against the copy bandwidth measured in this run.
    least_bytes = 2 * ft.numel() * ft.element_size()
    bandwidth = copy_bandwidth()
    table = Table(title=f"Deviation analysis, {args.n:,} samples x {args.classes} classes, {torch.get_num_threads()} threads (best of {args.repeats})")
    for c in ("implementation", "seconds", "vs reference", "GB/s (logits read once)", "of copy bandwidth"):
        table.add_column(c, justify="left" if c == "implementation" else "right")
    for name, label in (("reference", "reference (plain PyTorch + numpy)"), ("kdlab", "kdlab (stable phi from logits)")):
        rate = least_bytes / times[name]
        table.add_row(label, f"{times[name]:.2f}", f"{times['reference'] / times[name]:.2f}x", f"{rate / 1e9:.2f}",
                      f"{rate / bandwidth:.2f}")
    Console(width=140).print(table)
    print(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s (512 MiB tensor copy, read + write, this run); "
          f"the logits are {least_bytes / 1e9:.1f} GB")


if __name__ == "__main__":
    main()
