"""Class 4 continued, the values at the edges of what can work: schema bounds (at and just past them),
sizes that cannot fit in memory, models whose outputs are not what a run needs, terms that read what
they did not declare, non-finite losses, seeds at the top of their range, overrides that contradict."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import kdlab
from kdlab import memory
from kdlab.complexity import empirical_ntk
from kdlab.config import resolve
from kdlab.errors import ConfigError, KdlabError, RunError
from kdlab.losses import LossTerm
from kdlab.models import build_model
from kdlab.train.loop import FirstNonFinite, derived_seed
from kdlab.values import FLOAT32_MAX

from .conftest import TINY, files_under, write_yaml

QUIET = dict(progress=False, log=lambda s: None)
ABOVE_FLOAT32 = float(np.nextafter(np.float32(FLOAT32_MAX), np.float32(np.inf), dtype=np.float64)) * 2


# -- schema bounds: at the bound accepted, just past it refused, each naming the key ----------------

@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=5e-324, max_value=FLOAT32_MAX))
def test_any_learning_rate_within_float32_is_a_config(lr):
    assert resolve({}, [f"train.lr={lr!r}"]).train.lr == lr


@settings(max_examples=30, deadline=None)
@given(st.floats(min_value=float(np.nextafter(FLOAT32_MAX, math.inf)), max_value=1e308))
def test_a_learning_rate_past_float32_is_refused(lr):
    with pytest.raises(ConfigError, match="config key 'train.lr'.*float32"):
        resolve({}, [f"train.lr={lr!r}"])


@pytest.mark.parametrize("key,ok,bad", [
    ("train.momentum", 0.0, 1.0),
    ("train.momentum", float(np.nextafter(1.0, 0.0)), float(np.nextafter(0.0, -1.0))),
    ("data.label_noise", 1.0, float(np.nextafter(1.0, 2.0))),
    ("data.label_noise", 0.0, float(np.nextafter(0.0, -1.0))),
    ("train.weight_decay", 0.0, float(np.nextafter(0.0, -1.0))),
    ("train.weight_decay", FLOAT32_MAX, ABOVE_FLOAT32),
    ("seed", 2**63 - 1, 2**63),
    ("seed", 0, -1),
    ("train.batch_size", 1, 0),
])
def test_values_at_and_just_past_a_bound(key, ok, bad):
    resolve({}, [f"{key}={ok!r}"])
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        resolve({}, [f"{key}={bad!r}"])


def test_a_seed_at_the_top_of_its_range_trains(tmp_path):
    assert derived_seed(2**63 - 1, 5) < 2**64 and derived_seed(7, 3) == 7 * 1_000_003 + 3  # old streams kept
    run = kdlab.fit(TINY, out=tmp_path, overrides=[f"seed={2**63 - 1}"], **QUIET)
    assert run.summary.epochs == 1


def test_contradicting_overrides_are_refused_in_either_order():
    for pair in (["train={epochs: 3}", "train.epochs=1"], ["train.epochs=1", "train={epochs: 3}"]):
        with pytest.raises(ConfigError, match="the overrides 'train=...' and 'train.epochs=...' contradict each other"):
            resolve({}, pair)
    resolve({}, ["train.epochs=1", "train.lr=0.1"])  # siblings do not contradict


# -- memory: what cannot fit is refused before it is allocated ----------------------------------------

def test_a_model_too_large_for_the_machine_is_one_line(tmp_path, fails):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    err = fails("run", cfg, "--out", tmp_path / "out", "model.hidden=[200000,200000]", match="needs about")
    assert "40,015,200,010 parameters" in err and "available; make it smaller" in err
    assert not files_under(tmp_path / "out") if (tmp_path / "out").exists() else True


def _needs(monkeypatch, overrides) -> float:
    """What check_model_fits asks for (bytes), with the machine's memory taken as unlimited."""
    asked = []
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": None)
    monkeypatch.setattr("kdlab.train.loop.check_fits", lambda need, what, device: asked.append(need))
    from kdlab.data.transforms import Pipeline
    from kdlab.train.loop import check_model_fits, load_dataset_for

    cfg = resolve({**TINY, "model": {"name": "resnet8"}}, overrides)
    ds = load_dataset_for(cfg.data)
    check_model_fits(cfg, ds, Pipeline(ds.transforms, torch.device("cpu"), ds.input_shape), torch.device("cpu"))
    return asked[0]


def test_the_estimate_counts_weights_optimizer_states_and_a_batchs_activations(monkeypatch):
    params = sum(p.numel() for p in build_model("resnet8", 10, (1, 8, 8)).parameters())
    sgd, adam = _needs(monkeypatch, ["train.batch_size=16"]), _needs(monkeypatch, ["train.batch_size=16",
                                                                                   "train.optimizer=adam"])
    assert adam - sgd == 4 * params  # a second moment per parameter
    b32 = _needs(monkeypatch, ["train.batch_size=32"])
    activations = b32 - sgd
    assert activations > 0 and _needs(monkeypatch, ["train.batch_size=64"]) - b32 == pytest.approx(2 * activations)


def test_a_batch_too_large_for_the_memory_is_one_line(tmp_path, fails, monkeypatch):
    params = sum(p.numel() for p in build_model("resnet8", 10, (1, 8, 8)).parameters())
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 4 * params * 3 + 1000)  # weights fit
    cfg = write_yaml(tmp_path / "c.yaml", {**TINY, "model": {"name": "resnet8"}})
    fails("run", cfg, "--out", tmp_path / "out", match=f"model 'resnet8' ({params:,} parameters) training at batch 32 "
                                                       f"needs about")


def test_an_ntk_too_large_for_the_memory_is_one_line(monkeypatch):
    model = build_model("mlp", 3, (4,), {"hidden": [5]})
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 8 * 20 * 20 - 1)
    with pytest.raises(ConfigError, match="the NTK of 20 samples needs about 3.1 KiB"):
        empirical_ntk(model, torch.randn(20, 4))
    with pytest.raises(ConfigError, match="the per-class NTK of 19 samples"):  # one kernel per class
        empirical_ntk(model, torch.randn(19, 4), mode="per_class")
    assert empirical_ntk(model, torch.randn(19, 4)).shape == (19, 19)


# -- models whose outputs are not logits ---------------------------------------------------------------

class Wrapped(nn.Module):
    """An MLP whose forward returns its logits wrapped as `kind` says."""

    def __init__(self, kind: str, classes: int = 10):
        super().__init__()
        self.kind, self.net = kind, nn.Sequential(nn.Flatten(), nn.Linear(64, classes))

    def forward(self, x):
        logits = self.net(x)
        if self.kind == "mapping":
            return {"logits": logits, "hidden": logits * 2}
        if self.kind == "object":
            return type("Output", (), {"logits": logits})()
        if self.kind == "tuple":
            return (logits, logits)
        if self.kind == "flat":
            return logits.flatten()
        return logits


@pytest.mark.parametrize("kind", ["tensor", "mapping", "object"])
def test_a_model_may_return_a_tensor_a_mapping_or_an_object_with_logits(tmp_path, kind):
    run = kdlab.fit(TINY, model=Wrapped(kind), out=tmp_path, **QUIET)
    assert 0 <= run.summary.test_acc <= 100


@pytest.mark.parametrize("kind,match", [
    ("tuple", "returned a tuple"),
    ("flat", "gave logits of shape"),
])
def test_other_outputs_are_one_line_before_training(tmp_path, kind, match):
    with pytest.raises(KdlabError, match=match) as e:
        kdlab.fit(TINY, model=Wrapped(kind), out=tmp_path, **QUIET)
    assert "\n" not in str(e.value) and not (tmp_path / "tiny" / "checkpoints").exists()


def test_a_model_with_the_wrong_number_of_classes_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"the student \(Wrapped\) gives 7 logits per sample but the data has 10 "
                                          r"classes"):
        kdlab.fit(TINY, model=Wrapped("tensor", classes=7), out=tmp_path, **QUIET)


def test_a_teacher_that_cannot_take_the_data_is_one_line(tmp_path):
    kd = {**TINY, "loss": {"terms": {"kd": {"weight": 1.0}}}}
    with pytest.raises(ConfigError, match=r"the teacher \(Sequential\) cannot take this data's samples \(inputs "
                                          r"\(1, 8, 8\)"):
        kdlab.fit(kd, teacher=nn.Sequential(nn.Flatten(), nn.Linear(30, 10)), out=tmp_path, **QUIET)


# -- terms that read what they did not declare ----------------------------------------------------------

class Reads(LossTerm):
    """Reads `what` without declaring it."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def forward(self, out):
        if self.what == "teacher":
            return out.logits.sum() * 0 + out.teacher_logits.sum()
        if self.what == "feature":
            return out.features["net.0"].sum()
        return out.teacher_features["net.0"].sum()


@pytest.mark.parametrize("what,match", [
    ("teacher", "reads the teacher's logits"),
    ("feature", "reads the output of 'net.0', which its student_features does not name"),
    ("teacher_feature", "which its teacher_features does not name"),
])
def test_a_term_that_forgets_a_declaration_is_one_line(tmp_path, what, match):
    teacher = Wrapped("tensor")
    with pytest.raises(ConfigError, match=match) as e:
        kdlab.fit(TINY, model=Wrapped("tensor"), teacher=teacher, losses={"mine": Reads(what)}, out=tmp_path,
                  overrides=["loss.terms.mine.weight=1"], **QUIET)
    assert "\n" not in str(e.value) and "loss term 'mine'" in str(e.value)


# -- non-finite losses ------------------------------------------------------------------------------------

class BlowsUp(LossTerm):
    """Infinite at the given steps (counted per forward), the cross-entropy elsewhere."""

    def __init__(self, at: tuple[int, ...]):
        super().__init__()
        self.at, self.calls = set(at), 0

    def forward(self, out):
        self.calls += 1
        loss = nn.functional.cross_entropy(out.logits, out.labels)
        return loss * math.inf if self.calls in self.at else loss


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_the_term(tmp_path):
    with pytest.raises(RunError, match=r"non-finite at step 1 \(epoch 1\), first in term 'bad'") as e:
        kdlab.fit(TINY, losses={"bad": BlowsUp((2,))}, out=tmp_path,
                  overrides=["loss.terms.bad.weight=1", "loss.terms.onehot.weight=0"], **QUIET)
    assert "\n" not in str(e.value) and "on_nonfinite=skip" in str(e.value)
    assert not list((tmp_path / "tiny" / "checkpoints").glob("*")) if (tmp_path / "tiny" / "checkpoints").exists() \
        else True


def test_each_number_is_named_at_the_first_step_it_was_not_finite_as_terms_come_and_go():
    nan, inf, t = math.nan, math.inf, torch.tensor
    first = FirstNonFinite()
    assert first.read() == {}
    first.add(0, {"onehot": t(1.0), "loss": t(1.0)})
    first.add(1, {"onehot": t(1.0), "kd": t(inf), "loss": t(-inf)})
    first.add(2, {"onehot": t(nan), "loss": t(nan)})
    first.add(3, {"onehot": t(nan), "kd": t(nan), "loss": t(nan)})  # later ones do not move the first
    assert list(first.read().items()) == [("onehot", 2), ("loss", 1), ("kd", 1)]  # in the order first seen
    fine = FirstNonFinite()
    fine.add(0, {"onehot": t(1.0), "loss": t(2.0)})
    assert fine.read() == {}


def test_skip_leaves_the_weights_of_a_non_finite_step_as_they_were(tmp_path):
    run = kdlab.fit(TINY, losses={"bad": BlowsUp((2,))}, out=tmp_path,
                    overrides=["loss.terms.bad.weight=1", "loss.terms.onehot.weight=0", "train.on_nonfinite=skip"],
                    **QUIET)
    weights = kdlab.load_run(run.root).model.parameters()
    assert run.summary.epochs == 1 and all(torch.isfinite(p).all() for p in weights)
    with pytest.raises(RunError, match="every step of epoch 1 had a non-finite loss and was skipped"):
        kdlab.fit({**TINY, "name": "all"}, losses={"bad": BlowsUp((1, 2))}, out=tmp_path,
                  overrides=["loss.terms.bad.weight=1", "loss.terms.onehot.weight=0", "train.on_nonfinite=skip"],
                  **QUIET)
