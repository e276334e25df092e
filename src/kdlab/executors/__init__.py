"""Executors: how a plan's runs get trained, by name (`kdlab reproduce PLAN --executor NAME`).

An executor is a function `(cfgs, teachers, out, reuse, progress, log, **options) -> {run name:
{"run": dir, **summary}}` that trains every config of `cfgs` (given in dependency order) into
`<out>/<run name>`, starting a student only after its teacher in the plan (`teachers[name]`) has
finished; its options are keyword arguments (command-line flags), checked like any registry's. Each executor is one file: `local` (this machine, `jobs` processes) and `ray` (tasks on
a Ray cluster).
"""

from .base import EXECUTORS

__all__ = ["EXECUTORS"]
