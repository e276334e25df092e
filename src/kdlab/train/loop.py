"""The one training loop, for every kind of run: one-hot, KD, any scheduled mix of loss terms, loss
switching, online distillation; registered or user-given models, data and terms.

It is four small parts over a `Session`: `setup` (build everything, write nothing), `train_epoch`,
`evaluate_and_record` and `finish`; `train` strings them together with checkpoints, resume and the
loggers (kdlab.loggers).
Data lives on the training device; each epoch's order and augmentation come from a generator
seeded by (seed, epoch), so an interrupted run resumes to the same result.
"""

from __future__ import annotations

import platform
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Given, ResolvedConfig
from ..data import Dataset, Pipeline, Split, iterate_batches, load_dataset_for
from ..data.base import to_device
from ..distill.objective import Objective
from ..distill.teachers import RunTeacher, Teacher, check_same_tokenizer
from ..errors import ConfigError, RunError
from ..memory import check_fits
from ..values import FLOAT32_MAX
from ..io import code_version, write_npz
from ..loggers import Logger, build_loggers, hyperparameters
from ..losses import StepOutputs
from ..models import build_model, check_outputs, check_vocabulary, count_parameters, evaluating, logits_of
from ..probes import Probe, build_probes, load_probe_states, save_probe_states
from ..records import (OutDir, RunDir, RunInfo, Summary, TeacherIdentity, load_state, load_weights, save_state, save_weights,
                       write_predictions)
from .allocator import keep_freed_memory
from .optim import build_optimizer, lr_at
from .parallel import Ranks
from .progress import Progress

EpochHook = Callable[[int, int], None]  # (finished 1-based epoch, global step)
EVAL_BATCH = 1024


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
    return torch.device(name)


def pick_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of training steps (None: fp32, no autocast)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision=fp16 needs a CUDA device (its loss scaling is GPU-only); "
                          "use train.precision=bf16 or fp32 on a CPU")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def derived_seed(seed: int, stream: int) -> int:
    """A seed of its own for each epoch (or rank) of a run. Wrapped into [0, 2^64): seeds up to the
    top of their range work, and every seed below ~9e12 keeps the stream it always had."""
    return (seed * 1_000_003 + stream) % 2**64


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, epoch))


def to_device_format(model: nn.Module, device: torch.device, image_inputs: bool) -> nn.Module:
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if image_inputs else model


@torch.no_grad()
def predict(model: nn.Module, pipeline: Pipeline, split: Split) -> torch.Tensor:
    """Logits of un-augmented inputs in eval mode, in batches."""
    with evaluating(model):
        parts = [logits_of(model, pipeline.eval(split.batch(slice(i, i + EVAL_BATCH))))
                 for i in range(0, len(split), EVAL_BATCH)]
    return torch.cat(parts) if parts else torch.zeros(0, 0)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(1) == labels).double().mean().item() if len(labels) else float("nan")


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return F.cross_entropy(logits.float(), labels).item() if len(labels) else float("nan")


class Window:
    """What the training steps since the last logging step did, kept on the device until it is read
    (a read syncs the device): each loss number's sum over the samples it was measured on and their
    count (a term that starts weighing inside a window counts only its own steps), and the correct
    training predictions. Under torchrun each rank holds its own samples; a read sums the ranks."""

    def __init__(self, device: torch.device):
        self.device = device
        self.clear()

    def clear(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.samples: dict[str, int] = {}
        self.correct = torch.zeros((), device=self.device)
        self.seen = 0

    def add(self, products: dict[str, torch.Tensor], n: int, hits: torch.Tensor) -> None:
        """One step: each loss number times the step's samples `n`, and its correct predictions."""
        for k, v in products.items():
            self.sums[k] = self.sums.get(k, 0) + v
            self.samples[k] = self.samples.get(k, 0) + n
        self.correct += hits
        self.seen += n

    def read(self, ranks: Ranks) -> tuple[dict[str, float], float]:
        """The mean of each loss number and the accuracy over the window (every rank calls it); clears it."""
        keys = sorted(self.sums)
        counts = torch.tensor([float(self.samples[k]) for k in keys] + [float(self.seen)], device=self.device)
        values = ranks.sum(torch.cat([*(self.sums[k].float().reshape(1) for k in keys),
                                      self.correct.float().reshape(1), counts])).tolist()
        sums, correct, samples, seen = values[:len(keys)], values[len(keys)], values[len(keys) + 1:-1], values[-1]
        self.clear()
        return {k: v / n for k, v, n in zip(keys, sums, samples)}, correct / seen

    def state(self) -> dict:
        """For a checkpoint: a resumed run logs the window it stopped in as the uninterrupted run does."""
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "samples": dict(self.samples),
                "correct": self.correct.cpu(), "seen": self.seen}

    def load(self, state: dict) -> None:
        self.sums = {k: v.to(self.device) for k, v in state["sums"].items()}
        self.samples = {k: int(v) for k, v in state["samples"].items()}
        self.correct, self.seen = state["correct"].to(self.device), int(state["seen"])


class FirstNonFinite:
    """The first step at which each loss number was not finite, kept on the device so that a step
    never waits for the host; read once an epoch. A step's numbers are checked as one vector, a few
    operations whatever their count; one vector per set of numbers (it changes only when a term
    starts or stops weighing)."""

    NEVER = 2**62  # no non-finite value yet

    def __init__(self):
        self.first: dict[tuple[str, ...], torch.Tensor] = {}

    def add(self, step: int, terms: dict[str, torch.Tensor]) -> None:
        keys = tuple(terms)
        values = torch.stack([v.detach().reshape(()).float() for v in terms.values()])  # terms may differ in dtype
        bad_at = torch.where(torch.isfinite(values), self.NEVER, step)
        seen = self.first.get(keys)
        self.first[keys] = bad_at if seen is None else torch.minimum(seen, bad_at)

    def read(self) -> dict[str, int]:
        """The numbers that went non-finite, by the step they first did (in the order they first
        appeared)."""
        if not self.first:
            return {}
        steps = iter(torch.cat(list(self.first.values())).tolist())
        found: dict[str, int] = {}
        for keys in self.first:
            for key in keys:
                found[key] = min(found.get(key, self.NEVER), next(steps))
        return {k: v for k, v in found.items() if v < self.NEVER}


@dataclass(kw_only=True)
class Session:
    """Everything one run trains with, and where it is."""

    cfg: ResolvedConfig
    device: torch.device
    data: Dataset  # on the device
    pipeline: Pipeline
    model: nn.Module
    teacher: Teacher | None
    objective: Objective
    optimizer: torch.optim.Optimizer
    probes: dict[str, Probe]
    autocast: torch.dtype | None = None  # training forward passes; None is plain fp32
    scaler: torch.amp.GradScaler | None = None  # fp16 only
    forward: nn.Module | None = None  # the student as called in training steps (compiled or not)
    teacher_forward: nn.Module | None = None
    ranks: Ranks = Ranks()  # this process's place under torchrun (kdlab.train.parallel)
    cache_teacher: bool = False  # see teacher_logits
    cached: tuple[int, torch.Tensor] | None = None  # (teacher version, logits of every training sample)
    epoch: int = 0  # epochs done
    step: int = 0
    elapsed: float = 0.0
    metrics: list[dict] = field(default_factory=list)
    window: Window | None = None  # training numbers since the last logging step; None without loggers
    skipped: int = 0  # steps whose loss was not finite, skipped (train.on_nonfinite=skip)
    last_checkpoint: int = 0  # the epoch of the latest checkpoint (0: none yet)
    loggers: list[Logger] = field(default_factory=list)  # where numbers go (kdlab.loggers); rank 0 only

    @property
    def train_accuracy_tag(self) -> str:
        """Training accuracy is measured on the batches as trained: augmented where a transform augments."""
        return "accuracy/train_augmented" if any(t.augment for t in self.pipeline.steps) else "accuracy/train"

    def log_scalars(self, values: dict[str, float]) -> None:
        """Numbers by tag to every logger, at the current step."""
        for logger in self.loggers:
            logger.scalars(self.step, values)

    @property
    def objective_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.objective.parameters() if p.requires_grad]

    @property
    def steps_per_epoch(self) -> int:
        return self.cfg.train.steps_per_epoch(len(self.data.train))

    @property
    def total_steps(self) -> int:
        return self.cfg.train.total_steps(self.steps_per_epoch)

    @property
    def total_epochs(self) -> int:
        return self.cfg.train.total_epochs(self.steps_per_epoch)

    def batches(self, epoch: int) -> Iterable[dict[str, torch.Tensor]]:
        """The epoch's training batches, shuffled and augmented from the epoch's own generator."""
        gen = epoch_generator(self.cfg.seed, epoch)
        train = self.data.train
        for idx in iterate_batches(len(train), self.cfg.train.batch_size, gen):
            idx = to_device(idx, self.device)
            yield self.pipeline.train({**train.batch(idx), "position": idx}, gen)

    def teacher_logits(self, batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        """The teacher's logits of a training batch. Without augmentation a sample's input is the same
        every epoch, so with `cache_teacher` they are computed once per teacher version (once per run,
        or per checkpoint online) for the whole training split, in batches of the training batch
        size, and looked up: a KD step then costs what a one-hot step costs."""
        if not self.cache_teacher:
            return self.teacher.logits(batch, epoch, self.teacher_forward)
        version = self.teacher.version(epoch)
        if self.cached is None or self.cached[0] != version:
            train, size = self.data.train, self.cfg.train.batch_size
            parts = [self.teacher.logits(self.pipeline.train(train.batch(slice(i, i + size)), None), epoch,
                                         self.teacher_forward) for i in range(0, len(train), size)]
            self.cached = (version, torch.cat(parts))
        return self.cached[1][batch["position"]]

    def shards(self, epoch: int) -> Iterable[tuple[dict[str, torch.Tensor], float]]:
        """This process's part of each global batch, with its share of the batch's loss."""
        for batch in self.batches(epoch):
            part = self.ranks.shard(batch)
            if part is not None:
                yield part, self.ranks.loss_share(len(part["label"]), len(batch["label"]))

    def train_step(self, batch: dict[str, torch.Tensor], epoch: int, share: float = 1.0):
        """One optimisation step on a prepared batch; the teacher runs only while a teacher term weighs.
        `share` scales the differentiated loss: this process's part of the global batch (train.parallel).

        The teacher goes first: run while the student's activations are held for backward, it was 1.3x
        slower on CPU (benchmarks/train_step.py, 2 cores), its buffers no longer fitting freed memory.
        """
        needs = self.teacher is not None and self.objective.needs_teacher(self.step)
        precision = torch.autocast(self.device.type, dtype=self.autocast) if self.autocast else nullcontext()
        with precision:
            teacher_logits = self.teacher_logits(batch, epoch) if needs else None
            logits = logits_of(self.forward if self.forward is not None else self.model, batch)
            features, teacher_features = self.objective.features()
            out = StepOutputs(logits, batch, teacher_logits, features, teacher_features)
            loss, terms = self.objective(out, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        if self.cfg.train.on_nonfinite == "skip" and not bool(torch.isfinite(loss)):  # waits for the device
            self.skipped += 1
            return logits.detach(), teacher_logits, {}  # no update, nothing to count
        if share != 1.0:
            loss = loss * share
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        self.ranks.average_grads(self.objective_parameters)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return logits.detach(), teacher_logits, terms


def setup(cfg: ResolvedConfig, given: Given = Given(), teacher_run: RunDir | None = None) -> Session:
    """Build what `cfg` describes; writes nothing. The user's objects (`given`) replace what it names;
    `teacher_run` is the run teacher.run names, as the runner found it in its output folder
    (kdlab.records.OutDir.find); without it, teacher.run is looked up from the working directory."""
    device = pick_device(cfg.train.device)
    ranks = Ranks.join(device.type)
    ranks.check(cfg.train.batch_size, bool(cfg.record.probes))
    if ranks.world > 1 and cfg.train.on_nonfinite == "skip":  # one rank skipping alone would stall the others
        raise ConfigError("train.on_nonfinite=skip is for one process; under torchrun use stop")
    device = ranks.device(device)
    if device.type == "cpu":
        keep_freed_memory()  # large activations reuse their pages instead of faulting in afresh each step
    ds = load_dataset_for(cfg.data, given=given.data)
    ds = ds.with_splits(train=ds.train.to(device), test=ds.test.to(device))
    pipeline = Pipeline(ds.transforms, device, ds.input_shape)

    torch.manual_seed(cfg.seed)
    images = len(ds.input_shape) == 3
    model = given.model
    if model is None:
        check_model_fits(cfg, ds, pipeline, device)
        model = build_model(cfg.model.name, ds.num_classes, ds.input_shape, cfg.model.options)
    model = to_device_format(model, device, images)
    objective = Objective(cfg.loss, given.losses, cfg.train.steps_per_epoch(len(ds.train))).to(device)
    teacher = Teacher(given.teacher) if given.teacher is not None else None
    if teacher is None and objective.uses_teacher:
        teacher_run = teacher_run or OutDir(".").find(cfg.teacher.run)  # called without a runner: from the cwd
        teacher = RunTeacher(teacher_run, cfg.teacher, ds.num_classes, ds.input_shape, device, model=given.teacher_model)
    check_vocabulary(model, ds.extras, "student")
    if teacher is not None:
        to_device_format(teacher.model, device, images)
        check_vocabulary(teacher.model, ds.extras, "teacher")
        if teacher.run is not None:
            check_same_tokenizer(teacher.run, ds.extras)
    sample = pipeline.eval(ds.train.batch(slice(0, 2)))
    check_outputs(model, sample, ds.num_classes, "student")
    if teacher is not None:
        check_outputs(teacher.model, sample, ds.num_classes, "teacher")
    objective.attach(model, teacher.model if teacher is not None else None, sample, len(ds.train), ds.num_classes,
                     train_labels=ds.train.label)
    params = [p for p in model.parameters() if p.requires_grad] + [p for p in objective.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, cfg.train)
    probes = build_probes(cfg.record.probes, ds, model, cfg, objective, pipeline)
    dtype = pick_precision(cfg.train.precision, device)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    if ranks.world > 1:  # the same initial weights everywhere (above); dropout draws per rank from here
        torch.manual_seed(derived_seed(cfg.seed, ranks.rank))
    # The DDP wrapper and compiled modules share the originals' parameters; checkpoints and
    # evaluation use the originals.
    forward = ranks.wrap(model)
    if cfg.train.compile:
        forward = torch.compile(forward)
    teacher_forward = torch.compile(teacher.model) if cfg.train.compile and teacher is not None else None
    # A teacher's logits can be kept when nothing about a training sample changes between epochs
    # (no augmentation) and no term reads the teacher's inner features.
    cache = (teacher is not None and teacher.deterministic and not any(t.augment for t in pipeline.steps)
             and "teacher" not in objective.taps)
    return Session(cfg=cfg, device=device, data=ds, pipeline=pipeline, model=model, teacher=teacher,
                   objective=objective, optimizer=optimizer, probes=probes, autocast=dtype, scaler=scaler,
                   forward=forward if forward is not model else None, teacher_forward=teacher_forward, ranks=ranks,
                   cache_teacher=cache)


OPTIMIZER_STATES = {"sgd": 1, "adam": 2, "adamw": 2}  # tensors an optimizer keeps per parameter


def check_model_fits(cfg: ResolvedConfig, ds: Dataset, pipeline: Pipeline, device: torch.device) -> None:
    """Before a registered model is allocated: build it on the meta device (shapes, no memory), run a
    training batch through it there, and refuse in one line what cannot fit: weights, gradients and
    optimizer states, and every layer's output and its gradient for a batch. Models that cannot run
    on the meta device are only checked by their parameters, those that cannot be built there not."""
    try:
        with torch.device("meta"):
            meta = build_model(cfg.model.name, ds.num_classes, ds.input_shape, cfg.model.options)
    except Exception:  # noqa: BLE001 (one that cannot be built there, e.g. loaded from a folder: the real
        return  # build below says what is wrong, if anything)
    params = sum(p.numel() for p in meta.parameters())
    outputs: list[int] = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.numel() if isinstance(o, torch.Tensor) else 0))
             for m in meta.modules() if not any(True for _ in m.children())]
    try:
        rows = torch.arange(min(len(ds.train), cfg.train.batch_size))
        batch = {k: v.to("meta") for k, v in pipeline.eval(ds.train.batch(rows)).items()}
        with torch.no_grad():
            logits_of(meta, batch)
    except Exception:  # noqa: BLE001 (a model with host-side logic, e.g. .item(): parameters only)
        outputs.clear()
    finally:
        for h in hooks:
            h.remove()
    need = 4 * (params * (2 + OPTIMIZER_STATES[cfg.train.optimizer]) + 2 * sum(outputs))
    check_fits(need, f"model '{cfg.model.name}' ({params:,} parameters) training at batch {cfg.train.batch_size}",
               str(device))  # the device itself: cuda:1 asks GPU 1


def save_checkpoint(s: Session, run: RunDir) -> None:
    s.last_checkpoint = s.epoch
    rng = s.ranks.gather(torch.get_rng_state())  # every rank's dropout stream, to resume each
    windows = s.ranks.gather(s.window.state()) if s.window is not None else None
    if not s.ranks.writes:
        return
    save_weights(run.weights_path(s.epoch), s.model, {"epoch": str(s.epoch), "model": s.cfg.model.name})
    if has_parameters(s.objective):
        save_weights(run.objective_path(s.epoch), s.objective, {"epoch": str(s.epoch)})
    save_probe_states(run.probes_state_path, s.probes)
    save_state(run.state_path, {"epoch": s.epoch, "step": s.step, "elapsed": s.elapsed,
                                "optimizer": s.optimizer.state_dict(), "rng": rng[0],
                                **({"rng_ranks": rng} if s.ranks.world > 1 else {}),
                                **({"log_windows": windows} if windows is not None else {})})


def resume(s: Session, run: RunDir, log: Callable[[str], None]) -> None:
    """Continue from the latest checkpoint, if there is one; drop metrics rows past it."""
    if not run.state_path.is_file():
        return
    info = run.info()
    processes = info.processes
    if processes != s.ranks.world:
        raise RunError(f"{run.root} was started in {processes} process(es), this is {s.ranks.world}; resume it "
                       f"with the same torchrun --nproc-per-node {processes}, or remove the run to start again")
    started = info.torch_threads
    if s.device.type == "cpu" and started is not None and started != torch.get_num_threads():
        # CPU kernels split work by thread count: another count continues another trajectory.
        raise RunError(f"{run.root} was started with {started} torch threads, this process has "
                       f"{torch.get_num_threads()}; resume with OMP_NUM_THREADS={started} (or torch.set_num_threads"
                       f"({started})), or remove the run to start again")
    state = load_state(run.state_path)
    for key, kind in (("epoch", int), ("step", int), ("elapsed", float), ("optimizer", dict), ("rng", torch.Tensor)):
        if not isinstance(state.get(key), kind):
            raise RunError(f"{run.state_path} lacks a valid '{key}': the training state is damaged; "
                           f"remove it to restart the run from scratch")
    s.epoch, s.step, s.elapsed = int(state["epoch"]), int(state["step"]), float(state["elapsed"])
    s.last_checkpoint = s.epoch
    load_weights(run.weights_path(s.epoch), s.model)
    if has_parameters(s.objective):
        load_weights(run.objective_path(s.epoch), s.objective)
    try:
        s.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng_ranks"][s.ranks.rank] if s.ranks.world > 1 else state["rng"])
        if s.window is not None and "log_windows" in state:  # a checkpoint of an earlier kdlab has none
            s.window.load(state["log_windows"][s.ranks.rank])
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as e:
        raise RunError(f"{run.state_path} does not fit this run ({type(e).__name__}); "
                       f"remove it to restart the run from scratch") from None
    load_probe_states(run.probes_state_path, s.probes, s.step)
    s.metrics = [m for m in run.metrics() if m["epoch"] <= s.epoch]
    log(f"resuming {run.root} from epoch {s.epoch} (step {s.step})")


def has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def train_epoch(s: Session, bar: Progress) -> dict:
    """One epoch of steps; returns the epoch's metrics row (training part)."""
    t0 = time.perf_counter()
    epoch = s.epoch
    s.model.train()
    sums: dict[str, torch.Tensor] = {}
    correct = torch.zeros((), device=s.device)
    seen = 0
    lr = s.cfg.train.lr
    every = s.cfg.record.log_every_steps
    nonfinite = FirstNonFinite()
    for batch, share in s.shards(epoch):
        if s.step >= s.total_steps:  # a `train.steps` run ends inside its last epoch
            break
        lr = lr_at(s.step, s.cfg.train, s.steps_per_epoch)
        if lr > FLOAT32_MAX:
            raise RunError(f"the learning rate at step {s.step} is {lr:.3g} (train.lr with its schedule), beyond what a "
                           f"float32 update can take; lower train.lr or train.decay_factor")
        for group in s.optimizer.param_groups:
            group["lr"] = lr
        logits, teacher_logits, terms = s.train_step(batch, epoch + 1, share)
        if not terms:  # a step skipped for a non-finite loss (train.on_nonfinite=skip)
            s.step += 1
            continue
        nonfinite.add(s.step, terms)
        for probe in s.probes.values():
            probe.on_step(s.step, batch, logits, teacher_logits, s.model)
        n = len(batch["label"])
        products = {k: v * n for k, v in terms.items()}
        for k, x in products.items():
            sums[k] = sums.get(k, 0) + x
        hits = (logits.argmax(1) == batch["label"]).sum()
        correct += hits
        seen += n
        s.step += 1
        if s.window is not None:  # on the device: read (a sync) only every `every` steps
            s.window.add(products, n, hits)
            if s.step % every == 0:
                log_training(s, lr)
        bar.advance(lambda: {"loss": sums["loss"].item() / seen, "acc": correct.item() / seen})
    stop_if_nonfinite(s, nonfinite.read(), lr)
    if not seen:
        raise RunError(f"every step of epoch {epoch + 1} had a non-finite loss and was skipped "
                       f"(train.on_nonfinite=skip): nothing trains; lower train.lr or look at the loss terms")
    if s.ranks.world > 1:  # the epoch's numbers over all ranks' samples: one reduction per epoch
        keys = list(sums)
        total = s.ranks.sum(torch.stack([*(sums[k].float() for k in keys), correct.float(),
                                         torch.tensor(float(seen), device=s.device)]))
        sums, correct, seen = dict(zip(keys, total[:-2])), total[-2], int(total[-1].item())
    s.elapsed += time.perf_counter() - t0
    s.epoch = epoch + 1
    row = {"epoch": s.epoch, "step": s.step, "lr": lr, "train_acc_augmented": correct.item() / seen,
           "seconds": round(s.elapsed, 3)}
    row.update({f"w_{name}": w for name, w in s.objective.weights(s.step - 1).items()})
    row.update({f"train_{k}": v.item() / seen for k, v in sums.items()})
    if s.teacher is not None and s.cfg.teacher is not None and s.cfg.teacher.online:
        row["teacher_epoch"] = s.teacher.version(s.epoch)
    if s.skipped:
        row["skipped_steps"] = s.skipped
    return row


def stop_if_nonfinite(s: Session, first: dict[str, int], lr: float) -> None:
    """End the run in one line at the first step whose loss was not finite, before its epoch is
    checkpointed: the last checkpoint (of good weights) stays, for a look or a resume."""
    if not first:
        return
    term = min((k for k in first if k != "loss"), key=lambda k: first[k], default="loss")
    step = first[term]
    facts = s.objective.weighting.terms.get(term)  # None for the total, or a term's own number
    kind = facts.kind if facts is not None else "total"
    temperature = facts.temperature if facts is not None else None
    kept = f"its last checkpoint (epoch {s.last_checkpoint})" if s.last_checkpoint else "its start (no checkpoint yet)"
    cause = (f"a learning rate of {lr:.3g} is likely too large for this model" if lr >= 1 else
             f"its temperature {temperature:g} is tiny: logits / T overflow" if temperature is not None and temperature < 0.05
             else "the step diverged: try a smaller train.lr, or train.precision=fp32")
    raise RunError(f"the loss became non-finite at step {step} (epoch {s.epoch + 1}), first in term '{term}' ({kind}); "
                   f"likely cause: {cause}; the run stops at {kept}; train.on_nonfinite=skip skips such steps instead")


def log_training(s: Session, lr: float) -> None:
    """The window's numbers at the current step: the loss by term and in total, each term's weight
    and the learning rate at the window's last step, and the training accuracy over the window."""
    means, train_acc = s.window.read(s.ranks)  # every rank: the read sums over ranks
    if not s.loggers:
        return
    values = {f"loss/{k}": v for k, v in means.items()}
    values.update({f"weight/{name}": w for name, w in s.objective.weights(s.step - 1).items()})
    values.update({"lr": lr, s.train_accuracy_tag: train_acc})
    s.log_scalars(values)


def record_predictions(s: Session, run: RunDir, test_logits: torch.Tensor) -> dict:
    """Write predictions/step_<S>.npz (train un-augmented, eval mode; test as already predicted)."""
    logits = {"train": predict(s.model, s.pipeline, s.data.train), "test": test_logits}
    splits = {"train": s.data.train, "test": s.data.test}
    arrays = {name: {"index": sp.index.cpu().numpy(), "label": sp.label.cpu().numpy(),
                     "orig_label": sp.orig_label.cpu().numpy(), "logits": logits[name].float().cpu().numpy()}
              for name, sp in splits.items()}
    write_predictions(run.prediction_path(s.step), arrays, s.epoch, s.step)
    acc = {f"{n}_acc": accuracy(logits[n], sp.label) for n, sp in splits.items()}
    acc["train_acc_orig_labels"] = accuracy(logits["train"], s.data.train.orig_label)
    return acc


def evaluate_and_record(s: Session, run: RunDir, row: dict) -> dict:
    """Test accuracy, test loss and probe numbers into the row and to the loggers; predictions when
    due. Returns the accuracies recorded with predictions ({} when none were due)."""
    test_logits = predict(s.model, s.pipeline, s.data.test)
    row["test_acc"] = accuracy(test_logits, s.data.test.label)
    row["test_loss"] = cross_entropy(test_logits, s.data.test.label)
    probed = {}
    for probe in s.probes.values():
        probed.update(probe.epoch_metrics(s.model))
    row.update(probed)
    s.log_scalars({"accuracy/test": row["test_acc"], "loss/test": row["test_loss"],
                   **{f"probe/{k}": v for k, v in probed.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}})
    recorded = {}
    if s.epoch % s.cfg.record.predictions_every_epochs == 0 or s.epoch == s.total_epochs:
        recorded = record_predictions(s, run, test_logits)
        row["recorded_step"] = s.step
    s.metrics.append(row)
    run.write_metrics(s.metrics)
    return recorded


def finish(s: Session, run: RunDir, last_acc: dict) -> Summary:
    """Final weights, probe records and the summary (written last: it marks a finished run)."""
    save_weights(run.final_weights, s.model, {"epoch": str(s.total_epochs), "model": s.cfg.model.name})
    if has_parameters(s.objective):
        save_weights(run.objective_path("final"), s.objective)
    for name, probe in s.probes.items():
        if state := probe.state():
            write_npz(run.probe_record(name), **state)
    if not last_acc:  # resumed after the last epoch was recorded but before the summary was written
        last_acc = record_predictions(s, run, predict(s.model, s.pipeline, s.data.test))
    summary = Summary(
        name=s.cfg.name, seed=s.cfg.seed, model=s.cfg.model.name, dataset=s.data.name, epochs=s.total_epochs,
        steps=s.step, train_seconds=round(s.elapsed, 3), num_parameters=count_parameters(s.model),
        config_hash=s.cfg.content_hash(), code_version=code_version(), device=str(s.device),
        label_noise=s.cfg.data.label_noise, noisy_train_samples=int(s.data.train.noisy.sum().item()), **last_acc,
        probes={n: p.summary(s.model) for n, p in s.probes.items()},
    )
    run.write_summary(summary)
    return summary


def run_info(s: Session, teacher: TeacherIdentity | None) -> RunInfo:
    """What the run starts with (run.json): everything a reader needs without the code that made it."""
    cfg, data = s.cfg, s.data
    teacher_run = s.teacher.run if s.teacher is not None else None
    return RunInfo(
        config_hash=cfg.content_hash(), code_version=code_version(), code=cfg.code, torch=torch.__version__,
        torch_threads=torch.get_num_threads(), python=platform.python_version(), processes=s.ranks.world,
        model=cfg.model.name, num_classes=data.num_classes, input_shape=list(data.input_shape),
        num_parameters=count_parameters(s.model), dataset=data.name, transforms=data.transforms,
        tokenizer_id=data.extras.get("tokenizer_id"), objective=s.objective.weighting,
        # the teacher run as found when the run started (configs may name it relative to --out or the cwd)
        teacher_run=str(teacher_run.root.resolve()) if teacher_run is not None else None,
        teacher_identity=teacher if teacher_run is not None else None,
        steps_per_epoch=s.steps_per_epoch, epochs=s.total_epochs, steps=s.total_steps,
        precision=str(s.autocast).removeprefix("torch.") if s.autocast else "fp32", compile=cfg.train.compile,
    )


def train(cfg: ResolvedConfig, run: RunDir, *, given: Given = Given(), teacher_run: RunDir | None = None,
          teacher: TeacherIdentity | None = None, progress: bool = True, hooks: Iterable[EpochHook] = (),
          log: Callable[[str], None] = print, out: OutDir) -> Summary:
    """Train (or resume) the run described by `cfg` in `run`, a run of the output folder `out`;
    returns the summary it writes. `teacher` is the identity of `teacher_run`
    (kdlab.records.teacher_identity), recorded in run.json."""
    s = setup(cfg, given, teacher_run)
    writes = s.ranks.writes  # under torchrun only rank 0 records; the others train and read
    if writes:
        run.write_start(cfg, run_info(s, teacher))
    s.ranks.wait()  # the others read run.json once rank 0 has written it
    if cfg.record.loggers:  # every rank: a window's read sums over ranks
        s.window = Window(s.device)
    resume(s, run, log)
    last_step = s.total_steps
    if cfg.loss.switch is not None and cfg.loss.switch.at_step >= last_step:
        log(f"warning: loss.switch.at_step {cfg.loss.switch.at_step} is at or past the run's last step "
            f"({last_step}); the switch never happens")

    def start_loggers() -> None:  # rank 0 alone; a logger that cannot start stops every rank with its error
        s.loggers = build_loggers(cfg.record.logger_entries(), config=cfg, run=run,
                                  out=out, start_step=s.step, log=log)

    s.ranks.on_writer(start_loggers)
    bar = Progress(cfg.name, total=s.total_steps, done=s.step, enabled=progress and writes)
    last_acc: dict = {}
    finished = False
    try:  # a Ctrl-C must still stop the live progress display and close the loggers
        if s.step == 0:  # once: a resumed run logged them when it started
            params = hyperparameters(cfg.model_dump(mode="json"))
            for logger in s.loggers:
                logger.hparams(params)
        while s.epoch < s.total_epochs:
            row = train_epoch(s, bar)
            if writes:
                last_acc = evaluate_and_record(s, run, row)
                bar.set_postfix(test_acc=row["test_acc"])
            if s.epoch % cfg.record.checkpoint_every_epochs == 0 or s.epoch == s.total_epochs:
                save_checkpoint(s, run)
            for hook in hooks:
                hook(s.epoch, s.step)
        finished = True
    finally:
        bar.close()
        for logger in s.loggers:
            logger.close(finished)
    return s.ranks.from_writer(finish(s, run, last_acc) if writes else None)
