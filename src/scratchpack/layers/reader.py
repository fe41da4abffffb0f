"""Read a layer's tar stream entry by entry, in one pass, without writing anything to disk.

Entries come out with normalised paths (no leading ``/`` or ``./``) and the OCI whiteout
conventions decoded: ``dir/.wh.name`` deletes ``dir/name`` from the layers below, and
``dir/.wh..wh..opq`` hides everything ``dir`` held below. Hostile members are reported to the
caller instead of being trusted, so an audit of a malicious image shows the attack rather than
following it:

* names that climb out of the root with ``..``, or hold a NUL byte: skipped;
* names longer than ``PATH_MAX`` (4096 bytes) or deeper than ``MAX_COMPONENTS`` (128)
  components: skipped. No real image comes near (node_modules nesting reaches a few dozen);
  every new directory costs the file system model ~300 bytes, so the bound on components is
  what bounds memory per byte of tar (at most ~7x, for names of 128 new directories);
* absolute names: kept without their leading ``/``, as the engines extract them;
* hard links whose target climbs out: skipped; members of an unknown type: skipped;
* negative modes (base-256 numbers): kept with mode 0; negative owners: kept as they are.

Without a ``report`` callback, the first hostile member is a :class:`HostilePath` error.

``tarstream.TarStream`` parses the headers (see there why not ``tarfile``). A caller asks for
the content of the entries it cares about; everything else is skipped as the stream goes by.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from typing import IO, BinaryIO, Literal, NamedTuple, cast

from scratchpack.errors import FormatError
from scratchpack.layers.tarstream import TarMember, TarStream

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
PATH_MAX = 4096
MAX_COMPONENTS = 128
_SHORT = PATH_MAX // 4  # characters: a name this short is within PATH_MAX bytes in UTF-8

Kind = Literal["file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque"]

_KINDS: dict[bytes, Kind] = {
    b"0": "file",
    b"\x00": "file",
    b"7": "file",
    b"5": "dir",
    b"2": "symlink",
    b"1": "hardlink",
    b"3": "char",
    b"4": "block",
    b"6": "fifo",
}


_MODES: dict[int, int] = {}


class LayerEntry(NamedTuple):
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
    """A member whose name climbs out of the image root (or is otherwise unusable)."""


# (the member's name as the tar has it, shortened for display; what is wrong with it)
Report = Callable[[str, str], None]


def shown(name: str, limit: int = 120) -> str:
    """A member name fit for one line of a report: escaped, and cut when very long."""
    text = name.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(name)} characters)"


def normalise(name: str) -> str:
    """The image path of a tar member name: ``./usr/bin/`` -> ``usr/bin``; ``""`` for the root."""
    if "\x00" in name:
        raise HostilePath("tar member name contains a NUL byte")
    if len(name) > PATH_MAX or (not name.isascii() and len(name.encode()) > PATH_MAX):
        raise HostilePath(f"tar member name is longer than PATH_MAX ({PATH_MAX} bytes)")
    parts = name.split("/")
    if "" not in parts and "." not in parts and ".." not in parts:
        clean = parts  # the common case: nothing to clean
    else:
        clean = []
        for part in parts:
            if part in ("", "."):
                continue
            if part == "..":
                if not clean:
                    raise HostilePath("tar member name climbs out of the image root")
                clean.pop()
                continue
            clean.append(part)
    if len(clean) > MAX_COMPONENTS:
        raise HostilePath(
            f"tar member name has {len(clean)} components (more than {MAX_COMPONENTS})"
        )
    return "/".join(clean) if clean is not parts else name


def _entry(member: TarMember, report: Report | None) -> LayerEntry | None:
    name = member.name
    try:
        path = normalise(name)
        kind = _KINDS.get(member.type)
        if kind is None:
            raise HostilePath(f"tar member has unknown type {member.type!r}")
        link = member.linkname
        if kind == "hardlink":
            try:
                link = normalise(link)
            except HostilePath as exc:
                raise HostilePath(f"hard link target {shown(link)}: {exc}") from None
            if not link:
                raise HostilePath("hard link to the image root")
    except HostilePath as exc:
        if report is None:
            raise HostilePath(f"{exc}: {shown(name)}") from None
        report(shown(name), str(exc))
        return None
    if not path:
        return None  # the root directory itself ("./.", "//"): nothing to add
    mode = member.mode
    if report is not None:
        if name.startswith("/"):
            report(shown(name), "tar member name is absolute (extracted below the root)")
        if mode < 0 or member.uid < 0 or member.gid < 0:
            report(shown(name), f"negative mode or owner ({mode}, {member.uid}:{member.gid})")
    mode = max(mode, 0)
    if mode <= 0o177777:
        mode = _MODES.setdefault(mode, mode)  # one int object per distinct mode, not per entry
    directory, _, base = path.rpartition("/")
    if base.startswith(WHITEOUT_PREFIX):
        if base == OPAQUE_MARKER:
            return LayerEntry(directory, "opaque", member.size, mode, member.uid, member.gid)
        if base[4:] in ("", ".", ".."):
            # names its own directory or the one above (containerd refuses the layer: "invalid
            # whiteout name"); deleting "dir/.." would reach past the directory it is in
            problem = f"whiteout {shown(base)} names no entry of its directory"
            if report is None:
                raise HostilePath(f"{problem}: {shown(name)}")
            report(shown(name), problem)
            return None
        target = f"{directory}/{base[4:]}" if directory else base[4:]
        return LayerEntry(target, "whiteout", member.size, mode, member.uid, member.gid)
    size = member.size if kind == "file" else 0
    return LayerEntry(path, kind, size, mode, member.uid, member.gid, link)


class _Content:
    """The current member's content, as a file object for the sink (``read`` is the tar
    stream's own method: one call per read, not two)."""

    def __init__(self, tar: TarStream) -> None:
        self._tar = tar
        self.read: Callable[[int], bytes] = tar.read_content

    def read1(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes, maybe fewer (as ``BufferedReader.read1``): for streaming."""
        return self._tar.read_some(n if n >= 0 else 1 << 20)

    def readable(self) -> bool:
        return True


# Whether a caller wants an entry's content, and what receives it: a file object positioned
# at the start of the content (what it does not read is skipped).
ContentWanted = Callable[[LayerEntry], bool]
ContentSink = Callable[[LayerEntry, IO[bytes]], None]


def every_file(entry: LayerEntry) -> bool:
    """A ``wants`` that takes every regular file (read_layer then skips the call)."""
    return True


# LayerEntry(...) runs a Python-level __new__; the tuple constructor is C (same object)
_make_entry: Callable[[type[LayerEntry], tuple[object, ...]], LayerEntry] = tuple.__new__


def read_layer(
    stream: BinaryIO,
    wants: ContentWanted | None = None,
    sink: ContentSink | None = None,
    report: Report | None = None,
) -> Iterator[LayerEntry]:
    """Yield every entry of an uncompressed layer tar. For regular files ``wants`` accepts,
    ``sink`` is called with the entry and a reader of its content before the entry is yielded.
    Hostile members go to ``report`` (see the module docstring).

    The stream is read to its end, so a verifying stream checks its digest. The usual member
    (a plain relative name, maybe after ``./`` or before a directory's ``/``, a known type, no
    link to check, a mode in range) is made here without a call; every other goes through
    :func:`_entry`, which has the rules."""
    tar = TarStream(stream)
    content = cast(IO[bytes], _Content(tar))
    kinds, modes, make = _KINDS, _MODES, _make_entry
    take_all = wants is every_file
    for member in tar.members():
        name, code, size, mode, uid, gid, link, _ = member
        kind = kinds.get(code)
        # a "./" in front (``tar -C root .``: mmdebstrap, some builders' docker save) and a
        # directory's trailing "/" are what normalise would drop; the rest is checked as is
        path = name[2:] if name.startswith("./") else name
        if path.endswith("/"):
            path = path[:-1]
        if (
            kind is not None
            and kind != "hardlink"
            and 0 <= mode <= 0o177777
            and uid >= 0 <= gid
            and path
            and path[0] not in "./"
            and path[-1] != "/"
            and "//" not in path
            and "/." not in path
            and "\x00" not in path
            and len(path) <= _SHORT
            and path.count("/") < MAX_COMPONENTS
        ):
            # nothing (else) to normalise ("/." also stands for "/./", "/../" and whiteouts,
            # which go the general way)
            if kind != "file":
                size = 0
            entry = make(LayerEntry, (path, kind, size, modes.setdefault(mode, mode), uid, gid,
                                      link))  # fmt: skip
        else:
            if name in ("", ".", "./", "/"):
                continue
            found = _entry(member, report)
            if found is None:
                continue
            entry = found
        if (
            sink is not None
            and entry.kind == "file"
            and (take_all or (wants is not None and wants(entry)))
        ):
            sink(entry, content)
        yield entry
    # the rest (padding after the end-of-archive blocks) still has to pass the digest check
    tar.drain()


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
        self,
        wants: ContentWanted | None = None,
        sink: ContentSink | None = None,
        report: Report | None = None,
    ) -> Iterator[LayerEntry]:
        return read_layer(cast(BinaryIO, self), wants, sink, report)


def layer_entries(
    stream: BinaryIO, wants: ContentWanted | None = None, sink: ContentSink | None = None
) -> tuple[list[LayerEntry], int]:
    """All entries of a layer and the number of uncompressed bytes read."""
    counter = CountingReader(stream)
    entries = list(counter.iter_entries(wants, sink))
    return entries, counter.count
