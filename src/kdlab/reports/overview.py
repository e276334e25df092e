"""`overview` (what `kdlab report DIR` makes) over every finished run it is given.

- Table 2: each offline KD student with its teacher and the one-hot student of its architecture
  (P1's convention: in self-distillation without a separate one-hot run, that is the teacher).
- Loss switching (P1 §3.2, Fig 4, 14-16): runs with a switch, grouped by data, model and teacher;
  final test accuracy against the switch step, and test-accuracy trajectories.
- Deviations (P1 §3.1): the scatter and evolution figures of every Table 2 pair.

Everything comes from what the runs recorded: a student's teacher is the run directory its run.json
names (resolved when it started), and whether a run distilled is recorded there too. The one-hot
student of a pair is a run without a teacher on the same data with the same model section. Nothing
is rebuilt, so runs of models, data or loss terms given as objects are reported like any other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..analysis import analyze_runs
from ..analysis.figures import plot_evolution, plot_main
from ..config import RunConfig
from ..errors import KdlabError
from ..plotting import plain, plt, save_figure
from ..records import RunDir, RunInfo, Summary
from .base import REPORTS, Report, Table


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

    def data_key(self) -> str:
        return json.dumps(self.cfg.data.model_dump(mode="json"), sort_keys=True)

    def model_key(self) -> str:
        return json.dumps(self.cfg.model.model_dump(mode="json"), sort_keys=True)


def read_runs(runs: dict[str, RunDir]) -> tuple[list[Found], list[str]]:
    """The finished runs, and a line for each run that could not be read (never dropped silently)."""
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
    return found, skipped


def teacher_of(st: Found, runs: list[Found]) -> Found | None:
    started = st.info.teacher_run
    if not started:
        return None
    return next((r for r in runs if r.run.root.resolve() == Path(started)), None)


def table2(runs: list[Found]) -> list[dict]:
    rows = []
    for st in runs:
        c = st.cfg
        if not st.distilled or c.loss.switch is not None or c.teacher is None or c.teacher.online or c.teacher.checkpoint != "final":
            continue
        te = teacher_of(st, runs)
        if te is None:
            continue
        onehot = [r for r in runs if not r.distilled and r.cfg.loss.switch is None and r is not te
                  and r.data_key() == st.data_key() and r.model_key() == st.model_key()]
        oh, oh_label = (onehot[0], onehot[0].name) if onehot else (
            (te, f"{te.name} (teacher)") if te.model_key() == st.model_key() else (None, "-"))
        data = c.data.name + (f", {int(100 * c.data.label_noise)}% noise" if c.data.label_noise else "")
        rows.append({"dataset": data, "teacher_model": te.cfg.model.name, "student_model": c.model.name,
                     "teacher": te.name, "onehot": oh_label, "kd": st.name,
                     "train": [te.summary.train_acc, oh.summary.train_acc if oh else None, st.summary.train_acc],
                     "test": [te.summary.test_acc, oh.summary.test_acc if oh else None, st.summary.test_acc],
                     "_pair": (te, st)})
    return rows


def switch_groups(runs: list[Found]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for r in runs:
        if r.cfg.loss.switch is None:
            continue
        te = teacher_of(r, runs)
        key = (r.data_key(), r.model_key(), te.name if te else str(r.info.teacher_run))
        g = groups.setdefault(key, {"switch": [], "baselines": [], "model": r.cfg.model.name, "data": r.cfg.data.name})
        g["switch"].append(r)
    for (data, model, teacher), g in groups.items():
        for r in runs:
            if r.cfg.loss.switch is None and r.data_key() == data and r.model_key() == model:
                te = teacher_of(r, runs) if r.distilled else None
                if not r.distilled or (te is not None and te.name == teacher):
                    g["baselines"].append(r)
        g["switch"].sort(key=lambda r: (r.cfg.loss.switch.to, r.cfg.loss.switch.at_step))
    return list(groups.values())


def _weighted(r: Found) -> str:
    """The terms that weigh at the first step, as the run's objective recorded them."""
    return " + ".join(r.info.objective.weighted(0)) if r.info.objective is not None else "-"


def _label(r: Found) -> str:
    s = r.cfg.loss.switch
    if s is not None:
        return f"{_pretty(_weighted(r))} → {_pretty(s.to)} at step {s.at_step}"
    return f"{'KD' if r.distilled else 'one-hot'}, {r.summary.steps} steps ({r.name})"


def _pretty(terms: str) -> str:
    return terms.replace("onehot", "one-hot").replace("kd", "KD")


def _switch_figures(g: dict, out: Path, tag: str) -> list[Path]:
    targets = sorted({r.cfg.loss.switch.to for r in g["switch"]}, key=lambda t: t != "kd")
    fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    for i, to in enumerate(targets):
        pts = [(r.cfg.loss.switch.at_step, 100 * r.summary.test_acc) for r in g["switch"] if r.cfg.loss.switch.to == to]
        ax.plot(*zip(*pts), "o-", color=f"C{i + 1}", label=plain(f"switch to {_pretty(to)} at step S"))
    for i, b in enumerate(g["baselines"]):
        ax.axhline(100 * b.summary.test_acc, ls="--", lw=1, color=f"C{3 + i}", label=plain(_label(b)))
    ax.set_xlabel("switch step S")
    ax.set_ylabel("final test accuracy %")
    ax.set_title(plain(f"Loss switching, {g['model']} on {g['data']} (P1 Fig 4, 14, 15)"), fontsize=9)
    ax.legend(fontsize=7)
    first = save_figure(fig, out / f"switch_{tag}_final.png")

    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 3.6), layout="constrained", sharey=True,
                             squeeze=False)
    for ax, to in zip(axes[0], targets):
        for i, b in enumerate(g["baselines"]):
            m = b.run.metrics()
            ax.plot([x["step"] for x in m], [100 * x["test_acc"] for x in m], "--", lw=1, color=f"C{3 + i}", label=plain(_label(b)))
        for i, r in enumerate(x for x in g["switch"] if x.cfg.loss.switch.to == to):
            m = r.run.metrics()
            line = ax.plot([x["step"] for x in m], [100 * x["test_acc"] for x in m], lw=1.2, color=f"C{i}", label=plain(_label(r)))
            ax.axvline(r.cfg.loss.switch.at_step, color=line[0].get_color(), ls=":", lw=0.8)
        ax.set_title(plain(f"switch to {_pretty(to)}"), fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("test accuracy %")
    fig.suptitle("Test-accuracy trajectories under loss switching (P1 Fig 4, 16)", fontsize=10)
    return [first, save_figure(fig, out / f"switch_{tag}_trajectories.png")]


def _file_stem(name: str) -> str:
    """A run's name (a path relative to the report's folder) as one safe file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


@REPORTS.register("overview")
def overview(runs: dict[str, RunDir], out: Path) -> Report:
    found, skipped = read_runs(runs)
    figures = Path(out) / "figures"
    t2 = table2(found)
    groups = switch_groups(found)
    tables = [Table("Teachers and students (P1 Table 2)",
                    ["dataset", "teacher", "student", "train % teacher", "train % one-hot", "train % KD",
                     "test % teacher", "test % one-hot", "test % KD", "runs (teacher / one-hot / KD)"],
                    [[r["dataset"], r["teacher_model"], r["student_model"], *map(_pct, r["train"]), *map(_pct, r["test"]),
                      f"{r['teacher']} / {r['onehot']} / {r['kd']}"] for r in t2])]
    for i, g in enumerate(groups):
        rows = [[_label(r), _pct(r.summary.train_acc), _pct(r.summary.test_acc), r.name]
                for r in [*g["baselines"], *g["switch"]]]
        tables.append(Table(f"Loss switching: {g['model']} on {g['data']}", ["run", "train %", "test %", "name"], rows,
                            _switch_figures(g, figures, str(i))))
    for r in t2:
        te, st = r["_pair"]
        if not te.run.prediction_steps() or not st.run.prediction_steps():
            continue
        try:
            a = analyze_runs(te.run.root, st.run.root)
        except KdlabError as e:  # damaged predictions: the other pairs are still reported
            skipped.append(f"deviations of {st.name}: {e}")
            continue
        u = a.to_json()["splits"]["train"]["underfitting"]
        row = ["train", str(u["n"]), f"{u['mean_y_minus_x']:+.3f}", f"{u['hard']['mean_y_minus_x']:+.3f}",
               f"{u['hard']['frac_y_below_x']:.2f}", f"{u['slope']:.3f}"]
        stem = _file_stem(st.name)
        figs = [plot_main(a, figures / f"deviation_{stem}.png")]
        if len(a.evolution) > 1:
            figs.append(plot_evolution(a, figures / f"evolution_{stem}.png"))
        tables.append(Table(f"Deviations: {st.name} against {te.name}",
                            ["split", "n", "mean Y-X", "hard 20% Y-X", "hard Y<X", "slope"], [row], figs))
    if skipped:
        tables.append(Table("Runs left out", ["run: why"], [[s] for s in skipped]))
    data = {"runs": len(found), "skipped": skipped,
            "table2": [{k: v for k, v in r.items() if k != "_pair"} for r in t2],
            "switch_groups": [{"model": g["model"], "data": g["data"], "runs": [r.name for r in g["switch"]]} for g in groups]}
    note = f"{_count(len(found), 'finished run')}, {_count(len(t2), 'teacher/student pair')}, " \
           f"{_count(len(groups), 'loss-switch group')}"
    return Report("overview", tables=tables, data=data, note=note, left_out=skipped)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
