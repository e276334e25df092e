"""Reports by name, one file each, under one contract (kdlab.reports.base): runs and an output folder
in, tables and figures out, written there as <name>.json, .md and a self-contained .html."""

from .base import REPORTS, Report, Table, make_report, runs_named, runs_of

__all__ = ["REPORTS", "Report", "Table", "make_report", "runs_named", "runs_of"]
