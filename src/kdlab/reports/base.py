"""One contract for every report.

A report is a function registered by name. It takes the runs it reads (a mapping from names to run
directories; empty for the theory reports), an output folder and its own options; it writes its
figures into that folder and returns a `Report`: tables, figures and JSON-able data.
`make_report` then writes `<name>.json`, `<name>.md` and a self-contained `<name>.html` beside them.
`kdlab report`, the reports a plan names and the theory commands all go through it.

What only a browser can show (an interactive figure, folded configs) is a `Block`: its HTML goes into
the page after the table it names, its `markdown` into the Markdown twin. HTML that several blocks
share (their data, one script) is an asset, put once at the end of the page.

    from kdlab.reports import REPORTS, Report, Table

    @REPORTS.register("mine")
    def mine(runs, out, metric: str = "test_acc") -> Report:
        rows = [[name, f"{getattr(run.summary(), metric):.4f}"] for name, run in runs.items()]
        return Report("mine", tables=[Table("my metric", ["run", metric], rows)])
"""

from __future__ import annotations

import base64
import html
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io import code_version, write_json, write_text
from ..records import RunDir
from ..registry import Registry
from ..tables import Table

REPORTS = Registry("report", context=("runs", "out"), package="kdlab.reports")


@dataclass
class Block:
    """A part of the page that is not a table. `html` is put into the HTML page as it is: whoever makes
    a block escapes the text in it. `markdown` stands for it in the Markdown twin ('' for nothing)."""

    html: str
    markdown: str = ""
    after: Table | None = None  # shown right after this table and its figures; None: after every table


@dataclass
class Report:
    name: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the numbers, for --json and <name>.json
    note: str = ""  # one line under the title
    files: dict[str, Path] = field(default_factory=dict)  # html, markdown, json: set by make_report
    left_out: list[str] = field(default_factory=list)  # "run: why" for each run it could not read
    blocks: list[Block] = field(default_factory=list)
    # HTML put once at the end of the page, after every block: what blocks share (data, a script).
    assets: list[str] = field(default_factory=list)

    def all_figures(self) -> list[Path]:
        """Every figure once: the tables' own, then the report's."""
        seen = [Path(f) for t in self.tables for f in t.figures]
        return seen + [Path(f) for f in self.figures if Path(f) not in seen]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "note": self.note, **self.data, "figures": [str(p) for p in self.all_figures()],
                "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows} for t in self.tables],
                **{kind: str(path) for kind, path in self.files.items()}}

    def lines(self) -> list[str]:
        """What a terminal shows after the tables: the note, the figures and the files written."""
        return [*([self.note] if self.note else []), *(f"figure: {p}" for p in self.all_figures()),
                *(f"{kind}: {path}" for kind, path in self.files.items() if kind != "json")]


def make_report(name: str, runs: dict[str, RunDir], out: str | Path, **options: Any) -> Report:
    """Build the report `name` over `runs` into `out` and write its JSON, Markdown and HTML there."""
    out = Path(out)
    report = REPORTS.build(name, options, runs=runs, out=out)
    if not isinstance(report, Report):
        raise TypeError(f"report '{name}' returned {type(report).__name__}, not a kdlab.reports.Report")
    meta = f"{report.note + '; ' if report.note else ''}kdlab {code_version()}; {time.strftime('%Y-%m-%d %H:%M')}"
    html_path, md_path, json_path = (out / f"{name}.{ext}" for ext in ("html", "md", "json"))
    write_text(html_path, render_html(report, meta))
    write_text(md_path, render_markdown(report, meta, out))
    report.files = {"html": html_path, "markdown": md_path, "json": json_path}
    write_json(json_path, report.to_json())
    return report


def runs_named(roles: dict[str, str], runs: dict[str, RunDir]) -> dict[str, RunDir]:
    """The run directories a report names (role -> run name), with a clear error for a missing one."""
    missing = [n for n in roles.values() if n not in runs]
    if missing:
        raise ConfigError(f"the report names run '{missing[0]}', not among its runs: {', '.join(runs) or 'none'}")
    return {role: runs[n] for role, n in roles.items()}


def runs_of(base: str, runs: dict[str, RunDir]) -> list[RunDir]:
    """The runs a report names by base name: the run itself, or its per-seed expansions (<base>_s<seed>)."""
    found = [rd for name, rd in runs.items()
             if name == base or (name.startswith(f"{base}_s") and name[len(base) + 2:].isdigit())]
    if not found:
        raise ConfigError(f"the report names run '{base}', not among its runs: {', '.join(runs) or 'none'}")
    return found


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}
.meta{color:#666;font-size:13px}details{margin:.3em 0}summary{cursor:pointer}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:12px}"""


# A cell that is a number (or a mean ± std, or '-' for none)
_NUMBER = re.compile(r"[-+]?[0-9][0-9,.]*%?( ± [0-9][0-9,.]*)?|-|")


def _blocks_after(report: Report, table: Table | None) -> list[Block]:
    """The blocks shown after `table` (None: after every table, with those naming no table of the report)."""
    tables = {id(t) for t in report.tables}
    if table is None:
        return [b for b in report.blocks if b.after is None or id(b.after) not in tables]
    return [b for b in report.blocks if b.after is table]


def render_html(report: Report, meta: str) -> str:
    """One self-contained page: tables with their figures (embedded as data URIs) and blocks, then the
    report's own figures, the remaining blocks and the assets."""
    e = html.escape
    # The empty icon keeps a browser from asking for /favicon.ico: the page makes no request at all.
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>kdlab {e(report.name)}</title>"
             f"<link rel='icon' href='data:,'><style>{CSS}</style></head><body>",
             f"<h1>kdlab report: {e(report.name)}</h1>", f"<p class='meta'>{e(meta)}</p>"]
    def img(f) -> str:
        data = base64.b64encode(Path(f).read_bytes()).decode()
        return f"<img alt='{e(Path(f).stem)}' src='data:image/png;base64,{data}'>"

    for k, t in enumerate(report.tables):
        parts.append(f"<h2>{e(t.title)}</h2>")
        if t.rows:
            # Columns of numbers are right-aligned (the default); columns of words read from the left.
            words = [i + 1 for i in range(len(t.columns)) if not all(_NUMBER.fullmatch(str(r[i])) for r in t.rows if i < len(r))]
            if words:
                parts.append("<style>" + ",".join(f".table-{k} td:nth-child({i})" for i in words) + "{text-align:left}</style>")
            parts.append(f"<table class='table-{k}'><tr>" + "".join(f"<th>{e(c)}</th>" for c in t.columns) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in t.rows]
            parts.append("</table>")
        elif t.columns:  # a table without columns is a heading for its figures and blocks
            parts.append("<p>No runs of this kind were found.</p>")
        parts += [img(f) for f in t.figures]
        parts += [b.html for b in _blocks_after(report, t)]
    own = {Path(f) for t in report.tables for f in t.figures}
    parts += [img(f) for f in report.figures if Path(f) not in own]
    parts += [b.html for b in _blocks_after(report, None)]
    parts += list(dict.fromkeys(report.assets))
    parts.append("</body></html>")
    return "\n".join(parts)


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|#!])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md(text: Any) -> str:
    """Text shown literally in Markdown: one line, its markup characters escaped (an intraword `_`,
    as in run_name, stays as it is)."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(str(text).split()))


def render_markdown(report: Report, meta: str, out: Path) -> str:
    def link(f) -> str:
        p = Path(f)
        return f"![{md(p.stem)}](<{p.relative_to(out) if p.is_relative_to(out) else p}>)"

    lines = [f"# kdlab report: {md(report.name)}", "", md(meta), ""]
    for t in report.tables:
        lines += [f"## {md(t.title)}", ""]
        if t.rows:
            lines.append("| " + " | ".join(md(c) for c in t.columns) + " |")
            lines.append("|" + "---|" * len(t.columns))
            lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in t.rows]
            lines.append("")
        elif t.columns:
            lines += ["No runs of this kind were found.", ""]
        lines += [link(f) for f in t.figures] + ([""] if t.figures else [])
        lines += [line for b in _blocks_after(report, t) if b.markdown for line in (b.markdown, "")]
    own = {Path(f) for t in report.tables for f in t.figures}
    lines += [link(f) for f in report.figures if Path(f) not in own]
    lines += [line for b in _blocks_after(report, None) if b.markdown for line in ("", b.markdown)]
    return "\n".join(lines) + "\n"

