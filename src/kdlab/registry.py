"""Registries by name: models, datasets, transforms, loss terms, probes, reports and executors are
named in configs, never wired in code.

A registered builder declares its options as keyword arguments; options from a config are checked
against that signature (an option without a default is required; one whose default is None is
optional) and validated against its annotations, so a typo or a bad value is an error naming the
option and what is valid.

Each registry belongs to a package. On its first lookup kdlab imports that package and every module
in it, and every `kdlab.plugins` entry point of the installed distributions (a plugin that is a
package has all its modules imported too). So one new file in the package, or in a plugin's
package, is one new entry, with no list to edit. Code may also register entries itself:
`@MODELS.register("my_net")` in a script works the same.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import typing
from functools import partial
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Callable

from pydantic import TypeAdapter, ValidationError

from .errors import ConfigError

PLUGIN_GROUP = "kdlab.plugins"
_plugins_loaded = False


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()  # the "default" of an option without one


def import_all(package: str | ModuleType) -> None:
    """Import a package and every module in it, at any depth: each file registers its own entries."""
    module = importlib.import_module(package) if isinstance(package, str) else package
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{module.__name__}."):
        importlib.import_module(info.name)


def load_plugins() -> None:
    """Import every `kdlab.plugins` entry point once (a package with all its modules); each
    registers its entries on import."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            loaded = ep.load()
            if isinstance(loaded, ModuleType):
                import_all(loaded)
        except Exception as e:  # a broken plugin: name it, rather than a traceback from inside it
            raise ConfigError(f"the kdlab plugin '{ep.name}' ({ep.value}) failed to load: {type(e).__name__}: {e}") from None


class Registry:
    def __init__(self, kind: str, context: tuple[str, ...] = (), package: str | None = None,
                 spell: Callable[[str], str] = str):
        self.kind = kind
        # Arguments the framework passes itself (e.g. num_classes); not settable from a config.
        self.context = context
        self.package = package
        # How an option is written where users write it (e.g. `cpus_per_run` as the flag --cpus-per-run).
        self.spell = spell
        self._builders: dict[str, Callable[..., Any]] = {}
        self._loaded = package is None

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            import_all(self.package)
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
            where = f"; a new one is a file of {self.package} or of a kdlab.plugins package" if self.package else ""
            raise ConfigError(f"unknown {self.kind} '{name}'{hint}; known: {', '.join(self.names())}{where}")
        return self._builders[name]

    def options(self, name: str) -> dict[str, Any]:
        """The settable options of a builder and their defaults (REQUIRED where there is none)."""
        params = inspect.signature(self.get(name)).parameters
        return {
            k: (REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for k, p in params.items()
            if k not in self.context and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        }

    def _listed(self, options) -> str:
        return ", ".join(self.spell(o) for o in options) or "none"

    def check_options(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        """The options, checked against the builder's signature (unknown and missing required ones)
        and validated against its annotations (e.g. `hidden: list[Count]`); returns them as validated."""
        valid = self.options(name)
        for key in options:
            if key not in valid:
                raise ConfigError(f"unknown option '{self.spell(key)}' for {self.kind} '{name}'; "
                                  f"valid options: {self._listed(valid)}")
        missing = [k for k, default in valid.items() if default is REQUIRED and k not in options]
        if missing:
            raise ConfigError(f"{self.kind} '{name}' needs option '{self.spell(missing[0])}'; "
                              f"its options: {self._listed(valid)}")
        hints = _annotations(self.get(name))
        checked = dict(options)
        for key, value in options.items():
            if key in hints:
                try:
                    checked[key] = TypeAdapter(hints[key]).validate_python(value)
                except ValidationError as e:
                    err = e.errors()[0]
                    where = "".join(f"[{p}]" for p in err["loc"])
                    default = "required" if valid[key] is REQUIRED else f"default {valid[key]!r}"
                    raise ConfigError(f"option '{self.spell(key)}{where}' of {self.kind} '{name}': {err['msg']} "
                                      f"(got {_short(value)}; {default})") from None
        return checked

    def with_defaults(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        """The checked options with every default written out: what a config records in full."""
        defaults = {k: v for k, v in self.options(name).items() if v is not REQUIRED}
        return {**defaults, **self.check_options(name, options)}

    def build(self, name: str, options: dict[str, Any], **context: Any) -> Any:
        options = self.check_options(name, options)
        try:
            return self.get(name)(**context, **options)
        except (TypeError, ValueError, OverflowError, MemoryError) as e:
            # OverflowError / MemoryError: a size the options asked for beyond what an index holds or
            # the machine can allocate (a model's are refused before, kdlab.train.loop.check_model_fits).
            if not options:  # not the user's options at fault: a genuine bug, keep the traceback
                raise
            defaults = {k: v for k, v in self.options(name).items() if k in options}
            reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise ConfigError(f"{self.kind} '{name}' cannot use options {options} ({reason}); "
                              f"defaults: {defaults}") from None


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
