"""One process per run directory: an exclusive lock held for the whole run, resume included.

The lock is `flock` on <run>/.lock, which holds the holder's pid. The kernel releases it when the
holder exits however it exits (kill -9 included), so a stale lock never blocks a resume. A second
process fails at once with a one-line error naming the holder. A run directory that this process
created and that holds nothing but the lock when the run fails (a failed setup) is removed again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from ..errors import RunError
from ..io import TEMP_SUFFIX, remove_temp_files

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.fd: int | None = None
        self.created = False

    def __enter__(self) -> "RunLock":
        self.created = not self.root.exists()
        if self.root.exists() and not self.root.is_dir():
            raise RunError(f"{self.root} is a file, not a run directory; choose another name= or --out")
        self.root.mkdir(parents=True, exist_ok=True)
        try:  # never through a link: a planted .lock -> /elsewhere would make kdlab create that file
            fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError:
            if (self.root / LOCK_NAME).is_symlink():
                raise RunError(f"{self.root / LOCK_NAME} is a symbolic link; kdlab follows no link inside a run "
                               f"directory: remove it") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunError(f"{self.root} is in use by another kdlab process (pid {holder}); "
                           f"wait for it to finish, or choose another name= or --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        remove_temp_files(self.root)  # what an interrupted atomic write left behind
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None and self.created and self._only_lock_left():
                shutil.rmtree(self.root, ignore_errors=True)
        finally:
            if self.fd is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
                self.fd = None

    def _only_lock_left(self) -> bool:
        return all(p.name == LOCK_NAME or p.name.endswith(TEMP_SUFFIX) for p in self.root.iterdir())


def is_bookkeeping(path: Path) -> bool:
    """Files kdlab keeps in a run directory that are not records: the lock, temporary files."""
    return path.name == LOCK_NAME or (path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX))
