"""Read a stream ahead in a background thread, so that reading, decompressing and hashing it
run on one core while the caller parses it on another.

Why: ``audit`` of a layer is one pass of two kinds of work. The bytes (``pread`` from the
archive, zlib or zstd decompression, the sha256 that proves the layer's digest) are C code
that releases the GIL; parsing the tar headers and looking at each file is Python that holds
it. Done in turn, a 600 MB layer pays for both; done by two threads, the C work hides behind
the Python work on a second core (the sha256 alone is 0.5 s of a 600 MB layer here, about as
long as dive's whole analysis of it).

Two settings make the overlap real on a busy main thread. Chunks are 4 MiB: the thread needs
the GIL between its C calls (after each ``pread``, each sha256 update, to queue a chunk), a
few times per chunk, so fewer chunks mean fewer waits. And while a read-ahead thread runs, the
interpreter's switch interval is 0.5 ms instead of 5 ms (:class:`_FastSwitch`): the parsing
thread holds the GIL until that interval forces it to let go, so with the default one the
hashing thread waited up to 5 ms at each of those points (``bench/bench_readahead.py``:
reading and hashing 600 MB beside a thread that never lets go of the GIL, 1 MiB chunks and the
default interval against these settings).

Memory stays bounded: at most ``depth`` chunks of ``chunk`` bytes wait in the queue (8 MiB
with the defaults: two 4 MiB chunks), plus the one the thread is reading and the one the
caller holds, 16 MiB in all (four 1 MiB chunks before: 6 MiB). What the
inner stream raises (a digest mismatch at its end, a truncated archive, a decompression
error) is raised again from :meth:`ReadAhead.read` in the caller's thread, in stream order,
so nothing unverified looks complete: the end of the stream is only reported after the inner
stream has said it and checked its digest. :meth:`ReadAhead.close` stops the thread whatever
state the caller left the stream in.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import BinaryIO

CHUNK = 4 << 20
DEPTH = 2
SWITCH_INTERVAL = 0.0005  # seconds, while a read-ahead thread runs (the default is 0.005)


class _FastSwitch:
    """The interpreter's switch interval, lowered while any read-ahead thread runs and put
    back as it was when the last one ends (however it ends: each thread leaves in a
    ``finally``). Counted, as two streams may be read ahead at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved = 0.0

    def enter(self) -> None:
        with self._lock:
            if self._running == 0:
                self._saved = sys.getswitchinterval()
                if self._saved > SWITCH_INTERVAL:
                    sys.setswitchinterval(SWITCH_INTERVAL)
            self._running += 1

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                sys.setswitchinterval(self._saved)


_FAST_SWITCH = _FastSwitch()


class _End:
    """The inner stream's end (``error`` None) or what reading it raised."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class ReadAhead:
    """A read-only stream over ``inner``, read ahead by one background thread."""

    def __init__(self, inner: BinaryIO, chunk: int = CHUNK, depth: int = DEPTH) -> None:
        self._inner = inner
        self._chunk = chunk
        self._queue: queue.Queue[bytes | _End] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = b""
        self._pos = 0
        self._end: _End | None = None
        self._thread = threading.Thread(target=self._run, name="scratchpack-readahead", daemon=True)
        self._thread.start()

    def _put(self, item: bytes | _End) -> bool:
        """Queue ``item``, waiting for room; False once the reader has gone away."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        _FAST_SWITCH.enter()
        try:
            end = self._pump()
        finally:
            _FAST_SWITCH.leave()  # before the end is handed over: the caller finds it restored
        if end is not None:
            self._put(end)

    def _pump(self) -> _End | None:
        """Read and queue chunks; the end to hand over (None once the reader has gone away)."""
        try:
            while not self._stop.is_set():
                data = self._inner.read(self._chunk)
                if not data:
                    return _End(None)
                if not self._put(data):
                    return None
        except BaseException as exc:  # handed to the caller's thread, raised there
            return _End(exc)
        return None

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (everything left when negative); ``b""`` only at the verified end."""
        if n < 0:
            pieces = []
            while piece := self.read(self._chunk):
                pieces.append(piece)
            return b"".join(pieces)
        if self._pos >= len(self._buf):
            if self._end is not None:
                return self._finish()
            item = self._queue.get()
            if isinstance(item, _End):
                self._end = item
                return self._finish()
            if n >= len(item):  # the usual case: the whole chunk, no copy
                return item
            self._buf, self._pos = item, 0
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        if self._pos >= len(self._buf):
            self._buf, self._pos = b"", 0
        return data

    def _finish(self) -> bytes:
        assert self._end is not None
        if self._end.error is not None:
            raise self._end.error  # again on every read: a failed stream never ends cleanly
        return b""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Stop the thread (it may be blocked on a full queue or inside a read) and close the
        inner stream."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(0.05)
        self._inner.close()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
