import json
from pathlib import Path

import pytest
import yaml

from kdlab.cli import main

TINY = {"name": "tiny", "data": {"name": "digits", "train_size": 64}, "model": {"name": "mlp", "hidden": [8]},
        "train": {"epochs": 1, "batch_size": 32}, "record": {"checkpoint_every_epochs": 1}}


def write_yaml(path: Path, obj) -> str:
    path.write_text(yaml.safe_dump(obj))
    return str(path)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def cli(capsys):
    """Run the CLI in this process: (exit status, stdout, stderr)."""

    def run(*argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            code = e.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def fails(cli):
    """The CLI refuses: exit status 2, exactly one stderr line, no traceback, and `match` in it."""

    def check(*argv, match: str = ""):
        code, out, err = cli(*argv)
        assert code == 2, (code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kdlab: error:"), err
        assert "Traceback" not in err and match in err, err
        return err

    return check


@pytest.fixture
def finished(tmp_path, cli):
    """A small finished run (config TINY) under tmp_path/runs."""
    cfg = write_yaml(tmp_path / "tiny.yaml", TINY)
    code, out, err = cli("run", cfg, "--out", tmp_path / "runs", "--json", "--no-progress")
    assert code == 0, err
    return Path(json.loads(out)["run"])


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    # Decoded-dataset caches go to the test's own folder, never the user's.
    monkeypatch.setenv("KDLAB_CACHE", str(tmp_path / "cache"))
