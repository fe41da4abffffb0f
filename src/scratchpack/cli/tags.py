"""``scratchpack tags``: a registry repository's tags, or an OCI layout's."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.helptext import examples
from scratchpack.cli.options import image_name, registry_options
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError

if TYPE_CHECKING:
    import argparse


def add_parser(sub: Any, flags: SharedFlags) -> None:
    t = sub.add_parser(
        "tags",
        parents=[flags.registry],
        help="list a repository's tags",
        description="List a repository's tags (or an OCI layout's).",
        **examples(
            "scratchpack tags docker://127.0.0.1:5000/app",
            "scratchpack tags oci:./out/hello --format json",
        ),
    )
    t.add_argument(
        "repository", metavar="REPOSITORY", help="docker://HOST/REPO (or HOST/REPO), or oci:DIR"
    )
    t.add_argument("--format", choices=("text", "json"), default="text")
    t.set_defaults(func=cmd_tags)


def cmd_tags(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.transports import oci_layout
    from scratchpack.transports.names import OciName, RegistryName
    from scratchpack.transports.registry.transport import repository

    name = image_name(args.repository)
    options = registry_options(args)
    try:
        if isinstance(name, RegistryName):
            tags = repository(name.reference, options).tags()
        elif isinstance(name, OciName):
            tags = oci_layout.list_tags(name.directory)
        else:
            raise UsageError("tags works on docker:// repositories and oci: layouts")
    finally:
        options.close()
    if args.format == "json":
        print(json.dumps(tags))
    else:
        for tag in tags:
            print(tag)
    return 0
