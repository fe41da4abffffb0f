"""What ``--help`` teaches: each command's examples, and the command list grouped by task.

Kept apart from the parsers so that every command module writes its help the same way, and
so that a test can hold every command to it (a one-line description, 2-4 examples that parse).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

# `scratchpack --help` lists the commands under these headings, in this order.
GROUPS: dict[str, tuple[str, ...]] = {
    "build images": ("pack", "build", "copy"),
    "inspect images": ("inspect", "audit", "sbom", "compare", "digest"),
    "vulnerabilities": ("scan", "db"),
    "Dockerfiles": ("lint", "init"),
    "registry": ("tags", "login", "logout"),
    "signatures": ("generate-key-pair", "sign", "verify", "attest", "verify-attestation"),
    "shell": ("completion",),
}


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs shown as written; the terminal's width asked once per run, not each time
    argparse makes a formatter (it makes one per option added: ~150 at start-up)."""

    _columns: int | None = None

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=Formatter.width())

    @staticmethod
    def width() -> int:
        """The terminal's columns less 2, as argparse lays out help: ``COLUMNS``, else the
        terminal's, else 80 (``shutil.get_terminal_size``'s rules; ``shutil`` itself, which
        loads bz2 and lzma, is left to the commands that copy files)."""
        if Formatter._columns is None:
            columns = 0
            with contextlib.suppress(ValueError):
                columns = int(os.environ.get("COLUMNS", "0"))
            stdout = sys.__stdout__
            if columns <= 0 and stdout is not None:
                try:
                    columns = os.get_terminal_size(stdout.fileno()).columns
                except (ValueError, OSError):
                    columns = 0
            Formatter._columns = (columns or 80) - 2
        return Formatter._columns


def examples(*commands: str, notes: str = "") -> dict[str, Any]:
    """``add_parser`` keywords for an epilog of ``notes`` (a wrapped paragraph: exit codes,
    defaults worth knowing) and ``commands``, one per line as typed, shown verbatim."""
    parts = [textwrap.fill(notes, Formatter.width())] if notes else []
    parts.append("examples:\n" + "\n".join(f"  {line}" for line in commands))
    return {
        "epilog": "\n\n".join(parts),
        "formatter_class": Formatter,
    }


def platform_option(parser: argparse.ArgumentParser) -> None:
    """``--platform`` as every command that reads an image has it, worded once."""
    parser.add_argument(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="platform to pick from a multi-platform index; one the image lacks is an error",
    )


def command_list(commands: Mapping[str, argparse.ArgumentParser]) -> str:
    """The top-level epilog: each group's commands with their one-line description. A
    command no group names is listed last, under "other", rather than hidden."""
    width = max(map(len, commands), default=0)
    grouped = [name for names in GROUPS.values() for name in names]
    sections = dict(GROUPS)
    rest = tuple(name for name in commands if name not in grouped)
    if rest:
        sections["other"] = rest
    lines: list[str] = []
    for title, names in sections.items():
        present = [name for name in names if name in commands]
        if not present:
            continue
        lines.append(f"{title}:")
        for name in present:
            summary = (commands[name].description or "").strip()
            lines.append(f"  {name.ljust(width)}  {summary}")
        lines.append("")
    lines.append("Run `scratchpack COMMAND --help` for a command's options and examples.")
    return "\n".join(lines)
