"""An analysis of two runs written to disk: deviations.json and the figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io import write_json
from ..records import RunDir
from ..tables import Table
from .figures import write_figures
from .runs import RunAnalysis, analyze_runs


@dataclass
class WrittenAnalysis:
    analysis: RunAnalysis
    report: Path  # deviations.json
    figures: list[Path]

    def to_json(self) -> dict:
        return {**self.analysis.to_json(), "figures": [str(p) for p in self.figures], "report": str(self.report)}

    def tables(self) -> list[Table]:
        return self.analysis.tables()


def write_analysis(teacher: str | Path, student: str | Path, step: int | None = None, out: str | Path | None = None,
                   figures: bool = True) -> WrittenAnalysis:
    """Analyse two runs and write deviations.json (and the figures) to `out`, by default the
    student's figures folder."""
    analysis = analyze_runs(teacher, student, step)
    out = Path(out) if out else RunDir(student).figures
    paths = write_figures(analysis, out) if figures else []
    write_json(out / "deviations.json", analysis.to_json())
    return WrittenAnalysis(analysis, out / "deviations.json", paths)
