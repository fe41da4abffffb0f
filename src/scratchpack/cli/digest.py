"""``scratchpack digest``: the manifest digest a reference points at (or the image id)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.helptext import examples
from scratchpack.cli.options import image_name, registry_options
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError

if TYPE_CHECKING:
    import argparse


def add_parser(sub: Any, flags: SharedFlags) -> None:
    d = sub.add_parser(
        "digest",
        parents=[flags.registry],
        help="print the manifest digest a reference points at (or, --image-id, the image id)",
        description="Print the manifest digest a reference points at (or the image id).",
        **examples(
            "scratchpack digest docker://127.0.0.1:5000/app:1.0",
            "scratchpack digest oci:./out/hello:latest --image-id",
            "scratchpack digest docker.io/library/debian:bookworm-slim",
            notes="The manifest digest is what a registry and @sha256: pinning use (an "
            "index's, for a multi-platform image), as `skopeo inspect --format '{{.Digest}}'` "
            "prints it; the image id is the config digest `docker images` shows.",
        ),
    )
    d.add_argument(
        "image", metavar="IMAGE", help="docker://HOST/REPO:TAG (or HOST/REPO:TAG), oci:DIR:TAG ..."
    )
    d.add_argument(
        "--image-id",
        action="store_true",
        help="print the image id (config digest) instead of the manifest digest",
    )
    d.add_argument(
        "--platform", metavar="OS/ARCH[/VARIANT]",
        help="with --image-id: the platform to pick from an index",
    )  # fmt: skip
    d.set_defaults(func=cmd_digest)


def cmd_digest(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.model.descriptor import Platform
    from scratchpack.operations.digest import registry_digest
    from scratchpack.transports import oci_layout
    from scratchpack.transports.dispatch import open_image
    from scratchpack.transports.names import OciName, RegistryName

    name = image_name(args.image)
    options = registry_options(args)
    platform = Platform.parse(args.platform) if args.platform else None
    if platform and not args.image_id:
        raise UsageError("--platform goes with --image-id: the manifest digest is the index's")
    try:
        if args.image_id:
            with open_image(name, platform, options) as image:
                digest = image.image_id
        elif isinstance(name, RegistryName):
            digest = registry_digest(name.reference, options)
        elif isinstance(name, OciName):
            entry = oci_layout.find_entry(name.directory, name.tag)
            # The digest is only as good as the blob behind it: a tag whose manifest is
            # missing or altered names no image, whatever index.json says.
            oci_layout.LayoutBlobs(name.directory).read_bytes(entry)
            digest = entry.digest
        else:
            with open_image(name) as image:
                digest = image.manifest_digest  # made up as skopeo does: no stored manifest
    finally:
        options.close()
    print(digest)
    return 0
