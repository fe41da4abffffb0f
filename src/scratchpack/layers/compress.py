"""Compress a layer while hashing both sides, using every core.

The uncompressed stream is cut into fixed-size chunks at fixed offsets, each chunk is
compressed on its own by a small pool of threads (zlib-ng and zstd release the GIL), and the
results are written in order. Because the chunks depend only on the stream, never on how many
threads ran or how the caller sliced its writes, the output is the same bytes on a one-core
laptop and a 64-core CI box.

gzip is written the way pigz writes it: **one** gzip member whose deflate stream is the
chunks' raw deflate streams end to end, each chunk compressed with the previous chunk's last
32 KiB as its dictionary (so it still refers back across the cut, and the output is within
0.01% of a one-thread ``gzip -6``) and ended with a sync flush (an empty stored block: the
next chunk starts on a byte boundary), the last one finished; the header and the trailer
(CRC-32 combined from the chunks', ``crc32_combine``; the size) are written here. That makes
the chunks small enough (256 KiB) to keep both cores of a 2-core machine busy on a 5 MB
binary: the 4 MiB multi-member chunks before left one core idle for most of the layer (a
4 MiB + 1 MiB split, issue 17), and independent members that small would cost 0.5% of size.
zstd keeps its independent 4 MiB frames (a zstd stream of several frames; smaller ones would
cost ratio, and its output must not change).

Hand-written because no library offers "parallel, deterministic, hash both sides in one
pass": pigz is a separate process; python-isal has no level 6; zlib-ng's own
``gzip_ng_threaded`` writes the same kind of stream but cuts blocks where its buffered writer
flushes (the caller's write sizes), and its threads poll their queues with a 50 ms timeout,
which ``close()`` waits out: more than the whole layer of a 5 MB binary takes.

A layer of one chunk (the essentials, a small binary) is compressed in the calling thread
with no thread started; a larger one starts workers as chunks arrive, at most one per core.
Not ``concurrent.futures``: its import (with ``logging``) cost more than the threads it would
manage for a 5 MB binary (issue 17). ``zstandard`` is imported only for zstd. Uncompressed,
the bytes are hashed once: the blob digest is the diff_id. The diff_id's sha256 is taken on
the writing thread while the workers compress, the stored one as each chunk is written out.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import BinaryIO, NamedTuple

from zlib_ng import zlib_ng

from scratchpack.errors import UsageError
from scratchpack.model.digest import Digest
from scratchpack.model.mediatypes import COMPRESSIONS

# Fixed offsets in the uncompressed stream: part of the output's definition (changing either
# changes every layer's digest).
GZIP_CHUNK_SIZE = 256 << 10
ZSTD_CHUNK_SIZE = 4 << 20
WINDOW = 32 << 10  # deflate's window: the dictionary each gzip chunk gets from the one before
DEFAULT_LEVELS = {"gzip": 6, "zstd": 3, "none": 0}
# What each library accepts (zlib 1-9; zstd's "normal" levels, as `zstd -19`; 20-22 need
# --ultra's memory): outside it zlib-ng raises a bare "Bad compression level".
LEVEL_RANGES = {"gzip": (1, 9), "zstd": (1, 19)}
# Chunks in flight per worker: enough that a worker finds the next one ready while the
# writing thread hashes and writes, few enough to bound memory (2 x 256 KiB per core).
IN_FLIGHT_PER_THREAD = 2


def check_level(compression: str, level: int | None) -> None:
    """A usage error, before any work, for a level the compression does not have."""
    if level is None or compression == "none":
        return
    low, high = LEVEL_RANGES[compression]
    if not low <= level <= high:
        raise UsageError(f"--compression-level {level}: {compression} levels are {low}-{high}")


class CompressedBlob(NamedTuple):
    """What came out: digests and sizes of both the stored and the uncompressed bytes.
    (A NamedTuple, not a dataclass: on every ``pack``'s path; see ``operations/elf.py``.)"""

    digest: Digest
    size: int
    diff_id: Digest
    uncompressed_size: int
    compression: str


def gzip_header(level: int) -> bytes:
    """The 10-byte gzip header, fixed: no name, mtime 0, OS 3 (Unix, as zlib and GNU gzip
    write on Linux, here whatever the build's platform), and zlib's extra flags for the
    level (2 slowest, 4 fastest), so that the stream reads like ``gzip -N``'s."""
    xfl = 2 if level == 9 else 4 if level == 1 else 0
    return bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, xfl, 3))


class _Job:
    """One chunk: compressed by whoever runs it; ``ready`` is held until then."""

    __slots__ = ("chunk", "crc", "error", "last", "length", "out", "ready", "zdict")

    def __init__(self, chunk: bytes, zdict: bytes, last: bool) -> None:
        self.chunk = chunk
        self.length = len(chunk)
        self.zdict = zdict
        self.last = last
        self.out = b""
        self.crc = 0
        self.error: BaseException | None = None
        self.ready = threading.Lock()
        self.ready.acquire()  # released once ``out`` (or ``error``) is set, by any thread


Compress = Callable[[_Job], None]


def _gzip_chunk(level: int) -> Compress:
    """Raw deflate of one chunk with the previous chunk's tail as dictionary, sync-flushed
    unless it is the last; and its CRC-32, for the trailer."""
    deflated, strategy = zlib_ng.DEFLATED, zlib_ng.Z_DEFAULT_STRATEGY

    def run(job: _Job) -> None:
        if job.zdict:
            engine = zlib_ng.compressobj(level, deflated, -15, 8, strategy, job.zdict)
        else:
            engine = zlib_ng.compressobj(level, deflated, -15, 8, strategy)
        flush = zlib_ng.Z_FINISH if job.last else zlib_ng.Z_SYNC_FLUSH
        job.out = engine.compress(job.chunk) + engine.flush(flush)
        job.crc = zlib_ng.crc32(job.chunk)

    return run


def _zstd_chunk(level: int) -> Compress:
    """One independent zstd frame per chunk."""
    import zstandard

    def run(job: _Job) -> None:
        # A compressor object is not thread-safe; one per call is cheap next to 4 MiB of work.
        job.out = zstandard.ZstdCompressor(level=level).compress(job.chunk)

    return run


def _run(fn: Compress, job: _Job) -> None:
    try:
        fn(job)
    except BaseException as exc:  # raised in the writing thread when the chunk is written
        job.error = exc
    finally:
        job.chunk = job.zdict = b""
        job.ready.release()


def _work(fn: Compress, jobs: SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        _run(fn, job)


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
        self._tail = b""  # the last WINDOW bytes of the previous chunk (gzip's dictionary)
        self._crc = 0
        self._pending: deque[_Job] = deque()
        self._threads = threads or default_threads()
        self._workers: list[threading.Thread] = []
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._fn: Compress | None = None
        self._chunk_size = GZIP_CHUNK_SIZE if compression == "gzip" else ZSTD_CHUNK_SIZE
        resolved = DEFAULT_LEVELS[compression] if level is None else level
        if compression == "gzip":
            self._fn = _gzip_chunk(resolved)
            self._emit(gzip_header(resolved))
        elif compression == "zstd":
            self._fn = _zstd_chunk(resolved)
        self._closed = self._aborted = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        """Uncompressed bytes written so far (tarfile asks for the start offset)."""
        return self._raw_size

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a finished or abandoned layer")
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
        size = self._chunk_size
        if len(self._buffer) >= size:
            start = 0
            try:
                with memoryview(self._buffer) as view:
                    while len(view) - start >= size:
                        self._submit(bytes(view[start : start + size]), last=False)
                        start += size
            except BaseException:
                self.abort()
                raise
            del self._buffer[:start]
        return n

    def _submit(self, chunk: bytes, last: bool) -> None:
        """Compress ``chunk`` (at the next fixed offset): on the pool when other chunks may
        follow or already run there, else here. Finished chunks are written out in order."""
        assert self._fn is not None
        job = _Job(chunk, self._tail, last)
        if self._compression == "gzip":
            self._tail = chunk[-WINDOW:]
        if self._threads == 1 or (last and not self._workers):
            _run(self._fn, job)
            self._pending.append(job)
            self._drain(block=True)
            return
        # Bound memory: wait for the oldest chunk when enough are queued for every worker.
        while len(self._pending) >= IN_FLIGHT_PER_THREAD * self._threads:
            self._write_out(self._pending.popleft())
        if len(self._workers) < min(self._threads, len(self._pending) + 1):
            worker = threading.Thread(
                target=_work, args=(self._fn, self._jobs), name="compress", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        self._jobs.put(job)
        self._pending.append(job)
        self._drain(block=last)

    def _drain(self, block: bool) -> None:
        """Write out the finished chunks at the head of the queue (all of them: ``block``)."""
        while self._pending and (block or not self._pending[0].ready.locked()):
            self._write_out(self._pending.popleft())

    def _write_out(self, job: _Job) -> None:
        job.ready.acquire()
        if job.error is not None:
            raise job.error
        if self._compression == "gzip":
            self._crc = zlib_ng.crc32_combine(self._crc, job.crc, job.length)
        self._emit(job.out)
        job.out = b""

    def _emit(self, data: bytes) -> None:
        self._stored_hash.update(data)
        self._stored_size += len(data)
        self._out.write(data)

    def flush(self) -> None:
        """Nothing to do until close: partial chunks must wait to keep the output fixed."""

    def close(self) -> None:
        self.finish()

    def __enter__(self) -> CompressingWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """Finished when the block ends normally, abandoned (workers stopped, nothing more
        written) when it raises: the partial output is the caller's to remove."""
        if kind is None:
            self.finish()
        else:
            self.abort()

    def finish(self) -> CompressedBlob:
        """The last chunk and the trailer written, the workers stopped: the blob's digests."""
        if not self._closed:
            self._closed = True
            try:
                if self._fn is not None and (
                    self._buffer or self._raw_size == 0 or self._compression == "gzip"
                ):
                    # gzip always ends with a finished (possibly empty) last chunk; zstd with
                    # the rest, or one empty frame for an empty stream.
                    self._submit(bytes(self._buffer), last=True)
                    self._buffer.clear()
                self._drain(block=True)
                if self._compression == "gzip":
                    self._emit(struct.pack("<II", self._crc, self._raw_size & 0xFFFFFFFF))
            except BaseException:
                self._aborted = True
                raise
            finally:
                self._stop()
        if self._aborted:
            raise ValueError("the compressed layer was abandoned after an error")
        return self.result()

    def abort(self) -> None:
        """Stop after an error: every worker stopped and joined, no more output."""
        self._closed = self._aborted = True
        self._stop()

    def _stop(self) -> None:
        """Every worker told to stop and joined: none outlives the writer, and no chunk is
        left compressing into a file that is being removed."""
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            worker.join()
        self._workers.clear()
        self._pending.clear()

    def result(self) -> CompressedBlob:
        stored = self._raw_hash if self._fn is None else self._stored_hash
        return CompressedBlob(
            digest=Digest("sha256", stored.hexdigest()),
            size=self._stored_size,
            diff_id=Digest("sha256", self._raw_hash.hexdigest()),
            uncompressed_size=self._raw_size,
            compression=self._compression,
        )
