"""benchmarks/gpu.sh: the paper-scale GPU benchmark. Its --dry-run runs every path on the CPU at tiny
sizes, so the script cannot rot before a GPU runs it; the host-sync check, which only a GPU can
trip, is driven here by a stand-in for torch's sync-debug mode."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["fp32", "bf16", "bf16+compile"]  # gpu.py's default
EXPECTED = (["matmul/fp32", "matmul/bf16", "ntk/kdlab", "ntk/reference"]
            + [f"kd/{who}/{v}" for v in VARIANTS for who in ("reference", "kdlab") if who == "kdlab" or "+" not in v]
            + [f"cached/{who}/{p}" for p in ("fp32", "bf16") for who in ("reference", "kdlab")]
            + [f"text/{who}/{p}" for p in ("fp32", "bf16") for who in ("reference", "kdlab", "kdlab-cached")]
            + ["projection/bf16", "projection/best"])


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    out = tmp / "gpu.json"
    env = {**os.environ, "KDLAB_CACHE": str(tmp / "cache")}
    proc = subprocess.run(["bash", "benchmarks/gpu.sh", "--dry-run", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(out.read_text()), proc.stdout


def test_every_row_is_in_the_table_and_the_json_with_a_positive_rate(dry_run):
    result, printed = dry_run
    rows = {r["id"]: r for r in result["rows"]}
    assert list(rows) == EXPECTED
    assert result["dry_run"] is True and result["size"]["batch"] == 8
    for r in rows.values():
        assert r["status"] == "ok", r  # nothing synchronises with a device on a CPU, and every path works
        assert r["value"] > 0, r
        assert r["label"] in printed  # one table, every row
    for r in rows.values():
        if r["id"].split("/")[0] in ("kd", "cached", "text", "ntk"):
            assert r["flops"] > 0 and 0 < r["gemm_fraction"] and r["achieved_tflops"] > 0, r
        if "/kdlab" in r["id"] or r["id"] == "ntk/kdlab":
            assert rows[r["reference"]]["value"] > 0 and r["vs_reference"] > 0, r
    assert rows["kd/kdlab/bf16+compile"]["reference"] == "kd/reference/bf16"  # the eager reference by default
    for kind in ("kd", "text"):  # the reference's work is kdlab's with the teacher every step; cached, the student's
        assert rows[f"{kind}/reference/fp32"]["flops"] == rows[f"{kind}/kdlab/fp32"]["flops"]
    assert rows["kd/kdlab/fp32"]["flops"] > rows["cached/kdlab/fp32"]["flops"] == rows["cached/reference/fp32"]["flops"]
    assert rows["text/kdlab/fp32"]["flops"] > rows["text/kdlab-cached/fp32"]["flops"]
    assert set(result["gemm_flops"]) == {"fp32", "bf16"} and min(result["gemm_flops"].values()) > 0
    assert "DRY RUN" in printed


def test_the_projection_is_computed_from_the_measured_rate(dry_run):
    result, _ = dry_run
    rows = {r["id"]: r for r in result["rows"]}
    images = 50_000 * 450
    kd = {i: r for i, r in rows.items() if i.startswith("kd/kdlab/")}
    best = max(kd.values(), key=lambda r: r["value"])
    for key, source in (("bf16", rows["kd/kdlab/bf16"]), ("best", best)):
        p = rows[f"projection/{key}"]
        assert p["rate_from"] == source["id"] and p["rate"] == source["value"]
        assert p["seconds"] == pytest.approx(images / source["value"], rel=1e-12)
        assert p["value"] == pytest.approx(p["seconds"] / 60, rel=1e-12) and p["unit"] == "min"
        assert p["goal_rate"] == pytest.approx(images / (15 * 60)) == 25_000
        assert p["meets_goal"] == (source["value"] >= 25_000)


@pytest.fixture
def gpu(monkeypatch):
    """benchmarks/gpu.py with a stand-in for torch.cuda.set_sync_debug_mode that a CPU step can read."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = importlib.import_module("gpu")
    mode = {"now": "default", "set": []}

    @contextmanager
    def sync_debug(device, m):
        mode["now"] = m
        mode["set"].append(m)
        try:
            yield
        finally:
            mode["now"] = "default"

    monkeypatch.setattr(module, "sync_debug", sync_debug)
    yield module, mode
    for name in set(sys.modules) - before:  # benchmarks/' modules (gpu, train_step, ...) are not packages
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(ROOT / "benchmarks")):
            del sys.modules[name]


def _timed(mode, waits_for_host):
    from train_step import time_steps

    def host_wait():  # stands for a CUDA operation that makes the host wait, as torch reports one
        if waits_for_host and mode["now"] == "error":
            raise RuntimeError("called a synchronizing CUDA operation")
        if waits_for_host and mode["now"] == "warn":
            warnings.warn("called a synchronizing CUDA operation")

    def timed(steps=3, warmup=1, check=nullcontext):
        return time_steps(lambda epoch: range(4), lambda b: host_wait(), 2, steps, warmup, torch.device("cpu"), check)

    return timed


def test_a_step_that_synchronises_is_reported_where_and_timed_again(gpu):
    module, mode = gpu
    row = module.strictly(_timed(mode, waits_for_host=True), torch.device("cpu"))
    assert row["status"].startswith("synchronises: called a synchronizing CUDA operation (at ")
    assert "host_wait" in row["status"] and "test_gpu_dry_run.py" in row["status"]
    assert len(row["sync_sites"]) == 1 and "host_wait" in row["sync_sites"][0] and row["sync_sites"][0].endswith("(x2)")
    assert row["value"] > 0  # timed again without the check
    assert mode["set"] == ["error", "warn"] and mode["now"] == "default"


def test_a_step_without_host_syncs_is_timed_under_the_check(gpu):
    module, mode = gpu
    row = module.strictly(_timed(mode, waits_for_host=False), torch.device("cpu"))
    assert row["status"] == "ok" and row["value"] > 0 and "sync_sites" not in row
    assert mode["set"] == ["error"]


def test_the_check_is_only_around_the_timed_steps(gpu):
    module, mode = gpu
    seen = []
    from train_step import time_steps

    time_steps(lambda epoch: range(3), lambda b: seen.append(mode["now"]), 1, 2, 3, torch.device("cpu"),
               check=lambda: module.sync_debug(torch.device("cpu"), "error"))
    assert seen == ["default"] * 3 + ["error"] * 2 and mode["now"] == "default"


def test_a_failing_row_is_a_result_and_the_rest_go_on(gpu):
    module, _ = gpu
    bench = module.Bench(torch.device("cpu"), module.DRY, ["fp32"], False, False)

    def broken():
        raise ValueError("no such thing")

    bench.add("x/broken", "s", "broken", broken)
    bench.add("x/fine", "s", "fine", lambda: {"value": 1.0, "unit": "s"})
    assert bench.rows[0]["status"].startswith("failed: ValueError: no such thing (at ")
    assert bench.rows[0]["value"] is None and bench.rows[1]["status"] == "ok"


def test_the_plain_gpu_crop_flip_is_a_padded_crop_flipped_or_not(gpu):
    module, _ = gpu
    torch.manual_seed(0)
    images = torch.randint(1, 256, (64, 3, 6, 5), dtype=torch.uint8)
    out = module.shifted_crops(images, padding=2)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    flips = 0
    for img, src in zip(out, padded):
        crops = {(dy, dx, f) for dy in range(5) for dx in range(5) for f in (0, 1)
                 if torch.equal(img, src[:, dy : dy + 6, dx : dx + 5].flip(-1) if f else src[:, dy : dy + 6, dx : dx + 5])}
        assert crops, "not a crop of the zero-padded image"
        flips += all(f for _, _, f in crops)
    assert 10 < flips < 54  # about half flipped
