"""The run config's schema: YAML validated by strict pydantic models. An unknown key anywhere is an
error naming the key and the valid ones. This is all a stored config.yaml is read with: no registry
lookups, so a run of a plugin's or a script's model, data or loss reads back anywhere."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from ..io import read_yaml
from ..losses.weighting import Schedule, Switch
from ..values import Count, NonNegative, NonNegativeRate, Positive, Rate, Seed

# A run's name is its folder under --out: one safe path component.
RUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
RUN_NAME_RULE = ("a run name is one folder name: 1 to 128 letters, digits, '.', '_' or '-', "
                 "starting with a letter or digit")


def check_run_name(name: Any) -> str:
    if not isinstance(name, str) or not re.fullmatch(RUN_NAME_PATTERN, name):
        raise ValueError(f"{RUN_NAME_RULE}; got {str(name)[:60]!r}")
    return name


RunName = Annotated[str, AfterValidator(check_run_name)]


class Strict(BaseModel):
    # No NaN or infinity anywhere: no setting of kdlab means anything with them.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class WithOptions(BaseModel):
    """A named registry entry whose extra keys are the entry's own options, checked by the registry."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# The settings of `data` that apply to a dataset given as an object too.
DATA_SETTINGS = ("label_noise", "noise_seed", "train_size", "augment")


class DataConfig(WithOptions):
    name: str = "digits"
    root: str | None = None
    label_noise: float = Field(0.0, ge=0.0, le=1.0)
    noise_seed: Seed = 0  # fixed apart from the run seed, so teacher and students see the same flips
    train_size: int | None = Field(None, ge=1)
    augment: Literal["auto", "none", "crop_flip"] = "auto"
    # Set by kdlab.fit when the dataset was given as an object: its content checksum (part of the
    # run's identity). A reader never needs the object: predictions hold everything per sample.
    object: str | None = None


class ModelConfig(WithOptions):
    name: str = "resnet20"
    # Set by kdlab.fit when the model was given as an object: a fingerprint of its class, parameter
    # shapes and initial weights. Such a run is read back without the user's code.
    object: str | None = None


class TrainConfig(Strict):
    epochs: int = Field(30, ge=1)
    # Train for exactly this many steps instead (the last epoch may end early); replaces `epochs`.
    steps: int | None = Field(None, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"  # adamw: decoupled weight decay
    lr: Rate = 0.1
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: NonNegativeRate = 5e-4
    warmup_epochs: NonNegative = 0.0
    warmup_steps: int | None = Field(None, ge=0)  # replaces warmup_epochs when set
    # After warm-up: `step` multiplies the rate by decay_factor at each of decay_epochs; `linear`
    # decays it linearly to 0 at the last step.
    schedule: Literal["step", "linear"] = "step"
    decay_epochs: list[Count] = []
    decay_factor: Positive = 0.1
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Autocast precision of the training forward passes; auto: bf16 on a GPU that supports it, else fp32.
    # Evaluation and recorded predictions stay fp32.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = False  # torch.compile the student's and teacher's training forward passes
    # A step whose loss is not finite: `stop` the run there (one line naming the step and the term; the
    # last checkpoint stays), or `skip` the step (its update is not applied; one process only, and each
    # step then waits for the device to say whether its loss is finite).
    on_nonfinite: Literal["stop", "skip"] = "stop"

    def steps_per_epoch(self, num_train: int) -> int:
        return max(1, -(-num_train // self.batch_size))

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.steps if self.steps is not None else self.epochs * steps_per_epoch

    def total_epochs(self, steps_per_epoch: int) -> int:
        """Epochs begun: the last of a `steps` run may be partial."""
        return -(-self.total_steps(steps_per_epoch) // steps_per_epoch)

    def warmup(self, steps_per_epoch: int) -> float:
        return self.warmup_steps if self.warmup_steps is not None else self.warmup_epochs * steps_per_epoch


class TermConfig(WithOptions):
    """One named term of the objective; extra keys are the term's own options."""

    term: str | None = None  # the registered loss term; by default the entry's name
    weight: NonNegative = 1.0
    # The weight's own schedule (kdlab.losses.weighting): {kind: ramp, epochs: 20} or {kind: step,
    # epochs: [150, 180], factor: 0.1}; none keeps it constant (a switch still moves it).
    schedule: Schedule | None = None
    object: str | None = None  # set by kdlab.fit for a term given as an object: its fingerprint


# The loss keys of kdlab 0.1, translated on load into `terms` (onehot + kd).
LEGACY_LOSS_KEYS = ("onehot_weight", "kd_weight", "temperature", "kd_scale")


def translate_legacy_loss(raw: dict[str, Any]) -> dict[str, Any]:
    """A loss section with `terms`; one without gets them from the older keys or their defaults."""
    legacy = {k: raw[k] for k in LEGACY_LOSS_KEYS if k in raw}
    if "terms" in raw:
        if legacy:
            raise ValueError(f"give loss.terms or the older keys ({', '.join(legacy)}), not both; "
                             f"e.g. loss.terms.kd.temperature instead of loss.temperature")
        return raw
    rest = {k: v for k, v in raw.items() if k not in LEGACY_LOSS_KEYS}
    return {**rest, "terms": {
        "onehot": {"weight": legacy.get("onehot_weight", 1.0)},
        "kd": {"weight": legacy.get("kd_weight", 0.0), "temperature": legacy.get("temperature", 4.0),
               "scale": legacy.get("kd_scale", "t2")},
    }}


class LossConfig(Strict):
    """L(s) = sum over terms of weight(s) * term. The default: one-hot, with a KD term of weight 0
    ready for a switch. What the terms mean (which read the teacher, their temperatures, which weigh
    when) is the built objective's to say (kdlab.losses.weighting), not the config's."""

    terms: dict[str, TermConfig] = {}
    switch: Switch | None = None

    @model_validator(mode="before")
    @classmethod
    def _translate_legacy(cls, raw: Any) -> Any:
        return translate_legacy_loss(raw) if isinstance(raw, dict) else raw

    @model_validator(mode="after")
    def _switch_names_a_term(self):
        if not self.terms:
            raise ValueError("loss.terms is empty; name at least one term, e.g. terms: {onehot: {weight: 1}}")
        if self.switch is None and not any(t.weight > 0 for t in self.terms.values()):
            raise ValueError("every loss term has weight 0; give one a positive weight or switch to one")
        if self.switch is not None and self.switch.to not in self.terms:
            raise ValueError(f"switch.to '{self.switch.to}' is not a term of loss.terms ({', '.join(self.terms)})")
        return self

    def term_type(self, name: str) -> str:
        return self.terms[name].term or name


class TeacherConfig(Strict):
    # A finished run: its name in the output folder (--out), or a run directory. A relative path is
    # looked up in the output folder first, then from the working directory.
    run: str | None = None
    checkpoint: Literal["final"] | int = "final"  # or an epoch: the early-stopped teacher
    online: bool = False  # walk the teacher's checkpoint sequence (P2)
    epoch_ratio: Positive = 1.0  # r: at student epoch t the teacher is its checkpoint of epoch min(ceil(t * r), last)
    # Set by kdlab.fit for a teacher given as a module without a run directory: its fingerprint.
    object: str | None = None

    @model_validator(mode="after")
    def _run_or_object(self):
        if self.run is None and self.object is None:
            raise ValueError("teacher.run must name a finished run directory")
        if self.online and self.run is None:
            raise ValueError("online distillation walks a teacher run's checkpoints: teacher.run must be set")
        return self


class LoggerConfig(WithOptions):
    """One entry of record.loggers: a logger's name (kdlab.loggers); extra keys are its options."""

    name: str


class RecordConfig(Strict):
    predictions_every_epochs: int = Field(10, ge=1)  # and always the last epoch
    checkpoint_every_epochs: int = Field(1, ge=1)
    probes: list[str] = []  # measurements inside the loop, by name (kdlab.probes)
    # Where the run's numbers go while it trains: names, or {name: ..., <options>} (kdlab.loggers).
    loggers: list[LoggerConfig] = Field(default_factory=lambda: [LoggerConfig(name="tensorboard")])
    log_every_steps: int = Field(10, ge=1)  # training numbers to the loggers every this many steps

    @model_validator(mode="before")
    @classmethod
    def _older_tensorboard_key(cls, raw: Any) -> Any:
        """`tensorboard: true|false`, in the stored configs of earlier runs, is read as `loggers`
        ([tensorboard] or []) and never written; where `loggers` is given too, `loggers` decides."""
        if not isinstance(raw, dict) or "tensorboard" not in raw:
            return raw
        raw = dict(raw)
        on = raw.pop("tensorboard")
        if not isinstance(on, bool):
            raise ValueError(f"record.tensorboard (the older form of record.loggers) is true or false, got {on!r}")
        raw.setdefault("loggers", ["tensorboard"] if on else [])
        return raw

    @field_validator("loggers", mode="before")
    @classmethod
    def _names_are_entries(cls, raw: Any) -> Any:
        return [{"name": e} if isinstance(e, str) else e for e in raw] if isinstance(raw, list) else raw

    @model_validator(mode="after")
    def _each_logger_once(self):
        names = [e.name for e in self.loggers]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise ValueError(f"record.loggers names '{twice}' twice; give each logger once")
        return self

    def logger_entries(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, options) of each logger, in order."""
        return [(e.name, e.options) for e in self.loggers]


class RunConfig(Strict):
    name: RunName = "run"
    seed: Seed = 0
    preset: Literal["p1-cifar", "p1-tinyimagenet", "p1-text"] | None = None
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    loss: LossConfig = LossConfig()
    teacher: TeacherConfig | None = None
    record: RecordConfig = RecordConfig()

    def content_hash(self) -> str:
        """Hash of the config: two runs with the same hash (and the same code, kdlab.sources) train
        the same thing."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


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
        return one_line(f"unknown config key '{loc}'; valid keys here: {valid}")
    msg = first["msg"].removeprefix("Value error, ")
    return one_line(f"config key '{loc}': {msg}" if loc else f"config: {msg}")


def one_line(text: str, limit: int = 400) -> str:
    """An error message as one line of bounded length (it may quote the user's input)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate(raw: dict[str, Any], as_type: type[RunConfig] = RunConfig) -> RunConfig:
    """The schema alone (no registry lookups): how a stored config is read back."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a run config is a mapping of config keys, got {type(raw).__name__}")
    try:
        return as_type.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_error(e, RunConfig)) from None
    except RecursionError:
        raise ConfigError("the config nests too deeply") from None


def read_stored_config(path: str | Path) -> RunConfig:
    """A run's saved config.yaml, read as written (no registry checks, no presets, no overrides)."""
    return validate(read_yaml(path))
