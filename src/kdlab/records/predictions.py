"""Recorded predictions: predictions/step_<S>.npz holds, for every train and test sample, its id,
the model's logits (un-augmented, eval mode), the label it trained on, the original label, whether
the label was flipped by noise, and its split. Everything an analysis needs, without the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RunError
from ..io import DAMAGED_NPZ_ERRORS, write_npz
from .rundir import RunDir

SPLITS = ("train", "test")
FIELDS = ("index", "logits", "label", "orig_label", "noisy")


@dataclass
class Predictions:
    run: Path
    step: int
    splits: dict[str, dict[str, np.ndarray]]


def write_predictions(path: Path, splits: dict[str, dict[str, np.ndarray]], epoch: int, step: int) -> None:
    """`splits` maps a split name to its arrays: index, logits, label, orig_label."""
    field = lambda k: np.concatenate([s[k] for s in splits.values()])  # noqa: E731
    write_npz(
        path,
        index=field("index"), label=field("label"), orig_label=field("orig_label"),
        noisy=field("label") != field("orig_label"), logits=field("logits").astype(np.float32, copy=False),
        split=np.concatenate([np.full(len(s["index"]), name) for name, s in splits.items()]),
        epoch=np.array(epoch), step=np.array(step),
    )


def load_predictions(run: str | Path | RunDir, step: int | None = None) -> Predictions:
    """A run's recorded logits at `step` (default: the last recorded step), per split."""
    rd = run if isinstance(run, RunDir) else RunDir(run)
    if not rd.root.is_dir():
        raise RunError(f"run {rd.root} does not exist")
    steps = rd.prediction_steps()
    if not steps:
        raise RunError(f"run {rd.root} has no recorded predictions (predictions/step_<S>.npz)")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise RunError(f"run {rd.root} has no predictions at step {step}; recorded steps: {steps}")
    try:
        with np.load(rd.prediction_path(step), allow_pickle=False) as z:
            data = {k: z[k] for k in (*FIELDS, "split")}
    except DAMAGED_NPZ_ERRORS as e:
        raise RunError(f"{rd.prediction_path(step)} is not a readable predictions file ({type(e).__name__}: "
                       f"{str(e)[:120]}); the run's records are damaged") from None
    n = len(data["index"])
    if any(len(data[k]) != n for k in (*FIELDS, "split")) or data["logits"].ndim != 2:
        raise RunError(f"{rd.prediction_path(step)} holds arrays of different lengths; the run's records are damaged")
    splits = {s: {k: data[k][data["split"] == s] for k in FIELDS} for s in SPLITS}
    return Predictions(rd.root, step, splits)
