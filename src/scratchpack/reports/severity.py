"""How bad a finding is; ordered, so thresholds compare with ``>=``.

One scale for lint and audit. ``critical`` is used only by audit, for images that will not
start; lint's rules stop at ``error``.
"""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]
