"""cosign's attestations: signed in-toto statements stored beside the image.

Each attestation is one layer of the OCI manifest tagged ``sha256-<hex>.att`` (cosign's
ATTESTATION_SPEC.md), in the registry repository or OCI layout of the image: the blob is a DSSE
envelope (media type ``application/vnd.dsse.envelope.v1+json``) around the statement, with the
layer annotations cosign writes: ``predicateType`` and an empty
``dev.cosignproject.cosign/signature`` (the signature is inside the envelope). A new one is
appended to those already there, through the same append as signatures (``legacy.append_layer``).

Verification checks, per layer: the envelope's signature over PAE with the key, the payload
type, that the statement names the image's manifest digest as a subject, then (optionally) its
predicate type. No transparency log is written or read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.signing import dsse, legacy, statement
from scratchpack.transports.names import ImageName
from scratchpack.transports.registry.transport import RegistryOptions

PREDICATE_ANNOTATION = "predicateType"


def attestation_tag(digest: Digest) -> str:
    """``sha256:abc`` -> ``sha256-abc.att``."""
    return f"{digest.algorithm}-{digest.hex}.att"


@dataclass(frozen=True)
class Attested:
    image: str
    digest: Digest
    attestation_tag: str
    attestations: int  # in the manifest now, this one included
    predicate_type: str
    statement: bytes  # the signed payload


def attach(
    store: legacy.Store,
    digest: Digest,
    key: ec.EllipticCurvePrivateKey,
    predicate_type: str,
    predicate: Any,
    where: str,
) -> Attested:
    """Sign a statement of ``predicate`` about ``digest`` and append it to the ``.att``
    manifest of ``store``; the subject's name is the store's identity (the repository)."""
    data = statement.to_bytes(store.identity(), digest, predicate_type, predicate)
    envelope = dsse.sign(key, dsse.INTOTO_PAYLOAD_TYPE, data).to_bytes()
    if len(envelope) > dsse.MAX_ENVELOPE_BYTES:
        raise ScratchpackError(
            f"{where}: the attestation is {len(envelope)} bytes, more than the "
            f"{dsse.MAX_ENVELOPE_BYTES >> 20} MiB a registry serves as one JSON blob"
        )
    layer = Descriptor(
        dsse.MEDIA_TYPE,
        Digest.of(envelope),
        len(envelope),
        annotations={legacy.SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: predicate_type},
    )
    tag = attestation_tag(digest)
    count = legacy.append_layer(store, tag, layer, envelope, where)
    return Attested(where, digest, tag, count, predicate_type, data)


def attest(
    name: ImageName,
    key: ec.EllipticCurvePrivateKey,
    predicate_type: str,
    predicate: Any,
    options: RegistryOptions,
    identity: str | None = None,
) -> Attested:
    """Attest the image ``name`` points at now (its digest hashed from the manifest read)."""
    store = legacy.store_for(name, options, identity=identity, pushing=True)
    return attach(store, store.image_digest(), key, predicate_type, predicate, str(name))


@dataclass
class Checked:
    """One attestation layer; ``problem`` empty when it verifies (then ``statement`` is set)."""

    layer: Digest
    predicate_type: str  # the statement's once verified, else the layer annotation's
    problem: str = ""
    statement: statement.Statement | None = None


@dataclass
class Verified:
    image: str
    digest: Digest
    attestation_tag: str
    wanted: str | None  # the predicate type asked for, None for any
    checked: list[Checked] = field(default_factory=list)

    @property
    def good(self) -> list[statement.Statement]:
        """The verified statements of the wanted type."""
        return [
            c.statement
            for c in self.checked
            if not c.problem
            and c.statement is not None
            and (self.wanted is None or c.statement.predicate_type == self.wanted)
        ]


def verify(
    name: ImageName,
    key: ec.EllipticCurvePublicKey,
    options: RegistryOptions,
    wanted: str | None = None,
) -> Verified:
    """Check every attestation of the image ``name`` points at against ``key``."""
    store = legacy.store_for(name, options, identity=None, pushing=False)
    digest = store.image_digest()
    tag = attestation_tag(digest)
    result = Verified(str(name), digest, tag, wanted)
    found = store.read(tag)
    if found is None:
        return result
    for layer in found[0].layers[: legacy.MAX_SIGNATURES]:
        result.checked.append(_check(store, layer, key, digest))
    return result


def _check(
    store: legacy.Store, layer: Descriptor, key: ec.EllipticCurvePublicKey, digest: Digest
) -> Checked:
    checked = Checked(layer.digest, layer.annotations.get(PREDICATE_ANNOTATION, "?"))
    if layer.media_type != dsse.MEDIA_TYPE:
        checked.problem = f"layer media type {layer.media_type!r} is not a DSSE envelope"
        return checked
    where = f"attestation {layer.digest.short()}"
    try:
        envelope = dsse.parse(store.blob(layer, dsse.MAX_ENVELOPE_BYTES), where)
    except FormatError as exc:
        checked.problem = str(exc)
        return checked
    except ScratchpackError as exc:  # missing or corrupt: this one counts for nothing
        checked.problem = f"cannot read the envelope: {exc}"
        return checked
    if not envelope.verifies(key):
        checked.problem = "no signature of the envelope verifies with this key"
        return checked
    if envelope.payload_type != dsse.INTOTO_PAYLOAD_TYPE:
        checked.problem = f"payload type {envelope.payload_type!r} is not in-toto's"
        return checked
    try:
        parsed = statement.parse(envelope.payload, where)
    except FormatError as exc:
        checked.problem = str(exc)
        return checked
    checked.predicate_type = parsed.predicate_type
    if not parsed.names(digest):
        named = ", ".join(
            f"{algorithm}:{value}" for _, d in parsed.subjects for algorithm, value in d.items()
        )
        checked.problem = f"the statement is about {named}, the image is {digest}"
        return checked
    checked.statement = parsed
    return checked
