"""SARIF 2.1.0 logs: the format code-scanning services (GitHub, GitLab, Azure DevOps) ingest.

Written by hand from the OASIS specification because the Python SARIF packages are either
unmaintained object models (sarif-om) or readers (sarif-tools); what a producer needs is a
dozen keys. The tests validate every log we write against the official JSON schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/scratchpack/scratchpack"
LEVELS = {"critical": "error", "error": "error", "warning": "warning", "info": "note"}
# GitHub code scanning's conventions: problem.severity ranks quality results, and a numeric
# security-severity (CVSS-like, 0-10) ranks results tagged "security".
_PROBLEM = {"critical": "error", "error": "error", "warning": "warning", "info": "recommendation"}
_SECURITY = {"critical": "9.0", "error": "7.5", "warning": "5.0", "info": "2.0"}


def rule_name(title: str) -> str:
    """SARIF's ``name``: the title in PascalCase ("Runs as root" -> "RunsAsRoot")."""
    import re

    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"\w+", title))


@dataclass(frozen=True)
class SarifRule:
    id: str
    name: str
    short: str
    full: str
    help_markdown: str
    help_uri: str
    severity: str  # ours: info, warning, error, critical
    tags: tuple[str, ...] = ()


def documented_rule(
    code: str, title: str, why: str, page: str, severity: str, tags: tuple[str, ...]
) -> SarifRule:
    """A rule as lint and audit both describe theirs: the title, why it matters, its
    docs/rules page as help, and that page's published address."""
    return SarifRule(
        id=code,
        name=rule_name(title),
        short=title,
        full=why,
        help_markdown=page,
        help_uri=f"{INFORMATION_URI}/blob/main/docs/rules/{code}.md",
        severity=severity,
        tags=tags,
    )


@dataclass(frozen=True)
class SarifResult:
    rule_id: str
    severity: str
    message: str
    path: str
    line: int = 1
    column: int = 1
    end_line: int | None = None


@dataclass
class SarifRun:
    tool: str
    version: str
    rules: Sequence[SarifRule]
    # runAutomationDetails.id, "category/" (SARIF 2.1.0: the part before the last
    # "/" is the category): code scanning keeps one analysis per category, so lint and audit
    # logs uploaded for the same commit must not replace each other.
    category: str
    results: list[SarifResult] = field(default_factory=list)
    errors: list[tuple[str, str, int]] = field(default_factory=list)  # (path, message, line)
    # (id, description) naming what every error is, e.g. lint's SP000: a notification descriptor,
    # so a consumer can match errors by a stable code as it matches results by ruleId
    error_descriptor: tuple[str, str] | None = None


# RFC 3986 pchar characters kept as they are in a relative reference, besides unreserved ones
# (quote keeps letters, digits and "-._~"). ":" is not among them: in the first segment of a
# relative reference it would read as a scheme ("oci:dir" is not a path to a viewer).
_PATH_SAFE = "/!$&'()*+,;=@"


def _uri(path: str) -> dict[str, str]:
    """A path as a URI: absolute ones as file: URIs, URL-like image names (``docker://``)
    as the absolute URIs they are, relative ones as RFC 3986 relative
    references to the run's source root (as code scanning expects), percent-encoded so that a
    space, "#", "%" or a non-ASCII name survives a viewer's URI parser."""
    import re
    from urllib.parse import quote

    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", path):
        # an image by a URL-like name (docker://host/repo:tag/etc/passwd): an absolute URI
        # as it is, never a file path (Path would fold its "//" into "/")
        scheme, _, rest = path.partition("://")
        return {"uri": f"{scheme}://{quote(rest, safe=_PATH_SAFE + ':[]')}"}
    pure = Path(path)
    if pure.is_absolute():
        return {"uri": pure.as_uri()}
    return {"uri": quote(pure.as_posix(), safe=_PATH_SAFE), "uriBaseId": "%SRCROOT%"}


def _location(path: str, line: int = 1, column: int = 1, end: int | None = None) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": max(line, 1), "startColumn": max(column, 1)}
    if end is not None and end >= line:
        region["endLine"] = end
    return {"physicalLocation": {"artifactLocation": _uri(path), "region": region}}


def _properties(rule: SarifRule) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "tags": list(rule.tags),
        "problem.severity": _PROBLEM[rule.severity],
    }
    if "security" in rule.tags:
        properties["security-severity"] = _SECURITY[rule.severity]
    return properties


def sarif_log(run: SarifRun) -> dict[str, Any]:
    index = {rule.id: n for n, rule in enumerate(run.rules)}
    rules = [
        {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.short},
            "fullDescription": {"text": rule.full},
            "help": {"text": rule.full, "markdown": rule.help_markdown},
            "helpUri": rule.help_uri,
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": _properties(rule),
        }
        for rule in run.rules
    ]
    results = [
        {
            "ruleId": result.rule_id,
            "ruleIndex": index[result.rule_id],
            "level": LEVELS[result.severity],
            "message": {"text": result.message},
            "locations": [_location(result.path, result.line, result.column, result.end_line)],
        }
        for result in run.results
    ]
    notifications: list[dict[str, Any]] = [
        {"level": "error", "message": {"text": message}, "locations": [_location(path, line)]}
        for path, message, line in run.errors
    ]
    driver: dict[str, Any] = {
        "name": run.tool,
        "version": run.version,
        "semanticVersion": run.version,
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    if run.error_descriptor is not None:
        code, description = run.error_descriptor
        driver["notifications"] = [{"id": code, "shortDescription": {"text": description}}]
        for notification in notifications:
            notification["descriptor"] = {"id": code, "index": 0}
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "automationDetails": {"id": run.category},
                "invocations": [
                    {
                        "executionSuccessful": not run.errors,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
