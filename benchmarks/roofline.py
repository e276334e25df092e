"""This machine's limits, measured in the same run as a benchmark: the fp32 GEMM rate (a 4096^2
matmul) and the memory bandwidth (a large copy), and a model's forward FLOPs as PyTorch counts them."""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode


def _best(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_rate(size: int = 4096, repeats: int = 3, device: str = "cpu", dtype: torch.dtype = torch.float32,
              inner: int = 1) -> float:
    """FLOP/s of a size x size matmul in `dtype` (fp32 by default), the best of `repeats` timings of
    `inner` back-to-back products (more than one on a GPU, where one takes less than a millisecond)."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return inner * 2 * size**3 / _best(lambda: ([a @ b for _ in range(inner)], sync()), repeats)


def copy_bandwidth(mib: int = 512, repeats: int = 3) -> float:
    """Bytes/s moved by copying a `mib` MiB tensor (read + write), the best of `repeats`."""
    src = torch.ones(mib * 2**20 // 4)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / _best(lambda: dst.copy_(src), repeats)


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()
