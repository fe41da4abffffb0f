"""Progress of long work, as operations and transports report it: steps and byte counts.

This module knows nothing of terminals. Work opens a *step* (``with progress.step("downloading
41 packages", total=...) as task``), counts what it does (``task.advance(n)``, in the read loop
it already has), may relabel the step as it moves on (``scanning layer 2/3``), and may say
something that is not a step (``progress.note("retrying (2/5) after ...")``). The CLI installs
a renderer that turns this into rich bars on a terminal, one plain line per step elsewhere, or
nothing (``--quiet``); with none installed every call is a no-op, so library use and tests of
the operations pay nothing.

One process-wide reporter rather than a parameter threaded through every call: the registry
client's retries, a layer scan inside ``audit`` and a blob upload inside ``write_image``
report through the same channel without each caller in between passing it on.

Totals are given when the step starts and never change: callers compute them first (the sum
of descriptor sizes, of package sizes from the index), or pass ``None`` for an indeterminate
step (a spinner with bytes and rate, never ``0/0``).

Standard library only and cheap to import: every command loads it, ``lint`` included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Protocol


class Task(Protocol):
    """One running step; ``advance`` is called per chunk read, so it must be cheap."""

    def advance(self, n: int) -> None: ...
    def relabel(self, what: str) -> None: ...
    def close(self, ok: bool = True) -> None: ...


class Reporter(Protocol):
    """What a renderer implements (``cli/progress.py``)."""

    def begin(self, what: str, total: int | None, unit: str, minor: bool) -> Task: ...
    def note(self, text: str) -> None: ...


class Silent:
    """The reporter and task when nothing renders: every call does nothing."""

    def begin(self, what: str, total: int | None, unit: str, minor: bool) -> Task:
        return self

    def note(self, text: str) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def relabel(self, what: str) -> None:
        pass

    def close(self, ok: bool = True) -> None:
        pass


SILENT = Silent()
_current: Reporter = SILENT


def install(reporter: Reporter) -> Reporter:
    """Make ``reporter`` receive every step from now on; returns the one it replaces."""
    global _current
    previous, _current = _current, reporter
    return previous


@contextmanager
def step(
    what: str, total: int | None = None, *, unit: str = "bytes", minor: bool = False
) -> Iterator[Task]:
    """A step of work, closed when the block ends (even by an exception).

    ``unit`` is ``"bytes"`` or a noun for counted items (``"packages"``); ``minor`` steps (one
    blob among many) are drawn on a terminal but get no line of their own in a log.
    """
    task = _current.begin(what, total, unit, minor)
    try:
        yield task
    except BaseException:
        task.close(ok=False)  # a failed step is not drawn as complete
        raise
    task.close()


def note(text: str) -> None:
    """A message that is not a step (a retry), drawn without breaking the bars."""
    _current.note(text)


def active() -> bool:
    """Whether anything renders: lets a caller skip work done only to report (a size query)."""
    return _current is not SILENT


class Counted:
    """A read-only stream that advances ``on_read`` by the bytes read through it.

    Everything else (``proves``, ``seek``, ``close``...) is forwarded, so wrapping changes
    nothing for the reader.
    """

    def __init__(self, inner: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._inner = inner
        self._on_read = on_read

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self._on_read(len(data))
        return data

    def readable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def __enter__(self) -> Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


class CountedWriter:
    """A writable stream that advances ``on_write`` by the bytes written through it."""

    def __init__(self, inner: IO[bytes], on_write: Callable[[int], None]) -> None:
        self._inner = inner
        self._on_write = on_write

    def write(self, data: bytes) -> int:
        n = self._inner.write(data)
        self._on_write(len(data))
        return n

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)
