"""The local advisory store: OSV exports imported into SQLite, looked up by (ecosystem, package).

``import_advisories`` reads an osv.dev export (``all.zip`` of an ecosystem: one JSON per
advisory) or a directory of JSON files, one advisory at a time (each zip member streamed
and refused past :data:`MAX_ADVISORY` bytes, so a zip bomb costs no memory), into a new
database beside the old one, renamed over it only once complete: a truncated zip or a
malformed advisory ends with an error naming it, and the previous database still answers.
The database is locked (``vulns.db.lock``) while a writer builds and renames it; readers open
it read-only and see the old file or the new one, never a half.

The zip's central directory is read whole (about half a KiB per member: 25 MB for the
largest per-ecosystem export); advisories are never all in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scratchpack.errors import ScratchpackError
from scratchpack.fsutil import describe_os_error, exclusive_lock, remove_stale, temp_prefix
from scratchpack.vulns.osv import Advisory, Affected, OsvError, Range, parse

SCHEMA_VERSION = "1"
MAX_ADVISORY = 32 << 20  # the largest real advisory is a few MB (long versions lists)
MAX_MEMBERS = 5_000_000
MAX_DEPTH = 64  # JSON nesting; OSV's is 6 deep


class DatabaseError(ScratchpackError):
    """The database is missing, unreadable, or an import failed (exit 1)."""


def default_path() -> Path:
    """``$XDG_DATA_HOME/scratchpack/vulns.db`` (``~/.local/share`` when unset), as the XDG
    Base Directory specification places user data."""
    home = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(home) if home and Path(home).is_absolute() else Path.home() / ".local/share"
    return root / "scratchpack" / "vulns.db"


def normalise_name(ecosystem: str, name: str) -> str:
    """The name as the index keys it: PyPI's are compared normalised (PEP 503)."""
    if ecosystem == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisory (
    id TEXT PRIMARY KEY, modified TEXT NOT NULL, summary TEXT NOT NULL, aliases TEXT NOT NULL,
    severity TEXT NOT NULL, score REAL);
CREATE TABLE IF NOT EXISTS affected (
    ecosystem TEXT NOT NULL, name TEXT NOT NULL, advisory TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS affected_package ON affected (ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_advisory ON affected (advisory);
"""


@dataclass
class ImportStats:
    advisories: int = 0
    withdrawn: int = 0
    skipped: int = 0  # older duplicates of an advisory already imported
    newest_modified: str = ""
    sources: list[str] = field(default_factory=list)


def _depth_ok(data: bytes) -> bool:
    """Nesting no deeper than MAX_DEPTH, counted over the bytes (brackets inside strings
    count too: an over-estimate, never an under-one), before any decoder recurses."""
    depth = peak = 0
    for byte in data.translate(None, b'"\\\t\n\r :,0123456789'):
        if byte in b"[{":
            depth += 1
            peak = max(peak, depth)
            if peak > MAX_DEPTH:
                return False
        elif byte in b"]}":
            depth -= 1
    return True


def decode(data: bytes, where: str) -> Advisory:
    """One advisory's bytes -> :class:`Advisory`, or an error naming ``where``."""
    import msgspec

    if len(data) > MAX_ADVISORY:
        raise DatabaseError(f"{where}: larger than {MAX_ADVISORY >> 20} MiB: refused")
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and not _depth_ok(data):
        raise DatabaseError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels: refused")
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise DatabaseError(f"{where}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise DatabaseError(f"{where}: JSON nested too deeply: refused") from exc
    try:
        return parse(doc)
    except OsvError as exc:
        raise DatabaseError(f"{where}: not an OSV advisory: {exc}") from exc


def _zip_members(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatabaseError(f"{path}: not a readable zip file ({exc})") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise DatabaseError(f"{path}: more than {MAX_MEMBERS} members: refused")
        for info in members:
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            where = f"{path}:{info.filename}"
            if info.file_size > MAX_ADVISORY:
                raise DatabaseError(f"{where}: larger than {MAX_ADVISORY >> 20} MiB: refused")
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_ADVISORY + 1)  # the header's size may lie
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError,
                    NotImplementedError, ValueError) as exc:  # fmt: skip
                raise DatabaseError(f"{where}: cannot be read ({exc})") from exc
            yield where, data


def _dir_members(path: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(path.rglob("*.json")):
        if not file.is_file():
            continue
        try:
            with file.open("rb") as handle:
                data = handle.read(MAX_ADVISORY + 1)
        except OSError as exc:
            raise DatabaseError(f"{file}: {describe_os_error(exc)}") from exc
        yield str(file), data


def members(source: Path) -> Iterator[tuple[str, bytes]]:
    """Each advisory file of an export: (where, bytes)."""
    if source.is_dir():
        return _dir_members(source)
    if source.is_file():
        return _zip_members(source)
    raise DatabaseError(f"{source}: no such file or directory")


def _store(conn: sqlite3.Connection, advisory: Advisory) -> bool:
    row = conn.execute("SELECT modified FROM advisory WHERE id = ?", (advisory.id,)).fetchone()
    if row is not None:
        if row[0] >= advisory.modified:
            return False
        conn.execute("DELETE FROM affected WHERE advisory = ?", (advisory.id,))
    conn.execute(
        "INSERT OR REPLACE INTO advisory VALUES (?, ?, ?, ?, ?, ?)",
        (advisory.id, advisory.modified, advisory.summary, json.dumps(advisory.aliases),
         advisory.severity, advisory.score),
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO affected VALUES (?, ?, ?, ?)",
        [
            (entry.ecosystem, normalise_name(entry.ecosystem.split(":")[0], entry.name),
             advisory.id, _affected_json(entry))
            for entry in advisory.affected
            if entry.ecosystem and entry.name
        ],
    )  # fmt: skip
    return True


def _affected_json(entry: Affected) -> str:
    return json.dumps(
        {"r": [[r.type, [list(e) for e in r.events]] for r in entry.ranges],
         "v": list(entry.versions), "u": entry.urgency, "n": entry.name},
        separators=(",", ":"),
    )  # fmt: skip


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def import_advisories(sources: list[Path], db: Path, *, add: bool = False) -> ImportStats:
    """Build the database from ``sources`` (zips or directories) and rename it over ``db``;
    with ``add``, on top of what ``db`` already holds."""
    import shutil

    stats = ImportStats(sources=[str(s) for s in sources])
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create {db.parent}: {describe_os_error(exc)}") from exc
    with exclusive_lock(db.with_name(db.name + ".lock")):
        remove_stale(db.parent, db.name)  # a killed import's database: no writer owns it now
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(db.name), suffix=".tmp", dir=db.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if add and db.exists():
                shutil.copyfile(db, tmp)
                _check(tmp, db)
            conn = sqlite3.connect(tmp)
            try:
                conn.execute("PRAGMA journal_mode = OFF")
                conn.execute("PRAGMA synchronous = OFF")
                conn.executescript(_SCHEMA)
                newest = _meta(conn).get("newest_modified", "")
                for source in sources:
                    for where, data in members(source):
                        advisory = decode(data, where)
                        if advisory.withdrawn:
                            stats.withdrawn += 1
                            continue
                        if _store(conn, advisory):
                            stats.advisories += 1
                        else:
                            stats.skipped += 1
                        newest = max(newest, advisory.modified)
                stats.newest_modified = newest
                previous = json.loads(_meta(conn).get("sources", "[]")) if add else []
                for name, value in (
                    ("schema", SCHEMA_VERSION),
                    ("imported_at", _now()),
                    ("newest_modified", newest),
                    ("sources", json.dumps([*previous, *stats.sources])),
                ):
                    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))
                conn.commit()
            finally:
                conn.close()
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
            tmp.chmod(0o644)
            tmp.replace(db)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    return stats


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError:
        return {}


def _check(path: Path, shown: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if _meta(conn).get("schema") != SCHEMA_VERSION:
                raise DatabaseError(f"{shown}: not a scratchpack vulnerability database")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{shown}: not a readable database ({exc})") from exc


def no_database(db: Path) -> DatabaseError:
    return DatabaseError(
        f"no vulnerability database at {db}: import one first, e.g. "
        f"`scratchpack db import all.zip` (an OSV export, such as osv.dev's "
        f"<ecosystem>/all.zip)"
    )


@dataclass(frozen=True)
class Candidate:
    """An advisory's entry for one package, as the store holds it."""

    id: str
    summary: str
    aliases: tuple[str, ...]
    severity: str
    score: float | None
    affected: Affected


class Store:
    """A read-only view of the database, for lookups by (ecosystem, package)."""

    def __init__(self, db: Path) -> None:
        if not db.is_file():
            raise no_database(db)
        self.path = db
        try:
            self._conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
            self.meta = _meta(self._conn)
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{db}: not a readable database ({exc})") from exc
        if self.meta.get("schema") != SCHEMA_VERSION:
            self._conn.close()
            raise DatabaseError(
                f"{db}: not a scratchpack vulnerability database (import again with "
                "`scratchpack db import`)"
            )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, ecosystem: str, name: str) -> list[Candidate]:
        rows = self._conn.execute(
            "SELECT a.id, a.summary, a.aliases, a.severity, a.score, f.data FROM affected f "
            "JOIN advisory a ON a.id = f.advisory WHERE f.ecosystem = ? AND f.name = ? "
            "ORDER BY a.id",
            (ecosystem, normalise_name(ecosystem.split(":", maxsplit=1)[0], name)),
        ).fetchall()
        return [
            Candidate(ident, summary, tuple(json.loads(aliases)), severity, score,
                      _affected_from(ecosystem, data))
            for ident, summary, aliases, severity, score, data in rows
        ]  # fmt: skip

    def status(self) -> dict[str, Any]:
        counts = self._conn.execute(
            "SELECT ecosystem, COUNT(DISTINCT advisory) FROM affected GROUP BY ecosystem "
            "ORDER BY ecosystem"
        ).fetchall()
        total = self._conn.execute("SELECT COUNT(*) FROM advisory").fetchone()[0]
        return {
            "path": str(self.path),
            "imported_at": self.meta.get("imported_at", ""),
            "newest_modified": self.meta.get("newest_modified", ""),
            "sources": json.loads(self.meta.get("sources", "[]")),
            "advisories": int(total),
            "ecosystems": {str(eco): int(n) for eco, n in counts},
        }


def _affected_from(ecosystem: str, data: str) -> Affected:
    doc = json.loads(data)
    return Affected(
        ecosystem=ecosystem,
        name=doc["n"],
        ranges=tuple(Range(kind, tuple((e[0], e[1]) for e in events)) for kind, events in doc["r"]),
        versions=tuple(doc["v"]),
        urgency=doc["u"],
    )
