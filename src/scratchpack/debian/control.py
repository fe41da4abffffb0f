"""Paragraphs of a Debian control file (Debian Policy §5.1) as plain dicts: the reader of the
host's dpkg ``status`` for pack, and of an image's for audit and sbom (``sbom/packages.py``).

Why not python-debian's ``Deb822`` (the field's library, still used for ``InRelease`` and
``.deb`` control members): importing ``debian.deb822`` costs ~42 ms (it loads
``charset_normalizer``, ``email.utils`` and ``debian.changelog``), a fifth of a whole ``pack``
of a 5 MB static binary, only to read six one-line fields of the two or three packages the
essentials come from (issue 17). Why not :mod:`scratchpack.debian.packages`, the streaming
``Packages`` parser: it keeps a fixed set of an index's columns (no ``Status``, ``Maintainer``,
``Source``) in msgspec structs (another ~15 ms import) and rejects, as a downloaded index
must, lines that a host's database read leniently may hold.

The values are python-debian's for the same text (``tests/test_debian_control.py`` compares
both on this machine's ``/var/lib/dpkg/status`` and on odd inputs): the text is split with
``str.splitlines``; ``#`` lines are skipped; blank lines (empty or spaces and tabs only) end a
paragraph, those before one are skipped; a field line is ``Name: value`` (the name without
whitespace or ``:``, spaces allowed before the colon), its value stripped; a line starting
with whitespace continues the field before it (kept verbatim after a newline); any other line
is ignored. Names compare case-insensitively (the dicts are keyed by the lower-case name); the
last of a repeated field wins; a paragraph without any field ends the file, as it does for
``Deb822.iter_paragraphs``. OpenPGP armour is not understood: dpkg never signs its database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# A field's first line: its name (no whitespace, no colon), optional whitespace, the colon.
_FIELD = re.compile(r"([^: \t\n\r\f\v]+)\s*:(.*)", re.DOTALL)


def paragraphs(text: str | Iterable[str]) -> Iterator[dict[str, str]]:
    """Each paragraph of ``text`` as ``{lower-case name: value}``, in order. ``text`` may also
    be its lines, without their line ends, read one at a time: an image's database is read so,
    never as one list of lines (which for 64 MiB of one-character lines took gigabytes)."""
    lines = iter(text.splitlines()) if isinstance(text, str) else iter(text)
    while True:
        fields: dict[str, str] = {}
        key = ""
        value = ""
        started = False
        for line in lines:
            if line.startswith("#"):
                continue
            blank = not line.strip(" \t")
            if blank:
                if started:
                    break
                continue
            started = True
            match = _FIELD.match(line)
            if match is not None:
                if key:
                    fields[key] = value
                key, value = match.group(1).lower(), match.group(2).strip()
            elif key and line[0].isspace():
                value += "\n" + line
        if key:
            fields[key] = value
        if not fields:
            return
        yield fields
