"""Version ordering per OSV ecosystem: what "introduced", "fixed" and "last_affected" mean
depends on how that ecosystem sorts its versions, and a scanner that compares strings, or
semver everywhere, reports fixed packages and misses vulnerable ones.

- Debian: dpkg's ordering (epochs, upstream version, revision, ``~`` before anything),
  python-debian's ``Version``.
- PyPI: PEP 440 (``packaging``).
- npm, crates.io: Semantic Versioning 2.0 (``semver``, the maintained pure-Python SemVer 2.0
  implementation with type hints; node-semver's port adds npm's range grammar, which OSV
  does not use: its events are single versions).
- Go: module versions are SemVer 2.0 with a ``v`` (OSV writes them without); pseudo-versions
  (``v0.0.0-20230101120000-abcdef123456``) are SemVer pre-releases and sort as Go sorts them;
  ``+incompatible`` is build metadata, ignored in ordering. The Go toolchain (``stdlib``) is
  ``go1.21.3``, ``go1.20``, ``go1.21rc2``.
- Alpine: apk's ordering, written here by hand (see :func:`apk_key`).

:func:`key` turns a version into a sortable key, or raises :class:`BadVersion`.
"""

from __future__ import annotations

import functools
import re
from typing import Any


class BadVersion(ValueError):
    """A version the ecosystem's rules cannot order."""


def ecosystem_base(ecosystem: str) -> str:
    """``Debian:12`` -> ``Debian``; ``Alpine:v3.19`` -> ``Alpine``."""
    return ecosystem.split(":", 1)[0]


@functools.lru_cache(maxsize=1 << 16)
def key(ecosystem: str, version: str) -> Any:
    """A key that orders versions of ``ecosystem`` as its package manager does (cached:
    a scan compares the same event versions for many packages; keys are immutable)."""
    base = ecosystem_base(ecosystem)
    if len(version) > 256:
        raise BadVersion(f"version too long ({len(version)} characters)")
    try:
        if base in ("Debian", "Ubuntu"):
            return _debian(version)
        if base == "PyPI":
            return _pep440(version)
        if base in ("npm", "crates.io"):
            return _semver(version.strip().removeprefix("v").removeprefix("="))
        if base == "Go":
            return _go(version)
        if base == "Alpine":
            return apk_key(version)
    except BadVersion:
        raise
    except (ValueError, TypeError) as exc:
        raise BadVersion(f"{version!r} is not a {base} version") from exc
    raise BadVersion(f"no version ordering for ecosystem {ecosystem!r}")


@functools.total_ordering
class _Dpkg:
    """python-debian's Version (dpkg's algorithm), wrapped to be a total order with a hash
    whatever that class defines: keys go into sorts and into the key cache."""

    __slots__ = ("version",)

    def __init__(self, text: str) -> None:
        from debian.debian_support import Version

        self.version = Version(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Dpkg) and self.version == other.version

    def __lt__(self, other: _Dpkg) -> bool:
        return bool(self.version < other.version)

    def __hash__(self) -> int:
        return hash(str(self.version))


_DPKG = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$")


def _debian(version: str) -> _Dpkg:
    text = version.strip()
    if not _DPKG.match(text):
        raise BadVersion(f"{version!r} is not a dpkg version")
    return _Dpkg(text)


def _pep440(version: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion as exc:
        raise BadVersion(f"{version!r} is not a PEP 440 version") from exc


def _semver(version: str) -> Any:
    import semver

    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError) as exc:
        raise BadVersion(f"{version!r} is not a semantic version") from exc


_GO_TOOLCHAIN = re.compile(r"^(?:go)?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(beta|rc)(\d+))?$")


def _go(version: str) -> Any:
    text = version.strip()
    toolchain = _GO_TOOLCHAIN.match(text)
    if toolchain and (text.startswith("go") or ("." in text and text.count(".") < 2)):
        major, minor, patch, kind, number = toolchain.groups()
        pre = f"-{kind}.{number}" if kind else ""
        text = f"{major}.{minor or 0}.{patch or 0}{pre}"
    return _semver(text.removeprefix("v"))


# -- apk ------------------------------------------------------------------------------------
# apk's ordering is written by hand: no PyPI library implements it (univers does, among
# forty ecosystems, pulling in a dozen dependencies for one function). The rules are
# apk-tools' (src/version.c, as its documentation describes them): the version is
# NUMBER{.NUMBER}[LETTER]{_SUFFIX[NUMBER]}[-rREVISION]; numbers compare as integers, except
# that a later component with a leading zero compares as a decimal fraction ("1.01" < "1.1");
# a letter sorts after no letter; suffixes _alpha < _beta < _pre < _rc < (none) < _cvs <
# _svn < _git < _hg < _p; then the revision.

_SUFFIXES = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "cvs": 5, "svn": 6, "git": 7, "hg": 8,
             "p": 9}  # fmt: skip
_NO_SUFFIX = 4
_APK = re.compile(
    r"^(?P<numbers>\d+(?:\.\d+)*)(?P<letter>[a-z]?)(?P<suffixes>(?:_[a-z]+\d*)*)"
    r"(?:~(?P<hash>[0-9a-f]+))?(?:-r(?P<revision>\d+))?$"
)


def apk_key(version: str) -> tuple[Any, ...]:
    """A sort key for an apk version (``1.36.1-r15``, ``9.16.48-r0``, ``2.0_rc1``)."""
    match = _APK.match(version.strip())
    if match is None:
        raise BadVersion(f"{version!r} is not an apk version")
    numbers: list[tuple[int, Any]] = []
    for n, part in enumerate(match["numbers"].split(".")):
        if n and part.startswith("0") and len(part) > 1:
            # a fraction: compares digit by digit, and before any plain integer of its place
            numbers.append((0, part.rstrip("0") or "0"))
        else:
            numbers.append((1, int(part)))
    suffixes: list[tuple[int, int]] = []
    for piece in filter(None, match["suffixes"].split("_")):
        word = piece.rstrip("0123456789")
        if word not in _SUFFIXES:
            raise BadVersion(f"{version!r}: unknown apk suffix _{word}")
        suffixes.append((_SUFFIXES[word], int(piece[len(word) :] or 0)))
    suffixes.append((_NO_SUFFIX, 0))  # the end of the suffixes sorts as "no suffix"
    letter = ord(match["letter"]) if match["letter"] else 0
    return (numbers, letter, suffixes, int(match["revision"] or 0))
