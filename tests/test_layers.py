"""The reproducible tar writer, the parallel compressor, and the layer reader's tar parser."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import tarfile
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from helpers import decompress
from scratchpack.errors import UsageError
from scratchpack.layers.compress import CHUNK_SIZE, CompressingWriter
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


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_compression_round_trip_and_digests(compression: str) -> None:
    data = _payload(3 * CHUNK_SIZE + 12345)
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
        assert gzip.decompress(stored) == data  # the stdlib reads the multi-member stream
    if compression != "none":
        assert len(stored) < len(data) / 2


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_output_does_not_depend_on_thread_count(compression: str) -> None:
    data = _payload(2 * CHUNK_SIZE + 7)
    outputs = set()
    for threads in (1, 2, 4):
        out = io.BytesIO()
        writer = CompressingWriter(out, compression, threads=threads)
        writer.write(data)
        writer.finish()
        outputs.add(out.getvalue())
    assert len(outputs) == 1


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
        assert b"".join(iter(lambda r=reader: r.read(4096), b"")) == expected
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
