"""Sizes as people read them, one way everywhere: SI units (kB = 1000 B, as dive, docker and
registries print them), one decimal above bytes. Reports and the CLI share it so that a finding's
"85.8 MB" and a table's "85.8 MB" are the same number written the same way; exact byte counts
stay in the JSON fields."""

from __future__ import annotations


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
