"""DSSE (Dead Simple Signing Envelope) v1: what cosign wraps an in-toto statement in.

The signature is over ``PAE(payloadType, payload)`` = ``"DSSEv1" SP LEN(type) SP type SP
LEN(body) SP body`` (DSSE protocol.md), never over the bare payload, so a signature made for
one payload type cannot be replayed as another. The envelope is JSON: ``payloadType``,
``payload`` (base64) and ``signatures`` (``keyid``, ``sig``: base64 of the ASN.1 DER ECDSA
signature, as cosign writes it). Written in the field order of go-securesystemslib's structs,
standard base64; read with standard or URL-safe base64, as the spec requires of verifiers.

A verifier hands on the payload bytes it checked (``Envelope.payload``), never a re-encoding
or a second parse of the envelope.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.errors import FormatError
from scratchpack.model.limits import MAX_MANIFEST_BYTES, too_large
from scratchpack.signing import keys

MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"  # the layer's media type (cosign's)
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_ENVELOPE_BYTES = MAX_MANIFEST_BYTES  # an SBOM fits; read from a registry as JSON is
MAX_SIGNATURES = 16  # per envelope: cosign writes one


def pae(payload_type: str, body: bytes) -> bytes:
    """The Pre-Authentication Encoding: the exact bytes that are signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_bytes(self) -> bytes:
        doc = {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures
            ],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def verifies(self, key: ec.EllipticCurvePublicKey) -> bool:
        """At least one signature is ``key``'s over PAE (the keyid is only a hint, so it is
        not consulted: DSSE forbids security decisions on it)."""
        message = pae(self.payload_type, self.payload)
        return any(keys.verifies(key, message, s.sig) for s in self.signatures)


def sign(key: ec.EllipticCurvePrivateKey, payload_type: str, body: bytes) -> Envelope:
    """An envelope with one signature, keyid empty as cosign writes it for a key pair."""
    return Envelope(payload_type, body, (Signature("", keys.sign(key, pae(payload_type, body))),))


def parse(data: bytes, where: str) -> Envelope:
    """An envelope as the spec reads one; anything else is a FormatError naming ``where``."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise FormatError(too_large(f"{where}: the envelope", len(data), MAX_ENVELOPE_BYTES))
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError(f"{where}: the envelope is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{where}: the envelope is not a JSON object")
    payload_type, payload, signatures = (
        doc.get("payloadType"),
        doc.get("payload"),
        doc.get("signatures"),
    )
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise FormatError(f"{where}: the envelope lacks payloadType or payload")
    if not isinstance(signatures, list) or not signatures:
        raise FormatError(f"{where}: the envelope has no signatures")
    if len(signatures) > MAX_SIGNATURES:
        raise FormatError(f"{where}: {len(signatures)} signatures in one envelope")
    parsed = []
    for item in signatures:
        sig = item.get("sig") if isinstance(item, dict) else None
        keyid = item.get("keyid", "") if isinstance(item, dict) else ""
        if not isinstance(sig, str) or not isinstance(keyid, str | None):
            raise FormatError(f"{where}: a signature lacks its 'sig'")
        parsed.append(Signature(keyid or "", _unb64(sig, "a signature", where)))
    return Envelope(payload_type, _unb64(payload, "the payload", where), tuple(parsed))


def _unb64(text: str, what: str, where: str) -> bytes:
    """Standard or URL-safe base64, padded or not (DSSE: verifiers MUST accept either)."""
    padded = text + "=" * (-len(text) % 4)
    try:
        altchars = b"-_" if "-" in text or "_" in text else None
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{where}: {what} is not base64") from None
