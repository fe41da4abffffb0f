"""The paths no installed package owns, remembered across runs per state of dpkg's database.

Why: pack asks dpkg's database who owns each file it copies from the host, and for the usual
binary, the user's own build, the answer is nobody: learning that means reading every
``info/*.list`` (~780 files, 8.4 MB on a Debian 12 host), 11-20 ms of CPU on every pack, 5-10%
of a 5 MB static pack's (issue 17). The answer depends only on the path's names (computed
by the caller, symlinks resolved, merged-/usr aliases added) and on dpkg's database, so a miss
is kept here and the next pack of the same path skips the search.

When an answer is stale: dpkg changes its database only by writing a new file and renaming it
over the old one, on every install, upgrade and removal: ``status`` (via ``status-new``) and
each package's ``info/<name>.list`` (via ``.list-new``; a removal deletes it). So the state
is the ``status`` file's device, inode, size, mtime and ctime, and ``info/``'s device, inode,
mtime and ctime (a rename or deletion in it changes both times): checked with dpkg 1.21.22 on
a scratch ``--admindir``, where an install, a reinstall of the same version and a removal each
gave ``status`` a new inode and ``info/`` a new mtime. The state is read before the search it
keys, so a database dpkg changes during a search is a miss next time. Not seen: a list edited
in place by something other than dpkg (it never does that).

Where: ``$SCRATCHPACK_DPKG_CACHE`` when set (a file; ``0`` or empty: no cache), else
``$XDG_CACHE_HOME/scratchpack/dpkg-unowned.json``, in a directory of ours closed to others
(``cachefiles``). One small JSON document for every database (one per ``--root``, keyed by its
admindir and state), written whole, read again and changed under ``FILE.lock`` (two packs of
different roots at once keep both answers); bounded: ``MAX_DATABASES`` databases and ``MAX_PATHS``
paths in all, the least recently used dropped first. A file that is not exactly what this
module writes (corrupt, foreign, too large, a symlink) is ignored as a whole, and replaced at
the next miss.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from scratchpack import cachefiles

ENV_FILE = "SCRATCHPACK_DPKG_CACHE"  # the cache file to use; "0" or empty: no cache
VERSION = 1  # of the file's format: another one is ignored
MAX_DATABASES = 8
MAX_PATHS = 1024  # in all databases together
MAX_PATH = 1024  # bytes of one name: longer ones are not kept
MAX_FILE = 2 << 20  # bytes: MAX_PATHS names of MAX_PATH and their quotes fit
_LOCK_WAIT = 5.0  # seconds for another process's write of the file, then no write

# [admindir, state, unowned names]: least recently used first, in both lists
_Database = tuple[str, str, list[str]]


def location() -> Path | None:
    """The cache file, or None when the cache is off."""
    return cachefiles.chosen(ENV_FILE, "dpkg-unowned.json")


def database_state(admindir: Path) -> str | None:
    """What changes whenever dpkg changes the database in ``admindir``; None without one."""
    try:
        status = (admindir / "status").stat()
        info = (admindir / "info").stat()
    except OSError:
        return None
    return (
        f"{status.st_dev}:{status.st_ino}:{status.st_size}:{status.st_mtime_ns}:"
        f"{status.st_ctime_ns}/{info.st_dev}:{info.st_ino}:{info.st_mtime_ns}:{info.st_ctime_ns}"
    )


class UnownedCache:
    """The known-unowned names of one dpkg database (``admindir``) in its current state."""

    def __init__(self, admindir: Path, where: Path | None) -> None:
        self._admindir = os.fspath(admindir.absolute())
        self._where = where
        self._state: str | None = None
        self._databases: list[_Database] | None = None  # the file's, read at the first ask

    def _load(self) -> list[_Database]:
        if self._databases is None:
            self._databases = []
            if self._where is not None:
                self._state = database_state(Path(self._admindir))
                if self._state is not None and cachefiles.usable_directory(
                    self._where.parent, create=False
                ):
                    read = cachefiles.read_entry(self._where, MAX_FILE)
                    self._databases = (parse(read[0]) if read is not None else None) or []
        return self._databases

    def _mine(self) -> _Database | None:
        return self._find(self._load())

    def _find(self, databases: list[_Database]) -> _Database | None:
        for database in databases:
            if database[0] == self._admindir and database[1] == self._state:
                return database
        return None

    def has(self, names: list[str]) -> bool:
        """Whether every one of ``names`` is known to be in no package's list. A hit on an
        old entry (the older half, or not the most recent database) is moved up and saved,
        so that the bound drops what is not asked for."""
        mine = self._mine()
        if mine is None or not names or not set(names) <= set(mine[2]):
            return False
        unowned = mine[2]
        oldest = min(unowned.index(name) for name in names)
        if self._load()[-1] is not mine or oldest < len(unowned) // 2:
            self._change(lambda databases: self._promoted(databases, names))
        return True

    def _promoted(self, databases: list[_Database], names: list[str]) -> list[_Database]:
        mine = self._find(databases)
        if mine is not None and set(names) <= set(mine[2]):
            for name in names:
                mine[2].remove(name)
            mine[2].extend(names)
            databases.remove(mine)
            databases.append(mine)
        return databases

    def add(self, names: list[str]) -> None:
        """Remember that no package lists any of ``names`` (a search just found none)."""
        self._load()
        if self._where is None or self._state is None or not all(map(_name, names)) or not names:
            return
        self._change(lambda databases: self._added(databases, names))

    def _added(self, databases: list[_Database], names: list[str]) -> list[_Database]:
        assert self._state is not None
        databases = [d for d in databases if d[0] != self._admindir or d[1] == self._state]
        mine = self._find(databases)
        if mine is None:
            mine = (self._admindir, self._state, [])
        else:
            databases.remove(mine)
        mine[2][:] = [n for n in mine[2] if n not in names] + names
        databases.append(mine)  # (an older state of this database is dropped above)
        del databases[:-MAX_DATABASES]
        excess = sum(len(d[2]) for d in databases) - MAX_PATHS
        for database in databases:  # the least recently used first
            cut = min(max(excess, 0), len(database[2]) - (len(names) if database is mine else 0))
            del database[2][:cut]
            excess -= cut
        return [d for d in databases if d[2]]

    def _change(self, update: Callable[[list[_Database]], list[_Database]]) -> None:
        """Apply ``update`` to what this process knows, then to the file as it is now, under
        an exclusive lock on ``FILE.lock`` beside it: a read-modify-write. Why under a lock
        and re-read: the file is one document for every root, and two packs of different
        roots at once each wrote back the copy they had read, losing the other's answers
        (``tests/test_parallel_writers.py``). A lock that cannot be had within
        ``_LOCK_WAIT`` leaves the file as it is: a cache is never worth a failed pack."""
        assert self._where is not None and self._databases is not None
        self._databases = update(self._databases)
        if not cachefiles.replaceable(self._where) or not cachefiles.usable_directory(
            self._where.parent, create=True
        ):
            return  # (no lock file beside a FIFO or device named as the cache either)
        from scratchpack.errors import ScratchpackError
        from scratchpack.fsutil import exclusive_lock  # (only on a miss: off the start-up path)

        try:
            with exclusive_lock(self._where.with_name(self._where.name + ".lock"), _LOCK_WAIT):
                read = cachefiles.read_entry(self._where, MAX_FILE)
                fresh = (parse(read[0]) if read is not None else None) or []
                self._databases = update(fresh)
                cachefiles.write_entry(self._where, dump(self._databases))
        except ScratchpackError:
            return


def dump(databases: list[_Database]) -> bytes:
    """The file's bytes for ``databases``."""
    document = {"version": VERSION, "databases": [list(d) for d in databases]}
    # ASCII, a name's undecodable bytes as the \udcXX escapes os.fsdecode gave them
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def parse(data: bytes) -> list[_Database] | None:
    """The databases of a file exactly as :func:`dump` writes them, within the bounds; else
    None (the whole file ignored)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return None
    if not (
        isinstance(document, dict)
        and document.keys() == {"version", "databases"}
        and document["version"] == VERSION
        and isinstance(document["databases"], list)
        and len(document["databases"]) <= MAX_DATABASES
    ):
        return None
    found: list[_Database] = []
    total = 0
    for item in document["databases"]:
        if not (isinstance(item, list) and len(item) == 3):
            return None
        admindir, state, unowned = item
        if not (
            isinstance(admindir, str)
            and isinstance(state, str)
            and isinstance(unowned, list)
            and all(_name(name) for name in unowned)
            and len(set(unowned)) == len(unowned)
        ):
            return None
        total += len(unowned)
        found.append((admindir, state, unowned))
    return found if total <= MAX_PATHS else None


def _name(value: object) -> bool:
    """A name as :meth:`UnownedCache.add` keeps it: absolute, no NUL, at most ``MAX_PATH``
    bytes as the file system spells it (a lone surrogate no path decodes to is refused)."""
    if not (isinstance(value, str) and value.startswith("/") and "\0" not in value):
        return False
    try:
        return len(value.encode("utf-8", "surrogateescape")) <= MAX_PATH
    except UnicodeEncodeError:
        return False
