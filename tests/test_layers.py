"""The reproducible tar writer and the parallel compressor."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from helpers import decompress
from scratchpack.errors import UsageError
from scratchpack.layers.compress import CHUNK_SIZE, CompressingWriter
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
