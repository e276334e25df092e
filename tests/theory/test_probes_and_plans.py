import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kdlab.cli import main
from kdlab.config import LossConfig
from kdlab.errors import ConfigError
from kdlab.plan import resolve_plan
from kdlab.probes.constructive_updates import ConstructiveUpdates

CONFIGS = __import__("pathlib").Path(__file__).parents[2] / "configs"


def test_constructive_counter_on_a_hand_made_case():
    mu = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    ds = SimpleNamespace(extras={"mu_star": mu}, name="hand")
    probe = ConstructiveUpdates(ds, None, SimpleNamespace(loss=LossConfig(temperature=1.0)), None)
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
    assert probe.epoch_metrics(None) == {}  # reset for the next epoch


def test_plan_order_and_teacher_references(tmp_path):
    raw = {"runs": {"b": {"loss": {"kd_weight": 1, "onehot_weight": 0}, "teacher": {"run": "a"}}, "a": {}}}
    cfgs, report = resolve_plan(raw, tmp_path, ["runs.a.seed=7", "train.epochs=2"])
    assert [c.name for c in cfgs] == ["a", "b"]
    assert cfgs[1].teacher.run == str(tmp_path / "a")
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
    code = main(["run", str(CONFIGS / "c5_synthetic.yaml"), "--out", str(tmp_path), "--json", "--no-progress",
                 "train.epochs=2", "data.num_test=256"])
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
    r = json.loads(capsys.readouterr().out)["report"]
    assert r["num_pairs"] == 15 and 0 <= r["faster"] <= 15
    rec = np.load(tmp_path / "a" / "c4rf_teacher" / "probes" / "eigen_projections.npz")
    assert rec["projections"].shape == (3 * 8 + 1, 64) and rec["projections"][0].max() == 0.0

    # interrupt the teacher after epoch 2, resume: the same trajectory
    from kdlab.plan import resolve_plan as rp
    from kdlab.config import load_yaml
    from kdlab.train.runner import run_config

    cfgs, _ = rp(load_yaml(str(CONFIGS / "c4_random_features.yaml")), tmp_path / "b", args[4:])

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
    cfgs, _ = resolve_plan(raw, tmp_path, ["runs.a.seed=7", "runs.b.train.epochs=3"])
    got = {c.name: (c.seed, c.train.epochs) for c in cfgs}
    assert got == {"a": (7, 30), "a_second": (0, 30), "b_s1": (1, 3), "b_s2": (2, 3)}
