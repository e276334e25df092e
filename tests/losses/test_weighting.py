"""What a loss means is the objective's to say (kdlab.losses.weighting): whether it distils, at which
temperature, which terms weigh when. Every consumer asks it, for the term it is about."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdlab.config import resolve
from kdlab.errors import ConfigError
from kdlab.losses.weighting import switch_progress, weights_at

ONEHOT = {"onehot": 1.0, "kd": 0.0}


def test_switch_window_edges():
    S, W = 100, 10
    assert weights_at(S - 1, ONEHOT, "kd", S, W) == ONEHOT  # before: old loss
    assert weights_at(S, ONEHOT, "kd", S, W) == ONEHOT  # the window starts at the old loss
    assert weights_at(S + 5, ONEHOT, "kd", S, W) == {"onehot": 0.5, "kd": 0.5}
    assert weights_at(S + W, ONEHOT, "kd", S, W) == {"onehot": 0.0, "kd": 1.0}
    assert weights_at(10**9, ONEHOT, "kd", S, W) == {"onehot": 0.0, "kd": 1.0}


def test_abrupt_switch():
    kd = {"onehot": 0.0, "kd": 1.0}
    assert weights_at(49, kd, "onehot", 50, 0) == kd
    assert weights_at(50, kd, "onehot", 50, 0) == ONEHOT


def test_switch_from_a_mix():
    mix = {"onehot": 0.1, "kd": 0.9}  # the common CIFAR recipe, switched to pure one-hot
    w = weights_at(15, mix, "onehot", 10, 10)
    assert w["onehot"] == pytest.approx(0.55) and w["kd"] == pytest.approx(0.45)


def test_switch_moves_weight_between_any_named_terms():
    w = weights_at(5, {"onehot": 0.5, "kd": 0.5, "dkd": 0.0}, "dkd", 0, 10)
    assert w == pytest.approx({"onehot": 0.25, "kd": 0.25, "dkd": 0.5})


@given(st.integers(0, 10_000), st.integers(0, 5000), st.integers(0, 5000))
def test_progress_is_monotone_and_bounded(step, at, window):
    r = switch_progress(step, at, window)
    assert 0.0 <= r <= 1.0
    assert switch_progress(step + 1, at, window) >= r


TEACHER = {"teacher": {"run": "t"}}


def test_a_pure_one_hot_run_has_no_distillation_temperature():
    # the default loss keeps a KD term of weight 0, ready for a switch: it never weighs
    default = resolve({})
    assert default.weighting.temperature() is None and not default.weighting.uses_teacher
    assert default.weighting.temperature("kd") == 4.0  # the term itself still has one
    assert resolve({"loss": {"terms": {"onehot": {"weight": 1}}}}).weighting.temperature() is None


def test_each_term_answers_for_itself_and_mixed_temperatures_must_be_named():
    cfg = resolve({"loss": {"terms": {"dkd": {"weight": 1.0, "temperature": 1.0},
                                      "kd": {"weight": 1.0, "temperature": 4.0}}}, **TEACHER})
    w = cfg.weighting
    assert w.temperature("kd") == 4.0 and w.temperature("dkd") == 1.0
    with pytest.raises(ConfigError, match=r"terms of different temperatures \(dkd at T = 1, kd at T = 4\)"):
        w.temperature()
    with pytest.raises(ConfigError, match="the objective has no term 'hint'"):
        w.temperature("hint")


def test_a_switch_target_weighs_and_a_hint_has_no_temperature():
    switch = resolve({"loss": {"terms": {"onehot": {"weight": 1.0}, "kd": {"weight": 0.0, "temperature": 2.0}},
                               "switch": {"to": "kd", "at_step": 10, "window": 4}}, **TEACHER}).weighting
    assert switch.uses_teacher and switch.temperature() == 2.0
    assert not switch.needs_teacher(10) and switch.needs_teacher(11)
    assert switch.weights(0) == {"onehot": 1.0, "kd": 0.0} and switch.weights(12) == {"onehot": 0.5, "kd": 0.5}
    hint = resolve({"loss": {"terms": {"onehot": {"weight": 1.0}, "hint": {"student": "a", "teacher": "b"}}},
                    **TEACHER}).weighting
    assert hint.uses_teacher and hint.temperature() is None


def test_the_probe_asks_the_objective():
    """constructive_updates takes its temperature from the objective: a mixed one is a one-line error."""
    from kdlab.config import Given
    from kdlab.models import build_model
    from kdlab.train.loop import setup

    given = Given(teacher=build_model("channel_linear", 10, (10, 16)))
    cfg = resolve({"data": {"name": "synthetic-channels", "num_train": 64, "num_test": 16, "dim": 16},
                   "model": {"name": "channel_linear"}, "record": {"probes": ["constructive_updates"]},
                   "loss": {"terms": {"dkd": {"weight": 1.0, "temperature": 1.0}, "kd": {"weight": 1.0}}}}, given=given)
    with pytest.raises(ConfigError, match="different temperatures"):
        setup(cfg, given)


def test_a_terms_own_ramp_is_dkds_reference_warm_up():
    """DKD's reference trains CE at weight 1 while DKD's weight ramps over its first 20 epochs:
    min(epoch / 20, 1) with the 1-based epoch (mdistiller's DKD). A switch could not say this."""
    cfg = resolve({"loss": {"terms": {"onehot": {"weight": 1.0},
                                      "dkd": {"weight": 1.0, "schedule": {"kind": "ramp", "epochs": 20}}}}, **TEACHER})
    w = cfg.weighting.model_copy(update={"steps_per_epoch": 10})
    at_epoch = {e: w.weights((e - 1) * 10 + 3) for e in (1, 10, 20, 30)}  # a step inside each epoch
    assert {e: v["onehot"] for e, v in at_epoch.items()} == {1: 1.0, 10: 1.0, 20: 1.0, 30: 1.0}
    assert {e: v["dkd"] for e, v in at_epoch.items()} == pytest.approx({1: 0.05, 10: 0.5, 20: 1.0, 30: 1.0})
    assert w.uses_teacher and w.needs_teacher(0)


def test_step_and_step_ramp_schedules_and_a_switch_on_top():
    cfg = resolve({"loss": {"terms": {"onehot": {"weight": 1.0, "schedule": {"kind": "step", "epochs": [2, 4], "factor": 0.5}},
                                      "kd": {"weight": 2.0, "schedule": {"kind": "ramp", "steps": 4}}},
                            "switch": {"to": "onehot", "at_step": 100, "window": 0}}, **TEACHER})
    w = cfg.weighting.model_copy(update={"steps_per_epoch": 5})
    assert [w.weights(s)["onehot"] for s in (0, 9, 10, 19, 20)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert [w.weights(s)["kd"] for s in (0, 1, 3, 50)] == [0.5, 1.0, 2.0, 2.0]
    assert w.weights(100) == {"onehot": 1.0, "kd": 0.0}  # the switch moves the scheduled weights to the target


def test_a_schedule_is_checked_when_the_config_is_resolved():
    with pytest.raises(ConfigError, match="a ramp gives its length in epochs or in steps"):
        resolve({"loss": {"terms": {"onehot": {"schedule": {"kind": "ramp"}}}}})
    with pytest.raises(ConfigError, match="loss.terms.onehot.schedule"):
        resolve({"loss": {"terms": {"onehot": {"schedule": {"kind": "cosine", "epochs": 3}}}}})


def test_symbolic_feature_names_resolve_against_the_models_paths():
    from torch import nn

    from kdlab.losses.base import resolve_paths

    class Net(nn.Module):
        feature_paths = {"stages": ["a", "b", "c"], "embedding": ["e"]}

    net = Net()
    assert resolve_paths(net, ("@stages",), "student") == ("a", "b", "c")
    assert resolve_paths(net, ("@stages[-1]", "@embedding", "x.y"), "student") == ("c", "e", "x.y")
    assert resolve_paths(net, ("@stages[1:]",), "student") == ("b", "c")
    assert resolve_paths(net, ("@stages[:-1]",), "student") == ("a", "b")
    with pytest.raises(ConfigError, match=r"'@stages\[5:\]' selects none"):
        resolve_paths(net, ("@stages[5:]",), "student")
    with pytest.raises(ConfigError, match=r"has no feature paths '@preact'; it has @stages, @embedding"):
        resolve_paths(net, ("@preact",), "teacher")
    with pytest.raises(ConfigError, match=r"'@stages\[3\]': the student has 3 '@stages' paths"):
        resolve_paths(net, ("@stages[3]",), "student")
    with pytest.raises(ConfigError, match="none: give module paths instead"):
        resolve_paths(nn.Linear(2, 2), ("@stages",), "student")
