import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kdlab.cli import main
from kdlab.errors import ConfigError
from kdlab.plan import resolve_plan
from kdlab.probes.constructive_updates import ConstructiveUpdates

CONFIGS = __import__("pathlib").Path(__file__).parents[2] / "configs"


def test_constructive_counter_on_a_hand_made_case():
    mu = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    ds = SimpleNamespace(extras={"mu_star": mu}, name="hand")
    probe = ConstructiveUpdates(ds, None, None, SimpleNamespace(temperature=lambda term=None: 1.0), None)
    # one sample of class 0; channel 1 is a similar class (x_1 . mu_1 = 2 > 0); channel 2 is zero
    x = torch.tensor([[[3.0, 0.0], [0.0, 2.0], [0.0, 0.0]]])
    y = torch.tensor([0])
    logits = torch.zeros(1, 3)  # student p = 1/3 each
    teacher = torch.log(torch.tensor([[0.5, 0.45, 0.05]]))  # q: more than 1/3 on classes 0 and 1
    probe.on_step(0, {"inputs": x, "label": y}, logits, teacher, None)
    m = probe.epoch_metrics(None)
    # one-hot: channel 0 (1 - 1/3) * 3 > 0 constructive; channel 1 (0 - 1/3) * 2 < 0 destructive
    assert m["constructive_onehot"] == pytest.approx(0.5)
    # KD: channel 0 (0.5 - 1/3) > 0 and channel 1 (0.45 - 1/3) > 0: both constructive
    assert m["constructive_kd"] == pytest.approx(1.0)
    # P1's rule over all 3 channels: (x.mu > 0) == (q > 0); one-hot: ch0 ok, ch1 wrong, ch2 ok
    assert m["sign_rule_onehot"] == pytest.approx(2 / 3)
    assert m["sign_rule_kd"] == pytest.approx(2 / 3)  # ch2: x.mu = 0 but q > 0
    # over all channels, the zero channel 2 counts as harmless
    assert m["constructive_all_onehot"] == pytest.approx(2 / 3) and m["constructive_all_kd"] == pytest.approx(1.0)
    # teacher logits log(0.5), log(0.45), log(0.05) are all negative: only the zero channel agrees
    assert m["logit_rule_kd"] == pytest.approx(1 / 3)
    assert probe.epoch_metrics(None) == {}  # reset for the next epoch


def test_plan_order_and_teacher_references(tmp_path):
    raw = {"runs": {"b": {"loss": {"kd_weight": 1, "onehot_weight": 0}, "teacher": {"run": "a"}}, "a": {}}}
    plan = resolve_plan(raw, tmp_path, ["runs.a.seed=7", "train.epochs=2"])
    cfgs, report = plan.runs, plan.reports
    assert [c.name for c in cfgs] == ["a", "b"]
    assert cfgs[1].teacher.run == "a" and plan.teachers == {"a": None, "b": "a"}  # a run name, found in --out
    assert cfgs[0].seed == 7 and cfgs[1].seed == 0 and cfgs[1].train.epochs == 2
    assert report == []


def test_plan_errors(tmp_path):
    cycle = {"runs": {"a": {"loss": {"kd_weight": 1}, "teacher": {"run": "b"}},
                      "b": {"loss": {"kd_weight": 1}, "teacher": {"run": "a"}}}}
    with pytest.raises(ConfigError, match="cycle"):
        resolve_plan(cycle, tmp_path)
    with pytest.raises(ConfigError, match="run 'a': unknown config key 'modl'"):
        resolve_plan({"runs": {"a": {"modl": {}}}}, tmp_path)
    with pytest.raises(ConfigError, match="names no run"):
        resolve_plan({"runs": {"a": {}}}, tmp_path, ["runs.z.seed=1"])


def test_c5_config_end_to_end(tmp_path, capsys):
    import yaml

    from kdlab.io import read_yaml

    raw = read_yaml(CONFIGS / "c5_synthetic.yaml")
    assert [r["name"] for r in raw["reports"]] == ["c5", "c5_seeds"]
    raw["reports"] = raw["reports"][:1]  # the seed grid has its own test
    (tmp_path / "c5.yaml").write_text(yaml.safe_dump(raw))
    code = main(["run", str(tmp_path / "c5.yaml"), "--out", str(tmp_path), "--json", "--no-progress",
                 "train.epochs=2", "data.num_test=256", "data.similar_replace=false"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    r = out["report"]
    assert r["name"] == "c5" and len(r["teacher_cos"]) == 10 == r["num_classes"]
    assert r["constructive_onehot"] == pytest.approx(0.25)  # label channel yes, 3 similar channels no
    assert 0 < r["constructive_kd"] <= 1
    for p in r["figures"]:
        assert open(p, "rb").read(4) == b"\x89PNG"


def test_c4_config_end_to_end_and_resume_keeps_the_trajectory(tmp_path, capsys):
    args = ["run", str(CONFIGS / "c4_random_features.yaml"), "--json", "--no-progress", "train.epochs=3",
            "model.num_features=300", "record.checkpoint_every_epochs=1"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    c4, seeds = json.loads(capsys.readouterr().out)["reports"]
    assert c4["num_pairs"] == 15 and 0 <= c4["sooner"] <= 15 and c4["rank"] <= 64
    assert len({p["top"] for p in c4["pairs"]}) == 15 == len({p["bottom"] for p in c4["pairs"]})  # no repeats
    assert all(p["top"] < 15 and 20 <= p["bottom"] <= 60 for p in c4["pairs"])
    assert [s["model_seed"] for s in seeds["seeds"]] == [0, 1, 2, 3, 4]
    assert seeds["stats"]["sooner"]["min"] <= seeds["stats"]["sooner"]["mean"] <= seeds["stats"]["sooner"]["max"]
    rec = np.load(tmp_path / "a" / "c4rf_teacher" / "probes" / "eigen_projections.npz")
    assert rec["projections"].shape == (3 * 8 + 1, 64) and rec["projections"][0].max() == 0.0
    assert rec["raw_projections"].shape == rec["projections"].shape and rec["raw_projections"][0].max() > 0
    # teacher and student share the random features (feature_seed), whatever their run seeds
    from safetensors.torch import load_file

    te, st = (load_file(str(tmp_path / "a" / n / "checkpoints" / "final.safetensors")) for n in ("c4rf_teacher", "c4rf_student"))
    assert torch.equal(te["proj"], st["proj"]) and not torch.equal(te["head.weight"], st["head.weight"])

    # interrupt the teacher after epoch 2, resume: the same trajectory
    from kdlab.plan import resolve_plan as rp
    from kdlab.io import read_yaml
    from kdlab.train.runner import run_config

    cfgs = rp(read_yaml(str(CONFIGS / "c4_random_features.yaml")), tmp_path / "b", args[4:]).runs

    def stop(done, step):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_config(cfgs[0], tmp_path / "b", progress=False, hooks=[stop], log=lambda s: None)
    run_config(cfgs[0], tmp_path / "b", progress=False, log=lambda s: None)
    again = np.load(tmp_path / "b" / "c4rf_teacher" / "probes" / "eigen_projections.npz")
    np.testing.assert_array_equal(rec["projections"], again["projections"])


def test_theory_commands_json(tmp_path, capsys):
    assert main(["theory", "eigenspace", "--quick", "--json", "--out", str(tmp_path)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["theorem_4_1"]["violations"] == 0 and r["closed_form_vs_gd"]["teacher_rel_error"] < 1e-3
    assert main(["theory", "gradient-space", "--quick", "--json", "--out", str(tmp_path)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0 < r["holds_fraction"] < 1 and (tmp_path / "gradient_space_map.png").exists()


def test_a_base_name_reaches_its_seeds_only(tmp_path):
    raw = {"runs": {"a": {}, "a_second": {}, "b": {"seeds": [1, 2]}}}
    cfgs = resolve_plan(raw, tmp_path, ["runs.a.seed=7", "runs.b.train.epochs=3"]).runs
    got = {c.name: (c.seed, c.train.epochs) for c in cfgs}
    assert got == {"a": (7, 30), "a_second": (0, 30), "b_s1": (1, 3), "b_s2": (2, 3)}


def test_similar_classes_drawn_with_replacement_give_p1s_one_hot_count():
    """Under P1's sign rule one-hot is wrong exactly on the similar channels: 3 of 10 without
    replacement (70%), 2.68 of 10 on average with it (73.2%, P1: 73.22%)."""
    from kdlab.data import load_dataset

    for replace, expected, spread in ((False, 0.70, 0.0), (True, 0.732, 0.01)):
        ds = load_dataset("synthetic-channels", options={"num_train": 4000, "num_test": 1, "similar_replace": replace})
        x, y = ds.train.inputs, ds.train.label
        probe = ConstructiveUpdates(ds, None, None, SimpleNamespace(temperature=lambda term=None: 1.0), None)
        probe.on_step(0, {"inputs": x, "label": y}, torch.zeros(len(y), 10), None, None)
        assert abs(probe.epoch_metrics(None)["sign_rule_onehot"] - expected) <= spread + 1e-6
        distinct = (x.abs().sum(-1) > 0).sum(1)
        assert (distinct == 4).all() if not replace else (distinct < 4).any() and (distinct >= 2).all()


def test_c5_over_seeds_and_both_readings(tmp_path):
    from kdlab.io import read_yaml
    from kdlab.plan import run_plan

    raw = read_yaml(CONFIGS / "c5_synthetic.yaml")
    raw["reports"] = [{"name": "c5_seeds", "teacher": "c5_teacher", "student": "c5_student",
                       "data_seeds": 2, "model_seeds": 2}]
    quick = ["train.epochs=2", "data.num_train=128", "data.num_test=128"]
    rep = run_plan(raw, tmp_path, quick, progress=False, log=lambda s: None).to_json()["report"]
    for reading, unit_mu in (("text", False), ("unit", True)):
        pairs = rep["readings"][reading]["pairs"]
        assert [(p["data_seed"], p["model_seed"]) for p in pairs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
        stats = rep["readings"][reading]["stats"]
        gaps = [p["test_gap"] for p in pairs]
        assert stats["test_gap"]["mean"] == pytest.approx(np.mean(gaps)) and stats["test_gap"]["std"] > 0
        run = tmp_path / "reports" / "c5_seeds" / "runs" / f"{reading}_d1_s1_student"
        from kdlab.records import RunDir

        cfg = RunDir(run).config()
        assert (cfg.data.options["unit_mu"], cfg.data.options["data_seed"], cfg.seed) == (unit_mu, 1, 2)
    messages = []
    run_plan(raw, tmp_path, quick, progress=False, log=messages.append)
    assert sum("reusing" in m for m in messages) == 2  # the plan's own runs; the grid's are reused silently
    assert (tmp_path / "reports" / "c5_seeds" / "c5_seeds.json").is_file()


def test_c4_metrics_tell_a_convex_trajectory_from_a_straight_one():
    from kdlab.reports.c4 import bow, choose_pairs, time_to

    t = np.linspace(0, 1, 101)
    straight = (t, t)
    convex = (np.sqrt(t), t**2)  # the top direction leads: the curve bows below the diagonal
    concave = (t**2, np.sqrt(t))
    assert bow(*straight) == pytest.approx(0.0, abs=1e-12)
    # by hand: 1/2 * integral of (u v' - v u') dt = 1/2 * integral of (2 - 1/2) t^1.5 dt = 0.3
    assert bow(*convex) == pytest.approx(0.3, abs=1e-3)
    assert bow(*concave) == pytest.approx(-0.3, abs=1e-3)
    # the headline compares against the teacher's final value: a student that stops short never reaches it
    teacher_top = t
    assert time_to(np.sqrt(t), 0.9 * teacher_top[-1]) < time_to(teacher_top, 0.9 * teacher_top[-1])
    assert time_to(0.5 * t, 0.9) == 1.0
    pairs = choose_pairs(np.random.default_rng(0), 15, 15, (20, 60), rank=30)
    assert len(pairs) == 10 and len({b for _, b in pairs}) == 10 and all(20 <= b < 30 for _, b in pairs)
