"""Tables of results, as everything that reports numbers makes them (runs, analyses, reports, plans),
and how a terminal shows them. Reports also render them as Markdown and HTML (kdlab.reports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    figures: list[Path] = field(default_factory=list)  # shown right after the table


def percent(fraction: float | None) -> str:
    """A fraction as a table shows it: percent with two decimals; "-" where there is none."""
    return "-" if fraction is None else f"{100 * fraction:.2f}"


def print_tables(tables: Iterable[Table]) -> None:
    """Each table with rich, on stdout; text from runs is shown literally (no rich markup)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table as RichTable

    console = Console()
    if not console.is_terminal:  # piped or logged: don't wrap tables at 80 columns
        console = Console(width=120)
    for t in tables:
        shown = RichTable(title=escape(t.title))
        for i, c in enumerate(t.columns):
            shown.add_column(escape(c), justify="left" if i == 0 else "right")
        for r in t.rows:
            shown.add_row(*(escape(str(v)) for v in r))
        console.print(shown)
