"""Read a stream ahead in a background thread, so that reading, decompressing and hashing it
run on one core while the caller parses it on another.

Why: ``audit`` of a layer is one pass of two kinds of work. The bytes (``pread`` from the
archive, zlib or zstd decompression, the sha256 that proves the layer's digest) are C code
that releases the GIL; parsing the tar headers and looking at each file is Python that holds
it. Done in turn, a 600 MB layer pays for both; done by two threads, the C work hides behind
the Python work on a second core (the sha256 alone is 0.5 s of a 600 MB layer here, about as
long as dive's whole analysis of it).

Memory stays bounded: at most ``depth`` chunks of ``chunk`` bytes wait in the queue. What the
inner stream raises (a digest mismatch at its end, a truncated archive, a decompression
error) is raised again from :meth:`ReadAhead.read` in the caller's thread, in stream order,
so nothing unverified looks complete: the end of the stream is only reported after the inner
stream has said it and checked its digest. :meth:`ReadAhead.close` stops the thread whatever
state the caller left the stream in.
"""

from __future__ import annotations

import queue
import threading
from typing import BinaryIO

CHUNK = 1 << 20
DEPTH = 4


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
        try:
            while not self._stop.is_set():
                data = self._inner.read(self._chunk)
                if not data:
                    break
                if not self._put(data):
                    return
        except BaseException as exc:  # handed to the caller's thread, raised there
            self._put(_End(exc))
            return
        self._put(_End(None))

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
