"""`online_vs_offline` report (P2): students without KD, with offline KD (the final teacher), KD from
an early-stopped teacher, and online KD (the teacher's checkpoint sequence), over several seeds.

Test accuracy is mean +- std over seeds. Each student's supervision is scored by its adjusted
complexity for the student architecture's NTK at initialisation (the first seed's), on n training
samples: labels for no KD; the teacher checkpoint's softmax at the student's temperature for
offline and early-stopped KD; for online KD, the mean over student epochs of the checkpoint used then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

import numpy as np
import torch

from ..complexity import empirical_ntk, onehot_targets, soft_targets, supervision_complexity
from ..complexity.runs import KernelData, complexity_over_training, run_model, teacher_checkpoints, teacher_logits
from ..distill.teachers import RunTeacher
from ..records import RunDir
from .base import REPORTS, Report, Table, runs_of


def _supervision(run: RunDir, data, theta, cache: dict) -> dict:
    """Adjusted complexity of what the student trained on. The teacher's checkpoints are the ones its
    schedule names (kdlab.distill.teachers.TeacherSchedule, as in training) and tau the temperature
    its objective recorded; scores are cached per (teacher run, checkpoint, tau)."""
    info = run.info()
    if not info.distilled:
        return supervision_complexity(theta, onehot_targets(data.labels, data.ds.num_classes))
    cfg = run.config()
    teacher = RunTeacher(RunDir(info.teacher_run), cfg.teacher, data.ds.num_classes, data.ds.input_shape,
                         device=torch.device("cpu"))
    tau = info.objective.temperature() or 1.0

    def score(student_epoch: int) -> float:
        key = (str(teacher.run.root), teacher.version(student_epoch), cfg.teacher.checkpoint, tau)
        if key not in cache:
            logits = teacher.logits(data.batch, student_epoch)
            cache[key] = supervision_complexity(theta, soft_targets(logits, tau))["adjusted"]
        return cache[key]

    if cfg.teacher.online:  # mean over the student's epochs of the checkpoint it saw then
        epochs = range(1, info.epochs + 1)
        values = [score(e) for e in epochs]
        return {"adjusted": float(np.mean(values)), "first": values[0], "last": values[-1],
                "teacher_epochs": sorted({teacher.version(e) for e in epochs})}
    return {"adjusted": score(1), "teacher_epoch": cfg.teacher.checkpoint}


@REPORTS.register("online_vs_offline")
def online_vs_offline_report(runs: dict[str, RunDir], out: Path, teacher: str = "teacher", students: dict | None = None,
                             n: Annotated[int, Field(ge=2)] = 256) -> Report:
    students = students or {"no KD": "onehot", "offline KD": "offline", "early-stopped KD": "early", "online KD": "online"}
    (te_run,) = runs_of(teacher, runs)
    groups = {label: runs_of(base, runs) for label, base in students.items()}
    data = KernelData(te_run, n)
    first = next(iter(groups.values()))[0]
    theta = empirical_ntk(run_model(first, data, None), data.x, fields=data.fields)
    cache: dict = {}
    rows, result = [], {"n": len(data.x), "kernel": f"{first.config().model.name} at initialisation", "students": {}}
    for label, members in groups.items():
        accs = np.array([m.summary().test_acc for m in members])
        sup = _supervision(members[0], data, theta, cache)
        result["students"][label] = {"runs": [str(m.root) for m in members], "test_acc": accs.tolist(),
                                     "mean": float(accs.mean()), "std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
                                     "supervision": sup}
        r = result["students"][label]
        rows.append([label, str(len(accs)), f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f}", f"{sup['adjusted']:.4f}"])
    result["teacher_test_acc"] = te_run.summary().test_acc
    rows.insert(0, ["teacher", "1", f"{100 * result['teacher_test_acc']:.2f}", ""])
    tables = [Table(f"Online vs offline distillation (P2), complexity under {result['kernel']}, n = {result['n']}",
                    ["model", "seeds", "test acc % (mean ± std)", "adjusted complexity of its supervision"], rows)]
    online = next((m[0] for m in groups.values() if m[0].config().teacher and m[0].config().teacher.online), None)
    if online is not None:  # P2's curve, under the first online student's NTK at each of its checkpoints
        logits = {e: teacher_logits(te_run, data, w) for e, w in teacher_checkpoints(te_run)}
        ot = result["over_training"] = {"student": str(online.root),
                                        **complexity_over_training(te_run, online, data, logits)}
        tables.append(Table(f"Adjusted complexity under {online.root.name}'s NTK at each of its epochs",
                            ["targets", *(f"epoch {e}" for e in ot["student_epochs"])],
                            [[name, *(f"{v:.4f}" for v in values)] for name, values in ot["curves"].items()]))
    return Report("online_vs_offline", tables=tables, data=result)
