"""Registries by name: models, datasets, transforms, loss terms, probes and reports are named in
configs, never wired in code.

A registered builder declares its options as keyword arguments; options from a config are checked
against that signature, so a typo is an error naming the valid options.

Each registry belongs to a package whose modules register its built-in entries (one file each). The
package is imported on the first lookup, together with the `kdlab.plugins` entry points of installed
distributions, so an extension is found by dropping a file into the package or by installing a
plugin, never by an import someone has to know about. Code may also register entries itself:
`@MODELS.register("my_net")` in a script works the same.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import typing
from functools import partial
from importlib.metadata import entry_points
from typing import Any, Callable

from pydantic import TypeAdapter, ValidationError

from .errors import ConfigError

PLUGIN_GROUP = "kdlab.plugins"
_plugins_loaded = False


def load_plugins() -> None:
    """Import every `kdlab.plugins` entry point once; each registers its entries on import."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            ep.load()
        except Exception as e:  # a broken plugin: name it, rather than a traceback from inside it
            raise ConfigError(f"the kdlab plugin '{ep.name}' ({ep.value}) failed to load: {type(e).__name__}: {e}") from None


class Registry:
    def __init__(self, kind: str, context: tuple[str, ...] = (), package: str | None = None):
        self.kind = kind
        # Arguments the framework passes itself (e.g. num_classes); not settable from a config.
        self.context = context
        self.package = package
        self._builders: dict[str, Callable[..., Any]] = {}
        self._loaded = package is None

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self.package)
            load_plugins()

    def register(self, *names: str):
        def deco(fn):
            for name in names:
                self._builders[name] = fn
            return fn

        return deco

    def names(self) -> list[str]:
        self._load()
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._builders

    def get(self, name: str) -> Callable[..., Any]:
        self._load()
        if name not in self._builders:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown {self.kind} '{name}'{hint}; known: {', '.join(self.names())}")
        return self._builders[name]

    def options(self, name: str) -> dict[str, Any]:
        """The settable options of a builder and their defaults."""
        params = inspect.signature(self.get(name)).parameters
        return {
            k: (None if p.default is inspect.Parameter.empty else p.default)
            for k, p in params.items()
            if k not in self.context and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        }

    def check_options(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        """The options, checked against the builder's signature and validated against its annotations
        (e.g. `hidden: list[Count]`); returns them as validated."""
        valid = self.options(name)
        for key in options:
            if key not in valid:
                listed = ", ".join(valid) or "none"
                raise ConfigError(f"unknown option '{key}' for {self.kind} '{name}'; valid options: {listed}")
        hints = _annotations(self.get(name))
        checked = dict(options)
        for key, value in options.items():
            if key in hints:
                try:
                    checked[key] = TypeAdapter(hints[key]).validate_python(value)
                except ValidationError as e:
                    err = e.errors()[0]
                    where = "".join(f"[{p}]" for p in err["loc"])
                    raise ConfigError(f"option '{key}{where}' of {self.kind} '{name}': {err['msg']} "
                                      f"(got {_short(value)}; default {valid[key]!r})") from None
        return checked

    def build(self, name: str, options: dict[str, Any], **context: Any) -> Any:
        options = self.check_options(name, options)
        try:
            return self.get(name)(**context, **options)
        except (TypeError, ValueError) as e:
            if not options:  # not the user's options at fault: a genuine bug, keep the traceback
                raise
            defaults = {k: v for k, v in self.options(name).items() if k in options}
            raise ConfigError(f"{self.kind} '{name}' cannot use options {options} ({e}); defaults: {defaults}") from None


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of a builder's parameters (a class's __init__, a partial's function)."""
    while isinstance(fn, partial):
        fn = fn.func
    target = fn.__init__ if isinstance(fn, type) else fn
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # an annotation that does not resolve: leave those options unchecked
        return {}
    hints.pop("return", None)
    return hints


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
