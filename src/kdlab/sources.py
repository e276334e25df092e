"""Digests of the code behind a run that is not kdlab's own: part of a run's identity.

kdlab's own code and torch's are covered by the versions that run.json records (`code_version`,
`torch`). Everything else that decides a result is the user's code: a model, loss term, dataset or
teacher given as an object from Python, and any entry a script or a plugin registers. Its digest
covers
  - the source of its class (or function), and of each of its base classes that is neither kdlab's,
    torch's nor the standard library's;
  - the functions and classes of the user's modules that this code names as globals (a helper in
    the same file), followed transitively, and the plain constants it names (numbers, strings);
  - the version of an installed third-party package it or one of its bases comes from.
It cannot see data read from files, mutable global state, objects reached through attributes of
other objects, or what compiled extensions do.

`code_digest` is None when a piece's source cannot be read (a class typed into an interactive
session, or made with type() or exec): a run that depends on it is never reused.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

# Packages whose versions run.json records: their code is covered by those.
VERSIONED = ("kdlab", "torch")
_PLAIN = (int, float, str, bytes, bool, type(None))


def _origin(module: str | None) -> str:
    """'skip' (the standard library, kdlab, torch), 'installed' (a third-party package in
    site-packages: its version stands for its code) or 'user' (anything else: its source counts)."""
    root = (module or "").split(".")[0]
    if not root or root == "builtins" or root in sys.stdlib_module_names or root in VERSIONED:
        return "skip"
    file = getattr(sys.modules.get(module), "__file__", None)
    if file and any(part in ("site-packages", "dist-packages") for part in Path(file).parts):
        return "installed"
    return "user"


@functools.lru_cache(maxsize=None)
def _distribution_version(root: str) -> str:
    names = metadata.packages_distributions().get(root, [])
    try:
        return f"{names[0]}=={metadata.version(names[0])}" if names else f"{root} (no distribution found)"
    except metadata.PackageNotFoundError:
        return f"{root} (no distribution found)"


def _functions(piece: Any) -> Iterator[types.FunctionType]:
    """The Python functions that make up a class (its methods, properties) or a function."""
    if not isinstance(piece, type):
        if isinstance(piece, types.FunctionType):
            yield piece
        return
    for value in vars(piece).values():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        parts = (value.fget, value.fset, value.fdel) if isinstance(value, property) else (value,)
        yield from (p for p in parts if isinstance(p, types.FunctionType))


def _names(code: types.CodeType) -> set[str]:
    """Every global or attribute name a code object (and the code nested in it) mentions."""
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found


def _referenced(fn: types.FunctionType) -> Iterator[tuple[str, Any]]:
    """(name, value) of the module globals a function names; through a module it names, that
    module's attributes it names (`helpers.scale(x)`)."""
    names = _names(fn.__code__)
    for name in sorted(names):
        if name not in fn.__globals__:
            continue
        value = fn.__globals__[name]
        if isinstance(value, types.ModuleType):
            if _origin(value.__name__) == "user":
                yield from ((f"{name}.{n}", getattr(value, n)) for n in sorted(names) if hasattr(value, n))
        else:
            yield name, value


def code_digest(obj: Any) -> str | None:
    """A digest of the code behind `obj` (a class, a function, a functools.partial, or an instance:
    its class), or None when some of that code has no readable source."""
    if isinstance(obj, functools.partial):
        return code_digest_of(obj.func, extra=repr((obj.args, sorted(obj.keywords.items()))))
    return code_digest_of(obj if isinstance(obj, (type, types.FunctionType)) else type(obj))


def code_digest_of(target: Any, extra: str = "") -> str | None:
    # Pieces are named by qualified name, not module: the same code in a renamed file (or run as
    # __main__) has the same digest.
    parts: set[str] = {extra}
    seen: set[int] = set()
    todo = [target]
    while todo:
        piece = todo.pop()
        if id(piece) in seen:
            continue
        seen.add(id(piece))
        module = getattr(piece, "__module__", None)
        origin = _origin(module)
        if origin == "skip":
            continue
        label = getattr(piece, "__qualname__", "?")
        if origin == "installed":
            parts.add(f"{label} from {_distribution_version(module.split('.')[0])}")
            continue
        try:
            parts.add(f"{label}\n{inspect.getsource(piece)}")
        except (OSError, TypeError):  # no file behind it: an interactive session, type(), exec
            return None
        if isinstance(piece, type):
            todo += piece.__mro__[1:]
        for fn in _functions(piece):
            for name, value in _referenced(fn):
                if isinstance(value, (type, types.FunctionType)):
                    todo.append(value)
                elif isinstance(value, _PLAIN) or (isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value)):
                    parts.add(f"{label} {name} = {value!r}")
    digest = hashlib.sha256()
    for part in sorted(parts):
        digest.update(f"{part}\0".encode())
    return digest.hexdigest()[:16]


def is_kdlab(obj: Any) -> bool:
    """Whether a class or function is kdlab's own (covered by the recorded code version)."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "kdlab"
