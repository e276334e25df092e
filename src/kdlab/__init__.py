"""kdlab: a toolkit for knowledge-distillation research.

From Python: `kdlab.fit(config, model=..., data=..., teacher=..., losses=...)` trains a run from
your own objects or from names; `kdlab.load_run(path)` reads one back. See README, "Use it from Python".
"""

from .version import __version__

_API = ("fit", "load_run", "Run")


def __getattr__(name: str):
    # The API is loaded on first use, so `import kdlab.errors` and the CLI stay light.
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'kdlab' has no attribute {name!r}")


__all__ = ["__version__", *_API]
