"""Supervision complexity of a teacher run's targets, for a student's NTK (P2).

P2's exact kernel checkpoint, n and multi-class handling are not in our text; our defaults:
  kernel  the student's empirical NTK traced over logits, at its initialisation (`init`) and, given
          a student run, at its final weights (`trained`)
  n       256 training samples, a seeded subset (seed 0), un-augmented and normalised
  targets softmax(teacher logits / tau) of every kept teacher checkpoint; labels as one-hot of the
          training labels (with noise, the noisy ones: what a student trains on); not centred
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import load_dataset_for
from ..errors import RunError
from ..io import write_json
from ..models import build_model
from ..train.checkpoint import load_weights
from ..train.loop import Inputs
from ..train.rundir import RunDir
from .ntk import empirical_ntk
from .supervision import onehot_targets, soft_targets, supervision_complexity


class KernelData:
    """The n samples every kernel and target is computed on, from a run's dataset settings."""

    def __init__(self, run: RunDir, n: int, seed: int = 0):
        self.ds = load_dataset_for(run.config().data)
        pick = torch.randperm(len(self.ds.train), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        self.x = Inputs(self.ds, torch.device("cpu"))(self.ds.train.x[pick]).contiguous()
        self.labels = self.ds.train.label[pick]
        self.index = self.ds.train.index[pick]

    def model(self, name: str, options: dict, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)  # the same initialisation the run's training loop starts from
        return build_model(name, self.ds.num_classes, self.ds.input_shape, options)


def run_model(run: RunDir, data: KernelData, weights: Path | None) -> torch.nn.Module:
    cfg = run.config()
    model = data.model(cfg.model.name, cfg.model.options, cfg.seed)
    if weights is not None:
        load_weights(weights, model)
    return model.eval()


@torch.no_grad()
def teacher_logits(run: RunDir, data: KernelData, weights: Path) -> torch.Tensor:
    return run_model(run, data, weights)(data.x)


def teacher_checkpoints(run: RunDir) -> list[tuple[int, Path]]:
    epochs = run.checkpoint_epochs()
    if not epochs:
        raise RunError(f"teacher run {run.root} kept no epoch checkpoints (record.checkpoint_every_epochs)")
    return [(e, run.weights_path(e)) for e in epochs]


def complexity_report(teacher: str | Path, student_model: str | None = None, student: str | Path | None = None,
                      n: int = 256, temperatures=(1.0, 2.0, 4.0, 8.0), center: bool = False,
                      rel_jitter: float = 1e-6, out: Path | None = None) -> dict:
    te_run = RunDir(Path(teacher))
    if not te_run.root.is_dir():
        raise RunError(f"teacher run {teacher} does not exist")
    data = KernelData(te_run, n)
    kernels: dict[str, torch.Tensor] = {}
    if student is not None:
        st_run = RunDir(Path(student))
        if not st_run.final_weights.is_file():
            raise RunError(f"student run {student} has not finished (no checkpoints/final.safetensors)")
        info = st_run.info()
        if info["num_classes"] != data.ds.num_classes or tuple(info["input_shape"]) != data.ds.input_shape:
            raise RunError(f"student run {student} does not fit the teacher's data "
                           f"({info['num_classes']} classes, inputs {tuple(info['input_shape'])})")
        kernels["init"] = empirical_ntk(run_model(st_run, data, None), data.x)
        kernels["trained"] = empirical_ntk(run_model(st_run, data, st_run.final_weights), data.x)
        student_name = st_run.config().model.name
    else:
        student_name = student_model or "resnet20"
        kernels["init"] = empirical_ntk(data.model(student_name, {}, 0), data.x)

    labels_y = onehot_targets(data.labels, data.ds.num_classes, center)
    checkpoints = teacher_checkpoints(te_run)
    logits = {e: teacher_logits(te_run, data, w) for e, w in checkpoints}
    result: dict = {"teacher": str(te_run.root), "student_model": student_name, "n": len(data.x),
                    "temperatures": list(temperatures), "center": center, "kernels": {}}
    for kname, theta in kernels.items():
        lab = supervision_complexity(theta, labels_y, rel_jitter)
        curve = {str(t): [{"epoch": e, **supervision_complexity(theta, soft_targets(lg, t, center), rel_jitter)}
                          for e, lg in logits.items()] for t in temperatures}
        result["kernels"][kname] = {"labels": lab, "teacher": curve, "jitter": lab["jitter"]}
    if out is not None:
        result["figures"] = [str(_figure(result, Path(out) / "complexity.png"))]
        write_json(Path(out) / "complexity.json", result)
    return result


def _figure(result: dict, path: Path) -> Path:
    from ..analysis.figures import plt, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    styles = {"init": "-", "trained": "--"}
    for kname, k in result["kernels"].items():
        for i, (t, rows) in enumerate(k["teacher"].items()):
            axes[0].plot([r["epoch"] for r in rows], [r["adjusted"] for r in rows], styles[kname], marker="o", ms=3,
                         color=f"C{i}", label=f"teacher, tau={t} ({kname} NTK)")
        axes[0].axhline(k["labels"]["adjusted"], color="k", ls=styles[kname], lw=1, label=f"labels ({kname} NTK)")
        temps = [float(t) for t in k["teacher"]]
        axes[1].plot(temps, [rows[-1]["adjusted"] for rows in k["teacher"].values()], styles[kname], marker="s",
                     color="C0", label=f"last teacher checkpoint ({kname} NTK)")
        axes[1].axhline(k["labels"]["adjusted"], color="k", ls=styles[kname], lw=1, label=f"labels ({kname} NTK)")
    axes[0].set_xlabel("teacher epoch")
    axes[0].set_ylabel("adjusted supervision complexity")
    axes[0].set_title("Teacher targets over training", fontsize=9)
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel(r"temperature $\tau$")
    axes[1].set_title("Temperature", fontsize=9)
    for ax in axes:
        ax.legend(fontsize=6)
    fig.suptitle(f"Supervision complexity for {result['student_model']}'s NTK, n = {result['n']}", fontsize=10)
    return save_figure(fig, path)
