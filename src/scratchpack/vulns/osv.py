"""OSV advisories (https://ossf.github.io/osv-schema/): reading one, deciding whether a
version is affected, and how severe it is.

An advisory comes from a file nobody vetted (a downloaded export): every field is checked for
its type, and anything malformed raises :class:`OsvError` naming the field, never a
``KeyError`` or a ``TypeError``. Only what matching and reports need is kept.

Whether a version is affected follows the schema's evaluation: an exact hit in ``versions``,
or, per range of type ``ECOSYSTEM`` or ``SEMVER`` (``GIT`` ranges name commits, which an
image does not record), the events sorted by the ecosystem's ordering (:mod:`versions`) and
swept: ``introduced`` opens, ``fixed`` closes at the version, ``last_affected`` closes after
it, and ``limit`` ends the range.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from scratchpack.errors import ScratchpackError
from scratchpack.vulns.versions import BadVersion, key

# worst first; "unknown" when nothing in the advisory says
SEVERITIES = ("critical", "high", "medium", "low", "negligible", "unknown")
RANK = {name: len(SEVERITIES) - n for n, name in enumerate(SEVERITIES)}
RANK["unknown"] = 0
_EVENTS = ("introduced", "fixed", "last_affected", "limit")
# at one version: opened, then closed after it, then closed at it
_EVENT_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}
MAX_TEXT = 4096  # a summary longer than this is cut: it is shown in a table cell


class OsvError(ScratchpackError):
    """An advisory that does not follow the OSV schema."""


@dataclass(frozen=True)
class Range:
    type: str
    events: tuple[tuple[str, str], ...]  # (event kind, version), as written


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    urgency: str = ""  # Debian's ecosystem_specific.urgency
    score: float | None = None  # the CVSS base score of this entry's own severity[] (OSV 1.5+)


@dataclass(frozen=True)
class Advisory:
    id: str
    modified: str
    summary: str
    aliases: tuple[str, ...]
    severity: str  # one of SEVERITIES
    score: float | None  # the CVSS base score, when a vector gave one
    affected: tuple[Affected, ...]
    withdrawn: str = ""


def _text(value: object, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise OsvError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OsvError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _object(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OsvError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def parse(doc: object) -> Advisory:
    """An OSV advisory from its decoded JSON; :class:`OsvError` names what is wrong."""
    top = _object(doc, "advisory")
    if not top:
        raise OsvError("advisory: expected an OSV object with an id")
    ident = _text(top.get("id"), "id", required=True)
    if not ident or len(ident) > 200:
        raise OsvError("id: empty or longer than 200 characters")
    summary = (
        _text(top.get("summary"), f"{ident}: summary")
        or _text(top.get("details"), f"{ident}: details").strip().split("\n", 1)[0]
    )
    affected = tuple(
        _affected(item, f"{ident}: affected[{n}]")
        for n, item in enumerate(_list(top.get("affected"), f"{ident}: affected"))
    )
    where = f"{ident}: aliases"
    aliases = tuple(_text(alias, where) for alias in _list(top.get("aliases"), where))
    label, score = severity_of(top, affected, ident)
    return Advisory(
        id=ident,
        modified=_text(top.get("modified"), f"{ident}: modified"),
        summary=" ".join(summary.split())[:MAX_TEXT],
        aliases=aliases,
        severity=label,
        score=score,
        affected=affected,
        withdrawn=_text(top.get("withdrawn"), f"{ident}: withdrawn"),
    )


def _affected(item: object, where: str) -> Affected:
    entry = _object(item, where)
    package = _object(entry.get("package"), f"{where}.package")
    ecosystem = _text(package.get("ecosystem"), f"{where}.package.ecosystem")
    name = _text(package.get("name"), f"{where}.package.name")
    ranges = []
    for n, raw in enumerate(_list(entry.get("ranges"), f"{where}.ranges")):
        at = f"{where}.ranges[{n}]"
        described = _object(raw, at)
        events = []
        for m, event in enumerate(_list(described.get("events"), f"{at}.events")):
            fields = _object(event, f"{at}.events[{m}]")
            kinds = [kind for kind in _EVENTS if kind in fields]
            if len(kinds) != 1:
                raise OsvError(f"{at}.events[{m}]: expected one of {', '.join(_EVENTS)}")
            events.append((kinds[0], _text(fields[kinds[0]], f"{at}.events[{m}]")))
        ranges.append(Range(_text(described.get("type"), f"{at}.type"), tuple(events)))
    versions = tuple(
        _text(v, f"{where}.versions") for v in _list(entry.get("versions"), f"{where}.versions")
    )
    specific = _object(entry.get("ecosystem_specific"), f"{where}.ecosystem_specific")
    urgency = specific.get("urgency")
    return Affected(
        ecosystem=ecosystem,
        name=name,
        ranges=tuple(ranges),
        versions=versions,
        urgency=urgency.rstrip("*").strip().lower() if isinstance(urgency, str) else "",
        score=_best_score(entry.get("severity"), f"{where}.severity"),
    )


# -- severity -------------------------------------------------------------------------------

_LABELS = {"critical": "critical", "high": "high", "important": "high", "moderate": "medium",
           "medium": "medium", "low": "low", "negligible": "negligible",
           "unimportant": "negligible"}  # fmt: skip


def rating(score: float) -> str:
    """CVSS v3/v4's qualitative rating of a base score."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return "negligible"


@functools.lru_cache(maxsize=4096)
def cvss_score(kind: str, vector: str) -> float | None:
    """The base score of a CVSS vector (v2, v3.x, v4.0), computed with the ``cvss`` library;
    None for a vector it cannot read. Cached: an export repeats a few thousand vectors over
    its advisories, and computing one costs more than reading the advisory."""
    import cvss

    if len(vector) > 512:
        return None
    try:
        if kind == "CVSS_V4" or vector.startswith("CVSS:4"):
            return float(cvss.CVSS4(vector).base_score)
        if kind == "CVSS_V3" or vector.startswith("CVSS:3"):
            return float(cvss.CVSS3(vector).scores()[0])
        if kind == "CVSS_V2":
            return float(cvss.CVSS2(vector).scores()[0])
    except (cvss.CVSSError, ValueError, KeyError, IndexError, TypeError, ArithmeticError):
        return None
    return None


def _best_score(value: object, where: str) -> float | None:
    """The highest base score among a ``severity[]`` list's CVSS vectors."""
    best: float | None = None
    for entry in (_object(e, where) for e in _list(value, where)):
        kind, vector = entry.get("type"), entry.get("score")
        if isinstance(kind, str) and isinstance(vector, str):
            score = cvss_score(kind, vector)
            if score is not None and (best is None or score > best):
                best = score
    return best


def severity_of(
    top: dict[str, Any], affected: tuple[Affected, ...], ident: str
) -> tuple[str, float | None]:
    """(label, CVSS base score): the advisory's own label (GHSA's
    ``database_specific.severity``) first, else the highest CVSS base score of ``severity[]``
    and of each affected entry's own (computed from the vectors), else Debian's urgency, else
    "unknown"."""
    scores = [_best_score(top.get("severity"), f"{ident}: severity")]
    scores += [item.score for item in affected]  # OSV 1.5 also rates each affected package
    known = [value for value in scores if value is not None]
    score = max(known) if known else None
    specific = _object(top.get("database_specific"), f"{ident}: database_specific")
    label = specific.get("severity")
    if isinstance(label, str) and label.strip().lower() in _LABELS:
        return _LABELS[label.strip().lower()], score
    if score is not None:
        return rating(score), score
    for item in affected:
        if item.urgency in _LABELS:
            return _LABELS[item.urgency], None
    return "unknown", None


# -- matching -------------------------------------------------------------------------------


def affects(entry: Affected, ecosystem: str, version: str) -> tuple[bool, str]:
    """(affected, the lowest fixed version above ``version`` or '' when none is known).

    :class:`BadVersion` when ``version`` cannot be ordered in ``ecosystem``; a range whose
    own events cannot be ordered is skipped (an advisory's typo must not hide the others)."""
    installed = key(ecosystem, version)
    hit = version in entry.versions
    fixes: list[tuple[Any, str]] = []
    for described in entry.ranges:
        if described.type not in ("ECOSYSTEM", "SEMVER"):
            continue
        try:  # each event's version parsed once; "introduced 0" sorts before everything
            bounded = [
                (kind, at, None if kind == "introduced" and at == "0" else key(ecosystem, at))
                for kind, at in described.events
            ]
        except BadVersion:
            continue
        bounded.sort(key=lambda e: (0, 0) if e[2] is None else (1, e[2], _EVENT_ORDER[e[0]]))
        vulnerable = False
        for kind, at, bound in bounded:
            if bound is not None and bound > installed:  # past the installed version
                if vulnerable and kind == "fixed":
                    fixes.append((bound, at))
                break
            if kind == "introduced":
                vulnerable = True
            elif kind in ("fixed", "limit"):
                vulnerable = False
                if kind == "limit":
                    break
            elif bound is not None and installed > bound:  # last_affected
                vulnerable = False
        hit = hit or vulnerable
    if not hit:
        return False, ""
    fixed = min(fixes, key=lambda pair: pair[0])[1] if fixes else ""
    return True, fixed
