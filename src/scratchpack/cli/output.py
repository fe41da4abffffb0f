"""What the CLI prints: rich styling on a terminal, plain text for pipes and scripts.

rich takes 30-40 ms to import; a command run from a script or CI (stdout not a terminal)
prints plain text and never loads it. Also the one file commands write beside their output:
the ``--digestfile`` of pack and copy.
"""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console


class Output:
    def __init__(self) -> None:
        self._tty = sys.stdout.isatty()
        self._console: Console | None = None

    @property
    def width(self) -> int:
        """The columns to fit: the terminal's (``COLUMNS`` first), 80 off a terminal."""
        from scratchpack.cli.tables import terminal_width

        return terminal_width()

    def console(self) -> Console:
        if self._console is None:
            from scratchpack.cli.visible import console

            self._console = console(sys.stdout, highlight=False, soft_wrap=True, width=self.width)
        return self._console

    def wrapped(self, text: str, style: str | None = None, indent: int = 2) -> None:
        """A long line folded at spaces to the width, continuation lines indented; a word
        (a path, a digest) is never split, so it stays copyable."""
        lines = textwrap.wrap(text, self.width, subsequent_indent=" " * indent,
                              break_long_words=False, break_on_hyphens=False) or [""]  # fmt: skip
        for line in lines:
            self.line(line, style)

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
        """Aligned ``key  value`` lines that never truncate (digests must stay copyable) and
        fit the width: a long value folds at spaces under itself, and one with a word too
        long for that (a digest at 80 columns) goes whole on the lines below its key."""
        pad = max((len(key) for key, _ in rows), default=0)
        for key, value in rows:
            room = self.width - pad - 2
            folded = textwrap.wrap(value, max(room, 1), break_long_words=False,
                                   break_on_hyphens=False) or [""]  # fmt: skip
            if all(len(line) <= room for line in folded):
                self._field(key.ljust(pad), folded[0])
                for line in folded[1:]:
                    self._field(" " * pad, line)
                continue
            self._field(key, "")
            below = textwrap.wrap(value, max(self.width - 2, 1), break_long_words=False,
                                  break_on_hyphens=False)  # fmt: skip
            if any(len(line) > self.width - 2 for line in below):  # not even indented
                below = textwrap.wrap(value, self.width, break_long_words=False,
                                      break_on_hyphens=False)  # fmt: skip
                for line in below:
                    self.line(line)
                continue
            for line in below:
                self._field("", line)

    def _field(self, key: str, value: str) -> None:
        text = f"{key}  {value}".rstrip() if key.strip() else f"{key}  {value}"
        if self._tty:
            from rich.text import Text

            self.console().print(Text.assemble((key, "bold"), text[len(key) :]))
        else:
            print(text)

    def renderable(self, item: Any) -> None:
        """A rich table or similar (inspect's layer table), rendered plainly off a terminal."""
        self.console().print(item)


def check_digestfile(path: Path | None) -> None:
    """Before the work, that ``--digestfile`` can be written: a missing directory or a
    directory's name found only after the image was written (or pushed) made a run that did
    its work exit 1, and a script believe it had not."""
    if path is None:
        return
    from scratchpack.errors import UsageError
    from scratchpack.fsutil import check_parent_writable

    if path.is_dir():
        raise UsageError(f"--digestfile {path} is a directory")
    check_parent_writable(path)


def write_digest(path: Path, digest: str) -> None:
    """``--digestfile``: the manifest digest alone, no newline, as skopeo writes it; atomic,
    so a script waiting for the file never reads half of it."""
    from scratchpack.fsutil import atomic_write

    atomic_write(path, digest.encode())
