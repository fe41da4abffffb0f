"""in-toto Statements: a predicate (provenance, SBOM...) about a subject (the image digest).

``{"_type": ..., "subject": [{"name": REPO, "digest": {"sha256": HEX}}], "predicateType":
URI, "predicate": ...}``. scratchpack writes Statement v1 (``https://in-toto.io/Statement/v1``,
the current in-toto spec); cosign 2 and 3 still write v0.1 and read both, as ``parse`` does.
``--type`` names map to the predicate type URIs cosign maps them to (its
``options.PredicateTypeMap``), and the predicate is built from the file as cosign builds it:
``custom`` wraps the file's text as ``{"Data": TEXT, "Timestamp": RFC3339}``, ``spdx`` keeps
the text as a JSON string, every other type needs a JSON object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scratchpack.errors import FormatError, UsageError
from scratchpack.model.digest import Digest

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
CUSTOM = "https://cosign.sigstore.dev/attestation/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_V1 = "https://slsa.dev/provenance/v1"
CYCLONEDX = "https://cyclonedx.org/bom"
SPDX = "https://spdx.dev/Document"
PREDICATE_TYPES = {
    "custom": CUSTOM,
    "slsaprovenance": SLSA_V02,
    "slsaprovenance02": SLSA_V02,
    "slsaprovenance1": SLSA_V1,
    "spdx": SPDX,
    "spdxjson": SPDX,
    "cyclonedx": CYCLONEDX,
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
}
MAX_SUBJECTS = 1024


def predicate_type(name: str) -> str:
    """A ``--type`` value (a name above, or an absolute URI) -> the predicate type URI."""
    if name in PREDICATE_TYPES:
        return PREDICATE_TYPES[name]
    parts = urlsplit(name)
    if not parts.scheme or not (parts.netloc or parts.path):
        known = "|".join(PREDICATE_TYPES)
        raise UsageError(f"--type {name!r}: give one of {known} or an absolute URI")
    return name


def predicate(kind: str, data: bytes, timestamp: str, where: str) -> Any:
    """The predicate cosign makes of a ``--predicate`` file for ``--type kind``."""
    if kind == "custom":
        return {"Data": _text(data, where), "Timestamp": timestamp}
    if kind == "spdx":
        return _text(data, where)  # cosign keeps SPDX tag-value (or any) text as a string
    try:
        doc = json.loads(data, parse_constant=_not_json)
    except RecursionError:
        raise UsageError(f"{where}: --type {kind}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: --type {kind} needs a JSON object ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: --type {kind} needs a JSON object, not {type(doc).__name__}")
    return doc


def _not_json(name: str) -> Any:
    """Python's json reads ``NaN``, ``Infinity`` and ``-Infinity``; JSON has no such values,
    and a statement holding one is signed but unreadable by cosign and every Go verifier
    (an attestation that only scratchpack could check)."""
    raise ValueError(f"{name} is not a JSON value")


def _text(data: bytes, where: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"{where}: the predicate is not UTF-8 text") from None


def to_bytes(subject: str, digest: Digest, kind: str, body: Any) -> bytes:
    """The statement, compact JSON in the field order of in-toto's Statement message."""
    doc = {
        "_type": STATEMENT_V1,
        "subject": [{"name": subject, "digest": {digest.algorithm: digest.hex}}],
        "predicateType": kind,
        "predicate": body,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True)
class Statement:
    type: str
    subjects: tuple[tuple[str, dict[str, str]], ...]  # (name, {algorithm: hex})
    predicate_type: str
    document: dict[str, Any]  # the whole statement, as parsed from the verified bytes

    def names(self, digest: Digest) -> bool:
        """Whether a subject is the image of this manifest digest."""
        return any(d.get(digest.algorithm) == digest.hex for _, d in self.subjects)


def parse(data: bytes, where: str) -> Statement:
    """A statement of either version; another document is a FormatError naming ``where``."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError(f"{where}: the statement is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{where}: the statement is not a JSON object")
    kind = doc.get("_type")
    if kind not in (STATEMENT_V1, STATEMENT_V01):
        raise FormatError(f"{where}: _type {kind!r} is not an in-toto Statement")
    subjects, ptype = doc.get("subject"), doc.get("predicateType")
    if not isinstance(ptype, str) or not ptype:
        raise FormatError(f"{where}: the statement has no predicateType")
    if not isinstance(subjects, list) or not subjects or len(subjects) > MAX_SUBJECTS:
        raise FormatError(f"{where}: the statement's subject is not a list of 1-{MAX_SUBJECTS}")
    parsed = []
    for item in subjects:
        digests = item.get("digest") if isinstance(item, dict) else None
        if not isinstance(digests, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
        ):
            raise FormatError(f"{where}: a subject has no digest map")
        name = item.get("name", "")
        parsed.append((name if isinstance(name, str) else "", dict(digests)))
    return Statement(str(kind), tuple(parsed), ptype, doc)
