"""Compress a layer while hashing both sides, using every core.

The uncompressed stream is cut into fixed-size chunks, each chunk is compressed independently
on a thread pool (zlib-ng and zstd release the GIL), and the results are written in order. A
gzip stream of several members, or a zstd stream of several frames, is standard and every
engine reads it. Because the chunk size is fixed, the output does not depend on how many
threads ran: the same input gives the same bytes on a one-core laptop and a 64-core CI box.
Hand-written because no library offers "parallel, deterministic, hash both sides in one pass"
(pigz is a separate process and python-isal has no level 6).

A layer of one chunk (the essentials, a small binary) is compressed in the calling thread;
a larger one starts one thread per chunk, at most one per core at a time. Not
``concurrent.futures``: its import (with ``logging``) cost more than the threads it would
manage for a 5 MB binary's two chunks (issue 17), and ordered results of a bounded number of
threads is all this needs. ``zstandard`` is imported only for zstd. Uncompressed, the bytes
are hashed once: the blob digest is the diff_id.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from zlib_ng import zlib_ng

from scratchpack.errors import UsageError
from scratchpack.model.digest import Digest
from scratchpack.model.mediatypes import COMPRESSIONS

CHUNK_SIZE = 4 << 20
DEFAULT_LEVELS = {"gzip": 6, "zstd": 3, "none": 0}
# What each library accepts (zlib 1-9; zstd's "normal" levels, as `zstd -19`; 20-22 need
# --ultra's memory): outside it zlib-ng raises a bare "Bad compression level".
LEVEL_RANGES = {"gzip": (1, 9), "zstd": (1, 19)}


def check_level(compression: str, level: int | None) -> None:
    """A usage error, before any work, for a level the compression does not have."""
    if level is None or compression == "none":
        return
    low, high = LEVEL_RANGES[compression]
    if not low <= level <= high:
        raise UsageError(f"--compression-level {level}: {compression} levels are {low}-{high}")


@dataclass(frozen=True)
class CompressedBlob:
    """What came out: digests and sizes of both the stored and the uncompressed bytes."""

    digest: Digest
    size: int
    diff_id: Digest
    uncompressed_size: int
    compression: str


def _compressor(compression: str, level: int) -> Callable[[bytes], bytes]:
    if compression == "gzip":
        return lambda chunk: zlib_ng.compress(chunk, level, 31)
    if compression == "zstd":
        import zstandard

        # A compressor object is not thread-safe; one per call is cheap next to 4 MiB of work.
        return lambda chunk: zstandard.ZstdCompressor(level=level).compress(chunk)
    raise UsageError(f"unknown compression {compression!r}: use one of {', '.join(COMPRESSIONS)}")


class _ChunkThread(threading.Thread):
    """One chunk compressed on its own thread (zlib-ng and zstd release the GIL)."""

    def __init__(self, fn: Callable[[bytes], bytes], chunk: bytes) -> None:
        super().__init__(name="compress", daemon=True)
        self._fn = fn
        self._chunk = chunk
        self._out: bytes | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._out = self._fn(self._chunk)
        except BaseException as exc:  # handed to the writer's thread by result()
            self._error = exc
        finally:
            self._chunk = b""

    def result(self) -> bytes:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._out is not None
        return self._out


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class CompressingWriter:
    """A file-like sink: write uncompressed bytes, get compressed bytes in ``out``."""

    def __init__(
        self,
        out: BinaryIO,
        compression: str = "gzip",
        level: int | None = None,
        threads: int | None = None,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise UsageError(
                f"unknown compression {compression!r}: use one of {', '.join(COMPRESSIONS)}"
            )
        check_level(compression, level)
        self._out = out
        self._compression = compression
        self._raw_hash = hashlib.sha256()
        self._stored_hash = hashlib.sha256()
        self._raw_size = 0
        self._stored_size = 0
        self._buffer = bytearray()
        self._pending: deque[_ChunkThread] = deque()
        self._threads = threads or default_threads()
        self._fn: Callable[[bytes], bytes] | None = None
        if compression != "none":
            self._fn = _compressor(
                compression, DEFAULT_LEVELS[compression] if level is None else level
            )
        self._closed = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        """Uncompressed bytes written so far (tarfile asks for the start offset)."""
        return self._raw_size

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        if not n:
            return 0
        self._raw_hash.update(data)
        self._raw_size += n
        if self._fn is None:  # stored as is: one hash (result() reuses it), no copy
            self._stored_size += n
            self._out.write(data)
            return n
        self._buffer += data
        while len(self._buffer) >= CHUNK_SIZE:
            chunk = bytes(memoryview(self._buffer)[:CHUNK_SIZE])  # one copy, not two
            del self._buffer[:CHUNK_SIZE]
            self._submit(chunk, more=True)
        return n

    def _submit(self, chunk: bytes, more: bool) -> None:
        """Compress ``chunk``: on a thread of its own when other chunks may follow (``more``);
        the last one here, while the threads finish theirs (then it goes out after them)."""
        assert self._fn is not None
        if self._threads == 1 or not more:
            data = self._fn(chunk)
            while self._pending:
                self._emit(self._pending.popleft().result())
            self._emit(data)
            return
        # Bound CPU and memory: at most one chunk in flight per core.
        while len(self._pending) >= self._threads:
            self._emit(self._pending.popleft().result())
        worker = _ChunkThread(self._fn, chunk)
        worker.start()
        self._pending.append(worker)

    def _emit(self, data: bytes) -> None:
        self._stored_hash.update(data)
        self._stored_size += len(data)
        self._out.write(data)

    def flush(self) -> None:
        """Nothing to do until close: partial chunks must wait to keep the output fixed."""

    def close(self) -> None:
        self.finish()

    def finish(self) -> CompressedBlob:
        if not self._closed:
            self._closed = True
            try:
                if self._fn is not None and (self._buffer or self._raw_size == 0):
                    self._submit(bytes(self._buffer), more=False)
                    self._buffer.clear()
                while self._pending:
                    self._emit(self._pending.popleft().result())
            finally:
                for worker in self._pending:  # after an error: none outlives the writer
                    worker.join()
                self._pending.clear()
        return self.result()

    def result(self) -> CompressedBlob:
        stored = self._raw_hash if self._fn is None else self._stored_hash
        return CompressedBlob(
            digest=Digest("sha256", stored.hexdigest()),
            size=self._stored_size,
            diff_id=Digest("sha256", self._raw_hash.hexdigest()),
            uncompressed_size=self._raw_size,
            compression=self._compression,
        )
