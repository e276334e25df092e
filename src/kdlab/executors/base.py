"""The executors' registry. Its options are command-line flags, and its errors spell them so."""

from __future__ import annotations

from ..registry import Registry

EXECUTORS = Registry("executor", context=("cfgs", "teachers", "out", "reuse", "progress", "log"),
                     package="kdlab.executors", spell=lambda option: "--" + option.replace("_", "-"))
