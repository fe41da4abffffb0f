"""The libraries layer of a dynamically linked program packed into scratch.

``pack`` of a dynamic binary puts, between the essentials and the binary, one layer with the
program's loader, its ``DT_NEEDED`` closure and what glibc ``dlopen``s at run time (NSS modules
for the image's nsswitch.conf, ``libgcc_s.so.1``, and ``--add-lib`` names), each copied from a
root (the host's ``/`` by default, or ``--from`` an image unpacked in the scratch directory)
with its symlink chain, so that the program starts in an
image with no shell and no package manager. The layer depends only on the libraries, so a new
build of the program leaves it byte for byte the same.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.layers.tarwriter import LayerContents
from scratchpack.operations.closure import Closure, ClosureFinder
from scratchpack.operations.glibc import find_gconv, locale_files, runtime_sonames
from scratchpack.operations.glibcfiles import ICONV_SYMBOLS


@dataclass(frozen=True)
class LibraryReport:
    """What the libraries layer holds, for the summary and JSON."""

    root: str
    loader: str | None
    libraries: tuple[str, ...]  # sonames, in load order
    files: int
    unavailable: tuple[str, ...] = field(default=())  # NSS modules the root lacks
    gconv_modules: int = 0
    locales: tuple[str, ...] = field(default=())


def library_layer(
    root: Path,
    binary: Path,
    binary_dest: str,
    nsswitch: str,
    add_libs: list[str],
    gconv: str = "auto",
    locales: tuple[str, ...] = (),
    root_name: str | None = None,
) -> tuple[LayerContents, LibraryReport]:
    """The layer of ``binary``'s run-time libraries found in ``root``, for a binary that will
    live at ``binary_dest`` (its ``$ORIGIN``). A library it needs that the root lacks is an
    error naming it: the image would fail at start with "no such file or directory".
    ``root_name`` is what messages and the report call the root (``--from``'s image, not the
    scratch directory it is unpacked in)."""
    if not root.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    shown = root_name or str(root)
    finder = ClosureFinder(root)
    closure = finder.find(binary_dest, host_file=binary)
    if closure.missing:
        _refuse(closure, shown, binary)
    finder.add_dlopened(closure, runtime_sonames(closure, finder.resolver, nsswitch))
    wanted = [name for name in add_libs if name not in closure.loaded]
    finder.add_dlopened(closure, wanted)
    lost = [name for name in wanted if name in closure.unavailable]
    if lost:
        raise ScratchpackError(f"--add-lib: not found in {shown}: {', '.join(lost)}")
    modules = _add_gconv(finder, closure, gconv)
    for name in locales:
        for path in locale_files(finder.resolver, name):
            finder.add_file(closure, path)
    if closure.missing:  # needed by an NSS module, a gconv module or an --add-lib
        _refuse(closure, shown, binary)
    layer = LayerContents()
    for path, target in closure.entries():
        if target is not None:
            layer.add_symlink(path, target)
            continue
        source = finder.resolver.host_path(path)
        executable = source.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        layer.add_file(
            path, source=source, mode=0o555 if executable else 0o444, origin=f"{shown} (library)"
        )
    report = LibraryReport(
        root=shown,
        loader=closure.loader,
        libraries=tuple(name for name in closure.libraries if "/" not in name),  # sonames
        files=len(closure.files),
        unavailable=tuple(sorted(closure.unavailable)),
        gconv_modules=modules,
        locales=locales,
    )
    return layer, report


def _add_gconv(finder: ClosureFinder, closure: Closure, choice: str) -> int:
    """gconv's configuration and modules: ``auto`` all of them when the program or a library
    calls iconv (which charsets it will name is known only at run time), ``all``, ``none``, or
    a comma-separated list of charsets. Returns how many modules went in."""
    libc = closure.libraries.get("libc.so.6")
    if choice == "none" or libc is None:
        return 0
    if choice == "auto" and not closure.mentions & set(ICONV_SYMBOLS):
        return 0
    found = find_gconv(finder.resolver, libc)
    if found is None:
        if choice == "auto":
            return 0
        raise UsageError(f"--gconv {choice}: the root has no gconv directory beside {libc}")
    charsets = None if choice in ("auto", "all") else [c for c in choice.split(",") if c]
    for config in found.configs:
        finder.add_file(closure, config)
    paths = found.module_paths(charsets)
    finder.add_dlopened(closure, paths, by="libc.so.6")
    return sum(1 for path in paths if path in closure.libraries)


def _refuse(closure: Closure, root: str, binary: Path) -> None:
    missing = ", ".join(f"{name} (needed by {by})" for name, by in sorted(closure.missing.items()))
    raise ScratchpackError(
        f"{binary} is dynamically linked and {root} lacks what it needs to start: {missing}. "
        "Install the libraries there, point --root at the root it was built in (a sysroot), "
        "take them --from the builder image, or build it statically"
    )
