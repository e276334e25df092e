"""An analysis of two runs written to disk: deviations.json and the figures."""

from __future__ import annotations

from pathlib import Path

from ..io import write_json
from .figures import write_figures
from .runs import analyze_runs


def write_analysis(teacher: str | Path, student: str | Path, step: int | None = None, out: str | Path | None = None,
                   figures: bool = True) -> dict:
    """Analyse two runs and write deviations.json (and the figures) to `out`, by default
    <student>/figures; returns the report with the written paths."""
    analysis = analyze_runs(teacher, student, step)
    report = analysis.to_json()
    out = Path(out) if out else Path(student) / "figures"
    paths: list[Path] = []
    if figures:
        paths = write_figures(analysis, out)
    write_json(out / "deviations.json", report)
    report["figures"] = [str(p) for p in paths]
    report["report"] = str(out / "deviations.json")
    return report
