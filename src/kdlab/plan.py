"""A config of several runs (a teacher and its students) and an optional named report over them.

    runs:
      teacher: {...a run config...}
      student: {..., teacher: {run: teacher}}   # a teacher named by its run name in this file
    report: {name: c5, teacher: teacher, student: student}

Runs go in dependency order into <out>/<run name>; a finished run with the same resolved config is
reused. An override `runs.<name>.key=value` changes one run, a plain `key=value` every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .config import RunConfig, deep_merge, parse_override, resolve
from .errors import ConfigError
from .registry import Registry
from .train.rundir import RunDir
from .train.runner import run_config

REPORTS = Registry("report", context=("runs", "out"))


def is_plan(raw: dict) -> bool:
    return "runs" in raw


def resolve_plan(raw: dict, out: str | Path, overrides: list[str] = ()) -> tuple[list[RunConfig], dict | None]:
    unknown = set(raw) - {"runs", "report"}
    if unknown:
        raise ConfigError(f"unknown key '{sorted(unknown)[0]}' in a multi-run config; valid keys: runs, report")
    runs = raw["runs"]
    if not isinstance(runs, dict) or not runs:
        raise ConfigError("'runs' must map run names to run configs")
    shared, per_run = [], {}
    for o in overrides:
        if o.startswith("runs."):
            name, rest = o[len("runs."):].split(".", 1) if "." in o[len("runs."):] else (o, "")
            if name not in runs or not rest:
                raise ConfigError(f"override '{o}' names no run of this file; runs: {', '.join(runs)}")
            per_run.setdefault(name, []).append(rest)
        else:
            shared.append(o)
    cfgs: dict[str, RunConfig] = {}
    deps: dict[str, str | None] = {}
    for name, body in runs.items():
        body = deep_merge({"name": name}, body or {})
        teacher = (body.get("teacher") or {}).get("run")
        deps[name] = teacher if teacher in runs else None
        if deps[name]:
            body["teacher"]["run"] = str(Path(out) / runs[teacher].get("name", teacher))
        try:
            cfgs[name] = resolve(body, [*shared, *per_run.get(name, [])])
        except ConfigError as e:
            raise ConfigError(f"run '{name}': {e}") from None
    return [cfgs[n] for n in _order(deps)], raw.get("report")


def _order(deps: dict[str, str | None]) -> list[str]:
    done: list[str] = []
    visiting: set[str] = set()

    def visit(n: str) -> None:
        if n in done:
            return
        if n in visiting:
            raise ConfigError(f"the runs' teachers form a cycle through '{n}'")
        visiting.add(n)
        if deps[n]:
            visit(deps[n])
        visiting.discard(n)
        done.append(n)

    for n in deps:
        visit(n)
    return done


def run_plan(raw: dict, out: str | Path, overrides: list[str] = (), progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    from .theory import c4, c5  # noqa: F401  (they register their reports)

    cfgs, report = resolve_plan(raw, out, overrides)
    if report is not None:  # check the report's name and options before training anything
        report = dict(report)
        REPORTS.check_options(report.get("name", ""), {k: v for k, v in report.items() if k != "name"})
    results, dirs = {}, {}
    for cfg in cfgs:
        run, summary = run_config(cfg, out, progress=progress, log=log)
        results[cfg.name], dirs[cfg.name] = {"run": str(run.root), **summary}, run
    out_report = None
    if report is not None:
        name = report.pop("name")
        out_report = {"name": name, **REPORTS.build(name, report, runs=dirs, out=Path(out))}
    return {"runs": results, "report": out_report}


def run_dirs(names: dict[str, str], runs: dict[str, RunDir]) -> dict[str, RunDir]:
    """The run directories a report names (by role), with a clear error for a name not in the plan."""
    missing = [n for n in names.values() if n not in runs]
    if missing:
        raise ConfigError(f"the report names run '{missing[0]}', not in this file's runs: {', '.join(runs)}")
    return {role: runs[n] for role, n in names.items()}
