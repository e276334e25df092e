"""Resolution: what a new run will train, from a YAML file or mapping, overrides and the user's objects.

Order: preset (named in the file or an override) < file < `key.sub=value` overrides; then the
user's objects are named (kdlab.config.given), the schema validates, and every registered name and
option is checked against its registry. The result is a `ResolvedConfig`: the config with every loss
term's options written out in full, the objective's weighting (what its terms mean) and the digests of
the code behind it that is not kdlab's. Nothing here changes the config it checks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from ..data import DATASETS
from ..errors import ConfigError
from ..io import parse_yaml, read_yaml
from ..loggers import check_logger
from ..losses import LOSS_TERMS
from ..losses.weighting import Weighting
from ..models import MODELS
from ..probes import PROBES
from ..registry import Registry
from ..sources import code_digest, is_kdlab
from .given import Given
from .schema import RunConfig, TermConfig, one_line, translate_legacy_loss, validate


class ResolvedConfig(RunConfig):
    """A new run's config as `resolve` makes it; a stored config.yaml reads back as a plain RunConfig."""

    _weighting: Weighting = PrivateAttr()
    _code: dict[str, str | None] = PrivateAttr(default_factory=dict)

    @property
    def weighting(self) -> Weighting:
        """What the objective's terms are and when they weigh (kdlab.losses.weighting)."""
        return self._weighting

    @property
    def code(self) -> dict[str, str | None]:
        """Digests of the code behind the run that is not kdlab's, by piece (kdlab.sources)."""
        return dict(self._code)


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


def with_overrides(raw: dict[str, Any], overrides: list[str] = ()) -> dict[str, Any]:
    """The raw config with `key.sub=value` overrides, then its preset, merged in (not yet validated)."""
    merged = copy.deepcopy(raw)
    _check_no_contradiction(overrides)
    for o in overrides:
        top = parse_override(o)
        loss = merged.get("loss")
        if isinstance(top.get("loss"), dict) and "terms" in top["loss"] and isinstance(loss, dict) and "terms" not in loss:
            try:  # the file's older loss keys become terms first, so `loss.terms.<t>...` adds to them
                merged["loss"] = translate_legacy_loss(loss)
            except ValueError:
                pass  # the schema says what is wrong
        merged = deep_merge(merged, top)
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


def _check_no_contradiction(overrides: list[str]) -> None:
    """A key set as a value and also through one of its sub-keys (`train=5 train.epochs=1`, in either
    order) would have one of them silently lost: an error naming both."""
    keys = [o.split("=", 1)[0] for o in overrides if "=" in o]
    for i, key in enumerate(keys):
        for other in keys[i + 1:]:
            inner, outer = (key, other) if len(key) > len(other) else (other, key)
            if inner.startswith(outer + "."):
                raise ConfigError(f"the overrides '{outer}=...' and '{inner}=...' contradict each other: one sets "
                                  f"{outer} as a whole, the other a key inside it; give only one")


def resolve(raw: dict[str, Any], overrides: list[str] = (), given: Given | None = None) -> ResolvedConfig:
    """A new run's config: overrides and preset merged, the given objects named, the schema, then the
    registries (datasets, models, loss terms, probes)."""
    given = given or Given()
    return check(validate(given.name_objects(with_overrides(raw, overrides))), given)


def check(cfg: RunConfig, given: Given | None = None) -> ResolvedConfig:
    """A validated config checked against the registries: its resolved form. A resolved config that
    crossed a process boundary as JSON is made whole again this way (presets and overrides are in it)."""
    given = given or Given()
    missing = [(key, name) for key, name, section, obj in
               [("data", cfg.data.name, cfg.data.object, given.data), ("model", cfg.model.name, cfg.model.object, given.model),
                ("teacher", "a module", cfg.teacher and cfg.teacher.object, given.teacher)] if section and obj is None]
    if missing:
        key, name = missing[0]
        raise ConfigError(f"this config's {key} was given as an object ({name}); kdlab cannot rebuild it: pass it "
                          f"again, kdlab.fit(..., {key}=...)")
    code = given.code()
    if cfg.data.object is None:
        DATASETS.check_options(cfg.data.name, cfg.data.options)
        code.update(_foreign(DATASETS, cfg.data.name))
    if cfg.model.object is None:
        MODELS.check_options(cfg.model.name, cfg.model.options)
        code.update(_foreign(MODELS, cfg.model.name))
    for name in cfg.record.probes:
        code.update(_foreign(PROBES, name))
    # A logger's code is no part of the run's identity (no digest): where numbers go changes no result.
    for name, options in cfg.record.logger_entries():
        try:
            check_logger(name, options)
        except ConfigError as e:
            raise ConfigError(f"record.loggers: {e}") from None
    built, full = {}, {}
    for name, term in cfg.loss.terms.items():
        kind = cfg.loss.term_type(name)
        if term.object is not None:
            if name not in given.losses:
                raise ConfigError(f"loss term '{name}' was given as an object ({kind}); kdlab cannot rebuild it: pass "
                                  f"it again, kdlab.fit(..., losses={{'{name}': ...}})")
            built[name], full[name] = given.losses[name], term
            continue
        where = "" if kind == name else f"loss.terms.{name}: "
        try:
            options = LOSS_TERMS.with_defaults(kind, term.options)
            built[name] = LOSS_TERMS.build(kind, options)  # values the term rejects fail here, before anything runs
        except ConfigError as e:
            raise ConfigError(f"{where}{e}") from None
        full[name] = TermConfig(**{**options, **term.model_dump()})
        code.update(_foreign(LOSS_TERMS, kind))
    weighting = Weighting.of(built, cfg.loss)
    if weighting.uses_teacher and cfg.teacher is None:
        raise ConfigError("the loss uses distillation (a teacher term with weight > 0 or a switch to one) "
                          "but no teacher.run is set")
    resolved = validate({**cfg.model_dump(), "loss": {**cfg.loss.model_dump(), "terms": full}}, ResolvedConfig)
    resolved._weighting, resolved._code = weighting, code
    return resolved


def _foreign(registry: Registry, name: str) -> dict[str, str | None]:
    """The digest of a registered entry's code where it is not kdlab's (a plugin's, a script's)."""
    builder = registry.get(name)
    return {} if is_kdlab(builder) else {f"{registry.kind} {name}": code_digest(builder)}


def load_config(path: str | Path, overrides: list[str] = ()) -> ResolvedConfig:
    return resolve(read_yaml(path), overrides)
