"""A rich progress bar over training steps, on stderr so that `--json` output stays clean."""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, name: str, total: int, done: int = 0, enabled: bool = True, every: int = 10):
        self.every, self.count, self.stats, self.post = every, 0, "", ""
        self.bar = None
        if enabled:
            self.bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task(name, total=total, completed=done, stats="")

    def advance(self, stats: Callable[[], dict[str, float]]) -> None:
        if self.bar is None:
            return
        self.count += 1
        if self.count % self.every == 0:  # reading the stats syncs the device: not every step
            self.stats = " ".join(f"{k} {v:.3f}" for k, v in stats().items())
            self.bar.update(self.task, advance=self.every, stats=f"{self.stats} {self.post}")

    def set_postfix(self, **values: float) -> None:
        if self.bar is None:
            return
        self.post = " ".join(f"{k} {v:.3f}" for k, v in values.items())
        self.bar.update(self.task, advance=self.count % self.every, stats=f"{self.stats} {self.post}")
        self.count = 0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
