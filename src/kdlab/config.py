"""Run configs: YAML validated by a strict pydantic schema.

Resolution order: preset (named in the file or an override) < YAML file < `key.sub=value` overrides.
An unknown key anywhere is an error naming the key and the valid ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class WithOptions(BaseModel):
    """A named registry entry whose extra keys are the entry's own options, checked by the registry."""

    model_config = ConfigDict(extra="allow")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DataConfig(WithOptions):
    name: str = "digits"
    root: str | None = None
    label_noise: float = Field(0.0, ge=0.0, le=1.0)
    noise_seed: int = 0  # fixed apart from the run seed, so teacher and students see the same flips
    train_size: int | None = Field(None, ge=1)
    augment: Literal["auto", "none", "crop_flip"] = "auto"

    @model_validator(mode="after")
    def _known_dataset(self):
        from .data import DATASETS

        DATASETS.check_options(self.name, self.options)
        return self


class ModelConfig(WithOptions):
    name: str = "resnet20"

    @model_validator(mode="after")
    def _known_model(self):
        from .models import MODELS

        MODELS.check_options(self.name, self.options)
        return self


class TrainConfig(Strict):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: float = Field(0.0, ge=0)
    decay_epochs: list[int] = []
    decay_factor: float = 0.1
    device: Literal["auto", "cpu", "cuda"] = "auto"


class SwitchConfig(Strict):
    """Move from the initial loss mix to the pure `to` loss, linearly over [at_step, at_step + window]."""

    to: Literal["kd", "onehot"]
    at_step: int = Field(ge=0)
    window: int = Field(0, ge=0)


class LossConfig(Strict):
    onehot_weight: float = Field(1.0, ge=0)
    kd_weight: float = Field(0.0, ge=0)
    temperature: float = Field(4.0, gt=0)
    kd_scale: Literal["t2", "none"] = "t2"  # Hinton's T^2 scaling of the distillation term
    switch: SwitchConfig | None = None

    @property
    def uses_kd(self) -> bool:
        return self.kd_weight > 0 or (self.switch is not None and self.switch.to == "kd")


class TeacherConfig(Strict):
    run: str  # a finished run directory
    checkpoint: Literal["final"] | int = "final"  # or an epoch: the early-stopped teacher
    online: bool = False  # walk the teacher's checkpoint sequence (P2)
    epoch_ratio: float = Field(1.0, gt=0)  # r = teacher epochs / student epochs


class RecordConfig(Strict):
    predictions_every_epochs: int = Field(10, ge=1)  # and always the last epoch
    checkpoint_every_epochs: int = Field(1, ge=1)
    probes: list[str] = []  # measurements inside the loop, by name (kdlab.train.probes)

    @model_validator(mode="after")
    def _known_probes(self):
        from .train.probes import PROBES

        for name in self.probes:
            PROBES.get(name)
        return self


class RunConfig(Strict):
    name: str = "run"
    seed: int = 0
    preset: Literal["p1-cifar", "p1-tinyimagenet"] | None = None
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    loss: LossConfig = LossConfig()
    teacher: TeacherConfig | None = None
    record: RecordConfig = RecordConfig()

    @model_validator(mode="after")
    def _teacher_when_needed(self):
        if self.loss.uses_kd and self.teacher is None:
            raise ValueError("the loss uses distillation (kd_weight > 0 or a switch to kd) but no teacher.run is set")
        return self

    def content_hash(self) -> str:
        """Hash of the resolved config: two runs with the same hash train the same thing."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# P1 Table 1. Values a config file or override sets take precedence.
PRESETS: dict[str, dict[str, Any]] = {
    "p1-cifar": {
        "train": {"epochs": 450, "batch_size": 1024, "optimizer": "sgd", "lr": 1.0, "momentum": 0.9,
                  "nesterov": True, "weight_decay": 1e-4, "warmup_epochs": 15, "decay_epochs": [200, 300, 400],
                  "decay_factor": 0.1},
        "loss": {"temperature": 4.0},
    },
    "p1-tinyimagenet": {
        "train": {"epochs": 200, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                  "nesterov": True, "weight_decay": 5e-4, "warmup_epochs": 5, "decay_epochs": [75, 135],
                  "decay_factor": 0.1},
        "loss": {"temperature": 4.0},
    },
}
# P1's gradual switch windows, applied to a switch that does not give its own.
PRESET_SWITCH_WINDOW = {"p1-cifar": 1000, "p1-tinyimagenet": 10000}


def deep_merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def parse_override(text: str) -> dict:
    """'train.lr=0.05' -> {'train': {'lr': 0.05}}; the value is read as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key.sub=value")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{text}' has an empty key part")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def _format_error(err: ValidationError, model: type[BaseModel]) -> str:
    errors = err.errors()
    # A typo'd key usually also makes a required key "missing": name the typo first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        parent: Any = model
        for part in first["loc"][:-1]:
            field = parent.model_fields.get(str(part)) if isinstance(parent, type) else None
            ann = field.annotation if field else None
            parent = next((a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)), None)
            if parent is None:
                break
        valid = ", ".join(parent.model_fields) if parent else "see the docs"
        return f"unknown config key '{loc}'; valid keys here: {valid}"
    msg = first["msg"].removeprefix("Value error, ")
    return f"config key '{loc}': {msg}" if loc else f"config: {msg}"


def resolve(raw: dict[str, Any], overrides: list[str] = ()) -> RunConfig:
    merged = copy.deepcopy(raw)
    for o in overrides:
        merged = deep_merge(merged, parse_override(o))
    preset = merged.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset '{preset}'; known: {', '.join(PRESETS)}")
        merged = deep_merge(PRESETS[preset], merged)
        switch = merged.get("loss", {}).get("switch")
        if isinstance(switch, dict) and "window" not in switch:
            switch["window"] = PRESET_SWITCH_WINDOW[preset]
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_format_error(e, RunConfig)) from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def load_config(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    return resolve(load_yaml(path), overrides)
