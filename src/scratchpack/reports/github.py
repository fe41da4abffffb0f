"""GitHub Actions workflow commands (``::error file=...,line=...::message``).

The runner splits a command at ``::``, its properties at ``,`` and each property at ``=``, and
then unescapes ``%25``, ``%0D`` and ``%0A`` (and, in properties, ``%3A`` and ``%2C``); what is
not escaped that way ends the command early or lands in the wrong property.
"""

from __future__ import annotations


def escape_data(text: str) -> str:
    """A command's message: ``%`` first, so the escapes themselves are not escaped again."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (``file=``, ``title=``): as a message, and ``:`` and ``,`` too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(kind: str, path: str, line: int, column: int, title: str, message: str) -> str:
    """One ``error``/``warning``/``notice`` annotation at a file, line and column."""
    return (
        f"::{kind} file={escape_property(path)},line={line},col={max(column, 1)},"
        f"title={escape_property(title)}::{escape_data(message)}"
    )
