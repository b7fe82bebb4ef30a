"""The scan's progress bar on a terminal (count, rate, ETA).  Its own module so that a scan
without a terminal (cron, CI, the bench) does not import rich.progress (about 10 ms)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Targets per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s")


@contextmanager
def progress_bar(total: int, console: Console) -> Iterator[Callable[[], None]]:
    """A transient bar on ``console``; yields the function that counts one target done."""
    columns = (
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("scan", total=total)
        yield lambda: progress.advance(task)
