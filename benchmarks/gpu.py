"""Paper scale on one GPU, in one run: kdlab against plain PyTorch, and against the GPU's own matmul rates.

Rows, each measured in this run (sizes: PAPER; `--dry-run`: DRY):
  matmul      the GPU's 4096^2 matmul rate in fp32 and in bf16 (benchmarks/roofline.py)
  KD step     resnet56 -> resnet20, batch 1024 (P1's), crop-flip augmentation, one row per --variant
              (fp32, bf16, bf16+compile), images/s:
                kdlab:     kdlab's own loop parts (setup, Session.batches, Session.train_step), as
                           benchmarks/train_step.py times them
                reference: a plain PyTorch loop written as a careful user writes one for a GPU: uint8
                           images on the GPU, a permutation drawn there, batched random crop (4-pixel
                           zero padding) and flip there, channels_last, autocast in bf16 rows. The +compile
                           rows are compared with the eager reference unless --compile-reference.
  cached      the same step without augmentation; kdlab computes the teacher's logits once
              (Session.teacher_logits) and looks them up, and so does the reference
  NTK         resnet20 on n = 2,000 inputs (P2's scale), traced over 10 logits: kdlab's
              empirical_ntk(method="auto") against the naive loop of benchmarks/ntk.py (run when its
              Jacobians fit the free GPU memory); seconds and peak GPU memory
  text        a roberta-base-shaped KD step (12 x 768, random weights), batch 64 at length 128, fp32
              and bf16, against the plain Hugging Face loop of benchmarks/text_step.py (its teacher runs
              every step); sequences/s. kdlab with the teacher every step (like for like), and as it
              trains text by default: without augmentation, the teacher's logits computed once
  projection  one 450-epoch CIFAR-100 run (50,000 images x 450 epochs) at the bf16 KD-step rate
              and at the best KD-step row, against the goal of 15 minutes (25,000 images/s)

kdlab's timed steps run under torch.cuda.set_sync_debug_mode("error"): a step that makes the host
wait for the GPU is an error there. Such a row reads "synchronises: <the error> (at <the line that
called it>)"; the places where steps synchronise (torch's "warn" mode over two steps) are listed
under the table and in the JSON, and the rate is then timed again without the check. Warm-up and
compilation happen before the check. A row that fails otherwise reads "failed: ..." and the rest go on.

Model work is PyTorch's FLOP counter over one real eager step (the same for every precision and
for the reference). The fraction is of the matmul rate of the row's precision. cuDNN runs fp32
convolutions in TF32 by default, so fp32 convolution rows can pass the fp32 matmul rate.
`--dry-run` runs every path on the CPU at tiny sizes in seconds (its numbers mean nothing; the sync
check is CUDA-only, so there only the code around it runs; torch.compile uses the "eager" backend).
Run: bash benchmarks/gpu.sh [--json FILE] [--dry-run] [--variants fp32 bf16 bf16+compile]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
import warnings
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

import kdlab
import ntk
import text_step
from roofline import gemm_rate
from train_step import (MEAN, STD, ReferenceKD, kd_session, random_images, step_flops, synchronize, time_session,
                        time_steps)

HERE = Path(__file__).resolve().parent
KDLAB = str(Path(kdlab.__file__).resolve().parent)
DTYPES = {"fp32": None, "bf16": torch.bfloat16}
SYNC_ERROR = "called a synchronizing CUDA operation"  # torch's text, in "error" and "warn" mode alike
EPOCH_IMAGES, EPOCHS, GOAL_MINUTES = 50_000, 450, 15

TEXT_DATA = {"name": "text-synthetic", "task": "nli", "train_samples": 2048, "test_samples": 64, "min_words": 64,
             "max_words": 96, "max_length": 128}  # every pair is longer than 128 tokens: all sequences are 128
PAPER = {"batch": 1024, "steps": 30, "warmup": 5, "ntk_n": 2000, "gemm_size": 4096, "gemm_inner": 10,
         "text_model": "roberta-base", "text_options": {"pretrained": False}, "text_batch": 64, "text_steps": 20,
         "text_warmup": 5, "text_data": TEXT_DATA}
DRY = {"batch": 8, "steps": 2, "warmup": 1, "ntk_n": 16, "gemm_size": 256, "gemm_inner": 1,
       "text_model": "roberta", "text_options": {"layers": 2, "hidden": 64, "heads": 2, "ffn": 128, "vocab_size": 2048},
       "text_batch": 8, "text_steps": 2, "text_warmup": 1,
       "text_data": {**TEXT_DATA, "train_samples": 64, "test_samples": 8, "min_words": 12, "max_words": 16,
                     "max_length": 16}}


# --- the host-sync check ---------------------------------------------------------------------------

@contextmanager
def sync_debug(device: torch.device, mode: str):
    """torch.cuda.set_sync_debug_mode(mode) inside, "default" after. The mode is CUDA's own: on a
    CPU nothing is set (and nothing there synchronises with a device)."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_sync_debug_mode(mode)
    try:
        yield
    finally:
        if cuda:
            torch.cuda.set_sync_debug_mode("default")


def _short(frame: traceback.FrameSummary) -> str:
    path = frame.filename.replace("\\", "/")
    for marker in ("/site-packages/", "/src/", "/benchmarks/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{frame.lineno} {frame.name}"


def where(frames: list[traceback.FrameSummary]) -> str:
    """The line that called the operation, and the innermost kdlab line above it when that is another."""
    frames = [f for f in frames if not f.filename.endswith(("warnings.py", "contextlib.py"))
              and Path(f.filename).resolve() != Path(__file__).resolve()]
    if not frames:
        return "?"
    inner = frames[-1]
    ours = next((f for f in reversed(frames) if str(Path(f.filename).resolve()).startswith(KDLAB)), None)
    return _short(inner) + (f" via {_short(ours)}" if ours is not None and ours is not inner else "")


class SyncSites:
    """A check (for time_steps) that records where the steps inside synchronise: torch's "warn" mode,
    each warning's Python stack."""

    def __init__(self, device: torch.device):
        self.device, self.sites = device, {}

    @contextmanager
    def __call__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            show = warnings.showwarning

            def record(message, category, filename, lineno, file=None, line=None):
                if SYNC_ERROR not in str(message):
                    return show(message, category, filename, lineno, file, line)
                site = where(traceback.extract_stack()[:-1])
                self.sites[site] = self.sites.get(site, 0) + 1

            warnings.showwarning = record
            with sync_debug(self.device, "warn"):
                yield


def strictly(timed, device: torch.device) -> dict:
    """The rate timed(check=...) gives with host syncs as errors. Where a step synchronises: the
    status says where, `sync_sites` lists every place two steps synchronise, and the rate is timed
    again without the check."""
    try:
        return {"value": timed(check=partial(sync_debug, device, "error")), "status": "ok"}
    except RuntimeError as e:
        if SYNC_ERROR not in str(e):
            raise
        status = f"synchronises: {str(e).strip().splitlines()[0]} (at {where(traceback.extract_tb(e.__traceback__))})"
    census = SyncSites(device)
    timed(steps=2, warmup=0, check=census)
    return {"value": timed(check=nullcontext), "status": status,
            "sync_sites": [f"{site} (x{n})" for site, n in census.sites.items()],
            "note": "rate timed again without the check"}


# --- the plain PyTorch input pipeline on the GPU -------------------------------------------------------

def shifted_crops(images: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Each uint8 image of a batch cropped at its own offset in its zero-padded copy and flipped with
    probability 1/2, by one gather (the flip reverses the columns read), all drawn on the device."""
    n, c, h, w = images.shape
    dev = images.device
    padded = F.pad(images, (padding,) * 4)
    top, left = torch.randint(0, 2 * padding + 1, (2, n, 1, 1), device=dev)
    cols = left + torch.arange(w, device=dev).view(1, 1, w)
    cols = torch.where(torch.rand(n, 1, 1, device=dev) < 0.5, cols.flip(2), cols)
    rows = top + torch.arange(h, device=dev).view(1, h, 1)
    return padded[torch.arange(n, device=dev).view(n, 1, 1, 1), torch.arange(c, device=dev).view(1, c, 1, 1),
                  rows.unsqueeze(1), cols.unsqueeze(1)]


class PlainData:
    """uint8 images kept on the device; each epoch a permutation drawn there, batches cropped and
    flipped there (when `augment`), scaled, normalised and made channels_last."""

    def __init__(self, x: torch.Tensor, batch: int, device: torch.device, augment: bool):
        self.x, self.batch, self.augment = x.to(device), batch, augment
        self.mean, self.std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in (MEAN, STD))

    def prepare(self, images):
        return ((images.float() / 255 - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def batches(self, epoch):
        """(inputs, sample ids) of the epoch's full batches."""
        order = torch.randperm(len(self.x), device=self.x.device)
        for idx in order[: len(order) // self.batch * self.batch].view(-1, self.batch):
            images = self.x[idx]
            yield self.prepare(shifted_crops(images) if self.augment else images), idx

    def in_order(self):
        for i in range(0, len(self.x), self.batch):
            yield self.prepare(self.x[i : i + self.batch])


# --- rows ----------------------------------------------------------------------------------------------

class Skipped(Exception):
    """A row not run here, and why."""


def precision_of(variant: str) -> tuple[str, bool]:
    precision, _, rest = variant.partition("+")
    if precision not in DTYPES or rest not in ("", "compile"):
        raise SystemExit(f"gpu.py: error: variant {variant!r}: use fp32 or bf16, optionally +compile")
    return precision, rest == "compile"


class Bench:
    def __init__(self, device: torch.device, size: dict, variants: list[str], compile_reference: bool,
                 ntk_reference: bool):
        self.device, self.size, self.variants = device, size, variants
        self.compile_reference, self.ntk_reference = compile_reference, ntk_reference
        self.rows: list[dict] = []
        self.gemm: dict[str, float] = {}

    def add(self, row_id: str, section: str, label: str, measure) -> dict:
        """Run one row; an error becomes its status, and the next row runs."""
        row = {"id": row_id, "section": section, "label": label, "status": "ok", "value": None, "unit": ""}
        t0 = time.perf_counter()
        try:
            row.update(measure())
        except Skipped as e:
            row["status"] = f"skipped: {e}"
        except Exception as e:  # noqa: BLE001 - a row that fails is a result; the others still run
            first = (str(e).strip().splitlines() or [""])[0][:300]
            row["status"] = f"failed: {type(e).__name__}: {first} (at {where(traceback.extract_tb(e.__traceback__))})"
        row["wall_s"] = round(time.perf_counter() - t0, 2)
        if self.device.type == "cuda":  # the row's memory back before the next (on a CPU a collection only costs time)
            gc.collect()
            torch.cuda.empty_cache()
        self.rows.append(row)
        print(f"  {label}: {row['status']}" + (f", {row['value']:,.1f} {row.get('unit', '')}" if row["value"] else "")
              + f" [{row['wall_s']} s]", file=sys.stderr, flush=True)
        return row

    # matmul rates
    def matmul(self):
        s = self.size
        for p in DTYPES:
            dtype = DTYPES[p] or torch.float32
            row = self.add(f"matmul/{p}", "matmul", f"matmul {s['gemm_size']}^2 {p}", lambda: {
                "value": gemm_rate(s["gemm_size"], device=self.device.type, dtype=dtype, inner=s["gemm_inner"]) / 1e12,
                "unit": "TFLOP/s"})
            self.gemm[p] = (row["value"] or float("nan")) * 1e12

    # KD steps
    def kd(self):
        s = self.size
        x, y = random_images(s["steps"] + s["warmup"], s["batch"])
        for kind, augment, variants in (("kd", True, self.variants),
                                        ("cached", False, [v for v in self.variants if "+" not in v])):
            section = ("KD step, resnet56 -> resnet20, crop-flip" if augment else
                       "KD step, no augmentation, teacher logits cached")
            for v in variants:
                precision, compiled = precision_of(v)
                own = not compiled or self.compile_reference  # else: compared with the eager reference
                reference = f"{kind}/reference/{v if own else precision}"
                if own:
                    self.add(reference, section, f"reference {v}",
                             partial(self.kd_reference, x, precision, compiled, augment))["precision"] = precision
                self.add(f"{kind}/kdlab/{v}", section, f"kdlab {v}" + ("" if own else f" (vs eager {precision})"),
                         partial(self.kd_kdlab, x, y, precision, compiled, augment)).update(
                    reference=reference, precision=precision)

    def kd_reference(self, x, precision, compiled, augment):
        s, dev = self.size, self.device
        kd = ReferenceKD(dev, DTYPES[precision], channels_last=True, compile=compiled)
        data = PlainData(x, s["batch"], dev, augment)
        if augment:
            step = lambda b: kd.step(b[0])  # noqa: E731
        else:  # the teacher's logits once, in sample order, then looked up
            cache = torch.cat([kd.teacher_logits(xb) for xb in data.in_order()])
            step = lambda b: kd.step(b[0], cache[b[1]])  # noqa: E731
        rate = time_steps(data.batches, step, s["batch"], s["steps"], s["warmup"], dev)
        return {"value": rate, "unit": "img/s"}

    def kd_kdlab(self, x, y, precision, compiled, augment):
        s, dev = self.size, self.device
        session = kd_session(x, y, s["batch"], dev, precision, compiled, "every step" if augment else "cached", augment)
        if not augment and not session.cache_teacher:
            raise RuntimeError("kdlab did not cache the teacher's logits without augmentation")
        row = strictly(partial(time_session, session, s["batch"], steps=s["steps"], warmup=s["warmup"], device=dev),
                       dev)
        if not compiled:  # the FLOP counter over a compiled step counts nothing useful; it is the eager step's work
            row["flops"] = step_flops(session)
        return {**row, "unit": "img/s"}

    # the NTK
    def ntk(self):
        n, section = self.size["ntk_n"], f"NTK, resnet20, n = {self.size['ntk_n']}, traced over 10 logits"
        contraction, jacobians = ntk.work(n)
        rows = [self.add("ntk/kdlab", section, "kdlab empirical_ntk (method auto)", partial(self.ntk_one, ntk.ours, n))]
        if self.ntk_reference:
            rows.append(self.add("ntk/reference", section, "reference: per-sample autograd loop, J J^T",
                                 partial(self.ntk_one, ntk.naive, n, check_memory=True)))
            rows[0]["reference"] = "ntk/reference"
        thetas = [r.pop("theta", None) for r in rows]
        if len(thetas) == 2 and None not in thetas:  # as benchmarks/ntk.py: relative to the largest entry
            rows[0]["difference"] = float((thetas[0] - thetas[1]).abs().max() / thetas[1].abs().max())
        for r in rows:
            r["flops"] = contraction + jacobians

    def ntk_one(self, fn, n, check_memory=False):
        model, x = ntk.setup(n)
        model, x = model.to(self.device), x.to(self.device)
        cuda = self.device.type == "cuda"
        if check_memory and cuda:  # the naive loop holds every Jacobian row three times over, once in float64
            need = 4 * 4 * n * 10 * sum(p.numel() for p in model.parameters())
            free = torch.cuda.mem_get_info()[0]
            if need > 0.9 * free:
                raise Skipped(f"its Jacobians need ~{need / 2**30:.0f} GiB, {free / 2**30:.0f} GiB are free")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        synchronize(self.device)
        t0 = time.perf_counter()
        theta = fn(model, x)
        synchronize(self.device)
        seconds = time.perf_counter() - t0
        return {"value": seconds, "unit": "s", "precision": "fp32", "theta": theta.double().cpu(),
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}

    # the text KD step
    def text(self):
        s = self.size
        section = f"text KD step, {s['text_model']} shape, batch {s['text_batch']}, length {s['text_data']['max_length']}"
        for precision in dict.fromkeys(precision_of(v)[0] for v in self.variants):
            ref = f"text/reference/{precision}"
            self.add(ref, section, f"reference {precision} (HF DataLoader + padding collator)",
                     partial(self.text_reference, precision))["precision"] = precision
            for key, teacher in (("kdlab", "every step"), ("kdlab-cached", "cached")):
                self.add(f"text/{key}/{precision}", section, f"kdlab {precision}, teacher {teacher}",
                         partial(self.text_kdlab, precision, teacher)).update(reference=ref, precision=precision)

    def text_reference(self, precision):
        s = self.size
        rate = text_step.bench_reference(s["text_model"], s["text_batch"], s["text_steps"], s["text_warmup"],
                                         self.device, DTYPES[precision], s["text_data"], s["text_options"])
        return {"value": rate, "unit": "seq/s"}

    def text_kdlab(self, precision, teacher):
        s = self.size
        session = text_step.text_session(s["text_model"], s["text_batch"], self.device, precision, s["text_data"],
                                         s["text_options"], teacher)
        if session.cache_teacher != (teacher == "cached"):
            raise RuntimeError(f"kdlab {'did not cache' if teacher == 'cached' else 'cached'} the teacher's logits")
        row = strictly(partial(time_session, session, s["text_batch"], steps=s["text_steps"], warmup=s["text_warmup"],
                               device=self.device), self.device)
        return {**row, "flops": step_flops(session), "unit": "seq/s"}

    # derived columns and the projection
    def finish(self):
        by_id = {r["id"]: r for r in self.rows}
        for r in self.rows:
            kind = r["id"].split("/")[0]
            if r.get("flops") is None and kind in ("kd", "cached", "text"):  # the same work as the eager kdlab step
                r["flops"] = next((o["flops"] for o in self.rows if o["id"].startswith(f"{kind}/kdlab/")
                                   and o.get("flops")), None)
            ref = by_id.get(r.get("reference", ""))
            if r["value"] and ref is not None and ref["value"]:
                r["vs_reference"] = ref["value"] / r["value"] if r["unit"] == "s" else r["value"] / ref["value"]
            if r["value"] and r.get("flops") and r.get("precision"):
                per_second = r["flops"] / r["value"] if r["unit"] == "s" else r["flops"] * r["value"] / self._batch(kind)
                r["achieved_tflops"] = per_second / 1e12
                r["gemm_fraction"] = per_second / self.gemm[r["precision"]]
        self.projection()

    def _batch(self, kind):
        return self.size["text_batch"] if kind == "text" else self.size["batch"]

    def projection(self):
        images = EPOCH_IMAGES * EPOCHS
        goal_rate = images / (GOAL_MINUTES * 60)
        kd = [r for r in self.rows if r["id"].startswith("kd/kdlab/") and r["value"]]
        bf16 = next((r for r in kd if r["id"] == "kd/kdlab/bf16"), None)
        best = max(kd, key=lambda r: r["value"], default=None)
        for key, label, r in (("bf16", "at the bf16 KD-step rate", bf16),
                              ("best", f"at the best KD-step row ({best['label'] if best else 'none'})", best)):
            row = {"id": f"projection/{key}", "section": f"one CIFAR-100 run: {EPOCH_IMAGES:,} images x {EPOCHS} epochs",
                   "label": label, "value": None, "unit": "min", "images": images, "goal_minutes": GOAL_MINUTES,
                   "goal_rate": goal_rate}
            if r is None:
                row["status"] = "no rate: the KD-step row has none"
            else:
                seconds = images / r["value"]
                row.update(status="ok" if r["status"] == "ok" else "from a rate timed with host syncs",
                           value=seconds / 60, seconds=seconds, rate=r["value"], rate_from=r["id"],
                           meets_goal=r["value"] >= goal_rate,
                           vs_goal=f"{'meets' if r['value'] >= goal_rate else 'misses'} {GOAL_MINUTES} min "
                                   f"({r['value'] / goal_rate:.2f}x the {goal_rate:,.0f} img/s it needs)")
            self.rows.append(row)


# --- output --------------------------------------------------------------------------------------------

def _num(v, fmt):
    return format(v, fmt) if isinstance(v, (int, float)) and v == v else ""


def table(bench: Bench, title: str) -> Table:
    t = Table(title=title)
    for c in ("row", "status", "value", "vs reference", "GFLOP/step", "TFLOP/s", "of matmul rate", "peak GiB"):
        t.add_column(c, justify="left" if c in ("row", "status") else "right", overflow="fold")
    section = None
    for r in bench.rows:
        if r["section"] != section:
            section = r["section"]
            t.add_row(f"[bold]{section}[/bold]", *[""] * 7)
        value = f"{_num(r['value'], ',.2f' if r['unit'] in ('s', 'TFLOP/s') else ',.1f')} {r['unit']}" if r["value"] else ""
        vs = r.get("vs_goal") or (f"{r['vs_reference']:.2f}x" if "vs_reference" in r else "")
        gflop = _num((r.get("flops") or 0) / 1e9 if r.get("flops") else None, ",.1f")
        frac = (f"{r['gemm_fraction']:.2f} of {r['precision']}" if "gemm_fraction" in r else "")
        t.add_row(f"  {r['label']}", r["status"], value, vs, gflop, _num(r.get("achieved_tflops"), ".2f"), frac,
                  _num(r.get("peak_gib"), ".2f"))
    return t


def jsonable(v):
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, float) and v != v:
        return None
    return v


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, default=HERE / "gpu_results.json", help="where the table goes as JSON")
    p.add_argument("--dry-run", action="store_true", help="every path on the CPU at tiny sizes (numbers meaningless)")
    p.add_argument("--device", help="default: cuda (cpu with --dry-run)")
    p.add_argument("--variants", nargs="+", default=["fp32", "bf16", "bf16+compile"])
    p.add_argument("--compile-reference", action="store_true",
                   help="compile the reference for +compile rows too (one more compilation, minutes)")
    p.add_argument("--no-ntk-reference", dest="ntk_reference", action="store_false",
                   help="skip the naive NTK loop (n = 2,000: ~87 GB of Jacobians)")
    p.add_argument("--compile-backend", help="torch.compile's backend (default inductor; eager with --dry-run)")
    for key in ("batch", "steps", "warmup", "ntk_n"):
        p.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"default {PAPER[key]} ({DRY[key]} with --dry-run)")
    args = p.parse_args(argv)
    size = dict(DRY if args.dry_run else PAPER)
    size.update({k: getattr(args, k) for k in ("batch", "steps", "warmup", "ntk_n") if getattr(args, k) is not None})
    device = torch.device(args.device or ("cpu" if args.dry_run else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("no CUDA device here; --dry-run runs every path on the CPU")
    for v in args.variants:
        precision_of(v)
    backend = args.compile_backend or ("eager" if args.dry_run else None)
    if backend is not None:  # kdlab's loop and the reference call torch.compile(module): give it this backend
        torch.compile = partial(torch.compile, backend=backend)

    if args.dry_run:  # paths, not speed: one thread keeps it quick on a busy machine
        torch.set_num_threads(1)
    started = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"benchmarks/gpu.py on {name}{' (dry run: numbers meaningless)' if args.dry_run else ''}", file=sys.stderr)
    bench = Bench(device, size, args.variants, args.compile_reference, args.ntk_reference)
    bench.matmul()
    bench.ntk()
    bench.kd()
    bench.text()
    bench.finish()
    elapsed = time.perf_counter() - started

    title = (f"Paper scale on one device: {name}, torch {torch.__version__}, batch {size['batch']}"
             + (" - DRY RUN, numbers meaningless" if args.dry_run else ""))
    Console(width=220).print(table(bench, title))
    for r in bench.rows:
        if r.get("sync_sites"):
            print(f"{r['id']} synchronises at: " + "; ".join(r["sync_sites"]))
        if "difference" in r:
            print(f"{r['id']}: largest difference from the reference kernel, relative to its largest entry: "
                  f"{r['difference']:.2e}")
    print(f"matmul rates this run: fp32 {bench.gemm['fp32'] / 1e12:.2f}, bf16 {bench.gemm['bf16'] / 1e12:.2f} TFLOP/s. "
          f"Elapsed {elapsed:.0f} s. JSON: {args.json}")
    result = {"device": name, "torch": torch.__version__, "dry_run": args.dry_run, "size": size,
              "variants": args.variants, "compile_backend": backend or "inductor", "gemm_flops": bench.gemm,
              "elapsed_s": elapsed, "rows": bench.rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(jsonable(result), indent=1) + "\n")
    failed = [r["id"] for r in bench.rows if r["status"].startswith("failed")]
    return 1 if args.dry_run and failed else 0  # on a CPU every path must work; on a GPU a failure is a result


if __name__ == "__main__":
    sys.exit(main())
