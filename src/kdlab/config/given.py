"""The user's own objects, given from Python in place of what a config names (kdlab.fit).

`Given` carries them from `fit` to the training loop. For the run's identity it names each in the
config (its class and a fingerprint of its state or content) and gives a digest of each one's code
(kdlab.sources): a finished run is reused only while both are the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from ..data import TRANSFORMS, Dataset
from ..errors import ConfigError
from ..losses import LossTerm
from ..sources import code_digest, is_kdlab
from .schema import DATA_SETTINGS, LEGACY_LOSS_KEYS, translate_legacy_loss


def fingerprint(obj: nn.Module) -> str:
    """Class, parameter and buffer names, shapes and values: what makes a given object this object."""
    h = hashlib.sha256(f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
    for name, t in obj.state_dict().items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Given:
    model: nn.Module | None = None  # the student, trained in place
    data: Dataset | None = None
    losses: Mapping[str, LossTerm] = field(default_factory=dict)
    teacher: nn.Module | None = None  # a fixed teacher without a run directory
    teacher_model: nn.Module | None = None  # the architecture of teacher.run's checkpoints (a run of a given model)

    def __post_init__(self):
        for role in ("model", "teacher", "teacher_model"):
            value = getattr(self, role)
            if value is not None and not isinstance(value, nn.Module):
                raise ConfigError(f"{role} must be an nn.Module, got {type(value).__name__}")
        if self.data is not None and not isinstance(self.data, Dataset):
            raise ConfigError(f"data must be a kdlab Dataset, got {type(self.data).__name__}")
        for name, term in self.losses.items():
            if not isinstance(term, LossTerm):
                raise ConfigError(f"loss term '{name}' must be a kdlab.losses.LossTerm, got {type(term).__name__}")

    def name_objects(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The raw config with a section naming each object (its class and fingerprint) in place of a
        registered name. Given loss terms take their weights from `loss.terms.<name>.weight` (default 1)."""
        raw = dict(raw)
        if self.data is not None:
            kept = {k: v for k, v in (raw.get("data") or {}).items() if k in DATA_SETTINGS}
            raw["data"] = {**kept, "name": self.data.name, "object": self.data.checksum()}
        if self.model is not None:
            raw["model"] = {"name": type(self.model).__name__, "object": fingerprint(self.model)}
        if self.losses:
            loss = dict(raw.get("loss") or {})
            if not loss.keys() & {"terms", *LEGACY_LOSS_KEYS}:
                loss["terms"] = {}  # only the given terms, not the default one-hot
            try:
                loss = translate_legacy_loss(loss)
            except ValueError as e:
                raise ConfigError(f"config key 'loss': {e}") from None
            terms = dict(loss["terms"])
            for name, term in self.losses.items():
                weight = (terms.get(name) or {}).get("weight", 1.0)
                terms[name] = {"term": type(term).__name__, "weight": weight, "object": fingerprint(term)}
            raw["loss"] = {**loss, "terms": terms}
        if self.teacher is not None:
            raw["teacher"] = {"object": f"{type(self.teacher).__name__}:{fingerprint(self.teacher)}"}
        return raw

    def code(self) -> dict[str, str | None]:
        """A digest of each object's code that is not kdlab's (None: no readable source), by piece."""
        found: dict[str, str | None] = {}
        if self.model is not None:
            found[f"model {type(self.model).__name__}"] = code_digest(self.model)
        for name, term in self.losses.items():
            found[f"loss term {name} ({type(term).__name__})"] = code_digest(term)
        if self.data is not None:
            for origin in (self.data, *self.data.origins):
                if not is_kdlab(type(origin)):
                    found[f"dataset {self.data.name} ({type(origin).__name__})"] = code_digest(origin)
            for spec in self.data.transforms:
                builder = TRANSFORMS.get(spec["name"])
                if not is_kdlab(builder):
                    found[f"transform {spec['name']}"] = code_digest(builder)
        for role, module in (("teacher", self.teacher), ("teacher model", self.teacher_model)):
            if module is not None:
                found[f"{role} {type(module).__name__}"] = code_digest(module)
        return found
