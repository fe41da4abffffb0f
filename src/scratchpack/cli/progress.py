"""Renderers of ``scratchpack.progress``: rich bars on a terminal, plain lines in a log.

On a terminal (stderr is a tty) each step is a rich bar with what it is doing, bytes (or
items), rate and ETA; a step with no known total is a spinner with bytes and rate. Off a
terminal each step is one line when it starts (``scratchpack: downloading 41 packages
(38.2 MB)``), plus at most one line every few seconds while a single step runs long, so a CI
log never looks hung and never floods. ``--quiet`` installs nothing. Everything goes to stderr:
stdout stays the command's (JSON, SARIF...) alone.

Cost: ``advance`` is called per chunk read (64 KiB to 1 MiB); it adds to a counter and hands
the count to rich at most five times a second, as often as rich draws a frame (a few lines of
text laid out by hand, ~0.1 ms a row: rich's column table cost ten times that).
rich is imported only once the command has worked for ``START_DELAY`` (1 s;
``SCRATCHPACK_PROGRESS_DELAY``): a command that reports nothing (``lint``, ``--version``) or ends
sooner never loads it, so a quick copy pays nothing for its progress.
"""

from __future__ import annotations

import os
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
START_DELAY = 1.0  # seconds of work before bars appear on a terminal
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


def start_delay() -> float:
    """Seconds of a command's work before bars appear: ``SCRATCHPACK_PROGRESS_DELAY``, else
    ``START_DELAY``."""
    try:
        value = float(os.environ.get("SCRATCHPACK_PROGRESS_DELAY", START_DELAY))
    except ValueError:
        return START_DELAY
    return value if value >= 0 else START_DELAY


class RichReporter:
    """rich bars on stderr, from ``delay`` seconds after the first step began (so work that
    ends sooner never imports rich nor draws a frame: cheaper, and no flicker for a quick
    copy), stopped when no step is open (so the command's own output never interleaves with
    a live display). Steps opened before the bars exist join them with their counts so far."""

    def __init__(self, console: Any = None, delay: float | None = None) -> None:
        self._console = console
        self._delay = start_delay() if delay is None else delay
        self._progress: Progress | None = None
        self._tasks: list[RichTask] = []  # open, in the order they began
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._since: float | None = None

    def begin(self, what: str, total: int | None, unit: str, minor: bool) -> progress.Task:
        with self._lock:
            task = RichTask(self, what, total, unit, minor)
            self._tasks.append(task)
            if self._progress is not None:
                task.attach(self._progress)
            elif self._since is None:
                self._since = time.monotonic()
                if self._delay <= 0:
                    self._show()
                else:
                    self._timer = threading.Timer(self._delay, self._show)
                    self._timer.daemon = True
                    self._timer.start()
            elif time.monotonic() - self._since >= self._delay:
                self._show()
            return task

    def _show(self) -> None:
        """The bars, for every step open now (from the timer thread, or a later step)."""
        with self._lock:
            if self._progress is not None or not self._tasks:
                return
            self._progress = _make_progress(self._console)
            for task in self._tasks:
                task.attach(self._progress)
            self._progress.start()

    def finished(self, task: RichTask, ok: bool) -> None:
        with self._lock:
            if task in self._tasks:
                self._tasks.remove(task)
            if task.bars is not None and task.task_id is not None:
                if task.minor:
                    task.bars.remove_task(task.task_id)
                elif ok:  # complete: what was skipped (present, hard-linked) was not counted
                    total = task.total or task.done
                    task.bars.update(task.task_id, completed=total, total=total)
                else:  # left where it stopped
                    task.bars.stop_task(task.task_id)
            if not self._tasks and self._progress is not None:
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
            if self._timer is not None:
                self._timer.cancel()
            self._tasks.clear()
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


class RichTask:
    def __init__(
        self, reporter: RichReporter, what: str, total: int | None, unit: str, minor: bool
    ) -> None:
        self._reporter = reporter
        self.what = what
        self.total = total
        self.unit = unit
        self.minor = minor
        self.done = 0
        self.bars: Progress | None = None
        self.task_id: TaskID | None = None
        self._due = 0.0
        self._closed = False

    def attach(self, bars: Progress) -> None:
        """Join the bars, with what was counted before they existed."""
        done = self.done if self.total is None else min(self.done, self.total)
        self.task_id = bars.add_task(self.what, total=self.total, unit=self.unit, completed=done)
        self.bars = bars

    def advance(self, n: int) -> None:
        # No lock: this runs per chunk read, in parallel transfer threads. Under the GIL an
        # update lost to a race costs a few bytes of the display until the step closes, which
        # sets the bar to its total; a lock here cost more than the rest of the call.
        self.done += n
        bars, task_id = self.bars, self.task_id
        if bars is None or task_id is None:
            return  # no bars yet: counted, shown when they come
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + PUSH_INTERVAL
        done = self.done if self.total is None else min(self.done, self.total)
        bars.update(task_id, completed=done)

    def relabel(self, what: str) -> None:
        self.what = what
        if self.bars is not None and self.task_id is not None:
            self.bars.update(self.task_id, description=what)

    def close(self, ok: bool = True) -> None:
        if not self._closed:
            self._closed = True
            self._reporter.finished(self, ok)


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
BAR_WIDTH = 16


def _bar(completed: float, total: float | None) -> tuple[str, str]:
    """The filled and the empty part of a 16-cell bar (all empty while the total is unknown)."""
    if not total:
        return "", "━" * BAR_WIDTH
    filled = min(BAR_WIDTH, int(BAR_WIDTH * completed / total))
    return "━" * filled, "━" * (BAR_WIDTH - filled)


def task_fields(task: Any) -> tuple[str, str, str]:
    """Amount, rate and time of a rich task: ``12.0 MB/30.0 MB``, ``8.1 MB/s``, ``ETA 0:02``
    (the elapsed time once it finished or while the total is unknown)."""
    unit = task.fields.get("unit", "bytes")
    done = int(task.completed)
    if task.total is None:
        amount = _amount(done, unit) if done else ""
    elif unit == "bytes":
        amount = f"{human_size(done)}/{human_size(task.total)}"
    else:
        amount = f"{done}/{int(task.total)} {unit}"
    speed = task.finished_speed or task.speed
    rate = "" if speed is None else f"{_amount(int(speed), unit)}/s"
    if task.total is None or task.finished:
        when = _clock(task.finished_time or task.elapsed or 0)
    else:
        remaining = task.time_remaining
        when = "ETA -:--" if remaining is None else f"ETA {_clock(remaining)}"
    return amount, rate, when


def _make_progress(console: Any) -> Progress:
    """The bars; rich is imported here, with the first step.

    Each frame is plain lines of styled text laid out here, not rich's column table: the
    table measured and wrapped every cell of every row, ~1 ms a row per frame, which at five
    frames a second cost more than 2% of a copy's CPU (issue 14's bound); the lines cost a
    tenth of that. The numbers never wrap; a long description is cut with an ellipsis.
    """
    from rich.console import Group
    from rich.progress import Progress
    from rich.text import Text

    from scratchpack.cli.visible import console as visible_console

    out = console or visible_console(sys.stderr)

    class Bars(Progress):
        def get_renderable(self) -> Any:
            width = out.width
            frame = SPINNER[int(time.monotonic() * 12.5) % len(SPINNER)]
            shown = [(task, task_fields(task)) for task in self.tasks if task.visible]
            # the numbers are right-aligned in columns as wide as their widest row
            widths = [max((len(f[k]) for _, f in shown), default=0) for k in range(3)]
            room = max(width - 2 - BAR_WIDTH - 2 - sum(widths) - 3, 8)
            lines = []
            for task, (amount, rate, when) in shown:
                description = task.description
                if len(description) > room:
                    description = description[: room - 1] + "…"
                full, empty = _bar(task.completed, task.total)
                line = Text(no_wrap=True, overflow="crop")
                line.append(" " if task.finished else frame, "progress.spinner")
                line.append(" " + description.ljust(room) + " ")
                line.append(full, "bar.finished" if task.finished else "bar.complete")
                line.append(empty, "bar.back")
                line.append(" " + amount.rjust(widths[0]), "progress.download")
                line.append(" " + rate.rjust(widths[1]), "progress.data.speed")
                line.append(" " + when.rjust(widths[2]), "progress.remaining")
                lines.append(line)
            return Group(*lines)

    return Bars(
        console=out,
        transient=False,
        refresh_per_second=5,
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
