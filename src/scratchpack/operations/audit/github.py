"""Audit findings as GitHub Actions workflow commands (``audit --format github``).

The findings are in the image, not in the repository, so each annotation names the file as
``IMAGE/path/in/image`` (the same location as the SARIF log), at line 1; the runner shows them
in the job's summary. The escaping is lint's (reports/github.py).
"""

from __future__ import annotations

from scratchpack.operations.audit import AuditResult
from scratchpack.operations.audit.checks import CHECKS
from scratchpack.reports.github import annotation
from scratchpack.reports.severity import Severity

_KINDS = {
    Severity.CRITICAL: "error",
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "notice",
}


def audit_annotations(result: AuditResult, crossed: list[str]) -> list[str]:
    """One annotation per finding, then one error per dive-style threshold crossed."""
    image = str(result.report["image"])
    lines = [
        annotation(
            _KINDS[finding.severity],
            f"{image}{finding.path}" if finding.path else image,
            1,
            1,
            f"{finding.code} {CHECKS[finding.code].title}",
            finding.message,
        )
        for finding in result.findings
    ]
    lines += [annotation("error", image, 1, 1, "threshold crossed", line) for line in crossed]
    return lines
