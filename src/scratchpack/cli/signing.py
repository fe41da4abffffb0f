"""``generate-key-pair``, ``sign`` and ``verify``: cosign's key-pair mode, offline.

The password comes from ``COSIGN_PASSWORD`` (set, even empty, it is used as is, as cosign
does), else from a prompt when stdin is a terminal, else the command fails: it never waits
for input nobody can type.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.cli.format import key_values
from scratchpack.cli.helptext import examples
from scratchpack.cli.output import Output
from scratchpack.errors import ScratchpackError, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from scratchpack.transports.names import ImageName
    from scratchpack.transports.registry.transport import RegistryOptions

_NO_TLOG = (
    "no transparency log was consulted: the signatures were checked offline against the "
    "key only (as cosign verify --insecure-ignore-tlog)"
)


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """``parents``: the registry flags and ``--quiet`` every image command takes."""
    g = sub.add_parser(
        "generate-key-pair",
        help="write a cosign-compatible ECDSA P-256 key pair",
        description="Write a cosign-compatible ECDSA P-256 key pair (cosign.key, cosign.pub).",
        **examples(
            "scratchpack generate-key-pair   # prompts twice, or reads $COSIGN_PASSWORD",
            "scratchpack generate-key-pair --output-key-prefix keys/release",
            notes="The private key is sealed as cosign seals it (scrypt N=65536, NaCl "
            "secretbox) with $COSIGN_PASSWORD, else a password typed twice on the terminal; "
            "cosign reads it, and scratchpack reads cosign's.",
        ),
    )
    g.add_argument("--output-key-prefix", default="cosign", metavar="PREFIX",
                   help="write PREFIX.key and PREFIX.pub (default: cosign)")  # fmt: skip
    g.add_argument("--force", action="store_true", help="replace existing key files")
    g.set_defaults(func=cmd_generate_key_pair)

    s = sub.add_parser(
        "sign",
        parents=parents,
        help="sign an image with a cosign key (cosign's .sig tag or a bundle referrer)",
        description="Sign an image with a cosign key, stored as cosign stores it "
        "(tag sha256-<hex>.sig beside the image, or with --new-bundle-format a Sigstore "
        "bundle attached as an OCI 1.1 referrer).",
        **examples(
            "scratchpack sign docker://127.0.0.1:5000/app:1.0 --key cosign.key",
            "scratchpack sign oci:./out/app:latest --key cosign.key -a release=1.0",
            "scratchpack sign docker://127.0.0.1:5000/app:1.0 --key cosign.key --new-bundle-format",
            notes="Signs the manifest digest the name points at now; a signature already "
            "there is kept (this one is added). No transparency log is written.",
        ),
    )
    _common(s, "private key file (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY)")
    s.add_argument("--new-bundle-format", action="store_true",
                   help="cosign's current layout: a Sigstore bundle (DSSE, in-toto statement) "
                   "as an OCI 1.1 referrer of the image (referrers API, else the "
                   "sha256-<hex> tag index; index.json in a layout)")  # fmt: skip
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(func=cmd_sign)

    v = sub.add_parser(
        "verify",
        parents=parents,
        help="verify an image's cosign signatures with a public key",
        description="Verify an image's cosign signatures with a public key, offline.",
        **examples(
            "scratchpack verify docker://127.0.0.1:5000/app:1.0 --key cosign.pub",
            "scratchpack verify oci:./out/app:latest --key cosign.pub -a release=1.0",
            notes="Checks both layouts: the legacy .sig tag and bundle referrers. Prints the "
            "verified payloads (legacy) and statements (bundles) as JSON, and on stderr which "
            "layout each came from. Exit 0: at least one signature verifies and names this "
            "image's digest (and every -a); 1: none does. No transparency log is consulted "
            "(as cosign verify --insecure-ignore-tlog).",
        ),
    )
    _common(v, "public key file (PEM PUBLIC KEY)")
    v.set_defaults(func=cmd_verify)


def _common(p: argparse.ArgumentParser, key_help: str) -> None:
    p.add_argument(
        "image", metavar="IMAGE", help="docker://HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]"
    )
    p.add_argument("--key", type=Path, required=True, metavar="FILE", help=key_help)
    p.add_argument("-a", "--annotation", action="append", default=[], metavar="KEY=VALUE",
                   help="signed as the payload's optional claims; on verify, required")  # fmt: skip
    p.add_argument("--identity", metavar="REPO",
                   help="the docker-reference signed and expected (default: the registry "
                   "repository; for oci: the layout directory's name)")  # fmt: skip


def password(*, confirm: bool) -> bytes:
    """$COSIGN_PASSWORD, else the terminal (twice when ``confirm``), else an error."""
    if "COSIGN_PASSWORD" in os.environ:
        return os.environ["COSIGN_PASSWORD"].encode()
    if not sys.stdin.isatty():
        raise UsageError("no password: set COSIGN_PASSWORD (stdin is not a terminal to ask on)")
    first = getpass.getpass("Enter password for private key: ")
    if confirm and getpass.getpass("Enter password for private key again: ") != first:
        raise UsageError("the passwords do not match")
    return first.encode()


def cmd_generate_key_pair(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.fsutil import atomic_write
    from scratchpack.signing import keys

    prefix = str(args.output_key_prefix)
    key_path, pub_path = Path(prefix + ".key"), Path(prefix + ".pub")
    for path in (key_path, pub_path):
        if path.exists() and not args.force:
            raise ScratchpackError(f"{path} already exists; use --force to replace it")
    pair = keys.generate(password(confirm=True))
    atomic_write(key_path, pair.private_pem, 0o600, fsync=True)
    try:
        atomic_write(pub_path, pair.public_pem, 0o644, fsync=True)
    except BaseException:
        key_path.unlink(missing_ok=True)  # both files or neither
        raise
    sys.stderr.write(f"Private key written to {key_path}\nPublic key written to {pub_path}\n")
    return 0


def cmd_sign(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.options import image_name, registry_options
    from scratchpack.signing import keys, legacy

    annotations = key_values(args.annotation, "-a")
    name = image_name(args.image)
    legacy.check_transport(name)
    if args.new_bundle_format and args.identity:  # refused before a password is asked
        raise UsageError("--identity is the legacy payload's docker-reference; a bundle names "
                         "the image by digest only")  # fmt: skip
    pem = legacy.read_key_file(args.key, "private key")
    key = keys.load_private_key(pem, password(confirm=False), str(args.key))
    options = registry_options(args)
    if args.new_bundle_format:
        try:
            return _sign_bundle(args, out, name, key, annotations, options)
        finally:
            options.close()
    try:
        signed = legacy.sign(name, key, annotations, options, args.identity)
    finally:
        options.close()
    if args.format == "json":
        print(json.dumps({
            "image": signed.image,
            "manifest_digest": str(signed.digest),
            "signature_tag": signed.signature_tag,
            "signatures": signed.signatures,
            "payload": signed.payload.to_json(),
        }, indent=2))  # fmt: skip
    elif not args.quiet:
        out.status("Signed", f"{signed.image} ({signed.digest})")
        out.fields([("signature tag", signed.signature_tag),
                    ("signatures", str(signed.signatures)),
                    ("transparency log", "none (offline key signature)")])  # fmt: skip
    return 0


def _sign_bundle(
    args: argparse.Namespace,
    out: Output,
    name: ImageName,
    key: ec.EllipticCurvePrivateKey,
    annotations: dict[str, str],
    options: RegistryOptions,
) -> int:
    from scratchpack.signing import current

    signed = current.sign(name, key, annotations, options)
    if args.format == "json":
        print(json.dumps({
            "image": signed.image,
            "manifest_digest": str(signed.digest),
            "referrer": str(signed.referrer),
            "listed": signed.listed,
        }, indent=2))  # fmt: skip
    elif not args.quiet:
        out.status("Signed", f"{signed.image} ({signed.digest})")
        out.fields([("bundle referrer", str(signed.referrer)),
                    ("listed in", signed.listed),
                    ("transparency log", "none (offline key signature)")])  # fmt: skip
    return 0


def cmd_verify(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.options import image_name, registry_options
    from scratchpack.signing import current, keys, legacy

    annotations = key_values(args.annotation, "-a")
    name = image_name(args.image)
    legacy.check_transport(name)
    key = keys.load_public_key(legacy.read_key_file(args.key, "public key"), str(args.key))
    options = registry_options(args)
    try:
        old = legacy.verify(name, key, annotations, options, args.identity)
        new = current.verify(name, key, annotations, options)
    finally:
        options.close()
    # (layout, what was checked, problem) for every signature of both layouts
    checked = [(f"legacy {old.signature_tag}", c.layer.short(), c.problem) for c in old.checked]
    checked += [(f"bundle via {new.listed}", c.referrer.short(), c.problem) for c in new.checked]
    good = [*(p.to_json() for p in old.good), *(c.statement for c in new.good)]
    if not good:
        if not checked:
            raise ScratchpackError(
                f"{old.image}: no signatures found ({old.signature_tag}, "
                f"no bundle via {new.listed})"
            )
        reasons = "; ".join(
            f"#{n} {layout} ({what}): {problem}"
            for n, (layout, what, problem) in enumerate(checked, 1)
        )
        raise ScratchpackError(
            f"{old.image}: no signature verifies ({len(checked)} checked: {reasons})"
        )
    if not args.quiet:
        lines = "".join(
            f"  {layout} {what}: {problem or 'verified'}\n" for layout, what, problem in checked
        )
        sys.stderr.write(
            f"Verification for {old.image} ({old.digest}) --\n"
            f"{len(good)} of {len(checked)} signatures verified: the signature against "
            f"{args.key}, the signed manifest digest (and docker-reference, legacy)"
            f"{', the annotations' if annotations else ''}.\n{lines}"
            f"Warning: {_NO_TLOG}.\n"
        )
    print(json.dumps(good))
    return 0
