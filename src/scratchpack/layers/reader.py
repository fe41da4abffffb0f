"""Read a layer's tar stream entry by entry, in one pass, without writing anything to disk.

Entries come out with normalised paths (no leading ``/`` or ``./``) and the OCI whiteout
conventions decoded: ``dir/.wh.name`` deletes ``dir/name`` from the layers below, and
``dir/.wh..wh..opq`` hides everything ``dir`` held below. Hostile names (``..`` that climbs
out of the root, NUL bytes) are reported as such instead of being trusted, so an audit of a
malicious image shows the attack rather than following it. A caller asks for the content of
the entries it cares about; everything else is skipped as the stream goes by.

``tarfile`` in stream mode (``r|``) does the tar parsing: it reads PAX, GNU and USTAR headers
and long names, which is exactly the part worth not writing by hand.
"""

from __future__ import annotations

import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, Literal

from scratchpack.errors import FormatError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

Kind = Literal["file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque"]

_KINDS: dict[bytes, Kind] = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


@dataclass(frozen=True, slots=True)
class LayerEntry:
    """One tar member. For a whiteout, ``path`` is what it deletes; for an opaque marker, the
    directory it makes opaque. ``size`` is the tar header's (0 for links and directories)."""

    path: str
    kind: Kind
    size: int
    mode: int
    uid: int
    gid: int
    link: str = ""

    @property
    def is_regular(self) -> bool:
        return self.kind == "file"

    @property
    def permissions(self) -> int:
        return stat.S_IMODE(self.mode)


class HostilePath(FormatError):
    """A member whose name climbs out of the image root."""


def normalise(name: str) -> str:
    """The image path of a tar member name: ``./usr/bin/`` -> ``usr/bin``; ``""`` for the root."""
    if "\x00" in name:
        raise HostilePath(f"tar member name contains a NUL byte: {name!r}")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise HostilePath(f"tar member {name!r} climbs out of the image root")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def _entry(member: tarfile.TarInfo) -> LayerEntry:
    path = normalise(member.name)
    kind = _KINDS.get(member.type)
    if kind is None:
        raise FormatError(f"tar member {member.name!r} has unknown type {member.type!r}")
    directory, base = posixpath.split(path)
    link = member.linkname
    if kind == "hardlink":
        link = normalise(link)
    if base == OPAQUE_MARKER:
        return LayerEntry(directory, "opaque", member.size, member.mode, member.uid, member.gid)
    if base.startswith(WHITEOUT_PREFIX):
        target = posixpath.join(directory, base[len(WHITEOUT_PREFIX) :])
        return LayerEntry(target, "whiteout", member.size, member.mode, member.uid, member.gid)
    size = member.size if kind == "file" else 0
    return LayerEntry(path, kind, size, member.mode, member.uid, member.gid, link)


# What a caller wants of an entry's content: None (skip it), or at most this many bytes
# handed to the callback as a file object positioned at the start of the content.
ContentWanted = Callable[[LayerEntry], bool]
ContentSink = Callable[[LayerEntry, IO[bytes]], None]


def read_layer(
    stream: BinaryIO,
    wants: ContentWanted | None = None,
    sink: ContentSink | None = None,
) -> Iterator[LayerEntry]:
    """Yield every entry of an uncompressed layer tar. For regular files ``wants`` accepts,
    ``sink`` is called with the entry and a reader of its content before the entry is yielded.

    The stream is read to its end, so a verifying stream checks its digest."""
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=1 << 18) as tar:
            for member in tar:
                if member.name in ("", ".", "./", "/"):
                    continue
                entry = _entry(member)
                if sink is not None and entry.is_regular and wants is not None and wants(entry):
                    content = tar.extractfile(member)
                    if content is not None:
                        sink(entry, content)
                yield entry
    except tarfile.TarError as exc:
        raise FormatError(f"layer is not a valid tar archive: {exc}") from exc
    # tarfile stops at the end-of-archive blocks; the rest (padding) still has to pass the
    # digest check of a verifying stream.
    while stream.read(1 << 20):
        pass


class CountingReader:
    """Counts the bytes read through it: the uncompressed size of a layer as it streams."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True

    def iter_entries(
        self, wants: ContentWanted | None = None, sink: ContentSink | None = None
    ) -> Iterator[LayerEntry]:
        from typing import cast

        return read_layer(cast(BinaryIO, self), wants, sink)


def layer_entries(
    stream: BinaryIO, wants: ContentWanted | None = None, sink: ContentSink | None = None
) -> tuple[list[LayerEntry], int]:
    """All entries of a layer and the number of uncompressed bytes read."""
    counter = CountingReader(stream)
    entries = list(counter.iter_entries(wants, sink))
    return entries, counter.count
