"""cosign's attestations: signed in-toto statements stored beside the image.

Each attestation is one layer of the OCI manifest tagged ``sha256-<hex>.att`` (cosign's
ATTESTATION_SPEC.md), in the registry repository or OCI layout of the image: the blob is a DSSE
envelope (media type ``application/vnd.dsse.envelope.v1+json``) around the statement, with the
layer annotations cosign writes: ``predicateType`` and an empty
``dev.cosignproject.cosign/signature`` (the signature is inside the envelope). A new one is
appended to those already there, through the same append as signatures (``legacy.append_layer``).

With ``--new-bundle-format`` (cosign 2.4 and later) the attestation is instead a Sigstore bundle
(the DSSE envelope around the same statement) attached as an OCI 1.1 referrer of the image,
annotated ``dev.sigstore.bundle.predicateType`` with the statement's predicate type: the
write is the one signatures use (``current.attach``), and so is the listing
(``current.bundle_referrers``: the referrers API, its tag fallback, ``index.json``).

Verification checks both kinds, per layer or bundle: the envelope's signature over PAE with
the key, the payload type, that the statement names the image's manifest digest as a subject,
then (optionally) its predicate type; for a bundle, also that the referrer's (unsigned)
annotation agrees with the signed predicate type, since readers filter on it. No
transparency log is written or read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.signing import bundle, current, dsse, legacy, referrers, statement
from scratchpack.transports.names import ImageName, OciName, RegistryName
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


def attest_bundle(
    name: ImageName,
    key: ec.EllipticCurvePrivateKey,
    predicate_type: str,
    predicate: Any,
    options: RegistryOptions,
) -> current.Signed:
    """Attest the image ``name`` points at now with a bundle referrer (cosign's
    ``--new-bundle-format``); the subject is named by repository as in the legacy layout."""
    legacy.check_transport(name)
    store = referrers.store_for(name, options, pushing=True)
    subject = store.subject()
    assert isinstance(name, RegistryName | OciName)  # check_transport refused the others
    identity = legacy.default_identity(name)
    return attach_bundle(store, subject, key, predicate_type, predicate, identity)


def attach_bundle(
    store: referrers.Store,
    subject: Descriptor,
    key: ec.EllipticCurvePrivateKey,
    predicate_type: str,
    predicate: Any,
    name: str,
) -> current.Signed:
    """The statement of ``predicate`` about ``subject``, signed into a bundle referrer."""
    data = statement.to_bytes(name, subject.digest, predicate_type, predicate)
    if len(data) > bundle.MAX_BUNDLE_BYTES // 2:  # base64 in the bundle grows it by 4/3
        raise ScratchpackError(
            f"{name}: the attestation is {len(data)} bytes, more than a bundle of "
            f"{bundle.MAX_BUNDLE_BYTES >> 20} MiB holds"
        )
    return current.attach(store, subject, key, data, predicate_type, name)


@dataclass
class Checked:
    """One attestation layer or bundle; ``problem`` empty when it verifies (then ``statement``
    is set)."""

    layer: Digest
    predicate_type: str  # the statement's once verified, else the layer annotation's
    problem: str = ""
    statement: statement.Statement | None = None
    kind: str = "legacy"  # legacy (the .att tag) or bundle


@dataclass
class Verified:
    image: str
    digest: Digest
    attestation_tag: str
    wanted: str | None  # the predicate type asked for, None for any
    checked: list[Checked] = field(default_factory=list)
    bundles_listed: str = ""  # where bundle referrers were looked for

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
    """Check every attestation of the image ``name`` points at against ``key``: the layers of
    its ``.att`` tag, then its attestation bundle referrers."""
    store = legacy.store_for(name, options, identity=None, pushing=False)
    digest = store.image_digest()
    tag = attestation_tag(digest)
    result = Verified(str(name), digest, tag, wanted)
    found = store.read(tag)
    if found is not None:
        for layer in found[0].layers[: legacy.MAX_SIGNATURES]:
            result.checked.append(_check(store, layer, key, digest))
    holder = referrers.store_for(name, options, pushing=False)
    candidates = current.bundle_referrers(holder, signatures=False)
    result.bundles_listed = candidates.listed
    if candidates.subject.digest != digest:  # the tag moved between the two reads
        raise ScratchpackError(
            f"{name} moved from {digest} to {candidates.subject.digest} while it was verified"
        )
    for unreadable in candidates.unreadable:
        result.checked.append(Checked(unreadable.referrer, "?", unreadable.problem, kind="bundle"))
    for referrer, annotated in candidates.found:
        layers: list[Descriptor | None] = [*current.bundle_layers(referrer)] or [None]
        for held in layers:
            result.checked.append(_check_bundle(holder, referrer, held, annotated, key, digest))
    return result


def _check_bundle(
    store: referrers.Store,
    referrer: referrers.Referrer,
    layer: Descriptor | None,
    annotated: str,
    key: ec.EllipticCurvePublicKey,
    digest: Digest,
) -> Checked:
    checked = Checked(referrer.descriptor.digest, annotated, kind="bundle")
    if layer is None:
        checked.problem = "the referrer holds no bundle layer"
        return checked
    where = f"bundle {layer.digest.short()}"
    try:
        claims = bundle.verify(
            referrers.read_blob(store, layer, bundle.MAX_BUNDLE_BYTES), key, where
        )
        parsed = statement.parse(claims.payload, where)
    except ScratchpackError as exc:  # malformed, a bad signature, a missing or altered blob
        checked.problem = str(exc)
        return checked
    checked.predicate_type = parsed.predicate_type
    if parsed.predicate_type != annotated:
        checked.problem = (
            f"the referrer is annotated {annotated!r}, the signed statement is of type "
            f"{parsed.predicate_type!r}"
        )
    elif not parsed.names(digest):
        checked.problem = f"the statement is about {_named(parsed)}, the image is {digest}"
    else:
        checked.statement = parsed
    return checked


def _named(parsed: statement.Statement) -> str:
    return ", ".join(
        f"{algorithm}:{value}" for _, d in parsed.subjects for algorithm, value in d.items()
    )


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
        checked.problem = f"the statement is about {_named(parsed)}, the image is {digest}"
        return checked
    checked.statement = parsed
    return checked
