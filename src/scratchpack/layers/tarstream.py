"""Tar headers read from a forward-only stream, one member at a time, in bounded memory.

Why not ``tarfile``: this parser reads image layers, which anyone can craft, and ``tarfile``
in stream mode (``r|``) falls short there in ways no option fixes:

* it keeps every ``TarInfo`` it has read in ``TarFile.members`` (1M entries: 760 MB);
* it reads a PAX header's whole declared size into memory (a 1 GiB PAX record: 1 GiB);
* a header with a bad checksum after the first one silently ends the archive, so whatever
  follows is hidden from the audit while Go's ``archive/tar`` (containerd, docker) refuses the
  layer;
* GNU sparse members raise ``ValueError`` from deep inside (not a ``TarError``);
* its per-member Python work was 30-35% of ``audit``'s time.

What is read: USTAR (with the ``prefix`` field), the old GNU format, GNU long names and long
link names (``L``/``K``), PAX extended and global headers (``x``/``X``/``g``: ``path``,
``linkpath``, ``size``, ``uid``, ``gid``, ``uname``, ``gname``, ``mtime``), octal and base-256
numbers (negative ones included: the caller decides what a negative mode means). Refused with
a :class:`~scratchpack.errors.FormatError`: bad checksums, truncation, PAX and long-name
records over 1 MiB, malformed PAX records, GNU sparse members (old ``S`` type and PAX
``GNU.sparse.*``): an image layer has no business being sparse and reading one right would
mean rebuilding the holes. Member content is never buffered: the caller reads what it wants
of it through :meth:`TarStream.read_content`, the rest is skipped as the stream goes by.

``tests/test_layers.py`` checks this parser against ``tarfile`` on generated archives.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, NamedTuple

from scratchpack.errors import FormatError

BLOCK = 512
META_LIMIT = 1 << 20  # a PAX header or a GNU long name: enough for any real path
_ZERO = bytes(BLOCK)
_CHUNK = 1 << 20

REGULAR = frozenset({b"0", b"\x00", b"7"})
# types whose size field does not announce content (as tarfile and Go's archive/tar read them)
HEADER_ONLY = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})
_META = frozenset({b"x", b"X", b"g", b"L", b"K"})  # headers that describe the next member
# name, mode, uid, gid, size, (mtime, chksum), type, linkname, magic, (version, uname, gname,
# devmajor, devminor), prefix
_HEADER = struct.Struct("100s8s8s8s12s20xc100s6s82x155s")
_USTAR_MAGIC = b"ustar\x00"


class TarMember(NamedTuple):
    """One member as its headers describe it (names decoded from UTF-8; undecodable bytes
    shown as ``\\xNN``)."""

    name: str
    type: bytes
    size: int
    mode: int
    uid: int
    gid: int
    linkname: str
    offset: int  # of its header in the archive


# TarMember(...) runs a Python-level __new__; the tuple constructor is C (same object)
_make_member: Callable[[type[TarMember], tuple[object, ...]], TarMember] = tuple.__new__


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _field(raw: bytes) -> bytes:
    end = raw.find(b"\x00")
    return raw if end < 0 else raw[:end]


# Numeric fields seen before, as the header holds them: modes, owners and many sizes repeat
# from member to member, and a dict lookup is a fifth of the parse. Bounded: a hostile tar of
# distinct numbers fills it once, then is parsed the slow way.
_NUMBERS: dict[bytes, int] = {}
_NUMBERS_KEPT = 8192


def _number(raw: bytes, what: str, offset: int) -> int:
    """An octal number, or GNU's base-256 (first byte 0x80, or 0xff for a negative one)."""
    value = _NUMBERS.get(raw)
    if value is None:
        value = _parse_number(raw, what, offset)
        if len(_NUMBERS) < _NUMBERS_KEPT:
            _NUMBERS[raw] = value
    return value


def _parse_number(raw: bytes, what: str, offset: int) -> int:
    lead = raw[0]
    if lead & 0x80:
        value = int.from_bytes(raw[1:], "big")
        return value - (1 << (8 * (len(raw) - 1))) if lead == 0xFF else value
    try:
        return int(raw.strip(b" \x00") or b"0", 8)  # the usual "0000644\x00"
    except ValueError:
        pass
    text = _field(raw).strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise FormatError(
            f"tar header at byte {offset}: {what} field {raw!r} is not a number"
        ) from None


def _checksum_ok(block: bytes) -> bool:
    """The header checksum: the sum of its bytes, the checksum field counted as spaces."""
    stored = block[148:156]
    try:
        expected = int(stored.strip(b" \x00") or b"x", 8)
    except ValueError:
        try:
            expected = int(_field(stored).strip(), 8)
        except ValueError:
            return False
    # adler32's low half is 1 + the byte sum modulo 65521 (zlib, C speed); a 512-byte block
    # sums to at most 130560, so the sum is one of two values
    low = (zlib.adler32(block) & 0xFFFF) - 1 - sum(stored) + 256
    if expected in (low, low + 65521):
        return True
    # some old tar implementations summed signed chars
    signed = sum(block) - sum(stored) + 256
    signed -= 256 * (sum(1 for b in block if b > 127) - sum(1 for b in stored if b > 127))
    return signed == expected


def parse_pax(data: bytes, offset: int) -> dict[str, str]:
    """``LENGTH KEY=VALUE\\n`` records (a bad record is an error, not the end of the list)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break  # NUL padding some writers leave inside the declared size
        space = data.find(b" ", pos, pos + 21)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1] != 0x0A:
            raise FormatError(f"PAX header at byte {offset}: malformed record at {pos}")
        key, sep, value = data[space + 1 : end - 1].partition(b"=")
        if not sep:
            raise FormatError(f"PAX header at byte {offset}: record without '=' at {pos}")
        records[key.decode("utf-8", "backslashreplace")] = _text(value)
        pos = end
    return records


def _pax_int(records: dict[str, str], key: str, offset: int) -> int | None:
    if key not in records:
        return None
    try:
        return int(records[key])
    except ValueError:
        raise FormatError(
            f"PAX header at byte {offset}: {key}={records[key][:40]!r} is not a number"
        ) from None


class TarStream:
    """Members of one tar stream; see the module docstring."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buf = b""
        self._pos = 0
        self.offset = 0  # bytes of the archive consumed
        self._remaining = 0  # content bytes of the current member not read yet
        self._padding = 0
        # a file (an archive indexed by offset) skips content by seeking; a layer's stream
        # (decompressed, verified) cannot seek and is read through
        seekable = getattr(stream, "seekable", None)
        self._seekable = bool(callable(seekable) and seekable())
        self._end = 0  # of a seekable stream: its length from where the archive starts
        if self._seekable:
            start = stream.tell()
            self._end = stream.seek(0, 2) - start
            stream.seek(start)

    # -- bytes ------------------------------------------------------------------------------

    def _fill(self, n: int) -> bool:
        """At least ``n`` bytes buffered (False at the end of the stream)."""
        while len(self._buf) - self._pos < n:
            data = self._stream.read(max(_CHUNK, n))
            if not data:
                return False
            # a chunk that follows a used-up buffer is taken as it is, not copied
            self._buf = self._buf[self._pos :] + data if self._pos < len(self._buf) else data
            self._pos = 0
        return True

    def _take(self, n: int, what: str) -> bytes:
        if not self._fill(n):
            raise FormatError(f"layer tar is truncated: {what} at byte {self.offset} is cut short")
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        self.offset += n
        return data

    def _skip(self, n: int, what: str) -> None:
        buffered = len(self._buf) - self._pos
        if self._seekable and n > buffered + _CHUNK:
            if self.offset + n > self._end:
                raise FormatError(
                    f"layer tar is truncated: {what} ends at byte {self._end} with "
                    f"{self.offset + n - self._end} bytes still declared"
                )
            self._stream.seek(n - buffered, 1)
            self._buf, self._pos = b"", 0
            self.offset += n
            return
        while n > 0:
            if self._pos >= len(self._buf) and not self._fill(1):
                raise FormatError(
                    f"layer tar is truncated: {what} ends at byte {self.offset} with {n} "
                    "bytes still declared"
                )
            step = min(n, len(self._buf) - self._pos)
            self._pos += step
            self.offset += step
            n -= step

    def read_content(self, n: int = -1) -> bytes:
        """``n`` bytes of the current member's content (all that is left when negative, or
        less at its end), as a file's ``read`` gives them."""
        if n < 0 or n > self._remaining:
            n = self._remaining
        if len(self._buf) - self._pos >= n:  # the usual case: already buffered
            data = self._buf[self._pos : self._pos + n]
            self._pos += n
        else:
            pieces = [self._buf[self._pos :]]
            got = len(pieces[0])
            self._buf, self._pos = b"", 0
            while got < n:
                more = self._stream.read(max(_CHUNK, n - got))
                if not more:
                    raise FormatError(
                        f"layer tar is truncated: content ends at byte {self.offset + got}"
                    )
                if got + len(more) > n:  # keep what belongs to the next member
                    self._buf, more = more[n - got :], more[: n - got]
                pieces.append(more)
                got += len(more)
            data = b"".join(pieces)
        self.offset += n
        self._remaining -= n
        return data

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes of the current member's content, from what is buffered (or one
        more chunk): ``b""`` only at its end. No joining of pieces: a caller that streams a
        large member (an executable searched for markers) costs one copy per chunk, or none
        when it takes a whole chunk."""
        n = min(n, self._remaining)
        if n <= 0:
            return b""
        if self._pos >= len(self._buf) and not self._fill(1):
            raise FormatError(f"layer tar is truncated: content ends at byte {self.offset}")
        take = min(n, len(self._buf) - self._pos)
        if self._pos == 0 and take == len(self._buf):
            data, self._buf = self._buf, b""
        else:
            data = self._buf[self._pos : self._pos + take]
            self._pos += take
        self.offset += take
        self._remaining -= take
        return data

    def _finish_member(self) -> None:
        self._skip(self._remaining + self._padding, "a member's content")
        self._remaining = self._padding = 0

    def drain(self) -> None:
        """Read the stream to its end (what follows the end-of-archive blocks)."""
        self._pos = len(self._buf)
        while self._stream.read(_CHUNK):
            pass

    # -- headers ----------------------------------------------------------------------------

    def _meta(self, size: int, what: str, at: int) -> bytes:
        if size > META_LIMIT:
            raise FormatError(
                f"tar {what} at byte {at} declares {size} bytes (at most {META_LIMIT} are read)"
            )
        data = self._take(size, what)
        self._skip(-size % BLOCK, what)
        return data

    def members(self) -> Iterator[TarMember]:
        """Every member, in order; stops at the end-of-archive blocks.

        The loop is written for archives of many small members (100,000 files of a layer):
        the previous member's content and padding are stepped over in the buffer, the usual
        checksum, names and numbers are read inline, and a member is made without a Python
        call (``tuple.__new__``); the rare cases go through the general helpers above."""
        pax_global: dict[str, str] = {}
        pax: dict[str, str] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        unpack = _HEADER.unpack_from
        numbers = _NUMBERS
        adler32 = zlib.adler32
        make = _make_member
        while True:
            step = self._remaining + self._padding
            if step:
                if self._pos + step <= len(self._buf):  # the usual case: content buffered
                    self._pos += step
                    self.offset += step
                    self._remaining = self._padding = 0
                else:
                    self._finish_member()
            at = self.offset
            if self._pos + BLOCK <= len(self._buf):  # the usual case: the header is buffered
                block = self._buf[self._pos : self._pos + BLOCK]
                self._pos += BLOCK
                self.offset += BLOCK
            elif self._fill(BLOCK):
                block = self._take(BLOCK, "a header")
            else:
                if self._pos < len(self._buf):
                    raise FormatError(f"layer tar is truncated: a header at byte {at} is cut short")
                if at == 0:
                    raise FormatError("layer tar is empty (not even the end-of-archive blocks)")
                return  # no end-of-archive blocks: tolerated, as tarfile and GNU tar do
            if block == _ZERO:
                if not self._fill(BLOCK) or self._buf[self._pos : self._pos + BLOCK] == _ZERO:
                    return
                raise FormatError(
                    f"layer tar has a header after an end-of-archive block (byte {self.offset})"
                )
            # the checksum as _checksum_ok computes it, for the usual "0012345\x00 " field
            stored = block[148:156]
            ok = False
            if stored[6:] == b"\x00 ":
                try:
                    low = (adler32(block) & 0xFFFF) - 1 - sum(stored) + 256
                    ok = int(stored[:6], 8) - low in (0, 65521)
                except ValueError:
                    pass
            if not ok and not _checksum_ok(block):
                raise FormatError(
                    f"tar header at byte {at} has a bad checksum: not a tar, or corrupt"
                )
            raw_name, raw_mode, raw_uid, raw_gid, raw_size, kind, raw_link, magic, raw_prefix = (
                unpack(block)
            )
            size = numbers.get(raw_size)
            if size is None:
                size = _number(raw_size, "size", at)
            if size < 0:
                raise FormatError(f"tar header at byte {at} declares a negative size")
            if kind in _META:
                if kind == b"L":
                    long_name = _field(self._meta(size, "GNU long name", at))
                elif kind == b"K":
                    long_link = _field(self._meta(size, "GNU long link name", at))
                else:
                    records = parse_pax(self._meta(size, "PAX header", at), at)
                    (pax_global if kind == b"g" else pax).update(records)
                continue
            if kind == b"S":
                raise FormatError(f"tar member at byte {at} is a GNU sparse file: not supported")
            if long_name is not None:
                name = _text(long_name)
            else:
                end = raw_name.find(0)
                name = (raw_name if end < 0 else raw_name[:end]).decode("utf-8", "backslashreplace")
                if magic == _USTAR_MAGIC and raw_prefix[0]:
                    name = _text(_field(raw_prefix)) + "/" + name
            if kind == b"\x00" and name.endswith("/"):
                kind = b"5"
            if long_link is not None:
                linkname = _text(long_link)
            elif raw_link[0]:
                linkname = _text(_field(raw_link))
            else:
                linkname = ""
            mode = numbers.get(raw_mode)
            if mode is None:
                mode = _number(raw_mode, "mode", at)
            uid = numbers.get(raw_uid)
            if uid is None:
                uid = _number(raw_uid, "uid", at)
            gid = numbers.get(raw_gid)
            if gid is None:
                gid = _number(raw_gid, "gid", at)
            if pax or pax_global:
                extended = {**pax_global, **pax}
                if any(key.startswith("GNU.sparse.") for key in extended):
                    raise FormatError(
                        f"tar member at byte {at} is a GNU sparse file: not supported"
                    )
                name = extended.get("path", name)
                linkname = extended.get("linkpath", linkname)
                pax_size = _pax_int(extended, "size", at)
                if pax_size is not None:
                    if pax_size < 0:
                        raise FormatError(f"PAX header at byte {at} declares a negative size")
                    size = pax_size
                pax_uid = _pax_int(extended, "uid", at)
                pax_gid = _pax_int(extended, "gid", at)
                uid = uid if pax_uid is None else pax_uid
                gid = gid if pax_gid is None else pax_gid
                pax = {}
            long_name = long_link = None
            if kind in HEADER_ONLY:
                size = 0
            else:
                self._remaining = size
                self._padding = -size % BLOCK
            yield make(TarMember, (name, kind, size, mode, uid, gid, linkname, at))
