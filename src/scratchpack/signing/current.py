"""cosign's current signature layout: a Sigstore bundle stored as an OCI 1.1 referrer.

``sign --new-bundle-format`` writes what ``cosign sign --new-bundle-format --key`` writes:
the bundle (``bundle.make``) as the one layer (media type
``application/vnd.dev.sigstore.bundle.v0.3+json``) of a referrer manifest whose
``artifactType`` is that media type, whose subject is the signed image and whose annotations
are cosign's (``dev.sigstore.bundle.content: dsse-envelope``,
``dev.sigstore.bundle.predicateType``, ``org.opencontainers.image.created``), found through
the referrers API or its tag fallback (``referrers``). Each signature is its own referrer,
so a second signer adds a manifest instead of rewriting one.

``attach`` is the write both share: ``sign`` attaches the signature statement, and
``attestations.attest_bundle`` an attestation's statement (``attest --new-bundle-format``),
annotated with its own predicate type. ``bundle_referrers`` is the read both share: every
referrer of the image with a bundle artifact type, split by that annotation.

``verify`` skips attestations (``verify-attestation``'s), and checks each signature bundle: the
DSSE signature against the key, that a subject of the statement is the image's digest, and
the ``-a`` annotations. As in the legacy layout, no transparency log is written or read.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.signing import bundle, legacy, referrers
from scratchpack.transports.names import ImageName
from scratchpack.transports.registry.transport import RegistryOptions

CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
MAX_BUNDLES = 16  # bundle layers of one referrer checked, at most


@dataclass
class Signed:
    image: str
    digest: Digest
    referrer: Digest
    listed: str  # where the referrer is listed: the API, the tag index, index.json


@dataclass
class Checked:
    """One signature referrer and why it does not count (``problem`` empty when it does)."""

    referrer: Digest
    problem: str = ""
    claims: bundle.Claims | None = None


@dataclass
class Verified:
    image: str
    digest: Digest
    listed: str
    checked: list[Checked] = field(default_factory=list)

    @property
    def good(self) -> list[bundle.Claims]:
        return [c.claims for c in self.checked if not c.problem and c.claims is not None]


def created() -> str:
    """``SOURCE_DATE_EPOCH`` when set (a reproducible run), else now, as RFC 3339 UTC."""
    from scratchpack.layers.tarwriter import source_date_epoch

    epoch = source_date_epoch() if os.environ.get("SOURCE_DATE_EPOCH", "").strip() else None
    moment = (
        datetime.datetime.fromtimestamp(epoch, datetime.UTC)
        if epoch is not None
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(
    name: ImageName,
    key: ec.EllipticCurvePrivateKey,
    annotations: dict[str, str],
    options: RegistryOptions,
) -> Signed:
    """Sign the image ``name`` points at now with a bundle attached as its referrer."""
    legacy.check_transport(name)
    store = referrers.store_for(name, options, pushing=True)
    subject = store.subject()
    payload = bundle.statement(subject.digest, annotations)
    return attach(store, subject, key, payload, bundle.SIGN_PREDICATE_TYPE, str(name))


def attach(
    store: referrers.Store,
    subject: Descriptor,
    key: ec.EllipticCurvePrivateKey,
    payload: bytes,
    predicate_type: str,
    image: str,
) -> Signed:
    """Sign the in-toto statement ``payload`` into a bundle and attach it to ``subject`` as a
    referrer annotated with ``predicate_type`` (what a reader filters on before it reads the
    bundle): a signature or an attestation, the same way."""
    data = bundle.make(key, payload)
    layer = Descriptor(bundle.MEDIA_TYPE, Digest.of(data), len(data))
    manifest = referrers.referrer_manifest(
        subject,
        bundle.MEDIA_TYPE,
        [layer],
        {
            mt.ANNOTATION_CREATED: created(),
            CONTENT_ANNOTATION: "dsse-envelope",
            PREDICATE_ANNOTATION: predicate_type,
        },
    )
    empty = referrers.EMPTY
    opener = referrers.bytes_opener({layer.digest: data, empty.digest: referrers.EMPTY_DATA})
    listed = store.attach(subject, manifest, [empty, layer], opener)
    return Signed(image, subject.digest, Digest.of(manifest), listed)


@dataclass
class Candidates:
    """The bundle referrers of one image: read (their subject checked), or why not."""

    subject: Descriptor
    listed: str
    found: list[tuple[referrers.Referrer, str]] = field(default_factory=list)  # (it, annotation)
    unreadable: list[Checked] = field(default_factory=list)


def bundle_referrers(store: referrers.Store, signatures: bool) -> Candidates:
    """The image's referrers that hold bundles: signatures (``signatures``, also those with
    no predicate annotation, as cosign's own have) or attestations (any other annotated
    predicate type). Other artifacts (an SBOM, a Notary signature) are not ours to judge."""
    subject = store.subject()
    try:
        listing = store.listing(subject.digest)
    except FormatError as exc:  # an unreadable tag index: the legacy layout may still verify
        result = Candidates(subject, referrers.TAG_SCHEMA)
        result.unreadable.append(Checked(subject.digest, str(exc)))
        return result
    result = Candidates(subject, listing.via)
    for entry in listing.entries:
        if not (entry.artifact_type or bundle.MEDIA_TYPE).startswith(bundle.MEDIA_TYPE_PREFIX):
            continue
        predicate = entry.annotations.get(PREDICATE_ANNOTATION, bundle.SIGN_PREDICATE_TYPE)
        if (predicate == bundle.SIGN_PREDICATE_TYPE) != signatures:
            continue
        try:
            referrer = referrers.read_referrer(store, entry, subject.digest)
        except referrers.OtherSubjectError as exc:
            if listing.via != referrers.LAYOUT_INDEX:  # a layout lists every image's
                result.unreadable.append(Checked(entry.digest, str(exc)))
            continue
        except ScratchpackError as exc:
            result.unreadable.append(Checked(entry.digest, f"cannot read the referrer: {exc}"))
            continue
        result.found.append((referrer, predicate))
    return result


def bundle_layers(referrer: referrers.Referrer) -> list[Descriptor]:
    """The bundle layers of a referrer, at most MAX_BUNDLES of them."""
    return [
        layer
        for layer in referrer.manifest.layers[:MAX_BUNDLES]
        if layer.media_type.startswith(bundle.MEDIA_TYPE_PREFIX)
    ]


def verify(
    name: ImageName,
    key: ec.EllipticCurvePublicKey,
    annotations: dict[str, str],
    options: RegistryOptions,
) -> Verified:
    """Check every signature bundle among the image's referrers."""
    legacy.check_transport(name)
    store = referrers.store_for(name, options, pushing=False)
    candidates = bundle_referrers(store, signatures=True)
    digest = candidates.subject.digest
    result = Verified(str(name), digest, candidates.listed, list(candidates.unreadable))
    for referrer, _ in candidates.found:
        result.checked.append(_check(store, referrer, key, digest, annotations))
    return result


def _check(
    store: referrers.Store,
    referrer: referrers.Referrer,
    key: ec.EllipticCurvePublicKey,
    digest: Digest,
    annotations: dict[str, str],
) -> Checked:
    checked = Checked(referrer.descriptor.digest)
    layers = bundle_layers(referrer)
    if not layers:
        checked.problem = "the referrer holds no bundle layer"
        return checked
    problems = []
    for layer in layers:
        where = f"bundle {layer.digest.short()}"
        try:
            data = referrers.read_blob(store, layer, bundle.MAX_BUNDLE_BYTES)
            claims = bundle.verify(data, key, where)
        except ScratchpackError as exc:  # FormatError, a missing or altered blob
            problems.append(str(exc))
            continue
        checked.claims = claims
        if claims.predicate_type != bundle.SIGN_PREDICATE_TYPE:
            problems.append(f"{where}: predicate type {claims.predicate_type!r} is no signature")
        elif digest not in claims.digests:
            signed = ", ".join(str(d) for d in claims.digests) or "no digest"
            problems.append(f"{where}: signed for {signed}, the image is {digest}")
        else:
            missing = {k: v for k, v in annotations.items() if claims.annotations.get(k) != v}
            if not missing:
                return checked
            wanted = ", ".join(f"{k}={v}" for k, v in sorted(missing.items()))
            problems.append(f"{where}: the statement lacks the annotations {wanted}")
    checked.problem = "; ".join(problems)
    return checked
