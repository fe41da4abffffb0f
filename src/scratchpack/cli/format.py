"""Human-readable numbers (sizes are units.human_size, shared with the reports)."""

from __future__ import annotations

from scratchpack.units import human_size

__all__ = ["human_size", "percent"]


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"
