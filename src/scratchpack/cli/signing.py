"""``generate-key-pair``, ``sign``, ``verify``, ``attest`` and ``verify-attestation``: cosign's
key-pair mode, offline; and what the ``--sign``/``--sbom``/``--provenance`` flags of the
commands that write images do (the flags themselves: :mod:`scratchpack.cli.buildflags`).

The password comes from ``COSIGN_PASSWORD`` (set, even empty, it is used as is, as cosign
does), else from a prompt when stdin is a terminal, else the command fails: it never waits
for input nobody can type.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from scratchpack.cli.buildflags import wants_signing
from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.format import key_values
from scratchpack.cli.helptext import examples
from scratchpack.cli.output import Output
from scratchpack.errors import ScratchpackError, UsageError

if TYPE_CHECKING:  # imported by the commands that sign, not by every start-up
    import datetime

    from cryptography.hazmat.primitives.asymmetric import ec

    from scratchpack.model.digest import Digest
    from scratchpack.operations.provenance import Input
    from scratchpack.transports.names import ImageName
    from scratchpack.transports.registry.transport import RegistryOptions

_NO_TLOG = (
    "no transparency log was consulted: the signatures were checked offline against the "
    "key only (as cosign verify --insecure-ignore-tlog)"
)


def add_generate_key_pair(sub: Any, flags: SharedFlags) -> None:
    """No image, no registry: none of the shared flags."""
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


def add_sign(sub: Any, flags: SharedFlags) -> None:
    """This and the three below take the registry flags and ``--quiet`` every image command
    takes."""
    s = sub.add_parser(
        "sign",
        parents=[flags.registry, flags.quiet],
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
    _bundle_flag(s)
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(func=cmd_sign)


def add_verify(sub: Any, flags: SharedFlags) -> None:
    v = sub.add_parser(
        "verify",
        parents=[flags.registry, flags.quiet],
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


def add_attest(sub: Any, flags: SharedFlags) -> None:
    a = sub.add_parser(
        "attest",
        parents=[flags.registry, flags.quiet],
        help="attach a signed in-toto attestation (SBOM, provenance...) to an image",
        description="Attach a signed in-toto attestation to an image, stored as cosign stores "
        "it (a DSSE envelope in the tag sha256-<hex>.att beside the image, or with "
        "--new-bundle-format a Sigstore bundle attached as an OCI 1.1 referrer).",
        **examples(
            "scratchpack attest docker://127.0.0.1:5000/app:1.0 --key cosign.key "
            "--predicate sbom.cdx.json --type cyclonedx",
            "scratchpack attest oci:./out/app:latest --key cosign.key --predicate prov.json "
            "--type slsaprovenance1 --new-bundle-format",
            notes="The statement's subject is the manifest digest the name points at now. "
            f"--type: {'|'.join(_type_names())} or a URI (cosign's names and URIs). Existing "
            "attestations are kept (this one is added). No transparency log is written.",
        ),
    )
    _image_key(a, "private key file (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY)")
    a.add_argument("--predicate", type=Path, required=True, metavar="FILE",
                   help="the predicate (JSON; text for custom and spdx)")  # fmt: skip
    a.add_argument("--type", default="custom", metavar="NAME|URI",
                   help="predicate type name or URI (default custom, as cosign)")  # fmt: skip
    _bundle_flag(a)
    a.add_argument("--format", choices=("text", "json"), default="text")
    a.set_defaults(func=cmd_attest)


def add_verify_attestation(sub: Any, flags: SharedFlags) -> None:
    va = sub.add_parser(
        "verify-attestation",
        parents=[flags.registry, flags.quiet],
        help="verify an image's attestations with a public key",
        description="Verify an image's in-toto attestations with a public key, offline.",
        **examples(
            "scratchpack verify-attestation docker://127.0.0.1:5000/app:1.0 --key cosign.pub",
            "scratchpack verify-attestation oci:./out/app:latest --key cosign.pub "
            "--type slsaprovenance1",
            notes="Checks both layouts: the legacy .att tag and bundle referrers. Prints each "
            "verified statement as JSON, one per line. Exit 0: at least one attestation (of "
            "--type, when given) verifies with the key and names this image's digest; 1: none "
            "does. No transparency log is consulted.",
        ),
    )
    _image_key(va, "public key file (PEM PUBLIC KEY)")
    va.add_argument("--type", metavar="NAME|URI",
                    help="only attestations of this predicate type (name or URI)")  # fmt: skip
    va.set_defaults(func=cmd_verify_attestation)


def _bundle_flag(p: argparse.ArgumentParser | Any) -> None:
    p.add_argument("--new-bundle-format", action="store_true",
                   help="cosign's current layout: a Sigstore bundle (DSSE, in-toto statement) "
                   "as an OCI 1.1 referrer of the image (referrers API, else the "
                   "sha256-<hex> tag index; index.json in a layout)")  # fmt: skip


def _type_names() -> list[str]:
    # the names cosign documents, without its aliases
    return ["slsaprovenance", "slsaprovenance1", "cyclonedx", "spdx", "spdxjson", "custom"]


def _image_key(p: argparse.ArgumentParser, key_help: str) -> None:
    p.add_argument(
        "image", metavar="IMAGE", help="docker://HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]"
    )
    p.add_argument("--key", type=Path, required=True, metavar="FILE", help=key_help)


def _common(p: argparse.ArgumentParser, key_help: str) -> None:
    _image_key(p, key_help)
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
    import getpass  # only when a key is opened: copy and pack import this module for flags

    first = getpass.getpass("Enter password for private key: ")
    if confirm and getpass.getpass("Enter password for private key again: ") != first:
        raise UsageError("the passwords do not match")
    return first.encode()


def _check_free(key_path: Path, pub_path: Path, force: bool) -> None:
    for path in (key_path, pub_path):
        if path.exists() and not force:
            raise ScratchpackError(f"{path} already exists; use --force to replace it")


def cmd_generate_key_pair(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.fsutil import atomic_write, exclusive_lock
    from scratchpack.signing import keys

    prefix = str(args.output_key_prefix)
    key_path, pub_path = Path(prefix + ".key"), Path(prefix + ".pub")
    _check_free(key_path, pub_path, args.force)  # early, before the password is asked for
    pair = keys.generate(password(confirm=True))
    # Why a lock (PREFIX.key.lock, left beside the key): two runs at once each wrote their
    # .key then their .pub, and interleaved left one's key with another's pub (every
    # signature then failed to verify), and both found no file and both "wrote" the pair
    # without --force. Under the lock the check is the authoritative one.
    with exclusive_lock(key_path.with_name(key_path.name + ".lock")):
        _check_free(key_path, pub_path, args.force)
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


def cmd_attest(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.options import image_name, registry_options
    from scratchpack.signing import attestations, keys, legacy, statement

    name = image_name(args.image)
    legacy.check_transport(name)
    kind = statement.predicate_type(args.type)
    data = _read_predicate(args.predicate)
    body = statement.predicate(args.type, data, now(), str(args.predicate))
    pem = legacy.read_key_file(args.key, "private key")
    key = keys.load_private_key(pem, password(confirm=False), str(args.key))
    options = registry_options(args)
    if args.new_bundle_format:
        try:
            bundled = attestations.attest_bundle(name, key, kind, body, options)
        finally:
            options.close()
        _report_attested(args, out, bundled.image, str(bundled.digest), kind, [
            ("referrer", "bundle referrer", str(bundled.referrer)),
            ("listed", "listed in", bundled.listed),
        ])  # fmt: skip
        return 0
    try:
        done = attestations.attest(name, key, kind, body, options)
    finally:
        options.close()
    _report_attested(args, out, done.image, str(done.digest), done.predicate_type, [
        ("attestation_tag", "attestation tag", done.attestation_tag),
        ("attestations", "attestations", done.attestations),
    ])  # fmt: skip
    return 0


def _report_attested(
    args: argparse.Namespace,
    out: Output,
    image: str,
    digest: str,
    kind: str,
    stored: list[tuple[str, str, str | int]],
) -> None:
    """What ``attest`` stored, as JSON or the human summary: one printer for both layouts,
    which differ only in where the attestation went (``stored``: JSON key, label, value)."""
    if args.format == "json":
        document: dict[str, str | int] = {"image": image, "manifest_digest": digest}
        document.update({key: value for key, _, value in stored})
        document["predicate_type"] = kind
        print(json.dumps(document, indent=2))
    elif not args.quiet:
        out.status("Attested", f"{image} ({digest})")
        out.fields([("predicate type", kind),
                    *((label, str(value)) for _, label, value in stored),
                    ("transparency log", "none (offline key signature)")])  # fmt: skip


def _read_predicate(path: Path) -> bytes:
    from scratchpack.fsutil import open_regular
    from scratchpack.signing.dsse import MAX_ENVELOPE_BYTES

    try:
        with open_regular(path) as handle:  # a FIFO blocked for ever
            data = handle.read(MAX_ENVELOPE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read --predicate {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_ENVELOPE_BYTES:
        raise UsageError(f"--predicate {path}: more than {MAX_ENVELOPE_BYTES >> 20} MiB")
    return data


def now() -> str:
    """RFC 3339 UTC: SOURCE_DATE_EPOCH when set (the custom predicate's Timestamp, so a
    rebuild attests the same bytes), else the clock."""
    import datetime as dt

    from scratchpack.layers.tarwriter import source_date_epoch

    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        epoch = source_date_epoch()
    else:
        epoch = int(dt.datetime.now(dt.UTC).timestamp())
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_verify_attestation(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.options import image_name, registry_options
    from scratchpack.signing import attestations, keys, legacy, statement

    name = image_name(args.image)
    legacy.check_transport(name)
    wanted = statement.predicate_type(args.type) if args.type else None
    key = keys.load_public_key(legacy.read_key_file(args.key, "public key"), str(args.key))
    options = registry_options(args)
    try:
        result = attestations.verify(name, key, options, wanted)
    finally:
        options.close()
    good = result.good
    if not good:
        if not result.checked:
            raise ScratchpackError(
                f"{result.image}: no attestations found ({result.attestation_tag}, "
                f"no bundle via {result.bundles_listed})"
            )
        verified = [c for c in result.checked if not c.problem]
        if verified:  # all the failures are of another type
            found = ", ".join(sorted({c.predicate_type for c in verified}))
            raise ScratchpackError(
                f"{result.image}: none of the {len(verified)} verified attestations is of "
                f"type {wanted} (found: {found})"
            )
        reasons = "; ".join(
            f"#{n} {c.kind} ({c.layer.short()}, {c.predicate_type}): {c.problem}"
            for n, c in enumerate(result.checked, 1)
        )
        raise ScratchpackError(
            f"{result.image}: no attestation verifies ({len(result.checked)} checked: {reasons})"
        )
    if not args.quiet:
        where = {"legacy": result.attestation_tag, "bundle": f"via {result.bundles_listed}"}
        lines = "".join(
            f"  {c.kind} {where[c.kind]} {c.layer.short()} ({c.predicate_type}): "
            f"{c.problem or 'verified'}\n"
            for c in result.checked
        )
        sys.stderr.write(
            f"Verification for {result.image} ({result.digest}) --\n"
            f"{len(good)} of {len(result.checked)} attestations verified"
            f"{' of type ' + wanted if wanted else ''}: the DSSE signature against {args.key}, "
            f"the in-toto statement's subject digest.\n{lines}"
            f"Warning: {_NO_TLOG}.\n"
        )
    for verified_statement in good:
        doc = verified_statement.document
        print(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    return 0


# -- at build time: pack, build and copy --sign KEY [--sbom] [--provenance] --------------

_NOT_PARAMETERS = frozenset({
    "func", "command", "quiet", "format", "debug", "sign", "sbom", "provenance", "jobs",
    "creds", "src_creds", "dest_creds", "authfile", "timeout", "retries", "tls_verify",
    "src_tls_verify", "dest_tls_verify", "force", "digestfile", "new_bundle_format",
})  # fmt: skip  # credentials, transport settings, how the output is written: not the build


class BuildSigning(NamedTuple):
    """What --sign/--sbom/--provenance asked for, checked and the key opened before work."""

    key: ec.EllipticCurvePrivateKey
    sbom: bool
    provenance: bool
    started: datetime.datetime | None  # None when SOURCE_DATE_EPOCH is set
    bundles: bool = False  # --new-bundle-format: bundle referrers instead of .sig/.att


def build_signing(args: argparse.Namespace, destination: ImageName) -> BuildSigning | None:
    """None without --sign; else the key, opened now (a wrong password stops the command
    before it builds anything). Usage errors first, before the password is asked."""
    if not wants_signing(args):
        return None  # and nothing of signing imported (pack to oci: starts light)
    bundles = bool(getattr(args, "new_bundle_format", False))
    from scratchpack.operations.supplychain import check

    check(destination, sign=args.sign is not None, sbom=args.sbom, provenance=args.provenance,
          bundles=bundles)  # fmt: skip
    if args.sign is None:
        return None
    import datetime as dt

    from scratchpack.signing import keys, legacy

    pem = legacy.read_key_file(args.sign, "private key")
    key = keys.load_private_key(pem, password(confirm=False), str(args.sign))
    reproducible = bool(os.environ.get("SOURCE_DATE_EPOCH", "").strip())
    started = None if reproducible else dt.datetime.now(dt.UTC)
    return BuildSigning(key, args.sbom, args.provenance, started, bundles)


def attach_after_write(
    args: argparse.Namespace,
    signing: BuildSigning,
    command: str,
    destination: ImageName,
    digest: Digest,
    options: RegistryOptions,
    inputs: list[Input],
) -> dict[str, Any]:
    """Sign what was written and attach the SBOM and provenance; the JSON summary."""
    import datetime as dt

    from scratchpack.operations import provenance
    from scratchpack.operations.supplychain import attach

    predicate = None
    if signing.provenance:
        finished = None if signing.started is None else dt.datetime.now(dt.UTC)
        predicate = provenance.predicate(
            command, parameters(args), inputs, signing.started, finished
        )
    done = attach(destination, digest, signing.key, options, sbom=signing.sbom,
                  provenance=predicate, bundles=signing.bundles)  # fmt: skip
    return done.to_json()


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The options the command was given, as the provenance's externalParameters: JSON
    values, unset ones left out, credentials never in."""
    return {
        name: _json_value(value)
        for name, value in sorted(vars(args).items())
        if name not in _NOT_PARAMETERS and value is not None and value is not False and value != []
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)  # a Path, or what a type= made of the text


def print_attached(out: Output, attached: dict[str, Any]) -> None:
    kinds = ", ".join(attached["attestations"]) or "none"
    if attached.get("referrers"):  # --new-bundle-format: the signature is the first referrer
        out.status("Signed", f"bundle referrer {attached['referrers'][0]}")
        out.fields([("attestations", kinds),
                    ("referrers", str(len(attached["referrers"]))),
                    ("listed in", attached["listed"]),
                    ("transparency log", "none (offline key signature)")])  # fmt: skip
        return
    out.status("Signed", attached["signature_tag"])
    out.fields([("attestations", kinds),
                *([("attestation tag", attached["attestation_tag"])]
                  if attached["attestation_tag"] else []),
                ("transparency log", "none (offline key signature)")])  # fmt: skip
