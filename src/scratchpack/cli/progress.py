"""Renderers of ``scratchpack.progress``: rich bars on a terminal, plain lines in a log.

On a terminal (stderr is a tty) each step is a rich bar with what it is doing, bytes (or
items), rate and ETA; a step with no known total is a spinner with bytes and rate. Off a
terminal each step is one line when it starts (``scratchpack: downloading 41 packages
(38.2 MB)``), plus at most one line every few seconds while a single step runs long, so a CI
log never looks hung and never floods. ``--quiet`` installs nothing. Everything goes to stderr:
stdout stays the command's (JSON, SARIF...) alone.

Cost: ``advance`` is called per chunk read (64 KiB to 1 MiB); it adds to a counter and hands
the count to rich at most five times a second, as often as rich draws a frame (~2 ms each).
rich is imported when the first step begins, so a command that reports nothing (``lint``,
``--version``) never loads it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from scratchpack import progress
from scratchpack.cli.format import human_size

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PUSH_INTERVAL = 0.2  # seconds between counts handed to rich (and between frames)
PLAIN_INTERVAL = 5.0  # seconds between plain lines about one long step


def _clock(seconds: float) -> str:
    """``m:ss`` (``12:05``), as an ETA or an elapsed time."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _amount(n: int, unit: str) -> str:
    return human_size(n) if unit == "bytes" else f"{n} {unit}"


class PlainReporter:
    """One line per step on a stream that is not a terminal."""

    def __init__(self, stream: IO[str] | None = None, interval: float = PLAIN_INTERVAL) -> None:
        self._stream = stream or sys.stderr
        self._interval = interval
        self._lock = threading.Lock()
        self._last_line = time.monotonic()

    def write(self, text: str) -> None:
        with self._lock:
            self._stream.write(f"scratchpack: {text}\n")
            self._stream.flush()
            self._last_line = time.monotonic()

    def begin(self, what: str, total: int | None, unit: str, minor: bool) -> progress.Task:
        if minor:
            return progress.SILENT
        task = PlainTask(self, what, total, unit)
        self.write(task.headline())
        return task

    def note(self, text: str) -> None:
        self.write(text)

    def due(self, now: float) -> bool:
        """Whether a line about a long step may be printed now (one per interval, overall)."""
        return now - self._last_line >= self._interval


class PlainTask:
    def __init__(self, reporter: PlainReporter, what: str, total: int | None, unit: str) -> None:
        self._reporter = reporter
        self.what = what
        self.total = total
        self.unit = unit
        self.done = 0
        self._started = time.monotonic()

    def headline(self) -> str:
        if self.total is None or self.unit != "bytes":
            return self.what
        return f"{self.what}: {human_size(self.total)}"

    def advance(self, n: int) -> None:
        self.done += n  # unlocked, as in RichTask.advance
        now = time.monotonic()
        if self._reporter.due(now):
            elapsed = max(now - self._started, 1e-6)
            done = self.done if self.total is None else min(self.done, self.total)
            rate = f"{_amount(int(done / elapsed), self.unit)}/s"
            if self.total:
                shown = f"{_amount(done, self.unit)} of {_amount(self.total, self.unit)}"
                eta = f"ETA {_clock((self.total - done) * elapsed / done)}" if done else "ETA -:--"
                share = 100 * done // self.total
                self._reporter.write(f"{self.what}: {shown} ({share}%, {rate}, {eta})")
            else:
                self._reporter.write(f"{self.what}: {_amount(done, self.unit)} ({rate})")

    def relabel(self, what: str) -> None:
        self.what = what
        self._reporter.write(what)

    def close(self, ok: bool = True) -> None:
        pass


class RichReporter:
    """rich bars on stderr; started with the first step, stopped when no step is open (so
    the command's own output never interleaves with a live display)."""

    def __init__(self, console: Any = None) -> None:
        self._console = console
        self._progress: Progress | None = None
        self._open = 0
        self._lock = threading.RLock()

    def begin(self, what: str, total: int | None, unit: str, minor: bool) -> progress.Task:
        with self._lock:
            starting = self._progress is None
            if self._progress is None:
                self._progress = _make_progress(self._console)
            bars = self._progress
            task_id = bars.add_task(what, total=total, unit=unit)
            if starting:
                bars.start()  # after the task is added: the first frame already shows it
            self._open += 1
            return RichTask(self, bars, task_id, total, minor)

    def finished(self, task: RichTask, ok: bool) -> None:
        with self._lock:
            if task.minor:
                task.bars.remove_task(task.task_id)
            elif ok:  # complete: what was skipped (present, hard-linked) was not counted
                total = task.total or task.done
                task.bars.update(task.task_id, completed=total, total=total)
            else:  # left where it stopped
                task.bars.stop_task(task.task_id)
            self._open -= 1
            if self._open == 0 and self._progress is not None:
                self._progress.stop()
                self._progress = None

    def note(self, text: str) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(f"scratchpack: {text}", markup=False,
                                             highlight=False)  # fmt: skip
                return
        sys.stderr.write(f"scratchpack: {text}\n")

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


class RichTask:
    def __init__(
        self, reporter: RichReporter, bars: Progress, task_id: TaskID, total: int | None,
        minor: bool,
    ) -> None:  # fmt: skip
        self._reporter = reporter
        self.bars = bars
        self.task_id = task_id
        self.total = total
        self.minor = minor
        self.done = 0
        self._due = 0.0
        self._closed = False

    def advance(self, n: int) -> None:
        # No lock: this runs per chunk read, in parallel transfer threads. Under the GIL an
        # update lost to a race costs a few bytes of the display until the step closes, which
        # sets the bar to its total; a lock here cost more than the rest of the call.
        self.done += n
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + PUSH_INTERVAL
        done = self.done if self.total is None else min(self.done, self.total)
        self.bars.update(self.task_id, completed=done)

    def relabel(self, what: str) -> None:
        self.bars.update(self.task_id, description=what)

    def close(self, ok: bool = True) -> None:
        if not self._closed:
            self._closed = True
            self._reporter.finished(self, ok)


def _make_progress(console: Any) -> Progress:
    """The bar layout; rich is imported here, with the first step."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class AmountColumn(ProgressColumn):
        """``12.0/30.0 MB`` or ``3/41 packages``; just the count when the total is unknown."""

        def render(self, task: Task) -> Text:
            unit = task.fields.get("unit", "bytes")
            done = int(task.completed)
            if task.total is None:
                return Text(_amount(done, unit) if done else "", style="progress.download")
            if unit == "bytes":
                return Text(f"{human_size(done)}/{human_size(task.total)}", "progress.download")
            return Text(f"{done}/{int(task.total)} {unit}", style="progress.download")

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("")
            return Text(f"{_amount(int(speed), task.fields.get('unit', 'bytes'))}/s",
                        style="progress.data.speed")  # fmt: skip

    class EtaColumn(ProgressColumn):
        """``ETA 0:00:12`` while the total is known; elapsed time for a spinner."""

        def render(self, task: Task) -> Text:
            if task.total is None or task.finished:
                elapsed = task.finished_time or task.elapsed or 0
                return Text(_clock(elapsed), style="progress.elapsed")
            remaining = task.time_remaining
            if remaining is None:
                return Text("ETA -:--", style="progress.remaining")
            return Text(f"ETA {_clock(remaining)}", style="progress.remaining")

    def fixed() -> Column:
        return Column(no_wrap=True)

    # The numbers never wrap; a long description is cut with an ellipsis instead (80 columns).
    return Progress(
        SpinnerColumn(finished_text=" "),
        TextColumn(
            "{task.description}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")
        ),
        BarColumn(bar_width=16),
        AmountColumn(table_column=fixed()),
        RateColumn(table_column=fixed()),
        EtaColumn(table_column=fixed()),
        console=console or Console(stderr=True),
        transient=False,
        refresh_per_second=5,  # a frame costs ~2 ms: 1% of a core at 5 a second
        expand=True,
    )


@contextmanager
def reporting(quiet: bool) -> Iterator[None]:
    """Install the renderer that fits stderr for the command's run: rich on a terminal, plain
    lines elsewhere, nothing with ``--quiet``."""
    if quiet:
        yield
        return
    reporter: RichReporter | PlainReporter
    reporter = RichReporter() if sys.stderr.isatty() else PlainReporter()
    previous = progress.install(reporter)
    try:
        yield
    finally:
        progress.install(previous)
        if isinstance(reporter, RichReporter):
            reporter.close()
