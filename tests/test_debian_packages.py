"""The streaming Packages parser (scratchpack.debian.packages) against python-debian.

Equivalence is proved on the real bookworm indexes (main, updates, security: every kept field
of every package, as python-debian's ``deb822.Packages`` reads them), then on hand-made
hostile inputs, each either read exactly as python-debian reads it or refused with a
FormatError naming the line; the file reader hashes every byte and refuses truncated
archives.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from debian.deb822 import Packages

from realtools import CACHE
from scratchpack.debian.index import (
    Fetcher,
    fetch_verified,
    parse_index_file,
    release_checksums,
    verify_inrelease,
)
from scratchpack.debian.packages import KEPT, MAX_PARAGRAPH, Columns, parse
from scratchpack.debian.packages import write as write_columns
from scratchpack.debian.resolve import PROVIDED_NAMES, relations
from scratchpack.debian.sources import system_sources
from scratchpack.errors import DigestMismatchError, FormatError


def reference(text: bytes) -> dict[str, list[object]]:
    """The columns as the python-debian parse (scratchpack's before this parser) gave them."""
    cols: dict[str, list[object]] = {c: [] for c in KEPT.values()}
    for para in Packages.iter_paragraphs(
        text.decode("utf-8", "replace").splitlines(), use_apt_pkg=False
    ):
        try:
            row = {
                "name": para["Package"],
                "version": para["Version"],
                "architecture": para.get("Architecture", ""),
                "depends": para.get("Depends", ""),
                "pre_depends": para.get("Pre-Depends", ""),
                "provides": para.get("Provides", ""),
                "essential": para.get("Essential", "no").strip() == "yes",
                "priority": para.get("Priority", ""),
                "filename": para["Filename"],
                "size": int(para["Size"]),
                "sha256": para["SHA256"],
            }
        except (KeyError, ValueError):
            continue
        for column, value in row.items():
            cols[column].append(value)
    return cols


def ours(text: bytes, chunk: int = 1 << 20) -> dict[str, list[object]]:
    chunks = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    return msgspec.structs.asdict(parse(chunks, "test"))


# -- the real indexes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bookworm_indexes() -> list[tuple[str, bytes]]:
    """The decompressed amd64 Packages of the machine's bookworm suites (cached by hash in the
    tests' shared download cache, fetched and verified on first use)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(CACHE / "xdg"))
    fetcher = Fetcher()
    found = []
    try:
        for source in system_sources():
            if not source.suite.startswith("bookworm"):
                continue
            base = f"{source.uri}/dists/{source.suite}"
            checksums = release_checksums(
                verify_inrelease(fetcher.get(f"{base}/InRelease"), source)
            )
            key = "main/binary-amd64/Packages.xz"
            sha256, size = checksums[key]
            path = fetch_verified(fetcher, f"{base}/{key}", sha256, size, key)
            found.append((f"{source.suite} {key}", lzma.decompress(path.read_bytes())))
    finally:
        fetcher.close()
        mp.undo()
    assert any(len(text) > 40_000_000 for _, text in found), "no bookworm main index"
    return found


def test_every_kept_field_of_every_bookworm_package_is_python_debians(
    bookworm_indexes: list[tuple[str, bytes]],
) -> None:
    for where, text in bookworm_indexes:
        expected, got = reference(text), ours(text)
        assert len(got["name"]) == len(expected["name"]) > 0, where
        for column in KEPT.values():
            assert got[column] == expected[column], f"{where}: column {column} differs"


def test_provided_names_cover_python_debians_parse(
    bookworm_indexes: list[tuple[str, bytes]],
) -> None:
    """The resolver indexes Provides by a quick name scan: never missing a name."""
    provides = [p for _, text in bookworm_indexes for p in ours(text)["provides"] if p]
    assert len(provides) > 5000
    for field in provides:
        assert isinstance(field, str)
        names = {item["name"] for group in relations(field) for item in group}
        assert names <= set(PROVIDED_NAMES.findall(field)), field


def test_chunking_does_not_change_the_result(bookworm_indexes: list[tuple[str, bytes]]) -> None:
    where, text = min(bookworm_indexes, key=lambda item: len(item[1]))
    whole = ours(text, len(text))
    for chunk in (1, 3, 4096, 65537):
        assert ours(text[:200_000], chunk) == ours(text[:200_000], 200_000), (where, chunk)
    assert ours(text, 100_003) == whole


# -- hostile and unusual input -------------------------------------------------------------

STANZA = (
    b"Package: %s\nVersion: 1.0-1\nArchitecture: amd64\nDepends: libc6 (>= 2.34)\n"
    b"Description: a thing\n longer text\n .\n more\nFilename: pool/%s.deb\nSize: 123\n"
    b"SHA256: %s\n"
)


def stanza(name: str) -> bytes:
    digest = hashlib.sha256(name.encode()).hexdigest().encode()
    return STANZA % (name.encode(), name.encode(), digest)


@pytest.mark.parametrize(
    "text",
    [
        stanza("a") + b"\n" + stanza("b").rstrip(b"\n"),  # no trailing newline
        (stanza("a") + b"\n" + stanza("b")).replace(b"\n", b"\r\n"),  # CRLF
        b"\n\n \n" + stanza("a") + b" \t\n" + stanza("b") + b"\n\n\n",  # blank lines, spaces
        b"Version: 1\nFilename: x\nSize: 1\nSHA256: 00\n\n" + stanza("b"),  # no Package
        stanza("a").replace(b"Size: 123", b"Size: many") + b"\n" + stanza("b"),  # bad Size
        b"package: low\nVERSION: 2\nfilename: f\nsize: 7\nsha256: ab\nESSENTIAL: yes\n",
        stanza("a").replace(b"Version: 1.0-1", b"Version: 1\nVersion: 2"),  # repeated: last
        stanza("a").replace(b"Depends: libc6 (>= 2.34)", b"Depends:\n libc6,\n\tzlib1g  "),
        stanza("a").replace(b"Depends: libc6", b"Depends:   libc6 \xff\xfe, caf\xc3\xa9"),
        stanza("a").replace(b"more", b"x" * 3_000_000),  # a huge field
        stanza("a").replace(b"Package: a", b"Package: a   \t"),  # trailing blanks
        stanza("a") + b"Provides: foo (= 1), bar\nPre-Depends: dpkg\nPriority: required\n",
        b"",
        b"\n\n\n",
    ],
)
def test_same_result_as_python_debian(text: bytes) -> None:
    expected = reference(text) if text.strip() else {c: [] for c in KEPT.values()}
    assert ours(text) == expected
    assert ours(text, 5) == expected  # chunk boundaries anywhere, CR and LF split too


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (stanza("a") + b"\n# a comment\n" + stanza("b"), r"line 13: a comment or an OpenPGP"),
        (b"-----BEGIN PGP SIGNED MESSAGE-----\n\n" + stanza("a"), r"line 1: a comment or"),
        (stanza("a") + b"no colon here\n", r"line 12: neither a field .*'no colon here'"),
        (stanza("a") + b"\n continued\n", r"line 13: a continuation line with no field"),
        (b" orphan\n" + stanza("a"), r"line 1: a continuation line with no field"),
        (stanza("a").replace(b"longer", b"lon\rger"), r"line 6: a carriage return"),
        (stanza("a").replace(b"longer", b"lon\0ger"), r"line 6: a NUL byte"),
        (bytes(range(256)) * 64, r"line 1: neither a field"),
        (b"Fi\xc3\xa9ld: x\n" + stanza("a"), r"line 1: neither a field"),
    ],
)
def test_malformed_input_is_refused_with_its_line(text: bytes, message: str) -> None:
    for chunk in (1 << 20, 7):
        with pytest.raises(FormatError, match=message):
            ours(text, chunk)


def test_a_paragraph_without_end_is_bounded() -> None:
    line = b" " + b"y" * 45 + b"\n"
    endless = b"Package: a\nDescription: x\n" + line * (MAX_PARAGRAPH // 40)
    with pytest.raises(FormatError, match=r"a paragraph over 16 MiB"):
        ours(endless, 1 << 20)


# -- the file reader: compression, hash, truncation ------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> tuple[Path, str, int]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


@pytest.mark.parametrize("name", ["Packages.xz", "Packages.gz", "Packages"])
def test_index_files_are_read_in_each_compression(tmp_path: Path, name: str) -> None:
    text = b"\n".join(stanza(f"p{n}") for n in range(2000))
    packers: dict[str, Callable[[bytes], bytes]] = {"Packages.xz": lzma.compress,
                                                     "Packages.gz": gzip.compress}  # fmt: skip
    packed = packers.get(name, bytes)(text)
    path, sha256, size = write(tmp_path, name, packed)
    columns = parse_index_file(path, sha256, size, "test", name)
    assert isinstance(columns, Columns) and len(columns) == 2000
    assert columns.name[1999] == "p1999" and columns.size[0] == 123


def test_truncated_damaged_or_tampered_files_are_refused(tmp_path: Path) -> None:
    packed = lzma.compress(b"\n".join(stanza(f"p{n}") for n in range(5000)))
    path, sha256, size = write(tmp_path, "t.xz", packed[: len(packed) // 2])
    with pytest.raises(FormatError, match="t: cannot decompress: Compressed file ended"):
        parse_index_file(path, sha256, size, "t", "Packages.xz")
    path, sha256, size = write(tmp_path, "g.gz", b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(FormatError, match="g: cannot decompress"):
        parse_index_file(path, sha256, size, "g", "Packages.gz")
    path, sha256, size = write(tmp_path, "ok.xz", packed)
    damaged = bytearray(packed)
    damaged[-100] ^= 1
    path.write_bytes(bytes(damaged))  # the cached copy changed after it was checked
    with pytest.raises(DigestMismatchError, match="ok: "):  # not "cannot decompress"
        parse_index_file(path, sha256, size, "ok", "Packages.xz")
    other = lzma.compress(b"\n".join(stanza(f"q{n}") for n in range(5000)))
    path.write_bytes(other)  # well formed, but not the index the release names
    with pytest.raises(DigestMismatchError, match="ok: digest mismatch"):
        parse_index_file(path, sha256, len(other), "ok", "Packages.xz")


def test_the_cache_format_is_msgpack_of_the_columns(tmp_path: Path) -> None:
    columns = ours(b"\n".join(stanza(f"p{n}") for n in range(300)))
    parsed = Columns(**columns)  # type: ignore[arg-type]
    with (tmp_path / "c").open("wb") as stream:
        write_columns(parsed, stream)
    data = (tmp_path / "c").read_bytes()
    assert data == msgspec.msgpack.encode(parsed)
    assert msgspec.msgpack.decode(data, type=Columns) == parsed
