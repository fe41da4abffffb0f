"""The simple signing payload cosign signs: which image (manifest digest) under which name.

``{"critical": {"identity": {"docker-reference": REPO}, "image": {"docker-manifest-digest":
DIGEST}, "type": "cosign container image signature"}, "optional": ANNOTATIONS | null}``, as
containers/image's signature format with cosign's type (cosign's SIGNATURE_SPEC.md). The
bytes are what is signed, so a verifier parses the payload it checked and never a re-encoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scratchpack.errors import FormatError
from scratchpack.model.digest import Digest

MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD_BYTES = 1 << 20  # cosign's are ~250 bytes; a bound before anything is parsed


@dataclass(frozen=True)
class Payload:
    docker_reference: str
    manifest_digest: Digest
    annotations: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Compact JSON in the field order of cosign's Go structs (the optional map sorted,
        as Go's encoding/json writes maps): one payload, one byte string, every run."""
        doc = {
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": str(self.manifest_digest)},
                "type": SIGNATURE_TYPE,
            },
            "optional": dict(sorted(self.annotations.items())) if self.annotations else None,
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()

    def to_json(self) -> Any:
        return json.loads(self.to_bytes())


def parse(data: bytes, where: str) -> Payload:
    """A payload's claims; a document of another type or shape is a FormatError."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise FormatError(f"{where}: a {len(data)}-byte payload is too large")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError(f"{where}: the payload is not JSON ({exc})") from None
    critical = doc.get("critical") if isinstance(doc, dict) else None
    if not isinstance(critical, dict):
        raise FormatError(f"{where}: the payload has no 'critical' object")
    if critical.get("type") != SIGNATURE_TYPE:
        raise FormatError(
            f"{where}: payload type {critical.get('type')!r} is not {SIGNATURE_TYPE!r}"
        )
    identity, image = critical.get("identity"), critical.get("image")
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(reference, str) or not isinstance(digest, str):
        raise FormatError(f"{where}: the payload lacks docker-reference or docker-manifest-digest")
    optional = doc.get("optional")
    if optional is not None and not isinstance(optional, dict):
        raise FormatError(f"{where}: the payload's 'optional' is not an object")
    try:
        parsed = Digest.parse(digest)
    except (ValueError, FormatError) as exc:
        raise FormatError(f"{where}: bad docker-manifest-digest {digest!r} ({exc})") from None
    return Payload(reference, parsed, dict(optional or {}))
