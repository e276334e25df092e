"""Throughput of our text KD step against a plain Hugging Face loop, measured in the same run.

Both train a RoBERTa student from a RoBERTa teacher of the same preset (random weights; pure KD at
T = 2, AdamW), batch 64, fp32, on generated text (kdlab.data.text_synthetic, MNLI-shaped pairs).
  ours:      kdlab's loop parts (kdlab.train.loop.setup, Session.batches, Session.train_step): token
             ids kept as one padded tensor on the device, each batch cut to its longest sequence
  reference: the same token ids as per-sample lists behind a DataLoader with transformers'
             DataCollatorWithPadding (pads each batch to its longest), moved to the device each step
Prints sequences/second of each and their ratio. `--model roberta-base` needs a GPU to be quick.
Run: .venv/bin/python benchmarks/text_step.py [--model roberta-tiny] [--steps 30]
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from kdlab.config import Given, resolve
from kdlab.data import load_dataset
from kdlab.models import build_model
from kdlab.train.loop import setup
from train_step import time_session, time_steps  # the same timing loop (benchmarks/ is on the path when run)

DATA = {"name": "text-synthetic", "task": "nli", "train_samples": 4096, "test_samples": 64, "min_words": 8,
        "max_words": 48}
OPTIONS = {"pretrained": False, "vocab_size": 2048}  # the models' options (random weights)


def make_models(name, num_classes, input_shape, device, options=None):
    torch.manual_seed(0)
    options = OPTIONS if options is None else options
    return (build_model(name, num_classes, input_shape, options).to(device),
            build_model(name, num_classes, input_shape, options).to(device))


def _load(data):
    return load_dataset(data["name"], options={k: v for k, v in data.items() if k != "name"})


def text_session(name, batch, device, precision="fp32", data=DATA, options=None, teacher="cached"):
    """kdlab's own loop parts (kdlab.train.loop.setup) for the text KD step: `data` (a data config),
    student and teacher of model `name` with `options` (default OPTIONS) given. teacher: "cached"
    (kdlab's way without augmentation: its logits computed once, Session.teacher_logits) or "every step"."""
    ds = _load(data)
    student, teacher_model = make_models(name, ds.num_classes, ds.input_shape, device, options)
    teacher_model.deterministic = teacher != "every step"  # False: no cached logits, the teacher runs every step
    given = Given(model=student, teacher=teacher_model)
    cfg = resolve({"data": data, "train": {"batch_size": batch, "optimizer": "adamw", "lr": 1e-5, "device": device.type,
                                           "precision": precision},
                   "loss": {"terms": {"kd": {"weight": 1.0, "temperature": 2.0}}}}, given=given)
    return setup(cfg, given)


def bench_ours(name, batch, steps, warmup, device) -> float:
    return time_session(text_session(name, batch, device), batch, steps, warmup, device)


class TokenLists(torch.utils.data.Dataset):
    def __init__(self, ids, mask, label):
        lengths = mask.sum(1).tolist()
        self.rows = [{"input_ids": ids[i, :n].tolist(), "labels": int(label[i])} for i, n in enumerate(lengths)]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def bench_reference(name, batch, steps, warmup, device, autocast: torch.dtype | None = None, data=DATA,
                    options=None) -> float:
    """The plain Hugging Face loop; `autocast`: the dtype its forward passes autocast to (None: fp32)."""
    from transformers import DataCollatorWithPadding

    from kdlab.data.text import train_tokenizer

    ds = _load(data)
    student, teacher = make_models(name, ds.num_classes, ds.input_shape, device, options)
    teacher.eval()
    precision = (lambda: torch.autocast(device.type, dtype=autocast)) if autocast is not None else nullcontext
    tok = train_tokenizer(["a b"], 300)  # the collator needs only its pad token (<pad> = 1, as the data's)
    loader = torch.utils.data.DataLoader(TokenLists(ds.train.inputs, ds.train.fields["attention_mask"], ds.train.label),
                                         batch_size=batch, shuffle=True, drop_last=True,
                                         collate_fn=DataCollatorWithPadding(tok))
    opt = torch.optim.AdamW(student.parameters(), lr=1e-5)

    def step(b):
        b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
        with precision():
            with torch.no_grad():
                t_logits = teacher(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            s_logits = student(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            loss = F.kl_div(F.log_softmax(s_logits / 2, 1), F.softmax(t_logits / 2, 1), reduction="batchmean") * 4
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return time_steps(lambda epoch: loader, step, batch, steps, warmup, device)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="roberta-tiny")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2, help="alternate ours/reference this many times")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    ours, ref = [], []
    for _ in range(args.repeats):  # alternated, so drift in the machine's speed hits both alike
        ours.append(bench_ours(args.model, args.batch, args.steps, args.warmup, device))
        ref.append(bench_reference(args.model, args.batch, args.steps, args.warmup, device))
    table = Table(title=f"text KD step, {args.model} -> {args.model}, batch {args.batch}, {device.type}, "
                        f"{torch.get_num_threads()} threads")
    for col in ("", "sequences/s (best)", "all runs"):
        table.add_column(col)
    table.add_row("kdlab", f"{max(ours):.0f}", " ".join(f"{v:.0f}" for v in ours))
    table.add_row("HF DataLoader + padding collator", f"{max(ref):.0f}", " ".join(f"{v:.0f}" for v in ref))
    table.add_row("ratio", f"{max(ours) / max(ref):.2f}x", "")
    Console().print(table)


if __name__ == "__main__":
    main()
