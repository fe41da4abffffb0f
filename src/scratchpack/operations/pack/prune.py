"""Pruning an installed ``node_modules`` to what runs, conservatively.

Removed from every package (each directory with a ``package.json``):

* documentation: ``README*``, ``CHANGELOG*``, ``HISTORY*``, ``*.md``, ``*.markdown``;
* tests: ``test/``, ``tests/``, ``__tests__/`` directories, ``*.test.js``, ``*.spec.js``
  (and their ``.cjs``/``.mjs``/``.ts`` forms);
* ``example/``, ``examples/``, ``.github/``;
* source maps (``*.map``) and TypeScript declarations (``*.d.ts``, ``*.d.mts``, ``*.d.cts``);
* other platforms' prebuilt binaries: ``prebuilds/<platform>-<arch>/`` for anything but
  ``linux-x64``, and any ``*.node`` that is not an x86-64 ELF built for glibc (a Mach-O, a PE,
  an arm64 or a musl build), read from the file's own ELF header and ``DT_NEEDED``.

Kept whatever a rule says: ``package.json`` files (what ``sbom`` reads), ``LICENSE`` files, and
every path that the package's ``main``, ``bin``, ``exports`` (any condition), ``browser`` or
``files`` names, or a directory holding one of them, so that nothing a ``require`` reaches by a
declared path goes. The one exception: docs, source maps and type declarations listed only in
``files`` (express publishes its Readme.md) still go, as no ``require`` loads them. What a
package loads by a computed path it does not declare can still go: ``--test`` and ``--check``
run the app in the image to catch that.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DOC_FILES = ("readme*", "changelog*", "history*", "*.md", "*.markdown")
_TEST_FILES = tuple(
    f"*.{kind}.{ext}" for kind in ("test", "spec") for ext in ("js", "cjs", "mjs", "ts")
)
_TEST_DIRS = ("test", "tests", "__tests__")
_OTHER_DIRS = ("example", "examples", ".github")
_TYPES = ("*.map", "*.d.ts", "*.d.mts", "*.d.cts")
_NATIVE_PLATFORM = "linux-x64"
_NOT_CODE = ("docs", "source maps and types")


@dataclass
class PruneReport:
    removed: dict[str, int] = field(default_factory=dict)  # category -> files
    bytes: int = 0

    def count(self, category: str, files: int, size: int) -> None:
        self.removed[category] = self.removed.get(category, 0) + files
        self.bytes += size

    def summary(self) -> str:
        total = sum(self.removed.values())
        if not total:
            return "nothing pruned"
        parts = ", ".join(f"{n} {what}" for what, n in sorted(self.removed.items()))
        return f"pruned {total} files, {self.bytes} bytes: {parts}"


def is_test_path(rel: str) -> bool:
    """A project's own test files (``test/...``, ``x.test.js``): the test layer's, not the
    production image's."""
    parts = rel.split("/")
    if any(part in _TEST_DIRS for part in parts):
        return True
    return _matches(parts[-1], _TEST_FILES)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in patterns)


def prune_modules(modules: Path) -> PruneReport:
    report = PruneReport()
    manifests = sorted(
        Path(current) / "package.json"
        for current, _dirs, files in os.walk(modules)  # never follows a symlink out
        if "package.json" in files
    )
    for manifest in manifests:
        package = manifest.parent
        if not manifest.is_file() or manifest.is_symlink() or not package.exists():
            continue
        _prune_package(package, _declared(manifest), report)
    return report


@dataclass(frozen=True)
class Declared:
    """What a package.json names: ``code`` (main, bin, exports, browser: what ``require``
    reaches) and ``listed`` (``files``, what is published, docs among them)."""

    code: set[str]
    listed: set[str]


def _declared(manifest: Path) -> Declared:
    try:
        data: Any = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return Declared({"*"}, {"*"})  # unreadable: keep the whole package
    if not isinstance(data, dict):
        return Declared({"*"}, {"*"})
    code: list[str] = []
    for key in ("main", "bin", "exports", "browser"):
        _strings(data.get(key), code)
    listed: list[str] = []
    _strings(data.get("files"), listed)
    return Declared(_normalised(code), _normalised(listed))


def _normalised(found: list[str]) -> set[str]:
    """Package-relative paths (no ``./``, no globs' stars)."""
    declared = set()
    for text in found:
        norm = os.path.normpath(text.replace("*", "")).lstrip("/")
        if norm and not norm.startswith(".."):
            declared.add(norm.rstrip("/"))
    return declared


def _strings(value: Any, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, list):
        for item in value:
            _strings(item, into)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, into)


def _protected(rel: str, declared: set[str]) -> bool:
    """``rel`` is named, or holds something named (a declared file in a test/ directory)."""
    if "*" in declared:
        return True
    for path in declared:
        if rel == path or path.startswith(rel + "/"):
            return True
        if rel == path + ".js" or rel == path + "/index.js":
            return True
    return False


def _prune_package(package: Path, declared: Declared, report: PruneReport) -> None:
    everything = declared.code | declared.listed
    for current, dirs, files in os.walk(package):
        here = Path(current)
        rel_dir = here.relative_to(package).as_posix()
        prefix = "" if rel_dir == "." else f"{rel_dir}/"
        if "node_modules" in dirs:
            dirs.remove("node_modules")  # nested packages are pruned on their own
        for name in list(dirs):
            rel = prefix + name
            category = _dir_category(name, rel_dir)
            if category and not _protected(rel, everything) and not (here / name).is_symlink():
                count, size = _tree_size(here / name)
                shutil.rmtree(here / name)
                report.count(category, count, size)
                dirs.remove(name)
        for name in files:
            rel = prefix + name
            path = here / name
            category = _file_category(name, path)
            # docs and declarations are no require target: `files` listing them (express
            # lists Readme.md) publishes them, it does not make code need them
            kept = declared.code if category in _NOT_CODE else everything
            if category and not _protected(rel, kept):
                size = path.lstat().st_size
                path.unlink()
                report.count(category, 1, size)


def _dir_category(name: str, parent: str) -> str | None:
    if name.lower() in _TEST_DIRS:
        return "tests"
    if name.lower() in _OTHER_DIRS:
        return "examples and CI"
    if Path(parent).name == "prebuilds" and name != _NATIVE_PLATFORM:
        return "other platforms' binaries"
    return None


def _file_category(name: str, path: Path) -> str | None:
    if name == "package.json" or name.lower().startswith(("license", "licence", "copying")):
        return None
    if _matches(name, _DOC_FILES):
        return "docs"
    if _matches(name, _TEST_FILES):
        return "tests"
    if _matches(name, _TYPES):
        return "source maps and types"
    if name.endswith(".node") and not path.is_symlink() and not native_for_here(path):
        return "other platforms' binaries"
    return None


def native_for_here(path: Path) -> bool:
    """An addon this image's node can load: an x86-64 ELF shared object not built for musl."""
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    from scratchpack.operations.elf import pyelftools_errors

    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                return False
            handle.seek(0)
            elf = ELFFile(handle)
            if elf["e_machine"] != "EM_X86_64":
                return False
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    for tag in section.iter_tags():
                        needed = str(getattr(tag, "needed", ""))
                        if tag.entry.d_tag == "DT_NEEDED" and "musl" in needed:
                            return False
    except pyelftools_errors():
        return False
    return "musl" not in path.name


def _tree_size(directory: Path) -> tuple[int, int]:
    count = size = 0
    for current, _dirs, files in os.walk(directory):
        for name in files:
            count += 1
            size += (Path(current) / name).lstat().st_size
    return count, size
