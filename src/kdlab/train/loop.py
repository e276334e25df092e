"""The one training loop, for every kind of run: one-hot, KD, loss switching, online distillation.

Data lives on the training device; each epoch's order and augmentation come from a generator
seeded by (seed, epoch), so an interrupted run resumes to the same result.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..data import Dataset, iterate_batches, load_dataset_for, to_unit_float
from ..data.augment import crop_flip
from ..distill.objective import Objective
from ..distill.teachers import RunTeacher, Teacher
from ..io import read_jsonl, write_json, write_jsonl, write_npz, code_version
from ..models import build_model, count_parameters
from .checkpoint import load_state, load_weights, save_state, save_weights
from .optim import build_optimizer, lr_at
from .probes import build_probes, load_probe_states, save_probe_states
from .progress import Progress
from .rundir import RunDir, write_start

EpochHook = Callable[[int, int], None]  # (finished 1-based epoch, global step)
EVAL_BATCH = 1024


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from ..errors import ConfigError

        raise ConfigError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
    return torch.device(name)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class Inputs:
    """Turns stored inputs (uint8 images or floats) into the normalised float batches models see."""

    def __init__(self, ds: Dataset, device: torch.device):
        self.ds = ds
        shape = (1, -1) + (1,) * (len(ds.input_shape) - 1)
        self.mean = torch.tensor(ds.mean, device=device).view(shape) if ds.mean else None
        self.std = torch.tensor(ds.std, device=device).view(shape) if ds.std else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = to_unit_float(x)
        x = (x - self.mean) / self.std if self.mean is not None else x
        # channels_last makes convolutions faster on CPU (oneDNN) and on GPU tensor cores alike.
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return crop_flip(x, self.ds.crop_padding, generator) if self.ds.augment == "crop_flip" else x


@torch.no_grad()
def predict(model: nn.Module, inputs: Inputs, x: torch.Tensor) -> torch.Tensor:
    """Logits of un-augmented inputs in eval mode, in batches."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(inputs(x[i : i + EVAL_BATCH])) for i in range(0, len(x), EVAL_BATCH)]) if len(x) else None
    model.train(was_training)
    return out if out is not None else torch.zeros(0, 0)


def to_device_format(model: nn.Module, device: torch.device, image_inputs: bool) -> nn.Module:
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if image_inputs else model


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    teacher: Teacher | None,
    x: torch.Tensor,
    y: torch.Tensor,
    step: int,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
    """One optimisation step on a prepared batch; the teacher runs only while the KD term weighs.

    The teacher goes first: run while the student's activations are held for backward, it was 1.3x
    slower on CPU (benchmarks/train_step.py, 2 cores), its buffers no longer fitting freed memory.
    """
    teacher_logits = teacher.logits(x, epoch) if teacher is not None and objective.needs_teacher(step) else None
    logits = model(x)
    loss, terms = objective(logits, y, teacher_logits, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return logits.detach(), teacher_logits, terms


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(1) == labels).double().mean().item() if len(labels) else float("nan")


def record_predictions(run: RunDir, model: nn.Module, inputs: Inputs, ds: Dataset, epoch: int, step: int,
                       test_logits: torch.Tensor) -> dict:
    """Write predictions/step_<S>.npz (train un-augmented, eval mode; test as already predicted)."""
    splits = {"train": ds.train, "test": ds.test}
    logits = {"train": predict(model, inputs, ds.train.x), "test": test_logits}
    field = lambda f: np.concatenate([f(s).cpu().numpy() for s in splits.values()])  # noqa: E731
    write_npz(
        run.prediction_path(step),
        index=field(lambda s: s.index), label=field(lambda s: s.label), orig_label=field(lambda s: s.orig_label),
        noisy=field(lambda s: s.noisy), logits=np.concatenate([logits[n].float().cpu().numpy() for n in splits]),
        split=np.concatenate([np.full(len(s), name) for name, s in splits.items()]),
        epoch=np.array(epoch), step=np.array(step),
    )
    acc = {f"{n}_acc": accuracy(logits[n], s.label) for n, s in splits.items()}
    acc["train_acc_orig_labels"] = accuracy(logits["train"], ds.train.orig_label)
    return acc


def train(
    cfg: RunConfig,
    run: RunDir,
    *,
    progress: bool = True,
    hooks: Iterable[EpochHook] = (),
    log: Callable[[str], None] = print,
) -> dict:
    """Train (or resume) the run described by `cfg` in `run`; returns the summary it writes."""
    device = pick_device(cfg.train.device)
    ds = load_dataset_for(cfg.data)
    train_split, test_split = ds.train.to(device), ds.test.to(device)
    ds = ds.with_splits(train=train_split, test=test_split)
    inputs = Inputs(ds, device)

    torch.manual_seed(cfg.seed)
    images = len(ds.input_shape) == 3
    model = to_device_format(build_model(cfg.model.name, ds.num_classes, ds.input_shape, cfg.model.options), device, images)
    objective = Objective(cfg.loss)
    teacher = None
    if cfg.loss.uses_kd:
        teacher = RunTeacher(cfg.teacher, ds.num_classes, ds.input_shape, device)
        to_device_format(teacher.model, device, images)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg.train)
    probes = build_probes(cfg.record.probes, ds, model, cfg, inputs)
    write_start(run, cfg, ds.num_classes, ds.input_shape, count_parameters(model))

    steps_per_epoch = max(1, -(-len(train_split) // cfg.train.batch_size))
    start_epoch, step, elapsed = 0, 0, 0.0
    metrics = read_jsonl(run.metrics_path)
    if run.state_path.is_file():
        state = load_state(run.state_path)
        start_epoch, step, elapsed = int(state["epoch"]), int(state["step"]), float(state["elapsed"])
        load_weights(run.weights_path(start_epoch), model)
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        load_probe_states(run.probes_state_path, probes, step)
        metrics = [m for m in metrics if m["epoch"] <= start_epoch]
        log(f"resuming {run.root} from epoch {start_epoch} (step {step})")
    else:
        metrics = []

    bar = Progress(cfg.name, total=cfg.train.epochs * steps_per_epoch, done=step, enabled=progress)
    last_acc: dict = {}
    try:  # a Ctrl-C must still stop the live progress display
        for epoch in range(start_epoch, cfg.train.epochs):
            t0 = time.perf_counter()
            gen = epoch_generator(cfg.seed, epoch)
            model.train()
            sums: dict[str, torch.Tensor] = {}
            correct = torch.zeros((), device=device)
            seen = 0
            for idx in iterate_batches(len(train_split), cfg.train.batch_size, gen):
                idx = idx.to(device)
                x = inputs(inputs.augment(train_split.x[idx], gen))
                y = train_split.label[idx]
                lr = lr_at(step, cfg.train, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                logits, teacher_logits, terms = train_step(model, optimizer, objective, teacher, x, y, step, epoch + 1)
                for probe in probes.values():
                    probe.on_step(step, x, y, logits, teacher_logits, model)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0) + v * len(idx)
                correct += (logits.argmax(1) == y).sum()
                seen += len(idx)
                step += 1
                bar.advance(lambda: {"loss": sums["loss"].item() / seen, "acc": correct.item() / seen})
            elapsed += time.perf_counter() - t0

            done = epoch + 1
            w = objective.weights(step - 1)
            row = {"epoch": done, "step": step, "lr": lr, "w_onehot": w.onehot, "w_kd": w.kd,
                   "train_acc_augmented": correct.item() / seen, "seconds": round(elapsed, 3)}
            row.update({f"train_{k}": v.item() / seen for k, v in sums.items()})
            test_logits = predict(model, inputs, test_split.x)
            row["test_acc"] = accuracy(test_logits, test_split.label)
            for probe in probes.values():
                row.update(probe.epoch_metrics(model))
            if teacher is not None and cfg.teacher.online:
                row["teacher_epoch"] = teacher.epoch_for(done)
            last = done == cfg.train.epochs
            if done % cfg.record.predictions_every_epochs == 0 or last:
                last_acc = record_predictions(run, model, inputs, ds, done, step, test_logits)
                row["recorded_step"] = step
            metrics.append(row)
            write_jsonl(run.metrics_path, metrics)
            if done % cfg.record.checkpoint_every_epochs == 0 or last:
                save_weights(run.weights_path(done), model, {"epoch": str(done), "model": cfg.model.name})
                save_probe_states(run.probes_state_path, probes)
                save_state(run.state_path, {"epoch": done, "step": step, "elapsed": elapsed,
                                            "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()})
            bar.set_postfix(test_acc=row["test_acc"])
            for hook in hooks:
                hook(done, step)
    finally:
        bar.close()

    save_weights(run.final_weights, model, {"epoch": str(cfg.train.epochs), "model": cfg.model.name})
    for name, probe in probes.items():
        if state := probe.state():
            write_npz(run.probe_record(name), **state)
    if not last_acc:  # resumed after the last epoch was recorded but before the summary was written
        last_acc = record_predictions(run, model, inputs, ds, cfg.train.epochs, step,
                                      predict(model, inputs, test_split.x))
    summary = {
        "name": cfg.name, "seed": cfg.seed, "model": cfg.model.name, "dataset": ds.name,
        "epochs": cfg.train.epochs, "steps": step, "train_seconds": round(elapsed, 3),
        "num_parameters": count_parameters(model), "config_hash": cfg.content_hash(),
        "code_version": code_version(), "device": str(device),
        "label_noise": cfg.data.label_noise, "noisy_train_samples": int(train_split.noisy.sum().item()),
        **last_acc,
        **({"probes": {n: p.summary(model) for n, p in probes.items()}} if probes else {}),
    }
    write_json(run.summary_path, summary)
    return summary
