"""``pack``: a program and the few files it needs, as a minimal image.

One module per kind over one shared assembly core (``core.py``): ``binary.py`` packs an ELF
program into scratch (static, or dynamic with ``libraries.py``'s loader-and-libraries layer),
``base.py`` puts it on a base image. This module only picks the kind.
"""

from __future__ import annotations

from pathlib import Path

from scratchpack.errors import UsageError
from scratchpack.operations.pack.core import AddSpec, PackOptions, PackResult, parse_command

__all__ = ["AddSpec", "PackOptions", "PackResult", "pack", "parse_command"]


def pack(options: PackOptions) -> PackResult:
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
