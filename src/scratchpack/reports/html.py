"""``audit --format html`` and ``compare --format html``: one self-contained page.

The page must open anywhere, offline and years later (a CI artifact, a mail attachment), so it
loads nothing: the CSS and the JavaScript (a small hand-written squarified treemap, in
``assets/``) are inlined, and everything the image says goes in as one JSON blob in a
``<script type="application/json">`` element. Names in an image are hostile input (``</script>``,
quotes, ``<img onerror>``, control characters, bytes that are not UTF-8): the blob is pure ASCII
with ``<``, ``>`` and ``&`` escaped as ``\\u003c`` and so on, so the HTML parser can never see
markup in it, and the script only ever puts names in the page as text (``textContent``).

Size is bounded: an image with more than :data:`MAX_FILES` files keeps its largest files (and
every file a finding names) as themselves and sums the others into one "smaller files" box per
directory, cut at a depth where at most :data:`MAX_GROUPS` such boxes remain; the page says so.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from scratchpack.operations.audit import AuditResult
from scratchpack.operations.audit.docs import DOCS
from scratchpack.operations.contents.filesystem import FileSystem

MAX_FILES = 20_000  # files shown as themselves in one page (all images of a compare together)
MAX_GROUPS = 4_000  # "smaller files" boxes, likewise
# flags of a file in the page's tree (the script reads the same bits)
# OVERWRITTEN: a file whose older copies lower layers still hold; OLDER: those copies (drawn
# beside it, so that the map adds up to what the layers ship); REMOVED: what a later layer
# deleted
OVERWRITTEN, REMOVED, CACHE, GROUP, FINDING, OLDER = 1, 2, 4, 8, 16, 32
# what a package manager or a build leaves behind that a final image does not need
_CACHE = re.compile(
    r"(^|/)(var/cache/(apt|apk|dnf|yum)|var/lib/apt/lists|root/\.cache|root/\.npm|"
    r"\.cache/pip|__pycache__|tmp|var/tmp)(/|$)"
)
# controls, and the bidirectional formatting characters (a U+202E shows what follows reversed;
# a line separator is only white space in a page, and names keep it)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def display_name(name: str) -> str:
    """A path component as the page shows it: bytes that are not UTF-8 (kept by tar as
    surrogate escapes) become U+FFFD, control and bidirectional formatting characters a
    visible ``\\xNN`` or ``\\uNNNN``."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass
class _Dir:
    """A directory of the page's tree while it is built."""

    children: dict[str, _Dir | list[Any]]
    findings: list[int]


def _walk_files(fs: FileSystem) -> Iterator[tuple[str, int, int]]:
    """(path, size, layer number from 1) of every regular file of the final file system."""
    for path, node in fs.find(("file",)):
        yield path, node.size, node.layer + 1


def _dir_at(root: _Dir, parts: Iterable[str]) -> _Dir | None:
    """The directory at ``parts``, made if need be; None if a file is in the way (a path
    that a later layer turned from a directory into a file)."""
    here = root
    for part in parts:
        child = here.children.get(part)
        if child is None:
            child = here.children[part] = _Dir({}, [])
        if not isinstance(child, _Dir):
            return None
        here = child
    return here


def _parts(path: str) -> list[str]:
    return path.split("/") if path else []


def _find_file(root: _Dir, path: str) -> list[Any] | None:
    *parents, name = path.split("/")
    here: _Dir | list[Any] | None = root
    for part in parents:
        here = here.children.get(part) if isinstance(here, _Dir) else None
    node = here.children.get(name) if isinstance(here, _Dir) else None
    return node if isinstance(node, list) else None


def _waste(fs: FileSystem) -> list[tuple[str, int]]:
    """(path, bytes of every copy) of each path more than one layer wrote (dive's waste)."""
    return [(i.path, i.wasted_bytes) for i in fs.efficiency().inefficiencies]


def _tree(result: AuditResult, fs: FileSystem, budget: int, groups: int) -> tuple[Any, int]:
    """The page's tree of one image and how many files were summed into "smaller files".

    A file is ``[size, layer, flags, hidden bytes, [finding indexes]]`` here; keys that
    start with NUL are the boxes that are no file of the final file system ("smaller files",
    older copies, removed content), which no real name can clash with."""
    findings: dict[str, list[int]] = {}
    for n, finding in enumerate(result.findings):
        if finding.path:
            findings.setdefault(finding.path.strip("/"), []).append(n)
    least = 0
    if fs.file_count > budget:  # the size a file needs to be shown as itself
        sizes = heapq.nlargest(budget, (size for _, size, _ in _walk_files(fs)))
        least = sizes[-1] + 1 if sizes else 0
    root = _Dir({}, [])
    small: dict[str, list[int]] = {}  # directory -> [bytes, files, a layer]
    for path, size, layer in _walk_files(fs):
        if size >= least or path in findings:
            *parents, name = path.split("/")
            directory = _dir_at(root, parents)
            if directory is not None:
                flags = CACHE if _CACHE.search(path) else 0
                directory.children[name] = [size, layer, flags, 0, []]
        else:
            group = small.setdefault(path.rpartition("/")[0], [0, 0, layer])
            group[0] += size
            group[1] += 1
    depth = max((d.count("/") + 1 for d in small), default=0)
    while len(small) > groups and depth > 0:  # too many boxes: sum them higher up
        depth -= 1
        merged: dict[str, list[int]] = {}
        for directory_path, (size, count, layer) in small.items():
            group = merged.setdefault("/".join(directory_path.split("/")[:depth]), [0, 0, layer])
            group[0] += size
            group[1] += count
        small = merged
    grouped = 0
    for directory_path, (size, count, layer) in small.items():
        here = _dir_at(root, _parts(directory_path))
        if here is not None:
            here.children["\x00group"] = [size, layer, GROUP, 0, [], count]
            grouped += count
    for path, wasted in _waste(fs):
        node = _find_file(root, path)
        *parents, name = path.split("/")
        if node is not None:  # still there: the copies below it are the waste
            node[2] |= OVERWRITTEN
            node[3] = hidden = max(wasted - node[0], 0)
            here = _dir_at(root, parents)
            if hidden and here is not None:
                here.children[f"\x00older {name}"] = [hidden, 0, OLDER, 0, []]
            continue
        here = _dir_at(root, parents)
        if here is None or wasted <= 0:
            continue
        key = f"\x00removed {name}" if isinstance(here.children.get(name), _Dir) else name
        here.children[key] = [wasted, 0, REMOVED, 0, []]
    for path, indexes in findings.items():
        node = _find_file(root, path)
        if node is not None:
            node[2] |= FINDING
            node[4].extend(indexes)
        elif (here := _dir_at(root, _parts(path))) is not None:
            here.findings.extend(indexes)
    return _export("", root), grouped


def _export(name: str, directory: _Dir) -> list[Any]:
    """The tree as the page reads it, trailing defaults left out: a directory is
    ``[name, [children], [finding indexes]]``, a file ``[name, size, layer, flags, hidden
    bytes, [finding indexes], files]`` (files: of a "smaller files" box, which has no name)."""
    children: list[Any] = []
    for key, child in sorted(directory.children.items()):
        if isinstance(child, _Dir):
            children.append(_export(key, child))
            continue
        size, layer, flags, hidden, found, *count = child
        # "\x00older NAME", "\x00removed NAME": NAME; "\x00group": no name
        shown = key.partition(" ")[2] if key.startswith("\x00") else key
        entry = [display_name(shown), size, layer, flags]
        if hidden or found or count:
            entry.append(hidden)
        if found or count:
            entry.append(found)
        entry.extend(count)
        children.append(entry)
    exported = [display_name(name), children]
    if directory.findings:
        exported.append(directory.findings)
    return exported


def image_data(result: AuditResult, budget: int = MAX_FILES, groups: int = MAX_GROUPS
               ) -> dict[str, Any]:  # fmt: skip
    """What the page shows of one audited image: its report, findings with their rule's title
    and explanation, and the (bounded) tree of its files. Made right after the audit, so that
    a compare holds one image's file system at a time."""
    report, fs = result.report, result.filesystem
    if fs is None:
        raise ValueError("the HTML page needs the audit's file system")
    tree, grouped = _tree(result, fs, budget, groups)
    findings = [
        {
            **finding,
            "path": display_name(finding["path"]) if finding["path"] else None,
            "why": DOCS[finding["code"]].why,
            "fix": DOCS[finding["code"]].fix,
        }
        for finding in report["findings"]
    ]
    inefficiencies = report["efficiency"]["inefficiencies"]
    return {
        "image": display_name(report["image"]),
        "digest": report["digest"],
        "image_id": report["image_id"],
        "platform": report["platform"],
        "size": report["size"],
        "efficiency": {k: v for k, v in report["efficiency"].items() if k != "inefficiencies"},
        "waste": [{**i, "path": display_name(i["path"])} for i in inefficiencies[:20]],
        "user": report["user"]["how"],
        "layers": [
            {**layer, "created_by": display_name(layer["created_by"] or "")}
            for layer in report["layers"]
        ],
        "findings": findings,
        "summary": report["summary"],
        "thresholds_crossed": report.get("thresholds_crossed", []),
        "tree": tree,
        "grouped_files": grouped,
    }


def json_for_script(data: Any) -> str:
    """JSON that is inert inside an HTML ``<script>`` element: ASCII only (no U+2028, no
    stray bytes), and no ``<``, ``>`` or ``&`` that could close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(kind: str, title: str, data: dict[str, Any]) -> str:
    assets = files("scratchpack.reports") / "assets"
    template = (assets / "report.html").read_text(encoding="utf-8")
    from scratchpack import __version__

    # each placeholder is replaced once, in order, and none of the texts put in is searched again
    values = {
        "@TITLE@": title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "@CSS@": (assets / "report.css").read_text(encoding="utf-8"),
        "@DATA@": json_for_script({"kind": kind, "version": __version__, **data}),
        "@JS@": (assets / "report.js").read_text(encoding="utf-8"),
    }
    pattern = re.compile("|".join(re.escape(key) for key in values))
    return pattern.sub(lambda m: values[m.group()], template)


def audit_page(data: dict[str, Any]) -> str:
    """The page of one audit (from :func:`image_data`)."""
    return _page("audit", f"scratchpack audit: {data['image']}", {"images": [data]})


def compare_page(images: list[dict[str, Any]], columns: list[dict[str, Any]]) -> str:
    """The page of a compare: each image's data and compare's columns (registry sizes)."""
    names = ", ".join(image["image"] for image in images)
    return _page("compare", f"scratchpack compare: {names}", {"images": images,
                                                             "columns": columns})  # fmt: skip
