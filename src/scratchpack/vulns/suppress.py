"""What the user says is not to be reported: an ignore file (grype's and trivy's idea: an
id, optionally a package, a reason and an expiry date) and VEX documents (OpenVEX, or
CycloneDX's ``vulnerabilities[].analysis``) whose ``not_affected`` statements suppress a
finding, their justification kept to be shown.

An ignore entry whose expiry date has passed no longer suppresses, and says so: a
suppression that outlives its reason is how a fixed-in-next-sprint stays unfixed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from scratchpack.errors import ScratchpackError
from scratchpack.fsutil import read_regular
from scratchpack.vulns.match import Finding

MAX_FILE = 16 << 20


class SuppressionError(ScratchpackError):
    """An ignore or VEX file that cannot be read (exit 2: a wrong input)."""

    exit_code = 2


@dataclass(frozen=True)
class Ignore:
    id: str
    package: str = ""
    reason: str = ""
    expires: dt.date | None = None


@dataclass(frozen=True)
class Statement:
    """A VEX ``not_affected`` statement: the vulnerability, the products (purls; none means
    every product), and why."""

    vulnerability: str
    products: tuple[str, ...]
    justification: str


def _read(path: Path) -> bytes:
    try:
        return read_regular(path, MAX_FILE)
    except OSError as exc:
        raise SuppressionError(f"{path}: {exc.strerror or exc}") from exc


def _date(value: object, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise SuppressionError(f"{where}: expires must be a date (YYYY-MM-DD), got {value!r}")


def parse_ignore(data: bytes, where: str) -> list[Ignore]:
    """An ignore file: YAML or TOML, a list ``ignore`` of entries with ``id`` (an advisory id
    or alias), and optional ``package``, ``reason``, ``expires``."""
    import tomllib

    import yaml

    text = data.decode("utf-8", "replace")
    doc: Any
    if where.endswith(".toml"):
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SuppressionError(f"{where}: not TOML ({exc})") from exc
    else:
        try:
            doc = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError) as exc:
            raise SuppressionError(f"{where}: not YAML ({str(exc).splitlines()[0]})") from exc
    if doc is None:
        return []
    items = doc.get("ignore") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise SuppressionError(f"{where}: expected a list 'ignore' of entries")
    entries = []
    for n, raw in enumerate(items):
        at = f"{where}: ignore[{n}]"
        item = {"id": raw} if isinstance(raw, str) else raw
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise SuppressionError(f"{at}: each entry needs an id (an advisory id or alias)")
        for name in ("package", "reason"):
            if item.get(name) is not None and not isinstance(item[name], str):
                raise SuppressionError(f"{at}: {name} must be text")
        entries.append(Ignore(item["id"].strip(), (item.get("package") or "").strip(),
                              (item.get("reason") or "").strip(),
                              _date(item.get("expires"), at)))  # fmt: skip
    return entries


def read_ignore(path: Path) -> list[Ignore]:
    return parse_ignore(_read(path), str(path))


def parse_vex(data: bytes, where: str) -> list[Statement]:
    """OpenVEX (``statements``) or CycloneDX VEX (``vulnerabilities``): the not_affected
    statements."""
    import msgspec

    try:
        doc = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise SuppressionError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise SuppressionError(f"{where}: not a VEX document (OpenVEX or CycloneDX)")
    found: list[Statement] = []
    if isinstance(doc.get("statements"), list):
        for item in doc["statements"]:
            if not isinstance(item, dict) or item.get("status") != "not_affected":
                continue
            vuln = item.get("vulnerability")
            name = vuln.get("name") if isinstance(vuln, dict) else vuln
            if not isinstance(name, str):
                continue
            products = []
            for product in item.get("products") or []:
                ident = product.get("@id") if isinstance(product, dict) else product
                if isinstance(ident, str):
                    products.append(ident)
            why = " ".join(str(item[k]) for k in ("justification", "impact_statement")
                           if isinstance(item.get(k), str))  # fmt: skip
            found.append(Statement(name, tuple(products), why))
        return found
    if isinstance(doc.get("vulnerabilities"), list):
        for item in doc["vulnerabilities"]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            analysis = item.get("analysis")
            if not isinstance(analysis, dict) or analysis.get("state") != "not_affected":
                continue
            refs = [a.get("ref") for a in item.get("affects") or [] if isinstance(a, dict)]
            why = " ".join(str(analysis[k]) for k in ("justification", "detail")
                           if isinstance(analysis.get(k), str))  # fmt: skip
            found.append(Statement(item["id"], tuple(r for r in refs if isinstance(r, str)), why))
        return found
    raise SuppressionError(f"{where}: not a VEX document (OpenVEX or CycloneDX)")


def read_vex(path: Path) -> list[Statement]:
    return parse_vex(_read(path), str(path))


def _names(finding: Finding) -> set[str]:
    return {finding.id, *finding.aliases}


def _product_matches(product: str, finding: Finding) -> bool:
    """A product purl names the finding's package: same type, namespace and name, and the
    same version when the product gives one (qualifiers are not compared). A bom-ref of
    scratchpack's own CycloneDX (``purl#path``) is compared as its purl."""
    try:
        want = PackageURL.from_string(product.split("#", 1)[0])
        have = PackageURL.from_string(finding.package.purl)
    except ValueError:
        return False
    same = (want.type, want.namespace, want.name) == (have.type, have.namespace, have.name)
    return same and (not want.version or want.version == have.version)


def apply(
    findings: list[Finding], ignores: list[Ignore], statements: list[Statement],
    today: dt.date | None = None,
) -> list[str]:  # fmt: skip
    """Mark the suppressed findings; return notes (expired entries) for stderr."""
    today = today or dt.datetime.now(dt.UTC).date()
    notes: list[str] = []
    expired_told: set[Ignore] = set()
    for finding in findings:
        names = _names(finding)
        for entry in ignores:
            if entry.id not in names:
                continue
            if entry.package and entry.package not in (finding.package.name, finding.query.name):
                continue
            if entry.expires is not None and entry.expires < today:
                if entry not in expired_told:
                    expired_told.add(entry)
                    notes.append(f"ignore entry for {entry.id} expired on {entry.expires}: "
                                 "no longer suppressed")  # fmt: skip
                continue
            until = f" (until {entry.expires})" if entry.expires else ""
            finding.suppressed = (entry.reason or "ignored") + until
            finding.suppressed_by = "ignore"
            break
        if finding.suppressed:
            continue
        for statement in statements:
            if statement.vulnerability not in names:
                continue
            if statement.products and not any(
                _product_matches(p, finding) for p in statement.products
            ):
                continue
            finding.suppressed = statement.justification or "not_affected"
            finding.suppressed_by = "vex"
            break
    return notes
