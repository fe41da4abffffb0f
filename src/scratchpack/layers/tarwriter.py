"""A reproducible layer tarball writer.

Same entries in, same bytes out: entries are sorted, every parent directory is present,
owners, modes and mtimes are set explicitly, and the host leaks nothing (no atime, no
user names, no xattrs). PAX headers appear only where USTAR cannot hold a field (long paths).
"""

from __future__ import annotations

import dataclasses
import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, cast

from scratchpack.errors import ScratchpackError, UsageError

EntryKind = Literal["file", "dir", "symlink", "hardlink"]


# 9999-12-31T23:59:59Z: the last second an RFC 3339 date (a config's "created", an SBOM's
# timestamp) can write; a later one was Python's "year 10000 is out of range" (or a time_t
# overflow) deep inside a pack, not a usage error.
MAX_SOURCE_DATE_EPOCH = 253402300799


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` as an int (0 when unset), per reproducible-builds.org."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    try:
        epoch = int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH must be an integer, got {value!r}") from None
    if epoch < 0:
        raise UsageError(f"SOURCE_DATE_EPOCH must not be negative, got {epoch}")
    if epoch > MAX_SOURCE_DATE_EPOCH:
        raise UsageError(
            f"SOURCE_DATE_EPOCH must be at most {MAX_SOURCE_DATE_EPOCH} (9999-12-31), got {value}"
        )
    return epoch


def normalize_path(path: str) -> str:
    """Image path without leading slash; rejects ``..`` and empty names."""
    if "\x00" in path:
        raise UsageError(f"path contains a NUL byte: {path!r}")
    norm = posixpath.normpath("/" + path.strip())
    if norm == "/":
        return ""
    if any(part == ".." for part in path.split("/")):
        raise UsageError(f"path must not contain '..': {path!r}")
    return norm.lstrip("/")


@dataclass
class Entry:
    """One file system object of a layer."""

    path: str
    kind: EntryKind
    mode: int
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    data: bytes | None = None
    source: Path | None = None
    size: int = 0
    linkname: str = ""
    origin: str = field(default="", compare=False)

    def sort_key(self) -> tuple[str, ...]:
        return tuple(self.path.split("/"))


class LayerContents:
    """The entries of one layer, keyed by path; later additions of a path are refused."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def __contains__(self, path: str) -> bool:
        return normalize_path(path) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str) -> Entry | None:
        return self._entries.get(normalize_path(path))

    def add(self, entry: Entry) -> Entry:
        entry.path = normalize_path(entry.path)
        if not entry.path:
            raise UsageError("cannot add the root directory as an entry")
        existing = self._entries.get(entry.path)
        if existing is not None:
            if existing.kind == "dir" and entry.kind == "dir":
                # A directory asked for twice: the explicit (later) metadata wins.
                self._entries[entry.path] = entry
                return entry
            where = f" (from {existing.origin})" if existing.origin else ""
            raise UsageError(f"/{entry.path} is added twice{where}")
        self._check_parents(entry.path)
        self._entries[entry.path] = entry
        return entry

    def replace(self, entry: Entry) -> Entry:
        """Put ``entry`` at its path whatever was there (a later package's file replacing an
        earlier one's, as dpkg does); the parents must exist as for :meth:`add`."""
        entry.path = normalize_path(entry.path)
        if not entry.path:
            raise UsageError("cannot add the root directory as an entry")
        self._check_parents(entry.path)
        self._entries[entry.path] = entry
        return entry

    def _check_parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent:
            existing = self._entries.get(parent)
            if existing is not None and existing.kind != "dir":
                raise UsageError(f"/{path}: its parent /{parent} is not a directory")
            parent = posixpath.dirname(parent)

    def add_file(
        self,
        path: str,
        *,
        data: bytes | None = None,
        source: Path | None = None,
        mode: int = 0o444,
        uid: int = 0,
        gid: int = 0,
        origin: str = "",
    ) -> Entry:
        if (data is None) == (source is None):
            raise ValueError("give exactly one of data or source")
        size = len(data) if data is not None else _file_size(source)
        return self.add(
            Entry(path, "file", mode, uid, gid, data=data, source=source, size=size, origin=origin)
        )

    def add_dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
        return self.add(Entry(path, "dir", mode, uid, gid))

    def add_symlink(self, path: str, target: str, uid: int = 0, gid: int = 0) -> Entry:
        return self.add(Entry(path, "symlink", 0o777, uid, gid, linkname=target))

    def add_hardlink(self, path: str, target: str) -> Entry:
        target_path = normalize_path(target)
        found = self._entries.get(target_path)
        if found is None or found.kind != "file":
            raise UsageError(f"hardlink /{path} points at /{target_path}, which is not a file")
        return self.add(
            Entry(path, "hardlink", found.mode, found.uid, found.gid, linkname=target_path)
        )

    def entries(self) -> list[Entry]:
        """All entries with any missing parent directories added (root, 0755), sorted."""
        complete = dict(self._entries)
        for path in list(self._entries):
            parent = posixpath.dirname(path)
            while parent and parent not in complete:
                complete[parent] = Entry(parent, "dir", 0o755)
                parent = posixpath.dirname(parent)
        return sorted(complete.values(), key=Entry.sort_key)

    def paths(self) -> Iterable[str]:
        return self._entries.keys()

    def copy(self) -> LayerContents:
        """A copy with copies of the entries: what a writer on another thread reads while
        this one may still change (pack's app layer, see ``pack/core.BackgroundLayer``)."""
        other = LayerContents()
        other._entries = {path: dataclasses.replace(e) for path, e in self._entries.items()}
        return other


def _file_size(source: Path | None) -> int:
    assert source is not None
    try:
        info = source.stat()
    except OSError as exc:
        raise ScratchpackError(f"cannot read {source}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{source} is not a regular file")
    return info.st_size


def write_tar(contents: LayerContents, out: BinaryIO, mtime: int) -> None:
    """Write the layer as a tar stream to ``out`` (which may be a compressing writer)."""
    with tarfile.TarFile(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", copybufsize=1 << 20
    ) as tar:
        for entry in contents.entries():
            info = tarfile.TarInfo(entry.path)
            info.mtime = mtime
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            info.uname, info.gname = entry.uname, entry.gname
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.linkname
                tar.addfile(info)
            elif entry.kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = entry.linkname
                tar.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.size = entry.size
                if entry.data is not None:
                    tar.addfile(info, io.BytesIO(entry.data))
                else:
                    assert entry.source is not None
                    _add_source(tar, info, entry.source)


class _SourceReader:
    """A source file for ``tar.addfile``: its read errors name the file; errors writing the
    output (a full disk) pass through untouched, for the writer to report as such."""

    def __init__(self, handle: BinaryIO, source: Path) -> None:
        self._handle = handle
        self._source = source

    def read(self, n: int = -1) -> bytes:
        try:
            return self._handle.read(n)
        except OSError as exc:
            raise ScratchpackError(f"cannot read {self._source}: {exc.strerror or exc}") from exc


def _add_source(tar: tarfile.TarFile, info: tarfile.TarInfo, source: Path) -> None:
    try:
        handle = source.open("rb")
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise ScratchpackError(f"cannot read {source}: {exc.strerror or exc}") from exc
    with handle:
        if size != info.size:
            raise ScratchpackError(f"{source} changed size while it was being packed")
        tar.addfile(info, cast(BinaryIO, _SourceReader(handle, source)))
