"""A config of several runs (a teacher and its students) and an optional named report over them.

    runs:
      teacher: {...a run config...}
      student: {..., teacher: {run: teacher}}   # a teacher named by its run name in this file
    report: {name: c5, teacher: teacher, student: student}      # or reports: [{...}, {...}]
    scales: {cpu: [key=value, ...], paper: []}                 # overrides per --scale

Runs go in dependency order into <out>/<run name>; a finished run of the same identity (config and
code) is reused. An override `runs.<name>.key=value` changes one run (`runs.<pattern>.key=value` the runs whose
names match a shell pattern such as `t2_mnli_*`), a plain `key=value` every run.
A run with `seeds: [1, 2, 3]` stands for one run per seed, named <name>_s<seed>.
Reports (kdlab.reports) are written to <out>/reports/<report name>/.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable

from .config import ResolvedConfig, deep_merge, resolve
from .errors import ConfigError, KdlabError
from .executors import EXECUTORS
from .records import OutDir, Reuse, RunDir
from .reports import REPORTS, Report, make_report
from .tables import Table, percent

DEFAULT_SCALE = "cpu"


def is_plan(raw: dict) -> bool:
    return "runs" in raw


PLAN_KEYS = ("runs", "report", "reports", "scales")


def pick_scale(raw: dict, scale: str | None) -> str | None:
    """The scale a plan runs at: the one asked for, else `cpu` where the plan has it, else its first.
    `kdlab run PLAN` and `kdlab reproduce PLAN` both default to this."""
    scales = raw.get("scales") or {}
    if not isinstance(scales, dict):
        raise ConfigError("'scales' must map scale names to lists of key=value overrides")
    if not scales:
        return None
    if scale is None:
        return DEFAULT_SCALE if DEFAULT_SCALE in scales else next(iter(scales))
    if scale not in scales:
        raise ConfigError(f"this plan has no scale '{scale}'; its scales: {', '.join(scales)}")
    return scale


@dataclass(frozen=True)
class Plan:
    runs: list[ResolvedConfig]  # in dependency order: a teacher before its students
    teachers: dict[str, str | None]  # run name -> the run of this plan it distils from (it must finish first)
    reports: list[dict]  # {name, options...}


def resolve_plan(raw: dict, out: str | Path, overrides: list[str] = (), scale: str | None = None) -> Plan:
    """The runs' configs in dependency order, their teachers in the plan, and the reports to make."""
    unknown = set(raw) - set(PLAN_KEYS)
    if unknown:
        raise ConfigError(f"unknown key '{sorted(unknown)[0]}' in a multi-run config; valid keys: {', '.join(PLAN_KEYS)}")
    scale = pick_scale(raw, scale)
    if scale is not None:
        given = raw["scales"][scale]
        if not isinstance(given, list) or not all(isinstance(o, str) for o in given):
            raise ConfigError(f"scales.{scale} must be a list of key=value overrides")
        overrides = [*given, *overrides]
    runs = raw["runs"]
    if not isinstance(runs, dict) or not runs:
        raise ConfigError("'runs' must map run names to run configs")
    bases = list(runs)
    base_of = {}
    runs = {}
    for name, (base, body) in expand_seeds(raw["runs"]).items():
        base_of[name], runs[name] = base, body
    shared, per_run = [], {}
    for o in overrides:
        if o.startswith("runs."):
            name, rest = o[len("runs."):].split(".", 1) if "." in o[len("runs."):] else (o, "")
            # A base name reaches every seed; a pattern (`runs.t2_mnli_*.key=value`) every run it matches.
            targets = [r for r in runs if r == name or base_of[r] == name or fnmatchcase(r, name)]
            if not targets or not rest:
                raise ConfigError(f"override '{o}' names no run of this file; runs: {', '.join(bases)}")
            for t in targets:
                per_run.setdefault(t, []).append(rest)
        else:
            shared.append(o)
    cfgs: dict[str, ResolvedConfig] = {}
    deps: dict[str, str | None] = {}
    for name, body in runs.items():
        body = deep_merge({"name": name}, body or {})
        section = body.get("teacher")
        teacher = section.get("run") if isinstance(section, dict) else None
        teacher = teacher if isinstance(teacher, str) else None  # anything else: the schema says what is wrong
        deps[name] = teacher if teacher in runs else None
        if deps[name]:  # the teacher's run name, found in --out like any relative teacher.run
            body["teacher"]["run"] = runs[teacher].get("name", teacher)
        elif teacher is not None:
            try:
                OutDir(out).find(teacher)
            except KdlabError:
                raise ConfigError(f"run '{name}' names teacher '{teacher}', neither a run of this plan "
                                  f"({', '.join(runs)}) nor an existing run directory") from None
        try:
            cfgs[name] = resolve(body, [*shared, *per_run.get(name, [])])
        except ConfigError as e:
            raise ConfigError(f"run '{name}': {e}") from None
    named = [c.name for c in cfgs.values()]
    clash = next((n for n in named if named.count(n) > 1), None)
    if clash:
        raise ConfigError(f"two runs of this plan are named '{clash}' (a `name:` inside a run); run names must differ")
    listed = raw.get("reports") or []
    if not isinstance(listed, list):
        raise ConfigError("'reports' must be a list of reports, each {name: ..., options}")
    reports = list(listed) + ([raw["report"]] if raw.get("report") else [])
    for rep in reports:
        if not isinstance(rep, dict) or not isinstance(rep.get("name"), str):
            raise ConfigError(f"a report must be a mapping with a 'name' (and its options), got {str(rep)[:60]!r}")
    teachers = {cfgs[n].name: cfgs[deps[n]].name if deps[n] and cfgs[n].weighting.uses_teacher else None
                for n in cfgs}
    return Plan([cfgs[n] for n in _order(deps)], teachers, reports)


def seed_run_name(base: str, seed: int) -> str:
    return f"{base}_s{seed}"


def expand_seeds(runs: dict[str, dict]) -> dict[str, tuple[str, dict]]:
    """Run name -> (the name in the file, its body); a run with `seeds` becomes one run per seed."""
    out: dict[str, tuple[str, dict]] = {}
    for name, body in runs.items():
        if body is not None and not isinstance(body, dict):
            raise ConfigError(f"run '{name}' must be a mapping of config keys, got {type(body).__name__}")
        body = dict(body or {})
        seeds = body.pop("seeds", None)
        expanded = [(name, body)] if seeds is None else None
        if seeds is not None:
            if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds) or len(set(seeds)) < len(seeds):
                raise ConfigError(f"run '{name}': seeds must be a list of distinct integers")
            expanded = [(seed_run_name(name, s), {**body, "seed": s}) for s in seeds]
        for run_name, run_body in expanded:
            if run_name in out:
                raise ConfigError(f"run '{name}' expands to '{run_name}', which the plan already has; rename one of them")
            out[run_name] = (name, run_body)
    return out


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


@dataclass
class PlanResult:
    runs: dict[str, dict]  # run name -> {"run": its folder, **its summary}
    reports: list[Report]
    scale: str | None
    seconds: float

    def to_json(self) -> dict[str, Any]:
        made = [r.to_json() for r in self.reports]
        return {"runs": self.runs, "report": made[0] if len(made) == 1 else None, "reports": made,
                "scale": self.scale, "seconds": round(self.seconds, 2)}

    def tables(self) -> list[Table]:
        """The plan's runs, then each report's tables."""
        runs = Table("runs", ["run", "model", "train %", "test %", "seconds"],
                     [[name, r["model"], percent(r['train_acc']), percent(r['test_acc']),
                       f"{r['train_seconds']:.1f}"] for name, r in self.runs.items()])
        return [runs, *(t for report in self.reports for t in report.tables)]

    def lines(self, out: str | Path) -> list[str]:
        scale = f" at scale {self.scale}" if self.scale else ""
        return [*(line for report in self.reports for line in report.lines()),
                f"{len(self.runs)} runs{scale} in {self.seconds:.1f} s; written to {Path(out).resolve()}"]


def run_plan(raw: dict, out: str | Path, overrides: list[str] = (), progress: bool = True,
             log: Callable[[str], None] = print, scale: str | None = None, executor: str = "local",
             reuse: Reuse = "if_same", **executor_options: Any) -> PlanResult:
    """Train (or reuse, or resume) every run of the plan with an executor (kdlab.executors: `local`
    with `jobs`, `ray` with `address`, `cpus_per_run`), then make its reports."""
    scale = pick_scale(raw, scale)
    plan = resolve_plan(raw, out, overrides, scale)
    for rep in plan.reports:  # check the reports' names and options before training anything
        REPORTS.check_options(rep.get("name", ""), {k: v for k, v in rep.items() if k != "name"})
    t0 = time.perf_counter()
    results = EXECUTORS.build(executor, executor_options, cfgs=plan.runs, teachers=plan.teachers, out=Path(out),
                              reuse=reuse, progress=progress, log=log)
    dirs = {name: RunDir(Path(r["run"])) for name, r in results.items()}
    names = [r["name"] for r in plan.reports]
    made = []
    for i, rep in enumerate(plan.reports):
        rep = dict(rep)
        name = rep.pop("name")
        made.append(make_report(name, dirs, OutDir(out).report(name if names.count(name) == 1 else f"{name}_{i}"), **rep))
    return PlanResult(results, made, scale, time.perf_counter() - t0)
