"""Where runs are: a relative teacher.run is looked up in the output folder first (as in plans), then
from the working directory."""

import json
from pathlib import Path

import pytest

from kdlab.errors import RunError
from kdlab.records import OutDir, RunDir

CONFIGS = Path(__file__).parents[2] / "configs"
SMALL = ["train.epochs=1", "data.train_size=64", "record.checkpoint_every_epochs=1"]


def test_find_looks_in_the_output_folder_first_then_from_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out" / "t").mkdir(parents=True)
    (tmp_path / "t").mkdir()
    (tmp_path / "elsewhere").mkdir()
    assert OutDir("out").find("t") == RunDir(Path("out") / "t")
    assert OutDir("out").find("elsewhere") == RunDir(Path("elsewhere"))
    assert OutDir("out").find(str(tmp_path / "t")) == RunDir(tmp_path / "t")
    with pytest.raises(RunError, match=r"teacher run nowhere does not exist \(looked for out/nowhere or nowhere\)"):
        OutDir("out").find("nowhere")


def test_out_carries_over_to_the_shipped_students_teacher(tmp_path, monkeypatch, cli):
    """The issue's case: the digits teacher and its KD student, both with --out runs/x."""
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", CONFIGS / "digits" / "teacher.yaml", "--out", "runs/x", "--no-progress", *SMALL)
    assert code == 0, err
    code, out, err = cli("run", CONFIGS / "digits" / "student_kd.yaml", "--out", "runs/x", "--no-progress", "--json",
                         *SMALL)
    assert code == 0, err
    student = RunDir(Path(json.loads(out)["run"]))
    assert student.info().teacher_run == str((tmp_path / "runs" / "x" / "digits_teacher").resolve())
    assert student.config().teacher.run == "digits_teacher"  # the config keeps what was written
    # the same student in another output folder, without a teacher there or in the cwd: one line naming both
    code, _, err = cli("run", CONFIGS / "digits" / "student_kd.yaml", "--out", "runs/y", "--no-progress", *SMALL)
    assert code == 2 and err.count("\n") == 1
    assert "teacher run digits_teacher does not exist (looked for runs/y/digits_teacher or digits_teacher)" in err
    assert not (tmp_path / "runs" / "y" / "digits_student_kd").exists()  # a failed start leaves no run behind


def test_typed_records_name_the_damaged_field(tmp_path, finished):
    run = RunDir(finished)
    info = json.loads(run.info_path.read_text())
    del info["num_classes"]
    run.info_path.write_text(json.dumps(info))
    with pytest.raises(RunError, match=r"run.json lacks 'num_classes'; the run's records are damaged"):
        run.info()
    summary = json.loads(run.summary_path.read_text())
    summary["test_acc"] = "high"
    run.summary_path.write_text(json.dumps(summary))
    with pytest.raises(RunError, match=r"summary.json has a bad 'test_acc'"):
        run.summary()
