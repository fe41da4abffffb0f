"""SBOM documents: CycloneDX 1.6 JSON (cyclonedx-python-lib) and SPDX 2.3 JSON.

Both are reproducible: the serial number / document namespace derive from the image digest,
and the timestamp is ``SOURCE_DATE_EPOCH`` when set, else the image's creation time, else
the Unix epoch, never the clock.

SPDX is written by hand: the format's JSON for packages is a dozen keys, while spdx-tools (the
library that could write it) pulls in rdflib and beartype; the tests validate what we write
with spdx-tools' own validator, which is a dev dependency only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from typing import Any

from scratchpack.operations.sbom.packages import Package

_NAMESPACE = uuid.UUID("6f0a1d6e-5c1b-4f4e-9a53-5c7261746368")  # scratchpack's uuid5 namespace
_CONTACT = re.compile(r"^\s*(?P<name>[^<>]*?)\s*(?:<(?P<email>[^<>\s]+)>)?\s*$")
# A Debian Maintainer field names a team more often than a person: these words, or a list
# address, mean one (SPDX 2.3 7.5 tells "Organization:" from "Person:").
_TEAM = re.compile(
    r"\b(team|maintainers|group|project|developers|debian|packagers|community)\b", re.I
)


def parse_contact(text: str) -> tuple[str, str]:
    """``Name <email>`` (dpkg's Maintainer, RFC 5322-ish) -> (name, email); email may be ''."""
    match = _CONTACT.match(text)
    if match is None:
        return " ".join(text.replace("<", " ").replace(">", " ").split()), ""
    return match.group("name").strip(' "'), match.group("email") or ""


def is_organization(name: str, email: str) -> bool:
    return bool(_TEAM.search(name)) or "@lists." in email or email.startswith("pkg-")


def spdx_supplier(maintainer: str, *, organization: bool = False) -> str:
    """SPDX 2.3's PackageSupplier: ``Organization: NAME (EMAIL)`` or ``Person: NAME (EMAIL)``,
    ``NOASSERTION`` when nothing says who supplies the package."""
    name, email = parse_contact(maintainer)
    name = name.replace("(", "[").replace(")", "]")  # parentheses delimit the email
    if not name and not email:
        return "NOASSERTION"
    kind = "Organization" if organization or is_organization(name, email) else "Person"
    return f"{kind}: {name or email}" + (f" ({email})" if email else "")


def timestamp(created: str | None) -> dt.datetime:
    """A document's time: ``SOURCE_DATE_EPOCH``, else the image's creation, else the epoch
    (never the clock: the same image gives the same document)."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():  # what pack refuses, sbom refuses
        from scratchpack.layers.tarwriter import source_date_epoch

        return dt.datetime.fromtimestamp(source_date_epoch(), dt.UTC)
    if created:
        try:
            parsed = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    return dt.datetime.fromtimestamp(0, dt.UTC)


def cyclonedx_json(
    image_name: str, digest: str, created: str | None, packages: list[Package]
) -> str:
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.bom_ref import BomRef
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    from scratchpack import __version__

    licenses = LicenseFactory()
    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, digest))
    bom.metadata.timestamp = timestamp(created)
    bom.metadata.tools.components.add(
        Component(name="scratchpack", version=__version__, type=ComponentType.APPLICATION)
    )
    bom.metadata.component = Component(
        name=image_name,
        version=digest,
        type=ComponentType.CONTAINER,
        bom_ref=BomRef(digest),
    )
    for package in packages:
        component = Component(
            name=package.name,
            version=package.version or None,
            type=ComponentType.LIBRARY,
            purl=PackageURL.from_string(package.purl),
            bom_ref=BomRef(f"{package.purl}#{package.path}"),
            properties=[Property(name="scratchpack:location", value=package.path)],
        )
        if package.license.strip():  # a blank one became the "expression" " " (not SPDX)
            component.licenses.add(licenses.make_from_string(package.license.strip()))
        if package.supplier:
            name, email = parse_contact(package.supplier)
            component.supplier = OrganizationalEntity(
                name=name or email,
                contacts=[OrganizationalContact(name=name or None, email=email or None)],
            )
        bom.components.add(component)
    # the image contains every package: the dependency graph's root and its direct children
    bom.register_dependency(bom.metadata.component, list(bom.components))
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def image_supplier(labels: dict[str, str]) -> str:
    """The image's SPDX supplier, from its OCI labels: ``org.opencontainers.image.vendor``
    (an organization), else the first of ``.authors``; NOASSERTION when the image does not say
    (and the NTIA minimum elements then are not met: nothing else names who supplies it)."""
    vendor = labels.get("org.opencontainers.image.vendor", "").strip()
    if vendor:
        return spdx_supplier(vendor, organization=True)
    return spdx_supplier(labels.get("org.opencontainers.image.authors", "").split(",")[0])


def spdx_json(
    image_name: str,
    digest: str,
    created: str | None,
    packages: list[Package],
    *,
    supplier: str = "NOASSERTION",
) -> str:
    """SPDX 2.3; ``supplier`` is the image's own, as SPDX writes it (:func:`image_supplier`)."""
    from scratchpack import __version__

    image_id = "SPDXRef-Image"
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image_name,
        "documentNamespace": f"https://scratchpack.invalid/spdx/{uuid.uuid5(_NAMESPACE, digest)}",
        "creationInfo": {
            "created": timestamp(created).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: scratchpack-{__version__}"],
        },
        "packages": [
            {
                "SPDXID": image_id,
                "name": image_name,
                "versionInfo": digest,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "primaryPackagePurpose": "CONTAINER",
                "supplier": supplier,
                "checksums": [
                    {"algorithm": "SHA256", "checksumValue": digest.removeprefix("sha256:")}
                ],
            }
        ],
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": image_id,
            }
        ],
    }
    for n, package in enumerate(packages, 1):
        spdx_id = f"SPDXRef-Package-{package.type}-{n}"
        entry: dict[str, Any] = {
            "SPDXID": spdx_id,
            "name": package.name,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": f"found in {package.path}",
            "primaryPackagePurpose": "LIBRARY",
            "supplier": spdx_supplier(package.supplier),
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": package.purl,
                }
            ],
        }
        if package.version:
            entry["versionInfo"] = package.version
        if package.license.strip():
            entry["licenseComments"] = f"declared by the package: {package.license}"
        document["packages"].append(entry)
        document["relationships"].append(
            {
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": spdx_id,
            }
        )
    return json.dumps(document, indent=2)
