"""The training step of every distillation method of the CRD benchmark, against plain KD, in one run.

resnet32x4 -> resnet8x4 (the CRD benchmark's pair, kdlab's `resnet32x4` and `resnet8x4`) at batch 64 on
CIFAR-shaped random uint8 images (3 x 32 x 32, 100 classes) with crop-and-flip augmentation, each
method with the objective configs/benchmarks/cifar100_crd.yaml gives it (its terms, weights and
features: make_cifar100_crd.loss) and the plan's SGD settings, through kdlab's own loop
(kdlab.train.loop.setup with the models and data given as objects, Session.batches and
Session.train_step: the teacher runs every step).
Methods are timed in turn, round after round (--rounds; each round starts one method later), and
each keeps its best round, so a busy machine slows all of them alike. The vanilla (one-hot) step has no teacher.

Prints ms/step, the ratio to KD's, GFLOP/step (PyTorch's FLOP counter over one real step: student
forward and backward, teacher forward, the terms' own work), the GFLOP/s that makes and its fraction
of the fp32 GEMM rate (benchmarks/roofline.py, a 4096^2 matmul) measured in the same run.
A method whose loss term or models are not registered (yet) is listed as skipped, with why.

Run: .venv/bin/python benchmarks/methods_step.py [--steps 6] [--warmup 1] [--rounds 2] [--methods kd crd ...]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from kdlab.config import Given, resolve
from kdlab.data import from_tensors
from kdlab.errors import KdlabError
from kdlab.losses import LOSS_TERMS
from kdlab.models import MODELS, build_model
from kdlab.train.loop import setup

from roofline import gemm_rate
from train_step import AUGMENTED, random_images, step_flops, time_session

ROOT = Path(__file__).resolve().parents[1]
TEACHER, STUDENT = "resnet32x4", "resnet8x4"
SHAPE, CLASSES = (3, 32, 32), 100  # random_images' shape


@functools.cache
def plan_generator():
    spec = importlib.util.spec_from_file_location("make_cifar100_crd", ROOT / "configs" / "benchmarks" / "make_cifar100_crd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def objectives(methods: list[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """Each method's loss terms as the benchmark plan gives them, and why the others are skipped."""
    skipped: dict[str, str] = {}
    missing = [m for m in (TEACHER, STUDENT) if m not in MODELS.names()]
    if missing:
        return {}, {m: f"model {', '.join(missing)} is not registered" for m in methods}
    gen = plan_generator()
    shapes = gen.Shapes()
    found: dict[str, dict] = {}
    terms = set(LOSS_TERMS.names())
    for m in methods:
        if m == "vanilla":
            found[m] = {"onehot": {"weight": 1.0}}
            continue
        try:
            loss = gen.loss(m, TEACHER, STUDENT, shapes)
        except (KdlabError, KeyError, SystemExit) as e:
            skipped[m] = f"its objective cannot be made here ({e})"
            continue
        unknown = [t for t in loss if t not in terms]
        if unknown:
            skipped[m] = f"loss term {', '.join(unknown)} is not registered"
            continue
        found[m] = loss
    return found, skipped


def session(terms: dict, x, y, batch: int, device: torch.device, precision: str):
    """kdlab's loop (setup) for one method: student, teacher and data given as objects, the terms by name."""
    torch.manual_seed(0)
    student = build_model(STUDENT, CLASSES, SHAPE).to(device)
    teacher = build_model(TEACHER, CLASSES, SHAPE).to(device)
    teacher.deterministic = False  # the teacher runs at every step, as with augmentation it must
    data = from_tensors((x, y), (x[:1], y[:1]), name="bench", num_classes=CLASSES, transforms=AUGMENTED)
    reads_teacher = any(t != "onehot" for t in terms)
    given = Given(model=student, data=data, teacher=teacher if reads_teacher else None)
    optimizer = {k: plan_generator().RECIPE[k] for k in ("lr", "momentum", "nesterov", "weight_decay")}  # the plan's
    cfg = resolve({"train": {"batch_size": batch, **optimizer, "device": device.type, "precision": precision},
                   "loss": {"terms": terms}}, given=given)
    return setup(cfg, given)


def describe(terms: dict) -> str:
    return " + ".join(f"{t['weight']:g} {name}" for name, t in terms.items())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=6, help="timed steps a round")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before each timing")
    p.add_argument("--rounds", type=int, default=2, help="rounds over all methods; each keeps its best")
    p.add_argument("--methods", nargs="+", default=None, help="default: vanilla and every method of the plan")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args()
    device = torch.device(args.device)
    methods = args.methods or ["vanilla", *plan_generator().METHODS]
    if "kd" not in methods:
        methods = ["kd", *methods]  # the reference of every ratio
    found, skipped = objectives(methods)
    x, y = random_images(args.steps + args.warmup, args.batch, CLASSES)
    sessions = {}
    for m, terms in found.items():
        try:
            sessions[m] = session(terms, x, y, args.batch, device, args.precision)
        except KdlabError as e:
            skipped[m] = f"setup failed: {e}"
    best: dict[str, float] = {}
    order = list(sessions)
    for r in range(args.rounds):  # each round starts one method later: no method is always timed first
        for m in order[r % len(order):] + order[:r % len(order)]:
            rate = time_session(sessions[m], args.batch, args.steps, args.warmup, device)
            best[m] = max(best.get(m, 0.0), rate)
    flops = {m: step_flops(s) for m, s in sessions.items()}
    peak = gemm_rate(device=device.type)
    kd_ms = 1000 * args.batch / best["kd"] if "kd" in best else None

    table = Table(title=f"Training step per method, {TEACHER} -> {STUDENT}, batch {args.batch}, {args.precision}, "
                        f"{device.type}, {torch.get_num_threads()} threads; best of {args.rounds} rounds of {args.steps} steps")
    for c in ("method", "objective", "ms/step", "vs KD", "GFLOP/step", "GFLOP/s", "of GEMM rate"):
        table.add_column(c, justify="left" if c in ("method", "objective") else "right")
    rows = {}
    for m in methods:
        if m not in best:
            continue
        ms = 1000 * args.batch / best[m]
        achieved = flops[m] / (ms / 1000)
        rows[m] = {"objective": found[m], "ms_per_step": ms, "vs_kd": ms / kd_ms if kd_ms else None,
                   "gflop_per_step": flops[m] / 1e9, "gflop_per_s": achieved / 1e9, "of_gemm_rate": achieved / peak}
        table.add_row(m, describe(found[m]), f"{ms:.1f}", f"{ms / kd_ms:.2f}x" if kd_ms else "-", f"{flops[m] / 1e9:.1f}",
                      f"{achieved / 1e9:.0f}", f"{achieved / peak:.2f}")
    Console(width=160).print(table)
    for m, why in skipped.items():
        print(f"skipped {m}: {why}")
    print(f"fp32 GEMM rate {peak / 1e9:.0f} GFLOP/s (4096^2 matmul, this run)")
    if args.json:
        args.json.write_text(json.dumps({"device": device.type, "threads": torch.get_num_threads(), "batch": args.batch,
                                         "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
                                         "precision": args.precision, "gemm_flops": peak, "methods": rows,
                                         "skipped": skipped, "time": time.strftime("%Y-%m-%d %H:%M")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
