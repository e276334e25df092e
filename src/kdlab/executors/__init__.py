"""Executors: how a plan's runs get trained, by name (`kdlab reproduce PLAN --executor NAME`).

An executor is a function `(cfgs, out, progress, log, **options) -> {run name: {"run": dir, **summary}}`
that trains every config of `cfgs` (given in dependency order) into `<out>/<run name>`, starting a
student only after its teacher has finished; its options are keyword arguments, checked like any
registry's. Each executor is one file: `local` (this machine, `jobs` processes) and `ray` (tasks on
a Ray cluster).
"""

from . import local, ray  # noqa: F401  (they register themselves)
from .base import EXECUTORS, teacher_in_plan

__all__ = ["EXECUTORS", "teacher_in_plan"]
