"""What the reports know about the runs found in a folder: reading them (`read_runs`), a student's
teacher run, whether a pair is an offline distillation, the teacher's predictions read once, each
run's model, data and loss described from what it recorded, runs that differ only by seed
(`seed_sets`), and mean ± sample standard deviation over seeds. `overview` and `methods` build on it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..errors import KdlabError, RunError
from ..losses.weighting import TermFacts, Weighting
from ..records import Predictions, RunDir, RunInfo, Summary, load_predictions


@dataclass
class Found:
    name: str
    run: RunDir
    cfg: RunConfig
    summary: Summary
    info: RunInfo  # run.json, read once

    @property
    def distilled(self) -> bool:
        return self.info.distilled

    @cached_property
    def resolved_root(self) -> Path:
        """The run's folder as run.json names a teacher run (resolved), found once."""
        return self.run.root.resolve()

    @property
    def noisy(self) -> bool:
        return bool(self.cfg.data.label_noise)

    def data_key(self) -> str:
        return json.dumps(self.cfg.data.model_dump(mode="json"), sort_keys=True)

    def model_key(self) -> str:
        return json.dumps(self.cfg.model.model_dump(mode="json"), sort_keys=True)

    def seed_key(self) -> str:
        """The stored config apart from `name` and `seed`, its teacher as the run it resolved to: runs
        with the same key differ only by seed."""
        cfg = self.cfg.model_dump(mode="json")
        cfg.pop("name"), cfg.pop("seed")
        if cfg.get("teacher"):
            cfg["teacher"]["run"] = self.info.teacher_run
        return json.dumps(cfg, sort_keys=True)


def read_runs(runs: dict[str, RunDir], allow_none: bool = False) -> tuple[list[Found], list[str]]:
    """The finished runs, and a line for each run that could not be read (never dropped silently).
    None at all is an error unless `allow_none` (a report with other sources, e.g. published numbers)."""
    found, skipped = [], []
    for name, run in runs.items():
        try:
            cfg = run.config()
            if not run.finished:
                skipped.append(f"{name}: not finished")
                continue
            found.append(Found(name, run, cfg, run.summary(), run.info()))
        except (KdlabError, OSError) as e:
            skipped.append(f"{name}: {e}")
    if not runs and not allow_none:
        raise RunError("no run directory (a folder with config.yaml) to report on; give the --out folder of "
                       "`kdlab run` or `kdlab plan`")
    if runs and not found and not allow_none:  # a report of nothing is a mistake to say, not an empty page
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise RunError(f"no run found is finished and readable ({len(runs)} found): {skipped[0]}{more}")
    return found, skipped


def teacher_of(st: Found, runs: list[Found]) -> Found | None:
    started = st.info.teacher_run
    if not started:
        return None
    return next((r for r in runs if r.resolved_root == Path(started)), None)


def taught_offline(st: Found) -> bool:
    """A student of a plain teacher/student pair: distilled from its teacher's final weights, offline,
    without a loss switch."""
    c = st.cfg
    return (st.distilled and c.loss.switch is None and c.teacher is not None and not c.teacher.online
            and c.teacher.checkpoint == "final")


def teacher_predictions(te: Found, read: dict[str, Predictions | Path]) -> Predictions | Path:
    """The teacher's last recorded predictions, read once for all its students (`read` keeps them);
    its folder where they cannot be read, so that each student's analysis says why."""
    if te.name not in read:
        try:
            read[te.name] = load_predictions(te.run)
        except KdlabError:
            read[te.name] = te.run.root
    return read[te.name]


def _option(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_option(v) for v in value) + "]"
    if isinstance(value, str) and ("/" in value or os.sep in value):
        return Path(value).name or value  # a path: its last part says enough
    return str(value)


def _options(options: dict[str, Any]) -> list[str]:
    return [f"{k} {_option(v)}" for k, v in options.items() if v is not None]


def parameter_count(n: int) -> str:
    """About three significant digits: 610, 2.4k, 272k, 11.17M params."""
    if n < 1000:
        return f"{n} params"
    if n < 1e6:
        return f"{n / 1e3:.1f}k params" if n < 1e5 else f"{n / 1e3:.0f}k params"
    return f"{n / 1e6:.2f}M params"


def describe_model(r: Found) -> str:
    """The model from the stored config: its name (a preset's name is the preset), its options and
    parameter count, e.g. "mlp (hidden [32]; 2.4k params)"."""
    m = r.cfg.model
    details = ["given as an object"] if m.object is not None else _options(m.options)
    count = r.info.num_parameters or r.summary.num_parameters
    inside = "; ".join(p for p in (", ".join(details), parameter_count(count) if count else "") if p)
    return f"{m.name} ({inside})" if inside else m.name


def describe_data(cfg: RunConfig) -> str:
    """e.g. "digits (128 train samples, 20% label noise)"."""
    d = cfg.data
    details = ["given as an object"] if d.object is not None else _options(d.options)
    if d.train_size is not None:
        details.append(f"{d.train_size:,} train samples")
    if d.label_noise:
        details.append(f"{100 * d.label_noise:g}% label noise")
    if d.augment != "auto":
        details.append(f"augment {d.augment}")
    return f"{d.name} ({', '.join(details)})" if details else d.name


def _term(name: str, t: TermFacts, weight: float | None) -> str:
    details = ([t.kind] if t.kind != name else []) + ([f"T={t.temperature:g}"] if t.temperature is not None else [])
    shown = f"{name} ({', '.join(details)})" if details else name
    return shown if weight is None or weight == 1 else f"{weight:g} {shown}"


def describe_loss(r: Found) -> str:
    """The run's loss from the objective it recorded (kdlab.losses.weighting)."""
    if r.info.objective is None:  # records of kdlab versions before the objective was recorded
        return "distillation" if r.distilled else "one-hot"
    return describe_objective(r.info.objective)


def describe_objective(obj: Weighting) -> str:
    """The terms that weigh at the start, with their weights (1 unwritten), kinds where the name is
    another and temperatures, then the switch: e.g. "0.5 kd (T=4) + 0.5 hint",
    "onehot → kd (T=4) at step 110", "kd (T=4) → onehot over steps 100–200"."""
    text = " + ".join(_term(n, t, t.weight) for n, t in obj.terms.items() if t.weight > 0)
    s = obj.switch
    if s is not None:
        when = f"at step {s.at_step}" if s.window == 0 else f"over steps {s.at_step}–{s.at_step + s.window}"
        text = f"{text} → {_term(s.to, obj.terms[s.to], None)} {when}"
    return text


def mean_std(values: list[float]) -> dict:
    """Mean and, over two or more values, the sample standard deviation (ddof = 1; None for one)."""
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else None, "n": len(a),
            "values": [float(v) for v in a]}


def format_mean_std(s: dict | None, scale: float = 100, digits: int = 2, sign: bool = False) -> str:
    """A `mean_std` as "mean ± std" (the mean alone for one value), scaled; '-' for none or no finite mean."""
    if s is None or s["mean"] is None or not np.isfinite(s["mean"]):
        return "-"
    text = f"{scale * s['mean']:{'+' if sign else ''}.{digits}f}"
    return text if s["std"] is None else f"{text} ± {scale * s['std']:.{digits}f}"


def seed_sets(runs: list[Found]) -> list[list[Found]]:
    """Every run in one set: those that differ only by seed together, ordered by seed. Runs of one
    config that share a seed are not seeds of each other: each is a set of its own."""
    by_key: dict[str, list[Found]] = {}
    for r in runs:
        by_key.setdefault(r.seed_key(), []).append(r)
    sets = []
    for members in by_key.values():
        members.sort(key=lambda r: (r.cfg.seed, r.name))
        sets += [members] if len({r.cfg.seed for r in members}) == len(members) else [[r] for r in members]
    return sets


def group_name(group: list[Found]) -> str:
    """"student_s{1,2,3}" for a plan's seed expansion, else the names."""
    bases = {m.group(1) for r in group if (m := re.fullmatch(r"(.*)_s(\d+)", r.name)) and int(m.group(2)) == r.cfg.seed}
    if len(bases) == 1 and all(re.fullmatch(r".*_s\d+", r.name) for r in group):
        return f"{bases.pop()}_s{{{','.join(str(r.cfg.seed) for r in group)}}}"
    return ", ".join(r.name for r in group)


def file_stem(name: str) -> str:
    """A run's name (a path relative to the report's folder) as one safe file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
