"""The dpkg database of an installed system (the host pack runs on), and what pack records of it.

``pack`` copies files out of the host's Debian packages (the CA bundle from
``ca-certificates``, the zones from ``tzdata``, whatever ``--add`` names). A scanner that finds
those files in the image but no package record cannot tell which version they came from, so
pack writes, as distroless does, one ``/var/lib/dpkg/status.d/<name>`` paragraph per package
(Package, Version, Architecture, Maintainer, Source; no Status line) and a
``status.d/<name>.md5sums`` of the files it copied (Syft reads it to own those files), plus an
``/etc/os-release`` naming the host's Debian release (Trivy and Grype match Debian packages
only when they know the release; the purls carry it as ``distro=debian-12``).

The owner of a file comes from ``/var/lib/dpkg/info/<name>[:<arch>].list``, the lists dpkg
itself reads for ``dpkg -S``. The lists of the packages a caller expects are read first, the
rest only while a path is still unowned, each list once per database; a path found in no
list is remembered across runs for that state of the database (:mod:`.unowned`), so the
next pack of the same binary reads no list. The versions come from
``/var/lib/dpkg/status`` (read by :mod:`scratchpack.debian.control`), and only packages whose
Status says installed count.
Everything is read from ``root`` (``/`` in production, a planted tree in tests), and names,
versions and maintainers are checked against Debian policy's syntax before any of them becomes
a path or a line in the image.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from scratchpack.debian.control import paragraphs
from scratchpack.debian.unowned import UnownedCache, location
from scratchpack.layers.tarwriter import Entry, LayerContents

STATUS_D = "var/lib/dpkg/status.d"
DPKG_STATUS = "var/lib/dpkg/status"  # a full system's database (distroless has none)
OS_RELEASE = "etc/os-release"
# Files dpkg does not list because a maintainer script or trigger generates them.
GENERATED = {"/etc/ssl/certs/ca-certificates.crt": "ca-certificates"}
STATUS_LIMIT = 64 << 20  # a large distribution's status is a few MB
LIST_LIMIT = 16 << 20
# Searches for an owner that scan the lists before parsing them all (see DpkgDatabase._search).
_QUICK_SCANS = 3

_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")  # Debian policy 5.6.1
_VERSION = re.compile(r"^[A-Za-z0-9.+~:-]+$")  # policy 5.6.12
_ARCH = re.compile(r"^[a-z0-9-]+$")
_LINE = re.compile(r"^[^\x00-\x1f\x7f]+$")  # one printable line (Maintainer, Source)
_RELEASE_VALUE = re.compile(r"^[A-Za-z0-9._ ()/+-]*$")
_USR_MERGED = ("bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/")


class InstalledPackage(NamedTuple):
    """One installed package's identity, as its ``status.d`` paragraph records it.
    (A NamedTuple, and the classes below plain ones, not dataclasses: this module is on
    every ``pack``'s path; see ``operations/elf.py``.)"""

    name: str
    version: str
    architecture: str
    maintainer: str = ""
    source: str = ""

    def status_entry(self) -> str:
        lines = [f"Package: {self.name}"]
        if self.source and self.source != self.name:
            lines.append(f"Source: {self.source}")
        lines += [f"Version: {self.version}", f"Architecture: {self.architecture}"]
        if self.maintainer:
            lines.append(f"Maintainer: {self.maintainer}")
        return "\n".join(lines) + "\n"


class DpkgDatabase:
    """The dpkg database under ``root``; lists and status are read lazily, once."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self._owners: dict[str, str] = {}
        self._read: set[Path] = set()
        self._scans = 0
        self._blocks: dict[str, list[str]] | None = None
        self._parsed: dict[str, InstalledPackage | None] = {}
        self._list_names: list[str] | None = None
        self._found: dict[str, InstalledPackage | None] = {}
        self._unowned: UnownedCache | None = None

    def __repr__(self) -> str:
        return f"DpkgDatabase(root={self.root!r})"

    @property
    def admindir(self) -> Path:
        return self.root / "var/lib/dpkg"

    def installed(self, name: str) -> InstalledPackage | None:
        """The installed package ``name`` (or ``name:arch``), None if it is not installed.
        Only the paragraphs of the packages asked for are parsed (python-debian took a
        quarter of a second over a whole status file); the rest are only split apart."""
        if name not in self._parsed:
            found = None
            for block in self._status_blocks().get(name.partition(":")[0], []):
                for package in _parse_status(block):
                    if name in (package.name, f"{package.name}:{package.architecture}"):
                        found = found or package
            self._parsed[name] = found
        return self._parsed[name]

    def _status_blocks(self) -> dict[str, list[str]]:
        if self._blocks is None:
            self._blocks = {}
            text = _read_text(self.admindir / "status", STATUS_LIMIT)
            for block in re.split(r"\n\s*\n", text):
                match = re.search(r"^Package:[ \t]*(\S+)", block, re.M)
                if match:
                    self._blocks.setdefault(match.group(1), []).append(block)
        return self._blocks

    def owner(self, host_path: Path, hints: Iterable[str] = ()) -> InstalledPackage | None:
        """The installed package whose files include ``host_path``, or None. A file dpkg
        does not list because a maintainer script makes it (GENERATED) is its package's
        without reading every list. Answers are kept per path (the hints only order the
        search)."""
        key = os.fspath(host_path)
        if key not in self._found:  # pack asks for its app's files twice (binary.py)
            self._found[key] = self._owner(host_path, hints)
        return self._found[key]

    def _owner(self, host_path: Path, hints: Iterable[str]) -> InstalledPackage | None:
        names = self._names_of(host_path)
        if not names:
            return None
        found = self._lookup(names)
        if found is None:
            generated = next((GENERATED[n] for n in names if n in GENERATED), None)
            if generated is not None and self.installed(generated) is not None:
                return self.installed(generated)
            # a path no list names, as a search found in this state of the database before:
            # the common repeated pack of a user's own binary reads none of the lists
            if self._unowned is None:
                self._unowned = UnownedCache(self.admindir, location())
            if self._unowned.has(names):
                return None
            found = self._search(names, hints)
            if found is None:
                self._unowned.add(names)
        return self.installed(found) if found else None

    def _names_of(self, host_path: Path) -> list[str]:
        """The names dpkg may list ``host_path`` under: as given and resolved, relative to
        the root, with the merged-/usr aliases (``/lib/x`` for ``/usr/lib/x`` and back)."""
        names: list[str] = []
        root = self.root.resolve()
        for candidate in (host_path.absolute(), host_path.resolve()):
            try:
                rel = candidate.relative_to(root if candidate.is_relative_to(root) else self.root)
            except ValueError:
                continue
            text = rel.as_posix()
            for alias in (text, *_usr_aliases(text)):
                if "/" + alias not in names:
                    names.append("/" + alias)
        return names

    def _lookup(self, names: list[str]) -> str | None:
        for name in names:
            if name in self._owners:
                return self._owners[name]
        return None

    def _search(self, names: list[str], hints: Iterable[str]) -> str | None:
        """The package listing one of ``names``: the hinted lists parsed first, then every
        other list. The first few searches only scan the other lists for the names (one C
        ``in`` per file) and parse the one that has them: the common miss, a user's own
        program that no package owns, then costs 15-20 ms, not the 0.3 s of parsing 150,000
        lines into the owners table. Later searches parse every list, once."""
        hints = list(hints)
        quick = self._scans < _QUICK_SCANS
        self._scans += 1
        if quick:
            return self._scan(names, hints)
        for listing in self._lists(hints):
            self._read_list(listing)
            found = self._lookup(names)
            if found is not None:
                return found
        return None

    def _scan(self, names: list[str], hints: list[str]) -> str | None:
        """:meth:`_search`'s quick form. The unhinted lists are opened by name relative to
        ``info/``'s descriptor and read by their size with plain ``os`` calls: no ``Path``
        per list, no file object, which were two thirds of a miss's 50 ms (issue 17)."""
        for listing in self._lists_of(hints):
            if listing not in self._read:
                self._read_list(listing)
                found = self._lookup(names)
                if found is not None:
                    return found
        needles = [f"\n{name}\n".encode() for name in names]
        info = self.admindir / "info"
        try:
            directory = os.open(info, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            for name in self._names():
                data = _read_at(directory, name, LIST_LIMIT)
                if data is None or not _has_line(data, needles):
                    continue
                listing = info / name
                if listing in self._read:
                    continue
                self._read_list(listing)
                found = self._lookup(names)
                if found is not None:
                    return found
        finally:
            os.close(directory)
        return None

    def _names(self) -> list[str]:
        """The ``*.list`` names in ``info/``, sorted, listed once per database: one
        ``scandir`` instead of a glob per hint and per search, each of which went through
        the ~800 names (issue 17)."""
        if self._list_names is None:
            try:
                with os.scandir(self.admindir / "info") as entries:
                    self._list_names = sorted(
                        e.name for e in entries if e.name.endswith(".list") and e.name[0] != "."
                    )
            except OSError:
                self._list_names = []
        return self._list_names

    def _lists_of(self, hints: Iterable[str]) -> list[Path]:
        """The lists of the ``hints`` packages: ``NAME.list`` and ``NAME:ARCH.list``."""
        info = self.admindir / "info"
        names = self._names()
        found: list[Path] = []
        for hint in hints:
            found += [info / n for n in names if n == f"{hint}.list"]
            found += [info / n for n in names if n.startswith(f"{hint}:")]
        return found

    def _lists(self, hints: Iterable[str]) -> Iterator[Path]:
        info = self.admindir / "info"
        first = self._lists_of(hints)
        yield from (path for path in first if path not in self._read)
        rest = (info / name for name in self._names())
        yield from (path for path in rest if path not in self._read)

    def _read_list(self, listing: Path) -> None:
        self._read.add(listing)
        package = listing.name.removesuffix(".list")
        if not _NAME.match(package.partition(":")[0]):
            return
        for line in _read_text(listing, LIST_LIMIT).splitlines():
            if line.startswith("/"):
                self._owners.setdefault(line, package)

    def os_release(self) -> str | None:
        """An ``os-release`` for the image: the host's ID, VERSION_ID and codename under a
        name that says the image is not that system. None when the host has no usable one."""
        values: dict[str, str] = {}
        for where in ("etc/os-release", "usr/lib/os-release"):
            text = _read_text(self.root / where, 64 << 10)
            if text:
                break
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key in ("ID", "VERSION_ID", "VERSION_CODENAME", "PRETTY_NAME"):
                values[key] = value.strip().strip("\"'")
        if not values.get("ID") or not all(_RELEASE_VALUE.match(v) for v in values.values()):
            return None
        what = values.get("PRETTY_NAME") or values["ID"]
        lines = [f'PRETTY_NAME="Distroless-style (scratchpack pack; files from {what})"']
        lines.append(f"ID={values['ID']}")
        if values.get("VERSION_ID"):
            lines.append(f'VERSION_ID="{values["VERSION_ID"]}"')
        if values.get("VERSION_CODENAME"):
            lines.append(f"VERSION_CODENAME={values['VERSION_CODENAME']}")
        return "\n".join(lines) + "\n"


def _usr_aliases(rel: str) -> list[str]:
    if rel.startswith("usr/") and rel[4:].startswith(_USR_MERGED):
        return [rel[4:]]
    if rel.startswith(_USR_MERGED):
        return ["usr/" + rel]
    return []


def _has_line(data: bytes, needles: list[bytes]) -> bool:
    """Whether a list's ``data`` has one of ``needles`` (``\\nPATH\\n``) as a whole line."""
    return any(
        needle in data or data.startswith(needle[1:]) or data.endswith(needle[:-1])
        for needle in needles
    )


def _read_at(directory: int, name: str, limit: int) -> bytes | None:
    """The bytes of ``name`` in the open ``directory``, None when absent, unreadable, not a
    regular file or larger than ``limit`` (as :func:`_read_bytes`; read by its ``fstat``
    size, never ``limit`` bytes allocated)."""
    try:
        handle = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=directory)
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        parts = [os.read(handle, info.st_size + 1)]
        total = len(parts[0])
        while parts[-1] and total <= limit and total != info.st_size:  # grew, or a short read
            parts.append(os.read(handle, limit + 1 - total))
            total += len(parts[-1])
    except OSError:
        return None
    finally:
        os.close(handle)
    return None if total > limit else b"".join(parts)


def _read_bytes(path: Path, limit: int) -> bytes | None:
    """A database file's bytes, None when absent, unreadable or larger than ``limit``.

    Sized by ``fstat`` (``FileIO.readall``), not ``read(limit + 1)``: that allocates the
    whole limit (16 MiB for a list, 64 MiB for the status) for every file, which was most of
    the 0.1 s a pack spent scanning ~800 lists for a binary no package owns (issue 17)."""
    try:
        with path.open("rb", buffering=0) as handle:
            if os.fstat(handle.fileno()).st_size > limit:
                return None
            data = handle.readall()
    except OSError:
        return None
    return None if len(data) > limit else data


def _read_text(path: Path, limit: int) -> str:
    """A database file's text ('' when absent, unreadable or larger than ``limit``: a host
    without dpkg simply has no packages to record)."""
    data = _read_bytes(path, limit)
    return "" if data is None else data.decode("utf-8", "replace")


def _parse_status(text: str) -> Iterator[InstalledPackage]:
    """The installed packages of status paragraphs ``text``, read by :mod:`.control` (not
    python-debian, whose import was a fifth of a static pack: see there; same values)."""
    for para in paragraphs(text):
        name, version = para.get("package", ""), para.get("version", "")
        arch, status = para.get("architecture", ""), para.get("status", "")
        if not status.endswith(" installed"):
            continue
        if not (_NAME.match(name) and _VERSION.match(version) and _ARCH.match(arch)):
            continue
        maintainer = para.get("maintainer", "")
        source = para.get("source", "").partition(" ")[0]  # "glibc (2.36-9)": the name only
        yield InstalledPackage(
            name,
            version,
            arch,
            maintainer if _LINE.match(maintainer) else "",
            source if _NAME.match(source) else "",
        )


class Recorded:
    """What :func:`record_packages` wrote: the packages, and the files each owns."""

    __slots__ = ("files", "packages")

    def __init__(self) -> None:
        self.packages: dict[str, InstalledPackage] = {}
        self.files: dict[str, list[str]] = {}  # name -> image paths


def owned_files(layer: LayerContents, db: DpkgDatabase, hints: Iterable[str] = ()) -> Recorded:
    """Which of the layer's files (copied from the host) each installed package owns;
    hard links belong to their target's package."""
    hints = list(hints)
    recorded = Recorded()
    by_path: dict[str, str] = {}
    for entry in sorted(layer.entries(), key=Entry.sort_key):
        if entry.kind != "file" or entry.source is None:
            continue
        package = db.owner(entry.source, hints)
        if package is None:
            continue
        recorded.packages[package.name] = package
        recorded.files.setdefault(package.name, []).append(entry.path)
        by_path[entry.path] = package.name
    for entry in layer.entries():
        if entry.kind == "hardlink" and entry.linkname in by_path:
            recorded.files[by_path[entry.linkname]].append(entry.path)
    return recorded


def write_records(layer: LayerContents, recorded: Recorded, *, os_release: str | None) -> None:
    """``status.d/<name>``, ``status.d/<name>.md5sums`` and (when given) ``/etc/os-release``
    into ``layer``, read-only like pack's other essentials."""
    if not recorded.packages:
        return
    for name, package in sorted(recorded.packages.items()):
        layer.add_file(f"{STATUS_D}/{name}", data=package.status_entry().encode(),
                       origin=f"the record of {name}")  # fmt: skip
        sums = md5sums(layer, recorded.files.get(name, []))
        layer.add_file(f"{STATUS_D}/{name}.md5sums", data=sums.encode(),
                       origin=f"the record of {name}")  # fmt: skip
    if os_release is not None and OS_RELEASE not in layer:
        layer.add_file(OS_RELEASE, data=os_release.encode(), origin="the record of the host")


def md5sums(layer: LayerContents, paths: Iterable[str]) -> str:
    """dpkg's ``md5sums`` lines (``MD5  PATH``, no leading slash, sorted) of ``paths`` as
    ``layer`` holds them: a hard link by its target's bytes."""
    return "".join(f"{_md5(layer, path)}  {path}\n" for path in sorted(paths))


def write_md5sums(
    layer: LayerContents, owner: Callable[[Entry], str | None], mode: int = 0o444
) -> list[str]:
    """``status.d/<name>.md5sums`` for each package ``owner`` names for a file (or hard link)
    of ``layer``, listing exactly those files; the names, sorted.

    Why: Syft (and Trivy) take a distroless image's file ownership from these, so a file no
    ``.md5sums`` lists counts as nobody's. Computed from the bytes the layer ships, not
    copied from the ``.deb``'s ``md5sums`` member: that one leaves conffiles out (dh_md5sums)
    and names the paths before the merged-/usr move, with the documentation dropped here."""
    owned: dict[str, list[str]] = {}
    for entry in layer.entries():
        name = owner(entry) if entry.kind in ("file", "hardlink") else None
        if name:
            owned.setdefault(name, []).append(entry.path)
    for name, paths in sorted(owned.items()):
        layer.add_file(f"{STATUS_D}/{name}.md5sums", data=md5sums(layer, paths).encode(),
                       mode=mode, origin=f"the record of {name}")  # fmt: skip
    return sorted(owned)


def _md5(layer: LayerContents, path: str) -> str:
    entry = layer.get(path)
    while entry is not None and entry.kind == "hardlink":
        entry = layer.get(entry.linkname)
    digest = hashlib.md5(usedforsecurity=False)
    if entry is not None and entry.data is not None:
        digest.update(entry.data)
    elif entry is not None and entry.source is not None:
        with entry.source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
