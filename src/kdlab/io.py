"""Files: atomic writes (temp file + rename), strict JSON, safe YAML reading, and the code version
saved with every run."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

import yaml

from .errors import ConfigError, RunError
from .version import __version__


TEMP_SUFFIX = ".tmp"
# What reading a damaged .npz (a zip) raises: truncated, CRC-damaged, or not a zip at all.
DAMAGED_NPZ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.
    The file gets the mode a plain open() would (the umask's), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _file_mode())  # after the block: some writers (safetensors) recreate the file
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except Exception as e:
        tmp_path.unlink(missing_ok=True)
        if disk_full(e, path.parent):
            raise RunError(f"writing {path} failed: its filesystem is full ({free_space(path.parent)} free); the "
                           f"file was not changed: free some space and run the same command again to resume") from None
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown"
    return f"{free / 2**20:.1f} MiB" if free < 2**30 else f"{free / 2**30:.1f} GiB"


def disk_full(error: BaseException, folder: Path) -> bool:
    """Whether a failed write failed for want of space. Writers say so differently (OSError 28,
    safetensors' "No space left", torch.save's bare "unexpected pos"): the free space decides."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        return "No space left" in str(error) or shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def remove_temp_files(folder: str | Path) -> int:
    """Remove what interrupted atomic writes left in `folder` (at any depth, never through a link);
    returns how many."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        found += [Path(root) / f for f in files if f.startswith(".") and f.endswith(TEMP_SUFFIX)]
    for p in found:
        p.unlink(missing_ok=True)
    return len(found)


def jsonable(obj: Any) -> Any:
    """Strict JSON: NaN and infinities become null (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(jsonable(obj), allow_nan=False, default=str, **kwargs)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, dumps(obj, indent=2, sort_keys=True) + "\n")


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


# No record kdlab writes comes near this: a larger file is not one of its records.
MAX_RECORD_BYTES = 256 * 2**20


def _record_text(path: Path) -> str:
    """A record's text, bounded in size; unreadable (a folder, no permission) is a one-line RunError."""
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise RunError(f"{path} is {path.stat().st_size / 2**20:.0f} MiB, larger than any record kdlab writes; "
                           f"the run's records are damaged: remove the run to redo it")
        return path.read_text(errors="replace")
    except OSError as e:
        raise RunError(f"{path} cannot be read ({type(e).__name__}); the run's records are damaged: remove the run "
                       f"to redo it") from None


def _parse(text: str) -> Any:
    """JSON, with nesting beyond the parser's depth (a crafted or damaged file) as a ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSON-lines file; a damaged file is a one-line RunError naming the line."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for i, line in enumerate(_record_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = _parse(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise RunError(f"{path} line {i} is not a JSON object: the file is damaged; remove the run to redo it")
        rows.append(row)
    return rows


def read_json_object(path: str | Path) -> dict:
    """A JSON file that must hold an object; anything else is a one-line RunError."""
    path = Path(path)
    try:
        obj = _parse(_record_text(path))
    except ValueError as e:  # JSONDecodeError is one
        raise RunError(f"{path} is not readable JSON ({type(e).__name__}: {str(e)[:80]}); the run's records are "
                       f"damaged: remove the run to redo it") from None
    if not isinstance(obj, dict):
        raise RunError(f"{path} holds a {type(obj).__name__}, not an object; the run's records are damaged: remove "
                       f"the run to redo it")
    return obj


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one (`+dirty` if edited)."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return __version__
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=src, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return f"{__version__}+g{commit.stdout.strip()}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (the later would silently win)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` merges; its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                mark = key_node.start_mark
                raise ConfigError(f"key '{key}' is given twice in one mapping (line {mark.line + 1})")
            if isinstance(key, (str, int, float, bool)):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


MAX_YAML_VALUES = 100_000  # a config is small; more values means an alias bomb or the wrong file


def _expanded_size(value: Any, memo: dict[int, int], depth: int = 0) -> int:
    """How many values the document holds once YAML aliases are expanded (shared parts counted each time)."""
    if depth > 100:
        raise ConfigError("the config nests more than 100 levels deep")
    if id(value) in memo:
        return memo[id(value)]
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    size = 1
    for child in children:
        size += _expanded_size(child, memo, depth + 1)
        if size > MAX_YAML_VALUES:
            break
    memo[id(value)] = size
    return size


def parse_yaml(text: str, source: str) -> Any:
    """YAML text as plain data (safe: no tags that build objects), or a one-line ConfigError naming `source`."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML ({str(e).splitlines()[0][:200]})") from None
    except RecursionError:
        raise ConfigError(f"{source} nests too deeply to be a config") from None
    if _expanded_size(data, {}) > MAX_YAML_VALUES:
        raise ConfigError(f"{source} expands to more than {MAX_YAML_VALUES:,} values (YAML aliases?); "
                          f"a kdlab config is far smaller")
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping (UTF-8; empty is {}), or a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text (byte {e.start}); save the config as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path} ({e.strerror})") from None
    data = parse_yaml(text.removeprefix("\ufeff"), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    return data
