import json
from pathlib import Path

import pytest

from kdlab.cli import main
from kdlab.io import read_yaml
from kdlab.plan import run_plan

CONFIGS = Path(__file__).parents[2] / "configs"
SMALL = ["train.epochs=3", "data.train_size=96", "model.name=mlp", "model.hidden=[16]", "train.batch_size=32",
         "train.decay_epochs=[]", "train.warmup_epochs=0"]


@pytest.fixture(scope="module")
def ovo(tmp_path_factory):
    out = tmp_path_factory.mktemp("ovo")
    raw = read_yaml(CONFIGS / "online_vs_offline_small_gap.yaml")
    raw["report"]["n"] = 48
    result = run_plan(raw, out, [*SMALL, "runs.ovo_small_early.teacher.checkpoint=2"], progress=False, log=lambda s: None).to_json()
    return out, result


def test_online_vs_offline_report(ovo):
    _, result = ovo
    assert len(result["runs"]) == 13  # the teacher and 4 students x 3 seeds
    rep = result["report"]
    assert set(rep["students"]) == {"no KD", "offline KD", "early-stopped KD", "online KD"}
    for s in rep["students"].values():
        assert len(s["test_acc"]) == 3 and s["std"] >= 0
    online = rep["students"]["online KD"]["supervision"]
    assert online["teacher_epochs"] == [1, 2, 3]
    assert rep["students"]["early-stopped KD"]["supervision"]["teacher_epoch"] == 2
    assert rep["students"]["no KD"]["supervision"]["adjusted"] > rep["students"]["offline KD"]["supervision"]["adjusted"]
    curves = rep["over_training"]["curves"]
    assert rep["over_training"]["student"].endswith("ovo_small_online_s1")
    assert all(r > lab for r, lab in zip(curves["random labels"], curves["labels"]))


def test_complexity_cli(ovo, tmp_path, capsys):
    out, _ = ovo
    teacher = out / "ovo_small_teacher"
    code = main(["complexity", "--teacher", str(teacher), "--student", str(out / "ovo_small_online_s1"),
                 "--n", "40", "--temperatures", "1", "4", "--json", "--out", str(tmp_path)])
    assert code == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r["kernels"]) == {"init", "trained"} and r["n"] == 40
    curve = r["kernels"]["init"]["teacher"]["1.0"]
    assert [c["epoch"] for c in curve] == [1, 2, 3]
    # higher temperature: lower complexity, for every checkpoint
    for lo, hi in zip(curve, r["kernels"]["init"]["teacher"]["4.0"]):
        assert hi["adjusted"] < lo["adjusted"]
    assert r["kernels"]["init"]["jitter"] > 0 and (tmp_path / "complexity.png").exists()
    # P2's curve: the student's NTK at each of its kept checkpoints, four targets
    ot = r["over_training"]
    assert ot["student_epochs"] == [0, 3] and ot["online_teacher_epochs"] == [1, 3]  # init, and the kept checkpoint
    c = ot["curves"]
    assert set(c) == {"labels", "random labels", "offline teacher", "online teacher"}
    for e in range(2):
        assert c["random labels"][e] > c["labels"][e] > c["offline teacher"][e]
    assert c["online teacher"][-1] == pytest.approx(c["offline teacher"][-1])  # the same checkpoint at the end
    assert c["online teacher"][0] < c["offline teacher"][0]
    assert (tmp_path / "complexity_over_training.png").exists()


def test_complexity_cli_errors(ovo, tmp_path, capsys):
    out, _ = ovo
    assert main(["complexity", "--teacher", str(out / "ovo_small_teacher")]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["complexity", "--teacher", str(tmp_path / "nope"), "--student-model", "mlp"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_complexity_over_training_asks_the_students_objective_and_its_schedule(tmp_path):
    """tau for the term the consumer names; the online teacher's epochs by the training loop's own rule,
    here for a `train.steps` student (epochs begun, the last one partial) with epoch_ratio 2."""
    from kdlab.complexity.runs import KernelData, complexity_over_training, teacher_checkpoints, teacher_logits
    from kdlab.config import resolve
    from kdlab.errors import ConfigError
    from kdlab.train.runner import run_config

    base = {"data": {"name": "digits", "train_size": 96}, "model": {"name": "mlp", "hidden": [16]},
            "train": {"epochs": 4, "batch_size": 32, "lr": 0.05}, "record": {"checkpoint_every_epochs": 1}}
    quiet = dict(progress=False, log=lambda s: None)
    teacher, _ = run_config(resolve({**base, "name": "t"}), tmp_path, **quiet)
    student, _ = run_config(resolve({**base, "name": "s", "seed": 1, "train": {"batch_size": 32, "lr": 0.05, "steps": 7},
                                     "loss": {"terms": {"dkd": {"weight": 1.0, "temperature": 1.0},
                                                        "kd": {"weight": 1.0, "temperature": 4.0}}},
                                     "teacher": {"run": "t", "online": True, "epoch_ratio": 2.0}}), tmp_path, **quiet)
    data = KernelData(teacher, 16)
    logits = {e: teacher_logits(teacher, data, w) for e, w in teacher_checkpoints(teacher)}
    by_dkd = complexity_over_training(teacher, student, data, logits, term="dkd")
    assert by_dkd["temperature"] == 1.0
    assert complexity_over_training(teacher, student, data, logits, term="kd")["temperature"] == 4.0
    with pytest.raises(ConfigError, match="different temperatures"):
        complexity_over_training(teacher, student, data, logits)
    trained = [r["teacher_epoch"] for r in student.metrics()]  # what training read, epoch by epoch
    assert student.summary().epochs == 3 and trained == [2, 4, 4]  # 7 steps of 3: epochs 1-3, r = 2, last 4
    assert by_dkd["student_epochs"] == [0, 1, 2, 3] and by_dkd["online_teacher_epochs"] == [2, *trained]
