"""The reproducible tar writer, the parallel compressor, and the layer reader's tar parser."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import subprocess
import tarfile
import zlib
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from helpers import decompress
from scratchpack.errors import UsageError
from scratchpack.layers.compress import (
    GZIP_CHUNK_SIZE,
    ZSTD_CHUNK_SIZE,
    CompressingWriter,
    gzip_header,
)
from scratchpack.layers.reader import normalise, read_layer
from scratchpack.layers.tarstream import TarStream
from scratchpack.layers.tarwriter import LayerContents, normalize_path, source_date_epoch, write_tar


def _tar_bytes(contents: LayerContents, mtime: int = 0) -> bytes:
    out = io.BytesIO()
    write_tar(contents, out, mtime)
    return out.getvalue()


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def test_entries_sorted_with_parents_and_fixed_metadata(tmp_path: Path) -> None:
    source = tmp_path / "bin"
    source.write_bytes(b"\x7fELF...")
    os.utime(source, (1_700_000_000, 1_700_000_000))
    layer = LayerContents()
    layer.add_file("usr/local/bin/app", source=source, mode=0o555)
    layer.add_file("/etc/passwd", data=b"root:x:0:0::/:/sbin/nologin\n")
    layer.add_dir("tmp", mode=0o1777)
    layer.add_symlink("usr/bin/app", "../local/bin/app")
    members = _members(_tar_bytes(layer, mtime=42))
    names = [m.name for m in members]
    assert names == [
        "etc",
        "etc/passwd",
        "tmp",
        "usr",
        "usr/bin",
        "usr/bin/app",
        "usr/local",
        "usr/local/bin",
        "usr/local/bin/app",
    ]
    for m in members:
        assert m.mtime == 42
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
        assert not m.pax_headers
    by_name = {m.name: m for m in members}
    assert by_name["tmp"].mode == 0o1777
    assert by_name["usr/local/bin/app"].mode == 0o555
    assert by_name["etc/passwd"].mode == 0o444
    assert by_name["usr/bin/app"].issym() and by_name["usr/bin/app"].linkname == "../local/bin/app"


def test_same_entries_same_bytes_regardless_of_insertion_order() -> None:
    a, b = LayerContents(), LayerContents()
    files = {"b/x": b"1", "a/y": b"2", "a/b/c": b"3"}
    for path, data in files.items():
        a.add_file(path, data=data)
    for path, data in reversed(files.items()):
        b.add_file(path, data=data)
    assert _tar_bytes(a) == _tar_bytes(b)


def test_hardlinks_and_long_names_use_pax_only_when_needed() -> None:
    layer = LayerContents()
    long_name = "d/" + "x" * 150
    layer.add_file("a/file", data=b"same")
    layer.add_hardlink("a/link", "a/file")
    layer.add_file(long_name, data=b"y")
    members = {m.name: m for m in _members(_tar_bytes(layer))}
    assert members["a/link"].islnk() and members["a/link"].linkname == "a/file"
    assert members[long_name].pax_headers.get("path") == long_name
    assert not members["a/file"].pax_headers


def test_duplicates_and_bad_paths_are_refused() -> None:
    layer = LayerContents()
    layer.add_file("etc/x", data=b"1")
    with pytest.raises(UsageError, match="added twice"):
        layer.add_file("/etc/x", data=b"2")
    with pytest.raises(UsageError, match="not a directory"):
        layer.add_file("etc/x/y", data=b"3")
    with pytest.raises(UsageError, match=r"\.\."):
        normalize_path("a/../../etc")
    with pytest.raises(UsageError, match="not a file"):
        layer.add_hardlink("h", "missing")


def test_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert source_date_epoch() == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert source_date_epoch() == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError):
        source_date_epoch()


def _payload(size: int) -> bytes:
    # Compressible but not trivial: like a binary, repetitive in places.
    block = hashlib.sha256(b"seed").digest() * 64 + bytes(range(256)) * 8
    return (block * (size // len(block) + 1))[:size]


CHUNK_SIZES = {"gzip": GZIP_CHUNK_SIZE, "zstd": ZSTD_CHUNK_SIZE, "none": GZIP_CHUNK_SIZE}


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_compression_round_trip_and_digests(compression: str) -> None:
    data = _payload(3 * CHUNK_SIZES[compression] + 12345)
    out = io.BytesIO()
    writer = CompressingWriter(out, compression, threads=2)
    for i in range(0, len(data), 100_000):
        writer.write(data[i : i + 100_000])
    blob = writer.finish()
    stored = out.getvalue()
    assert blob.size == len(stored)
    assert blob.digest.hex == hashlib.sha256(stored).hexdigest()
    assert blob.diff_id.hex == hashlib.sha256(data).hexdigest()
    assert blob.uncompressed_size == len(data)
    assert decompress(stored) == data
    if compression == "gzip":
        assert gzip.decompress(stored) == data
    if compression != "none":
        assert len(stored) < len(data) / 2


def _text(size: int) -> bytes:
    """Words drawn at random: compresses about 3x, as real files do (``_payload`` repeats a
    block, 200x, where the few bytes each cut costs would be most of the output)."""
    rng = random.Random(size)
    words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(2000)]
    out = bytearray()
    while len(out) < size:
        out += " ".join(rng.choices(words, k=1000)).encode() + b"\n"
    return bytes(out[:size])


def _gzip_members(stored: bytes) -> int:
    """How many gzip members ``stored`` holds (zlib stops at the end of each)."""
    members = 0
    while stored:
        engine = zlib.decompressobj(31)
        engine.decompress(stored)
        assert engine.eof, "a truncated member"
        stored = engine.unused_data
        members += 1
    return members


def test_gzip_is_one_member_that_gzip_and_zlib_read_whole(tmp_path: Path) -> None:
    """pigz's layout: the chunks are one deflate stream, one header, one trailer (CRC-32 and
    size of all of it), which ``gzip -t`` checks, as a reader that stops at the first member
    would read (all of the layer, not its first 256 KiB)."""
    data = _text(5 * GZIP_CHUNK_SIZE + 999)
    out = io.BytesIO()
    writer = CompressingWriter(out, "gzip", threads=2)
    writer.write(data)
    writer.finish()
    stored = out.getvalue()
    assert stored[:10] == gzip_header(6) == bytes.fromhex("1f8b0800000000000003")
    assert _gzip_members(stored) == 1
    assert zlib.decompressobj(31).decompress(stored) == data  # the first member is all of it
    assert int.from_bytes(stored[-8:-4], "little") == zlib.crc32(data)
    assert int.from_bytes(stored[-4:], "little") == len(data)
    path = tmp_path / "layer.gz"
    path.write_bytes(stored)
    checked = subprocess.run(["gzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    # Within 0.1% of one thread's gzip at the same level: the dictionaries carry over the cuts.
    assert len(stored) <= len(gzip.compress(data, 6)) * 1.001


@pytest.mark.parametrize(("level", "xfl"), [(1, 4), (6, 0), (9, 2)])
def test_gzip_levels_keep_zlibs_header_flags(level: int, xfl: int) -> None:
    """Each level's stream reads back, and its header says what zlib's would (XFL 4 for
    the fastest, 2 for the slowest), whatever the thread count."""
    data = _text(2 * GZIP_CHUNK_SIZE + 5)
    outputs = set()
    for threads in (1, 2):
        out = io.BytesIO()
        with CompressingWriter(out, "gzip", level, threads=threads) as writer:
            writer.write(data)
        outputs.add(out.getvalue())
    (stored,) = outputs
    assert stored[8] == xfl and stored[9] == 3
    assert gzip.decompress(stored) == data


def test_gzip_chunks_refer_back_across_the_cut() -> None:
    """A chunk that repeats the previous chunk's tail is coded as references to it: the
    dictionary is really passed (without it, random bytes would not compress at all)."""
    tail = random.Random(7).randbytes(16 << 10)
    data = random.Random(8).randbytes(GZIP_CHUNK_SIZE - len(tail)) + tail + tail
    out = io.BytesIO()
    writer = CompressingWriter(out, "gzip", threads=2)
    writer.write(data)
    writer.finish()
    assert gzip.decompress(out.getvalue()) == data
    assert len(out.getvalue()) < len(data) - len(tail) // 2


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_output_does_not_depend_on_threads_or_write_sizes(compression: str) -> None:
    """The same stream gives the same bytes at 1, 2, 3 and 8 threads, written whole, in
    odd-sized pieces, or a byte at a time around the cuts: chunk boundaries are offsets in
    the stream, not what the caller or the machine happened to do."""
    size = CHUNK_SIZES[compression]
    data = _payload(2 * size + 7)
    outputs = set()
    for threads, piece in ((1, len(data)), (2, 100_003), (3, size), (8, 65_536), (2, 0)):
        out = io.BytesIO()
        writer = CompressingWriter(out, compression, threads=threads)
        if piece:
            for i in range(0, len(data), piece):
                writer.write(data[i : i + piece])
        else:  # an empty write, then one byte at a time across the first cut
            writer.write(b"")
            writer.write(data[: size - 3])
            for i in range(size - 3, size + 3):
                writer.write(data[i : i + 1])
            writer.write(memoryview(data)[size + 3 :])
        blob = writer.finish()
        outputs.add((out.getvalue(), blob.digest))
    assert len(outputs) == 1


@pytest.mark.parametrize(
    "size", [1, GZIP_CHUNK_SIZE - 1, GZIP_CHUNK_SIZE, GZIP_CHUNK_SIZE + 1, 2 * GZIP_CHUNK_SIZE]
)
def test_gzip_at_the_chunk_boundaries(size: int) -> None:
    """A stream ending just before, on and after a cut (an empty last chunk finishes it)."""
    data = random.Random(size).randbytes(size)
    out = io.BytesIO()
    writer = CompressingWriter(out, "gzip", threads=2)
    writer.write(data)
    blob = writer.finish()
    assert gzip.decompress(out.getvalue()) == data
    assert _gzip_members(out.getvalue()) == 1
    assert blob.uncompressed_size == size


def test_a_failing_chunk_is_raised_in_the_writer_and_no_thread_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error compressing a chunk on a worker reaches the caller as that error, and
    finish() still stops every worker (none left running into a removed file)."""
    import threading

    from scratchpack.layers import compress

    real = compress._gzip_chunk

    def failing(level: int) -> compress.Compress:
        run = real(level)

        def maybe_fail(job: compress._Job) -> None:
            if job.chunk[:4] == b"FAIL":
                raise MemoryError("out of memory compressing")
            run(job)

        return maybe_fail

    monkeypatch.setattr(compress, "_gzip_chunk", failing)
    before = threading.active_count()
    with (
        pytest.raises(MemoryError, match="out of memory compressing"),
        CompressingWriter(io.BytesIO(), "gzip", threads=2) as writer,
    ):
        writer.write(_payload(3 * GZIP_CHUNK_SIZE))
        writer.write(b"FAIL" + _payload(GZIP_CHUNK_SIZE))
        writer.write(_payload(4 * GZIP_CHUNK_SIZE))
    assert threading.active_count() == before
    with pytest.raises(ValueError, match="abandoned"):
        writer.finish()  # no digest of a stream that was never finished
    with pytest.raises(ValueError, match="abandoned"):
        writer.write(b"more")


def test_an_error_in_the_callers_stream_stops_the_workers() -> None:
    """The source failing half-way (a read error inside the ``with``): the workers are
    stopped and joined, not left waiting for chunks that will never come."""
    import threading

    before = threading.active_count()
    out = io.BytesIO()
    with pytest.raises(OSError, match="disk gone"), CompressingWriter(out, "gzip", threads=2) as w:
        w.write(_payload(5 * GZIP_CHUNK_SIZE))
        assert threading.active_count() > before  # the pool is running
        raise OSError("disk gone")
    assert threading.active_count() == before


def test_empty_stream_is_valid_gzip() -> None:
    out = io.BytesIO()
    blob = CompressingWriter(out, "gzip").finish()
    assert gzip.decompress(out.getvalue()) == b""
    assert blob.uncompressed_size == 0


def test_unknown_compression() -> None:
    with pytest.raises(UsageError, match="unknown compression"):
        CompressingWriter(io.BytesIO(), "lz4")


# -- the layer reader's own tar parser, against tarfile ----------------------------------------


def _random_archive(rng: random.Random, fmt: int) -> bytes:
    """A tar of random members in ``fmt``: long and non-ASCII names, links, big owners."""
    alphabet = "abcXYZ019._-é€ü"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8") as tar:
        if fmt == tarfile.PAX_FORMAT and rng.random() < 0.3:
            tar.pax_headers = {"comment": "global"}
        files: list[str] = []
        for n in range(rng.randint(1, 40)):
            depth = rng.randint(1, 12)
            parts = ["".join(rng.choices(alphabet, k=rng.randint(1, 30))) for _ in range(depth)]
            name = "/".join(parts) + f"-{n}"
            if fmt == tarfile.USTAR_FORMAT:
                name = name.encode("ascii", "ignore").decode()[-250:].lstrip("/") or f"f{n}"
            info = tarfile.TarInfo(name)
            kind = rng.choice("ffffdsl")
            info.mode = rng.choice([0o644, 0o755, 0o4755, 0o1777, 0o600])
            big = fmt != tarfile.USTAR_FORMAT and rng.random() < 0.2
            info.uid = rng.choice([0, 1000, 65532, 2**31 - 1] if big else [0, 1000, 65532])
            info.gid = rng.choice([0, 50, 3**19] if big else [0, 50])
            info.mtime = rng.randint(0, 2**33 if big else 2**30)
            data = b""
            if kind == "f":
                data = rng.randbytes(rng.randint(0, 3000))
                info.size = len(data)
            elif kind == "d":
                info.type = tarfile.DIRTYPE
            elif kind == "s":
                info.type = tarfile.SYMTYPE
                info.linkname = "../" * rng.randint(0, 3) + "t" * rng.randint(1, 150)
            elif files:
                info.type = tarfile.LNKTYPE
                info.linkname = rng.choice(files)
            else:
                continue
            if fmt == tarfile.USTAR_FORMAT and len(info.linkname) > 99:
                info.linkname = info.linkname[:99]
            try:
                info.tobuf(cast(Any, fmt), "utf-8", "strict")
            except ValueError:
                continue  # a USTAR name that no prefix/name split fits
            tar.addfile(info, io.BytesIO(data) if data else None)
            if kind == "f":
                files.append(name)
    return out.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_parser_reads_what_tarfile_reads(fmt: int) -> None:
    rng = random.Random(fmt)
    for _ in range(60):
        data = _random_archive(rng, fmt)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            expected = [
                (m.name.rstrip("/"), m.type, m.size if m.isreg() else 0, m.mode, m.uid, m.gid,
                 m.linkname, (tar.extractfile(m) or io.BytesIO()).read() if m.isreg() else b"")
                for m in tar.getmembers()
            ]  # fmt: skip
        stream = TarStream(io.BytesIO(data))
        got = [
            (m.name.rstrip("/"), m.type, m.size, m.mode, m.uid, m.gid, m.linkname,
             stream.read_content() if m.type in (b"0", b"\x00", b"7") else b"")
            for m in stream.members()
        ]  # fmt: skip
        assert got == expected


def test_layer_reader_entries_equal_tarfiles() -> None:
    """Through the reader (normalised paths, kinds): the same entries as tarfile gives."""
    rng = random.Random(7)
    seen: list[str] = []
    for _ in range(30):
        data = _random_archive(rng, tarfile.PAX_FORMAT)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            expected = [(normalise(m.name), m.size if m.isreg() else 0, m.linkname if m.issym()
                         else normalise(m.linkname)) for m in tar.getmembers()]  # fmt: skip
        entries = read_layer(io.BytesIO(data), report=lambda name, what: seen.append(what))
        assert [(e.path, e.size, e.link) for e in entries] == expected
        assert not seen


def _dot_slash(data: bytes) -> bytes:
    """The same archive as ``tar -C root .`` writes it: the root first, every name (and hard
    link target) after ``./``, directories with a trailing ``/``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:  # fmt: skip
        root = tarfile.TarInfo("./")
        root.type = tarfile.DIRTYPE
        dst.addfile(root)
        for member in src.getmembers():
            content = src.extractfile(member) if member.isreg() else None
            member.name = "./" + member.name + ("/" if member.isdir() else "")
            if member.islnk():
                member.linkname = "./" + member.linkname
            dst.addfile(member, content)
    return out.getvalue()


def _read_all(data: bytes) -> tuple[list[tuple[object, ...]], list[str]]:
    """Every entry of a layer, and what its reports say (without the names they quote)."""
    reports: list[str] = []
    entries = read_layer(io.BytesIO(data), report=lambda name, what: reports.append(what))
    return [tuple(entry) for entry in entries], reports


def test_layer_reader_gives_the_same_entries_with_or_without_dot_slash() -> None:
    """``./usr/bin/`` is read as ``usr/bin``, whichever way the reader takes (the quick one
    for the usual member, the general one for the rest): the same entries and reports."""
    rng = random.Random(11)
    for _ in range(30):
        for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
            data = _random_archive(rng, fmt)
            entries, reports = _read_all(data)
            assert _read_all(_dot_slash(data)) == (entries, reports)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                assert [e[0] for e in entries] == [normalise(m.name) for m in tar.getmembers()]


def test_the_rules_still_apply_after_dot_slash() -> None:
    """What comes after ``./`` is judged as the same name without it: climbing out, too long,
    too deep, whiteouts, doubled slashes and dots, negative owners, hard link targets."""

    def member(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        for key, value in fields.items():
            setattr(info, key, value)
        return info

    deep = "d/" * 130 + "f"
    pairs: list[tuple[str, str, bytes, dict[str, object]]] = [  # ("./" name, the same without)
        ("./usr/bin/", "usr/bin", tarfile.DIRTYPE, {}),
        ("./usr/bin/ls", "usr/bin/ls", tarfile.REGTYPE, {"size": 3, "mode": 0o755}),
        ("./a/../../etc/shadow", "a/../../etc/shadow", tarfile.REGTYPE, {}),
        ("./usr/.wh.gone", "usr/.wh.gone", tarfile.REGTYPE, {}),
        ("./.wh.top", ".wh.top", tarfile.REGTYPE, {}),
        ("./opt/.wh..wh..opq", "opt/.wh..wh..opq", tarfile.REGTYPE, {}),
        ("./.hidden", ".hidden", tarfile.REGTYPE, {}),
        ("././twice", "twice", tarfile.REGTYPE, {}),
        (".//slashes", "slashes", tarfile.REGTYPE, {}),
        ("./a//b", "a/b", tarfile.REGTYPE, {}),
        ("./a/./c", "a/c", tarfile.REGTYPE, {}),
        ("./d//", "d", tarfile.DIRTYPE, {}),
        ("./hl", "hl", tarfile.LNKTYPE, {"linkname": "./usr/bin/ls"}),
        ("./out", "out", tarfile.LNKTYPE, {"linkname": "./../out"}),
        ("./" + deep, deep, tarfile.REGTYPE, {}),
        ("./" + "x" * 2000, "x" * 2000, tarfile.REGTYPE, {}),
        ("./" + "é" * 2100, "é" * 2100, tarfile.REGTYPE, {}),
        ("./owner", "owner", tarfile.REGTYPE, {"uid": -1}),
    ]

    def archive(members: list[tarfile.TarInfo]) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for info in members:
                tar.addfile(info, io.BytesIO(bytes(info.size)) if info.isreg() else None)
        return out.getvalue()

    def plain_link(fields: dict[str, object]) -> dict[str, object]:
        link = fields.get("linkname")
        return {**fields, "linkname": link[2:]} if isinstance(link, str) else fields

    dotted = archive([member(d, k, **f) for d, _, k, f in pairs])
    plain = archive([member(p, k, **plain_link(f)) for _, p, k, f in pairs])
    entries, reports = _read_all(dotted)
    plain_entries, plain_reports = _read_all(plain)
    assert entries == plain_entries
    # (a report quotes the name as the tar has it)
    assert [what.replace("./../", "../") for what in reports] == plain_reports
    assert [e[0] for e in entries] == [
        "usr/bin", "usr/bin/ls", "usr/gone", "top", "opt", ".hidden", "twice", "slashes",
        "a/b", "a/c", "d", "hl", "x" * 2000, "owner",
    ]  # fmt: skip
    assert [e[1] for e in entries][2:5] == ["whiteout", "whiteout", "opaque"]
    assert entries[11][6] == "usr/bin/ls"
    assert [what.split(" (")[0] for what in reports] == [
        "tar member name climbs out of the image root",
        "hard link target ./../out: tar member name climbs out of the image root",
        "tar member name has 131 components",
        "tar member name is longer than PATH_MAX",
        "negative mode or owner",
    ]


def test_tar_parser_bounded_memory_per_member() -> None:
    """A member's content is never buffered: 64 MiB of content through a 1 MiB window."""
    import tracemalloc

    size = 64 << 20
    header = tarfile.TarInfo("big")
    header.size = size

    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = size + 1024 + 512

        def readable(self) -> bool:
            return True

        def readinto(self, buf: Any) -> int:
            first = self.left == size + 1024 + 512
            n = min(len(buf), self.left)
            if first:
                head = header.tobuf(tarfile.USTAR_FORMAT)
                buf[: len(head)] = head
                buf[len(head) : n] = bytes(n - len(head))
            else:
                buf[:n] = bytes(n)
            self.left -= n
            return n

    tracemalloc.start()
    members = list(TarStream(cast(BinaryIO, io.BufferedReader(Zeros()))).members())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(m.name, m.size) for m in members] == [("big", size)]
    assert peak < 8 << 20


def test_tar_parser_reads_a_members_content_like_a_file() -> None:
    """``read_content(n)`` gives n bytes (fewer only at the member's end), across the 1 MiB
    buffer; what the caller leaves is skipped; the next member is intact."""
    big = random.Random(1).randbytes(3 << 20)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("big", big), ("next", b"after"), ("third", big[:5000])):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    stream = TarStream(io.BytesIO(out.getvalue()))
    members = stream.members()
    assert next(members).name == "big"
    head = stream.read_content(1000)
    rest = stream.read_content(5 << 20)
    assert head + rest == big and stream.read_content(10) == b""
    assert next(members).name == "next" and stream.read_content() == b"after"
    assert next(members).name == "third" and stream.read_content(100) == big[:100]
    assert list(members) == []


# -- read-ahead ------------------------------------------------------------------------------


class _Failing(io.BytesIO):
    """Gives its bytes, then raises what a verifying stream raises at a bad end."""

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        if not data:
            from scratchpack.errors import DigestMismatchError

            raise DigestMismatchError("digest mismatch at the end")
        return data


def test_read_ahead_gives_the_bytes_in_order_and_raises_the_end_in_the_caller() -> None:
    import threading

    from scratchpack.errors import DigestMismatchError
    from scratchpack.layers.readahead import ReadAhead

    data = os.urandom(3 * 1000 * 1000 + 17)
    with ReadAhead(io.BytesIO(data), chunk=65536, depth=2) as ahead:
        got = [ahead.read(n) for n in (1, 100, 70000, 65536 * 3)]
        got.append(ahead.read())
        assert b"".join(got) == data and ahead.read(10) == b""
    before = threading.active_count()
    with ReadAhead(_Failing(data), chunk=65536, depth=2) as ahead:
        assert len(ahead.read(len(data))) <= len(data)
        with pytest.raises(DigestMismatchError):
            ahead.read()
        with pytest.raises(DigestMismatchError):  # never a clean end after a failure
            ahead.read(1)
    # closed early, with a full queue: the thread stops, nothing is left running
    ahead = ReadAhead(io.BytesIO(data), chunk=4096, depth=2)
    ahead.read(10)
    ahead.close()
    assert threading.active_count() <= before


# -- zstd streams cut short (layers/zstdstream.py) ----------------------------------------------


def _zstd_tar() -> tuple[bytes, bytes]:
    """A layer tar and its zstd stream with a content checksum (as the zstd CLI, dpkg-deb
    and containerd write them; our own compressor writes none)."""
    import zstandard

    contents = LayerContents()
    contents.add_file("etc/data", data=os.urandom(50_000) + bytes(200_000), mode=0o644)
    tar = _tar_bytes(contents)
    return tar, zstandard.ZstdCompressor(level=3, write_checksum=True).compress(tar)


def test_zstd_reader_reads_whole_streams_and_refuses_every_cut_inside_a_frame() -> None:
    import zstandard

    from scratchpack.layers.zstdstream import TruncatedZstd, zstd_reader

    tar, stream = _zstd_tar()
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"notes"
    second = zstandard.ZstdCompressor(level=1).compress(b"tail")  # no checksum, one frame more
    for whole, expected in ((stream, tar), (skippable + stream + second, tar + b"tail"),
                            (stream + skippable, tar)):  # fmt: skip
        assert zstd_reader(io.BytesIO(whole)).read() == expected
        reader = zstd_reader(io.BytesIO(whole))
        assert b"".join(iter(partial(reader.read, 4096), b"")) == expected
    # the plain stream_reader returns the whole tar for a cut inside the checksum: no error
    quiet = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(stream[:-2]))
    assert quiet.read() == tar
    for cut in (1, 2, 3, 4):  # all data there, the 4-byte checksum cut
        with pytest.raises(TruncatedZstd, match="inside the frame's content checksum"):
            zstd_reader(io.BytesIO(stream[:-cut])).read()
    for cut in (5, 100, len(stream) // 2, len(stream) - 3):  # into a block, a frame header
        with pytest.raises((TruncatedZstd, zstandard.ZstdError)):
            zstd_reader(io.BytesIO(stream[:-cut])).read()
    with pytest.raises(TruncatedZstd, match="inside a skippable frame"):
        zstd_reader(io.BytesIO(stream + skippable[:-2])).read()
    with pytest.raises(zstandard.ZstdError):  # not a frame at all: zstd's own error
        zstd_reader(io.BytesIO(stream + b"garbage!")).read()


def test_a_zstd_layer_cut_inside_its_checksum_is_a_clean_error(tmp_path: Path) -> None:
    """The blob's digest names the cut bytes and the diff_id the whole tar, so only the zstd
    frame tells: audit, sbom and inspect of the layer stop with one line naming the layer."""
    from helpers import assert_clean_error, run_cli
    from hostile import put_blob, write_layout

    tar, stream = _zstd_tar()
    diff_id = f"sha256:{hashlib.sha256(tar).hexdigest()}"
    config = (
        f'{{"architecture":"amd64","os":"linux","config":{{}},'
        f'"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}'
    ).encode()
    media = "application/vnd.oci.image.layer.v1.tar+zstd"
    whole = put_blob(tmp_path / "good", stream)
    good = write_layout(tmp_path / "good", [{"mediaType": media, **whole}], config)
    assert run_cli("sbom", good, "--format", "json").code == 0
    layer = put_blob(tmp_path / "cut", stream[:-2])
    cut = write_layout(tmp_path / "cut", [{"mediaType": media, **layer}], config)
    for command in ("audit", "sbom"):
        assert_clean_error(run_cli(command, cut), 2, layer["digest"], "truncated", "checksum")


def test_a_zstd_docker_archive_cut_inside_its_checksum_is_a_clean_error(
    examples: Any, tmp_path: Path
) -> None:
    """``docker save | zstd``, cut in the last 4 bytes: refused, not read as a whole archive."""
    import zstandard

    from helpers import assert_clean_error, run_cli

    plain = tmp_path / "plain.tar"
    assert run_cli("pack", examples.hello, "-o", f"docker-archive:{plain}:x:1").code == 0
    stream = zstandard.ZstdCompressor(write_checksum=True).compress(plain.read_bytes())
    whole, cut = tmp_path / "whole.tar.zst", tmp_path / "cut.tar.zst"
    whole.write_bytes(stream)
    cut.write_bytes(stream[:-3])
    assert run_cli("inspect", f"docker-archive:{whole}").code == 0
    assert_clean_error(run_cli("inspect", f"docker-archive:{cut}"), 1, "cut.tar.zst",
                       "cannot decompress", "truncated")  # fmt: skip
