"""The image's file system as the layers build it up, and what each layer did to it.

Layers are applied in order to one tree of path components (the final file system when the
last layer is in), and each layer is summarised as it goes: files added, changed and removed
(a file is any entry but a directory, as :attr:`FileSystem.file_count` counts, so that the
layers' counts and the image's agree), bytes added. Only metadata is kept: memory grows with
the number of files, never with their size.

Waste is computed the way dive (github.com/wagoodman/dive, ``filetree/efficiency.go``)
defines it, so the numbers match what users see there:

* every layer is a tree of its tar entries; each *leaf* of that tree (a file, a link, an
  empty directory, a whiteout) contributes one observation of its path, sized by its tar
  header (a whiteout of a directory weighs what the layers below held under it, a whiteout of
  anything else 0);
* per path: ``cumulative`` = sum of its observations, ``minimum`` = the smallest one;
* **efficiency** = sum(minimum) / sum(cumulative) over all paths (1.0 when both are 0);
* **wasted bytes** = sum(cumulative) over the paths observed in more than one layer (dive
  counts every copy of such a path, the one kept included);
* **user size** = the summed tar header sizes of every layer but the first (the base);
  **user wasted percent** = wasted bytes / user size.

Like dive, the efficiency ignores opaque-directory markers (dive drops them); the per-layer
"removed" counts and the final file system honour them, as the engines do.

Layers stream through :meth:`FileSystem.apply` entry by entry (no layer is held as a list).
Whiteouts and opaque markers act on the layers below only, so they delete what lower layers
put there as they go by, whatever their place in the tar. What a layer's tar does that no
engine would do (a hard link to a file that is not there yet, a member written through a
symbolic link) is reported as the entries go by.

Memory (an image of a million empty files must audit in 200 MB): the component tree is the
one store. A directory is a :class:`_Dir` holding its own metadata and its children by name;
every other path is a value in its parent's ``children``, usually one int packing kind, mode,
owner, size, layer and its waste state (:func:`_pack`; an empty root-owned file of the first
layer packs into a small int, which Python shares), else an :class:`_Entry`. No full path is
kept per file, no prefix of a path is ever stored as a string of its own (keeping every prefix
made a 30,000-component name cost 1.8 GB), and the work per entry is linear in its length.
A path's observation by its own layer stays *pending* in its record until the layer is over
(whether it was a leaf of that layer's tree is known only then), and is settled the next time
a later layer touches the record, or by :meth:`FileSystem.efficiency`. Path-keyed records are
kept only for paths observed more than once (``_waste``) or deleted after one observation
(``_seen``), and for a layer's observations of paths the layer itself removed (``_loose``).
:attr:`FileSystem.nodes` is a read-only mapping over the tree; :meth:`FileSystem.find` walks
only what a check asks for, testing packed values before it builds any path.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, ItemsView, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from scratchpack.layers.reader import Kind, LayerEntry, shown

# (path, what is wrong with it): hostile entries, reported as they go by
Report = Callable[[str, str], None]
_MAX_HOPS = 40  # symbolic links followed in one lookup, as Linux does
_MAX_STEPS = 4096  # path components walked in one lookup (links expanded)
_DIR_CACHE = 1024  # parent directories remembered within a layer (tars list them together)


@dataclass(slots=True)
class Node:
    """What the final file system holds at a path (a copy: changing it changes nothing)."""

    kind: Kind
    size: int
    mode: int
    uid: int
    gid: int
    link: str
    layer: int


@dataclass
class LayerSummary:
    index: int
    entries: int = 0
    content_size: int = 0  # sum of tar header sizes (dive's layer size)
    added: int = 0
    changed: int = 0
    removed: int = 0
    added_bytes: int = 0
    removed_bytes: int = 0


@dataclass(slots=True)
class _PathWaste:
    cumulative: int
    minimum: int
    observations: int

    def observe(self, size: int) -> None:
        self.cumulative += size
        self.minimum = min(self.minimum, size)
        self.observations += 1


@dataclass(frozen=True)
class Inefficiency:
    path: str
    observations: int
    wasted_bytes: int


@dataclass(frozen=True)
class Efficiency:
    score: float
    wasted_bytes: int
    size: int
    user_size: int
    inefficiencies: tuple[Inefficiency, ...]

    @property
    def user_wasted_ratio(self) -> float:
        """dive's "user wasted percent", as a ratio (0.1 = 10%)."""
        return self.wasted_bytes / self.user_size if self.user_size else 0.0


# A path's waste state besides its pending observation (``_Entry.seen``): a size >= 0 is its
# one settled observation; the others are these.
_NONE = -1  # not observed (yet)
_MANY = -2  # observed more than once: the record is in ``FileSystem._waste``
_UNRESOLVED = -3  # a directory only ever made for what is below it: ``_seen``/``_waste`` tell


class _Entry:
    """A path's record when it does not pack into an int: its node (``kind`` None: there is
    none), its observation by its own layer still to settle (``pending``: a size, or -1), and
    its earlier observations (``seen``)."""

    __slots__ = ("gid", "kind", "layer", "link", "mode", "pending", "seen", "size", "uid")

    def __init__(self, kind: Kind | None, size: int, mode: int, uid: int, gid: int, link: str,
                 layer: int, pending: int, seen: int) -> None:  # fmt: skip
        self.kind, self.size, self.mode, self.uid, self.gid = kind, size, mode, uid, gid
        self.link, self.layer, self.pending, self.seen = link, layer, pending, seen


class _Dir(_Entry):
    """A directory of the component tree: its own record, its children by name, and the last
    layer that put an entry below it (what tells dive's leaves from its directories)."""

    __slots__ = ("children", "stamp", "subdirs")

    def __init__(self, e: _Entry | None = None) -> None:
        if e is None:
            super().__init__(None, 0, 0, 0, 0, "", -1, -1, _UNRESOLVED)
        else:
            super().__init__(e.kind, e.size, e.mode, e.uid, e.gid, e.link, e.layer, e.pending,
                             e.seen)  # fmt: skip
        self.children: dict[str, _Record] = {}
        self.stamp = -1
        self.subdirs = 0  # how many of the children are directories (walks skip the others)


_Record = int | _Entry

# The packed record (see _pack): bits 0-2 state, 3-5 kind, 6-21 mode XOR the kind's usual
# permissions, 22-31 layer, 32-71 size, 72-92 uid, 93- gid.
_KINDS: tuple[Kind, ...] = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo")
_CODES: dict[str, int] = {kind: code for code, kind in enumerate(_KINDS)}
_PERMS = (0o644, 0o755, 0o777, 0o644, 0o644, 0o644, 0o644)
_SIZE_MASK = (1 << 40) - 1
_SIZE = -10  # in _STATE_SEEN: "the record's own size"
# state -> (pending is the size, seen)
_STATE_PENDING = (True, False, False, False, True, True)
_STATE_SEEN = (_NONE, _SIZE, _NONE, _MANY, _MANY, _SIZE)
_STATES = {(p, s): n for n, (p, s) in enumerate(zip(_STATE_PENDING, _STATE_SEEN, strict=True))}


def _pack(kind: Kind, size: int, mode: int, uid: int, gid: int, link: str, layer: int,
          pending: int, seen: int) -> _Record:  # fmt: skip
    """One int when the record fits (no link, small numbers, pending and seen either nothing
    or the size): 28-36 bytes instead of an object of 104, and for an empty root-owned file
    of the first layer a small int Python shares; else an :class:`_Entry`."""
    code = _CODES[kind]
    permissions = mode ^ _PERMS[code]
    fits = not link and not (permissions >> 16 | size >> 40 | uid >> 21 | gid >> 21 | layer >> 10)
    state = _STATES.get((pending == size, _SIZE if seen == size else seen)) if fits else None
    if state is None or pending not in (size, -1):
        return _Entry(kind, size, mode, uid, gid, link, layer, pending, seen)
    return (
        (((gid << 21 | uid) << 40 | size) << 10 | layer) << 22
        | permissions << 6
        | code << 3
        | state
    )


def _unpack(value: int) -> _Entry:
    code = value >> 3 & 7
    state = value & 7
    size = value >> 32 & _SIZE_MASK
    seen = _STATE_SEEN[state]
    return _Entry(_KINDS[code], size, (value >> 6 & 0xFFFF) ^ _PERMS[code], value >> 72 & 0x1FFFFF,
                  value >> 93, "", value >> 22 & 0x3FF, size if _STATE_PENDING[state] else -1,
                  size if seen == _SIZE else seen)  # fmt: skip


def _entry(record: _Record) -> _Entry:
    return _unpack(record) if isinstance(record, int) else record


def _stored(e: _Entry) -> _Record:
    """What goes into the parent's ``children`` for ``e`` (a directory stays its object)."""
    if isinstance(e, _Dir) or e.kind is None:
        return e
    return _pack(e.kind, e.size, e.mode, e.uid, e.gid, e.link, e.layer, e.pending, e.seen)


def _kind_of(record: _Record | None) -> Kind | None:
    if record is None:
        return None
    if isinstance(record, int):
        return _KINDS[record >> 3 & 7]
    return record.kind


def _node(record: _Record) -> Node | None:
    e = _entry(record)
    if e.kind is None:
        return None
    return Node(e.kind, e.size, e.mode, e.uid, e.gid, e.link, e.layer)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _joined(parts: list[str], name: str) -> str:
    return "/".join([*parts, name])


def _prefix(parts: list[str]) -> str:
    """What a directory's children's paths start with."""
    return "/".join(parts) + "/" if parts else ""


@dataclass(frozen=True)
class Lookup:
    """What a lookup reached: the path (None when nothing is there) and, if nothing, why."""

    path: str | None
    why: str = ""


class _Items(ItemsView[str, Node]):
    def __init__(self, fs: FileSystem) -> None:
        super().__init__(fs.nodes)
        self._fs = fs

    def __iter__(self) -> Iterator[tuple[str, Node]]:
        return self._fs.find()


class _Nodes(Mapping[str, Node]):
    """The final file system, path -> :class:`Node`, read from the tree (nothing is copied;
    iteration walks it, in the same order every time for the same layers)."""

    def __init__(self, fs: FileSystem) -> None:
        self._fs = fs

    def _at(self, path: str) -> Node | None:
        record = self._fs._record(path)
        return None if record is None else _node(record)

    def __getitem__(self, path: str) -> Node:
        node = self._at(path)
        if node is None:
            raise KeyError(path)
        return node

    def get(self, path: str, default: Any = None) -> Any:
        node = self._at(path)
        return default if node is None else node

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and _kind_of(self._fs._record(path)) is not None

    def __iter__(self) -> Iterator[str]:
        return (path for path, _ in self._fs.find())

    def __len__(self) -> int:
        return self._fs._census()[1] + sum(1 for _ in self._fs.find(("dir",)))

    def items(self) -> _Items:
        return _Items(self._fs)


class FileSystem:
    def __init__(self) -> None:
        self.layers: list[LayerSummary] = []
        self.nodes: Mapping[str, Node] = _Nodes(self)
        self._root = _Dir()
        # path-keyed waste records: paths observed more than once; paths observed once that
        # have no record any more; this layer's observations of paths it removed itself
        self._waste: dict[str, _PathWaste] = {}
        self._seen: dict[str, int] = {}
        self._loose: dict[str, int] = {}
        self._lookups: dict[tuple[str, bool], Lookup] = {}
        self._dirs: dict[str, _Dir] = {}  # this layer's parent directories, by path
        self._counted: tuple[int, int, int] | None = None  # see _census

    # -- the component tree -------------------------------------------------------------------

    def _find(self, path: str) -> tuple[_Dir | None, bool]:
        """The directory at ``path`` (None if something else is there) and whether there is
        anything at ``path`` in the tree."""
        tree = self._root
        if not path:
            return tree, True
        parts = path.split("/")
        last = len(parts) - 1
        for depth, part in enumerate(parts):
            child = tree.children.get(part)
            if child is None:
                return None, False
            if not isinstance(child, _Dir):
                return None, depth == last
            tree = child
        return tree, True

    def _parent(self, path: str) -> tuple[_Dir, str] | None:
        """The directory that holds (or would hold) ``path``, and its name there."""
        parent, _, name = path.rpartition("/")
        tree = self._root
        if parent:
            for part in parent.split("/"):
                child = tree.children.get(part)
                if not isinstance(child, _Dir):
                    return None
                tree = child
        return tree, name

    def _record(self, path: str) -> _Record | None:
        found = self._parent(path)
        return None if found is None else found[0].children.get(found[1])

    def _mark(self, directory: str, index: int) -> _Dir:
        """The directory ``directory`` (made if missing), it and its ancestors marked as
        holding something of layer ``index``."""
        tree = self._root
        tree.stamp = index
        if not directory:
            return tree
        parts = directory.split("/")
        for depth, part in enumerate(parts):
            children = tree.children
            child = children.get(part)
            if not isinstance(child, _Dir):
                e = None if child is None else _entry(child)
                if e is not None and e.pending >= 0 and e.layer < index:
                    self._settle(e, partial("/".join, parts[: depth + 1]))
                made = children[part] = _Dir(e)
                tree.subdirs += 1
            else:
                made = child
                if made.stamp != index and made.pending >= 0 and made.layer < index:
                    self._settle(made, partial("/".join, parts[: depth + 1]))
            made.stamp = index
            tree = made
        return tree

    # -- waste --------------------------------------------------------------------------------

    def _settle(self, e: _Entry, path: str | Callable[[], str]) -> None:
        """Settle the observation of ``e`` by its layer, that layer being over: it counts if
        the path was a leaf of that layer's tree."""
        if e.pending >= 0:
            if not (isinstance(e, _Dir) and e.stamp == e.layer):
                self._observe(e, e.pending, path)
            e.pending = -1

    def _observe(self, e: _Entry, size: int, path: str | Callable[[], str]) -> None:
        """One more observation of the path of ``e`` (made only if the record goes to
        ``_waste``: a directory's path is not built for nothing)."""
        seen = e.seen
        if seen == _NONE:
            e.seen = size
            return
        key = path if isinstance(path, str) else path()
        if seen >= 0:
            self._waste[key] = _PathWaste(seen + size, min(seen, size), 2)
            e.seen = _MANY
        else:
            self._waste[key].observe(size)

    def _observe_path(self, path: str, size: int) -> None:
        """An observation of a path no record holds."""
        waste = self._waste.get(path)
        if waste is not None:
            waste.observe(size)
        elif path in self._seen:
            first = self._seen.pop(path)
            self._waste[path] = _PathWaste(first + size, min(first, size), 2)
        else:
            self._seen[path] = size

    def _resolve(self, path: str) -> int:
        """The waste state of a path getting a record, taken from the path-keyed records."""
        if not (self._seen or self._waste):
            return _NONE
        if path in self._waste:
            return _MANY
        return self._seen.pop(path, _NONE)

    def _forget(self, path: str, e: _Entry) -> None:
        """``e`` leaves the tree: its one observation, if any, goes to the path-keyed records."""
        if e.seen >= 0:
            self._seen[path] = e.seen

    # -- deleting -----------------------------------------------------------------------------

    def _drop(self, children: dict[str, _Record], name: str, path: str, below: int | None,
              index: int) -> tuple[int, bool] | None:  # fmt: skip
        """Remove the node at ``path`` if a layer before ``below`` (or any) put it there; (its
        size, whether it was a file and not a directory), or None."""
        e = _entry(children[name])
        if e.kind is None or (below is not None and e.layer >= below):
            return None
        if e.pending >= 0 and e.layer == index:
            self._loose[path] = e.pending  # this layer saw it: that still counts
            e.pending = -1
        else:
            self._settle(e, path)
        size, counted = e.size, e.kind != "dir"
        if isinstance(e, _Dir):
            e.kind, e.link, e.size = None, "", 0
        else:
            del children[name]
            self._forget(path, e)
        return size, counted

    def _purge(self, prefix: str, tree: _Dir, below: int | None, index: int) -> tuple[int, int]:
        """Remove the nodes under ``tree`` (those of layers before ``below``, or all), and the
        branches left empty; (how many files, their bytes)."""
        count = size = 0
        children = tree.children
        for name in list(children):
            path = _join(prefix, name)
            dropped = self._drop(children, name, path, below, index)
            if dropped is not None:
                count += dropped[1]
                size += dropped[0]
            child = children.get(name)
            if not isinstance(child, _Dir):
                continue
            removed = self._purge(path, child, below, index)
            count += removed[0]
            size += removed[1]
            if not child.children:
                self._empty(tree, name, child, path)
        return count, size

    def _empty(self, parent: _Dir, name: str, tree: _Dir, path: str) -> None:
        """A directory left with nothing below: a leaf if it has a node, else gone."""
        parent.subdirs -= 1
        if tree.kind is None:
            del parent.children[name]
            self._forget(path, tree)
            return
        # (its node survived the purge, so it is of this layer: its observation is settled
        # when the layer is over, as a leaf's)
        leaf = _Entry(tree.kind, tree.size, tree.mode, tree.uid, tree.gid, tree.link,
                      tree.layer, tree.pending, tree.seen)  # fmt: skip
        parent.children[name] = _stored(leaf)

    def _delete(self, path: str, below: int | None, keep_self: bool, index: int) -> tuple[int, int]:
        """Remove ``path`` (unless ``keep_self``) and what is under it; (how many files,
        bytes)."""
        self._dirs.clear()
        tree, exists = self._find(path)
        if not exists:
            return 0, 0
        count = size = 0
        if tree is not None:
            count, size = self._purge(path, tree, below, index)
        if keep_self or not path:
            return count, size
        found = self._parent(path)
        if found is None:
            return count, size
        parent, name = found
        dropped = self._drop(parent.children, name, path, below, index)
        if dropped is not None:
            count += dropped[1]
            size += dropped[0]
        record = parent.children.get(name)
        if isinstance(record, _Dir) and record.kind is None and not record.children:
            parent.subdirs -= 1
            del parent.children[name]
            self._forget(path, record)
        return count, size

    def _is_directory(self, path: str) -> bool:
        """A directory no tar entry named, but that holds something."""
        tree, _ = self._find(path)
        return tree is not None and bool(tree.children)

    # -- layers -------------------------------------------------------------------------------

    def apply(self, entries: Iterable[LayerEntry], report: Report | None = None) -> LayerSummary:
        """Stack one layer on what is there (the engines' overlay semantics)."""
        index = len(self.layers)
        summary = LayerSummary(index)
        self._lookups.clear()
        self._counted = None
        dirs = self._dirs
        dirs.clear()
        loose, seen_once, waste = self._loose, self._seen, self._waste
        packable = index < 1024
        count = content = added = added_bytes = 0
        for entry in entries:
            count += 1
            size = entry.size
            content += size
            path, kind = entry.path, entry.kind
            if kind in ("whiteout", "opaque"):
                self._whiteout(entry, index, summary)
                continue
            parent, _, name = path.rpartition("/")
            tree = dirs.get(parent)
            if tree is None:
                tree = self._mark(parent, index)
                if len(dirs) >= _DIR_CACHE:
                    dirs.clear()
                dirs[parent] = tree
            children = tree.children
            old = children.get(name)
            if old is None:  # the common case, made fast: a path new to the tree
                added += kind != "dir"  # files, links, devices: what file_count counts
                if kind == "file":
                    added_bytes += size
                if report is not None and (kind == "hardlink" or tree.kind == "symlink"):
                    self._check(entry, tree, parent, report)
                if loose:
                    loose.pop(path, None)  # this entry is the layer's last word on the path
                seen = self._resolve(path) if seen_once or waste else _NONE
            elif isinstance(old, int) and old >> 22 & 0x3FF == index:
                # listed twice in one tar: the last one wins, counted once; what was seen
                # before this layer stays
                if report is not None and (kind == "hardlink" or tree.kind == "symlink"):
                    self._check(entry, tree, parent, report)
                if loose:
                    loose.pop(path, None)
                seen = _STATE_SEEN[old & 7]
                if seen == _SIZE:
                    seen = old >> 32 & _SIZE_MASK
            else:
                self._replace(entry, tree, old, index, summary, report)
                continue
            mode, uid, gid, link = entry.mode, entry.uid, entry.gid, entry.link
            code = _CODES[kind]
            permissions = mode ^ _PERMS[code]
            if (
                seen == _NONE
                and packable
                and not link
                and not (permissions >> 16 | size >> 40 | uid >> 21 | gid >> 21)
            ):
                # _pack's layout, state 0: pending, nothing seen before
                children[name] = ((((gid << 21 | uid) << 40 | size) << 10 | index) << 22
                                  | permissions << 6 | code << 3)  # fmt: skip
            else:
                children[name] = _pack(kind, size, mode, uid, gid, link, index, size, seen)
        summary.entries, summary.content_size = count, content
        summary.added += added
        summary.added_bytes += added_bytes
        self._settle_loose(index)
        self.layers.append(summary)
        return summary

    def _replace(self, entry: LayerEntry, tree: _Dir, old: _Record, index: int,
                 summary: LayerSummary, report: Report | None) -> None:  # fmt: skip
        """An entry for a path the tree has a record of (other than a packed one of this
        layer)."""
        path, kind, size = entry.path, entry.kind, entry.size
        e = _entry(old)
        if e.kind is None:
            summary.added += kind != "dir"
        elif e.layer != index:
            summary.changed += kind != "dir" or e.kind != "dir"  # not a directory re-listed
        if kind == "file" and (e.kind is None or e.layer != index):
            summary.added_bytes += size
        if e.kind == "dir" and kind != "dir" and isinstance(old, _Dir):
            self._delete(path, None, True, index)
        if report is not None and (kind == "hardlink" or tree.kind == "symlink"):
            self._check(entry, tree, path.rpartition("/")[0], report)
        self._loose.pop(path, None)  # this entry is the layer's last word on the path
        if e.kind is None:
            seen = self._resolve(path) if e.seen == _UNRESOLVED else e.seen
        else:
            if e.layer != index:
                self._settle(e, path)
            seen = e.seen  # (listed twice in one tar: the last one wins, counted once)
        if isinstance(old, _Dir):
            e.kind, e.size, e.mode, e.uid, e.gid = kind, size, entry.mode, entry.uid, entry.gid
            e.link, e.layer, e.pending, e.seen = entry.link, index, size, seen
        else:
            tree.children[path.rpartition("/")[2]] = _pack(
                kind, size, entry.mode, entry.uid, entry.gid, entry.link, index, size, seen
            )

    def _whiteout(self, entry: LayerEntry, index: int, summary: LayerSummary) -> None:
        path = entry.path
        record = self._record(path)
        old = None if record is None else _entry(record)
        lower_dir = old is not None and old.kind == "dir" and old.layer < index
        removed, removed_bytes = self._delete(path, index, entry.kind == "opaque", index)
        summary.removed += removed
        summary.removed_bytes += removed_bytes
        if entry.kind == "opaque":
            return  # dive drops opaque markers: no observation
        found = self._parent(path)
        record = None if found is None else found[0].children.get(found[1])
        if found is not None and record is not None:
            e = _entry(record)
            if e.kind is not None and e.layer == index and e.pending >= 0:
                e.pending = -1  # the whiteout is the layer's last word on the path
                found[0].children[found[1]] = _stored(e)
        # a whiteout of a directory weighs what the layers below held under it
        self._loose[path] = removed_bytes if lower_dir else 0
        self._mark(path.rpartition("/")[0], index)  # its parents are dive's

    def _settle_loose(self, index: int) -> None:
        """The layer's observations of paths it left without a record of theirs."""
        for path, size in self._loose.items():
            if not path:
                continue
            found = self._parent(path)
            record = None if found is None else found[0].children.get(found[1])
            if found is None or record is None:
                self._observe_path(path, size)
                continue
            if isinstance(record, _Dir) and record.stamp == index:
                continue  # something of this layer is below it: a directory in dive's tree
            e = _entry(record)
            if e.seen == _UNRESOLVED:
                e.seen = self._resolve(path)
            self._observe(e, size, path)
            found[0].children[found[1]] = _stored(e)
        self._loose.clear()

    def _check(self, entry: LayerEntry, parent_dir: _Dir, parent: str, report: Report) -> None:
        if parent and parent_dir.kind == "symlink":
            via = f"/{shown(parent)} -> {shown(parent_dir.link)}"
            report(shown(entry.path), f"written through the symlink {via}")
        if entry.kind == "hardlink" and entry.link not in self.nodes:
            target = shown(entry.link)
            report(shown(entry.path), f"hard link to {target}, which no layer has put there (yet)")

    def _census(self) -> tuple[int, int, int]:
        """One walk once the layers are in (kept until the next layer): every pending
        observation settled; (the sum of the single observations, the nodes that are not
        directories, the bytes of the files)."""
        if self._counted is not None:
            return self._counted
        single = sum(self._seen.values())
        count = total = 0
        for tree, parts in self._trees():
            children = tree.children
            for name, record in children.items():
                if isinstance(record, int):
                    code = record & 0o70
                    size = record >> 32 & _SIZE_MASK
                    if not code:
                        total += size
                    count += code != 0o10
                    state = record & 7
                    if state <= 1:
                        # seen once, or pending with nothing seen before: one observation of
                        # its size. A pending one is left so (written back, a million of them
                        # cost a cache miss each): whoever settles it later counts the same.
                        single += size
                        continue
                    if not _STATE_PENDING[state]:
                        continue
                else:
                    kind = record.kind
                    if kind == "file":
                        total += record.size
                    count += kind is not None and kind != "dir"
                e = _entry(record)
                if e.pending >= 0:
                    self._settle(e, partial(_joined, parts, name))
                    if isinstance(record, int):
                        children[name] = _stored(e)
                if e.seen >= 0:
                    single += e.seen
        self._counted = single, count, total
        return self._counted

    def efficiency(self) -> Efficiency:
        single = self._census()[0]
        minimum = single + sum(w.minimum for w in self._waste.values())
        cumulative = single + sum(w.cumulative for w in self._waste.values())
        score = minimum / cumulative if cumulative else 1.0
        wasteful = sorted(
            (Inefficiency(path, w.observations, w.cumulative) for path, w in self._waste.items()),
            key=lambda i: (-i.wasted_bytes, i.path),
        )
        sizes = [layer.content_size for layer in self.layers]
        return Efficiency(
            score=score,
            wasted_bytes=sum(i.wasted_bytes for i in wasteful),
            size=sum(sizes),
            user_size=sum(sizes[1:]),
            inefficiencies=tuple(wasteful),
        )

    # -- the final file system ----------------------------------------------------------------

    def _trees(self, under: str = "") -> Iterator[tuple[_Dir, list[str]]]:
        """The directory ``under`` and every directory below it, parents first, each with the
        components of its path (a list the walk changes as it goes: read it before the next
        step). No path is built here: a walk of a deep tree that built each directory's
        would copy its name once per directory below it."""
        start, _ = self._find(under)
        if start is None:
            return
        parts = under.split("/") if under else []
        base = len(parts)
        stack: list[tuple[_Dir, int, str]] = [(start, base, "")]
        while stack:
            tree, depth, name = stack.pop()
            if depth > base:
                del parts[depth - 1 :]
                parts.append(name)
            yield tree, parts
            if tree.subdirs:
                for child_name, child in tree.children.items():
                    if isinstance(child, _Dir):
                        stack.append((child, depth + 1, child_name))

    def find(self, kinds: Collection[str] = (), mode: int = 0, under: str = ""
             ) -> Iterator[tuple[str, Node]]:  # fmt: skip
        """(path, node) of the nodes of one of ``kinds`` (any kind if empty) that have one of
        the ``mode`` bits set (any mode if 0), strictly below the directory ``under``. Packed
        records are tested before any path or :class:`Node` is made."""
        wanted = [not kinds or kind in kinds for kind in _KINDS]
        for tree, parts in self._trees(under):
            prefix = None
            for name, record in tree.children.items():
                if isinstance(record, int):
                    code = record >> 3 & 7
                    if not wanted[code]:
                        continue
                    if mode and not ((record >> 6 & 0xFFFF) ^ _PERMS[code]) & mode:
                        continue
                else:
                    kind = record.kind
                    if kind is None or (kinds and kind not in kinds):
                        continue
                    if mode and not record.mode & mode:
                        continue
                node = _node(record)
                assert node is not None
                if prefix is None:
                    prefix = _prefix(parts)
                yield prefix + name, node

    def lookup(self, path: str, follow_last: bool = True) -> Lookup:
        """Follow ``path`` as the kernel would: symbolic links relative and absolute, in any
        component, at most 40 of them, ``..`` stopping at the root."""
        key = (path, follow_last)
        found = self._lookups.get(key)
        if found is None:
            found = self._lookups[key] = self._walk(path, follow_last)
        return found

    def _walk(self, path: str, follow_last: bool) -> Lookup:
        pending = [p for p in reversed(path.split("/")) if p not in ("", ".")]
        done: list[str] = []  # the full path of each component reached so far
        hops = steps = 0
        nodes = self.nodes
        while pending:
            steps += 1
            if steps > _MAX_STEPS:
                return Lookup(None, f"more than {_MAX_STEPS} path components")
            part = pending.pop()
            if part == "..":
                if done:
                    done.pop()
                continue
            current = _join(done[-1], part) if done else part
            node = nodes.get(current)
            if node is None:
                if pending and self._is_directory(current):
                    done.append(current)  # a directory no tar entry named
                    continue
                return Lookup(None, f"/{shown(current)} is not in the image")
            if node.kind == "symlink" and (pending or follow_last):
                hops += 1
                if hops > _MAX_HOPS:
                    return Lookup(None, f"more than {_MAX_HOPS} symbolic links (a loop?)")
                if node.link.startswith("/"):
                    done = []
                pending.extend(p for p in reversed(node.link.split("/")) if p not in ("", "."))
                continue
            if node.kind == "hardlink" and not pending and node.link in nodes:
                current = node.link
            done.append(current)
        if not done:
            return Lookup(None, "the root directory is not a file")
        return Lookup(done[-1])

    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """The path a lookup of ``path`` reaches; None if it is not there."""
        return self.lookup(path, follow_last).path

    def exists(self, path: str) -> bool:
        return self.resolve(path) is not None

    def largest_files(self, limit: int) -> list[tuple[str, Node]]:
        """The ``limit`` largest files, equal sizes by path, in one walk: of a directory's
        files only the ``limit`` largest (then first by name) can make the list, and only
        their paths are made."""
        found: list[tuple[int, str, _Record]] = []  # (-size, path, record)
        least = 0  # once ``limit`` files are found, a smaller one cannot make the list
        for tree, parts in self._trees():
            children = tree.children
            here = []
            for name, record in children.items():
                if isinstance(record, int):
                    if record & 0o70:
                        continue
                    size = record >> 32 & _SIZE_MASK
                elif record.kind == "file":
                    size = record.size
                else:
                    continue
                if size >= least:
                    here.append((-size, name))
            if not here:
                continue
            prefix = _prefix(parts)
            found += ((s, prefix + n, children[n]) for s, n in heapq.nsmallest(limit, here))
            if len(found) > 4 * limit:
                found = heapq.nsmallest(limit, found, key=lambda f: (f[0], f[1]))
                least = -found[-1][0] if len(found) == limit else 0
        best = heapq.nsmallest(limit, found, key=lambda f: (f[0], f[1]))
        return [(path, node) for _, path, record in best if (node := _node(record)) is not None]

    def largest_dirs(self, limit: int) -> list[tuple[str, int, int]]:
        """(directory, bytes below it, files below it), biggest first, the root excluded.

        One walk of the component tree, children in name order, keeps the top ``limit``
        (equal sizes: the first in that walk). Only the paths of the directories that make the
        list are built, so time and memory stay linear however deep the tree. (A file that
        has entries below it, which only a broken tar makes, is not counted.)"""
        best: list[tuple[int, int, int, tuple[str, ...]]] = []  # (bytes, -order, files, parts)
        order = 0
        parts: list[str] = []  # the components of the directory being walked
        # one frame per directory on the way down: [its tree, child names, next, bytes, files]
        stack: list[list[Any]] = [[self._root, sorted(self._root.children), 0, 0, 0]]
        while stack:
            frame = stack[-1]
            names = frame[1]
            if frame[2] < len(names):
                name = names[frame[2]]
                frame[2] += 1
                child = frame[0].children[name]
                if isinstance(child, _Dir):
                    parts.append(name)
                    stack.append([child, sorted(child.children), 0, 0, 0])
                    continue
                if isinstance(child, int):
                    if not child & 0o70:
                        frame[3] += child >> 32 & _SIZE_MASK
                        frame[4] += 1
                elif child.kind == "file":
                    frame[3] += child.size
                    frame[4] += 1
                continue
            stack.pop()
            size, files = frame[3], frame[4]
            if not stack:
                break
            stack[-1][3] += size
            stack[-1][4] += files
            if files:
                order += 1
                if len(best) < limit:
                    heapq.heappush(best, (size, -order, files, tuple(parts)))
                elif (size, -order) > best[0][:2]:
                    heapq.heapreplace(best, (size, -order, files, tuple(parts)))
            parts.pop()
        found = [("/".join(dirs), size, files) for size, _, files, dirs in best]
        return sorted(found, key=lambda t: (-t[1], t[0]))

    @property
    def file_count(self) -> int:
        """Nodes that are not directories."""
        return self._census()[1]

    @property
    def total_bytes(self) -> int:
        return self._census()[2]
