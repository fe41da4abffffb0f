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

__all__ = ["AddSpec", "PackOptions", "PackResult", "pack", "parse_command"]


def project_kind(path: Path, kind: str | None) -> str:
    """What ``pack PATH`` packs: a file is a binary; a directory is a Node project
    (package.json) or a Python one (pyproject.toml, requirements.txt), and both at once
    needs ``--kind`` to say which."""
    if kind is not None or not path.is_dir():
        return kind or "binary"
    node = (path / "package.json").is_file()
    python = (path / "pyproject.toml").is_file() or (path / "requirements.txt").is_file()
    if node and python:
        raise UsageError(f"{path} is both a Node and a Python project: say --kind python|node")
    if node:
        return "node"
    if python:
        return "python"
    raise UsageError(
        f"{path} is a directory, but neither a Node project (package.json) nor a Python one"
    )


def pack(options: PackOptions) -> PackResult:
    kind = project_kind(options.binary, options.kind)
    if kind == "node":
        from scratchpack.operations.pack.node import pack_node

        if options.base is not None:
            raise UsageError("--base goes with a binary: a Node project gets Debian's node")
        if options.root != Path("/") or options.from_image is not None:
            raise UsageError("--root and --from go with a binary: node's libraries come from "
                             "its Debian packages")  # fmt: skip
        if options.strip or options.allow_dynamic or options.binary_dest:
            raise UsageError("--strip, --allow-dynamic and --binary-path go with a binary")
        return pack_node(options)
    if kind == "python":
        raise UsageError("pack of a Python project is not in this build")
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
