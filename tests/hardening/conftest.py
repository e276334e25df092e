"""The hardening tests' shared pieces live in tests/conftest.py."""

from tests.conftest import TINY, files_under, write_yaml  # noqa: F401
