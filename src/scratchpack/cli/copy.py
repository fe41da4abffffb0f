"""``scratchpack copy``: its parser, and the handler that calls operations/copy (and carries
or makes signatures) and prints the result. A no-op re-push is a fraction of a second in all,
so this module imports nothing another command needs (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.cli.buildflags import add_build_flags
from scratchpack.cli.flags import SharedFlags, tls_flag
from scratchpack.cli.helptext import examples
from scratchpack.cli.options import registry_options
from scratchpack.cli.output import Output, check_digestfile, write_digest
from scratchpack.errors import ScratchpackError, UsageError

if TYPE_CHECKING:
    import argparse

    from scratchpack.model.digest import Digest
    from scratchpack.operations.copy import CopyOptions
    from scratchpack.signing.carry import Carried


def add_parser(sub: Any, flags: SharedFlags) -> None:
    c = sub.add_parser(
        "copy",
        parents=[flags.registry, flags.jobs, flags.quiet],
        help="copy an image between any two transports",
        description="Copy an image between any two transports.",
        **examples(
            "scratchpack copy oci:./out/hello:latest docker://127.0.0.1:5000/hello:1.0",
            "scratchpack copy docker://ghcr.io/me/app:1.0 docker://10.0.0.5:5000/app:1.0 "
            '--src-creds "me:$TOKEN" --dest-tls-verify=false --digestfile app.digest',
            "scratchpack copy --all docker://127.0.0.1:5000/app:1.0 oci:./mirror:app",
            "scratchpack copy --with-signatures docker://127.0.0.1:5000/app:1.0 oci:./out/app:1.0",
            notes="Transports: oci:, docker-archive:, docker-daemon:, containers-storage: "
            "(source only) and docker://. Between oci: and docker:// the manifest digest is "
            "preserved. The --src-* and --dest-* flags, as skopeo's, apply to one side and "
            "override --creds and --tls-verify there.",
        ),
    )
    c.add_argument("source", metavar="SOURCE", help="the image to copy (any transport)")
    c.add_argument("destination", metavar="DEST", help="where to write it")
    c.add_argument("--all", action="store_true", help="copy every platform of an index")
    c.add_argument(
        "--platform", metavar="OS/ARCH[/VARIANT]",
        help="platform to pick from an index (default: this host's); one the image lacks is "
        "an error",
    )  # fmt: skip
    c.add_argument("--force", action="store_true", help="replace an existing oci:/archive output")
    c.add_argument(
        "--digestfile", type=Path, metavar="FILE",
        help="write the manifest digest of the copy to FILE, as skopeo copy --digestfile",
    )  # fmt: skip
    sides = c.add_argument_group("source and destination (skopeo's names)")
    sides.add_argument("--src-creds", metavar="USER:PASS", help="credentials for the source")
    sides.add_argument("--dest-creds", metavar="USER:PASS", help="credentials for the destination")
    tls_flag(sides, "--src-tls-verify", "verified HTTPS for the source (default: --tls-verify)")
    tls_flag(
        sides, "--dest-tls-verify", "verified HTTPS for the destination (default: --tls-verify)"
    )
    c.add_argument(
        "--with-signatures", action="store_true",
        help="also copy the image's cosign .sig/.att tags and its OCI 1.1 referrers "
        "(signature bundles, attestations); docker:// and oci: only",
    )  # fmt: skip
    c.add_argument("--format", choices=("text", "json"), default="text")
    add_build_flags(c)
    c.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.signing import attach_after_write, build_signing, print_attached
    from scratchpack.model.descriptor import Platform
    from scratchpack.operations.copy import CopyOptions, copy
    from scratchpack.transports.names import parse_image_name

    source, destination = parse_image_name(args.source), parse_image_name(args.destination)
    check_digestfile(args.digestfile)
    if args.with_signatures:
        from scratchpack.signing import carry

        carry.check(source, destination)
    if args.sbom and args.all:
        raise UsageError("--sbom describes one image: copy one platform (--platform), not --all")
    signing = build_signing(args, destination)
    options = registry_options(args, args.dest_tls_verify, args.dest_creds)
    # one side's flags must not reach the other: its own options (and clients) then
    sided = (args.src_creds, args.dest_creds, args.src_tls_verify, args.dest_tls_verify)
    source_options = None
    if any(flag is not None for flag in sided):
        source_options = registry_options(args, args.src_tls_verify, args.src_creds)
    copy_options = CopyOptions(
        source=source,
        destination=destination,
        all_platforms=args.all,
        platform=Platform.parse(args.platform) if args.platform else None,
        force=args.force,
        registry=options,
        source_registry=source_options,
    )
    carried = None
    attached = None
    try:
        result = copy(copy_options)
        if args.with_signatures:
            carried = _carry_signatures(copy_options, result.digest, result.preserved)
        if signing is not None:  # after the carried ones: this signature is added to them
            attached = attach_after_write(args, signing, "copy", destination, result.digest,
                                          options, _copy_inputs(result))  # fmt: skip
    finally:
        options.close()
        if source_options is not None:
            source_options.close()
    if args.digestfile:
        write_digest(args.digestfile, str(result.digest))
    if args.format == "json":
        print(json.dumps({
            "source": result.source,
            "destination": result.destination,
            "manifest_digest": str(result.digest),
            "image_id": str(result.image_id) if result.image_id else None,
            "digest": str(result.digest),  # the name before manifest_digest
            "media_type": result.media_type,
            "manifests": result.manifests,
            "digest_preserved": result.preserved,
            "blobs": result.outcomes,
            **({"signatures": {"tags": carried.tags,
                               "referrers": [str(d) for d in carried.referrers]}}
               if carried is not None else {}),
            **({"signing": attached} if attached else {}),
        }, indent=2))  # fmt: skip
        return 0
    if args.quiet:
        return 0
    blobs = ", ".join(f"{n} {k}" for k, n in sorted(result.outcomes.items())) or "none"
    out.status("Copied", f"{result.source} -> {result.destination}")
    out.fields(
        [
            ("manifest digest", str(result.digest) + ("" if result.preserved else " (converted)")),
            *([("image id", str(result.image_id))] if result.image_id else []),
            ("manifests", str(result.manifests)),
            ("blobs", blobs),
            *(
                [("signatures", f"{len(carried.tags)} tags, {len(carried.referrers)} referrers")]
                if carried is not None
                else []
            ),
        ],
    )
    if attached:
        print_attached(out, attached)
    return 0


def _carry_signatures(options: CopyOptions, digest: Digest, preserved: bool) -> Carried:
    from scratchpack.signing import carry

    if not preserved:
        raise ScratchpackError(
            f"{options.destination}: the image was copied, but its manifest was converted "
            f"(digest {digest}), so no signature of the source's digest applies to it: "
            "signatures not copied"
        )
    return carry.carry(
        options.source, options.destination, digest, options.reading(), options.registry
    )


def _copy_inputs(result: Any) -> list[Any]:
    """The source of a copy: by its manifest digest when the copy kept it (the same bytes),
    else by name alone (an archive or the daemon has no manifest digest of its own)."""
    from scratchpack.operations.provenance import Input, image_input

    if result.preserved:
        return [image_input(result.source, result.digest)]
    return [Input(result.source, uri=result.source)]
