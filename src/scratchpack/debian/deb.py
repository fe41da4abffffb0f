"""Unpack a ``.deb`` into a layer the way dpkg would lay it out, without running dpkg.

Maintainer scripts never run: a minimal image has no shell to run them with, and what they do
for the packages that matter here (certificates, time zones, libraries) is either done by
scratchpack itself (see :mod:`scratchpack.debian.certificates`) or not needed in a container.

The layout follows Debian bookworm's merged ``/usr``: ``/bin``, ``/sbin``, ``/lib`` and
``/lib64`` are symlinks into ``/usr``, so members a package still ships under ``bin/`` or
``lib/`` are moved to ``usr/bin/`` or ``usr/lib/`` (as dpkg does when it follows the links).
Documentation is dropped by default, but ``usr/share/doc/*/copyright`` stays: images carry the
licences of what they ship, as distroless images do.
"""

from __future__ import annotations

import fnmatch
import lzma
import posixpath
import tarfile
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, Protocol, cast

from scratchpack.errors import FormatError, UsageError
from scratchpack.layers.tarwriter import Entry, LayerContents
from scratchpack.units import human_size

if TYPE_CHECKING:
    from debian.debfile import DebFile

MemberKind = Literal["file", "dir", "symlink", "hardlink", "special"]

# Top-level directories that merged-/usr turns into symlinks into usr/ (as usrmerge and
# debootstrap do). Members under any of them are moved; the links are created on demand.
MERGED_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32")

# The extra library directories each architecture's base system links, beyond bin, sbin and
# lib: those where the architecture's dynamic loader (or a multilib loader) is looked up.
_ARCH_LIB_DIRS: dict[str, tuple[str, ...]] = {
    "amd64": ("lib64",),
    "ppc64el": ("lib64",),
    "ppc64": ("lib64",),
    "sparc64": ("lib64",),
    "mips64el": ("lib64",),
    "loong64": ("lib64",),
    "x32": ("lib64",),
}

# Dropped unless keep_docs: documentation and translations are dead weight in a runtime image.
_DOC_TREES = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/bug",
)


# The unpack-size bomb guard: a data (or control) archive may expand to at most this many times
# the .deb's size, or to UNPACK_FLOOR, whichever is more. Real packages stay far below (of the 57
# bookworm packages the tests fetch, nodejs expands most: 12x its .deb); a bomb's zeros do not.
UNPACK_RATIO = 100
UNPACK_FLOOR = 1 << 30
# Files up to this size stay in memory when spooling (1,300 of python3's 2,100 files, 1.7 MB):
# a scratch file each would cost an open, a write and a later read for a few hundred bytes.
SPOOL_IN_MEMORY = 4096
# control and md5sums are read into memory; dpkg's largest md5sums are a few MB.
_CONTROL_MAX = 64 << 20
_CHUNK = 1 << 20
_TAR_BUFSIZE = 1 << 16  # tarfile's stream buffer: its reads of the decompressed stream
_TAIL_KEPT = 4 * _TAR_BUFSIZE  # decompressed bytes kept behind, to check the end-of-archive


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def unpack_limit(deb_size: int) -> int:
    """How far a package of ``deb_size`` bytes may expand before it is refused as a bomb."""
    return max(UNPACK_RATIO * deb_size, UNPACK_FLOOR)


@dataclass(frozen=True)
class DebMember:
    """One member of a package's data archive, checked; a file's body is in ``data`` or, when
    spooled, in the scratch file ``source`` (which the layer writer streams from).

    ``name`` is the member's path in the package (no leading ``./``), before the merged-/usr
    move; ``linkname`` is the symlink target as shipped, or the hardlink target's name.
    """

    name: str
    kind: MemberKind
    mode: int
    uid: int
    gid: int
    data: bytes | None = None
    linkname: str = ""
    source: Path | None = None
    size: int = 0


@dataclass(frozen=True)
class DebContents:
    """What a package is (its control paragraph) and, once unpacked, what it put where.

    ``files`` lists the image paths the package contributed to a layer (empty until
    :func:`unpack_into` fills it): the ``.list`` dpkg would keep, for SBOMs and conflicts.
    """

    package: str
    version: str
    architecture: str
    control: str
    md5sums: str = ""
    source: str = ""
    files: tuple[str, ...] = ()


class Spool:
    """A scratch directory that holds the bodies of unpacked files until the layer is written.

    Why: ``build`` assembles every package into one layer before writing it, so holding the
    bodies in memory made peak RSS grow with the image (python3's 53 MB of files). Spooled, a
    file costs only its :class:`DebMember` and :class:`Entry`; the tar writer streams it back.
    The directory belongs to the caller (a build's scratch directory, removed with it).
    """

    def __init__(self, directory: Path, in_memory: int = SPOOL_IN_MEMORY) -> None:
        self.directory = directory
        self.in_memory = in_memory
        self._count = 0

    def take(self, handle: IO[bytes], size: int, path: Path, name: str) -> DebMember:
        """Read one member's body (``size`` bytes, as its header says) into memory or a file."""
        if size <= self.in_memory:
            return DebMember(name, "file", 0, 0, 0, data=_read_exact(handle, size, path, name))
        self._count += 1
        target = self.directory / f"{self._count:06d}"
        written = 0
        with target.open("xb") as out:
            while chunk := handle.read(min(_CHUNK, size - written + 1)):
                written += len(chunk)
                if written > size:
                    break
                out.write(chunk)
        if written != size:
            raise FormatError(f"{path}: member {name} is truncated")
        return DebMember(name, "file", 0, 0, 0, source=target, size=size)


class _Bounded:
    """A decompressed archive stream that refuses to grow past ``limit`` (the bomb guard), with
    the last decompressed bytes kept so the end-of-archive can be checked.

    Why by hand: tarfile's own ``r:*`` neither limits nor knows zstd, and a stream cut short
    (a corrupt header, which tarfile takes for the end) needs the end-of-archive check below;
    a zstd stream cut inside its last frame is refused by ``layers/zstdstream.py``.
    """

    def __init__(self, raw: _Readable, limit: int, path: Path, what: str, package: str) -> None:
        self._raw = raw
        self._limit = limit
        self._path = path
        self._what = what
        self._package = package
        self.position = 0
        self._tail: deque[bytes] = deque()
        self._tail_start = 0
        self._tail_size = 0
        self._keep = True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        try:
            chunk = self._raw.read(size)
        except FormatError:
            raise
        except Exception as exc:  # each codec has its own error classes
            if type(exc).__name__ != "ZstdError":
                raise
            raise FormatError(f"{self._path}: {self._what} is corrupt: {exc}") from None
        self.position += len(chunk)
        self.check_declared(0)
        if chunk and self._keep:
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            while self._tail_size - len(self._tail[0]) >= _TAIL_KEPT:
                dropped = self._tail.popleft()
                self._tail_size -= len(dropped)
                self._tail_start += len(dropped)
        return chunk

    def check_declared(self, size: int) -> None:
        """Refuse before reading when a member's header already claims more than the limit."""
        if self.position + size > self._limit:
            raise FormatError(
                f"{self._path}: package {self._package}: {self._what} expands beyond"
                f" {human_size(self._limit)} ({UNPACK_RATIO}x the .deb, at least"
                f" {human_size(UNPACK_FLOOR)}); refusing it as an unpack bomb"
            )

    def check_end(self, offset: int) -> None:
        """The end-of-archive block must be where tarfile stopped: a stream cut short (or a
        corrupt header, which tarfile takes for the end) leaves none. Then read to the end, so
        gzip and xz check their CRCs, within the limit."""
        while self.position < offset + tarfile.BLOCKSIZE and self.read(_TAR_BUFSIZE):
            pass
        kept = b"".join(self._tail)
        block = kept[offset - self._tail_start : offset - self._tail_start + tarfile.BLOCKSIZE]
        if offset < self._tail_start or block != bytes(tarfile.BLOCKSIZE):
            raise FormatError(f"{self._path}: {self._what} is truncated or corrupt")
        self._keep = False
        self._tail.clear()
        while self.read(_CHUNK):
            pass


def _decompressed(member: IO[bytes], name: str, path: Path) -> _Readable:
    """A streaming reader of an archive member by its suffix: output is produced as it is
    read, never a whole member at once (zstd's stream_reader, not ``decompress``)."""
    suffix = name.rsplit(".", 1)[-1] if name.count(".") > 1 else ""
    if suffix == "gz":
        import gzip

        return gzip.GzipFile(fileobj=member, mode="rb")
    if suffix in ("xz", "lzma"):
        return lzma.LZMAFile(member)
    if suffix == "bz2":
        import bz2

        return bz2.BZ2File(member)
    if suffix == "zst":
        from scratchpack.layers.zstdstream import zstd_reader

        return zstd_reader(member)  # a cut even inside the last checksum: an EOFError
    if suffix:
        raise FormatError(f"{path}: {name} has a compression dpkg does not write")
    return member


def _open_part(
    deb: DebFile, part: str, path: Path, package: str
) -> tuple[tarfile.TarFile, _Bounded]:
    """The ``control`` or ``data`` tar as a stream, bounded by :func:`unpack_limit`.

    python-debian's own ``tgz()`` decompresses zstd whole through an ``unzstd`` process (which
    a build machine may lack) and has no size guard; the ar member is all it is used for here.
    """
    names = [n for n in deb.getnames() if n == f"{part}.tar" or n.startswith(f"{part}.tar.")]
    if len(names) != 1:
        raise FormatError(f"{path}: expected one {part}.tar member, found {len(names)}")
    bounded = _Bounded(_decompressed(cast(IO[bytes], deb.getmember(names[0])), names[0], path),
                       unpack_limit(path.stat().st_size), path, names[0], package)  # fmt: skip
    # the caller reads it to its end; the ar file under it is closed with the DebFile
    tar = tarfile.open(fileobj=cast(IO[bytes], bounded), mode="r|", bufsize=_TAR_BUFSIZE)  # noqa: SIM115
    return tar, bounded


def read_deb(path: Path, spool: Spool | None = None) -> tuple[DebContents, list[DebMember]]:
    """Read a ``.deb`` completely, so that a corrupt package fails before it touches a layer;
    with ``spool``, file bodies over its threshold go to its directory instead of memory."""
    from debian.arfile import ArError
    from debian.debfile import DebError, DebFile

    if not path.is_file():
        raise UsageError(f"{path}: no such package file")
    try:
        with DebFile(str(path)) as deb:
            contents = _read_control(deb, path)
            tar, bounded = _open_part(deb, "data", path, contents.package)
            members = _read_members(tar, bounded, path, spool)
            bounded.check_end(tar.offset)
    except (ArError, DebError, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise FormatError(f"{path}: not a valid .deb package: {exc}") from None
    except OSError as exc:
        # gzip.BadGzipFile, bz2 and truncated members surface as OSError.
        raise FormatError(f"{path}: not a valid .deb package: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: not a valid .deb package: {exc}") from None
    return contents, members


def _read_control(deb: DebFile, path: Path) -> DebContents:
    from debian.deb822 import Deb822

    found: dict[str, bytes] = {}
    tar, bounded = _open_part(deb, "control", path, path.name)
    for info in tar:
        name = _strip_dot(str(info.name))
        if info.isfile() and name in ("control", "md5sums"):
            if info.size > _CONTROL_MAX:
                raise FormatError(
                    f"{path}: its {name} file is {human_size(info.size)}; refusing it"
                )
            handle = tar.extractfile(info)
            assert handle is not None
            found[name] = _read_exact(handle, info.size, path, name)
    bounded.check_end(tar.offset)
    raw = found.get("control")
    if raw is None:
        raise FormatError(f"{path}: the control archive has no control file")
    text = raw.decode("utf-8")
    fields = Deb822(text.splitlines())
    missing = [name for name in ("Package", "Version", "Architecture") if not fields.get(name)]
    if missing:
        raise FormatError(f"{path}: the control file lacks {', '.join(missing)}")
    md5sums = found.get("md5sums")
    return DebContents(
        package=fields["Package"].strip(),
        version=fields["Version"].strip(),
        architecture=fields["Architecture"].strip(),
        control=text.strip("\n") + "\n",
        md5sums=md5sums.decode("utf-8") if md5sums is not None else "",
        source=fields.get("Source", "").strip(),
    )


def _strip_dot(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") if name not in ("", ".") else ""


def _member_name(name: str, path: Path, what: str = "member") -> str:
    """The member's path relative to the root, refusing names that could leave it."""
    if "\x00" in name:
        raise FormatError(f"{path}: {what} {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise FormatError(f"{path}: {what} {name!r} is an absolute path; refusing the package")
    if any(part == ".." for part in name.split("/")):
        raise FormatError(f"{path}: {what} {name!r} escapes the root; refusing the package")
    norm = posixpath.normpath("/" + _strip_dot(name)).lstrip("/")
    return "" if norm == "." else norm


def _read_members(
    tar: tarfile.TarFile, bounded: _Bounded, path: Path, spool: Spool | None
) -> list[DebMember]:
    members: list[DebMember] = []
    for info in tar:
        name = _member_name(str(info.name), path)
        if not name:
            continue  # "./", the root itself
        mode = info.mode & 0o7777
        if info.isreg():
            bounded.check_declared(info.size)
            handle = tar.extractfile(info)
            assert handle is not None
            if spool is not None:
                body = spool.take(handle, info.size, path, name)
                members.append(replace(body, mode=mode, uid=info.uid, gid=info.gid))
            else:
                data = _read_exact(handle, info.size, path, name)
                members.append(DebMember(name, "file", mode, info.uid, info.gid, data=data,
                                         size=info.size))  # fmt: skip
        elif info.isdir():
            members.append(DebMember(name, "dir", mode, info.uid, info.gid))
        elif info.issym():
            if not info.linkname or "\x00" in info.linkname:
                raise FormatError(f"{path}: symlink {name} has an invalid target")
            members.append(
                DebMember(name, "symlink", 0o777, info.uid, info.gid, linkname=info.linkname)
            )
        elif info.islnk():
            target = _member_name(info.linkname, path, f"hardlink target of {name}:")
            members.append(DebMember(name, "hardlink", mode, info.uid, info.gid, linkname=target))
        else:
            # Device nodes and FIFOs: the container runtime provides /dev.
            members.append(DebMember(name, "special", mode, info.uid, info.gid))
    return members


def _read_exact(handle: IO[bytes], size: int, path: Path, name: str) -> bytes:
    data = handle.read(size + 1)
    if len(data) != size:
        raise FormatError(f"{path}: member {name} is truncated")
    return data


def merged_usr_path(name: str) -> str:
    """Where a member lands on a merged-/usr system: ``lib/x`` becomes ``usr/lib/x``."""
    top = name.split("/", 1)[0]
    return f"usr/{name}" if top in MERGED_DIRS else name


def _merged_symlink_target(old_path: str, new_path: str, target: str) -> str:
    """A relative symlink target that still reaches the same file after the member moved.

    Targets that resolve identically from the new place (the usual ``libfoo.so.1 ->
    libfoo.so.1.2``) are kept as shipped; absolute ones keep working through the links.
    """
    if target.startswith("/") or old_path == new_path:
        return target
    old_dir = posixpath.dirname("/" + old_path)
    new_dir = posixpath.dirname("/" + new_path)
    wanted = "/" + merged_usr_path(posixpath.normpath(posixpath.join(old_dir, target))[1:])
    if posixpath.normpath(posixpath.join(new_dir, target)) == posixpath.normpath(wanted):
        return target
    return posixpath.relpath(wanted, new_dir)


def _is_doc(path: str) -> bool:
    for tree in _DOC_TREES:
        if path == tree or path.startswith(tree + "/"):
            parts = path.split("/")
            is_copyright = tree == "usr/share/doc" and len(parts) == 5 and parts[4] == "copyright"
            return not is_copyright
    return False


def _dropped_by(path: str, drop: Sequence[str]) -> bool:
    """Whether ``path`` or a directory above it matches a glob: dropping a tree drops it all."""
    candidates = [path]
    parent = posixpath.dirname(path)
    while parent:
        candidates.append(parent)
        parent = posixpath.dirname(parent)
    return any(fnmatch.fnmatchcase(c, g) for g in drop for c in candidates)


def add_merged_usr_links(layer: LayerContents, arch: str) -> None:
    """Create the merged-/usr symlinks of a Debian bookworm root for ``arch``.

    ``lib64`` is linked only where the architecture's loader lives there (amd64's
    ``/lib64/ld-linux-x86-64.so.2``); arm64's loader is in ``/lib``, so it gets none, like the
    official images. Calling this again, or after :func:`unpack_into` made a link, is harmless.
    """
    for top in ("bin", "sbin", "lib", *_ARCH_LIB_DIRS.get(arch, ())):
        _ensure_merged_link(layer, top, "")


def _ensure_merged_link(layer: LayerContents, top: str, who: str) -> None:
    existing = layer.get(top)
    if existing is None:
        layer.add_symlink(top, f"usr/{top}")
        return
    if existing.kind == "symlink" and posixpath.normpath(
        posixpath.join("/", existing.linkname)
    ) == posixpath.normpath(f"/usr/{top}"):
        return
    by = f" ({who})" if who else ""
    raise FormatError(
        f"/{top} is a {existing.kind} in the layer, but merged /usr needs it to be a symlink to"
        f" usr/{top}{by}"
    )


def unpack_into(
    layer: LayerContents,
    deb: Path,
    *,
    keep_docs: bool = False,
    drop: Sequence[str] = (),
    spool: Spool | None = None,
) -> DebContents:
    """Add a package's files to ``layer``, as dpkg would unpack them, minus documentation.

    A path another package already put in the layer is replaced (the later package wins, as
    when dpkg unpacks over a file it was told another package may replace), except that a
    directory and a non-directory at one path cannot both be right: that is a FormatError.
    With ``spool``, file bodies are kept in its directory, which must outlive ``layer``.
    """
    contents, members = read_deb(deb, spool)
    who = f"{contents.package} ({deb.name})"
    globs = [g.lstrip("/") for g in drop]
    by_name = {m.name: m for m in members}
    placed: dict[str, str] = {}  # member name -> image path, for members actually added
    added: list[str] = []

    for member in members:
        if member.kind == "special":
            continue
        top = member.name.split("/", 1)[0]
        if member.name == top and top in MERGED_DIRS:
            # The top directory itself (base-files ships ./bin/) or a package-shipped link.
            if member.kind == "symlink":
                target = posixpath.normpath(posixpath.join("/", member.linkname))
                if target != f"/usr/{top}":
                    raise FormatError(
                        f"{who} ships /{top} as a symlink to {member.linkname}, which breaks"
                        " merged /usr"
                    )
                _ensure_merged_link(layer, top, who)
                continue
            if member.kind != "dir":
                raise FormatError(f"{who} ships /{top} as a {member.kind}; it must be a directory")
        path = merged_usr_path(member.name)
        if path != member.name:
            _ensure_merged_link(layer, top, who)
        if (not keep_docs and _is_doc(path)) or _dropped_by(path, globs):
            continue
        entry = _entry_for(member, path, by_name, placed, who)
        entry.origin = contents.package
        _place(layer, entry, who)
        placed[member.name] = path
        added.append(path)
    return replace(contents, files=tuple(added))


def _entry_for(
    member: DebMember,
    path: str,
    by_name: dict[str, DebMember],
    placed: dict[str, str],
    who: str,
) -> Entry:
    if member.kind == "file":
        return _file_entry(path, member, member)
    if member.kind == "dir":
        return Entry(path, "dir", member.mode, member.uid, member.gid)
    if member.kind == "symlink":
        target = _merged_symlink_target(member.name, path, member.linkname)
        return Entry(path, "symlink", 0o777, member.uid, member.gid, linkname=target)
    target_member = by_name.get(member.linkname)
    if target_member is None or target_member.kind != "file":
        raise FormatError(f"{who}: hardlink /{path} points at {member.linkname}, not a file")
    target_path = placed.get(member.linkname)
    if target_path is None:
        # The target was dropped (a doc file, a --drop glob): keep this name as a plain copy.
        return _file_entry(path, member, target_member)
    return Entry(path, "hardlink", member.mode, member.uid, member.gid, linkname=target_path)


def _file_entry(path: str, member: DebMember, body: DebMember) -> Entry:
    """A file entry with ``member``'s metadata and ``body``'s bytes, in memory or spooled."""
    if body.source is not None:
        return Entry(path, "file", member.mode, member.uid, member.gid, source=body.source,
                     size=body.size)  # fmt: skip
    assert body.data is not None
    return Entry(path, "file", member.mode, member.uid, member.gid, data=body.data,
                 size=len(body.data))  # fmt: skip


def _place(layer: LayerContents, entry: Entry, who: str) -> None:
    """Add ``entry``, creating missing parents, replacing a non-directory a package left."""
    parts = entry.path.split("/")
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        found = layer.get(parent)
        if found is None:
            layer.add(Entry(parent, "dir", 0o755, origin=entry.origin))
        elif found.kind != "dir":
            raise FormatError(
                f"{who} ships /{entry.path}, but /{parent} is a {found.kind}"
                f" from {_owner(found)}, not a directory"
            )
    if entry.kind == "hardlink":
        # A hardlink shares its target's inode, so it shows the target's metadata.
        target = layer.get(entry.linkname)
        if target is None or target.kind != "file":
            raise FormatError(f"{who}: hardlink /{entry.path} lost its target")
        entry.mode, entry.uid, entry.gid = target.mode, target.uid, target.gid
    existing = layer.get(entry.path)
    if existing is None or (existing.kind == "dir" and entry.kind == "dir"):
        layer.add(entry)
        return
    if existing.kind == "dir" or entry.kind == "dir":
        raise FormatError(
            f"/{entry.path} is a {existing.kind} from {_owner(existing)}, but {who} ships a"
            f" {entry.kind} there"
        )
    # a later package replacing a file is what dpkg does
    layer.replace(entry)


def _owner(entry: Entry) -> str:
    return f"package {entry.origin}" if entry.origin else "an earlier entry"


def status_entry(contents: DebContents) -> str:
    """The ``/var/lib/dpkg/status.d/<package>`` paragraph scanners read to list packages.

    Distroless images have no ``/var/lib/dpkg/status``; Trivy, Grype and Syft read one
    paragraph per package from ``status.d`` instead, the package's control fields as
    distroless writes them: no ``Status`` line (those scanners, and ``sbom``, count a
    paragraph without one as installed), as ``pack``'s records of host packages have none.
    A ``Status`` line a control file carries anyway is dropped: a ``deinstall`` there would
    hide the package from scanners.
    """
    lines = [
        line
        for line in contents.control.strip("\n").split("\n")
        if not line.lower().startswith("status:")
    ]
    return "\n".join(lines) + "\n"
