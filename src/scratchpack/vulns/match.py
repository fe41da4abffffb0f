"""Which advisories affect which packages: the SBOM's packages (from an image's scan or an
SBOM file) turned into OSV's (ecosystem, name, version) and compared.

Debian's advisories (DSA, DLA, DEBIAN-CVE) name *source* packages in a release's ecosystem
(``Debian:12``): a binary package is looked up by its dpkg ``Source:`` (and compared at the
source's version when that field gives one, as after a binNMU), as the security tracker
does; the release comes from the image's os-release, carried in the purl's ``distro``
qualifier (``debian-12`` -> ``Debian:12``, ``alpine-3.19.1`` -> ``Alpine:v3.19``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packageurl import PackageURL

from scratchpack.operations.sbom.packages import Package
from scratchpack.vulns.db import Candidate, Store
from scratchpack.vulns.osv import RANK, affects
from scratchpack.vulns.versions import BadVersion


@dataclass(frozen=True)
class Query:
    ecosystem: str
    name: str  # as the advisories name it (Debian: the source package)
    version: str


@dataclass
class Finding:
    package: Package
    query: Query
    id: str
    aliases: tuple[str, ...]
    severity: str
    score: float | None
    fixed: str
    summary: str
    suppressed: str = ""  # why it is not reported (an ignore entry, a VEX statement)
    suppressed_by: str = ""  # "ignore" or "vex"

    @property
    def rank(self) -> int:
        return RANK.get(self.severity, 0)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "severity": self.severity,
            "cvss_score": self.score,
            "package": self.package.name,
            "type": self.package.type,
            "installed": self.package.version,
            "fixed": self.fixed or None,
            "ecosystem": self.query.ecosystem,
            "advisory_package": self.query.name,
            "advisory_version": self.query.version,
            "purl": self.package.purl,
            "path": self.package.path,
            "summary": self.summary,
            **({"suppressed": self.suppressed, "suppressed_by": self.suppressed_by}
               if self.suppressed else {}),
        }  # fmt: skip


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    scanned: int = 0
    unmatched: list[tuple[Package, str]] = field(default_factory=list)  # (package, why)


def _release(distro: str, kind: str) -> str:
    """The OSV ecosystem of a deb/apk package's distribution release."""
    distro_id, _, version = distro.partition("-")
    if kind == "deb" and distro_id == "debian" and version:
        return f"Debian:{version.split('.')[0]}"
    if kind == "apk" and distro_id == "alpine" and version:
        major_minor = ".".join(version.split(".")[:2])
        return f"Alpine:v{major_minor}"
    return ""


def query(package: Package) -> Query | str:
    """The package as OSV names it, or why it cannot be looked up."""
    if not package.version:
        return "no version"
    try:
        purl = PackageURL.from_string(package.purl)
        qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    except ValueError:
        qualifiers = {}
    if package.type in ("deb", "apk"):
        distro = str(qualifiers.get("distro", ""))
        ecosystem = _release(distro, package.type)
        if not ecosystem:
            return f"no advisories for the distribution {distro or '(unknown)'}"
        if package.type == "deb":
            return Query(ecosystem, package.source or package.name,
                         package.source_version or package.version)  # fmt: skip
        return Query(ecosystem, package.name, package.version)
    ecosystem = {"pypi": "PyPI", "npm": "npm", "golang": "Go", "cargo": "crates.io"}.get(
        package.type, ""
    )
    if not ecosystem:
        return f"no advisories for {package.type} packages"
    return Query(ecosystem, package.name, package.version)


def scan(packages: list[Package], store: Store) -> Result:
    """Every package against the store; one finding per (package, advisory)."""
    result = Result(scanned=len(packages))
    cache: dict[tuple[str, str], list[Candidate]] = {}
    for package in packages:
        asked = query(package)
        if isinstance(asked, str):
            result.unmatched.append((package, asked))
            continue
        lookup_key = (asked.ecosystem, asked.name)
        if lookup_key not in cache:
            cache[lookup_key] = store.lookup(asked.ecosystem, asked.name)
        seen: set[str] = set()
        for candidate in cache[lookup_key]:
            if candidate.id in seen:
                continue
            try:
                hit, fixed = affects(candidate.affected, asked.ecosystem, asked.version)
            except BadVersion as exc:
                result.unmatched.append((package, str(exc)))
                break
            if hit:
                seen.add(candidate.id)
                result.findings.append(
                    Finding(package, asked, candidate.id, candidate.aliases, candidate.severity,
                            candidate.score, fixed, candidate.summary)
                )  # fmt: skip
    result.findings.sort(key=lambda f: (-f.rank, f.package.name, f.package.path, f.id))
    return result
