"""Generated Debian packages for the tests: ar and tar written by hand, members of any size
produced in pieces (so a gigabyte bomb never sits in memory), gzip, xz or zstd."""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import zstandard


def ar(members: list[tuple[str, bytes]]) -> bytes:
    """An ar archive (a .deb's outer format) of ``members``, as dpkg-deb lays it out."""
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}".encode() + b"`\n"
        assert len(header) == 60
        out += header + data
        if len(data) % 2:
            out += b"\n"
    return bytes(out)


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A small gzip tar held in memory, mtime 0, for control archives and crafted members."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), mtime=0)


def tar_stream(members: list[tuple[str, bytes | int]]) -> Iterator[bytes]:
    """A tar archive in pieces: a member is given its bytes, or a count of zero bytes that is
    produced 1 MiB at a time (so a test's gigabyte never sits in memory)."""
    for name, body in members:
        info = tarfile.TarInfo(name)
        info.mode = 0o644
        info.size = body if isinstance(body, int) else len(body)
        yield info.tobuf(tarfile.GNU_FORMAT)
        if isinstance(body, int):
            block = bytes(1 << 20)
            for start in range(0, body, len(block)):
                yield block[: min(len(block), body - start)]
        else:
            yield body
        yield bytes(-info.size % tarfile.BLOCKSIZE)
    yield bytes(2 * tarfile.BLOCKSIZE)


def compress(codec: str, pieces: Iterable[bytes]) -> bytes:
    compressor: zlib._Compress | lzma.LZMACompressor | zstandard.ZstdCompressionObj
    if codec == "gz":
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing
    elif codec == "xz":
        compressor = lzma.LZMACompressor(preset=0)
    else:
        compressor = zstandard.ZstdCompressor(write_checksum=True).compressobj()  # as dpkg-deb
    out = [compressor.compress(piece) for piece in pieces]
    return b"".join(out) + compressor.flush()


def codec_deb(
    path: Path, codec: str, members: list[tuple[str, bytes | int]], *, cut: int = 0
) -> Path:
    """A .deb whose data.tar.<codec> holds ``members``; ``cut`` bytes cut off its end."""
    control = b"Package: bomb\nVersion: 1.0\nArchitecture: all\nDescription: generated\n"
    control_info = tarfile.TarInfo("./control")
    control_info.mode = 0o644
    data = compress(codec, tar_stream(members))
    path.write_bytes(
        ar([
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", tar_gz([(control_info, control)])),
            (f"data.tar.{codec}", data[: len(data) - cut]),
        ])
    )  # fmt: skip
    return path
