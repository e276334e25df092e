"""An analysis of two runs written to disk: deviations.json, the figures (png, pdf or svg) and, where
asked, the per-sample tables (CSV or Parquet)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..io import write_json
from ..plotting import FigureFormat
from ..records import RunDir
from ..tables import Table
from .figures import write_figures
from .per_sample import check_table_path, evolution_frame, per_sample_frame, write_table
from .runs import RunAnalysis, analyze_runs


SAMPLE_TABLES = {"per_sample": "per-sample table", "per_sample_evolution": "per-sample evolution table"}


@dataclass
class WrittenAnalysis:
    analysis: RunAnalysis
    report: Path  # deviations.json
    figures: list[Path]
    figure_format: FigureFormat = FigureFormat()
    # The per-sample tables written, by kind: "per_sample" (the pair at the analysed step) and
    # "per_sample_evolution" (every recorded student step); only those asked for.
    sample_tables: dict[str, Path] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {**self.analysis.to_json(), "report": str(self.report), "figures": [str(p) for p in self.figures],
                "figure_format": {"format": self.figure_format.format, "dpi": self.figure_format.dpi},
                **{kind: str(self.sample_tables[kind]) if kind in self.sample_tables else None
                   for kind in SAMPLE_TABLES}}

    def tables(self) -> list[Table]:
        return self.analysis.tables()

    def lines(self) -> list[str]:
        """What a terminal shows after the tables: every file written."""
        return [f"report: {self.report}", *(f"figure: {p}" for p in self.figures),
                *(f"{SAMPLE_TABLES[kind]}: {p}" for kind, p in self.sample_tables.items())]


def write_analysis(teacher: str | Path, student: str | Path, step: int | None = None, out: str | Path | None = None,
                   figures: bool = True, *, figure_format: FigureFormat = FigureFormat(),
                   per_sample: str | Path | None = None, per_sample_evolution: str | Path | None = None) -> WrittenAnalysis:
    """Analyse two runs and write deviations.json (and the figures, as `figure_format` says) to
    `out`, by default the student's figures folder. `per_sample`: a .csv or .parquet file for the
    table of the pair at the analysed step; `per_sample_evolution`: one for the table over the
    student's recorded steps."""
    asked = {kind: check_table_path(p) for kind, p in
             (("per_sample", per_sample), ("per_sample_evolution", per_sample_evolution)) if p is not None}
    if len(asked) == 2 and asked["per_sample"].resolve() == asked["per_sample_evolution"].resolve():
        raise ConfigError(f"the per-sample table and its evolution would both be written to {per_sample}; give two files")
    analysis = analyze_runs(teacher, student, step)
    out = Path(out) if out else RunDir(student).figures
    paths = write_figures(analysis, out, figure_format) if figures else []
    frames = {"per_sample": per_sample_frame, "per_sample_evolution": evolution_frame}
    written = {kind: write_table(frames[kind](analysis), path) for kind, path in asked.items()}
    write_json(out / "deviations.json", analysis.to_json())
    return WrittenAnalysis(analysis, out / "deviations.json", paths, figure_format, written)
