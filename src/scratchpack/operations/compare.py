"""``compare``: several images side by side, the table people write by hand when they weigh
scratch, alpine, distroless and debian variants of one app. Each column is one audit."""

from __future__ import annotations

from typing import Any

ROWS: tuple[tuple[str, str], ...] = (
    ("compressed", "compressed size"),
    ("uncompressed", "uncompressed size"),
    ("ratio", "x the smallest (compressed)"),
    ("layers", "layers"),
    ("files", "files"),
    ("packages", "packages"),
    ("shell", "shell"),
    ("package_manager", "package manager"),
    ("user", "user"),
    ("starts", "will start"),
    ("efficiency", "efficiency (dive)"),
    ("critical", "critical findings"),
    ("error", "error findings"),
    ("warning", "warning findings"),
    ("info", "info findings"),
)


def column(report: dict[str, Any]) -> dict[str, Any]:
    """The compare values of one audit report."""
    startup = report["startup"]
    starts = not startup["missing"] and startup["kind"] not in (
        "missing",
        "not-executable",
        "other",
    )
    return {
        "image": report["image"],
        "digest": report["digest"],
        "compressed": report["size"]["compressed"],
        "uncompressed": report["size"]["uncompressed"],
        "layers": len(report["layers"]),
        "files": report["size"]["files"],
        "packages": report["packages"]["count"],
        "shell": ", ".join(report["shells"]) or "none",
        "package_manager": ", ".join(report["package_managers"]) or "none",
        "user": "root" if report["user"]["uid"] == 0 else report["user"]["configured"],
        "starts": "yes" if starts else ("no command" if startup["kind"] == "none" else "NO"),
        "efficiency": report["efficiency"]["score"],
        **report["summary"],
    }


def compare(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = [column(r) for r in reports]
    smallest = min(c["compressed"] for c in columns)
    for c in columns:
        c["ratio"] = c["compressed"] / smallest if smallest else 1.0
    return columns
