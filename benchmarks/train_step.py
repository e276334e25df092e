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


def _config(batch, device, given: Given, precision="fp32", compile=False):
    """Pure KD at T = 4 (or one-hot without a teacher) with SGD-Nesterov; data, student and teacher are given."""
    loss = {"kd": {"weight": 1.0, "temperature": 4.0}} if given.teacher is not None else {"onehot": {"weight": 1.0}}
    return resolve({"train": {"batch_size": batch, "lr": 0.05, "device": device.type, "precision": precision,
                              "compile": compile}, "loss": {"terms": loss}}, given=given)


AUGMENTED = [{"name": "crop_flip", "padding": 4}, {"name": "normalize", "mean": MEAN, "std": STD}]


def bench_ours(x, y, batch, steps, warmup, device, precision="fp32", compile=False, teacher="every step",
               augment=True) -> tuple[float, float]:
    """kdlab's own loop parts: Session.batches (on-device batched augmentation) and Session.train_step.
    Returns images/second and the FLOPs of one step."""
    student, teacher_model = make_models(device)
    transforms = AUGMENTED if augment else AUGMENTED[1:]
    data = from_tensors((x, y), (x[:1], y[:1]), name="bench", transforms=transforms)
    teacher_model.deterministic = teacher != "every step"  # False: no cached logits, the teacher runs every step
    given = Given(model=student, data=data, teacher=None if teacher == "none" else teacher_model)
    session = setup(_config(batch, device, given, precision, compile), given)
    rate = time_session(session, batch, steps, warmup, device)
    with FlopCounterMode(display=False) as counter:
        session.train_step(next(iter(session.batches(0))), 1)
    return rate, counter.get_total_flops()


def time_session(session, batch, steps, warmup, device) -> float:
    """Samples/second of `steps` full batches of Session.batches + Session.train_step, after `warmup`
    (a short last batch is skipped, as the references' drop_last does)."""
    return time_steps(lambda epoch: (b for b in session.batches(epoch) if len(b["label"]) == batch),
                      lambda b: session.train_step(b, 1), batch, steps, warmup, device)


def time_steps(batches, step, batch, steps, warmup, device) -> float:
    """Samples/second of `steps` calls of step(b), b from batches(epoch) epoch after epoch, after
    `warmup` untimed calls. Every benchmark's loop, kdlab's and the references', is timed here."""
    done, t0, epoch = 0, None, 0
    while True:
        for b in batches(epoch):
            if done == warmup:
                _sync(device)
                t0 = time.perf_counter()
            step(b)
            done += 1
            if done == warmup + steps:
                _sync(device)
                return steps * batch / (time.perf_counter() - t0)
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


def bench_reference(x, y, batch, steps, warmup, device, workers) -> float:
    student, teacher = make_models(device)
    teacher.eval()
    loader = torch.utils.data.DataLoader(PerSampleCifar(x, y), batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=workers > 0)
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    T = 4.0

    def step(b):
        xb = b[0].to(device)
        with torch.no_grad():
            t_logits = teacher(xb)
        s_logits = student(xb)
        loss = F.kl_div(F.log_softmax(s_logits / T, 1), F.softmax(t_logits / T, 1), reduction="batchmean") * T * T
        opt.zero_grad()
        loss.backward()
        opt.step()

    return time_steps(lambda epoch: loader, step, batch, steps, warmup, device)


def _sync(device):
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
    g = torch.Generator().manual_seed(0)
    n = args.batch * (args.steps + args.warmup + 1)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 100, (n,), generator=g)
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
