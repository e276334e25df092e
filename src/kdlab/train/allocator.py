"""Where a CPU run's memory comes from.

glibc serves allocations above 32 MiB with mmap and returns them to the OS when freed. At P1's batch
of 1024 a CIFAR activation is 64 MiB, so every step faults its activations' pages in afresh: on 2
cores that made the KD step resnet56 -> resnet20 at batch 1024 run at 140-154 img/s against 214-280
with the pages kept (benchmarks/train_step.py's session, `kd_session`, 3 steps after a warm-up, five
runs; on a later day 167-188 against 265-268, two fresh processes each). Serving every allocation from the heap and never trimming it keeps freed pages for the
next step. Only where memory comes from changes: results are bit-identical. A training process keeps
its peak memory until it exits, which it would touch again at the next step anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters
_done = False


def keep_freed_memory() -> bool:
    """Once a process, where the C library is glibc: no mmap for large blocks, no trimming of the
    heap. Returns whether it applies."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return False
    _done = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**30))
    return _done
