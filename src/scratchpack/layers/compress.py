"""Compress a layer while hashing both sides, using every core.

The uncompressed stream is cut into fixed-size chunks, each chunk is compressed independently
on a thread pool (zlib-ng and zstd release the GIL), and the results are written in order. A
gzip stream of several members, or a zstd stream of several frames, is standard and every
engine reads it. Because the chunk size is fixed, the output does not depend on how many
threads ran: the same input gives the same bytes on a one-core laptop and a 64-core CI box.
Hand-written because no library offers "parallel, deterministic, hash both sides in one pass"
(pigz is a separate process and python-isal has no level 6).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import zstandard
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
        # A compressor object is not thread-safe; one per call is cheap next to 4 MiB of work.
        return lambda chunk: zstandard.ZstdCompressor(level=level).compress(chunk)
    raise UsageError(f"unknown compression {compression!r}: use one of {', '.join(COMPRESSIONS)}")


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
        self._pending: deque[Future[bytes]] = deque()
        self._threads = threads or default_threads()
        self._pool: ThreadPoolExecutor | None = None
        self._fn: Callable[[bytes], bytes] | None = None
        if compression != "none":
            self._fn = _compressor(
                compression, DEFAULT_LEVELS[compression] if level is None else level
            )
            if self._threads > 1:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="compress")
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
        if self._fn is None:
            self._emit(bytes(data))
            return n
        self._buffer += data
        while len(self._buffer) >= CHUNK_SIZE:
            chunk = bytes(self._buffer[:CHUNK_SIZE])
            del self._buffer[:CHUNK_SIZE]
            self._submit(chunk)
        return n

    def _submit(self, chunk: bytes) -> None:
        assert self._fn is not None
        if self._pool is None:
            self._emit(self._fn(chunk))
            return
        self._pending.append(self._pool.submit(self._fn, chunk))
        # Bound memory: at most two chunks in flight per thread.
        while len(self._pending) > 2 * self._threads:
            self._emit(self._pending.popleft().result())

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
                    self._submit(bytes(self._buffer))
                    self._buffer.clear()
                while self._pending:
                    self._emit(self._pending.popleft().result())
            finally:
                if self._pool is not None:
                    self._pool.shutdown(wait=True, cancel_futures=True)
        return self.result()

    def result(self) -> CompressedBlob:
        return CompressedBlob(
            digest=Digest("sha256", self._stored_hash.hexdigest()),
            size=self._stored_size,
            diff_id=Digest("sha256", self._raw_hash.hexdigest()),
            uncompressed_size=self._raw_size,
            compression=self._compression,
        )
