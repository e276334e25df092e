"""The embedded default experiment: teacher, one-hot student and KD student on noisy digits, then the
KD student's deviations from its teacher."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

from .analysis import write_analysis
from .analysis.write import WrittenAnalysis
from .config import ResolvedConfig, load_config
from .records import Reuse, RunDir, Summary
from .tables import Table, percent
from .train.runner import run_config

ROLES = ("teacher", "student_onehot", "student_kd")


def demo_configs(seed: int, overrides: list[str] = ()) -> dict[str, ResolvedConfig]:
    """The three configs; the teacher uses `seed`, the students `seed + 1` (a fresh initialisation).
    The KD student names its teacher by run name, found in the same output folder."""
    folder = resources.files("kdlab") / "recipes" / "demo"
    cfgs = {}
    for role in ROLES:
        with resources.as_file(folder / f"{role}.yaml") as path:
            cfgs[role] = load_config(path, [*overrides, f"seed={seed if role == 'teacher' else seed + 1}"])
    return cfgs


@dataclass
class Demo:
    seed: int
    out: Path
    runs: dict[str, tuple[RunDir, Summary]]
    analysis: WrittenAnalysis
    seconds: float

    def to_json(self) -> dict:
        return {"seed": self.seed, "out": str(self.out), "seconds": round(self.seconds, 2),
                "runs": {role: {"run": str(run.root), **s.model_dump(mode="json")} for role, (run, s) in self.runs.items()},
                "analysis": self.analysis.to_json()}

    def tables(self) -> list[Table]:
        te, oh, kd = (self.runs[r][1] for r in ROLES)
        accuracy = Table(f"Accuracy % on digits, {int(100 * te.label_noise)}% noisy labels (cf. P1 Table 2)",
                         ["", "Teacher", "Student (one-hot)", "Student (KD)"], [
                             ["train (noisy labels)", *(percent(r.train_acc) for r in (te, oh, kd))],
                             ["train (original labels)", *(percent(r.train_acc_orig_labels) for r in (te, oh, kd))],
                             ["test", *(percent(r.test_acc) for r in (te, oh, kd))]])
        return [accuracy, *self.analysis.tables()]

    def notes(self) -> list[str]:
        return [f"model {self.runs['teacher'][1].model}, seed {self.seed} (students {self.seed + 1}), {self.seconds:.1f} s",
                f"runs written to {self.out.resolve()}/{{{','.join(ROLES)}}}",
                f"figures of the KD student against its teacher in {self.analysis.report.parent}"]


def run_demo(out: Path, seed: int = 0, overrides: list[str] = (), reuse: Reuse = "if_same", progress: bool = True,
             log: Callable[[str], None] = print) -> Demo:
    t0 = time.perf_counter()
    runs = {role: run_config(cfg, out, reuse=reuse, progress=progress, log=log)
            for role, cfg in demo_configs(seed, overrides).items()}
    analysis = write_analysis(runs["teacher"][0].root, runs["student_kd"][0].root)
    return Demo(seed, Path(out), runs, analysis, time.perf_counter() - t0)
