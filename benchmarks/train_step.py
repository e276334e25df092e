"""Throughput of our KD training step against a plain PyTorch reference, measured in the same run.

Both train a resnet20 student from a resnet56 teacher (pure KD at T = 4, SGD-Nesterov) on
CIFAR-shaped uint8 data with crop-and-flip augmentation, batch 128, fp32.
  ours:      kdlab's own loop (kdlab.train.loop.setup, Session.batches, Session.train_step): data kept as one
             tensor on the device, batched augmentation, channels_last
  reference: a Dataset with per-sample transforms behind a DataLoader, eager, contiguous tensors
Prints images/second of each and their ratio, and against the hardware: the model work of one
step (PyTorch's FLOP counter over a real step: student forward and backward, teacher forward), the
GFLOP/s that makes, and its fraction of the fp32 GEMM rate measured in the same run.
Without augmentation (the last three rows) the teacher's logits are computed once per run and
looked up (kdlab.train.loop.Session.teacher_logits), against the teacher run at every step and a
one-hot step; the one cached pass over the data happens in the warm-up.
Run: .venv/bin/python benchmarks/train_step.py
"""

from __future__ import annotations

import argparse
import random
import time
from contextlib import nullcontext
from functools import partial

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from rich.console import Console
from rich.table import Table

from kdlab.config import Given, resolve
from kdlab.data import from_tensors
from kdlab.models import build_model
from kdlab.train.loop import setup

from roofline import gemm_rate

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def make_models(device):
    torch.manual_seed(0)
    return build_model("resnet20", 100, (3, 32, 32)).to(device), build_model("resnet56", 100, (3, 32, 32)).to(device)


def random_images(steps: int, batch: int, classes: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-shaped uint8 images (3 x 32 x 32) and labels for `steps` batches and one more, seeded."""
    g = torch.Generator().manual_seed(0)
    n = batch * (steps + 1)
    return (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
            torch.randint(0, classes, (n,), generator=g))


def _config(batch, device, given: Given, precision="fp32", compile=False):
    """Pure KD at T = 4 (or one-hot without a teacher) with SGD-Nesterov; data, student and teacher are given."""
    loss = {"kd": {"weight": 1.0, "temperature": 4.0}} if given.teacher is not None else {"onehot": {"weight": 1.0}}
    return resolve({"train": {"batch_size": batch, "lr": 0.05, "device": device.type, "precision": precision,
                              "compile": compile}, "loss": {"terms": loss}}, given=given)


AUGMENTED = [{"name": "crop_flip", "padding": 4}, {"name": "normalize", "mean": MEAN, "std": STD}]


def kd_session(x, y, batch, device, precision="fp32", compile=False, teacher="every step", augment=True):
    """kdlab's own loop parts (kdlab.train.loop.setup) for the KD step on uint8 images x, labels y:
    the data, student and teacher given. teacher: "every step", "cached" (computed once per run:
    Session.teacher_logits, without augmentation only) or "none" (a one-hot step)."""
    student, teacher_model = make_models(device)
    transforms = AUGMENTED if augment else AUGMENTED[1:]
    data = from_tensors((x, y), (x[:1], y[:1]), name="bench", num_classes=100, transforms=transforms)
    teacher_model.deterministic = teacher != "every step"  # False: no cached logits, the teacher runs every step
    given = Given(model=student, data=data, teacher=None if teacher == "none" else teacher_model)
    return setup(_config(batch, device, given, precision, compile), given)


def step_flops(session) -> int:
    """The FLOPs of one Session.train_step on a batch of epoch 0, as PyTorch's FLOP counter counts them."""
    with FlopCounterMode(display=False) as counter:
        session.train_step(next(iter(session.batches(0))), 1)
    return counter.get_total_flops()


def bench_ours(x, y, batch, steps, warmup, device, precision="fp32", compile=False, teacher="every step",
               augment=True) -> tuple[float, float]:
    """kdlab's own loop parts: Session.batches (on-device batched augmentation) and Session.train_step.
    Returns images/second and the FLOPs of one step."""
    session = kd_session(x, y, batch, device, precision, compile, teacher, augment)
    rate = time_session(session, batch, steps, warmup, device)
    return rate, step_flops(session)


def time_session(session, batch, steps, warmup, device, check=nullcontext) -> float:
    """Samples/second of `steps` full batches of Session.batches + Session.train_step, after `warmup`
    (a short last batch is skipped, as the references' drop_last does)."""
    return time_steps(lambda epoch: (b for b in session.batches(epoch) if len(b["label"]) == batch),
                      lambda b: session.train_step(b, 1), batch, steps, warmup, device, check)


def time_steps(batches, step, batch, steps, warmup, device, check=nullcontext) -> float:
    """Samples/second of `steps` calls of step(b), b from batches(epoch) epoch after epoch, after
    `warmup` untimed calls. Every benchmark's loop, kdlab's and the references', is timed here.
    `check()` is a context entered around the timed steps and their batches, not around the
    synchronisations that time them (benchmarks/gpu.py: torch's CUDA sync-debug mode)."""
    stream = _endless(batches)
    for _ in range(warmup):
        step(next(stream))
    synchronize(device)
    t0 = time.perf_counter()
    with check():
        for _ in range(steps):
            step(next(stream))
    synchronize(device)
    return steps * batch / (time.perf_counter() - t0)


def _endless(batches):
    epoch = 0
    while True:
        yield from batches(epoch)
        epoch += 1


class PerSampleCifar(torch.utils.data.Dataset):
    """The common reference: pad, random crop, flip and normalise one image at a time."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.mean, self.std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = F.pad(self.x[i].float() / 255, (4, 4, 4, 4))
        dy, dx = random.randint(0, 8), random.randint(0, 8)
        img = img[:, dy : dy + 32, dx : dx + 32]
        if random.random() < 0.5:
            img = img.flip(-1)
        return (img - self.mean) / self.std, self.y[i]


class ReferenceKD:
    """The references' KD step, written plainly: the same models, pure KD at T = 4, SGD-Nesterov.
    step(inputs) takes a batch already on the device; the teacher runs on it unless its logits are
    given. Options for a careful GPU user: channels_last models, bf16 autocast, torch.compile."""

    T = 4.0

    def __init__(self, device, autocast: torch.dtype | None = None, channels_last=False, compile=False):
        student, teacher = make_models(device)
        teacher.eval()
        if channels_last:
            student, teacher = (m.to(memory_format=torch.channels_last) for m in (student, teacher))
        self.student, self.teacher = (torch.compile(student), torch.compile(teacher)) if compile else (student, teacher)
        self.precision = partial(torch.autocast, device.type, dtype=autocast) if autocast is not None else nullcontext
        self.opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def teacher_logits(self, xb):
        with self.precision(), torch.no_grad():
            return self.teacher(xb)

    def step(self, xb, t_logits=None):
        T = self.T
        with self.precision():
            if t_logits is None:
                t_logits = self.teacher_logits(xb)
            s_logits = self.student(xb)
            loss = F.kl_div(F.log_softmax(s_logits / T, 1), F.softmax(t_logits / T, 1), reduction="batchmean") * T * T
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def bench_reference(x, y, batch, steps, warmup, device, workers) -> float:
    kd = ReferenceKD(device)
    loader = torch.utils.data.DataLoader(PerSampleCifar(x, y), batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=workers > 0)
    return time_steps(lambda epoch: loader, lambda b: kd.step(b[0].to(device)), batch, steps, warmup, device)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the reference")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--variants", nargs="+", default=["fp32"],
                   help="kdlab variants to time: fp32, bf16, fp16 (GPU), and any of them +compile (e.g. bf16+compile)")
    args = p.parse_args()
    device = torch.device(args.device)
    x, y = random_images(args.steps + args.warmup, args.batch)
    ref = bench_reference(x, y, args.batch, args.steps, args.warmup, device, args.workers)
    rows = {f"kdlab {v} (on-device batched augmentation, channels_last)":
            bench_ours(x, y, args.batch, args.steps, args.warmup, device, v.split("+")[0], v.endswith("+compile"))
            for v in args.variants}
    for label, teacher in (("KD, teacher logits cached", "cached"), ("KD, teacher every step", "every step"),
                           ("one-hot, no teacher", "none")):
        rows[f"no augmentation: {label}"] = bench_ours(x, y, args.batch, args.steps, args.warmup, device,
                                                       teacher=teacher, augment=False)
    peak = gemm_rate(device=device.type)
    table = Table(title=f"KD step, resnet56 -> resnet20, batch {args.batch}, {device.type}, {torch.get_num_threads()} threads")
    for c in ("loop", "img/s", "vs reference", "GFLOP/step", "GFLOP/s", "of GEMM rate"):
        table.add_column(c, justify="right" if c != "loop" else "left")
    table.add_row(f"reference (DataLoader, {args.workers} workers, per-sample transforms)", f"{ref:.1f}", "1.00x", "", "", "")
    for label, (rate, flops) in rows.items():
        achieved = rate / args.batch * flops
        table.add_row(label, f"{rate:.1f}", f"{rate / ref:.2f}x", f"{flops / 1e9:.1f}", f"{achieved / 1e9:.0f}",
                      f"{achieved / peak:.2f}")
    Console(width=150).print(table)
    print(f"fp32 GEMM rate {peak / 1e9:.0f} GFLOP/s (4096^2 matmul, this run). GFLOP/step counts the step's own "
          f"work: a cached or absent teacher's forward is not in it.")


if __name__ == "__main__":
    main()
