"""Audit findings as a SARIF 2.1.0 log, located in the image (``/path`` inside it)."""

from __future__ import annotations

from typing import Any

from scratchpack.operations.audit import AuditResult
from scratchpack.operations.audit.checks import CHECKS
from scratchpack.operations.audit.docs import DOCS, render_page


def audit_sarif(result: AuditResult) -> dict[str, Any]:
    from scratchpack import __version__
    from scratchpack.reports.sarif import SarifResult, SarifRun, documented_rule, sarif_log

    rules = [
        documented_rule(code, meta.title, DOCS[code].why, render_page(code), str(meta.severity),
                        (meta.category, *([meta.dockle] if meta.dockle else [])))
        for code, meta in sorted(CHECKS.items())
    ]  # fmt: skip
    run = SarifRun("scratchpack", __version__, rules, "scratchpack/audit/")
    image = str(result.report["image"])
    for finding in result.findings:
        # a location code scanning can show: the image, and the path inside it when there is one
        where = f"{image}{finding.path}" if finding.path else image
        run.results.append(SarifResult(finding.code, str(finding.severity), finding.message, where))
    return sarif_log(run)
