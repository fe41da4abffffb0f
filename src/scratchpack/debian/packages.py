"""A streaming parser of Debian ``Packages`` indexes that keeps only what the resolver needs.

Why not python-debian (the field's library, used everywhere else here, for ``InRelease`` and
``.deb`` control files): ``deb822.Packages`` builds a case-insensitive dict of every field of
every stanza, line by line in Python; bookworm's 66,500 stanzas (50 MB) took ~12 s and 400 MB,
87% of a cold ``build``. The format is small and fixed (Debian Policy §5.1, deb822(5)):
paragraphs separated by empty lines (lines of only spaces and tabs accepted too), each line a
``Name: value`` field or a continuation starting with a space or a tab. Here the decompressed
bytes arrive in bounded chunks, are cut at paragraph breaks, checked line by line with one C
regex search per chunk, and one regex ``findall`` per chunk picks out the fields of
:data:`KEPT` and the paragraph breaks; each column is then decoded in one go (``join``,
``decode``, ``split``): no per-stanza dict of all fields, repeated strings shared.

The values are what python-debian returns for the same bytes (a test compares every kept field
of every bookworm package): field names compared case-insensitively, the first line stripped,
continuation lines kept verbatim after a newline, the last of a repeated field wins, text
decoded as UTF-8 with replacement characters. What python-debian would silently skip or
reinterpret (a line that is neither a field nor a continuation, a comment, an OpenPGP armour
line, a continuation with no field before it, a bare carriage return, a NUL) is a
:class:`FormatError` naming the line, and so is a paragraph larger than :data:`MAX_PARAGRAPH`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from typing import Any, BinaryIO, NoReturn

import msgspec

from scratchpack.errors import FormatError

# The largest paragraph accepted (bookworm's largest is 76 kB): bounds the buffered bytes.
MAX_PARAGRAPH = 16 << 20

# Field name (lower case) -> column. Essential and Priority are kept for the resolver.
KEPT = {
    "package": "name",
    "version": "version",
    "architecture": "architecture",
    "depends": "depends",
    "pre-depends": "pre_depends",
    "provides": "provides",
    "essential": "essential",
    "priority": "priority",
    "filename": "filename",
    "size": "size",
    "sha256": "sha256",
}
# The names as the archive spells them, looked up before the case-insensitive fallback.
_SPELLED = ("Package", "Version", "Architecture", "Depends", "Pre-Depends", "Provides",
            "Essential", "Priority", "Filename", "Size", "SHA256")  # fmt: skip
_COLUMN = {name.encode(): KEPT[name.lower()] for name in _SPELLED}
_REQUIRED = ("name", "version", "filename", "size", "sha256")
# The columns in the order a paragraph's row has them: the required ones first.
_ORDER = (*_REQUIRED, *(c for c in KEPT.values() if c not in _REQUIRED))
_ROW = operator.itemgetter(*_ORDER)
_EMPTY: dict[str, bytes | None] = dict.fromkeys(_ORDER)

# After a newline: a kept field (name, value with its continuation lines), or an empty or
# blank line (a paragraph break: the name group is empty). The block is read with b"\n\n"
# in front, so its first line follows a newline too.
_FIELDS = re.compile(
    rb"\n(?:(" + b"|".join(re.escape(k.encode()) for k in KEPT) + rb"):[ \t]*"
    rb"([^\n]*(?:\n[ \t][^\n]*)*)|[ \t]*(?=\n))",
    re.IGNORECASE,
)
# After a newline, a line that is none of a field (a name of printable ASCII but ':', not
# starting with '#' or '-', then ':'), a continuation (a space or tab first) or an empty line;
# or a continuation line right after a paragraph break (no field to continue).
_BAD_LINE = re.compile(
    rb"\n(?:(?![ \t\n]|\Z|[\x21\x22\x24-\x2c\x2e-\x39\x3b-\x7e][\x21-\x39\x3b-\x7e]*:)"
    rb"|[ \t]*\n[ \t]+[^ \t\n])"
)
# The bytes a value may have for the fast decoding (printable ASCII, and the NUL joining them).
_PLAIN = bytes(range(0x20, 0x7F)) + b"\0"
_TRAILING_BLANK = re.compile(rb"\n[ \t]*\Z")


class Columns(msgspec.Struct, frozen=True, array_like=True):
    """The kept fields of an index, one list per field, in index order: the parsed form that
    is cached (msgpack, as an array of the columns: see :func:`encode`) and turned into
    records."""

    name: list[str]
    version: list[str]
    architecture: list[str]
    depends: list[str]
    pre_depends: list[str]
    provides: list[str]
    essential: list[bool]
    priority: list[str]
    filename: list[str]
    size: list[int]
    sha256: list[str]

    def __len__(self) -> int:
        return len(self.name)


def write(columns: Columns, stream: BinaryIO) -> None:
    """msgpack of ``columns`` (what ``msgspec.msgpack.encode`` would give), one column at a
    time: the transient copy is one column (7 MB for bookworm's sha256s), not all 20 MB."""
    values = msgspec.structs.astuple(columns)
    assert len(values) < 16  # a msgpack fixarray
    stream.write(bytes([0x90 + len(values)]))
    for value in values:
        stream.write(msgspec.msgpack.encode(value))


def _value(raw: bytes) -> str:
    """A field's value as python-debian gives it: first line stripped, the rest verbatim."""
    text = raw.decode("utf-8", "replace")
    if "\n" in text:
        first, _, rest = text.partition("\n")
        return f"{first.strip()}\n{rest}"
    return text.strip()


def _decoded(values: list[bytes]) -> list[str]:
    """Values decoded as :func:`_value` would, in one ``decode`` when all are plain (printable
    ASCII, one line, no space at the end: nearly always)."""
    joined = b"\0".join(values)
    if not joined.translate(None, _PLAIN) and b" \0" not in joined and not joined.endswith(b" "):
        return joined.decode("ascii").split("\0")
    return [_value(v) for v in values]


class _Builder:
    """Columns filled block by block; strings that repeat are stored once."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.line = 1  # the number of the first line of the block being parsed
        self.shared: dict[str, str] = {}
        self.cols: dict[str, list[Any]] = {c: [] for c in KEPT.values()}

    def _fail(self, block: bytes, at: int, why: str) -> NoReturn:
        line = self.line + block.count(b"\n", 0, at)
        end = block.find(b"\n", at)
        shown = block[at : end if end >= 0 else len(block)][:60].decode("utf-8", "replace")
        raise FormatError(f"{self.where}: line {line}: {why}: {shown!r}")

    def _check(self, block: bytes) -> None:
        """Every line of ``block`` (which starts after a newline) is well formed. Of several
        faults the first in the file is named, whichever its kind: a block's extent depends on
        how the stream was cut into chunks, and the message must not."""
        faults: list[tuple[int, int, str]] = []  # (where, rank on a tie, why)
        text = b"\n\n" + block
        bad = _BAD_LINE.search(text)
        if bad is not None:
            at = text.rfind(b"\n", bad.start(), bad.end()) + 1 - 2  # its line's start in block
            first = block[at : at + 1]
            if first in (b" ", b"\t"):
                why = "a continuation line with no field before it"
            elif first in (b"#", b"-"):
                why = "a comment or an OpenPGP armour line, which an index may not have"
            else:
                why = "neither a field ('Name: value') nor a continuation line"
            faults.append((at, 0, why))
        others = (
            (b"\r", "a carriage return inside a line"),
            (b"\0", "a NUL byte: not a text index"),
        )
        for rank, (byte, why) in enumerate(others, 1):
            at = block.find(byte)
            if at >= 0:
                faults.append((at, rank, why))
        if faults:
            at, _, why = min(faults)
            self._fail(block, at, why)

    def block(self, block: bytes) -> None:
        """Parse whole paragraphs (``block`` ends at a paragraph break or at the end)."""
        self._check(block)
        lookup = _COLUMN.get
        rows: list[tuple[bytes | None, ...]] = []
        found = _EMPTY.copy()
        have = False
        for key, raw in _FIELDS.findall(b"\n\n" + block):
            if key:
                found[lookup(key) or KEPT[key.decode().lower()]] = raw
                have = True
            elif have:
                rows.append(_ROW(found))
                found = _EMPTY.copy()
                have = False
        if have:
            rows.append(_ROW(found))
        # a stanza without what a download needs is not installable: left out
        whole = [r for r in rows if None not in r[: len(_REQUIRED)]]
        transposed = list(zip(*whole, strict=True)) if whole else [()] * len(_ORDER)
        columns = {
            c: _decoded([v or b"" for v in values])
            for c, values in zip(_ORDER, transposed, strict=True)
        }
        sizes: list[int | None] = []
        for text in columns["size"]:
            try:
                sizes.append(int(text))
            except ValueError:
                sizes.append(None)
        keep = [n for n, size in enumerate(sizes) if size is not None]
        if len(keep) != len(sizes):
            columns = {c: [values[n] for n in keep] for c, values in columns.items()}
            sizes = [sizes[n] for n in keep]
        shared = self.shared.setdefault
        for column, values in columns.items():
            if column in ("name", "filename", "sha256"):
                self.cols[column] += values
            elif column == "size":
                self.cols[column] += sizes
            elif column == "essential":
                self.cols[column] += [v == "yes" for v in values]
            else:
                self.cols[column] += [shared(v, v) for v in values]
        self.line += block.count(b"\n")

    def columns(self) -> Columns:
        return Columns(**self.cols)


def parse(chunks: Iterable[bytes], where: str) -> Columns:
    """The kept fields of every installable stanza of an index read as ``chunks`` of its
    decompressed bytes; at most one paragraph plus one chunk is held at a time, and each byte
    is copied a bounded number of times whatever the chunks' sizes."""
    builder = _Builder(where)
    held: list[bytes] = []  # since the last paragraph break
    size = 0
    cr = b""  # a CR that ended the previous chunk: its LF may start this one
    for piece in chunks:
        chunk = cr + piece if cr else piece
        cr = b""
        if chunk.endswith(b"\r"):
            chunk, cr = chunk[:-1], b"\r"
        if b"\r\n" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")  # CRLF read as LF, as python-debian does
        if not chunk:
            continue
        cut = chunk.rfind(b"\n\n")
        if cut >= 0:
            builder.block(b"".join([*held, chunk[: cut + 1]]))
            builder.line += 1  # the empty line at the cut
            rest = chunk[cut + 2 :]
        elif held and held[-1].endswith(b"\n") and chunk.startswith(b"\n"):
            builder.block(b"".join(held))  # the break is between the chunks
            builder.line += 1
            rest = chunk[1:]
        else:
            held.append(chunk)
            size += len(chunk)
            if size > MAX_PARAGRAPH:
                raise FormatError(
                    f"{where}: line {builder.line}: a paragraph over {MAX_PARAGRAPH >> 20} MiB: "
                    "not a Packages index"
                )
            continue
        held, size = ([rest], len(rest)) if rest else ([], 0)
    pending = b"".join(held)
    if pending:
        builder.block(_TRAILING_BLANK.sub(b"", pending))
    return builder.columns()
