"""``pack``/``build``/``copy`` ``--sign KEY [--sbom] [--provenance]``: one command, a signed image
with its SBOM and provenance attached.

After the image is written, and only then: its SBOM is made from what was written (read back
from the destination, so it describes exactly those bytes), the image is signed in cosign's
legacy layout (``.sig``), and the SBOM (CycloneDX, predicate ``https://cyclonedx.org/bom``) and
the SLSA v1 provenance are attached as attestations (``.att``), all for the manifest digest
the write returned, not whatever the tag points at by then. With ``--new-bundle-format`` the
signature and each attestation are Sigstore bundles attached as OCI 1.1 referrers instead
(``current.attach``), as ``sign``/``attest --new-bundle-format`` write them. ``check`` runs
before any work: a destination that cannot hold signatures, or ``--sbom``/``--provenance``
without ``--sign``, is a usage error before anything is built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.model.digest import Digest
from scratchpack.signing import attestations, bundle, current, legacy, referrers, statement
from scratchpack.transports.names import ImageName, OciName, RegistryName
from scratchpack.transports.oci_layout import DEFAULT_TAG
from scratchpack.transports.registry.transport import RegistryOptions


def check(
    name: ImageName, *, sign: bool, sbom: bool, provenance: bool, bundles: bool = False
) -> None:
    """The flags' usage errors, before the password is asked or anything is built."""
    if (sbom or provenance) and not sign:
        raise UsageError("--sbom and --provenance are signed attestations: they need --sign KEY")
    if bundles and not sign:
        raise UsageError("--new-bundle-format is how --sign stores its signature: it needs "
                         "--sign KEY")  # fmt: skip
    if sign and not isinstance(name, RegistryName | OciName):
        raise UsageError(
            f"--sign: {name} cannot hold signatures: write to a registry (docker://) or an OCI "
            "layout (oci:), where cosign stores them beside the image"
        )


@dataclass
class Attached:
    signature_tag: str  # empty with bundles
    attestation_tag: str = ""
    attestations: list[str] = field(default_factory=list)  # predicate types, in order
    sbom_packages: int | None = None
    referrers: list[Digest] = field(default_factory=list)  # bundles: signature first
    listed: str = ""  # bundles: where the referrers are listed

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "signature_tag": self.signature_tag or None,
            "attestation_tag": self.attestation_tag or None,
            "attestations": self.attestations,
            "sbom_packages": self.sbom_packages,
        }
        if self.referrers:  # bundles: the keys a script reads for them
            doc["referrers"] = [str(d) for d in self.referrers]
            doc["listed"] = self.listed
        return doc


def attach(
    name: ImageName,
    digest: Digest,
    key: ec.EllipticCurvePrivateKey,
    options: RegistryOptions,
    *,
    sbom: bool,
    provenance: dict[str, Any] | None,
    bundles: bool = False,
) -> Attached:
    """Sign the image ``digest`` just written at ``name``; attach the SBOM (when ``sbom``) and
    the ``provenance`` predicate (when given) as attestations; with ``bundles``, all of them
    as Sigstore bundle referrers (``--new-bundle-format``)."""
    if isinstance(name, OciName) and name.tag is None:  # the tag the write gave it
        name = OciName(name.directory, DEFAULT_TAG)
    sbom_doc, packages = _sbom(name, digest, options) if sbom else (None, None)
    predicates = []
    if sbom_doc is not None:
        predicates.append((statement.CYCLONEDX, sbom_doc))
    if provenance is not None:
        predicates.append((statement.SLSA_V1, provenance))
    if bundles:
        return _attach_bundles(name, digest, key, options, predicates, packages)
    signed = legacy.sign(name, key, {}, options, digest=digest)
    done = Attached(signed.signature_tag, sbom_packages=packages)
    store = legacy.store_for(name, options, identity=None, pushing=True)
    for kind, body in predicates:
        attested = attestations.attach(store, digest, key, kind, body, str(name))
        done.attestation_tag = attested.attestation_tag
        done.attestations.append(kind)
    return done


def _attach_bundles(
    name: ImageName,
    digest: Digest,
    key: ec.EllipticCurvePrivateKey,
    options: RegistryOptions,
    predicates: list[tuple[str, Any]],
    packages: int | None,
) -> Attached:
    """The signature bundle, then one bundle per attestation, each its own referrer of the
    manifest ``digest`` (checked to be what the name points at, as the SBOM's read is)."""
    assert isinstance(name, RegistryName | OciName)  # check() refused the others
    store = referrers.store_for(name, options, pushing=True)
    subject = store.subject()
    if subject.digest != digest:
        raise ScratchpackError(
            f"{name} is {subject.digest} now, not the {digest} just written: another writer "
            "moved the tag; nothing was signed"
        )
    payload = bundle.statement(digest, {})
    signed = current.attach(store, subject, key, payload, bundle.SIGN_PREDICATE_TYPE, str(name))
    done = Attached("", sbom_packages=packages, referrers=[signed.referrer], listed=signed.listed)
    identity = legacy.default_identity(name)
    for kind, body in predicates:
        attested = attestations.attach_bundle(store, subject, key, kind, body, identity)
        done.referrers.append(attested.referrer)
        done.attestations.append(kind)
    return done


def _sbom(name: ImageName, digest: Digest, options: RegistryOptions) -> tuple[Any, int]:
    """The CycloneDX document of the image as written, read back by its tag before the
    signature tags exist (a layout of one image needs no tag to name it then)."""
    from scratchpack.operations.sbom.collect import image_packages
    from scratchpack.operations.sbom.formats import cyclonedx_json
    from scratchpack.transports.dispatch import open_image

    with open_image(name, None, options) as image:
        if image.manifest_digest != digest:
            raise ScratchpackError(
                f"{name} is {image.manifest_digest} now, not the {digest} just written: "
                "another writer moved the tag; nothing was signed"
            )
        packages = image_packages(image, str(name))
        text = cyclonedx_json(str(name), str(digest), image.config.created, packages)
    return json.loads(text), len(packages)
