"""A run on disk (SPEC §9): every path of a run is a RunDir's, and an output folder's are an OutDir's.

<out>/<run>/config.yaml  resolved config        run.json        RunInfo: code version, shapes, identity
            metrics.jsonl one row per epoch     summary.json    Summary; written last, marks a finished run
            checkpoints/epoch_<EEEE>.safetensors (weights), state.pt (latest optimizer/schedule/RNG state),
                        final.safetensors, objective_*.safetensors, probes.npz
            predictions/step_<S>.npz            probes/<probe>.npz          figures/        tb/
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydantic import ValidationError

from ..config import RunConfig, read_stored_config
from ..errors import RunError
from ..io import DAMAGED_NPZ_ERRORS, read_json_object, read_jsonl, write_json, write_jsonl, write_text
from .info import Record, RunInfo, Summary
from .lock import is_bookkeeping

_EPOCH_FILE = re.compile(r"epoch_(\d+)\.safetensors$")
_STEP_FILE = re.compile(r"step_(\d+)\.npz$")
R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    config_path = property(lambda self: self.root / "config.yaml")
    info_path = property(lambda self: self.root / "run.json")
    metrics_path = property(lambda self: self.root / "metrics.jsonl")
    summary_path = property(lambda self: self.root / "summary.json")
    checkpoints = property(lambda self: self.root / "checkpoints")
    predictions = property(lambda self: self.root / "predictions")
    figures = property(lambda self: self.root / "figures")  # analyses' default output
    tb = property(lambda self: self.root / "tb")  # TensorBoard event files
    probes = property(lambda self: self.root / "probes")
    state_path = property(lambda self: self.checkpoints / "state.pt")
    final_weights = property(lambda self: self.checkpoints / "final.safetensors")
    probes_state_path = property(lambda self: self.checkpoints / "probes.npz")
    RECORDS = ("summary.json", "config.yaml", "run.json", "metrics.jsonl", "checkpoints", "predictions", "probes",
               "figures", "tb")  # what kdlab writes here; the summary first, so a cleared run never looks finished

    def probe_record(self, name: str) -> Path:
        return self.probes / f"{name}.npz"

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

    def info(self) -> RunInfo:
        if not self.info_path.is_file():
            raise RunError(f"{self.root} is not a kdlab run directory (no run.json)")
        return _read(self.info_path, RunInfo)

    def summary(self) -> Summary:
        if not self.finished:
            raise RunError(f"run {self.root} has not finished (no summary.json)")
        return _read(self.summary_path, Summary)

    def metrics(self) -> list[dict]:
        """metrics.jsonl: one row per epoch (its keys depend on the run's terms and probes)."""
        return read_jsonl(self.metrics_path)

    def write_start(self, cfg: RunConfig, info: RunInfo) -> None:
        """config.yaml and run.json, each written once: a resume keeps what the run started with."""
        if not self.config_path.is_file():
            write_text(self.config_path, cfg.to_yaml())
        if not self.info_path.is_file():
            write_json(self.info_path, info.model_dump(mode="json"))

    def write_metrics(self, rows: list[dict]) -> None:
        write_jsonl(self.metrics_path, rows)

    def write_summary(self, summary: Summary) -> None:
        write_json(self.summary_path, summary.model_dump(mode="json"))

    def refuse_links(self) -> None:
        """A symbolic link where kdlab writes (a record, a records folder, a file in one) would send its
        writes outside the run directory: a one-line error, before anything is written."""
        for name in self.RECORDS:
            path = self.root / name
            if path.is_symlink():
                raise RunError(f"{path} is a symbolic link; kdlab follows no link inside a run directory: remove it")
            if path.is_dir():
                for inner in path.iterdir():
                    if inner.is_symlink():
                        raise RunError(f"{inner} is a symbolic link; kdlab follows no link inside a run directory: "
                                       f"remove it")

    def clear(self) -> None:
        """Remove what kdlab recorded here (the summary first), for a run trained anew; the lock and
        files kdlab did not write stay."""
        for name in self.RECORDS:
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

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
        found = self.summary().probes.get(probe)
        if not isinstance(found, dict):
            raise RunError(f"run {self.root} has no summary of probe '{probe}'; train it with record.probes: [{probe}]")
        return found


def _read(path: Path, kind: type[R]) -> R:
    obj = read_json_object(path)
    try:
        return kind.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        what = f"lacks '{key}'" if err["type"] == "missing" else f"has a bad '{key}' ({err['msg']})"
        raise RunError(f"{path} {what}; the run's records are damaged: remove the run to redo it") from None


@dataclass(frozen=True)
class OutDir:
    """An output folder (--out): where the run of a name lives, what a config's teacher reference
    points at, where a plan's reports go, and which runs are inside."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def run(self, name: str) -> RunDir:
        """The one place a run's folder is made from the output folder and its name."""
        return RunDir(self.root / name)

    def report(self, name: str) -> Path:
        return self.root / "reports" / name

    @property
    def mlruns(self) -> Path:
        """The MLflow file store the runs here log to by default (kdlab.loggers.mlflow)."""
        return self.root / "mlruns"

    def find(self, ref: str) -> RunDir:
        """A run a config names (teacher.run): a relative path inside this folder first, then as a
        path from the working directory (or an absolute one)."""
        path = Path(ref)
        inside = self.root / path
        if not path.is_absolute() and inside.is_dir():
            return RunDir(inside)
        if path.is_dir():
            return RunDir(path)
        looked = str(path) if path.is_absolute() else f"{inside} or {path}"
        raise RunError(f"teacher run {ref} does not exist (looked for {looked}); teacher.run must name a "
                       f"finished run: its name in --out, or its directory")

    def runs(self, exclude: Path | None = None) -> dict[str, RunDir]:
        """Every run directory (a folder with config.yaml) below, named by its path relative to this
        folder; folders inside `exclude` (e.g. a report's own output) are left out."""
        if not self.root.is_dir():
            raise RunError(f"{self.root} is not a folder; give a folder that holds run directories")
        skip = exclude.resolve() if exclude is not None else None
        found = {}
        for cfg_path in sorted(self.root.rglob("config.yaml")):
            folder = cfg_path.parent
            if skip is not None and (folder.resolve() == skip or skip in folder.resolve().parents):
                continue
            found[str(folder.relative_to(self.root)) if folder != self.root else folder.name] = RunDir(folder)
        return found


def has_records(root: Path) -> bool:
    """Whether a folder holds anything but kdlab's bookkeeping (the lock, temporary files)."""
    return root.exists() and any(not is_bookkeeping(p) for p in root.iterdir())
