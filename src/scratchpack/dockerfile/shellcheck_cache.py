"""ShellCheck's results kept by script, on disk and in memory, so that a RUN already checked is
not checked again.

Why: pre-commit hooks and editors start one ``scratchpack lint`` per file, and most of the
RUNs they lint did not change since the last run; a ``shellcheck`` process is 10-40 ms of a
one-file lint (more than the rules), and hadolint, which links ShellCheck in, pays none of it.

What a key covers: the sha256 of the shellcheck binary's identity (its path and the size,
inode and modification time of what it points at: asking it for ``--version`` would cost the
very process the cache saves), the exact arguments it is run with (dialect, exclusions) and
the script's text, which carries the dialect's shebang and the exported names. ShellCheck
checks each file of a batch on its own (``--norc``, no ``source``), so a script's findings do
not depend on the other scripts of its batch, and a key per script lets a file with one
changed RUN re-check that RUN alone.

What a value is: ShellCheck's comments on that script, in its order, as ``(code, level,
line, column, message)`` relative to the script (the Dockerfile's ignores and pragmas are
applied after, by the caller), in a small JSON document that names its own key.

Where: ``$SCRATCHPACK_SHELLCHECK_CACHE`` when set (``0`` or empty: no cache), else
``$XDG_CACHE_HOME/scratchpack/shellcheck`` (``~/.cache/...``), a directory of ours closed to
others (0700; one that is not, owned by another user or open to the group, is not used at
all). Entries are written whole (a temporary, then a rename), and an entry that is not a
regular file, is larger than ``MAX_ENTRY``, is not valid JSON of the expected shape or names
another key is ignored (and rewritten once ShellCheck has answered again): nothing read back
is trusted without its shape checked. ``MAX_ENTRIES`` bounds the directory: after a run that
wrote, the least recently used entries (by modification time, which a hit refreshes) are
deleted down to three quarters of it. A lint server keeps the same entries in memory too
(``MEMORY`` of them, least recently used dropped first).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from scratchpack import cachefiles

# CPython's own sha256 (the one hashlib falls back to), not hashlib's OpenSSL binding: loading
# libcrypto costs about 10 ms of CPU per process on this machine (measured, docs/benchmarks.md
# "lint"), a third of hadolint's whole run, to hash a few hundred bytes. The module is named
# _sha2 since Python 3.12; hashlib is the fallback where neither exists.
try:
    from _sha2 import sha256  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found, no-redef, unused-ignore]
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment, no-redef, unused-ignore]

# (code, level, line, column, message), relative to the script
Comment = tuple[int, str, int, int, str]

ENV_DIRECTORY = "SCRATCHPACK_SHELLCHECK_CACHE"  # a directory to use; "0" or empty: no cache
VERSION = 1  # of the entry format: a change makes every older entry a miss
MAX_ENTRY = 64 * 1024  # bytes: ShellCheck's comments on one RUN are a few hundred
MAX_ENTRIES = 4096
MAX_COMMENTS = 1000
MAX_MESSAGE = 4096
MEMORY = 4096
LEVELS = frozenset({"error", "warning", "info", "style"})
REFRESH = 3600.0  # seconds: a hit older than this refreshes its entry's time (LRU eviction)

_memory: dict[str, tuple[Comment, ...]] = {}


def directory() -> Path | None:
    """The cache directory (not yet created), or None when the cache is off."""
    return cachefiles.chosen(ENV_DIRECTORY, "shellcheck")


def identity(program: str) -> str | None:
    """What names this shellcheck binary's build: its path and its target's inode, size and
    modification time; None when it cannot be looked at (no caching then)."""
    try:
        st = Path(program).stat()
    except OSError:
        return None
    return f"{program}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class Cache:
    """ShellCheck's comments by script, for one binary and one set of arguments."""

    __slots__ = ("_base", "_directory", "_usable", "wrote")

    def __init__(self, program_identity: str, arguments: tuple[str, ...], where: Path) -> None:
        self._base = sha256(
            json.dumps([VERSION, program_identity, list(arguments)]).encode()
        ).digest()
        self._directory = where
        self._usable: bool | None = None  # checked at the first read or write
        self.wrote = False

    def key(self, text: str) -> str:
        """The key of one script's results."""
        digest: str = sha256(self._base + text.encode("utf-8", "surrogateescape")).hexdigest()
        return digest

    def _ready(self, create: bool) -> bool:
        """Whether the directory can be used: ours, a directory, closed to others."""
        if self._usable is None or (create and not self._usable):
            if create:
                self._usable = cachefiles.usable_directory(self._directory, create=True)
                return self._usable
            try:
                st = self._directory.lstat()
            except OSError:
                return False  # not there yet: nothing to read; a write creates it
            self._usable = cachefiles.private(st)
        return self._usable

    def get(self, key: str) -> tuple[Comment, ...] | None:
        """The comments stored for ``key``, or None (a miss, or an entry not to be trusted)."""
        if key in _memory:
            found = _memory.pop(key)
            _memory[key] = found  # most recently used last
            return found
        if not self._ready(create=False):
            return None
        path = self._directory / key
        read = cachefiles.read_entry(path, MAX_ENTRY)
        if read is None:
            return None
        data, st = read
        stored = parse_entry(data, key)
        if stored is None:
            return None
        if st.st_mtime < _now() - REFRESH:
            with contextlib.suppress(OSError):
                os.utime(path)
        _remember(key, stored)
        return stored

    def put(self, key: str, comments: tuple[Comment, ...]) -> None:
        """Store ``comments`` for ``key``: in memory, and on disk written whole (temporary and
        rename); a directory that cannot be written only loses the entry."""
        _remember(key, comments)
        if not self._ready(create=True):
            return
        data = json.dumps(
            {"version": VERSION, "key": key, "comments": [list(c) for c in comments]},
            separators=(",", ":"),
        ).encode()
        if len(data) > MAX_ENTRY:
            return
        if cachefiles.write_entry(self._directory / key, data):
            self.wrote = True

    def trim(self) -> None:
        """Delete the least recently used entries when there are more than ``MAX_ENTRIES``,
        down to three quarters of it (and temporaries an interrupted run left, once old)."""
        if not self.wrote:
            return
        entries: list[tuple[float, str]] = []
        try:
            with os.scandir(self._directory) as scan:
                for entry in scan:
                    try:
                        entries.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
                    except OSError:
                        continue
        except OSError:
            return
        now = _now()
        stale = [n for t, n in entries if n.endswith(".tmp") and t < now - REFRESH]
        if len(entries) <= MAX_ENTRIES and not stale:
            return
        entries.sort()
        excess = max(0, len(entries) - MAX_ENTRIES * 3 // 4)
        for name in {*stale, *(n for _, n in entries[:excess])}:
            with contextlib.suppress(OSError):
                (self._directory / name).unlink()


def _now() -> float:
    import time

    return time.time()


def _remember(key: str, comments: tuple[Comment, ...]) -> None:
    _memory.pop(key, None)
    _memory[key] = comments
    while len(_memory) > MEMORY:
        del _memory[next(iter(_memory))]


def parse_entry(data: bytes, key: str) -> tuple[Comment, ...] | None:
    """An entry's comments when it is exactly what ``put`` writes for ``key``, else None."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if (
        not isinstance(document, dict)
        or document.keys() != {"version", "key", "comments"}
        or document["version"] != VERSION
        or document["key"] != key
        or not isinstance(document["comments"], list)
        or len(document["comments"]) > MAX_COMMENTS
    ):
        return None
    found = []
    for item in document["comments"]:
        if not (isinstance(item, list) and len(item) == 5):
            return None
        code, level, line, column, message = item
        if not (
            _count(code)
            and isinstance(level, str)
            and level in LEVELS
            and _count(line)
            and _count(column)
            and isinstance(message, str)
            and len(message) <= MAX_MESSAGE
        ):
            return None
        found.append((code, level, line, column, message))
    return tuple(found)


def _count(value: object) -> bool:
    return type(value) is int and 0 <= value < 1 << 31


def clear_memory() -> None:
    """Forget what is held in memory (tests; a server told to)."""
    _memory.clear()
