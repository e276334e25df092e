"""Loggers: where a run's numbers go while it trains, named in `record.loggers`.

The training loop gives every logger the run's hyper-parameters once, when the run starts (not again
when it resumes), scalars by tag at global optimisation steps (training numbers every
`record.log_every_steps` steps, test numbers at each evaluation), and closes it when training stops.
Loggers live in the process that writes records (rank 0 under torchrun) and never touch torch's
random state. Each logger is one file of this package; register your own with
`@LOGGERS.register("name")`: a class built with the context below and its options from the config.

Context: `config` (the resolved config), `run` (the kdlab.records.RunDir being trained), `out` (its
output folder, a kdlab.records.OutDir), `start_step` (0 for a new run, the checkpoint's step for a
resumed one) and `log` (prints a note).
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any, Iterable

from ..errors import ConfigError
from ..registry import Registry

LOGGERS = Registry("logger", context=("config", "run", "out", "start_step", "log"), package="kdlab.loggers")

Param = str | int | float | bool


class Logger:
    # The package a logger imports (e.g. "mlflow"): naming the logger where it is missing is an error
    # when the config is resolved, before anything trains. `install` says how to get it.
    requires: str | None = None
    install: str = ""

    def hparams(self, params: dict[str, Param]) -> None:
        """The run's flattened config (`hyperparameters`), once, when the run starts."""

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Numbers by tag (e.g. `loss/kd`, `accuracy/test`) at a global optimisation step."""

    def close(self, finished: bool) -> None:
        """Training stopped: at its end (`finished`), or early (an error, an interrupt; it resumes later)."""


def check_logger(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """A config's logger entry checked against the registry: its name, its options, and the package
    it needs. Returns the options as validated."""
    checked = LOGGERS.check_options(name, options)
    needs = getattr(LOGGERS.get(name), "requires", None)
    if needs and importlib.util.find_spec(needs) is None:
        install = getattr(LOGGERS.get(name), "install", "")
        raise ConfigError(f"logger '{name}' needs the {needs} package, which is not installed"
                          + (f"; {install}" if install else ""))
    return checked


def build_loggers(entries: Iterable[tuple[str, dict[str, Any]]], **context: Any) -> list[Logger]:
    """The loggers of (name, options) entries; if one fails to start, those already started are closed."""
    built: list[Logger] = []
    try:
        for name, options in entries:
            built.append(LOGGERS.build(name, options, **context))
    except BaseException:
        for logger in built:
            logger.close(finished=False)
        raise
    return built


def hyperparameters(config: dict[str, Any], prefix: str = "") -> dict[str, Param]:
    """A config (as JSON-ready nested mappings) flattened to dotted keys, e.g. `train.lr` or
    `loss.terms.kd.temperature`; lists and nulls as JSON text, so every value is a str, number or bool."""
    flat: dict[str, Param] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(hyperparameters(value, f"{prefix}{key}."))
        elif isinstance(value, (str, int, float, bool)):
            flat[f"{prefix}{key}"] = value
        else:
            flat[f"{prefix}{key}"] = json.dumps(value)
    return flat
