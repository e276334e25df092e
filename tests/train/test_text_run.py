"""Text runs end to end: a roberta-tiny teacher, a KD student through the CLI, predictions analysed,
resume bit-identical on CPU, and the user mistakes particular to text as one-line errors."""

import json

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

pytest.importorskip("transformers")

from kdlab.config import resolve  # noqa: E402
from kdlab.records import RunDir  # noqa: E402
from kdlab.train.runner import run_config  # noqa: E402
from tests.interrupt import Interrupt, stop_after  # noqa: E402

TEXT = {
    "data": {"name": "text-synthetic", "task": "pair", "train_samples": 160, "test_samples": 48, "label_noise": 0.1},
    "model": {"name": "roberta-tiny", "vocab_size": 2048},
    # 160 / 32 = 5 steps an epoch; 13 steps end inside the third epoch
    "train": {"steps": 13, "batch_size": 32, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01,
              "warmup_steps": 3, "schedule": "linear"},
    "record": {"predictions_every_epochs": 1, "checkpoint_every_epochs": 1, "tensorboard": False},
}
KD = {"name": "student", "seed": 1, "loss": {"terms": {"onehot": {"weight": 0.0}, "kd": {"weight": 1.0, "temperature": 2.0}}}}
quiet = dict(progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("text")
    teacher, _ = run_config(resolve({**TEXT, "name": "teacher"}), out, **quiet)
    return out, teacher


def test_a_steps_run_ends_inside_its_last_epoch(runs):
    _, teacher = runs
    summary = teacher.summary()
    assert summary.steps == 13 and summary.epochs == 3
    rows = [json.loads(line) for line in teacher.metrics_path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 13]
    assert teacher.prediction_steps() == [5, 10, 13]
    assert rows[-1]["lr"] == pytest.approx(1e-3 * 1 / 10)  # linear decay: step 12 of 13, warm-up 3


def test_kd_student_through_the_cli_is_recorded_and_analysed(runs, cli, tmp_path):
    out, teacher = runs
    config = tmp_path / "student.yaml"
    config.write_text(yaml.safe_dump({**TEXT, **KD, "teacher": {"run": str(teacher.root)}}))
    code, _, err = cli("run", config, "--out", out, "--no-progress")
    assert code == 0, err
    student = RunDir(out / "student")
    assert student.info().distilled and student.prediction_steps() == [5, 10, 13]
    with np.load(student.prediction_path(13)) as z:
        assert z["logits"].shape == (208, 2) and z["noisy"].sum() > 0
    code, stdout, err = cli("analyze", "--teacher", teacher.root, "--student", student.root, "--json", "--no-figures")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["student_step"] == 13 and [e["student_step"] for e in report["evolution"]] == [5, 10, 13]
    assert all(e["n"] == 160 for e in report["evolution"])  # every training sample, by id


def test_text_resume_is_bit_identical(runs, tmp_path):
    _, teacher = runs
    cfg = resolve({**TEXT, **KD, "teacher": {"run": str(teacher.root)}})
    whole, _ = run_config(cfg, tmp_path / "whole", **quiet)
    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path / "parts", hooks=[stop_after(2)], **quiet)
    parts, _ = run_config(cfg, tmp_path / "parts", **quiet)
    a, b = load_file(str(whole.final_weights)), load_file(str(parts.final_weights))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    with np.load(whole.prediction_path(13)) as pa, np.load(parts.prediction_path(13)) as pb:
        assert np.array_equal(pa["logits"], pb["logits"])


def test_missing_model_folder_is_one_line(runs, fails, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**TEXT, "name": "x"}))
    err = fails("run", config, "--out", tmp_path / "out", "model.name=roberta-small", f"model.path={tmp_path / 'nowhere'}",
                "model.vocab_size=null", match="no folder")
    assert "config.json" in err and "model.safetensors" in err
    assert not (tmp_path / "out" / "x" / "checkpoints").exists()


def test_tokenizer_model_vocabulary_mismatch_is_one_line(runs, fails, tmp_path):
    out, teacher = runs
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**TEXT, "name": "x"}))
    fails("run", config, "--out", tmp_path / "out", "model.vocab_size=100", match="embeds only 100")
    # A teacher that learnt from another tokenizer's ids (a smaller trained vocabulary here): the
    # sizes fit, the ids mean other words.
    config.write_text(yaml.safe_dump({**TEXT, **KD, "teacher": {"run": str(teacher.root)}}))
    fails("run", config, "--out", tmp_path / "out", "data.vocab_size=300", match="of another tokenizer")


def test_steps_and_epochs_together_are_refused(fails, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**TEXT, "name": "x"}))
    fails("run", config, "--out", tmp_path / "out", "train.epochs=3", match="give train.steps or train.epochs")


def test_every_command_takes_a_text_run(runs, cli, tmp_path):
    """complexity (of a student run and of an untrained registered model), the per-sample tables and
    the overview report read a text run as they read an image run."""
    out, teacher = runs
    code, stdout, err = cli("complexity", "--teacher", teacher.root, "--student-model", "roberta-tiny", "--n", 16,
                            "--out", tmp_path / "c1", "--json")
    assert code == 0, err
    first = json.loads(stdout)
    code, stdout, err = cli("complexity", "--teacher", teacher.root, "--student", teacher.root, "--n", 16,
                            "--out", tmp_path / "c2", "--json")
    assert code == 0, err
    second = json.loads(stdout)
    for report in (first, second):
        assert report["n"] == 16 and all(np.isfinite(v) for v in _numbers(report["data"] if "data" in report else report))
    code, stdout, err = cli("analyze", "--teacher", teacher.root, "--student", teacher.root, "--per-sample",
                            tmp_path / "samples.csv", "--no-figures", "--json")
    assert code == 0, err
    assert len((tmp_path / "samples.csv").read_text().splitlines()) == 1 + 160 + 48  # train and test samples
    code, stdout, err = cli("report", out, "--out", tmp_path / "report", "--json")
    assert code == 0, err
    assert json.loads(stdout)["runs"] >= 1 and (tmp_path / "report" / "overview.html").is_file()


def _numbers(value):
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    return []
