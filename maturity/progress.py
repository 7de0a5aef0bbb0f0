"""Progress on a terminal: a rich progress bar that collectors and scoring report into."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class BarProgress:
    """Implements ``collectors.base.Progress``: one bar per labelled step, hidden when piped."""

    def __init__(self, console: Console | None = None, *, enabled: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            disable=not enabled,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> BarProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._bar.update(
                self._task,
                completed=self._bar.tasks[-1].completed,
                total=self._bar.tasks[-1].completed,
            )
        self._bar.stop()

    def start(self, label: str, total: int | None = None) -> None:
        if self._task is not None:
            done = self._bar.tasks[-1].completed
            self._bar.update(self._task, total=done, completed=done)
        self._task = self._bar.add_task(label, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def note(self, message: str) -> None:
        self._bar.console.print(message, markup=False, highlight=False)
