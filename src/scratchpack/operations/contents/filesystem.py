"""The image's file system as the layers build it up, and what each layer did to it.

Layers are applied in order to one dictionary of path -> node (the final file system when
the last layer is in), and each layer is summarised as it goes: files added, changed and
removed, bytes added. Only metadata is kept: memory grows with the number of files, never with
their size.

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
put there as they go by, whatever their place in the tar. Every path is linked into a tree of
path components: the work per entry is linear in its length, and no prefix of a path is ever
stored as a string of its own (keeping every prefix made a 30,000-component name cost
1.8 GB). What a layer's tar does that no engine would do (a hard link to a file that is not
there yet, a member written through a symbolic link) is reported as the entries go by.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from scratchpack.layers.reader import Kind, LayerEntry, shown

# (path, what is wrong with it): hostile entries, reported as they go by
Report = Callable[[str, str], None]
_MAX_HOPS = 40  # symbolic links followed in one lookup, as Linux does
_MAX_STEPS = 4096  # path components walked in one lookup (links expanded)


@dataclass(slots=True)
class Node:
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


class _Tree:
    """A directory of the component tree: its children by name (None for a leaf), and the
    last layer that put an entry below it (what tells dive's leaves from its directories)."""

    __slots__ = ("children", "stamp")

    def __init__(self) -> None:
        self.children: dict[str, _Tree | None] = {}
        self.stamp = -1


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


@dataclass(frozen=True)
class Lookup:
    """What a lookup reached: the path (None when nothing is there) and, if nothing, why."""

    path: str | None
    why: str = ""


@dataclass
class FileSystem:
    nodes: dict[str, Node] = field(default_factory=dict)
    layers: list[LayerSummary] = field(default_factory=list)
    _root: _Tree = field(default_factory=_Tree)
    # dive's observations: the size of a path seen once, and the paths seen more than once
    _seen: dict[str, int] = field(default_factory=dict)
    _waste: dict[str, _PathWaste] = field(default_factory=dict)
    _lookups: dict[tuple[str, bool], Lookup] = field(default_factory=dict)

    # -- the component tree -------------------------------------------------------------------

    def _mark(self, directory: str, index: int) -> _Tree:
        """The tree node of ``directory`` (made if missing), it and its ancestors marked as
        holding something of layer ``index``."""
        tree = self._root
        tree.stamp = index
        if directory:
            for part in directory.split("/"):
                child = tree.children.get(part)
                if child is None:
                    child = tree.children[part] = _Tree()
                child.stamp = index
                tree = child
        return tree

    def _find(self, path: str) -> tuple[_Tree | None, bool]:
        """The tree node of ``path`` (None for a leaf) and whether the path is in the tree."""
        tree: _Tree | None = self._root
        if not path:
            return tree, True
        for part in path.split("/"):
            if tree is None or part not in tree.children:
                return None, False
            tree = tree.children[part]
        return tree, True

    def _drop(self, path: str, below: int | None) -> Node | None:
        """Remove the node at ``path`` if a layer before ``below`` (or any) put it there."""
        node = self.nodes.get(path)
        if node is None or (below is not None and node.layer >= below):
            return None
        del self.nodes[path]
        return node

    def _purge(self, prefix: str, tree: _Tree, below: int | None) -> tuple[int, int]:
        """Remove the nodes under ``tree`` (those of layers before ``below``, or all), and the
        branches left empty; (how many, their bytes)."""
        count = size = 0
        for name, child in list(tree.children.items()):
            path = _join(prefix, name)
            dropped = self._drop(path, below)
            if dropped is not None:
                count += 1
                size += dropped.size
            empty = True
            if child is not None:
                removed = self._purge(path, child, below)
                count += removed[0]
                size += removed[1]
                empty = not child.children
            if empty:
                if path in self.nodes:
                    tree.children[name] = None
                else:
                    del tree.children[name]
        return count, size

    def _delete(self, path: str, below: int | None, keep_self: bool) -> tuple[int, int]:
        """Remove ``path`` (unless ``keep_self``) and what is under it; (how many, bytes)."""
        tree, exists = self._find(path)
        if not exists:
            return 0, 0
        count = size = 0
        if tree is not None:
            count, size = self._purge(path, tree, below)
        if keep_self or not path:
            return count, size
        dropped = self._drop(path, below)
        if dropped is not None:
            count += 1
            size += dropped.size
        if path not in self.nodes and (tree is None or not tree.children):
            parent_path, _, name = path.rpartition("/")
            parent, _ = self._find(parent_path)
            if parent is not None:
                parent.children.pop(name, None)
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
        # this layer's entries as dive sees them: path -> the size of its last payload
        observed: dict[str, int] = {}
        nodes = self.nodes
        count = content = added = changed = added_bytes = 0
        for entry in entries:
            count += 1
            content += entry.size
            path, kind = entry.path, entry.kind
            if kind in ("whiteout", "opaque"):
                old = nodes.get(path)
                removed, removed_bytes = self._delete(path, index, keep_self=kind == "opaque")
                summary.removed += removed
                summary.removed_bytes += removed_bytes
                if kind == "whiteout":
                    # a whiteout of a directory weighs what the layers below held under it
                    lower_dir = old is not None and old.kind == "dir" and old.layer < index
                    observed[path] = removed_bytes if lower_dir else 0
                    self._mark(path.rpartition("/")[0], index)  # its parents are dive's
                continue
            old = nodes.get(path)
            if old is not None and old.layer == index:
                pass  # listed twice in one tar: the last one wins, counted once
            elif old is None:
                added += 1
            else:
                changed += 1
            if kind == "file" and (old is None or old.layer != index):
                added_bytes += entry.size
            if old is not None and old.kind == "dir" and kind != "dir":
                self._delete(path, None, keep_self=True)
            parent, _, name = path.rpartition("/")
            if report is not None:
                self._check(entry, parent, report)
            self._mark(parent, index).children.setdefault(name, None)
            nodes[path] = Node(kind, entry.size, entry.mode, entry.uid, entry.gid, entry.link,
                               index)  # fmt: skip
            observed[path] = entry.size
        summary.entries, summary.content_size = count, content
        summary.added, summary.changed, summary.added_bytes = added, changed, added_bytes
        self._observe_waste(observed, index)
        self.layers.append(summary)
        return summary

    def _check(self, entry: LayerEntry, parent: str, report: Report) -> None:
        above = self.nodes.get(parent) if parent else None
        if above is not None and above.kind == "symlink":
            via = f"/{shown(parent)} -> {shown(above.link)}"
            report(shown(entry.path), f"written through the symlink {via}")
        if entry.kind == "hardlink" and entry.link not in self.nodes:
            target = shown(entry.link)
            report(shown(entry.path), f"hard link to {target}, which no layer has put there (yet)")

    def _observe_waste(self, observed: dict[str, int], index: int) -> None:
        """One observation per leaf of this layer's tree (see the module docstring)."""
        for path, size in observed.items():
            if not path:
                continue
            tree, _ = self._find(path)
            if tree is not None and tree.stamp == index:
                continue  # something of this layer is below it: a directory in dive's tree
            waste = self._waste.get(path)
            if waste is not None:
                waste.observe(size)
            elif path in self._seen:
                first = self._seen.pop(path)
                self._waste[path] = _PathWaste(first + size, min(first, size), 2)
            else:
                self._seen[path] = size

    def efficiency(self) -> Efficiency:
        single = sum(self._seen.values())
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
            node = self.nodes.get(current)
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
            if node.kind == "hardlink" and not pending and node.link in self.nodes:
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
        files = ((p, n) for p, n in self.nodes.items() if n.kind == "file")
        return heapq.nsmallest(limit, files, key=lambda item: (-item[1].size, item[0]))

    def largest_dirs(self, limit: int) -> list[tuple[str, int, int]]:
        """(directory, bytes below it, files below it), biggest first, the root excluded.

        One walk of the component tree, children in name order, keeps the top ``limit``
        (equal sizes: the first in that walk). Only the paths of files are built (each once,
        as long as the path itself) and of the directories that make the list, so time and
        memory stay linear however deep the tree. (A file that has entries below it, which
        only a broken tar makes, is not counted.)"""
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
                if child is not None:
                    parts.append(name)
                    stack.append([child, sorted(child.children), 0, 0, 0])
                    continue
                node = self.nodes.get("/".join([*parts, name]))
                if node is not None and node.kind == "file":
                    frame[3] += node.size
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
        return sum(1 for n in self.nodes.values() if n.kind != "dir")

    @property
    def total_bytes(self) -> int:
        return sum(n.size for n in self.nodes.values() if n.kind == "file")
