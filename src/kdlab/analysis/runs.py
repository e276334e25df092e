"""The analysis of two finished runs from their recorded predictions (SPEC §9 `predictions/`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError, KdlabError, RunError
from ..records import RunDir, load_predictions
from ..records.predictions import SPLITS, Predictions
from ..tables import Table
from .deviations import Deviations, deviations
from .summary import dissection, underfitting_summary


def _aligned(a: dict[str, np.ndarray], b: dict[str, np.ndarray], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a and b of the samples both recorded, matched by sample index."""
    _, ia, ib = np.intersect1d(a["index"], b["index"], assume_unique=True, return_indices=True)
    if len(ia) == 0 and len(a["index"]) and len(b["index"]):
        raise RunError(f"the teacher and student runs share no {what} samples (different datasets?)")
    if a["logits"].shape[1:] != b["logits"].shape[1:]:
        raise RunError(f"teacher has {a['logits'].shape[1]} classes, student {b['logits'].shape[1]}")
    return ia, ib


def pair_deviations(teacher: dict, student: dict, what: str, label_source: str) -> Deviations:
    it, is_ = _aligned(teacher, student, what)
    d = deviations(teacher["logits"][it], student["logits"][is_], student[label_source][is_], student["noisy"][is_],
                   index=student["index"][is_])
    return replace(d, trained_label=student["label"][is_], orig_label=student["orig_label"][is_])


LABEL_SOURCES = {"orig_label": "the original labels", "label": "the labels trained on"}


def run_label(root: str | Path) -> str:
    """A run as figures name it: its name and model from its stored config, "student_kd (resnet20)";
    the folder's name where the config cannot be read (the predictions alone still make an analysis)."""
    try:
        cfg = RunDir(root).config()
    except KdlabError:
        return Path(root).name
    return f"{cfg.name} ({cfg.model.name})"


@dataclass
class RunAnalysis:
    teacher: Path
    student: Path
    teacher_step: int
    student_step: int
    label_source: str
    splits: dict[str, Deviations]
    evolution: list[tuple[int, Deviations]] = field(default_factory=list)  # (student step, train split)

    @cached_property
    def teacher_label(self) -> str:
        return run_label(self.teacher)

    @cached_property
    def student_label(self) -> str:
        return run_label(self.student)

    @property
    def pair_title(self) -> str:
        """The pair as a figure's title: 'student_kd (resnet20) against teacher (resnet20), student step 440'."""
        return f"{self.student_label} against {self.teacher_label}, student step {self.student_step}"

    def to_json(self) -> dict:
        return dict(self._summary)

    @cached_property
    def _summary(self) -> dict:
        out: dict = {"teacher": str(self.teacher), "student": str(self.student), "teacher_step": self.teacher_step,
                     "student_step": self.student_step, "label_source": self.label_source, "splits": {}}
        for s, d in self.splits.items():
            out["splits"][s] = {
                "n": len(d),
                "teacher_acc": float(d.teacher_correct.mean()) if len(d) else float("nan"),
                "student_acc": float(d.student_correct.mean()) if len(d) else float("nan"),
                "agreement": float((d.teacher_pred == d.student_pred).mean()) if len(d) else float("nan"),
                "underfitting": underfitting_summary(d.x, d.y, d.noisy),
                "underfitting_label_class": underfitting_summary(d.x_label, d.y_label, d.noisy),
                "dissection": dissection(d.teacher_correct, d.student_correct),
            }
        out["evolution"] = [{"student_step": st, **{k: v for k, v in underfitting_summary(d.x, d.y).items() if k != "bins"}}
                            for st, d in self.evolution]
        return out

    def tables(self) -> list[Table]:
        """The underfitting summary (one row per split and label group) and the dissection of test points."""
        report = self._summary
        rows = []
        for split, r in report["splits"].items():
            u = r["underfitting"]
            for group, g in [("all", u), ("clean", u.get("clean")), ("noisy", u.get("noisy"))]:
                if not g or not g.get("n"):
                    continue
                rows.append([f"{split} {group}", str(g["n"]), f"{g['mean_y_minus_x']:+.3f}", f"{g['slope']:.3f}",
                             f"{g['hard']['mean_y_minus_x']:+.3f}", f"{g['hard']['frac_y_below_x']:.2f}",
                             f"{g['easy']['mean_y_minus_x']:+.3f}", f"{g['easy']['frac_y_below_x']:.2f}"])
        groups = report["splits"]["test"]["dissection"]
        return [Table("Underfitting: X = teacher phi(p_te[y_te]), Y = student phi(p_st[y_te]); "
                      "hard/easy = lowest/highest 20% X",
                      ["samples", "n", "Y-X", "slope", "hard Y-X", "hard Y<X", "easy Y-X", "easy Y<X"], rows),
                Table("Test points by who is right", [k.replace("_", " ") for k in groups],
                      [[str(v) for v in groups.values()]])]


def analyze_runs(
    teacher: str | Path | Predictions,
    student: str | Path,
    step: int | None = None,
    *,
    evolution: bool = True,
    label_source: Literal["orig_label", "label"] = "orig_label",
) -> RunAnalysis:
    """Teacher (its last recorded step) against the student at `step` (default its last).

    `label_source` is the class y* of the ground-truth variant and of correctness: the original,
    pre-noise label by default, or the (possibly noisy) label the runs trained on. `teacher` may be
    its predictions already read (load_predictions): a report of many students of one teacher reads
    them once.
    """
    if label_source not in LABEL_SOURCES:
        raise ConfigError(f"label_source must be one of {', '.join(LABEL_SOURCES)}, got {label_source!r}")
    te = teacher if isinstance(teacher, Predictions) else load_predictions(teacher)
    st = load_predictions(student, step)
    splits = {s: pair_deviations(te.splits[s], st.splits[s], s, label_source) for s in SPLITS}
    evo = []
    if evolution:
        for s in RunDir(student).prediction_steps():
            st_s = st if s == st.step else load_predictions(student, s)
            evo.append((s, pair_deviations(te.splits["train"], st_s.splits["train"], "train", label_source)))
    return RunAnalysis(te.run, st.run, te.step, st.step, label_source, splits, evo)
