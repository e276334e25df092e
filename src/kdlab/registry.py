"""Registries by name: models and datasets are named in configs, never wired in code.

A registered builder declares its options as keyword arguments; options from a config are checked
against that signature, so a typo is an error naming the valid options.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable

from .errors import ConfigError


class Registry:
    def __init__(self, kind: str, context: tuple[str, ...] = ()):
        self.kind = kind
        # Arguments the framework passes itself (e.g. num_classes); not settable from a config.
        self.context = context
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, *names: str):
        def deco(fn):
            for name in names:
                self._builders[name] = fn
            return fn

        return deco

    def names(self) -> list[str]:
        return sorted(self._builders)

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._builders:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown {self.kind} '{name}'{hint}; known: {', '.join(self.names())}")
        return self._builders[name]

    def options(self, name: str) -> dict[str, Any]:
        """The settable options of a builder and their defaults."""
        params = inspect.signature(self.get(name)).parameters
        return {
            k: (None if p.default is inspect.Parameter.empty else p.default)
            for k, p in params.items()
            if k not in self.context and p.kind is not inspect.Parameter.VAR_KEYWORD
        }

    def check_options(self, name: str, options: dict[str, Any]) -> None:
        valid = self.options(name)
        for key in options:
            if key not in valid:
                listed = ", ".join(valid) or "none"
                raise ConfigError(f"unknown option '{key}' for {self.kind} '{name}'; valid options: {listed}")

    def build(self, name: str, options: dict[str, Any], **context: Any) -> Any:
        self.check_options(name, options)
        try:
            return self.get(name)(**context, **options)
        except (TypeError, ValueError) as e:
            if not options:  # not the user's options at fault: a genuine bug, keep the traceback
                raise
            defaults = {k: v for k, v in self.options(name).items() if k in options}
            raise ConfigError(f"{self.kind} '{name}' cannot use options {options} ({e}); defaults: {defaults}") from None
