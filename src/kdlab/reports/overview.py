"""`overview` (what `kdlab report DIR` makes) over every finished run it is given.

- Table 2 (P1), one table per data setting: each distilled student with its teacher and the one-hot
  student of its architecture (P1's convention: in self-distillation without a separate one-hot run,
  that is the teacher). Each run's model is described from its stored config (name, options,
  parameters), its loss from the objective it recorded (terms, weights, temperatures, the switch),
  and train accuracy is named against which labels it is measured.
- Seed spread: runs whose stored configs are equal apart from `name` and `seed` (and, for students,
  that learnt from the same teacher run), as a plan's `seeds:` makes them: mean ± sample standard
  deviation (ddof = 1) over the seeds.
- Loss switching (P1 §3.2, Fig 4, 14-16): runs with a switch, grouped by data, model and teacher;
  final test accuracy against the switch step, and test-accuracy trajectories.
- Each pair (P1 §3.1): deviations on the train and the test split, the scatter and evolution
  figures, training curves, and in the HTML page an interactive scatter of every sample.
- Every finished run, the runs left out (with why), and the resolved configs (folded, in the HTML).

Everything comes from what the runs recorded: a student's teacher is the run directory its run.json
names (resolved when it started), and whether a run distilled is recorded there too. The one-hot
student of a pair is a run without a teacher on the same data with the same model section. Nothing
is rebuilt, so runs of models, data or loss terms given as objects are reported like any other (only
the interactive scatter's thumbnails need the data, and say so where it cannot be loaded).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

from ..analysis import RunAnalysis, analyze_runs, per_sample_frame
from ..analysis.figures import plot_evolution, plot_main
from ..errors import KdlabError
from ..plotting import PALETTE, STUDENT, TEACHER, plain, plt, save_figure
from ..records import Predictions, RunDir
from ..tables import percent
from .base import REPORTS, Block, Report, Table, md
from .interactive import SCATTER_ASSET, InputStore, scatter_html
from .runs import (Found, describe_data, describe_loss, describe_model, file_stem, format_mean_std, group_name, mean_std,
                   read_runs, seed_sets, taught_offline, teacher_of, teacher_predictions)

ONEHOT_COLOUR = PALETTE[2]  # green: the one-hot student's curves, beside TEACHER blue and STUDENT orange


# --- numbers -------------------------------------------------------------------------------------


def train_columns(runs: list[Found]) -> list[str]:
    """Train accuracy named by the labels it is measured against: the noisy ones trained on and the
    original ones where noise was injected, plain "train %" where it was not (both where it varies)."""
    noisy = {r.noisy for r in runs}
    if noisy == {False} or not noisy:
        return ["train %"]
    if noisy == {True}:
        return ["train % (noisy labels)", "train % (original labels)"]
    return ["train % (labels trained on)", "train % (original labels)"]


def train_values(r: Found | None, columns: list[str]) -> list[float | None]:
    if r is None:
        return [None] * len(columns)
    if len(columns) == 1:
        return [r.summary.train_acc]
    return [r.summary.train_acc, r.summary.train_acc_orig_labels]


def _spread(values: list[float | None], scale: float = 100, digits: int = 2, sign: bool = False) -> str:
    if any(v is None for v in values) or len(values) < 2:
        return "-"
    return format_mean_std(mean_std(values), scale, digits, sign)


# --- the groupings -------------------------------------------------------------------------------

def table2(runs: list[Found]) -> list[dict]:
    rows = []
    for st in runs:
        c = st.cfg
        if not taught_offline(st):
            continue
        te = teacher_of(st, runs)
        if te is None:
            continue
        onehot = [r for r in runs if not r.distilled and r.cfg.loss.switch is None and r is not te
                  and r.data_key() == st.data_key() and r.model_key() == st.model_key()]
        oh, oh_label = (onehot[0], onehot[0].name) if onehot else (
            (te, f"{te.name} (teacher)") if te.model_key() == st.model_key() else (None, "-"))
        rows.append({"pair": len(rows) + 1, "dataset": describe_data(c), "teacher_model": te.cfg.model.name,
                     "student_model": c.model.name, "teacher_description": describe_model(te),
                     "student_description": describe_model(st), "loss": describe_loss(st),
                     "teacher": te.name, "onehot": oh_label, "kd": st.name,
                     "train": [te.summary.train_acc, oh.summary.train_acc if oh else None, st.summary.train_acc],
                     "train_orig_labels": [te.summary.train_acc_orig_labels,
                                           oh.summary.train_acc_orig_labels if oh else None,
                                           st.summary.train_acc_orig_labels],
                     "test": [te.summary.test_acc, oh.summary.test_acc if oh else None, st.summary.test_acc],
                     "_runs": (te, oh, st)})
    return rows


def seed_groups(runs: list[Found]) -> list[list[Found]]:
    """Runs that differ only by seed (at least two distinct seeds), each group ordered by seed."""
    return [s for s in seed_sets(runs) if len(s) > 1]


def switch_groups(runs: list[Found]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for r in runs:
        if r.cfg.loss.switch is None:
            continue
        te = teacher_of(r, runs)
        key = (r.data_key(), r.model_key(), te.name if te else str(r.info.teacher_run))
        g = groups.setdefault(key, {"switch": [], "baselines": [], "model": r.cfg.model.name, "data": r.cfg.data.name,
                                    "model_description": describe_model(r), "data_description": describe_data(r.cfg)})
        g["switch"].append(r)
    for (data, model, teacher), g in groups.items():
        for r in runs:
            if r.cfg.loss.switch is None and r.data_key() == data and r.model_key() == model:
                te = teacher_of(r, runs) if r.distilled else None
                if not r.distilled or (te is not None and te.name == teacher):
                    g["baselines"].append(r)
        g["switch"].sort(key=lambda r: (r.cfg.loss.switch.to, r.cfg.loss.switch.at_step))
    return list(groups.values())


# --- figures -------------------------------------------------------------------------------------

def _pretty(terms: str) -> str:
    return terms.replace("onehot", "one-hot").replace("kd", "KD")


def _label(r: Found) -> str:
    return f"{describe_loss(r)} ({r.name})"


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

    baselines = [(b, b.run.metrics()) for b in g["baselines"]]  # read once: every panel draws them
    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 3.6), layout="constrained", sharey=True,
                             squeeze=False)
    for ax, to in zip(axes[0], targets):
        for i, (b, m) in enumerate(baselines):
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


def curves_figure(members: list[tuple[str, Found, str]], path: Path, title: str) -> Path:
    """Test accuracy and training loss against step, one line per run (role, run, colour), from metrics.jsonl."""
    metrics = [r.run.metrics() for _, r, _ in members]  # read first: a damaged file leaves no figure open
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    positive = True
    for (role, r, colour), rows in zip(members, metrics):
        label = plain(f"{role}: {r.name}")
        pts = [(x["step"], 100 * x["test_acc"]) for x in rows if x.get("test_acc") is not None]
        if pts:
            acc.plot(*zip(*pts), "o-", ms=3, lw=1.3, color=colour, label=label)
        pts = [(x["step"], x["train_loss"]) for x in rows if x.get("train_loss") is not None]
        if pts:
            loss.plot(*zip(*pts), "o-", ms=3, lw=1.3, color=colour, label=label)
            positive &= all(v > 0 for _, v in pts)
    acc.set(xlabel="step", ylabel="test accuracy %", title="test accuracy")
    loss.set(xlabel="step", ylabel="training loss", title="training loss (each run's own objective)")
    if positive and loss.lines:
        loss.set_yscale("log")  # distillation terms scaled by T² and one-hot losses differ by orders
    acc.legend(fontsize=7)
    fig.suptitle(plain(title), fontsize=10)
    return save_figure(fig, path)


# --- the report ----------------------------------------------------------------------------------

def _table2_tables(t2: list[dict]) -> list[Table]:
    """One table per data setting, a row per run of each pair."""
    by_data: dict[str, list[dict]] = {}
    for p in t2:
        by_data.setdefault(p["_runs"][2].data_key(), []).append(p)
    if not by_data:
        return [Table("Teachers and students (P1 Table 2)", ["pair", "role", "run", "model", "loss", "train %", "test %"], [])]
    tables = []
    for pairs in by_data.values():
        train_cols = train_columns([pairs[0]["_runs"][2]])
        rows = []
        for p in pairs:
            te, oh, st = p["_runs"]
            roles = [("teacher" + (" (also the one-hot student)" if oh is te else ""), te), *(
                [] if oh is te else [("one-hot student", oh)]), ("distilled student", st)]
            for role, r in roles:
                if r is None:
                    rows.append([str(p["pair"]), role, "none found", "-", "-", *["-"] * len(train_cols), "-"])
                    continue
                rows.append([str(p["pair"]), role, r.name, describe_model(r), describe_loss(r),
                             *map(percent, train_values(r, train_cols)), percent(r.summary.test_acc)])
        tables.append(Table(f"Teachers and students (P1 Table 2) on {pairs[0]['dataset']}",
                            ["pair", "role", "run", "model", "loss", *train_cols, "test %"], rows))
    return tables


def _seed_table(groups: list[list[Found]], found: list[Found], deviations: dict[str, dict]) -> tuple[Table, list[dict]]:
    members = [r for g in groups for r in g]
    train_cols = train_columns(members)
    with_dev = any(all(r.name in deviations for r in g) for g in groups)
    with_data = len({g[0].data_key() for g in groups}) > 1  # one data setting: Table 2's titles name it
    rows, data = [], []
    for g in groups:
        first = g[0]
        te = teacher_of(first, found)
        train = [train_values(r, train_cols) for r in g]
        cells = [group_name(g), str(len(g)), ", ".join(str(r.cfg.seed) for r in g),
                 *([describe_data(first.cfg)] if with_data else []), describe_model(first), describe_loss(first),
                 te.name if te else (first.info.teacher_run or "-"),
                 *(_spread([t[k] for t in train]) for k in range(len(train_cols))),
                 _spread([r.summary.test_acc for r in g])]
        entry = {"runs": [r.name for r in g], "n": len(g), "seeds": [r.cfg.seed for r in g],
                 "test_acc": mean_std([r.summary.test_acc for r in g]),
                 "train_acc": mean_std([r.summary.train_acc for r in g])}
        if all(r.summary.train_acc_orig_labels is not None for r in g):
            entry["train_acc_orig_labels"] = mean_std([r.summary.train_acc_orig_labels for r in g])
        if with_dev:
            for split in ("train", "test"):
                values = [deviations[r.name][split]["mean_y_minus_x"] if r.name in deviations else None for r in g]
                cells.append(_spread(values, scale=1, digits=3, sign=True))
                if None not in values:
                    entry[f"{split}_mean_y_minus_x"] = mean_std(values)
        rows.append(cells)
        data.append(entry)
    columns = ["runs", "n", "seeds", *(["data"] if with_data else []), "model", "loss", "teacher", *train_cols, "test %",
               *(["mean Y-X train", "mean Y-X test"] if with_dev else [])]
    return Table("Seed spread: mean ± sample standard deviation (ddof = 1) over the seeds of runs that differ "
                 "only by seed", columns, rows), data


def _deviation_rows(a: RunAnalysis) -> tuple[list[list[str]], dict]:
    rows, numbers = [], {}
    for split, s in a.to_json()["splits"].items():
        u = s["underfitting"]
        numbers[split] = {k: u[k] for k in ("n", "mean_y_minus_x", "slope")} | {"hard": u["hard"]}
        for group, g in [("all", u), ("clean labels", u.get("clean")), ("noisy labels", u.get("noisy"))]:
            if not g or not g.get("n"):
                continue
            rows.append([split, group, str(g["n"]), f"{g['mean_y_minus_x']:+.3f}", f"{g['hard']['mean_y_minus_x']:+.3f}",
                         f"{g['hard']['frac_y_below_x']:.2f}", f"{g['slope']:.3f}"])
    return rows, numbers


def _configs_block(found: list[Found], out: Path) -> Block:
    e = html.escape
    parts = ["<h2>Configs</h2>", "<p class='meta'>Each run's resolved config.yaml, as it was trained.</p>"]
    links = []
    for r in sorted(found, key=lambda r: r.name):
        try:
            text = r.run.config_path.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            text = f"(config.yaml cannot be read: {err.strerror})"
        parts.append(f"<details><summary>{e(r.name)}: {e(describe_model(r))}; {e(describe_loss(r))}</summary>"
                     f"<pre>{e(text)}</pre></details>")
        rel = quote(Path(os.path.relpath(r.run.config_path, out)).as_posix())  # a run's name may hold <, > or spaces
        links.append(f"- {md(r.name)}: [config.yaml]({rel})")
    return Block("\n".join(parts), "\n".join(["## Configs", "", *links]))


@REPORTS.register("overview")
def overview(runs: dict[str, RunDir], out: Path) -> Report:
    found, skipped = read_runs(runs)
    out = Path(out)
    figures = out / "figures"
    t2 = table2(found)
    groups = switch_groups(found)
    seeds = seed_groups(found)
    tables = _table2_tables(t2)
    blocks: list[Block] = []

    # Deviations first: the seed spread reports them too.
    analyses: dict[str, RunAnalysis] = {}
    deviations: dict[str, dict] = {}
    teachers: dict[str, Predictions | Path] = {}
    for p in t2:
        te, _, st = p["_runs"]
        if not te.run.prediction_steps() or not st.run.prediction_steps():
            continue
        try:
            analyses[st.name] = analyze_runs(teacher_predictions(te, teachers), st.run.root)
        except KdlabError as e:  # damaged predictions: the other pairs are still reported
            skipped.append(f"deviations of {st.name}: {e}")

    pair_tables, store, scatters = [], InputStore(), 0
    for p in t2:
        te, oh, st = p["_runs"]
        stem = file_stem(st.name)
        figs, rows = [], []
        a = analyses.get(st.name)
        if a is not None:
            rows, deviations[st.name] = _deviation_rows(a)
            figs.append(plot_main(a, figures / f"deviation_{stem}.png"))
            if len(a.evolution) > 1:
                figs.append(plot_evolution(a, figures / f"evolution_{stem}.png"))
        separate = oh is not None and oh is not te  # a one-hot student apart from the teacher
        members = [("teacher", te, TEACHER), *([("one-hot student", oh, ONEHOT_COLOUR)] if separate else []),
                   ("distilled student", st, STUDENT)]
        try:
            figs.append(curves_figure(members, figures / f"curves_{stem}.png",
                                      f"Pair {p['pair']}: training curves of {st.name} (student) and {te.name} (teacher)"))
        except KdlabError as e:  # a damaged metrics.jsonl: the rest of the pair is still reported
            skipped.append(f"training curves of {st.name}: {e}")
        table = Table(f"Pair {p['pair']}: {st.name} (student) against {te.name} (teacher): deviations and training curves",
                      ["split", "samples", "n", "mean Y-X", "hard 20% Y-X", "hard 20% Y<X", "slope"] if rows else [],
                      rows, figs)
        pair_tables.append(table)
        if a is not None:
            try:
                frame = per_sample_frame(a)
            except KdlabError as e:  # pandas is an extra: the page says what the scatter needs
                blocks.append(Block(f"<p class='meta'>No interactive scatter: {html.escape(str(e))}</p>", after=table))
                continue
            scatters += 1
            title = f"Every sample of pair {p['pair']}: {st.name} against {te.name}"
            blocks.append(Block(scatter_html(frame, store, st.cfg.data, title), after=table,
                                markdown="The interactive scatter of every sample of this pair is in the HTML page (overview.html)."))

    seed_data = []
    if seeds:
        seed_table, seed_data = _seed_table(seeds, found, deviations)
        tables.append(seed_table)
    for i, g in enumerate(groups):
        members = [*g["baselines"], *g["switch"]]
        train_cols = train_columns(members)
        rows = [[describe_loss(r), *map(percent, train_values(r, train_cols)), percent(r.summary.test_acc), r.name] for r in members]
        tables.append(Table(f"Loss switching: {g['model_description']} on {g['data_description']}",
                            ["loss", *train_cols, "test %", "run"], rows,
                            _switch_figures(g, figures, str(i))))
    tables += pair_tables
    if found:
        train_cols = train_columns(found)
        data_settings = {describe_data(r.cfg) for r in found}
        one_data = len(data_settings) == 1  # then the title names it, not every row
        tables.append(Table("Every finished run" + (f", on {next(iter(data_settings))}" if one_data else ""),
                            ["run", "seed", *([] if one_data else ["data"]), "model", "loss", "teacher", "steps",
                             *train_cols, "test %", "train seconds"],
                            [[r.name, str(r.cfg.seed), *([] if one_data else [describe_data(r.cfg)]), describe_model(r),
                              describe_loss(r),
                              (t.name if (t := teacher_of(r, found)) else r.info.teacher_run or "-"), str(r.summary.steps),
                              *map(percent, train_values(r, train_cols)), percent(r.summary.test_acc),
                              f"{r.summary.train_seconds:.1f}"] for r in sorted(found, key=lambda r: r.name)]))
    if skipped:
        tables.append(Table("Runs left out", ["run: why"], [[s] for s in skipped]))
    if found:
        blocks.append(_configs_block(found, out))
    assets = [*store.assets(), SCATTER_ASSET] if scatters else []

    data = {"runs": len(found), "skipped": skipped,
            "table2": [{k: v for k, v in r.items() if k != "_runs"} for r in t2],
            "deviations": deviations, "seed_groups": seed_data,
            "switch_groups": [{"model": g["model"], "data": g["data"], "runs": [r.name for r in g["switch"]]} for g in groups],
            "run_details": {r.name: {"model": describe_model(r), "data": describe_data(r.cfg), "loss": describe_loss(r),
                                     "seed": r.cfg.seed} for r in found}}
    note = (f"{_count(len(found), 'finished run')}, {_count(len(t2), 'teacher/student pair')}, "
            f"{_count(len(seeds), 'group')} of runs that differ only by seed, {_count(len(groups), 'loss-switch group')}")
    return Report("overview", tables=tables, data=data, note=note, left_out=skipped, blocks=blocks, assets=assets)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
