"""The CLI's small text conversions: human-readable numbers (sizes are units.human_size,
shared with the reports) and the KEY=VALUE arguments several commands take."""

from __future__ import annotations

from scratchpack.errors import UsageError
from scratchpack.units import human_size

__all__ = ["human_size", "key_values", "percent"]


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def key_values(items: list[str], what: str) -> dict[str, str]:
    """``--label a=b``, ``-a k=v``...: the last of a repeated key wins; no ``=`` is an error."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out
