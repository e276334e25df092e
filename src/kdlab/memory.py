"""How much memory there is, and a one-line refusal of what cannot fit, before it is allocated."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def available_memory(device: str = "cpu") -> int | None:
    """Bytes that can be allocated now: the GPU's free memory, or the machine's MemAvailable
    (Linux; the free physical pages elsewhere). None where it cannot be told."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.mem_get_info(torch.device(device))[0]
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(need: float, what: str, device: str = "cpu") -> None:
    """Refuse `what` in one line when it needs more than the device has available."""
    have = available_memory(device)
    if have is not None and need > have:
        where = "the GPU" if device.startswith("cuda") else "this machine"
        raise ConfigError(f"{what} needs about {format_bytes(need)} of memory, and {where} has {format_bytes(have)} "
                          f"available; make it smaller")
