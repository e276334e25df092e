"""kdlab from Python: bring your own model, data, teacher and loss terms.

    run = kdlab.fit(config, model=my_module, data=my_data, teacher=teacher_run, losses={"mine": MyTerm()})

Everything not given as an object comes from the config by name, as on the command line. A run made
this way is recorded like any other: config.yaml names the objects (class names) and holds their
fingerprints, run.json their shapes, and predictions/ everything the analyses read. So `kdlab
analyze`, `kdlab report` and plans read it from another process without the user's code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from .config import (LEGACY_LOSS_KEYS, RunConfig, check_registered, load_yaml, translate_legacy_loss, validate,
                     with_overrides)
from .data import Dataset, as_dataset
from .distill.teachers import Teacher, run_model
from .errors import ConfigError
from .losses import LossTerm
from .records import RunDir, load_weights
from .train.loop import EpochHook
from .train.runner import run_config


@dataclass
class Run:
    """A finished run: where it is, its summary, and its trained model when kdlab has it."""

    root: Path
    summary: dict
    model: nn.Module | None = None

    @property
    def dir(self) -> RunDir:
        return RunDir(self.root)

    def config(self) -> RunConfig:
        return self.dir.config()


def fingerprint(obj: nn.Module) -> str:
    """Class, parameter and buffer names, shapes and values: what makes a given object this object."""
    h = hashlib.sha256(f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
    for name, t in obj.state_dict().items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def load_run(path: str | Path, model: nn.Module | None = None) -> Run:
    """A finished run and its final model: `model` (given the architecture of a run whose model was an
    object) receives the final weights; a registered model is rebuilt from the run's config."""
    rd = RunDir(Path(path))
    summary = rd.summary()
    info = rd.info()
    model = run_model(rd, info["num_classes"], tuple(info["input_shape"]), model)
    load_weights(rd.final_weights, model)
    return Run(rd.root, summary, model.eval())


def _raw_config(config: RunConfig | Mapping | str | Path | None, overrides: Iterable[str]) -> dict:
    if config is None:
        raw: dict = {}
    elif isinstance(config, RunConfig):
        raw = config.model_dump(mode="json")
    elif isinstance(config, Mapping):
        raw = dict(config)
    elif isinstance(config, (str, Path)):
        raw = load_yaml(config)
    else:
        raise ConfigError(f"config must be a RunConfig, a mapping or a YAML path, got {type(config).__name__}")
    return with_overrides(raw, list(overrides))


def fit(
    config: RunConfig | Mapping | str | Path | None = None,
    *,
    model: nn.Module | None = None,
    data: Dataset | Mapping | None = None,
    teacher: Run | nn.Module | str | Path | None = None,
    losses: Mapping[str, LossTerm] | None = None,
    out: str | Path = "runs",
    overrides: Iterable[str] = (),
    progress: bool = True,
    hooks: Iterable[EpochHook] = (),
    log: Callable[[str], None] = print,
) -> Run:
    """Train (or resume, or reuse) one run and return it.

    config   a RunConfig, a mapping, or a YAML path; `overrides` as on the command line.
    model    the student as an nn.Module (trained in place); else `model.name` from the registry.
    data     a kdlab Dataset (e.g. kdlab.data.from_tensors / from_torch) or {"train": ..., "test": ...};
             `data.label_noise`, `train_size` and `augment` of the config still apply.
    teacher  a Run (from fit or load_run), a run directory, or a fixed nn.Module.
    losses   loss terms as objects, by name; their weights come from `loss.terms.<name>.weight`
             (default 1). Config terms of other names keep their registered meaning.
    """
    raw = _raw_config(config, overrides)
    dataset = as_dataset(data) if data is not None else None
    if dataset is not None:
        raw["data"] = {**{k: v for k, v in (raw.get("data") or {}).items() if k in ("label_noise", "noise_seed", "train_size", "augment")},
                       "name": dataset.name, "object": dataset.checksum()}
    if model is not None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model must be an nn.Module, got {type(model).__name__}")
        raw["model"] = {"name": type(model).__name__, "object": fingerprint(model)}
    given_teacher_terms: tuple[str, ...] = ()
    if losses:
        loss = dict(raw.get("loss") or {})
        if not loss.keys() & {"terms", *LEGACY_LOSS_KEYS}:
            loss["terms"] = {}  # only the given terms, not the default one-hot
        try:
            loss = translate_legacy_loss(loss)
        except ValueError as e:
            raise ConfigError(f"config key 'loss': {e}") from None
        terms = dict(loss["terms"])
        for name, term in losses.items():
            if not isinstance(term, LossTerm):
                raise ConfigError(f"loss term '{name}' must be a kdlab.losses.LossTerm, got {type(term).__name__}")
            weight = (terms.get(name) or {}).get("weight", 1.0)
            terms[name] = {"term": type(term).__name__, "weight": weight, "object": fingerprint(term)}
        raw["loss"] = {**loss, "terms": terms}
        given_teacher_terms = tuple(n for n, t in losses.items() if t.needs_teacher)
    objects: dict[str, Any] = {"model": model, "data": dataset, "losses": dict(losses) if losses else None}
    if isinstance(teacher, Run):
        raw["teacher"] = {**(raw.get("teacher") or {}), "run": str(teacher.root)}
        objects["teacher_model"] = teacher.model
    elif isinstance(teacher, (str, Path)):
        raw["teacher"] = {**(raw.get("teacher") or {}), "run": str(teacher)}
    elif isinstance(teacher, nn.Module):
        raw["teacher"] = {"object": f"{type(teacher).__name__}:{fingerprint(teacher)}"}
        objects["teacher"] = Teacher(teacher)
    elif teacher is not None:
        raise ConfigError(f"teacher must be a Run, a run directory or an nn.Module, got {type(teacher).__name__}")
    cfg = check_registered(validate(raw), given_teacher_terms)
    # Training seeds torch's global RNG; the caller's stream continues as if fit had not run, so a
    # script builds the same next model whether this run was trained now or reused.
    with torch.random.fork_rng(devices=[]):
        run, summary = run_config(cfg, out, progress=progress, hooks=hooks, log=log, **objects)
    if model is not None:  # reused or resumed: the module holds the final weights either way
        load_weights(run.final_weights, model)
        model.eval()
    return Run(run.root, summary, model)


__all__ = ["Run", "fingerprint", "fit", "load_run"]
