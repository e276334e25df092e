"""kdlab from Python: bring your own model, data, teacher and loss terms.

    run = kdlab.fit(config, model=my_module, data=my_data, teacher=teacher_run, losses={"mine": MyTerm()})

Everything not given as an object comes from the config by name, as on the command line. A run made
this way is recorded like any other: config.yaml names the objects (class names) and holds their
fingerprints, run.json the digests of their code and their shapes, and predictions/ everything the
analyses read. So `kdlab analyze`, `kdlab report` and plans read it from another process without
the user's code. A finished run is reused only while its config, the objects and their code are the
same (kdlab.records.identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from .config import Given, RunConfig, fingerprint, resolve
from .data import Dataset, as_dataset
from .distill.teachers import run_model
from .errors import ConfigError
from .io import read_yaml
from .losses import LossTerm
from .records import REUSE, Reuse, RunDir, Summary, load_weights
from .train.loop import EpochHook
from .train.runner import run_config


@dataclass
class Run:
    """A finished run: where it is, its summary, and its trained model when kdlab has it."""

    root: Path
    summary: Summary
    model: nn.Module | None = None

    @property
    def dir(self) -> RunDir:
        return RunDir(self.root)

    def config(self) -> RunConfig:
        return self.dir.config()


def load_run(path: str | Path, model: nn.Module | None = None) -> Run:
    """A finished run and its final model: `model` (given the architecture of a run whose model was an
    object) receives the final weights; a registered model is rebuilt from the run's config."""
    rd = RunDir(Path(path))
    summary = rd.summary()
    info = rd.info()
    model = run_model(rd, info.num_classes, tuple(info.input_shape), model)
    load_weights(rd.final_weights, model)
    return Run(rd.root, summary, model.eval())


def _raw_config(config: RunConfig | Mapping | str | Path | None) -> dict:
    if config is None:
        return {}
    if isinstance(config, RunConfig):
        return config.model_dump(mode="json")
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, (str, Path)):
        return read_yaml(config)
    raise ConfigError(f"config must be a RunConfig, a mapping or a YAML path, got {type(config).__name__}")


def fit(
    config: RunConfig | Mapping | str | Path | None = None,
    *,
    model: nn.Module | None = None,
    data: Dataset | Mapping | None = None,
    teacher: Run | nn.Module | str | Path | None = None,
    losses: Mapping[str, LossTerm] | None = None,
    out: str | Path = "runs",
    overrides: Iterable[str] = (),
    reuse: Reuse = "if_same",
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
    reuse    'if_same': reuse a finished run whose config, objects and code are the same (else train
             it anew, saying why), resume an interrupted one; 'never': always train anew.
    """
    if reuse not in REUSE:
        raise ConfigError(f"reuse must be one of {', '.join(REUSE)}, got {reuse!r}")
    raw = _raw_config(config)
    teacher_model, fixed_teacher = None, None
    if isinstance(teacher, Run):
        raw["teacher"] = {**(raw.get("teacher") or {}), "run": str(teacher.root)}
        teacher_model = teacher.model
    elif isinstance(teacher, (str, Path)):
        raw["teacher"] = {**(raw.get("teacher") or {}), "run": str(teacher)}
    elif isinstance(teacher, nn.Module):
        fixed_teacher = teacher
    elif teacher is not None:
        raise ConfigError(f"teacher must be a Run, a run directory or an nn.Module, got {type(teacher).__name__}")
    given = Given(model=model, data=as_dataset(data) if data is not None else None, losses=dict(losses or {}),
                  teacher=fixed_teacher, teacher_model=teacher_model)
    cfg = resolve(raw, list(overrides), given)
    # Training seeds torch's global RNG; the caller's stream continues as if fit had not run, so a
    # script builds the same next model whether this run was trained now or reused.
    with torch.random.fork_rng(devices=[]):
        run, summary = run_config(cfg, out, given=given, reuse=reuse, progress=progress, hooks=hooks, log=log)
    if model is not None:  # reused or resumed: the module holds the final weights either way
        load_weights(run.final_weights, model)
        model.eval()
    return Run(run.root, summary, model)


__all__ = ["Run", "fingerprint", "fit", "load_run"]
