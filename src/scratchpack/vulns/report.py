"""``scan``'s outputs, in grype's and trivy's conventions: a table row per (package,
advisory), JSON, SARIF 2.1.0 (through the project's SARIF writer, one rule per advisory)
and CycloneDX 1.6 VEX (cyclonedx-python-lib: the affected components and a
``vulnerabilities`` entry each, with its rating, fix and analysis)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from scratchpack.vulns.match import Finding, Result
from scratchpack.vulns.osv import SEVERITIES

# our finding scale (reports/severity.py) for SARIF levels and code scanning's ranking
_SARIF_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info",
                   "negligible": "info", "unknown": "warning"}  # fmt: skip
_NAMESPACE = uuid.UUID("2f3d0b0e-5c1b-4f4e-9a53-7363616e7631")
# OpenVEX's justifications as CycloneDX's nearest ones (ours: neither spec maps the other's)
_OPENVEX_JUSTIFICATION = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


def counts(findings: list[Finding]) -> dict[str, int]:
    """Reported findings by severity, worst first, every severity present."""
    out = dict.fromkeys(SEVERITIES, 0)
    for finding in findings:
        if not finding.suppressed:
            out[finding.severity] += 1
    return out


def rows(findings: list[Finding], *, verbose: bool = False) -> list[list[str]]:
    """package, installed, fixed in, severity, id, summary (suppressed ones with --verbose)."""
    out = []
    for f in findings:
        if f.suppressed and not verbose:
            continue
        summary = f.summary
        if f.suppressed:
            summary = f"suppressed ({f.suppressed_by}: {f.suppressed}) {f.summary}"
        name = f.package.name
        if verbose and f.query.name != f.package.name:
            name = f"{name} ({f.query.name})"  # the source package the advisory names
        out.append([name, f.package.version, f.fixed or "-", f.severity, f.id, summary])
    return out


def as_json(result: Result, image: str, database: dict[str, Any]) -> dict[str, Any]:
    reported = [f for f in result.findings if not f.suppressed]
    return {
        "image": image,
        "database": database,
        "packages_scanned": result.scanned,
        "summary": counts(result.findings),
        "matches": [f.as_dict() for f in reported],
        "suppressed": [f.as_dict() for f in result.findings if f.suppressed],
        "not_scanned": [
            {"package": p.name, "type": p.type, "version": p.version, "reason": why}
            for p, why in result.unmatched
        ],
    }


def sarif(result: Result, image: str) -> dict[str, Any]:
    from scratchpack import __version__
    from scratchpack.reports.sarif import SarifResult, SarifRule, SarifRun, sarif_log

    reported = [f for f in result.findings if not f.suppressed]
    rules: dict[str, SarifRule] = {}
    worst: dict[str, int] = {}
    for f in reported:
        if f.id in worst and worst[f.id] >= f.rank:
            continue
        worst[f.id] = f.rank
        aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
        rule = SarifRule(
            id=f.id, name=f.id.replace("-", ""), short=f.summary or f.id,
            full=f"{f.id}{aliases}: {f.summary}",
            help_markdown=f"**{f.id}**{aliases}: {f.summary}\n\nFixed in: {f.fixed or 'no fix'}",
            help_uri=f"https://osv.dev/vulnerability/{f.id}",
            severity=_SARIF_SEVERITY[f.severity], tags=("security", "vulnerability"),
        )  # fmt: skip
        rules[f.id] = rule
    run = SarifRun(
        tool="scratchpack",
        version=__version__,
        rules=list(rules.values()),
        category=f"scratchpack/scan/{image}",
    )
    for f in reported:
        fix = f"fixed in {f.fixed}" if f.fixed else "no fix yet"
        run.results.append(
            SarifResult(rule_id=f.id, severity=_SARIF_SEVERITY[f.severity],
                        message=f"{f.package.name} {f.package.version}: {f.id} ({f.severity}), "
                        f"{fix}", path=f"{image}{f.package.path}" if f.package.path else image)
        )  # fmt: skip
    return sarif_log(run)


def cyclonedx_vex(result: Result, image: str, digest: str, created: str | None) -> str:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.bom_ref import BomRef
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.impact_analysis import (
        ImpactAnalysisAffectedStatus,
        ImpactAnalysisJustification,
        ImpactAnalysisState,
    )
    from cyclonedx.model.vulnerability import (
        BomTarget,
        BomTargetVersionRange,
        Vulnerability,
        VulnerabilityAnalysis,
        VulnerabilityRating,
        VulnerabilityScoreSource,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    from scratchpack import __version__
    from scratchpack.operations.sbom.formats import timestamp

    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, digest or image))
    bom.metadata.timestamp = timestamp(created)
    bom.metadata.tools.components.add(
        Component(name="scratchpack", version=__version__, type=ComponentType.APPLICATION)
    )
    bom.metadata.component = Component(name=image, version=digest or None,
                                       type=ComponentType.CONTAINER,
                                       bom_ref=BomRef(digest or image))  # fmt: skip
    components: dict[str, Component] = {}
    severities = {s.value: s for s in VulnerabilitySeverity}
    justifications = {j.value: j for j in ImpactAnalysisJustification}
    for f in result.findings:
        ref = f"{f.package.purl}#{f.package.path}"
        if ref not in components:
            try:
                purl = PackageURL.from_string(f.package.purl)
            except ValueError:
                purl = None
            components[ref] = Component(name=f.package.name, version=f.package.version or None,
                                        type=ComponentType.LIBRARY, purl=purl,
                                        bom_ref=BomRef(ref))  # fmt: skip
            bom.components.add(components[ref])
        rating = VulnerabilityRating(
            source=VulnerabilitySource(name="OSV"),
            severity=severities.get(
                {"negligible": "info"}.get(f.severity, f.severity), VulnerabilitySeverity.UNKNOWN
            ),
            score=Decimal(str(f.score)) if f.score is not None else None,
            method=VulnerabilityScoreSource.CVSS_V3_1 if f.score is not None else None,
        )
        if f.suppressed_by == "vex":
            words = f.suppressed.split()
            analysis = VulnerabilityAnalysis(
                state=ImpactAnalysisState.NOT_AFFECTED,
                justification=justifications.get(
                    _OPENVEX_JUSTIFICATION.get(words[0], words[0]) if words else ""
                ),
                detail=f.suppressed,
            )
        elif f.suppressed_by == "ignore":
            analysis = VulnerabilityAnalysis(state=ImpactAnalysisState.IN_TRIAGE,
                                             detail=f"ignored: {f.suppressed}")  # fmt: skip
        else:  # matched by version: whether it can be exploited is the user's analysis
            analysis = VulnerabilityAnalysis(state=ImpactAnalysisState.IN_TRIAGE)
        status = (ImpactAnalysisAffectedStatus.UNAFFECTED if f.suppressed_by == "vex"
                  else ImpactAnalysisAffectedStatus.AFFECTED)  # fmt: skip
        bom.vulnerabilities.add(
            Vulnerability(
                bom_ref=f"{f.id}#{ref}",
                id=f.id,
                source=VulnerabilitySource(name="OSV", url=None),
                ratings=[rating],
                description=f.summary or None,
                recommendation=f"Upgrade {f.package.name} to {f.fixed}" if f.fixed else None,
                analysis=analysis,
                affects=[BomTarget(ref=ref, versions=[
                    BomTargetVersionRange(version=f.package.version, status=status)])],
            )
        )  # fmt: skip
    return str(JsonV1Dot6(bom).output_as_string(indent=2))
