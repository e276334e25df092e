"""configs/benchmarks/: the CRD/DKD CIFAR-100 benchmark as plans. The full plan resolves at paper scale,
its CPU subset at cpu and paper scale; every run names registered models and loss terms; teachers
are shared; the recipe is the papers'; every student's terms shape themselves on its models; the
files are what configs/benchmarks/make_cifar100_crd.py writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from kdlab.distill.objective import Objective
from kdlab.io import read_yaml
from kdlab.losses import LOSS_TERMS, TermSetup
from kdlab.models import MODELS, build_model
from kdlab.plan import resolve_plan

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "configs" / "benchmarks"
FULL, CPU = BENCH / "cifar100_crd.yaml", BENCH / "cifar100_crd_cpu.yaml"

_spec = importlib.util.spec_from_file_location("make_cifar100_crd", BENCH / "make_cifar100_crd.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return {("full", "paper"): resolve_plan(read_yaml(FULL), out, scale="paper"),
            ("cpu", "cpu"): resolve_plan(read_yaml(CPU), out, scale="cpu"),
            ("cpu", "paper"): resolve_plan(read_yaml(CPU), out, scale="paper")}


def students(plan):
    return [c for c in plan.runs if plan.teachers[c.name] is not None]


def test_the_files_are_what_the_generator_writes():
    written = gen.texts()
    assert written["cifar100_crd.yaml"] == FULL.read_text(encoding="utf-8")
    assert written["cifar100_crd_cpu.yaml"] == CPU.read_text(encoding="utf-8")


def test_the_full_plan_at_paper_scale_has_every_pair_and_method_with_shared_teachers(plans):
    plan = plans[("full", "paper")]
    by_name = {c.name: c for c in plan.runs}
    models, terms = set(MODELS.names()), set(LOSS_TERMS.names())
    for c in plan.runs:
        assert c.model.name in models, c.name
        assert all(c.loss.term_type(t) in terms for t in c.loss.terms), c.name
        assert c.data.name == "cifar100" and c.data.train_size is None and c.data.label_noise == 0
    # One teacher run per teacher architecture, shared by all of its pairs
    teacher_runs = {t for t in plan.teachers.values() if t is not None}
    teacher_models = [by_name[t].model.name for t in teacher_runs]
    assert sorted(teacher_models) == sorted({t for t, _ in gen.PAIRS}) and len(teacher_runs) == 6
    # Every pair has every method (KD-SVD where every stage pair has equal channel counts)
    found = {}
    for c in students(plan):
        pair = (by_name[plan.teachers[c.name]].model.name, c.model.name)
        found.setdefault(pair, set()).add(c.name.removeprefix(f"crd_{gen.SHORT[pair[0]]}_{gen.SHORT[pair[1]]}_").removesuffix("_s1"))
    assert set(found) == set(gen.PAIRS) and len(gen.PAIRS) == 12
    for pair, methods in found.items():
        with_svd = pair in gen.SAME and pair != ("wrn_40_2", "wrn_40_1")
        assert methods == set(gen.METHODS) - ({"kdsvd"} if not with_svd else set()), pair
    # One vanilla (one-hot) student per student architecture, without a teacher
    vanilla = [c for c in plan.runs if c.name.startswith("crd_vanilla_")]
    assert sorted(c.model.name for c in vanilla) == sorted({s for _, s in gen.PAIRS})
    assert all(plan.teachers[c.name] is None and list(c.loss.terms) == ["onehot"] for c in vanilla)
    assert len(plan.runs) == 6 + 9 + 12 * 14 + 5


def test_the_recipe_and_the_methods_weights_are_the_references(plans):
    plan = plans[("full", "paper")]
    for c in plan.runs:
        t = c.train
        small = c.model.name in ("mobilenetv2_half", "shufflenetv1", "shufflenetv2")
        assert (t.epochs, t.batch_size, t.optimizer, t.momentum, t.nesterov, t.weight_decay, t.warmup_epochs,
                t.decay_epochs, t.decay_factor) == (240, 64, "sgd", 0.9, False, 5e-4, 0, [150, 180, 210], 0.1), c.name
        assert t.lr == (0.01 if small else 0.05), c.name
    terms = {c.name: c.loss.terms for c in plan.runs}
    kd = terms["crd_r32x4_r8x4_kd_s1"]
    assert (kd["onehot"].weight, kd["kd"].weight, kd["kd"].options["temperature"]) == (0.1, 0.9, 4.0)
    weights = {m: terms[f"crd_r32x4_r8x4_{m}_s1"][t].weight for m, t in
               [("fitnet", "hint"), ("at", "at"), ("sp", "sp"), ("nst", "nst"), ("pkt", "pkt"), ("rkd", "rkd"),
                ("vid", "vid"), ("ofd", "ofd"), ("crd", "crd"), ("reviewkd", "reviewkd"), ("dkd", "dkd")]}
    assert weights == {"fitnet": 100, "at": 1000, "sp": 3000, "nst": 50, "pkt": 30000, "rkd": 1, "vid": 1,
                       "ofd": 0.001, "crd": 0.8, "reviewkd": 5, "dkd": 1}
    assert all(terms[f"crd_r32x4_r8x4_{m}_s1"]["onehot"].weight == 1 for m in weights)
    crd_kd = terms["crd_r32x4_r8x4_crd_kd_s1"]
    assert (crd_kd["onehot"].weight, crd_kd["kd"].weight, crd_kd["crd"].weight) == (1, 1, 0.8)
    for c in plan.runs:  # DKD and ReviewKD ramp their weight in over 20 epochs
        for name in ("dkd", "reviewkd"):
            if name in c.loss.terms:
                s = c.loss.terms[name].schedule
                assert (s.kind, s.epochs) == ("ramp", 20), c.name
    assert terms["crd_r56_r20_dkd_s1"]["dkd"].options["nckd_weight"] == 2.0
    assert terms["crd_vgg13_vgg8_dkd_s1"]["dkd"].options["nckd_weight"] == 6.0
    assert terms["crd_r32x4_shv2_reviewkd_s1"]["reviewkd"].weight == 8.0


def test_the_cpu_plan_is_the_documented_subset(plans):
    full = {c.name: c for c in plans[("full", "paper")].runs}
    cpu, paper = plans[("cpu", "cpu")], plans[("cpu", "paper")]
    names = [c.name for c in cpu.runs]
    assert names == [c.name for c in paper.runs]
    # resnet56 -> resnet20: its teacher, the vanilla student and KD with 2 seeds, every other method with 1
    assert gen.CPU_PAIR == ("resnet56_v1", "resnet20_v1")
    expected = {"crd_t_r56", "crd_vanilla_r20_s1", "crd_vanilla_r20_s2", "crd_r56_r20_kd_s1", "crd_r56_r20_kd_s2",
                *(f"crd_r56_r20_{m}_s1" for m in gen.METHODS if m != "kd")}
    assert set(names) == expected and len(names) == 19
    assert "the pair resnet56 -> resnet20" in " ".join(CPU.read_text().splitlines()[:2])
    for c in cpu.runs:
        assert c.model.name in gen.CPU_PAIR
        assert (c.data.name, c.data.root, c.train.epochs, c.train.lr, c.train.decay_epochs) == ("digits", None, 20, 0.01, [12, 15, 18])
    by = {c.name: c for c in cpu.runs}
    assert by["crd_r56_r20_crd_s1"].loss.terms["crd"].options["nce_k"] == 256
    assert by["crd_r56_r20_dkd_s1"].loss.terms["dkd"].schedule.epochs == 2
    assert by["crd_r56_r20_fitnet_s1"].loss.terms["hint"].weight == 100  # the methods' weights stay the paper's
    # At paper scale the subset's runs are the full plan's, config for config (KD and vanilla add seed 2)
    for c in paper.runs:
        if c.name in full:
            assert c.model_dump() == full[c.name].model_dump(), c.name
        else:
            assert c.name in ("crd_vanilla_r20_s2", "crd_r56_r20_kd_s2")
    assert [r["name"] for r in read_yaml(CPU)["reports"]] == ["methods"]


def _features(name: str, shape: tuple, classes: int, cache: dict):
    """A model and the outputs of all of its feature paths on a batch of 2 (eval mode)."""
    if name not in cache:
        torch.manual_seed(0)
        model = build_model(name, classes, shape).eval()
        modules, out = dict(model.named_modules()), {}
        hooks = [modules[p].register_forward_hook(lambda m, i, o, p=p: out.__setitem__(p, o))
                 for p in {p for paths in model.feature_paths.values() for p in paths}]
        with torch.no_grad():
            model(torch.randn(2, *shape))
        for h in hooks:
            h.remove()
        cache[name] = (model, out)
    return cache[name]


@pytest.mark.parametrize("which, shape, classes", [(("full", "paper"), (3, 32, 32), 100), (("cpu", "cpu"), (1, 8, 8), 10)])
def test_every_student_s_terms_shape_themselves_on_its_models(plans, which, shape, classes):
    """What training does first (Objective.attach: bind the feature names, then setup on a sample's
    features), for every student, on inputs of the data's shape: layers exist, pair up and fit."""
    plan = plans[which]
    by_name = {c.name: c for c in plan.runs}
    cache: dict = {}
    for c in students(plan):
        student, s_out = _features(c.model.name, shape, classes, cache)
        teacher, t_out = _features(by_name[plan.teachers[c.name]].model.name, shape, classes, cache)
        objective = Objective(c.loss, steps_per_epoch=10)
        for name, term in objective.terms.items():
            term.bind(student, teacher)
            term.setup(TermSetup({p: s_out[p] for p in term.student_features},
                                 {p: t_out[p] for p in term.teacher_features}, num_train=1000, num_classes=classes,
                                 train_labels=torch.arange(1000) % classes))
