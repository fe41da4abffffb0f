"""Lint configuration: ``.scratchpack.toml`` or ``[tool.scratchpack]`` in ``pyproject.toml``.

Looked up from the current directory upwards; the first file found wins. Keys (all optional)::

    ignore = ["SP206", "DL3059"]          # rule codes to skip (SP or hadolint codes)
    failure-threshold = "warning"          # error | warning | info | none
    trusted-registries = ["docker.io", "ghcr.io"]
    shellcheck = true                      # false: no ShellCheck on RUNs (as --no-shellcheck)
    [severity]
    SP103 = "warning"                      # change a rule's severity
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scratchpack.errors import UsageError

THRESHOLDS = ("error", "warning", "info", "none")


@dataclass(frozen=True)
class LintConfig:
    ignore: frozenset[str] = frozenset()
    failure_threshold: str | None = None
    trusted_registries: frozenset[str] = frozenset()
    severity: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    shellcheck: bool = True  # ShellCheck on every RUN, when its binary is installed


def find_config(start: Path) -> LintConfig:
    for directory in [start, *start.parents]:
        for name in (".scratchpack.toml", "pyproject.toml"):
            path = directory / name
            if not path.is_file():
                continue
            if name == "pyproject.toml" and not _mentions_scratchpack(path):
                continue  # most pyproject.toml files: no TOML parser loaded for them
            data = _load(path)
            if name == "pyproject.toml":
                data = data.get("tool", {}).get("scratchpack")
                if data is None:
                    continue
            return parse_config(data, path)
    return LintConfig()


def _mentions_scratchpack(path: Path) -> bool:
    """Whether the file can hold a [tool.scratchpack] table, in any TOML spelling of it (an
    unreadable file is left to _load to report)."""
    try:
        return b"scratchpack" in path.read_bytes()
    except OSError:
        return True


def _load(path: Path) -> dict[str, Any]:
    import tomllib  # only when a configuration file exists

    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: invalid configuration: {exc}") from exc


def parse_config(data: dict[str, Any], path: Path) -> LintConfig:
    from scratchpack.dockerfile.rules import RULES

    known = {"ignore", "failure-threshold", "trusted-registries", "severity", "shellcheck"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    threshold = data.get("failure-threshold")
    if threshold is not None and threshold not in THRESHOLDS:
        raise UsageError(f"{path}: failure-threshold must be one of {', '.join(THRESHOLDS)}")
    shellcheck = data.get("shellcheck", True)
    if not isinstance(shellcheck, bool):
        raise UsageError(f"{path}: shellcheck must be true or false")
    severity = {str(k).upper(): str(v).lower() for k, v in (data.get("severity") or {}).items()}
    for code, level in severity.items():
        if code not in RULES and not (code.startswith("SC") and code[2:].isdigit()):
            raise UsageError(f"{path}: [severity] names an unknown rule {code}")
        if level not in ("error", "warning", "info"):
            raise UsageError(f"{path}: [severity] {code} must be error, warning or info")
    return LintConfig(
        ignore=frozenset(str(c).upper() for c in data.get("ignore") or []),
        failure_threshold=threshold,
        trusted_registries=frozenset(str(r) for r in data.get("trusted-registries") or []),
        severity=severity,
        source=path,
        shellcheck=shellcheck,
    )
