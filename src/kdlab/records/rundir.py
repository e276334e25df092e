"""A run on disk (SPEC §9): what lives where, and how a run directory is claimed, resumed or reused.

<out>/<run>/config.yaml  resolved config        run.json        code version, shapes, config hash
            metrics.jsonl one row per epoch     summary.json    final numbers; written last, marks a finished run
            checkpoints/epoch_<E>.safetensors (weights), state.pt (latest optimizer/schedule/RNG state),
                        final.safetensors
            predictions/step_<S>.npz            figures/
"""

from __future__ import annotations

import hashlib
import platform
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig, read_stored_config
from ..errors import KdlabError, RunError
from ..io import DAMAGED_NPZ_ERRORS, code_version, read_json_object, write_json, write_text
from .lock import is_bookkeeping

_EPOCH_FILE = re.compile(r"epoch_(\d+)\.safetensors$")
_STEP_FILE = re.compile(r"step_(\d+)\.npz$")


@dataclass
class RunDir:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)

    config_path = property(lambda self: self.root / "config.yaml")
    info_path = property(lambda self: self.root / "run.json")
    metrics_path = property(lambda self: self.root / "metrics.jsonl")
    summary_path = property(lambda self: self.root / "summary.json")
    checkpoints = property(lambda self: self.root / "checkpoints")
    predictions = property(lambda self: self.root / "predictions")
    figures = property(lambda self: self.root / "figures")
    state_path = property(lambda self: self.checkpoints / "state.pt")
    final_weights = property(lambda self: self.checkpoints / "final.safetensors")
    probes_state_path = property(lambda self: self.checkpoints / "probes.npz")

    def probe_record(self, name: str) -> Path:
        return self.root / "probes" / f"{name}.npz"

    def probe_array(self, probe: str, key: str) -> np.ndarray:
        """One array of a probe's record (probes/<probe>.npz), or a one-line RunError."""
        path = self.probe_record(probe)
        if not path.is_file():
            raise RunError(f"run {self.root} has no record of probe '{probe}'; train it with record.probes: [{probe}]")
        try:
            with np.load(path, allow_pickle=False) as z:
                return z[key]
        except DAMAGED_NPZ_ERRORS as e:
            raise RunError(f"{path} is not a readable probe record ({type(e).__name__}); the run's records are damaged") from None

    def probe_summary(self, probe: str) -> dict:
        """A probe's numbers in summary.json, or a one-line RunError."""
        found = self.summary().get("probes", {})
        if not isinstance(found, dict) or not isinstance(found.get(probe), dict):
            raise RunError(f"run {self.root} has no summary of probe '{probe}'; train it with record.probes: [{probe}]")
        return found[probe]

    def weights_path(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:04d}.safetensors"

    def objective_path(self, epoch: int | str) -> Path:
        """Parameters of the loss terms (e.g. a FitNets regressor), kept beside the weights of `epoch`."""
        return self.checkpoints / (f"objective_epoch_{epoch:04d}.safetensors" if isinstance(epoch, int)
                                   else f"objective_{epoch}.safetensors")

    def prediction_path(self, step: int) -> Path:
        return self.predictions / f"step_{step}.npz"

    def checkpoint_epochs(self) -> list[int]:
        if not self.checkpoints.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.checkpoints.iterdir() if (m := _EPOCH_FILE.match(p.name)))

    def prediction_steps(self) -> list[int]:
        if not self.predictions.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.predictions.iterdir() if (m := _STEP_FILE.match(p.name)))

    @property
    def finished(self) -> bool:
        return self.summary_path.is_file()

    def config(self) -> RunConfig:
        """The config as saved: read by the schema alone, so a run of a model, dataset or loss term
        that this process has not registered (given as an object, or a plugin) reads back too."""
        if not self.config_path.is_file():
            raise RunError(f"{self.root} is not a kdlab run directory (no config.yaml)")
        return read_stored_config(self.config_path)

    def uses_teacher(self) -> bool:
        """Whether the run learnt from a teacher (recorded at its start)."""
        return self.info().get("teacher_run") is not None

    def info(self) -> dict:
        if not self.info_path.is_file():
            raise RunError(f"{self.root} is not a kdlab run directory (no run.json)")
        return read_json_object(self.info_path, ("num_classes", "input_shape"))

    def summary(self) -> dict:
        if not self.finished:
            raise RunError(f"run {self.root} has not finished (no summary.json)")
        return read_json_object(self.summary_path, ("train_acc", "test_acc"))


def claim(cfg: RunConfig, out: str | Path, teacher: dict | None = None) -> tuple[RunDir, str]:
    """Check `<out>/<cfg.name>` for this config, writing nothing: 'new', 'resume' or 'finished'.
    Call it holding the run's lock (kdlab.records.lock).

    A directory that holds another config, or the same config distilled from a teacher whose
    identity (`teacher`, see teacher_identity) has changed since, is never touched: that is an error.
    """
    run = RunDir(Path(out) / cfg.name)
    if run.config_path.is_file():
        try:
            existing = run.config()
        except KdlabError:  # an unreadable config: not ours to overwrite
            raise RunError(f"{run.root} holds a config.yaml kdlab cannot read; choose another name= or --out") from None
        if existing.content_hash() != cfg.content_hash():
            here, there = _flat(cfg.model_dump(mode="json")), _flat(existing.model_dump(mode="json"))
            diff = [k for k in sorted(set(here) | set(there)) if here.get(k) != there.get(k)]
            shown = ", ".join(f"{k}: {here.get(k)!r} here, {there.get(k)!r} there" for k in diff[:2])
            raise RunError(f"{run.root} already holds a run with a different config ({shown}); "
                           f"choose another name= or --out, or remove it")
        recorded = run.info().get("teacher_identity") if run.info_path.is_file() else None
        if recorded is not None and teacher is not None and recorded != teacher:
            raise RunError(f"{run.root} was distilled from {cfg.teacher.run} as it was before: the teacher has been "
                           f"retrained or changed since; remove {run.root} or choose another name= to distill again")
        return run, ("finished" if run.finished else "resume")
    if run.root.exists() and any(not is_bookkeeping(p) for p in run.root.iterdir()):
        raise RunError(f"{run.root} exists and is not a kdlab run directory; choose another name= or --out")
    return run, "new"


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def teacher_identity(cfg: RunConfig) -> dict | None:
    """What a student's result depends on in its teacher run: the teacher's config hash and a digest
    of the weight files the student reads (the chosen checkpoint, or every one up to it when online).
    None without a teacher run (or before it exists: then the student fails to start anyway)."""
    if cfg.teacher is None or cfg.teacher.run is None:
        return None
    teacher = RunDir(Path(cfg.teacher.run))
    if not teacher.info_path.is_file():
        return None
    t = cfg.teacher
    if t.online:
        last = t.checkpoint if t.checkpoint != "final" else float("inf")
        files = [teacher.weights_path(e) for e in teacher.checkpoint_epochs() if e <= last]
    else:
        files = [teacher.final_weights if t.checkpoint == "final" else teacher.weights_path(t.checkpoint)]
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return {"config_hash": teacher.info().get("config_hash"), "weights_sha256": digest.hexdigest()[:16]}


def write_start(run: RunDir, cfg: RunConfig, num_classes: int, input_shape: tuple[int, ...], num_params: int,
                teacher_run: Path | None, teacher_ident: dict | None = None, extra: dict | None = None) -> None:
    """Written once everything has loaded: a failed setup leaves no run directory behind.

    run.json holds what readers need without the code that made the run: the model's and data's
    names and shapes, the transforms, and the teacher as resolved (None when no teacher term weighs).
    """
    if not run.config_path.is_file():
        write_text(run.config_path, cfg.to_yaml())
    if run.info_path.is_file():  # a resume: run.json keeps what the run started with
        return
    write_json(run.info_path, {
        "config_hash": cfg.content_hash(),
        "code_version": code_version(),
        "torch": torch.__version__,
        # CPU results are bit-identical for the same thread count, not across thread counts
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "model": cfg.model.name,
        "num_classes": num_classes,
        "input_shape": list(input_shape),
        "num_parameters": num_params,
        # the teacher as resolved when the run started (configs may name it relative to the cwd)
        "teacher_run": str(Path(teacher_run).resolve()) if teacher_run is not None else None,
        "teacher_identity": teacher_ident if teacher_run is not None else None,
        **(extra or {}),
    })


def discover_runs(root: Path, exclude: Path | None = None) -> dict[str, RunDir]:
    """Every run directory (a folder with config.yaml) under `root`, named by its path relative to
    root; folders inside `exclude` (e.g. a report's own output) are left out."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"{root} is not a folder; give a folder that holds run directories")
    skip = exclude.resolve() if exclude is not None else None
    found = {}
    for cfg_path in sorted(root.rglob("config.yaml")):
        folder = cfg_path.parent
        if skip is not None and (folder.resolve() == skip or skip in folder.resolve().parents):
            continue
        found[str(folder.relative_to(root)) if folder != root else folder.name] = RunDir(folder)
    return found
