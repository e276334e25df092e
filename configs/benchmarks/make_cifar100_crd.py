"""Writes the CRD/DKD CIFAR-100 benchmark plans of this folder (run it from the repository root):

    .venv/bin/python configs/benchmarks/make_cifar100_crd.py              # both plans, one student seed
    .venv/bin/python configs/benchmarks/make_cifar100_crd.py --seeds 1 2 3  # ... three seeds per student

- cifar100_crd.yaml: every pair of the CRD/DKD tables x every method, at paper scale.
- cifar100_crd_cpu.yaml: the subset that runs on a CPU (resnet56 -> resnet20, every method), at a
  cpu scale (digits) and at paper scale (whose runs are the full plan's runs of that pair, under the
  same names and with the same configs, so either plan reuses what the other trained).

The plans are files in their own right; this script only keeps their ~190 runs consistent. The
choices that need the models (the FitNet layer of matching size, where KD-SVD applies) are read from
the registered models at 3x32x32; every other term reads the features its defaults name, which are
the references' (kdlab.losses: e.g. vid and at `@stages[1:]`, ofd `@preact[1:]`, crd `@embedding`).
tests/test_benchmark_plan.py checks that the files equal what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The CRD benchmark's pairs (RepDistiller README, tables 1 and 2), as kdlab model names.
SAME = [("resnet56_v1", "resnet20_v1"), ("resnet110_v1", "resnet32_v1"), ("resnet32x4", "resnet8x4"),
        ("wrn_40_2", "wrn_16_2"), ("wrn_40_2", "wrn_40_1"), ("vgg13", "vgg8")]
CROSS = [("resnet32x4", "shufflenetv1"), ("resnet32x4", "shufflenetv2"), ("wrn_40_2", "shufflenetv1"),
         ("vgg13", "mobilenetv2_half"), ("resnet50_cifar", "mobilenetv2_half"), ("resnet50_cifar", "vgg8")]
PAIRS = SAME + CROSS
SHORT = {"resnet56_v1": "r56", "resnet110_v1": "r110", "resnet32x4": "r32x4", "wrn_40_2": "wrn40_2", "vgg13": "vgg13",
         "resnet50_cifar": "r50", "resnet20_v1": "r20", "resnet32_v1": "r32", "resnet8x4": "r8x4", "wrn_16_2": "wrn16_2",
         "wrn_40_1": "wrn40_1", "vgg8": "vgg8", "shufflenetv1": "shv1", "shufflenetv2": "shv2", "mobilenetv2_half": "mbv2h"}
SMALL_LR = {"mobilenetv2_half", "shufflenetv1", "shufflenetv2"}  # RepDistiller: lr 0.01 for MobileNet/ShuffleNet
# DKD's beta (nckd_weight) per pair, from mdistiller configs/cifar100/dkd/*.yaml (default 8.0; resnet50 ->
# vgg8 has no config there).
DKD_BETA = {("resnet56_v1", "resnet20_v1"): 2.0, ("resnet110_v1", "resnet32_v1"): 2.0, ("wrn_40_2", "wrn_16_2"): 6.0,
            ("wrn_40_2", "wrn_40_1"): 6.0, ("vgg13", "vgg8"): 6.0, ("vgg13", "mobilenetv2_half"): 6.0}
# ReviewKD's loss weight per pair, from its authors' CIFAR-100/script/reviewKD.sh; the pairs it does not
# list take mdistiller's CIFAR config value, 5.0.
REVIEWKD_WEIGHT = {("resnet56_v1", "resnet20_v1"): 0.6, ("resnet110_v1", "resnet32_v1"): 1.0,
                   ("resnet32x4", "shufflenetv2"): 8.0}
METHODS = ["kd", "fitnet", "at", "sp", "nst", "pkt", "rkd", "kdsvd", "vid", "ofd", "crd", "crd_kd", "reviewkd", "dkd",
           "dist"]
CPU_PAIR = ("resnet56_v1", "resnet20_v1")
RECIPE = {"epochs": 240, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False,
          "weight_decay": 5.0e-4, "warmup_epochs": 0, "decay_epochs": [150, 180, 210], "decay_factor": 0.1,
          "precision": "fp32"}
DATA = {"name": "cifar100", "root": "data/cifar-100-python.tar.gz"}
RECORD = {"predictions_every_epochs": 40, "checkpoint_every_epochs": 40}
# The cpu scale: digits (1 x 8 x 8, 10 classes), all 1,347 training images, 20 epochs at lr 0.01 (the ResNet-56
# teacher's best of 0.05, 0.02, 0.01 without warm-up: 59.8%, 98.2%, 98.4% test), x0.1 after epochs 12, 15, 18 (150, 180, 210 of 240,
# scaled); what must shrink with it (the warm-ups of DKD and ReviewKD, CRD's negatives) is overridden per run.
CPU_SCALE = ["data.name=digits", "data.root=null", "train.epochs=20", "train.lr=0.01", "train.decay_epochs=[12,15,18]",
             "record.predictions_every_epochs=20", "record.checkpoint_every_epochs=20",
             "runs.*_dkd*.loss.terms.dkd.schedule.epochs=2", "runs.*_reviewkd*.loss.terms.reviewkd.schedule.epochs=2",
             "runs.*_crd*.loss.terms.crd.nce_k=256"]


def teacher_name(model: str) -> str:
    return f"crd_t_{SHORT[model]}"


def vanilla_name(model: str) -> str:
    return f"crd_vanilla_{SHORT[model]}"


def student_name(teacher: str, student: str, method: str) -> str:
    return f"crd_{SHORT[teacher]}_{SHORT[student]}_{method}"


# --- what the models say -------------------------------------------------------------------------

class Shapes:
    """Each model's feature paths and their output shapes at 3x32x32 (CIFAR), measured once (the
    model itself is not kept)."""

    def __init__(self):
        self.cache: dict[str, tuple[dict, dict]] = {}

    def __call__(self, name: str):
        if name not in self.cache:
            import torch

            from kdlab.models import build_model

            model = build_model(name, 100, (3, 32, 32)).eval()
            modules = dict(model.named_modules())
            shapes: dict[str, tuple] = {}
            paths = {p for k in ("stages", "preact") for p in model.feature_paths[k]}
            hooks = [modules[p].register_forward_hook(lambda m, i, o, p=p: shapes.__setitem__(p, tuple(o.shape[1:])))
                     for p in paths]
            with torch.no_grad():
                model(torch.zeros(2, 3, 32, 32))
            for h in hooks:
                h.remove()
            self.cache[name] = (model.feature_paths, shapes)
        return self.cache[name]


def hint_layers(shapes: Shapes, teacher: str, student: str) -> tuple[str, str]:
    """FitNet: the student's stage 2 output (RepDistiller's hint_layer 2, its feat[2]) and the teacher's
    stage output of the same spatial size, its stage 2 where that fits. RepDistiller's regressor also
    bridges a factor 2 in size (a strided or transposed convolution); kdlab's hint needs equal sizes,
    so cross-architecture pairs whose stage 2 outputs differ in size take the teacher's deeper stage."""
    s_paths, s_shapes = shapes(student)
    t_paths, t_shapes = shapes(teacher)
    size = s_shapes[s_paths["stages"][2]][1:]
    fits = [i for i, p in enumerate(t_paths["stages"]) if t_shapes[p][1:] == size]
    if not fits:
        raise SystemExit(f"no teacher stage of {teacher} has the size {size} of {student}'s stage 2")
    return "@stages[2]", f"@stages[{min(fits, key=lambda i: abs(i - 2))}]"


def kdsvd_applies(shapes: Shapes, teacher: str, student: str) -> bool:
    """KD-SVD matches the student's singular vectors to the teacher's in channel space: every stage
    pair needs the same channel count (the same-architecture pairs but wrn_40_2 -> wrn_40_1)."""
    s_paths, s_shapes = shapes(student)
    t_paths, t_shapes = shapes(teacher)
    s, t = s_paths["stages"][1:], t_paths["stages"][1:]
    return len(s) == len(t) and all(s_shapes[a][0] == t_shapes[b][0] for a, b in zip(s, t))


def loss(method: str, teacher: str, student: str, shapes: Shapes) -> dict:
    """The reference code's objective of a method: CE (`onehot`, weight 1) beside the method's term at
    RepDistiller's or mdistiller's weight, reading the features the term's defaults name; KD as
    RepDistiller's -r 0.1 -a 0.9."""
    ce = {"onehot": {"weight": 1.0}}
    if method == "kd":
        return {"onehot": {"weight": 0.1}, "kd": {"weight": 0.9, "temperature": 4.0}}
    if method == "fitnet":
        s, t = hint_layers(shapes, teacher, student)
        return {**ce, "hint": {"weight": 100.0, "student": s, "teacher": t}}
    if method in ("at", "sp", "nst", "pkt", "rkd", "kdsvd", "vid", "ofd"):  # their defaults read the references' features
        weight = {"at": 1000.0, "sp": 3000.0, "nst": 50.0, "pkt": 30000.0, "ofd": 0.001}.get(method, 1.0)
        return {**ce, method: {"weight": weight}}
    if method == "crd":
        return {**ce, "crd": {"weight": 0.8}}
    if method == "crd_kd":  # RepDistiller README's "CRD+KD": -a 1 -b 0.8
        return {**ce, "kd": {"weight": 1.0, "temperature": 4.0}, "crd": {"weight": 0.8}}
    if method == "reviewkd":
        return {**ce, "reviewkd": {"weight": REVIEWKD_WEIGHT.get((teacher, student), 5.0),
                                   "schedule": {"kind": "ramp", "epochs": 20}}}
    if method == "dkd":
        return {**ce, "dkd": {"weight": 1.0, "temperature": 4.0, "tckd_weight": 1.0,
                              "nckd_weight": DKD_BETA.get((teacher, student), 8.0),
                              "schedule": {"kind": "ramp", "epochs": 20}}}
    if method == "dist":
        return {**ce, "dist": {"weight": 1.0, "beta": 2.0, "gamma": 2.0, "tau": 4.0}}
    raise ValueError(method)


# --- YAML ----------------------------------------------------------------------------------------

def flow(value) -> str:
    """A value as YAML flow text (strings quoted where YAML would read them otherwise)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.1e}" if 0 < abs(value) < 1e-3 else repr(value)
    if isinstance(value, str) and (value[:1] in "@*&!|>'\"%`{[" or ":" in value or "#" in value):
        return '"' + value + '"'
    return str(value)


def student_run(model: str, seeds: list[int], teacher: str | None = None, terms: dict | None = None) -> str:
    parts = ["<<: *teacher", f"seeds: {flow(seeds)}", f"model: {flow({'name': model})}"]
    if model in SMALL_LR:
        parts.append("train: {<<: *recipe, lr: 0.01}")
    if teacher is not None:
        parts += [f"teacher: {flow({'run': teacher_name(teacher)})}", f"loss: {flow({'terms': terms})}"]
    return "{" + ", ".join(parts) + "}"


def plan(pairs: list[tuple[str, str]], seeds: list[int], header: str, scales: dict[str, list[str]],
         report: dict, kd_seeds: list[int] | None = None) -> str:
    shapes = Shapes()
    teachers = list(dict.fromkeys(t for t, _ in pairs))
    students = list(dict.fromkeys(s for _, s in pairs))
    lines = [header.rstrip(), "scales:"]
    lines += [f"  {k}: {flow(v)}" if len(flow(v)) < 90 else f"  {k}:\n" + "".join(f"    - {flow(o)}\n" for o in v).rstrip()
              for k, v in scales.items()]
    lines += ["reports:", f"  - {flow(report)}", "runs:",
              "  # Teachers (seed 0), one run per architecture, shared by every pair it teaches."]
    first, *rest = teachers
    lines += [f"  {teacher_name(first)}: &teacher", "    seed: 0", f"    data: {flow(DATA)}",
              f"    model: {flow({'name': first})}", "    loss: {terms: {onehot: {weight: 1.0}}}",
              f"    train: &recipe {flow(RECIPE)}", f"    record: {flow(RECORD)}"]
    lines += [f"  {teacher_name(t)}: {{<<: *teacher, model: {flow({'name': t})}}}" for t in rest]
    lines.append("  # Students trained alone (vanilla: one-hot labels), one per student architecture.")
    lines += [f"  {vanilla_name(s)}: {student_run(s, kd_seeds or seeds)}" for s in students]
    for t, s in pairs:
        methods = [m for m in METHODS if m != "kdsvd" or kdsvd_applies(shapes, t, s)]
        skipped = "" if "kdsvd" in methods else "; no kdsvd: stage channel counts differ"
        lines.append(f"  # {t} -> {s}: DKD beta {DKD_BETA.get((t, s), 8.0):g}, ReviewKD weight "
                     f"{REVIEWKD_WEIGHT.get((t, s), 5.0):g}{', lr 0.01' if s in SMALL_LR else ''}{skipped}")
        lines += [f"  {student_name(t, s, m)}: {student_run(s, kd_seeds if m == 'kd' and kd_seeds else seeds, t, loss(m, t, s, shapes))}"
                  for m in methods]
    return "\n".join(lines) + "\n"


FULL_HEADER = """\
# The CRD benchmark on CIFAR-100 (Tian et al., ICLR 2020, RepDistiller; with DKD, Zhao et al., CVPR 2022,
# mdistiller): 12 teacher -> student pairs x every method, at paper scale. Written by
# configs/benchmarks/make_cifar100_crd.py (edit that, then run it); tests/test_benchmark_plan.py checks it.
#
#   kdlab reproduce configs/benchmarks/cifar100_crd.yaml --scale paper data.root=/path/to/cifar-100-python.tar.gz
#   kdlab report runs --name methods [complexity=true]     # also made by the plan: runs/reports/methods/
#
# This plan has only the paper scale (a plan's scale cannot leave runs out): its CPU subset is
# configs/benchmarks/cifar100_crd_cpu.yaml (resnet56 -> resnet20, every method, on digits).
#
# Recipe (RepDistiller train_student.py, mdistiller configs/cifar100): 240 epochs, batch 64, SGD
# momentum 0.9 (not Nesterov), weight decay 5e-4, lr 0.05 (0.01 for MobileNetV2/ShuffleNet students),
# x0.1 at epochs 150, 180, 210, no warm-up, fp32; crop-and-flip augmentation (the data's `auto`).
# Teachers train with the same recipe (RepDistiller train_teacher.py), seed 0; students seed 1 (one
# seed; regenerate with --seeds 1 2 3 for three). Predictions and checkpoints every 40 epochs.
#
# Models: RepDistiller's ResNets are the `_v1` models; MobileNetV2 is `mobilenetv2_half`, ShuffleV1/V2
# `shufflenetv1`/`shufflenetv2`, ResNet50 `resnet50_cifar`.
#
# Methods and weights, each beside cross-entropy (`onehot`, weight 1) as the references run them (no KD
# term unless named):
#   vanilla   the student alone: onehot only (crd_vanilla_<student>, shared by the pairs of that student)
#   kd        0.1 onehot + 0.9 kd (T = 4)                     RepDistiller -r 0.1 -a 0.9
#   fitnet    hint, weight 100: the student's stage 2 output against the teacher's of the same size
#             (stage 2; a deeper one where a cross-architecture student's stage 2 is smaller)
#   at        at, 1000 (every stage output but the stem)    sp     sp, 3000 (the last stage output)
#   nst       nst, 50                                        pkt    pkt, 30000 (the embedding)
#   rkd       rkd, 1 (distance 25, angle 50)                 vid    vid, 1 (every stage but the stem)
#   kdsvd     kdsvd, 1 (mdistiller; k = 1), only where every stage pair has equal channel counts
#   ofd       ofd, 0.001 (mdistiller), pre-ReLU features of every stage but the stem
#   crd       crd, 0.8 (feat_dim 128, 16,384 negatives from other classes, nce_t 0.07, momentum 0.5)
#   crd_kd    crd, 0.8 + kd, 1 (T = 4): RepDistiller's "CRD+KD" (-a 1 -b 0.8)
#   reviewkd  reviewkd, 0.6 / 1 / 5 / 8 per pair (the authors' script; 5, mdistiller's, where it has none),
#             ramped in over 20 epochs (student: stages but the stem + embedding; teacher: pre-ReLU ones)
#   dkd       dkd, 1 (T = 4, alpha 1, beta 2 / 6 / 8 per pair from mdistiller's configs), ramped in over 20 epochs
#   dist      dist, 1 (beta 2, gamma 2, tau 4: the DIST authors' CIFAR setting as we know it; not in the
#             references mirrored here)
# Published accuracies: src/kdlab/reports/published_cifar100.yaml, shown by the `methods` report.
"""

CPU_HEADER = """\
# The CPU subset of configs/benchmarks/cifar100_crd.yaml: the pair resnet56 -> resnet20 (resnet56_v1 ->
# resnet20_v1) with every method: 19 runs (the teacher, the vanilla student and KD with 2 seeds each, the
# 14 other methods with one). Written by configs/benchmarks/make_cifar100_crd.py; tests/test_benchmark_plan.py
# checks it.
#
#   kdlab reproduce configs/benchmarks/cifar100_crd_cpu.yaml --scale cpu --jobs 2   # digits, 20 epochs
#   kdlab reproduce configs/benchmarks/cifar100_crd_cpu.yaml --scale paper data.root=/path/to/cifar-100-python.tar.gz
#
# At paper scale its runs are the full plan's runs of this pair (same names, same configs; KD and
# the vanilla student add a second seed). At cpu scale: scikit-learn's 8x8 digits (1,347 training
# images, 10 classes), 20 epochs at lr 0.01 (x0.1 after epochs 12, 15 and 18: 150, 180, 210 of 240
# scaled), every method's weights as at paper scale. Three things shrink with it: the learning rate
# (the teacher, ResNet-56 without warm-up, at this scale: 59.8% test at lr 0.05, unstable; 98.2% at 0.02;
# 98.4% at 0.01), DKD's and ReviewKD's warm-ups (2 epochs), and CRD's negatives (256: the digits training split
# has 1,347 rows, and 16,384 negatives a sample cost ~1 GB a step). The report adds the CIFAR-100
# published numbers (labelled with their data) and the supervision complexity (n = 256).
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[1], help="the students' seeds (default: 1)")
    p.add_argument("--out", type=Path, default=HERE, help="folder to write the two plans into")
    args = p.parse_args(argv)
    for name, text in texts(args.seeds).items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


def texts(seeds: list[int] = (1,)) -> dict[str, str]:
    seeds = list(seeds)
    full = plan(PAIRS, seeds, FULL_HEADER, {"paper": []}, {"name": "methods"})
    cpu_seeds = sorted({*seeds, max(seeds) + 1}) if len(seeds) < 2 else seeds
    cpu = plan([CPU_PAIR], seeds, CPU_HEADER, {"cpu": CPU_SCALE, "paper": []},
               {"name": "methods", "complexity": True, "n": 256, "published_any_data": True}, kd_seeds=cpu_seeds)
    return {"cifar100_crd.yaml": full, "cifar100_crd_cpu.yaml": cpu}


if __name__ == "__main__":
    sys.exit(main())
