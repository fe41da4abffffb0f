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
import io
import lzma
import posixpath
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from scratchpack.errors import FormatError, UsageError
from scratchpack.layers.tarwriter import Entry, LayerContents

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


@dataclass(frozen=True)
class DebMember:
    """One member of a package's data archive, checked and held in memory.

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


def read_deb(path: Path) -> tuple[DebContents, list[DebMember]]:
    """Read a ``.deb`` completely, so that a corrupt package fails before it touches a layer."""
    from debian.arfile import ArError
    from debian.debfile import DebFile

    if not path.is_file():
        raise UsageError(f"{path}: no such package file")
    try:
        with DebFile(str(path)) as deb:
            contents = _read_control(deb, path)
            members = _read_members(_part_tar(deb, "data", path), path)
    except (ArError, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise FormatError(f"{path}: not a valid .deb package: {exc}") from None
    except OSError as exc:
        # gzip.BadGzipFile, bz2 and truncated members surface as OSError.
        raise FormatError(f"{path}: not a valid .deb package: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: not a valid .deb package: {exc}") from None
    return contents, members


def _read_control(deb: DebFile, path: Path) -> DebContents:
    from debian.deb822 import Deb822

    raw = _part_file(deb, "control", "control", path)
    if raw is None:
        raise FormatError(f"{path}: the control archive has no control file")
    text = raw.decode("utf-8")
    fields = Deb822(text.splitlines())
    missing = [name for name in ("Package", "Version", "Architecture") if not fields.get(name)]
    if missing:
        raise FormatError(f"{path}: the control file lacks {', '.join(missing)}")
    md5sums = _part_file(deb, "control", "md5sums", path)
    return DebContents(
        package=fields["Package"].strip(),
        version=fields["Version"].strip(),
        architecture=fields["Architecture"].strip(),
        control=text.strip("\n") + "\n",
        md5sums=md5sums.decode("utf-8") if md5sums is not None else "",
        source=fields.get("Source", "").strip(),
    )


def _part_tar(deb: DebFile, part: str, path: Path) -> tarfile.TarFile:
    """The ``control`` or ``data`` tar; zstd is decompressed here, not by an ``unzstd`` process.

    python-debian pipes ``.zst`` parts through the ``unzstd`` program, which a build machine
    may lack; the zstandard module is a dependency already.
    """
    zst = f"{part}.tar.zst"
    if zst in deb.getnames():
        import zstandard

        raw = deb.getmember(zst).read()
        chunks: list[bytes] = []
        try:
            while raw:
                decompressor = zstandard.ZstdDecompressor().decompressobj()
                chunks.append(decompressor.decompress(raw))
                if not decompressor.eof:
                    raise FormatError(f"{path}: {zst} is truncated")
                raw = decompressor.unused_data
        except zstandard.ZstdError as exc:
            raise FormatError(f"{path}: {zst} is corrupt: {exc}") from None
        return tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r:")
    tar = deb.data.tgz() if part == "data" else deb.control.tgz()
    assert isinstance(tar, tarfile.TarFile)
    return tar


def _part_file(deb: DebFile, part: str, name: str, path: Path) -> bytes | None:
    tar = _part_tar(deb, part, path)
    for info in tar.getmembers():
        if info.isfile() and _strip_dot(str(info.name)) == name:
            handle = tar.extractfile(info)
            assert handle is not None
            return handle.read()
    return None


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


def _read_members(tar: tarfile.TarFile, path: Path) -> list[DebMember]:
    members: list[DebMember] = []
    for info in tar:
        name = _member_name(str(info.name), path)
        if not name:
            continue  # "./", the root itself
        mode = info.mode & 0o7777
        if info.isreg():
            handle = tar.extractfile(info)
            assert handle is not None
            data = _read_exact(handle, info.size, path, name)
            members.append(DebMember(name, "file", mode, info.uid, info.gid, data=data))
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
    # tarfile stops at the end-of-archive blocks; reading the compressed stream to its end
    # makes gzip and xz check their CRC and notice a package cut short after the last member.
    assert tar.fileobj is not None
    while tar.fileobj.read(1 << 20):
        pass
    return members


def _read_exact(handle: IO[bytes], size: int, path: Path, name: str) -> bytes:
    data = handle.read()
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
) -> DebContents:
    """Add a package's files to ``layer``, as dpkg would unpack them, minus documentation.

    A path another package already put in the layer is replaced (the later package wins, as
    when dpkg unpacks over a file it was told another package may replace), except that a
    directory and a non-directory at one path cannot both be right: that is a FormatError.
    """
    contents, members = read_deb(deb)
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
        assert member.data is not None
        return Entry(
            path, "file", member.mode, member.uid, member.gid, data=member.data,
            size=len(member.data),
        )  # fmt: skip
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
        assert target_member.data is not None
        return Entry(
            path, "file", member.mode, member.uid, member.gid, data=target_member.data,
            size=len(target_member.data),
        )  # fmt: skip
    return Entry(path, "hardlink", member.mode, member.uid, member.gid, linkname=target_path)


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
