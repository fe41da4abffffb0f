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
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from scratchpack.layers.reader import Kind, LayerEntry


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


@dataclass
class _PathWaste:
    cumulative: int = 0
    minimum: int = -1
    observations: int = 0

    def observe(self, size: int) -> None:
        self.cumulative += size
        if self.minimum < 0 or size < self.minimum:
            self.minimum = size
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


def _parents(path: str) -> Iterable[str]:
    while path:
        path = posixpath.dirname(path)
        yield path


@dataclass
class FileSystem:
    nodes: dict[str, Node] = field(default_factory=dict)
    layers: list[LayerSummary] = field(default_factory=list)
    _waste: dict[str, _PathWaste] = field(default_factory=dict)
    # directory -> the paths directly below it (implicit directories included), so deleting a
    # directory costs what it holds, not a scan of the whole image
    _children: dict[str, set[str]] = field(default_factory=dict)

    def _subtree(self, path: str) -> list[str]:
        """``path`` and everything below it, as currently present."""
        found = [path] if path in self.nodes else []
        stack = [path]
        while stack:
            for child in self._children.get(stack.pop(), ()):
                if child in self.nodes:
                    found.append(child)
                stack.append(child)
        return found

    def _link(self, path: str) -> None:
        while path:
            parent = posixpath.dirname(path)
            siblings = self._children.setdefault(parent, set())
            if path in siblings:
                return
            siblings.add(path)
            path = parent

    def _remove(self, path: str) -> Node:
        node = self.nodes.pop(path)
        self._children.pop(path, None)
        self._children.get(posixpath.dirname(path), set()).discard(path)
        return node

    def apply(self, entries: list[LayerEntry]) -> LayerSummary:
        """Stack one layer on what is there (the engines' overlay semantics)."""
        index = len(self.layers)
        summary = LayerSummary(index, entries=len(entries))
        summary.content_size = sum(e.size for e in entries)
        self._observe_waste(entries)
        # deletions act on the layers below only, whatever their place in the tar
        for entry in entries:
            if entry.kind == "whiteout":
                doomed = self._subtree(entry.path)
            elif entry.kind == "opaque":
                doomed = [p for p in self._subtree(entry.path) if p != entry.path]
            else:
                continue
            for path in doomed:
                node = self._remove(path)
                summary.removed += 1
                summary.removed_bytes += node.size
        for entry in entries:
            if entry.kind in ("whiteout", "opaque"):
                continue
            old = self.nodes.get(entry.path)
            if old is not None and old.layer == index:
                pass  # listed twice in one tar: the last one wins, counted once
            elif old is None:
                summary.added += 1
            else:
                summary.changed += 1
            if entry.kind == "file" and (old is None or old.layer != index):
                summary.added_bytes += entry.size
            if old is not None and old.kind == "dir" and entry.kind != "dir":
                for path in self._subtree(entry.path):
                    if path != entry.path:
                        self._remove(path)
            self._link(entry.path)
            self.nodes[entry.path] = Node(
                entry.kind, entry.size, entry.mode, entry.uid, entry.gid, entry.link, index
            )
        self.layers.append(summary)
        return summary

    def _observe_waste(self, entries: list[LayerEntry]) -> None:
        """One observation per leaf of this layer's tree (see the module docstring)."""
        visible = [e for e in entries if e.kind != "opaque"]
        parents: set[str] = set()
        for entry in visible:
            parents.update(_parents(entry.path))
        last: dict[str, LayerEntry] = {}
        for entry in visible:
            last[entry.path] = entry  # a path listed twice is one node, the last payload
        for path, entry in last.items():
            if path in parents or not path:
                continue
            if entry.kind == "whiteout":
                below = self.nodes.get(path)
                size = 0
                if below is not None and below.kind == "dir":
                    size = sum(self.nodes[p].size for p in self._subtree(path))
            else:
                size = entry.size
            self._waste.setdefault(path, _PathWaste()).observe(size)

    def efficiency(self) -> Efficiency:
        minimum = sum(max(w.minimum, 0) for w in self._waste.values())
        cumulative = sum(w.cumulative for w in self._waste.values())
        score = minimum / cumulative if cumulative else 1.0
        wasteful = sorted(
            (
                Inefficiency(path, w.observations, w.cumulative)
                for path, w in self._waste.items()
                if w.observations > 1
            ),
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

    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """The path a lookup of ``path`` reaches, following symlinks as the kernel would
        (relative and absolute, in any component, at most 40 of them); None if it is not there."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            current = "/".join([*done, part])
            node = self.nodes.get(current)
            if node is None:
                if parts and self._children.get(current):
                    done = current.split("/")  # a directory no tar entry named
                    continue
                return None
            if node.kind == "symlink" and (parts or follow_last):
                hops += 1
                if hops > 40:
                    return None
                target = [p for p in node.link.split("/") if p not in ("", ".")]
                if node.link.startswith("/"):
                    done = []
                parts = target + parts
                continue
            if node.kind == "hardlink" and not parts:
                current = node.link if node.link in self.nodes else current
            done = current.split("/")
        return "/".join(done)

    def exists(self, path: str) -> bool:
        return self.resolve(path) is not None

    def largest_files(self, limit: int) -> list[tuple[str, Node]]:
        files = [(p, n) for p, n in self.nodes.items() if n.kind == "file"]
        files.sort(key=lambda item: (-item[1].size, item[0]))
        return files[:limit]

    def largest_dirs(self, limit: int) -> list[tuple[str, int, int]]:
        """(directory, bytes below it, files below it), biggest first, the root excluded."""
        totals: dict[str, list[int]] = {}
        for path, node in self.nodes.items():
            if node.kind != "file":
                continue
            for parent in _parents(path):
                if not parent:
                    continue
                total = totals.setdefault(parent, [0, 0])
                total[0] += node.size
                total[1] += 1
        ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
        return [(path, size, count) for path, (size, count) in ranked[:limit]]

    @property
    def file_count(self) -> int:
        return sum(1 for n in self.nodes.values() if n.kind != "dir")

    @property
    def total_bytes(self) -> int:
        return sum(n.size for n in self.nodes.values() if n.kind == "file")
