"""`kdlab report DIR`: one self-contained HTML page (figures embedded) and its Markdown twin over
every finished run found under DIR.

- Table 2: each offline KD student with its teacher and the one-hot student of its architecture
  (P1's convention: in self-distillation without a separate one-hot run, that is the teacher).
- Loss switching (P1 §3.2, Fig 4, 14-16): runs with a switch, grouped by data, model and teacher;
  final test accuracy against the switch step, and test-accuracy trajectories.
- Deviations (P1 §3.1): the scatter and evolution figures of every Table 2 pair.
"""

from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig
from .io import code_version, read_jsonl, write_json, write_text
from .train.rundir import RunDir


@dataclass
class Found:
    run: RunDir
    cfg: RunConfig
    summary: dict
    info: dict  # run.json, read once

    @property
    def name(self) -> str:
        return self.run.root.name

    def data_key(self) -> str:
        return json.dumps(self.cfg.data.model_dump(mode="json"), sort_keys=True)

    def model_key(self) -> str:
        return json.dumps(self.cfg.model.model_dump(mode="json"), sort_keys=True)


def discover(root: Path) -> list[Found]:
    found = []
    for cfg_path in sorted(root.rglob("config.yaml")):
        run = RunDir(cfg_path.parent)
        if run.finished:
            try:
                found.append(Found(run, run.config(), run.summary(), run.info()))
            except Exception:  # not a run this version of kdlab can read: leave it out
                continue
    return found


def teacher_of(st: Found, runs: list[Found]) -> Found | None:
    """The run that taught `st`: by the path resolved at its start, as configured, or by name beside it."""
    given = Path(st.cfg.teacher.run)
    started = st.info.get("teacher_run")
    for r in runs:
        root = r.run.root.resolve()
        if (started and Path(started) == root) or given.resolve() == root:
            return r
    return next((r for r in runs if r.run.root.parent == st.run.root.parent and r.name == given.name), None)


def table2(runs: list[Found]) -> list[dict]:
    rows = []
    for st in runs:
        c = st.cfg
        if not c.loss.uses_kd or c.loss.switch is not None or c.teacher.online or c.teacher.checkpoint != "final":
            continue
        te = teacher_of(st, runs)
        if te is None:
            continue
        onehot = [r for r in runs if not r.cfg.loss.uses_kd and r.cfg.loss.switch is None and r is not te
                  and r.data_key() == st.data_key() and r.model_key() == st.model_key()]
        oh, oh_label = (onehot[0], onehot[0].name) if onehot else (
            (te, f"{te.name} (teacher)") if te.model_key() == st.model_key() else (None, "-"))
        data = c.data.name + (f", {int(100 * c.data.label_noise)}% noise" if c.data.label_noise else "")
        rows.append({"dataset": data, "teacher_model": te.cfg.model.name, "student_model": c.model.name,
                     "teacher": te.name, "onehot": oh_label, "kd": st.name,
                     "train": [te.summary["train_acc"], oh.summary["train_acc"] if oh else None, st.summary["train_acc"]],
                     "test": [te.summary["test_acc"], oh.summary["test_acc"] if oh else None, st.summary["test_acc"]],
                     "_pair": (te, st)})
    return rows


def switch_groups(runs: list[Found]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for r in runs:
        if r.cfg.loss.switch is None:
            continue
        te = teacher_of(r, runs)
        key = (r.data_key(), r.model_key(), te.name if te else r.cfg.teacher.run)
        g = groups.setdefault(key, {"switch": [], "baselines": [], "model": r.cfg.model.name, "data": r.cfg.data.name})
        g["switch"].append(r)
    for (data, model, teacher), g in groups.items():
        for r in runs:
            if r.cfg.loss.switch is None and r.data_key() == data and r.model_key() == model:
                te = teacher_of(r, runs) if r.cfg.loss.uses_kd else None
                if not r.cfg.loss.uses_kd or (te is not None and te.name == teacher):
                    g["baselines"].append(r)
        g["switch"].sort(key=lambda r: (r.cfg.loss.switch.to, r.cfg.loss.switch.at_step))
    return list(groups.values())


def _label(r: Found) -> str:
    s = r.cfg.loss.switch
    if s is not None:
        return f"{'one-hot → KD' if s.to == 'kd' else 'KD → one-hot'} at step {s.at_step}"
    kind = "KD" if r.cfg.loss.uses_kd else "one-hot"
    return f"{kind}, {r.summary['steps']} steps ({r.name})"


def _switch_figures(g: dict, out: Path, tag: str) -> list[Path]:
    from .analysis.figures import plt, save_figure

    fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    for to, label, color in (("kd", "one-hot → KD at step S", "C1"), ("onehot", "KD → one-hot at step S", "C2")):
        pts = [(r.cfg.loss.switch.at_step, 100 * r.summary["test_acc"]) for r in g["switch"] if r.cfg.loss.switch.to == to]
        if pts:
            ax.plot(*zip(*pts), "o-", color=color, label=label)
    for i, b in enumerate(g["baselines"]):
        ax.axhline(100 * b.summary["test_acc"], ls="--", lw=1, color=f"C{3 + i}", label=_label(b))
    ax.set_xlabel("switch step S")
    ax.set_ylabel("final test accuracy %")
    ax.set_title(f"Loss switching, {g['model']} on {g['data']} (P1 Fig 4, 14, 15)", fontsize=9)
    ax.legend(fontsize=7)
    first = save_figure(fig, out / f"switch_{tag}_final.png")

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained", sharey=True)
    for ax, to, title in ((axes[0], "kd", "switch to KD"), (axes[1], "onehot", "switch to one-hot")):
        for i, b in enumerate(g["baselines"]):
            m = read_jsonl(b.run.metrics_path)
            ax.plot([x["step"] for x in m], [100 * x["test_acc"] for x in m], "--", lw=1, color=f"C{3 + i}", label=_label(b))
        for i, r in enumerate(x for x in g["switch"] if x.cfg.loss.switch.to == to):
            m = read_jsonl(r.run.metrics_path)
            line = ax.plot([x["step"] for x in m], [100 * x["test_acc"] for x in m], lw=1.2, color=f"C{i}", label=_label(r))
            ax.axvline(r.cfg.loss.switch.at_step, color=line[0].get_color(), ls=":", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    axes[0].set_ylabel("test accuracy %")
    fig.suptitle("Test-accuracy trajectories under loss switching (P1 Fig 4, 16)", fontsize=10)
    return [first, save_figure(fig, out / f"switch_{tag}_trajectories.png")]


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def write_report(root: Path, out: Path) -> dict:
    from .analysis import analyze_runs
    from .analysis.figures import plot_evolution, plot_main

    if not root.is_dir():
        from .errors import RunError

        raise RunError(f"{root} is not a folder; kdlab report needs a folder that holds run directories")
    runs = [r for r in discover(root) if out.resolve() not in r.run.root.resolve().parents]
    figures = out / "figures"
    t2 = table2(runs)
    groups = switch_groups(runs)
    sections: list[tuple[str, list[str], list[list[str]], list[Path]]] = []

    cols = ["dataset", "teacher", "student", "train % teacher", "train % one-hot", "train % KD",
            "test % teacher", "test % one-hot", "test % KD", "runs (teacher / one-hot / KD)"]
    rows = [[r["dataset"], r["teacher_model"], r["student_model"], *map(_pct, r["train"]), *map(_pct, r["test"]),
             f"{r['teacher']} / {r['onehot']} / {r['kd']}"] for r in t2]
    sections.append(("Teachers and students (P1 Table 2)", cols, rows, []))

    for i, g in enumerate(groups):
        srows = [[_label(r), _pct(r.summary["train_acc"]), _pct(r.summary["test_acc"]), r.name]
                 for r in [*g["baselines"], *g["switch"]]]
        sections.append((f"Loss switching: {g['model']} on {g['data']}", ["run", "train %", "test %", "name"], srows,
                         _switch_figures(g, figures, str(i))))

    for r in t2:
        te, st = r["_pair"]
        if not te.run.prediction_steps() or not st.run.prediction_steps():
            continue
        a = analyze_runs(te.run.root, st.run.root)
        u = a.to_json()["splits"]["train"]["underfitting"]
        srow = [["train", str(u["n"]), f"{u['mean_y_minus_x']:+.3f}", f"{u['hard']['mean_y_minus_x']:+.3f}",
                 f"{u['hard']['frac_y_below_x']:.2f}", f"{u['slope']:.3f}"]]
        figs = [plot_main(a, figures / f"deviation_{st.name}.png")]
        if len(a.evolution) > 1:
            figs.append(plot_evolution(a, figures / f"evolution_{st.name}.png"))
        sections.append((f"Deviations: {st.name} against {te.name}",
                         ["split", "n", "mean Y-X", "hard 20% Y-X", "hard Y<X", "slope"], srow, figs))

    meta = f"{len(runs)} finished runs under {root}; kdlab {code_version()}; {time.strftime('%Y-%m-%d %H:%M')}"
    html_path, md_path = out / "report.html", out / "report.md"
    write_text(html_path, _html(meta, sections))
    write_text(md_path, _markdown(meta, sections, out))
    result = {"runs": len(runs), "html": str(html_path), "markdown": str(md_path),
              "table2": [{k: v for k, v in r.items() if k != "_pair"} for r in t2],
              "switch_groups": [{"model": g["model"], "data": g["data"], "runs": [r.name for r in g["switch"]]} for g in groups],
              "figures": [str(p) for s in sections for p in s[3]]}
    write_json(out / "report.json", result)
    return result


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}
.meta{color:#666;font-size:13px}"""


def _html(meta: str, sections) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>kdlab report</title><style>{CSS}</style></head><body>",
             "<h1>kdlab report</h1>", f"<p class='meta'>{e(meta)}</p>"]
    for title, cols, rows, figs in sections:
        parts.append(f"<h2>{e(title)}</h2>")
        if rows:
            parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows]
            parts.append("</table>")
        else:
            parts.append("<p>No runs of this kind were found.</p>")
        for f in figs:
            data = base64.b64encode(Path(f).read_bytes()).decode()
            parts.append(f"<img alt='{e(Path(f).stem)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _markdown(meta: str, sections, out: Path) -> str:
    lines = ["# kdlab report", "", meta, ""]
    for title, cols, rows, figs in sections:
        lines += [f"## {title}", ""]
        if rows:
            lines.append("| " + " | ".join(cols) + " |")
            lines.append("|" + "---|" * len(cols))
            lines += ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in rows]
        else:
            lines.append("No runs of this kind were found.")
        lines.append("")
        lines += [f"![{Path(f).stem}]({Path(f).relative_to(out)})" for f in figs]
        lines.append("")
    return "\n".join(lines)
