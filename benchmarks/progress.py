"""Live progress: one rich progress bar per method, advanced per episode, with elapsed time and ETA."""
from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    """`with RunProgress(console) as progress:`; `enabled=False` keeps the same calls silent (tests, pipes)."""

    def __init__(self, console: Console | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]{task.fields[method]:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
            disable=not enabled,
        )

    def __enter__(self) -> "RunProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def add_method(self, method: str, total: int, *, already_done: int = 0) -> TaskID:
        return self._progress.add_task(method, total=total, completed=already_done, method=method,
                                       status="resumed" if already_done else "waiting")

    def status(self, task: TaskID, text: str) -> None:
        self._progress.update(task, status=text)

    def advance(self, task: TaskID, text: str = "") -> None:
        self._progress.update(task, advance=1, status=text)

    def finish(self, task: TaskID, text: str) -> None:
        total = self._progress.tasks[self._task_index(task)].total
        self._progress.update(task, completed=total, status=text)

    def _task_index(self, task: TaskID) -> int:
        return [t.id for t in self._progress.tasks].index(task)

    def log(self, message: str) -> None:
        """A line printed above the bars (e.g. 'nnshot failed on episode 3: ...'), with or without bars."""
        self._progress.console.print(message, markup=False, highlight=False)
