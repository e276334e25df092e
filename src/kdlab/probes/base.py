"""Probes: measurements taken inside the training loop, named in `record.probes`.

A probe sees every step (the prepared batch, the student's and teacher's logits before the update,
the model after it), adds numbers to each epoch's metrics row and to the summary, and may keep
arrays (saved with every checkpoint, so a resumed run ends with the same record). Each probe is one
file of this package; register your own with `@PROBES.register("name")`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..io import write_npz
from ..registry import Registry

# A probe is built with the run's dataset, model, config, objective (kdlab.distill.Objective: what
# its loss means, e.g. its distillation temperature) and transform pipeline.
PROBES = Registry("probe", context=("dataset", "model", "config", "objective", "pipeline"), package="kdlab.probes")


class Probe:
    def on_step(self, step: int, batch: dict[str, torch.Tensor], logits: torch.Tensor,
                teacher_logits: torch.Tensor | None, model: nn.Module) -> None:
        pass

    def epoch_metrics(self, model: nn.Module) -> dict[str, float]:
        return {}

    def summary(self, model: nn.Module) -> dict:
        return {}

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load(self, state: dict[str, np.ndarray], step: int) -> None:
        pass


def mu_star(dataset, name: str) -> torch.Tensor:
    mu = dataset.extras.get("mu_star")
    if mu is None:
        raise ConfigError(f"probe '{name}' needs a dataset with true class directions (synthetic-channels), not '{dataset.name}'")
    return mu


def build_probes(names: list[str], dataset, model, config, objective, pipeline) -> dict[str, Probe]:
    return {n: PROBES.build(n, {}, dataset=dataset, model=model, config=config, objective=objective, pipeline=pipeline)
            for n in names}


def save_probe_states(path: Path, probes: dict[str, Probe]) -> None:
    arrays = {f"{name}/{k}": v for name, p in probes.items() for k, v in p.state().items()}
    if arrays:
        write_npz(path, **arrays)


def load_probe_states(path: Path, probes: dict[str, Probe], step: int) -> None:
    if not probes or not path.is_file():
        return
    with np.load(path, allow_pickle=False) as z:
        for name, p in probes.items():
            state = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"{name}/")}
            if state:
                p.load(state, step)
