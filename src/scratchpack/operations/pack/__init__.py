"""``pack``: a program and the few files it needs, as a minimal image.

One module per kind over one shared assembly core (``core.py``): ``binary.py`` packs an ELF
program into scratch (static, or dynamic with ``libraries.py``'s loader-and-libraries layer),
``base.py`` puts it on a base image; ``node.py`` packs a Node project. This module only picks
the kind.
"""

from __future__ import annotations

from pathlib import Path

from scratchpack.errors import UsageError
from scratchpack.operations.pack.core import AddSpec, PackOptions, PackResult, parse_command
from scratchpack.operations.pack.pyoptions import PythonOptions

__all__ = ["AddSpec", "PackOptions", "PackResult", "PythonOptions", "pack", "parse_command"]


def pack(
    options: PackOptions, python: PythonOptions | None = None, kind: str | None = None
) -> PackResult:
    """Pack ``options.binary``: a project directory by its kind, else an ELF program."""
    kind = kind or options.kind
    if options.icu_locales and (kind not in (None, "node") or not options.binary.is_dir()):
        raise UsageError("--icu-locales goes with pack of a Node project (Debian's node reads "
                         "ICU's data library)")  # fmt: skip
    if kind == "binary":
        if options.binary.is_dir():
            raise UsageError(f"--kind binary needs a file; {options.binary} is a directory")
        kind = None
    elif options.binary.is_dir():
        return _pack_project(options, python or PythonOptions(), kind)
    if kind is not None:
        raise UsageError(f"--kind {kind} goes with a project directory, not a file")
    if options.test is not None or options.allow_scripts:
        raise UsageError("--test and --allow-scripts go with pack of a Node or Python project")
    if options.base is not None:
        from scratchpack.operations.pack.base import pack_on_base

        if (
            options.root != Path("/")
            or options.from_image is not None
            or options.add_libs
            or options.locales
        ):
            raise UsageError("--root, --from, --add-lib and --locale go with packing into "
                             "scratch: on --base, the libraries are the base's")  # fmt: skip

        return pack_on_base(options, options.base)
    from scratchpack.operations.pack.binary import pack_binary

    return pack_binary(options)


def _pack_project(options: PackOptions, python: PythonOptions, kind: str | None) -> PackResult:
    from scratchpack.operations.pack.pyapp import is_python_project

    found = ["python"] if is_python_project(options.binary) else []
    if (options.binary / "package.json").is_file():
        found.append("node")
    if kind is None and len(found) > 1:
        raise UsageError(f"{options.binary} is both a Python and a Node project: "
                         "say which with --kind python|node")  # fmt: skip
    chosen = kind or (found[0] if found else None)
    if chosen == "python":
        if options.icu_locales:
            raise UsageError("--icu-locales goes with pack of a Node project, not a Python one")
        if "python" not in found:
            raise UsageError(f"{options.binary}: no pyproject.toml, requirements.txt or setup.py")
        from scratchpack.operations.pack.python import pack_python

        return pack_python(options, python)
    if chosen == "node":
        if "node" not in found:
            raise UsageError(f"{options.binary}: no package.json")
        return _pack_node(options, python)
    raise UsageError(f"{options.binary} is a directory, not a program or a project "
                     "(package.json; pyproject.toml, requirements.txt or setup.py)")  # fmt: skip


def _pack_node(options: PackOptions, python: PythonOptions) -> PackResult:
    from scratchpack.operations.pack.node import pack_node

    if python.keep_modules or python.no_sources or python.trace:
        raise UsageError("--keep-module, --no-sources and --trace go with a Python project")
    if options.base is not None:
        raise UsageError("--base goes with a binary: a Node project gets Debian's node")
    if options.root != Path("/") or options.from_image is not None:
        raise UsageError("--root and --from go with a binary: node's libraries come from "
                         "its Debian packages")  # fmt: skip
    if options.strip or options.allow_dynamic or options.binary_dest:
        raise UsageError("--strip, --allow-dynamic and --binary-path go with a binary")
    return pack_node(options)
