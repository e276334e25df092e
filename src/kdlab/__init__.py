"""kdlab: a toolkit for knowledge-distillation research."""

__version__ = "0.1.0"
