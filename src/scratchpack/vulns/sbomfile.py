"""The packages of an SBOM file, for ``scan --sbom``: CycloneDX JSON (components' purls),
SPDX 2.x JSON (packages' purl external references), syft's JSON (artifacts' purls) and
scratchpack's own ``sbom -o json`` list. Everything is read from the purls, so a Debian
binary's source package comes from syft's ``upstream`` qualifier and the release from
``distro``, as ``sbom`` writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packageurl import PackageURL

from scratchpack.errors import ScratchpackError
from scratchpack.fsutil import read_regular
from scratchpack.operations.sbom.packages import Package
from scratchpack.vulns.db import normalise_name

MAX_SBOM = 512 << 20
_TYPES = {"deb": "deb", "apk": "apk", "pypi": "pypi", "npm": "npm", "golang": "golang",
          "cargo": "cargo"}  # fmt: skip


class SbomError(ScratchpackError):
    """An SBOM file that cannot be read (exit 2: the input is wrong, not the scan)."""

    exit_code = 2


def from_purl(text: str, path: str = "") -> Package | None:
    """A package from its purl; None for types no advisory database here covers."""
    try:
        purl = PackageURL.from_string(text)
    except ValueError:
        return None
    kind = _TYPES.get(purl.type)
    if kind is None or not purl.name:
        return None
    name = purl.name
    if kind in ("npm", "golang") and purl.namespace:
        name = f"{purl.namespace}/{purl.name}"
    elif kind == "pypi":
        name = normalise_name("PyPI", name)
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    upstream = str(qualifiers.get("upstream", ""))
    source, _, source_version = upstream.partition("@")
    return Package(kind, name, purl.version or "", path, text,
                   arch=str(qualifiers.get("arch", "")),
                   source="" if source == name else source,
                   source_version=source_version)  # fmt: skip


def _list(value: Any) -> list[Any]:
    """A field that should hold a list: anything else (``true``, a number, an object) holds
    nothing, rather than a TypeError from iterating it."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """A field that should hold text: anything else is no text (``str()`` of a deeply nested
    value would raise RecursionError, and of an object would invent a path)."""
    return value if isinstance(value, str) else ""


def _cyclonedx(doc: dict[str, Any]) -> list[Package]:
    found: list[Package] = []
    stack = list(_list(doc.get("components")))
    while stack:
        component = stack.pop()
        if not isinstance(component, dict):
            continue
        stack.extend(c for c in _list(component.get("components")) if isinstance(c, dict))
        purl = component.get("purl")
        if not isinstance(purl, str):
            continue
        path = ""
        for prop in _list(component.get("properties")):
            if isinstance(prop, dict) and prop.get("name") in (
                "scratchpack:location", "syft:location:0:path"
            ):  # fmt: skip
                path = _text(prop.get("value"))
        package = from_purl(purl, path)
        if package is not None:
            found.append(package)
    return found


def _spdx(doc: dict[str, Any]) -> list[Package]:
    found: list[Package] = []
    for entry in _list(doc.get("packages")):
        if not isinstance(entry, dict):
            continue
        path = _text(entry.get("sourceInfo")).removeprefix("found in ")
        for ref in _list(entry.get("externalRefs")):
            if isinstance(ref, dict) and ref.get("referenceType") == "purl":
                package = from_purl(_text(ref.get("referenceLocator")), path)
                if package is not None:
                    found.append(package)
    return found


def _purls(items: list[Any]) -> list[Package]:
    found: list[Package] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("purl"), str):
            locations = item.get("locations")
            path = _text(item.get("path"))
            if not path and isinstance(locations, list) and locations:
                first = locations[0]
                path = _text(first.get("path")) if isinstance(first, dict) else ""
            package = from_purl(item["purl"], path)
            if package is not None:
                found.append(package)
    return found


def read_sbom(path: Path) -> list[Package]:
    """The packages an SBOM file lists, sorted, duplicates removed."""
    import msgspec

    try:
        doc = msgspec.json.decode(read_regular(path, MAX_SBOM))
    except OSError as exc:
        raise SbomError(f"{path}: {exc.strerror or exc}") from exc
    except msgspec.DecodeError as exc:
        raise SbomError(f"{path}: not JSON ({exc})") from exc
    except RecursionError as exc:
        raise SbomError(f"{path}: JSON nested too deeply: refused") from exc
    if isinstance(doc, list):
        return sorted(set(_purls(doc)))  # scratchpack sbom -o json
    if not isinstance(doc, dict):
        raise SbomError(f"{path}: not an SBOM (CycloneDX, SPDX or syft JSON)")
    if doc.get("bomFormat") == "CycloneDX":
        return sorted(set(_cyclonedx(doc)))
    if isinstance(doc.get("spdxVersion"), str):
        return sorted(set(_spdx(doc)))
    if isinstance(doc.get("artifacts"), list):
        return sorted(set(_purls(doc["artifacts"])))  # syft's own JSON
    raise SbomError(f"{path}: not an SBOM (CycloneDX, SPDX or syft JSON)")
