"""Every user mistake: one line on stderr, exit status 2, nothing overwritten."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kdlab.cli import main
from tests.formats import write_cifar

TINY = {
    "name": "tiny",
    "data": {"name": "digits", "train_size": 64},
    "model": {"name": "mlp", "hidden": [16]},
    "train": {"epochs": 1, "batch_size": 32},
}


def _write(path: Path, cfg: dict) -> str:
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _fails(capsys, argv, match):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("kdlab: error:"), err
    assert "Traceback" not in err
    assert match in err, err
    return err


@pytest.fixture
def finished_run(tmp_path, capsys):
    cfg = _write(tmp_path / "tiny.yaml", TINY)
    assert main(["run", cfg, "--out", str(tmp_path / "runs"), "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    return Path(out["run"])


def test_run_json(finished_run):
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["epochs"] == 1 and 0 <= summary["test_acc"] <= 1


def test_unknown_config_key(tmp_path, capsys):
    cfg = _write(tmp_path / "c.yaml", {**TINY, "trian": {}})
    _fails(capsys, ["run", cfg, "--out", str(tmp_path)], "unknown config key 'trian'; valid keys here: name, seed")
    assert not (tmp_path / "tiny").exists()


def test_unknown_override_key(tmp_path, capsys):
    cfg = _write(tmp_path / "c.yaml", TINY)
    _fails(capsys, ["run", cfg, "--out", str(tmp_path), "train.lrate=3"], "unknown config key 'train.lrate'")


def test_unknown_model(tmp_path, capsys):
    cfg = _write(tmp_path / "c.yaml", {**TINY, "model": {"name": "resnet21"}})
    _fails(capsys, ["run", cfg], "unknown model 'resnet21'")


def test_unknown_dataset(tmp_path, capsys):
    cfg = _write(tmp_path / "c.yaml", {**TINY, "data": {"name": "cifar11"}})
    _fails(capsys, ["run", cfg], "unknown dataset 'cifar11' (did you mean 'cifar10'?)")
    _fails(capsys, ["data", "inspect", "imagenet"], "unknown dataset 'imagenet'")


def test_missing_dataset_files(tmp_path, capsys):
    _fails(capsys, ["data", "inspect", "cifar10", "--root", str(tmp_path)], "cifar-10-python.tar.gz")
    _fails(capsys, ["data", "inspect", "mnist", "--root", str(tmp_path)], "train-images-idx3-ubyte")
    _fails(capsys, ["data", "inspect", "tinyimagenet", "--root", str(tmp_path)], "wnids.txt")
    cfg = _write(tmp_path / "c.yaml", {**TINY, "data": {"name": "cifar10", "root": str(tmp_path / "nope")}})
    _fails(capsys, ["run", cfg, "--out", str(tmp_path / "runs")], "no CIFAR data at")


def test_corrupt_dataset(tmp_path, capsys):
    archive = write_cifar(tmp_path, "cifar10")
    archive.write_bytes(archive.read_bytes()[:500])
    _fails(capsys, ["data", "inspect", "cifar10", "--root", str(archive)], "not a readable .tar.gz archive")


def test_teacher_that_does_not_fit(tmp_path, capsys, finished_run):
    student = {**TINY, "name": "s", "data": {"name": "synthetic-channels", "num_train": 32, "num_test": 8},
               "loss": {"kd_weight": 1.0, "onehot_weight": 0.0}, "teacher": {"run": str(finished_run)}}
    cfg = _write(tmp_path / "s.yaml", student)
    _fails(capsys, ["run", cfg, "--out", str(tmp_path / "runs")], "the student's data has 10 classes and inputs (10, 100)")


def test_checkpoint_that_does_not_exist(tmp_path, capsys, finished_run):
    student = {**TINY, "name": "s", "loss": {"kd_weight": 1.0, "onehot_weight": 0.0},
               "teacher": {"run": str(finished_run), "checkpoint": 7}}
    cfg = _write(tmp_path / "s.yaml", student)
    _fails(capsys, ["run", cfg, "--out", str(tmp_path / "runs")], "has no checkpoint of epoch 7; kept epochs: [1]")
    assert not (tmp_path / "runs" / "s").exists()  # a failed setup claims nothing
    cfg = _write(tmp_path / "s2.yaml", {**student, "teacher": {"run": str(tmp_path / "missing")}})
    _fails(capsys, ["run", cfg, "--out", str(tmp_path / "runs")], "does not exist")


def test_checkpoint_of_another_architecture(tmp_path, capsys, finished_run):
    # Swap the teacher's weights for another model's: loading must refuse, naming the file.
    from kdlab.models import build_model
    from kdlab.records import save_weights

    save_weights(finished_run / "checkpoints" / "final.safetensors", build_model("mlp", 10, (1, 8, 8), {"hidden": [8, 8]}))
    student = {**TINY, "name": "s", "loss": {"kd_weight": 1.0, "onehot_weight": 0.0}, "teacher": {"run": str(finished_run)}}
    cfg = _write(tmp_path / "s.yaml", student)
    _fails(capsys, ["run", cfg, "--out", str(tmp_path / "runs")], "is for another architecture")


def test_existing_run_with_other_config_is_not_overwritten(tmp_path, capsys, finished_run):
    before = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    cfg = _write(tmp_path / "tiny.yaml", TINY)
    _fails(capsys, ["run", cfg, "--out", str(finished_run.parent), "seed=5"], "already holds a run with a different config")
    after = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    assert before == after


def test_data_inspect_json(capsys):
    assert main(["data", "inspect", "digits", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"name", "num_classes", "input_shape", "splits", "checksum"}
    assert report["input_shape"] == [1, 8, 8]
    assert sum(report["splits"]["train"]["label_counts"]) == report["splits"]["train"]["size"] == 1347


def test_demo_numbers_come_from_the_seed(tmp_path, capsys):
    small = ["train.epochs=1", "data.train_size=128", "model.name=mlp"]
    runs = {}
    for seed in (0, 1):
        assert main(["demo", "--out", str(tmp_path / str(seed)), "--seed", str(seed), "--json", "--no-progress", *small]) == 0
        runs[seed] = json.loads(capsys.readouterr().out)["runs"]
    assert set(runs[0]) == {"teacher", "student_onehot", "student_kd"}
    assert runs[0]["teacher"]["seed"] == 0 and runs[0]["student_kd"]["seed"] == 1
    assert runs[0]["student_kd"]["test_acc"] != runs[1]["student_kd"]["test_acc"]


def test_console_script_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kdlab.cli", "data", "inspect", "cifar100", "--root", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_bad_option_values_and_missing_report_folder(tmp_path, capsys):
    _fails(capsys, ["data", "inspect", "synthetic-channels", "num_train=abc"], "option 'num_train' of dataset 'synthetic-channels'")
    cfg = _write(tmp_path / "c.yaml", {**TINY, "model": {"name": "mlp", "hidden": "wide"}})
    _fails(capsys, ["run", cfg, "--out", str(tmp_path / "runs")], "option 'hidden' of model 'mlp': Input should be a valid list")
    _fails(capsys, ["report", str(tmp_path / "nothing")], "is not a folder")
    assert not (tmp_path / "nothing").exists()


def test_reuse_flag_offers_what_the_records_accept():
    from kdlab.cli import build_parser
    from kdlab.records import REUSE

    for command in (["run", "x.yaml"], ["demo"], ["reproduce", "x.yaml"]):
        for choice in REUSE:
            assert build_parser().parse_args([*command, "--reuse", choice]).reuse == choice
        with pytest.raises(SystemExit):
            build_parser().parse_args([*command, "--reuse", "always"])
