"""What the CLI prints: rich styling on a terminal, plain text for pipes and scripts.

rich takes 30-40 ms to import; a command run from a script or CI (stdout not a terminal)
prints plain text and never loads it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class Output:
    def __init__(self) -> None:
        self._tty = sys.stdout.isatty()
        self._console: Console | None = None

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    def line(self, text: str, style: str | None = None) -> None:
        if self._tty:
            from rich.text import Text

            self.console().print(Text(text, style=style or ""))
        else:
            print(text)

    def status(self, verb: str, rest: str) -> None:
        """``Packed oci:...`` with the verb in green on a terminal."""
        if self._tty:
            from rich.text import Text

            self.console().print(Text.assemble((verb, "green"), " ", rest))
        else:
            print(f"{verb} {rest}")

    def fields(self, rows: list[tuple[str, str]]) -> None:
        """Aligned ``key  value`` lines that never truncate (digests must stay copyable)."""
        width = max((len(key) for key, _ in rows), default=0)
        for key, value in rows:
            if self._tty:
                from rich.text import Text

                self.console().print(Text.assemble((key.ljust(width), "bold"), "  ", value))
            else:
                print(f"{key.ljust(width)}  {value}")

    def renderable(self, item: Any) -> None:
        """A rich table or similar (inspect's layer table), rendered plainly off a terminal."""
        self.console().print(item)
