import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    # Decoded-dataset caches go to the test's own folder, never the user's.
    monkeypatch.setenv("KDLAB_CACHE", str(tmp_path / "cache"))
