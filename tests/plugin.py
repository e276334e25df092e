"""Install a kdlab plugin for a subprocess: a module or a package plus a dist-info with a
`kdlab.plugins` entry point."""

from pathlib import Path


def install_plugin(site: Path, module: str, source: str | None = None, files: dict[str, str] | None = None
                   ) -> dict[str, str]:
    """Write `module` (its source), or a package `module` of `files` (file name -> source), and its
    distribution metadata under `site`; returns the env to run with."""
    import os

    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    if files is None:
        (site / f"{module}.py").write_text(source or "")
    else:
        (site / module).mkdir()
        for name, text in files.items():
            (site / module / name).write_text(text)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[kdlab.plugins]\n{module} = {module}\n")
    return {**os.environ, "PYTHONPATH": str(site)}
