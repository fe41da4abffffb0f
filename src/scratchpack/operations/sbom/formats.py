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
import uuid
from typing import Any

from scratchpack.operations.sbom.packages import Package

_NAMESPACE = uuid.UUID("6f0a1d6e-5c1b-4f4e-9a53-5c7261746368")  # scratchpack's uuid5 namespace


def _timestamp(created: str | None) -> dt.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
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
    from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.bom_ref import BomRef
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    from scratchpack import __version__

    licenses = LicenseFactory()
    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, digest))
    bom.metadata.timestamp = _timestamp(created)
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
        if package.license:
            component.licenses.add(licenses.make_from_string(package.license))
        bom.components.add(component)
    # the image contains every package: the dependency graph's root and its direct children
    bom.register_dependency(bom.metadata.component, list(bom.components))
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def spdx_json(image_name: str, digest: str, created: str | None, packages: list[Package]) -> str:
    from scratchpack import __version__

    image_id = "SPDXRef-Image"
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image_name,
        "documentNamespace": f"https://scratchpack.invalid/spdx/{uuid.uuid5(_NAMESPACE, digest)}",
        "creationInfo": {
            "created": _timestamp(created).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
        if package.license:
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
