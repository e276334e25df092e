"""Run configs: the schema (`schema`), resolution of a new run's config (`resolve`) and the user's
own objects that stand in for registered names (`given`)."""

from .given import Given, fingerprint
from .resolve import PRESETS, ResolvedConfig, check, deep_merge, load_config, parse_override, resolve, with_overrides
from .schema import (DATA_SETTINGS, LEGACY_LOSS_KEYS, RUN_NAME_RULE, DataConfig, LossConfig, ModelConfig, RecordConfig,
                     RunConfig, TeacherConfig, TermConfig, TrainConfig, one_line, read_stored_config,
                     translate_legacy_loss, validate)

__all__ = ["DATA_SETTINGS", "LEGACY_LOSS_KEYS", "PRESETS", "RUN_NAME_RULE", "DataConfig", "Given", "LossConfig",
           "ModelConfig", "RecordConfig", "ResolvedConfig", "RunConfig", "TeacherConfig", "TermConfig", "TrainConfig",
           "check", "deep_merge", "fingerprint", "load_config", "one_line", "parse_override", "read_stored_config", "resolve",
           "translate_legacy_loss", "validate", "with_overrides"]
