"""debian/control.py reads control paragraphs as python-debian does: compared with
``Deb822.iter_paragraphs`` (the field's library, the reader it replaces on pack's path) on this
machine's real dpkg database and on inputs that exercise each rule of the syntax."""

from __future__ import annotations

from pathlib import Path

import pytest
from debian.deb822 import Deb822

from realtools import unavailable
from scratchpack.debian.control import paragraphs

STATUS = Path("/var/lib/dpkg/status")


def deb822(text: str) -> list[dict[str, str]]:
    """python-debian's paragraphs of ``text``, keyed as ours are (lower-case names)."""
    found = []
    for para in Deb822.iter_paragraphs(text.splitlines(), use_apt_pkg=False):
        found.append({key.lower(): para[key] for key in para})
    return found


def test_the_hosts_dpkg_status_reads_as_python_debian_reads_it() -> None:
    if not STATUS.is_file():
        unavailable("no dpkg database on this machine")
    text = STATUS.read_bytes().decode("utf-8", "replace")
    ours = list(paragraphs(text))
    assert len(ours) > 10  # a real database: the comparison below is not vacuous
    assert any("\n" in v for p in ours for v in p.values())  # multi-line fields are compared
    assert ours == deb822(text)


CASES = {
    "two paragraphs": "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n",
    "blank lines before, between and after": "\n\n \nPackage: a\n\n\n\t\nPackage: b\n\n\n",
    "a line of spaces and tabs separates": "Package: a\n \t \nPackage: b\n",
    "continuation lines kept verbatim": "Description: short \n long  text\n .\n\tmore \n",
    "an empty first line": "Conffiles:\n /etc/a 0123\n /etc/b 4567\nPackage: x\n",
    "names compare case-insensitively, the last wins": "package: a\nPACKAGE: b\nVersion: 1\n",
    "whitespace around the colon and the value": "Package \t:\t  a b  \t\nVersion:1\n",
    "comments are skipped": "# c\nPackage: a\n# inside\n continued?\nVersion: 1\n",
    "odd lines are ignored": "Package: a\nnot a field\nKey with space: v\n:no name\nVersion: 1\n",
    "a continuation with no field before it": " orphan\nPackage: a\n",
    "CRLF line ends": "Package: a\r\nVersion: 1\r\n\r\nPackage: b\r\n",
    "a paragraph without fields ends the file": "Package: a\n\nnothing here\n\nPackage: b\n",
    "only blank lines": "\n \n\t\n",
    "empty": "",
    "unicode whitespace": "Package:\u00a0a\u00a0\nMaintainer: Zoë <z@example.org>\n\u00a0cont\n",
    "line separators split lines": "Package: a\x85Version: 1\nSource: s\u2028Status: x\n",
    "no trailing newline": "Package: a\nVersion: 1",
    "a status as dpkg writes it": (
        "Package: libc6\nStatus: install ok installed\nPriority: optional\n"
        "Section: libs\nInstalled-Size: 12991\nMaintainer: GNU Libc Maintainers "
        "<debian-glibc@lists.debian.org>\nArchitecture: amd64\nMulti-Arch: same\n"
        "Source: glibc\nVersion: 2.36-9+deb12u10\nDepends: libgcc-s1\n"
        "Description: GNU C Library: Shared libraries\n Contains the standard libraries.\n"
    ),
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_each_rule_reads_as_python_debian_reads_it(text: str) -> None:
    assert list(paragraphs(text)) == deb822(text)


def test_values() -> None:
    """What the rules give, spelled out (the comparison above could agree on nonsense)."""
    text = CASES["continuation lines kept verbatim"] + "\n" + CASES["an empty first line"]
    assert list(paragraphs(text)) == [
        {"description": "short\n long  text\n .\n\tmore "},
        {"conffiles": "\n /etc/a 0123\n /etc/b 4567", "package": "x"},
    ]
    assert list(paragraphs(CASES["names compare case-insensitively, the last wins"])) == [
        {"package": "b", "version": "1"}
    ]
