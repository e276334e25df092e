"""Student-teacher deviations, sample by sample (P1 §3.1, App. C.2-C.3).

From arrays:  deviations(teacher_logits, student_logits, labels, noisy=...) -> Deviations
              underfitting_summary(d.x, d.y, noisy=d.noisy); dissection(d.teacher_correct, d.student_correct)
From runs:    analyze_runs("runs/demo/teacher", "runs/demo/student_kd") -> RunAnalysis
              write_analysis(teacher, student, figure_format=FigureFormat("pdf")) -> WrittenAnalysis
Per sample:   per_sample(teacher, student), per_sample_evolution(teacher, student) -> pandas DataFrames;
              write_table(frame, "samples.parquet")
"""

from .deviations import Deviations, deviations, logit_margin
from ..records import load_predictions
from .per_sample import evolution_frame, per_sample, per_sample_evolution, per_sample_frame, write_table
from .runs import RunAnalysis, analyze_runs
from .write import WrittenAnalysis, write_analysis
from .summary import dissection, underfitting_summary

__all__ = [
    "Deviations", "RunAnalysis", "WrittenAnalysis", "analyze_runs", "deviations", "dissection", "evolution_frame",
    "load_predictions", "logit_margin", "per_sample", "per_sample_evolution", "per_sample_frame",
    "underfitting_summary", "write_analysis", "write_table",
]
