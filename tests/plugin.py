"""Install a kdlab plugin for a subprocess: a module plus a dist-info with a `kdlab.plugins` entry point."""

from pathlib import Path


def install_plugin(site: Path, module: str, source: str) -> dict[str, str]:
    """Write `module` (its source) and its distribution metadata under `site`; returns the env to run with."""
    import os

    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(source)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[kdlab.plugins]\n{module} = {module}\n")
    return {**os.environ, "PYTHONPATH": str(site)}
