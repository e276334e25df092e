"""`methods` report: distillation methods side by side, for each teacher and student architecture.

The question it answers: do the methods that beat KD deviate from the teacher in the same way as KD,
or less?

- **Groups.** Distilled students are grouped by (teacher run, student model as configured, data as
  configured). A group also holds the students of that model and data trained without a teacher
  (`vanilla`). Runs that are the teacher of some student never count as vanilla students.
  Students of a loss switch, of online distillation or of an early-stopped teacher are not method
  comparisons: they are listed under "Runs left out", with why.
- **Methods.** Within a group, runs whose stored configs differ only by name and seed are one
  method (its seeds). A method is named from the objective the run recorded (run.json): the kinds of
  the terms that read the teacher and weigh at some step, "+"-joined with kd last ("crd + kd",
  "dkd", "hint"), and "vanilla" where no term does. Two methods of a group that would get the same name
  are told apart by their loss as recorded (weights, temperatures), and then by their runs' names.
- **Numbers.** Each comes from the runs' recorded predictions (the student's last recorded step, the
  teacher's last) matched by sample index, against the group's teacher (kdlab.analysis.analyze_runs):
  test accuracy (the run's summary); top-1 agreement (argmax equal) and mean KL(p_te || p_st) at
  T = 1 on the train and the test split; the underfitting summary on the hardest and easiest 20% of
  samples by the teacher's X (mean Y - X and the fraction with Y < X). Over several seeds: mean ±
  sample standard deviation (ddof = 1), as the overview report gives them.
- **Supervision complexity** (P2, option `complexity: true`, `n` samples): the adjusted complexity of
  what each method distils from, under the student architecture's NTK at initialisation (one
  kernel per group: the init of its student run of the lowest seed) on n seeded training samples
  (kdlab.complexity.runs.KernelData): the teacher's final softmax at the method's temperature
  (kd, dkd, dist, ...), the one-hot labels for vanilla, and '-' for methods whose terms have no
  temperature (feature methods); per group also the labels and the teacher at T = 1. It applies
  where the data is a registered dataset that loads here and the student a registered model;
  elsewhere a line under "Runs left out" says why.
- **Published accuracies** (published_cifar100.yaml beside this file, or the file named by
  `published`), shown labelled as published and with their source, where the data, the teacher's and
  the student's model names and the method match an entry. `published_any_data: true` also shows
  an entry of other data for the same models (e.g. the CIFAR-100 numbers beside a CPU-scale run on
  digits), labelled with its data.
- **Figures**, per group: the deviation scatters (one panel per method, its first seed, the train
  split, shared axes), and top-1 agreement with the teacher against test accuracy (one point per
  method, labelled). Across groups, a table of the methods that beat KD against KD.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from ..analysis import RunAnalysis, analyze_runs
from ..analysis.figures import PHI, mean_gap, scatter, shared_limits
from ..errors import ConfigError, KdlabError
from ..io import read_yaml
from ..plotting import REFERENCE, figure_grid, plain, plt, save_figure, series_color
from ..records import RunDir
from ..records.predictions import SPLITS
from .base import REPORTS, Report, Table
from .runs import (Found, describe_data, describe_loss, describe_model, file_stem, format_mean_std, group_name, mean_std,
                   read_runs, seed_sets, taught_offline, teacher_of, teacher_predictions)

PUBLISHED = Path(__file__).with_name("published_cifar100.yaml")
VANILLA = "vanilla"
VERDICT = {"less": "less than KD", "more": "more than KD", "mixed": "mixed (agreement and KL disagree)"}
QUESTION = "Do methods that beat KD deviate from the teacher in the same way, or less?"


# --- what a run's method is ----------------------------------------------------------------------

def method_name(r: Found) -> str:
    """The kinds of the recorded objective's terms that read the teacher and weigh at some step,
    "+"-joined, kd last; "vanilla" where none does."""
    obj = r.info.objective
    if obj is None:  # records of kdlab versions before the objective was recorded
        return "distillation" if r.distilled else VANILLA
    kinds = list(dict.fromkeys(t.kind for n, t in obj.terms.items() if t.reads_teacher and obj.weighs_ever(n)))
    kinds.sort(key=lambda k: k == "kd")  # stable: the others in the objective's order, then kd
    return " + ".join(kinds) or VANILLA


# --- published accuracies ------------------------------------------------------------------------

@dataclass(frozen=True)
class Published:
    value: float  # test accuracy %
    source: str  # the source's key in the file (e.g. "crd")
    data: str  # the dataset it was measured on

    def cell(self, data: str) -> str:
        other = "" if self.data == data else f", on {self.data}"
        return f"{self.value:.2f} (published: {self.source}{other})"


class PublishedTable:
    """The published accuracies of a data file: (data, teacher model, student model) -> method -> Published."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        raw = read_yaml(self.path)
        sources, pairs = raw.get("sources"), raw.get("pairs")
        if not isinstance(sources, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
            raise ConfigError(f"{self.path}: 'sources' must map source names to their descriptions")
        if not isinstance(pairs, list):
            raise ConfigError(f"{self.path}: 'pairs' must be a list of {{data, teacher, student, <source>: {{method: accuracy}}}}")
        self.sources: dict[str, str] = dict(sources)
        self.entries: dict[tuple[str, str, str], dict[str, Published]] = {}
        for i, pair in enumerate(pairs):
            where = f"{self.path}: pairs[{i}]"
            if not isinstance(pair, dict) or not all(isinstance(pair.get(k), str) for k in ("data", "teacher", "student")):
                raise ConfigError(f"{where} must give 'data', 'teacher' and 'student' as names")
            key = (pair["data"], pair["teacher"], pair["student"])
            found = self.entries.setdefault(key, {})
            for source, accuracies in pair.items():
                if source in ("data", "teacher", "student"):
                    continue
                if source not in self.sources:
                    raise ConfigError(f"{where}: '{source}' is not a source listed under 'sources' ({', '.join(self.sources)})")
                if not isinstance(accuracies, dict):
                    raise ConfigError(f"{where}.{source} must map methods to test accuracies (%)")
                for method, value in accuracies.items():
                    if value is None:  # "N/A" in a paper's table
                        continue
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                        raise ConfigError(f"{where}.{source}.{method} must be a test accuracy in % (0 to 100), got {value!r}")
                    found.setdefault(str(method), Published(float(value), source, pair["data"]))

    def lookup(self, data: str, teacher: str, student: str, method: str, any_data: bool) -> Published | None:
        exact = self.entries.get((data, teacher, student), {}).get(method)
        if exact is not None or not any_data:
            return exact
        return next((m[method] for (d, t, s), m in self.entries.items() if t == teacher and s == student and method in m), None)


# --- numbers -------------------------------------------------------------------------------------

def run_numbers(a: RunAnalysis) -> dict[str, float]:
    """One student's numbers against its teacher, from an analysis of their recorded predictions."""
    summary = a.to_json()["splits"]
    out: dict[str, float] = {}
    for split in SPLITS:
        d, s = a.splits[split], summary[split]
        out[f"agreement_{split}"] = s["agreement"]
        out[f"kl_{split}"] = float(np.mean(d.kl)) if len(d) else float("nan")
        u = s["underfitting"]
        for tail in ("hard", "easy"):
            out[f"{tail}_y_minus_x_{split}"] = u[tail]["mean_y_minus_x"] if u.get("n") else float("nan")
            out[f"{tail}_frac_y_below_x_{split}"] = u[tail]["frac_y_below_x"] if u.get("n") else float("nan")
    return out


@dataclass
class Method:
    name: str
    runs: list[Found]  # ordered by seed
    numbers: dict[str, dict] = field(default_factory=dict)  # metric -> mean_std over its runs
    analyses: list[RunAnalysis] = field(default_factory=list)  # one per run, where all could be made
    published: Published | None = None
    complexity: dict | None = None

    def mean(self, metric: str) -> float | None:
        s = self.numbers.get(metric)
        return None if s is None else s["mean"]


@dataclass
class Group:
    teacher: Found
    students: list[Found]
    methods: list[Method] = field(default_factory=list)
    complexity: dict | None = None
    figures: list[Path] = field(default_factory=list)

    @property
    def student(self) -> Found:
        return self.students[0]

    @property
    def title(self) -> str:
        return f"{self.teacher.name} ({self.teacher.cfg.model.name}) → {describe_model(self.student)} on {describe_data(self.student.cfg)}"


def find_groups(found: list[Found], skipped: list[str]) -> list[Group]:
    teachers = {t.name for r in found if r.distilled and (t := teacher_of(r, found)) is not None}
    groups: dict[tuple, Group] = {}
    for st in found:
        if not st.distilled:
            continue
        if not taught_offline(st):
            skipped.append(f"{st.name}: not compared as a method (a loss switch, online distillation or an "
                           f"early-stopped teacher)")
            continue
        te = teacher_of(st, found)
        if te is None:
            skipped.append(f"{st.name}: its teacher run ({st.info.teacher_run}) is not among the runs")
            continue
        groups.setdefault((te.name, st.model_key(), st.data_key()), Group(te, [])).students.append(st)
    for (_, model, data), g in groups.items():
        g.students += [r for r in found if not r.distilled and r.name not in teachers
                       and r.model_key() == model and r.data_key() == data]
        g.methods = _methods(g.students)
    return list(groups.values())


def _methods(runs: list[Found]) -> list[Method]:
    methods = [Method(method_name(s[0]), s) for s in seed_sets(runs)]
    for tell in (lambda m: describe_loss(m.runs[0]), lambda m: runs_label(m.runs)):
        names = [m.name for m in methods]
        for m in methods:
            if names.count(m.name) > 1:
                m.name = f"{m.name} [{tell(m)}]"
    return sorted(methods, key=lambda m: (m.name != VANILLA, m.name.split(" [")[0] != "kd", m.name))


def _measure(g: Group, skipped: list[str], teachers: dict) -> None:
    """Each method's numbers; `teachers` keeps the teachers' predictions read (overview.teacher_predictions)."""
    for m in g.methods:
        m.numbers["test_acc"] = mean_std([r.summary.test_acc for r in m.runs])
        per_run = []
        for r in m.runs:
            try:
                a = analyze_runs(teacher_predictions(g.teacher, teachers), r.run.root, evolution=False)
            except KdlabError as e:  # no or damaged predictions: the rest is still reported
                skipped.append(f"deviations of {r.name} against {g.teacher.name}: {e}")
                break
            m.analyses.append(a)
            per_run.append(run_numbers(a))
        if len(per_run) == len(m.runs):
            m.numbers |= {k: mean_std([p[k] for p in per_run]) for k in per_run[0]}
        else:
            m.analyses = []


def runs_label(runs: list[Found]) -> str:
    """One run's name, or the seeds of several ("kd_s{1,2}")."""
    return runs[0].name if len(runs) == 1 else group_name(runs)


# --- supervision complexity ----------------------------------------------------------------------

def _complexity(g: Group, n: int) -> dict:
    """Adjusted complexities under the NTK at initialisation of the group's student run of the lowest
    seed; raises KdlabError where the data or the models cannot be had."""
    from ..complexity import empirical_ntk, onehot_targets, soft_targets, supervision_complexity
    from ..complexity.runs import KernelData, run_model, teacher_logits
    from ..models import MODELS

    first = min(g.students, key=lambda r: (r.cfg.seed, r.name))
    te = g.teacher
    for r, role in ((te, "teacher"), (first, "student")):
        if r.cfg.data.object is not None:
            raise ConfigError(f"run {r.name} trained on data given as an object; the kernel needs the data")
        if r.cfg.model.object is not None or r.cfg.model.name not in MODELS.names():
            raise ConfigError(f"the {role} {r.name}'s model ({r.cfg.model.name}) is not a registered model")
    data = KernelData(te.run, n)
    theta = empirical_ntk(run_model(first.run, data, None), data.x, fields=data.fields)
    logits = teacher_logits(te.run, data, te.run.final_weights)
    labels = supervision_complexity(theta, onehot_targets(data.labels, data.ds.num_classes))
    teacher: dict[float, float] = {}

    def at(tau: float) -> float:
        if tau not in teacher:
            teacher[tau] = supervision_complexity(theta, soft_targets(logits, tau))["adjusted"]
        return teacher[tau]

    at(1.0)
    for m in g.methods:
        if m.name == VANILLA:
            m.complexity = {"targets": "labels", "adjusted": labels["adjusted"]}
            continue
        obj = m.runs[0].info.objective
        try:
            tau = obj.temperature() if obj is not None else None
        except ConfigError:  # terms of different temperatures: no one target to score
            tau = None
        m.complexity = None if tau is None else {"targets": f"teacher at T={tau:g}", "temperature": tau,
                                                 "adjusted": at(tau)}
    return {"n": len(data.x), "kernel": f"{first.cfg.model.name} at initialisation (seed {first.cfg.seed}, run {first.name})",
            "labels": labels["adjusted"], "teacher": {f"{t:g}": v for t, v in sorted(teacher.items())},
            "jitter": labels["jitter"]}


# --- figures -------------------------------------------------------------------------------------

def wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


def scatter_figure(g: Group, path: Path, split: str = "train") -> Path | None:
    panels = [(m, m.analyses[0].splits[split]) for m in g.methods if m.analyses]
    if not panels:
        return None
    fig, axes = figure_grid(len(panels), cols=min(4, len(panels)), size=3.0, share=True)
    limits = shared_limits(*(v for _, d in panels for v in (d.x, d.y)))
    for ax, (m, d) in zip(axes, panels):
        run = "" if m.runs[0].name == m.name else f"{m.runs[0].name}: "
        scatter(ax, d.x, d.y, d.noisy, plain(f"{m.name}\n{run}{mean_gap(d.x, d.y)}"), f"teacher {PHI}", f"student {PHI}",
                limits=limits)
    fig.suptitle(plain(wrap(f"{split} split, one panel per method (its first seed): {g.title}", 40 * min(4, len(panels)))))
    return save_figure(fig, path)


MARKERS = "osD^vPX*"


def agreement_figure(g: Group, path: Path) -> Path | None:
    """Top-1 agreement with the teacher against test accuracy: one point per method (mean over its seeds,
    with their standard deviations as error bars), filled for the test split, hollow for the train
    split; each method its own colour and marker, named in the legend."""
    points = [m for m in g.methods if m.mean("agreement_test") is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(8.4, 4.8), layout="constrained")
    err = lambda s: None if s["std"] is None else 100 * s["std"]  # noqa: E731
    ax.plot([], [], "o", color="grey", label="test split (filled)")
    ax.plot([], [], "o", mfc="none", color="grey", label="train split (hollow)")
    ax.plot([], [], "--", lw=1, color=REFERENCE, label="the teacher's test accuracy")
    for i, m in enumerate(points):
        colour, marker = series_color(i), MARKERS[(i // 7) % len(MARKERS)]
        acc, test, train = (m.numbers[k] for k in ("test_acc", "agreement_test", "agreement_train"))
        x = 100 * acc["mean"]
        ax.errorbar(x, 100 * test["mean"], xerr=err(acc), yerr=err(test), fmt=marker, color=colour, ms=6, capsize=2,
                    label=plain(m.name))
        ax.plot([x], [100 * train["mean"]], marker, mfc="none", color=colour, ms=6)
    ax.axvline(100 * g.teacher.summary.test_acc, ls="--", lw=1, color=REFERENCE)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xlabel("student test accuracy %")
    ax.set_ylabel("top-1 agreement with the teacher %")
    ax.set_title(plain(wrap(f"Agreement with the teacher against test accuracy, one point per method: {g.title}", 95)),
                 fontsize=8)
    return save_figure(fig, path)


# --- against KD ----------------------------------------------------------------------------------

def versus_kd(groups: list[Group]) -> list[dict]:
    """Each method whose mean test accuracy beats its group's `kd` method, against that KD."""
    out = []
    for g in groups:
        kd = next((m for m in g.methods if m.name == "kd"), None)
        if kd is None or kd.mean("agreement_test") is None:
            continue
        for m in g.methods:
            if m is kd or m.name == VANILLA or m.mean("agreement_test") is None or m.mean("test_acc") <= kd.mean("test_acc"):
                continue
            d = {k: m.mean(k) - kd.mean(k) for k in ("test_acc", "agreement_test", "kl_test", "agreement_train", "kl_train")}
            less = d["agreement_test"] > 0 and d["kl_test"] < 0
            more = d["agreement_test"] < 0 and d["kl_test"] > 0
            hard = (m.mean("hard_y_minus_x_train"), kd.mean("hard_y_minus_x_train"))
            out.append({"group": f"{g.teacher.name} → {g.student.cfg.model.name}", "teacher": g.teacher.name, "method": m.name, "delta": d,
                        "deviates": "less" if less else "more" if more else "mixed",
                        "hard_y_minus_x_train": {"method": hard[0], "kd": hard[1]},
                        "hard_frac_y_below_x_train": {"method": m.mean("hard_frac_y_below_x_train"),
                                                      "kd": kd.mean("hard_frac_y_below_x_train")},
                        "same_underfitting": bool(np.sign(hard[0]) == np.sign(hard[1]))})
    return out


def answer(rows: list[dict], groups: list[Group]) -> str:
    with_kd = sum(any(m.name == "kd" for m in g.methods) for g in groups)
    if not with_kd:
        return f"{QUESTION} No group has a kd method to compare with"
    if not rows:
        return f"{QUESTION} No method beats KD here ({with_kd} group{'s' if with_kd != 1 else ''} with KD)"
    count = {k: sum(r["deviates"] == k for r in rows) for k in ("less", "more", "mixed")}
    same = sum(r["same_underfitting"] for r in rows)
    return (f"{QUESTION} Here {len(rows)} method{'s beat' if len(rows) != 1 else ' beats'} KD ({with_kd} group"
            f"{'s' if with_kd != 1 else ''} with KD): {count['less']} deviate{'s' if count['less'] == 1 else ''} less than KD (higher top-1 agreement "
            f"and lower KL on test), {count['more']} more, {count['mixed']} mixed; {same} of {len(rows)} underfit{'s' if same == 1 and len(rows) == 1 else ''} "
            f"the teacher's hardest 20% of training points in the same direction as KD (mean Y-X of the same sign)")


# --- the report ----------------------------------------------------------------------------------

@REPORTS.register("methods")
def methods_report(runs: dict[str, RunDir], out: Path, complexity: bool = False, n: Annotated[int, Field(ge=2)] = 256,
                   published: str | None = None, published_any_data: bool = False) -> Report:
    """Distillation methods per (teacher run, student architecture, data); see the module docstring."""
    out = Path(out)
    figures = out / "figures"
    table = PublishedTable(published or PUBLISHED)
    found, skipped = read_runs(runs)
    groups = find_groups(found, skipped)
    teachers: dict = {}
    tables: list[Table] = []
    data: dict[str, Any] = {"question": QUESTION, "published": str(table.path), "published_sources": table.sources,
                            "groups": []}
    for i, g in enumerate(groups):
        _measure(g, skipped, teachers)
        dname = g.student.cfg.data.name
        te_model, st_model = g.teacher.cfg.model.name, g.student.cfg.model.name
        for m in g.methods:
            m.published = table.lookup(dname, te_model, st_model, m.name, published_any_data)
        te_published = table.lookup(dname, te_model, st_model, "teacher", published_any_data)
        if complexity:
            try:
                g.complexity = _complexity(g, n)
            except KdlabError as e:
                skipped.append(f"supervision complexity of {g.title}: {e}")
        stem = f"{i + 1}_{file_stem(g.teacher.name)}_{file_stem(st_model)}"
        scat = scatter_figure(g, figures / f"methods_scatter_{stem}.png")
        agree = agreement_figure(g, figures / f"methods_agreement_{stem}.png")
        g.figures = [f for f in (scat, agree) if f is not None]

        with_c = g.complexity is not None
        rows = [["teacher", g.teacher.name, format_mean_std(mean_std([g.teacher.summary.test_acc])),
                 te_published.cell(dname) if te_published else "-", "-", "-", "-", "-", *(["-"] if with_c else [])]]
        for m in g.methods:
            c = m.complexity
            rows.append([m.name, runs_label(m.runs), format_mean_std(m.numbers["test_acc"]),
                         m.published.cell(dname) if m.published else "-",
                         format_mean_std(m.numbers.get("agreement_train")),
                         format_mean_std(m.numbers.get("agreement_test")),
                         format_mean_std(m.numbers.get("kl_train"), 1, 3), format_mean_std(m.numbers.get("kl_test"), 1, 3),
                         *([f"{c['adjusted']:.4f} ({c['targets']})" if c else "-"] if with_c else [])])
        kernel = f"; complexity under {g.complexity['kernel']}, n = {g.complexity['n']}" if with_c else ""
        tables.append(Table(f"Methods, {g.title}: test accuracy (mean ± std over seeds), agreement and KL(teacher || "
                            f"student) at T = 1 against {g.teacher.name}{kernel}",
                            ["method", "runs", "test %", "published test %", "agreement train %", "agreement test %",
                             "KL train", "KL test", *(["adjusted complexity of its targets"] if with_c else [])],
                            rows, [agree] if agree else []))
        under = []
        for m in g.methods:
            for split in SPLITS:
                k = lambda name: m.numbers.get(f"{name}_{split}")  # noqa: E731
                under.append([m.name, split, format_mean_std(k("hard_y_minus_x"), 1, 3, True),
                              format_mean_std(k("hard_frac_y_below_x"), 1, 2),
                              format_mean_std(k("easy_y_minus_x"), 1, 3, True),
                              format_mean_std(k("easy_frac_y_below_x"), 1, 2)])
        tables.append(Table(f"Underfitting, {g.title}: X = teacher phi(p_te[y_te]), Y = student phi(p_st[y_te]); "
                            f"hard/easy = lowest/highest 20% X",
                            ["method", "split", "hard 20% Y-X", "hard 20% Y<X", "easy 20% Y-X", "easy 20% Y<X"],
                            under, [scat] if scat else []))
        data["groups"].append({
            "teacher": g.teacher.name, "teacher_model": te_model, "student_model": st_model, "data": describe_data(g.student.cfg),
            "teacher_test_acc": g.teacher.summary.test_acc, "teacher_published": asdict(te_published) if te_published else None,
            "complexity": g.complexity, "figures": [str(f) for f in g.figures],
            "methods": [{"method": m.name, "runs": [r.name for r in m.runs], "seeds": [r.cfg.seed for r in m.runs],
                         "loss": describe_loss(m.runs[0]), "numbers": m.numbers,
                         "published": asdict(m.published) if m.published else None, "complexity": m.complexity}
                        for m in g.methods]})

    rows = versus_kd(groups)
    data["versus_kd"] = rows
    if rows:
        tables.append(Table("Methods that beat KD, against KD (differences of means; deviates less: higher top-1 agreement "
                            "and lower KL on test)",
                            ["group", "method", "Δ test %", "Δ agreement test %", "Δ KL test", "hard 20% Y-X train (method / KD)",
                             "hard 20% Y<X train (method / KD)", "deviates from the teacher"],
                            [[r["group"], r["method"], f"{100 * r['delta']['test_acc']:+.2f}",
                              f"{100 * r['delta']['agreement_test']:+.2f}", f"{r['delta']['kl_test']:+.3f}",
                              f"{r['hard_y_minus_x_train']['method']:+.3f} / {r['hard_y_minus_x_train']['kd']:+.3f}",
                              f"{r['hard_frac_y_below_x_train']['method']:.2f} / {r['hard_frac_y_below_x_train']['kd']:.2f}",
                              VERDICT[r["deviates"]]] for r in rows]))
    if skipped:
        tables.append(Table("Runs left out", ["run: why"], [[s] for s in skipped]))
    note = answer(rows, groups)
    data["answer"] = note
    data["skipped"] = skipped
    return Report("methods", tables=tables, data=data, note=note, left_out=skipped)
