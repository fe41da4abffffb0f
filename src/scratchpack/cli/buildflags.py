"""The supply-chain flags of the commands that write an image (pack, build, copy): ``--sign``,
``--sbom``, ``--provenance``, ``--new-bundle-format``.

Apart from :mod:`scratchpack.cli.signing`, which does the signing: building a command's parser
and finding out that nothing is to be signed must not import the ~580 lines of the signing
commands (issue 17: they were part of every ``pack``'s start-up)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_build_flags(p: argparse.ArgumentParser) -> None:
    """The supply-chain flags of a command that writes an image."""
    g = p.add_argument_group("signing at build time (cosign's key-pair mode, offline)")
    g.add_argument("--sign", type=Path, metavar="KEY",
                   help="sign the written image with this cosign.key (.sig tag); the password "
                   "from $COSIGN_PASSWORD or the terminal; docker:// and oci: only")  # fmt: skip
    g.add_argument("--sbom", action="store_true",
                   help="attach the image's CycloneDX SBOM as a signed attestation (needs "
                   "--sign)")  # fmt: skip
    g.add_argument("--provenance", action="store_true",
                   help="attach SLSA v1 provenance (builder, options, inputs with their "
                   "digests) as a signed attestation (needs --sign)")  # fmt: skip
    g.add_argument("--new-bundle-format", action="store_true",
                   help="sign and attest in cosign's current layout: Sigstore bundles as OCI "
                   "1.1 referrers of the image, not the .sig/.att tags (needs --sign)")  # fmt: skip


def wants_signing(args: argparse.Namespace) -> bool:
    """Whether any of the flags above was given (else nothing of signing is needed)."""
    bundles = bool(getattr(args, "new_bundle_format", False))
    return args.sign is not None or bool(args.sbom) or bool(args.provenance) or bundles
