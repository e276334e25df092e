"""Run configs: YAML validated by a strict pydantic schema.

Resolution order: preset (named in the file or an override) < YAML file < `key.sub=value` overrides.
An unknown key anywhere is an error naming the key and the valid ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError
from .values import Count, NonNegative, Positive, Seed

# A run's name is its folder under --out: one safe path component.
RUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
RUN_NAME_RULE = ("a run name is one folder name: 1 to 128 letters, digits, '.', '_' or '-', "
                 "starting with a letter or digit")


def check_run_name(name: Any) -> str:
    import re

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
    lr: Positive = 0.1
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: NonNegative = 5e-4
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

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.steps if self.steps is not None else self.epochs * steps_per_epoch

    def total_epochs(self, steps_per_epoch: int) -> int:
        """Epochs begun: the last of a `steps` run may be partial."""
        return -(-self.total_steps(steps_per_epoch) // steps_per_epoch)

    def warmup(self, steps_per_epoch: int) -> float:
        return self.warmup_steps if self.warmup_steps is not None else self.warmup_epochs * steps_per_epoch


class SwitchConfig(Strict):
    """Move from the initial weights to the pure `to` term, linearly over [at_step, at_step + window]."""

    to: str  # a term name of loss.terms
    at_step: int = Field(ge=0)
    window: int = Field(0, ge=0)


class TermConfig(WithOptions):
    """One named term of the objective; extra keys are the term's own options."""

    term: str | None = None  # the registered loss term; by default the entry's name
    weight: NonNegative = 1.0
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
    ready for a switch."""

    terms: dict[str, TermConfig] = {}
    switch: SwitchConfig | None = None

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

    def weighs_ever(self, name: str) -> bool:
        """Whether term `name` has weight at some step: from the start, or as the switch's target."""
        return self.terms[name].weight > 0 or (self.switch is not None and self.switch.to == name)

    @property
    def distill_temperature(self) -> float:
        """The temperature of the first term that has one (the distillation's), else 1."""
        for t in self.terms.values():
            if "temperature" in t.options:
                return float(t.options["temperature"])
        return 1.0


class TeacherConfig(Strict):
    run: str | None = None  # a finished run directory
    checkpoint: Literal["final"] | int = "final"  # or an epoch: the early-stopped teacher
    online: bool = False  # walk the teacher's checkpoint sequence (P2)
    epoch_ratio: Positive = 1.0  # r = teacher epochs / student epochs
    # Set by kdlab.fit for a teacher given as a module without a run directory: its fingerprint.
    object: str | None = None

    @model_validator(mode="after")
    def _run_or_object(self):
        if self.run is None and self.object is None:
            raise ValueError("teacher.run must name a finished run directory")
        if self.online and self.run is None:
            raise ValueError("online distillation walks a teacher run's checkpoints: teacher.run must be set")
        return self


class RecordConfig(Strict):
    predictions_every_epochs: int = Field(10, ge=1)  # and always the last epoch
    checkpoint_every_epochs: int = Field(1, ge=1)
    probes: list[str] = []  # measurements inside the loop, by name (kdlab.probes)
    tensorboard: bool = True  # scalar metrics as TensorBoard event files under <run>/tb/


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
        """Hash of the resolved config: two runs with the same hash train the same thing."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def teacher_terms(loss: LossConfig) -> list[str]:
    """The terms that read the teacher (by their registered class)."""
    from .losses import LOSS_TERMS

    return [n for n, t in loss.terms.items() if t.object is None and LOSS_TERMS.get(loss.term_type(n)).needs_teacher]


def uses_teacher(loss: LossConfig, given_teacher_terms: tuple[str, ...] = ()) -> bool:
    """Whether a teacher term weighs at some step: a positive weight, or the switch's target."""
    return any(loss.weighs_ever(n) for n in [*teacher_terms(loss), *given_teacher_terms])


def check_registered(cfg: RunConfig, given_teacher_terms: tuple[str, ...] = ()) -> RunConfig:
    """Check what a new run names against the registries (datasets, models, loss terms, probes) and
    write every loss term's options out in full. Sections given as objects (`object` set) are the
    caller's; a stored config is never checked again: it is read as it was written."""
    from .data import DATASETS
    from .losses import LOSS_TERMS
    from .models import MODELS
    from .probes import PROBES

    if cfg.data.object is None:
        DATASETS.check_options(cfg.data.name, cfg.data.options)
    if cfg.model.object is None:
        MODELS.check_options(cfg.model.name, cfg.model.options)
    for name in cfg.record.probes:
        PROBES.get(name)
    for name, term in cfg.loss.terms.items():
        if term.object is not None:
            continue
        kind = cfg.loss.term_type(name)
        defaults = LOSS_TERMS.options(kind)
        LOSS_TERMS.check_options(kind, term.options)
        missing = [k for k, v in defaults.items() if v is None and k not in term.options]
        if missing:
            raise ConfigError(f"loss term '{name}' ({kind}) needs option '{missing[0]}'; its options: {', '.join(defaults)}")
        LOSS_TERMS.build(kind, term.options)  # values the term rejects fail here, before anything runs
        cfg.loss.terms[name] = TermConfig(**{**defaults, **term.model_dump()})
    if uses_teacher(cfg.loss, given_teacher_terms) and cfg.teacher is None:
        raise ConfigError("the loss uses distillation (a teacher term with weight > 0 or a switch to one) "
                          "but no teacher.run is set")
    return cfg


# P1 Table 1. Values a config file or override sets take precedence.
PRESETS: dict[str, dict[str, Any]] = {
    "p1-cifar": {
        "train": {"epochs": 450, "batch_size": 1024, "optimizer": "sgd", "lr": 1.0, "momentum": 0.9,
                  "nesterov": True, "weight_decay": 1e-4, "warmup_epochs": 15, "decay_epochs": [200, 300, 400],
                  "decay_factor": 0.1},
    },
    "p1-tinyimagenet": {
        "train": {"epochs": 200, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                  "nesterov": True, "weight_decay": 5e-4, "warmup_epochs": 5, "decay_epochs": [75, 135],
                  "decay_factor": 0.1},
    },
    # P1 App. C.1 (text): batch 64, 25,000 steps, peak lr 1e-5, 1,000 warm-up steps, linear decay.
    # P1 names neither the optimizer's settings nor weight decay: AdamW with RoBERTa's fine-tuning
    # weight decay (0.1, Liu et al. 2019, Table 10). Temperatures are per dataset: see
    # configs/paper/table2_text.yaml.
    "p1-text": {
        "train": {"steps": 25000, "batch_size": 64, "optimizer": "adamw", "lr": 1e-5, "weight_decay": 0.1,
                  "warmup_steps": 1000, "schedule": "linear"},
    },
}
# P1's gradual switch windows, applied to a switch that does not give its own.
PRESET_SWITCH_WINDOW = {"p1-cifar": 1000, "p1-tinyimagenet": 10000, "p1-text": 1000}


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
        value = parse_yaml(raw, f"override '{key}'") if raw != "" else ""
    except ConfigError:
        value = raw  # not YAML: the text as it is
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
        return one_line(f"unknown config key '{loc}'; valid keys here: {valid}")
    msg = first["msg"].removeprefix("Value error, ")
    return one_line(f"config key '{loc}': {msg}" if loc else f"config: {msg}")


def one_line(text: str, limit: int = 400) -> str:
    """An error message as one line of bounded length (it may quote the user's input)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def with_overrides(raw: dict[str, Any], overrides: list[str] = ()) -> dict[str, Any]:
    """The raw config with `key.sub=value` overrides, then its preset, merged in (not yet validated)."""
    merged = copy.deepcopy(raw)
    for o in overrides:
        merged = deep_merge(merged, parse_override(o))
    preset = merged.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ConfigError(one_line(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}"))
        merged = deep_merge(PRESETS[preset], merged)
        loss = merged.get("loss")
        switch = loss.get("switch") if isinstance(loss, dict) else None
        if isinstance(switch, dict) and "window" not in switch:
            switch["window"] = PRESET_SWITCH_WINDOW[preset]
    train = merged.get("train")
    if isinstance(train, dict) and train.get("steps") is not None and "epochs" in train:
        raise ConfigError("give train.steps or train.epochs, not both (train.steps replaces train.epochs; "
                          "train.steps=null to count epochs)")
    return merged


def resolve(raw: dict[str, Any], overrides: list[str] = ()) -> RunConfig:
    """A new run's config: overrides and preset merged, the schema, then the registries."""
    return check_registered(validate(with_overrides(raw, overrides)))


def validate(raw: dict[str, Any]) -> RunConfig:
    """The schema alone (no registry lookups): how a stored config is read back."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a run config is a mapping of config keys, got {type(raw).__name__}")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_error(e, RunConfig)) from None
    except RecursionError:
        raise ConfigError("the config nests too deeply") from None


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (the later would silently win)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` merges; its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                mark = key_node.start_mark
                raise ConfigError(f"key '{key}' is given twice in one mapping (line {mark.line + 1})")
            if isinstance(key, (str, int, float, bool)):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


MAX_CONFIG_VALUES = 100_000  # a config is small; more values means an alias bomb or the wrong file


def _expanded_size(value: Any, memo: dict[int, int], depth: int = 0) -> int:
    """How many values the config holds once YAML aliases are expanded (shared parts counted each time)."""
    if depth > 100:
        raise ConfigError("the config nests more than 100 levels deep")
    if id(value) in memo:
        return memo[id(value)]
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    size = 1
    for child in children:
        size += _expanded_size(child, memo, depth + 1)
        if size > MAX_CONFIG_VALUES:
            break
    memo[id(value)] = size
    return size


def parse_yaml(text: str, source: str) -> Any:
    """YAML text as plain data, or a one-line ConfigError naming `source`."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML ({str(e).splitlines()[0][:200]})") from None
    except RecursionError:
        raise ConfigError(f"{source} nests too deeply to be a config") from None
    if _expanded_size(data, {}) > MAX_CONFIG_VALUES:
        raise ConfigError(f"{source} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases?); "
                          f"a kdlab config is far smaller")
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text (byte {e.start}); save the config as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path} ({e.strerror})") from None
    data = parse_yaml(text.removeprefix("\ufeff"), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def load_config(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    return resolve(load_yaml(path), overrides)


def read_stored_config(path: str | Path) -> RunConfig:
    """A run's saved config.yaml, read as written (no registry checks, no presets, no overrides)."""
    return validate(load_yaml(path))
