"""Per-sample results as a table (pandas; extra `kdlab[tables]`): one row per sample of a teacher/
student pair at a step, or per sample and recorded student step (the evolution, long format).

Columns: sample_index (the sample's id in its split, as recorded), split, step (the student's),
teacher_step, label (the one trained on), orig_label (before noise), noisy, teacher_pred,
student_pred, teacher_p_pred and student_p_pred (the probability each gives the teacher's predicted
class), teacher_p_label and student_p_label (of the analysis's label y*, the original label by
default), x and y (P1's X = phi(p_te[y_te]) and Y = phi(p_st[y_te])), x_label and y_label (phi at
y*), group (the dissection: both_correct, only_student, only_teacher or neither, by y*), kl
(KL(p_te || p_st)), teacher_entropy and student_entropy. split and group are categoricals with
every category listed, present or not, so tables of different runs line up.

    from kdlab.analysis import per_sample
    df = per_sample("runs/demo/teacher", "runs/demo/student_kd")
    df.loc[df.noisy & (df.y < df.x), "sample_index"]   # noisy samples the student underfits
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError
from ..io import atomic_path
from ..records.predictions import SPLITS
from .deviations import Deviations
from .runs import RunAnalysis, analyze_runs
from .summary import DISSECTION, dissection_masks

TABLE_FORMATS = {".csv": "CSV", ".parquet": "Parquet"}


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ConfigError("per-sample tables need pandas: pip install 'kdlab[tables]'") from None
    return pandas


def _probability(phi: np.ndarray) -> np.ndarray:
    """p from phi(p) = log(p / (1 - p)): 1 / (1 + e^-phi), as exp(-log(1 + e^-phi)). Neither
    overflows, and a tiny p keeps its digits (0.5 * (1 + tanh(phi / 2)) cancels to 0 below ~1e-8)."""
    return np.exp(-np.logaddexp(0.0, -phi))


def _rows(d: Deviations, split: str, step: int, teacher_step: int) -> dict[str, np.ndarray]:
    group = np.empty(len(d), dtype=object)
    for name, mask in dissection_masks(d.teacher_correct, d.student_correct).items():
        group[mask] = name
    noisy = d.noisy if d.noisy is not None else np.zeros(len(d), dtype=bool)
    return {"sample_index": d.index, "split": np.full(len(d), split, dtype=object), "step": np.full(len(d), step),
            "teacher_step": np.full(len(d), teacher_step), "label": d.trained_label, "orig_label": d.orig_label,
            "noisy": noisy, "teacher_pred": d.teacher_pred, "student_pred": d.student_pred,
            "teacher_p_pred": d.p_teacher, "student_p_pred": d.p_student,
            "teacher_p_label": _probability(d.x_label), "student_p_label": _probability(d.y_label),
            "x": d.x, "y": d.y, "x_label": d.x_label, "y_label": d.y_label, "group": group, "kl": d.kl,
            "teacher_entropy": d.entropy_teacher, "student_entropy": d.entropy_student}


def _frame(parts: list[dict[str, np.ndarray]]):
    pd = _pandas()
    frame = pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)
    # Every category, present or not: a run without 'neither' points still has the column's full set
    return frame.astype({"split": pd.CategoricalDtype(SPLITS), "group": pd.CategoricalDtype(DISSECTION)})


def per_sample_frame(analysis: RunAnalysis):
    """The pair at the analysed student step: every train and test sample."""
    return _frame([_rows(d, split, analysis.student_step, analysis.teacher_step) for split, d in analysis.splits.items()])


def evolution_frame(analysis: RunAnalysis):
    """The training split at every recorded student step (long format), against the final teacher:
    one block of rows per step, in step order."""
    if not analysis.evolution:
        raise ConfigError("this analysis has no evolution: make it with analyze_runs(..., evolution=True)")
    return _frame([_rows(d, "train", step, analysis.teacher_step) for step, d in analysis.evolution])


def per_sample(teacher: str | Path, student: str | Path, step: int | None = None, *,
               label_source: Literal["orig_label", "label"] = "orig_label"):
    """One row per sample of the pair, the student at `step` (default its last recorded one)."""
    return per_sample_frame(analyze_runs(teacher, student, step, evolution=False, label_source=label_source))


def per_sample_evolution(teacher: str | Path, student: str | Path, *,
                         label_source: Literal["orig_label", "label"] = "orig_label"):
    """One row per training sample and recorded student step."""
    return evolution_frame(analyze_runs(teacher, student, label_source=label_source))


def check_table_path(path: str | Path) -> Path:
    """That a table can be written to `path` here: a .csv or .parquet suffix, and what writing it
    needs installed (pandas; pyarrow for Parquet). Callers check before an analysis runs, so a
    mistake costs nothing and leaves no half-written results."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ConfigError(f"cannot write a table as {path.name}: use a .csv or .parquet file")
    _pandas()
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("writing Parquet needs pyarrow: pip install 'kdlab[parquet]', or write a .csv file") from None
    return path


def write_table(frame, path: str | Path) -> Path:
    """A table as CSV or Parquet (by the suffix; Parquet needs pyarrow, extra `kdlab[parquet]`), atomically."""
    path = check_table_path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False, engine="pyarrow")
        else:
            frame.to_csv(tmp, index=False)
    return path
