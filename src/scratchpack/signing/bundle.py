"""The Sigstore bundle cosign's current layout stores: one signature, or one attestation, of
one image.

What ``cosign sign --new-bundle-format --key`` writes (cosign v3, sigstore-go's
``sign.Bundle`` over ``sign.DSSEData``): a bundle v0.3 (protobuf-specs' JSON) whose
``verificationMaterial`` names the key by ``publicKey.hint`` (base64 of the SHA-256 of its
PKIX DER) and holds no transparency log entry, and whose content is a DSSE envelope: payload
type ``application/vnd.in-toto+json``, the payload an in-toto Statement v1 with the image's
manifest digest as its one subject (the ``-a`` annotations on that subject) and predicate type
``https://sigstore.dev/cosign/sign/v1`` with an empty predicate, signed (ECDSA P-256, SHA-256)
over DSSE's pre-authentication encoding of type and payload. An attestation (``cosign attest
--new-bundle-format``) is the same envelope around the attestation's own statement (its
predicate type and predicate, the subject named by repository and digest). ``cosign verify``
checks the signature, then that a subject's digest is the image's; there is no
docker-reference in this format, so a copy to another repository verifies as it is.

A bundle with a certificate (keyless) or a message signature is read but does not verify
here: the reason says which. Parsing is bounded (the document's size, the number of
signatures) because a bundle is whatever a registry or a layout hands us.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.errors import FormatError
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import canonical_json
from scratchpack.signing import keys
from scratchpack.signing.dsse import INTOTO_PAYLOAD_TYPE, pae
from scratchpack.signing.statement import STATEMENT_V01, STATEMENT_V1

MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
PAYLOAD_TYPE = INTOTO_PAYLOAD_TYPE
STATEMENT_TYPE = STATEMENT_V1
STATEMENT_TYPES = (STATEMENT_V1, STATEMENT_V01)
SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1"
MAX_BUNDLE_BYTES = 1 << 20  # cosign's are ~1.5 kB; bounded before anything is parsed
MAX_ENVELOPE_SIGNATURES = 16


class BundleError(FormatError):
    """A bundle that is malformed, or that does not verify (the message says which)."""


@dataclass(frozen=True)
class Claims:
    """What a verified bundle says: the signed statement, as signed."""

    statement: dict[str, Any]
    predicate_type: str
    digests: tuple[Digest, ...]
    annotations: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""  # the signed statement's bytes, for a reader that parses it again


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """base64(SHA-256(PKIX DER)): the hint cosign's key pair puts in ``publicKey.hint``."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def statement(digest: Digest, annotations: dict[str, str]) -> bytes:
    """The in-toto Statement cosign signs for an image: its digest, the annotations on it."""
    subject: dict[str, Any] = {"digest": {digest.algorithm: digest.hex}}
    if annotations:
        subject["annotations"] = dict(sorted(annotations.items()))
    doc = {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": SIGN_PREDICATE_TYPE,
        "predicate": {},
    }
    return canonical_json(doc)


def make(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """A bundle v0.3 over the in-toto statement ``payload`` (a signature's, ``statement``, or
    an attestation's): the JSON bytes stored as the layer. The same envelope serves both, as
    in cosign, where only the statement's predicate type tells a signature from an
    attestation.

    ``tlogEntries`` is written empty rather than left out: protobuf's JSON omits an empty
    list, but sigstore-js requires the field, and every reader accepts the empty list."""
    signature = keys.sign(key, pae(PAYLOAD_TYPE, payload))
    doc = {
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(key.public_key())},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode()}],
        },
    }
    return canonical_json(doc)


def verify(data: bytes, key: ec.EllipticCurvePublicKey, where: str) -> Claims:
    """The claims of a bundle whose DSSE signature verifies with ``key``; else BundleError.

    Only the signature is checked here; which digest and annotations must be claimed is the
    caller's (``Claims.digests``, ``Claims.annotations``)."""
    doc = _object_of(data, where)
    media_type = doc.get("mediaType")
    if not isinstance(media_type, str) or not media_type.startswith(MEDIA_TYPE_PREFIX):
        raise BundleError(f"{where}: not a Sigstore bundle (mediaType {media_type!r})")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise BundleError(f"{where}: the bundle has no verificationMaterial")
    if "publicKey" not in material:
        raise BundleError(
            f"{where}: the bundle is signed with a certificate (keyless), not a key; "
            "only key-pair bundles are verified"
        )
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        kind = "a message signature" if "messageSignature" in doc else "no DSSE envelope"
        raise BundleError(f"{where}: the bundle holds {kind}, not a signed statement")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise BundleError(
            f"{where}: DSSE payload type {envelope.get('payloadType')!r} is not {PAYLOAD_TYPE!r}"
        )
    payload = _b64(envelope.get("payload"), "the DSSE payload", where)
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise BundleError(f"{where}: the DSSE envelope has no signatures")
    signed = pae(PAYLOAD_TYPE, payload)
    good = False
    for entry in signatures[:MAX_ENVELOPE_SIGNATURES]:
        sig = entry.get("sig") if isinstance(entry, dict) else None
        if isinstance(sig, str) and keys.verifies(key, signed, _b64(sig, "a signature", where)):
            good = True
            break
    if not good:
        raise BundleError(f"{where}: the signature does not verify with this key")
    return _claims(payload, where)


def _claims(payload: bytes, where: str) -> Claims:
    doc = _object_of(payload, f"{where}: statement")
    if doc.get("_type") not in STATEMENT_TYPES:
        kind = doc.get("_type")
        raise BundleError(f"{where}: the payload is not an in-toto Statement ({kind!r})")
    predicate_type = doc.get("predicateType")
    if not isinstance(predicate_type, str):
        raise BundleError(f"{where}: the statement has no predicateType")
    subjects = doc.get("subject")
    if not isinstance(subjects, list):
        raise BundleError(f"{where}: the statement has no subject list")
    digests: list[Digest] = []
    annotations: dict[str, Any] = {}
    for subject in subjects[:MAX_ENVELOPE_SIGNATURES]:
        hexes = subject.get("digest") if isinstance(subject, dict) else None
        value = hexes.get("sha256") if isinstance(hexes, dict) else None
        if not isinstance(value, str):
            continue
        try:
            digest = Digest.parse(f"sha256:{value}")
        except (ValueError, FormatError):
            continue
        digests.append(digest)
        found = subject.get("annotations")
        if isinstance(found, dict) and not annotations:
            annotations = dict(found)
    return Claims(doc, predicate_type, tuple(digests), annotations, payload)


def _object_of(data: bytes, where: str) -> dict[str, Any]:
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"{where}: {len(data)} bytes is too large for a bundle")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{where}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: not a JSON object")
    return doc


def _b64(value: Any, what: str, where: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{where}: {what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{where}: {what} is not base64") from None
