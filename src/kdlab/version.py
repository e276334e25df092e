"""The package version (one place; io.code_version adds the git commit)."""

__version__ = "0.1.0"
