"""Progress bars for blob transfers: rich on a terminal, silence elsewhere."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from scratchpack.model.descriptor import Descriptor


class RichProgress:
    """One bar per blob and one overall, on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._overall = self._progress.add_task("total", total=0)
        self._expected = 0

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def _task(self, descriptor: Descriptor) -> TaskID:
        key = str(descriptor.digest)
        with self._lock:
            if key not in self._tasks:
                self._tasks[key] = self._progress.add_task(
                    descriptor.digest.short(), total=descriptor.size
                )
                self._expected += descriptor.size
                self._progress.update(self._overall, total=self._expected)
            return self._tasks[key]

    def blob_started(self, descriptor: Descriptor) -> None:
        self._task(descriptor)

    def blob_advanced(self, descriptor: Descriptor, n: int) -> None:
        self._progress.advance(self._task(descriptor), n)
        self._progress.advance(self._overall, n)

    def blob_finished(self, descriptor: Descriptor, outcome: str) -> None:
        task = self._task(descriptor)
        self._progress.update(
            task, completed=descriptor.size, description=f"{descriptor.digest.short()} {outcome}"
        )
