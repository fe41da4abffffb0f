"""Which top-level modules Python source imports, read from its syntax tree.

``modulefinder`` runs the import machinery on the host and loses its way in namespace
packages and in code written for another Python; an AST walk over every file sees each
``import x``, ``from x import y`` and ``importlib.import_module("x")`` / ``__import__("x")``
with a literal name, wherever it stands (in a function, under ``try``), so it over-keeps rather
than under-keeps. Names computed at run time are what ``--keep-module`` and ``--trace`` are for.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

_DYNAMIC = frozenset({"import_module", "__import__"})
MAX_SOURCE = 8 * 1024 * 1024  # bytes: a larger .py is data, not code worth walking


def imported_names(source: bytes) -> set[str]:
    """The top-level names ``source`` imports absolutely (relative imports stay inside
    their own package); empty when it does not parse as Python 3."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not code we can read
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                called in _DYNAMIC
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                names.add(first.value.split(".")[0])
    return names


def names_in_files(paths: Iterable[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        try:
            if path.stat().st_size > MAX_SOURCE:
                continue
            names |= imported_names(path.read_bytes())
        except OSError:
            continue
    return names


def python_files(directory: Path) -> list[Path]:
    """Every ``.py`` under ``directory``, sorted, symlinks not followed."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*.py") if p.is_file() and not p.is_symlink())
