"""Class 5: every error the user's input or files cause is one line naming the file or key."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.plugin import install_plugin
from tests.formats import cifar_batch, idx_bytes, write_cifar, write_mnist, write_tinyimagenet

from .conftest import TINY, write_yaml


# --- configs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("content,match", [
    ("name: caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
    ("name: a\n".encode("utf-16"), "is not UTF-8 text"),
    (b"a: " + b"[" * 5000 + b"]" * 5000, "nests"),
    (b"a: " + b"{b: " * 3000 + b"1" + b"}" * 3000, "nests"),
    (b"- 1\n- 2\n", "must hold a mapping of config keys, got list"),
    (b"train: {lr: [unclosed\n", "is not valid YAML"),
    (b"\x00\x01\x02", "is not valid YAML"),
])
def test_malformed_config_files(tmp_path, fails, content, match):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    fails("run", path, "--out", tmp_path / "out", match=match)


def test_a_yaml_alias_bomb_is_refused_without_echoing_it(tmp_path, fails):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i, prev in zip("bcdefghij", "abcdefghi"):
        lines.append(f"{i}: &{i} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    err = fails("run", path, "--out", tmp_path / "out", match="expands to more than 100,000 values")
    assert len(err) < 300


def test_a_missing_config_and_a_folder_as_config(tmp_path, fails):
    fails("run", tmp_path / "nope.yaml", match="does not exist")
    fails("run", tmp_path, match="(it is a folder)")


@pytest.mark.parametrize("plan,match", [
    ({"runs": {"a": "hello"}}, "run 'a' must be a mapping of config keys, got str"),
    ({"runs": [1, 2]}, "'runs' must map run names to run configs"),
    ({"runs": {"a": {}}, "report": 3}, "a report must be a mapping with a 'name'"),
    ({"runs": {"a": {}}, "reports": "c4"}, "'reports' must be a list"),
    ({"runs": {"a": {}}, "scales": 5}, "'scales' must map scale names"),
    ({"runs": {"a": {}}, "scales": {"cpu": "x"}}, "scales.cpu must be a list of key=value overrides"),
    ({"runs": {"a": {"teacher": "b"}}}, "run 'a': config key 'teacher'"),
    ({"runs": {"a": {"teacher": {"run": ["x"]}}}}, "run 'a': config key 'teacher.run'"),
    ({"runs": {"a": {"seeds": "1,2"}}}, "seeds must be a list of distinct integers"),
    ({"runs": {"a": {}}, "report": {"name": "nope"}}, "unknown report 'nope'"),
])
def test_plans_of_the_wrong_shape(tmp_path, fails, plan, match):
    fails("reproduce", write_yaml(tmp_path / "p.yaml", plan), "--out", tmp_path / "out", match=match)


def test_usage_mistakes_are_one_line(fails):
    fails("run", match="the following arguments are required: config")
    fails("frobnicate", match="invalid choice")
    fails("analyze", "--teacher", "x", match="required: --student")


# --- output and cache folders ------------------------------------------------------------------

def test_out_that_is_a_file_or_cannot_be_made(tmp_path, fails):
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    (tmp_path / "file").write_text("x")
    fails("run", cfg, "--out", tmp_path / "file", match="file")
    fails("run", cfg, "--out", "/proc/kdlab-cannot-be-here", match="kdlab-cannot-be-here")


def test_a_full_disk_is_one_line(tmp_path, fails, monkeypatch):
    import errno

    from kdlab import io

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "out"))

    monkeypatch.setattr(io.tempfile, "mkstemp", full)
    cfg = write_yaml(tmp_path / "c.yaml", TINY)
    fails("run", cfg, "--out", tmp_path / "out", match="No space left on device")


def test_an_unusable_cache_folder(tmp_path, fails, monkeypatch):
    (tmp_path / "cache").write_text("a file, not a folder")
    monkeypatch.setenv("KDLAB_CACHE", str(tmp_path / "cache"))
    write_tinyimagenet(tmp_path)
    fails("data", "inspect", "tinyimagenet", "--root", tmp_path / "tiny-imagenet-200", match="cache")


# --- datasets ----------------------------------------------------------------------------------

def _cifar_folder(tmp_path, test_labels):
    folder = write_cifar(tmp_path, as_tar=False)
    batch = pickle.loads(cifar_batch(8, 10, "labels", np.random.default_rng(0)))
    batch[b"labels"] = test_labels
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    return folder


@pytest.mark.parametrize("labels,match", [
    ([10] * 8, "labels outside 0..9"),
    ([-1] * 8, "labels outside 0..9"),
    (["cat"] * 8, "'labels' must be a list of integer class ids"),
    ([0.5] * 8, "'labels' must be a list of integer class ids"),
    ([[1, 2]] * 8, "'labels' must be a list of integer class ids"),
])
def test_cifar_test_labels(tmp_path, fails, labels, match):
    fails("data", "inspect", "cifar10", "--root", _cifar_folder(tmp_path, labels), match=match)


def test_idx_headers_that_overflow_or_disagree(tmp_path, fails):
    root = write_mnist(tmp_path / "m")
    huge = b"\x00\x00\x08\x03" + (0xFFFFFFFF).to_bytes(4, "big") * 3 + b"\x00" * 64
    (root / "train-images-idx3-ubyte").write_bytes(huge)
    fails("data", "inspect", "mnist", "--root", root, match="header says (4294967295, 4294967295, 4294967295)")
    root = write_mnist(tmp_path / "n")
    (root / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((10, 20, 20))))
    fails("data", "inspect", "mnist", "--root", root, match="train inputs are (1, 28, 28), test inputs (1, 20, 20)")
    root = write_mnist(tmp_path / "e", n_test=0)
    fails("data", "inspect", "mnist", "--root", root, match="the test split is empty")


@pytest.mark.parametrize("side,match", [(5000, "expected a 64x64 image, got 5000x5000"),
                                        (20000, "DecompressionBombError")])
def test_a_huge_image_header_is_refused_before_decoding(tmp_path, fails, side, match):
    base = write_tinyimagenet(tmp_path)
    path = next((base / "train" / "n01" / "images").glob("*.JPEG"))
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = side.to_bytes(2, "big") * 2  # height, width
    path.write_bytes(bytes(data))
    fails("data", "inspect", "tinyimagenet", "--root", base, match=match)


# --- damaged records of a finished run ---------------------------------------------------------

def _damage(finished, what):
    if what == "truncated predictions":
        p = next((finished / "predictions").glob("*.npz"))
        p.write_bytes(p.read_bytes()[:300])
    elif what == "crc-damaged predictions":
        p = next((finished / "predictions").glob("*.npz"))
        data = bytearray(p.read_bytes())
        mid = len(data) // 2
        data[mid:mid + 16] = bytes(16)
        p.write_bytes(bytes(data))
    elif what == "summary not an object":
        (finished / "summary.json").write_text("[1, 2]")
    elif what == "summary not json":
        (finished / "summary.json").write_text("{oops")
    elif what == "run.json not an object":
        (finished / "run.json").write_text("3")
    elif what == "metrics not json":
        (finished / "metrics.jsonl").write_text("{}\nnot json\n")
    elif what == "config not a run config":
        (finished / "config.yaml").write_text("- just\n- a list\n")


DAMAGES = ["truncated predictions", "crc-damaged predictions", "summary not an object", "summary not json",
           "run.json not an object", "metrics not json", "config not a run config"]


@pytest.mark.parametrize("what", ["truncated predictions", "crc-damaged predictions"])
def test_analyze_a_damaged_run(tmp_path, fails, finished, what):
    _damage(finished, what)  # analyze reads the predictions alone
    fails("analyze", "--teacher", finished, "--student", finished, "--no-figures", match="predictions")


@pytest.mark.parametrize("what", ["summary not an object", "summary not json", "run.json not an object",
                                  "config not a run config"])
def test_run_again_over_a_damaged_run(tmp_path, fails, finished, what):
    _damage(finished, what)
    fails("run", tmp_path / "tiny.yaml", "--out", finished.parent, match=str(finished))


@pytest.mark.parametrize("what", DAMAGES)
def test_complexity_of_a_damaged_run(tmp_path, cli, finished, what):
    _damage(finished, what)
    code, _, err = cli("complexity", "--teacher", finished, "--student-model", "mlp", "--n", "8", "--out", tmp_path / "c")
    assert (code == 0 and err == "") or (code == 2 and err.count("\n") == 1 and "Traceback" not in err), err


def test_a_resume_from_a_state_with_the_wrong_content(tmp_path, fails, finished):
    (finished / "summary.json").unlink()
    torch.save({"epoch": "one", "step": 3}, finished / "checkpoints" / "state.pt")
    fails("run", tmp_path / "tiny.yaml", "--out", finished.parent, match="lacks a valid 'epoch'")
    torch.save({"epoch": 1, "step": 2, "elapsed": 0.5, "optimizer": {"state": {}, "param_groups": []},
                "rng": torch.get_rng_state()}, finished / "checkpoints" / "state.pt")
    fails("run", tmp_path / "tiny.yaml", "--out", finished.parent, match="does not fit this run")


@pytest.mark.parametrize("what", DAMAGES)
def test_reproduce_over_a_damaged_run(tmp_path, cli, finished, what):
    _damage(finished, what)
    plan = write_yaml(tmp_path / "p.yaml", {"runs": {"tiny": {k: v for k, v in TINY.items() if k != "name"}}})
    code, _, err = cli("reproduce", plan, "--out", finished.parent, "--no-progress")
    assert code in (0, 2) and "Traceback" not in err and (code == 0 or err.count("\n") == 1), err


# --- a killed --jobs worker --------------------------------------------------------------------

SUICIDE = '''
import os, signal
from kdlab.models import MODELS


@MODELS.register("dies")
def dies(num_classes, input_shape):
    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_killed_worker_is_one_line(tmp_path):
    env = install_plugin(tmp_path / "site", "kdlab_dies", SUICIDE)
    body = {k: v for k, v in TINY.items() if k != "name"}
    plan = write_yaml(tmp_path / "p.yaml", {"runs": {"ok": body, "bad": {**body, "model": {"name": "dies"}}}})
    proc = subprocess.run([sys.executable, "-m", "kdlab.cli", "reproduce", plan, "--out", str(tmp_path / "r"),
                           "--jobs", "2", "--no-progress"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "a worker process died while training" in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.parametrize("report,match", [
    ({"name": "c5", "teacher": "a", "student": "a"}, "has no summary of probe 'channel_alignment'"),
    ({"name": "c4", "teacher": "a", "student": "a"}, "has no record of probe 'eigen_projections'"),
    ({"name": "c4", "teacher": "a", "student": "zz"}, "the report names run 'zz', not among its runs: a"),
])
def test_a_plan_report_over_runs_without_its_records(tmp_path, fails, report, match):
    body = {k: v for k, v in TINY.items() if k != "name"}
    plan = write_yaml(tmp_path / "p.yaml", {"runs": {"a": body}, "report": report})
    fails("reproduce", plan, "--out", tmp_path / "r", "--no-progress", match=match)


def test_stray_files_in_a_run_directory_are_ignored(tmp_path, cli, finished):
    (finished / "predictions" / "step_notes.npz").write_text("mine")
    (finished / "checkpoints" / "epoch_x.safetensors").write_text("mine")
    code, _, err = cli("analyze", "--teacher", finished, "--student", finished, "--no-figures")
    assert code == 0, err
