"""`kdlab reproduce --executor ray` on a local Ray instance that the test starts."""

import json

import pytest
import yaml

from kdlab.cli import main

ray = pytest.importorskip("ray")

BASE = {"data": {"name": "digits", "train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 2, "batch_size": 32, "lr": 0.1}}
KD = {"terms": {"kd": {"weight": 1.0, "temperature": 4.0}}}
PLAN = {"runs": {"teacher": BASE,
                 "s1": {**BASE, "seed": 1, "loss": KD, "teacher": {"run": "teacher"}},
                 "s2": {**BASE, "seed": 2, "loss": KD, "teacher": {"run": "teacher"}}}}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def reproduce(capsys, *args):
    code = main(["reproduce", *map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def test_a_plan_runs_as_ray_tasks_and_is_reused_by_either_executor(tmp_path, capsys, local_ray, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them: the tasks work in this folder
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(PLAN))
    code, result, err = reproduce(capsys, "plan.yaml", "--executor", "ray", "--out", "runs")
    assert code == 0, err
    assert err.count("trained ") == 3 and set(result["runs"]) == {"teacher", "s1", "s2"}
    assert err.index("trained runs/teacher") < min(err.index("trained runs/s1"), err.index("trained runs/s2"))
    for name, r in result["runs"].items():
        assert r["run"] == f"runs/{name}" and (tmp_path / "runs" / name / "summary.json").is_file()
    # the students read the teacher the plan trained
    assert json.loads((tmp_path / "runs/s1/run.json").read_text())["teacher_run"] == str(tmp_path / "runs/teacher")

    code, again, err = reproduce(capsys, "plan.yaml", "--executor", "ray", "--out", "runs")
    assert code == 0 and err.count("reusing finished run") == 3
    assert {n: r["test_acc"] for n, r in again["runs"].items()} == {n: r["test_acc"] for n, r in result["runs"].items()}
    code, _, err = reproduce(capsys, "plan.yaml", "--out", "runs")  # the same run directories, locally
    assert code == 0 and err.count("reusing finished run") == 3


def test_a_failing_run_is_one_line_naming_it_and_its_students_do_not_start(tmp_path, capsys, local_ray):
    broken = {"runs": {**PLAN["runs"], "teacher": {**BASE, "data": {"name": "cifar10", "root": str(tmp_path / "nowhere")}}}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(broken))
    code, _, err = reproduce(capsys, tmp_path / "plan.yaml", "--executor", "ray", "--out", tmp_path / "runs")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("kdlab: error: run 'teacher': ") and "nowhere" in err
    assert not (tmp_path / "runs" / "s1").exists()


def test_executor_options_belong_to_their_executor(tmp_path, capsys):
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(PLAN))
    for args, message in [(["--executor", "ray", "--jobs", "2"], "unknown option '--jobs' for executor 'ray'; valid options: --address, --cpus-per-run"),
                          (["--address", "auto"], "unknown option '--address' for executor 'local'; valid options: --jobs"),
                          (["--executor", "slurm"], "unknown executor 'slurm'"),
                          (["--executor", "ray", "--cpus-per-run", "0"], "option '--cpus-per-run' of executor 'ray': Input should be greater than 0"),
                          (["--executor", "ray", "--address", "127.0.0.1:1"], "no Ray cluster answers at 127.0.0.1:1"),
                          (["--executor", "ray", "--address", "head"], "--address head is not HOST:PORT")]:
        code, _, err = reproduce(capsys, tmp_path / "plan.yaml", *args, "--out", tmp_path / "runs")
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()
