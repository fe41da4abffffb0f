"""Text tables that fit the terminal, and history text worth reading in them.

A table here has fixed columns, as wide as their widest cell (sizes, counts, digests: never
cut, never wrapped), and at most one flexible column (a path, a command) that gets the rest
of the width. A cell too long for it keeps its informative end (the file name, the end of a
long ``RUN``) behind an ellipsis, and the instruction word in front: a silent cut at a fixed
80 characters showed the ``apt-get update &&`` every image has and hid what differed.
The width is the terminal's, or ``COLUMNS``, or 80 off a terminal (:func:`terminal_width`).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.table import Table

ELLIPSIS = "…"
MIN_FLEX = 12  # narrower than this, a flexible column shows too little to be worth it

_BUILDKIT = re.compile(r"\s+# buildkit$")
_ARGS = re.compile(r"^(?:RUN )?\|\d+ .*? (?=/bin/(?:ba)?sh -c )")  # "|2 A=1 B=2 /bin/sh -c …"
_NOP = re.compile(r"^/bin/(?:ba)?sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^(?:RUN )?/bin/(?:ba)?sh -c ")
_INSTRUCTION = re.compile(r"^([A-Z]+ )(?=\S)")


def terminal_width() -> int:
    """``COLUMNS`` when set, else the terminal's width when stdout is one, else 80."""
    return max(shutil.get_terminal_size((80, 24)).columns, 20)


def created_by(text: str) -> str:
    """A history entry's ``created_by`` as the Dockerfile said it: ``#(nop)`` markers, the
    ``|N ARG=...`` prefix of build arguments, ``/bin/sh -c`` and BuildKit's ``# buildkit``
    dropped, ``RUN`` put back, white space folded."""
    text = " ".join(text.split())
    text = _BUILDKIT.sub("", text)
    if _NOP.match(text):
        return _NOP.sub("", text)
    text = _ARGS.sub("RUN ", text)
    return _SHELL.sub("RUN ", text)


def fit_end(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: whole if it fits, else its instruction word
    (``RUN``, ``COPY``...), an ellipsis and as much of its end as fits, from the start of a
    word or a path component when one is near."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    match = _INSTRUCTION.match(text)
    head = match.group(1) if match and len(match.group(1)) + 8 <= width else ""
    room = width - len(head) - 1
    tail = text[-room:]
    limit = min(25, room // 3)  # start at a word or a path component when it costs little
    boundary = re.search(r"[ /]", tail[1 : limit + 1])
    if boundary is not None:
        at = boundary.start() + 1
        tail = tail[at + 1 :] if tail[at] == " " else tail[at:]
    return f"{head}{ELLIPSIS}{tail}"


def fit_start(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: whole if it fits, else its start up to a
    word boundary when one is near, and an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = text[: width - 1]
    cut = head.rfind(" ")
    if cut >= max(width - 1 - 15, (width - 1) * 2 // 3):
        head = head[:cut]
    return head.rstrip() + ELLIPSIS


Justify = Literal["left", "right"]


@dataclass(frozen=True)
class Column:
    header: str
    justify: Justify = "right"
    flexible: bool = False  # gets what the others leave; long cells keep their end
    keep_start: bool = False  # ... or their start (a summary reads from its beginning)


def overhead(columns: int) -> int:
    """What rich's default table adds around the cells: a border between and around the
    columns, one space of padding on each side of each."""
    return 3 * columns + 1


def fitted_table(
    title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
) -> Table:
    """A rich table no wider than ``width``: fixed columns at their natural width, the
    flexible one (if any) shortened with :func:`fit_end` to what is left."""
    from rich.table import Table

    # A line break inside a cell (a file name in a layer may hold one) would split the row
    # over two lines of the table: it is written as ``\n``, as a shell's `ls` writes it.
    rows = [[cell.replace("\n", "\\n") for cell in row] for row in rows]
    natural = natural_widths(columns, rows)
    flex = next((n for n, column in enumerate(columns) if column.flexible), None)
    if flex is not None:
        rest = width - overhead(len(columns)) - sum(w for n, w in enumerate(natural) if n != flex)
        natural[flex] = max(min(natural[flex], rest), MIN_FLEX, len(columns[flex].header))
    table = Table(title=title, title_justify="left")
    for n, column in enumerate(columns):
        table.add_column(column.header, justify=column.justify, no_wrap=True,
                         width=natural[n], overflow="crop")  # fmt: skip
    for row in rows:
        cells = list(row)
        if flex is not None:
            fit = fit_start if columns[flex].keep_start else fit_end
            cells[flex] = fit(cells[flex], natural[flex])
        table.add_row(*cells)
    return table


def natural_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width with every cell whole."""
    return [
        max([len(column.header), *(len(row[n]) for row in rows)])
        for n, column in enumerate(columns)
    ]


def table_width(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> int:
    """How wide the table is with every cell whole."""
    return sum(natural_widths(columns, rows)) + overhead(len(columns))


MIN_COMMAND = 30  # a created-by column narrower than this goes below the table instead


def command_table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    commands: Sequence[str],
    width: int,
) -> tuple[Table, list[str]]:
    """A layer table with each layer's command: as its last column when that column gets at
    least MIN_COMMAND characters, else as lines below the table (``  2  RUN …end``), numbered
    by the rows' first cell, so a command is never squeezed into a dozen characters."""
    room = width - table_width(columns, rows) - 3
    if room >= MIN_COMMAND:
        with_commands = [*columns, Column("created by", "left", flexible=True)]
        full = [[*row, command] for row, command in zip(rows, commands, strict=True)]
        return fitted_table(title, with_commands, full, width), []
    pad = max((len(row[0]) for row in rows), default=1)
    lines = [
        f"{row[0]:>{pad}}  {fit_end(command, width - pad - 2)}"
        for row, command in zip(rows, commands, strict=True)
        if command
    ]
    return fitted_table(title, columns, rows, width), lines
