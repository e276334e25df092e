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

from ..config import TeacherConfig
from ..data import TARGET_KEYS, Pipeline, load_dataset_for
from ..distill import teachers
from ..distill.teachers import TeacherSchedule
from ..errors import RunError
from ..models import build_model, logits_of
from ..records import RunDir, load_weights
from .ntk import empirical_ntk
from .supervision import onehot_targets, soft_targets, supervision_complexity


class KernelData:
    """The n samples every kernel and target is computed on, from a run's dataset settings."""

    def __init__(self, run: RunDir, n: int, seed: int = 0):
        cfg = run.config()
        if cfg.data.object is not None:
            raise RunError(f"run {run.root} trained on data given as an object ({cfg.data.name}); the kernel needs the "
                           f"data: use kdlab.complexity.empirical_ntk on your own inputs")
        self.ds = load_dataset_for(cfg.data)
        pick = torch.randperm(len(self.ds.train), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        self.batch = Pipeline(self.ds.transforms).eval(self.ds.train.batch(pick))
        self.x = self.batch["inputs"].contiguous()
        # the other per-sample model inputs (a text model's attention_mask)
        self.fields = {k: v for k, v in self.batch.items() if k != "inputs" and k not in TARGET_KEYS}
        self.labels = self.ds.train.label[pick]

    def model(self, name: str, options: dict, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)  # the same initialisation the run's training loop starts from
        return build_model(name, self.ds.num_classes, self.ds.input_shape, options)


def run_model(run: RunDir, data: KernelData, weights: Path | None) -> torch.nn.Module:
    """The run's model at its initialisation (the same seed as its training loop) or at `weights`."""
    torch.manual_seed(run.config().seed)
    model = teachers.run_model(run, data.ds.num_classes, data.ds.input_shape)
    if weights is not None:
        load_weights(weights, model)
    return model.eval()


@torch.no_grad()
def teacher_logits(run: RunDir, data: KernelData, weights: Path) -> torch.Tensor:
    return logits_of(run_model(run, data, weights), data.batch)


def teacher_checkpoints(run: RunDir) -> list[tuple[int, Path]]:
    epochs = run.checkpoint_epochs()
    if not epochs:
        raise RunError(f"teacher run {run.root} kept no epoch checkpoints (record.checkpoint_every_epochs)")
    return [(e, run.weights_path(e)) for e in epochs]


def complexity_report(teacher: str | Path, student_model: str | None = None, student: str | Path | None = None,
                      n: int = 256, temperatures=(1.0, 2.0, 4.0, 8.0), center: bool = False,
                      rel_jitter: float = 1e-6, term: str | None = None) -> dict:
    """Complexity of labels and of every kept teacher checkpoint at each temperature, under the
    student's NTK at initialisation (and trained, given a student run). `term`: the student's loss
    term whose temperature scores the teacher over the student's training (default: its distillation's)."""
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
        if info.num_classes != data.ds.num_classes or tuple(info.input_shape) != data.ds.input_shape:
            raise RunError(f"student run {student} does not fit the teacher's data "
                           f"({info.num_classes} classes, inputs {tuple(info.input_shape)})")
        kernels["init"] = empirical_ntk(run_model(st_run, data, None), data.x, fields=data.fields)
        kernels["trained"] = empirical_ntk(run_model(st_run, data, st_run.final_weights), data.x, fields=data.fields)
        student_name = st_run.config().model.name
    else:
        student_name = student_model or "resnet20"
        kernels["init"] = empirical_ntk(data.model(student_name, {}, 0), data.x, fields=data.fields)

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
    if student is not None:
        result["over_training"] = complexity_over_training(te_run, st_run, data, logits, term=term, center=center,
                                                           rel_jitter=rel_jitter)
    return result


def random_label_targets(data: KernelData, seed: int = 0, center: bool = False) -> torch.Tensor:
    """One-hot targets of labels drawn uniformly at random (seeded): P2's most complex reference."""
    gen = torch.Generator().manual_seed(seed)
    return onehot_targets(torch.randint(0, data.ds.num_classes, (len(data.labels),), generator=gen),
                          data.ds.num_classes, center)


def complexity_over_training(te_run: RunDir, st_run: RunDir, data: KernelData, teacher_logits_by_epoch: dict,
                             term: str | None = None, center: bool = False, rel_jitter: float = 1e-6) -> dict:
    """P2's figure: adjusted complexity of four targets under the student's NTK at each of its kept
    checkpoints (its initialisation first): labels, random labels, the offline teacher (its final
    checkpoint) and the online teacher: the checkpoint online distillation reads at that student
    epoch (kdlab.distill.teachers.TeacherSchedule, with the student's teacher.epoch_ratio). Teacher
    targets are softmax(logits / tau), tau the temperature the student's objective gives for `term`
    (default: its distillation's; 1 where it does not distil)."""
    objective = st_run.info().objective
    tau = (objective.temperature(term) if objective is not None else None) or 1.0
    st_teacher = st_run.config().teacher
    ratio = st_teacher.epoch_ratio if st_teacher is not None else 1.0
    schedule = TeacherSchedule(TeacherConfig(run=str(te_run.root), online=True, epoch_ratio=ratio), te_run)
    last = max(teacher_logits_by_epoch)

    def online(e: int) -> int:
        return schedule.epoch_for(max(e, 1))  # the initialisation reads what epoch 1 does

    targets = {"labels": lambda e: onehot_targets(data.labels, data.ds.num_classes, center),
               "random labels": lambda e: random_label_targets(data, center=center),
               "offline teacher": lambda e: soft_targets(teacher_logits_by_epoch[last], tau, center),
               "online teacher": lambda e: soft_targets(teacher_logits_by_epoch[online(e)], tau, center)}
    epochs = [0, *st_run.checkpoint_epochs()]
    curves: dict[str, list[float]] = {name: [] for name in targets}
    for e in epochs:
        theta = empirical_ntk(run_model(st_run, data, st_run.weights_path(e) if e else None), data.x, fields=data.fields)
        for name, target in targets.items():
            curves[name].append(supervision_complexity(theta, target(e), rel_jitter)["adjusted"])
    return {"student_epochs": epochs, "temperature": tau, "online_teacher_epochs": [online(e) for e in epochs],
            "curves": curves}
