"""Code digests (kdlab.sources): what of the user's code a run's identity sees."""

import importlib
import sys

import pytest

from kdlab.sources import code_digest, is_kdlab

MODULE = '''
from torch import nn

import {helpers} as helpers

FACTOR = 3


def scale(x):
    return x * FACTOR


class Base(nn.Module):
    def forward(self, x):
        return scale(self.inner(x))


class Net(Base):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(2, 2)

    def shifted(self, x):
        return helpers.shift(x)
'''
HELPERS = "def shift(x):\n    return x + 1\n"


@pytest.fixture
def load(tmp_path, monkeypatch):
    """load(name, helpers=..., **{old: new}): the module above under another name, edited; its Net."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    made = []

    def write(name: str, helpers: str = HELPERS, edits: dict | None = None):
        (tmp_path / f"{name}_helpers.py").write_text(helpers)
        text = MODULE.format(helpers=f"{name}_helpers")
        for old, new in (edits or {}).items():
            assert old in text
            text = text.replace(old, new)
        (tmp_path / f"{name}.py").write_text(text)
        made.extend([name, f"{name}_helpers"])
        return importlib.import_module(name).Net

    yield write
    for name in made:
        sys.modules.pop(name, None)


def test_the_same_code_has_the_same_digest_under_any_module_name(load):
    net = load("same_a")
    assert code_digest(net) == code_digest(net()) == code_digest(load("same_b")) and len(code_digest(net)) == 16


@pytest.mark.parametrize("edits,helpers", [
    ({"self.inner = nn.Linear(2, 2)": "self.inner = nn.Linear(2, 2, bias=True)"}, HELPERS),  # the class itself
    ({"return scale(self.inner(x))": "return scale(self.inner(x)) + 0"}, HELPERS),  # a user-defined base class
    ({"return x * FACTOR": "return FACTOR * x"}, HELPERS),  # a function of the same file its code names
    ({"FACTOR = 3": "FACTOR = 4"}, HELPERS),  # a constant that function names
    ({}, "def shift(x):\n    return x + 2\n"),  # a function of another user module, named through it
])
def test_each_kind_of_edit_changes_the_digest(load, edits, helpers):
    assert code_digest(load("edit_a", helpers, edits)) != code_digest(load("edit_b"))


def test_code_without_source_has_no_digest_and_kdlab_is_known():
    assert code_digest(type("Made", (), {"forward": lambda self: 0})) is None
    assert is_kdlab(code_digest) and not is_kdlab(pytest.approx)
