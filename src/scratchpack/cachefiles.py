"""The small files scratchpack's caches keep under the user's cache directory: where they go,
whether their directory can be trusted, one read back bounded, one written whole.

Why shared: ShellCheck's results (``dockerfile/shellcheck_cache.py``) and the dpkg owner
search's misses (``debian/unowned.py``) are caches that a broken, foreign or hostile entry
must neither fool nor crash, and that two processes may write at once: the same checks in one
place. Standard library only (``os``, ``stat``): both caches are on start-up paths (issue 17).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/scratchpack`` (``~/.cache/scratchpack`` when unset or empty), not yet
    created."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "scratchpack"


def chosen(env: str, default: str) -> Path | None:
    """Where a cache lives: the path in the environment variable ``env`` ("0" or empty: no
    cache), else ``default`` under :func:`cache_home`."""
    value = os.environ.get(env)
    if value is not None:
        return None if value in ("", "0") else Path(value)
    return cache_home() / default


def private(st: os.stat_result) -> bool:
    """Whether ``st`` (an ``lstat``) is a directory of this user that nobody else can write
    into: entries in another one could have been planted."""
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.geteuid()
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def usable_directory(directory: Path, *, create: bool) -> bool:
    """Whether ``directory`` can hold cache entries (:func:`private`); with ``create`` it is
    made first (0700, with its parents) when missing."""
    if create:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return False
    try:
        return private(directory.lstat())
    except OSError:
        return False


def read_entry(path: Path, limit: int) -> tuple[bytes, os.stat_result] | None:
    """The bytes of the regular file ``path`` (no symlink followed, a FIFO never waited on)
    and its ``fstat``; None when absent, unreadable, of another kind or larger than ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (data, st) if len(data) <= limit else None


def write_entry(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole: a new temporary beside it (0600, never an existing
    file or a symlink), then a rename, so that a reader sees the old entry or the new one and
    two writers the last one. False (and no temporary left) when it cannot be written, or
    when ``path`` is a device, FIFO, socket or directory: a cache location named by the user
    (``SCRATCHPACK_DPKG_CACHE=/dev/null``) must not have its device replaced by our file
    (running as root, that replaced /dev/null). A symlink is replaced itself, never
    followed."""
    if not replaceable(path):
        return False
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            with memoryview(data) as view:
                done = 0
                while done < len(view):
                    done += os.write(fd, view[done:])
        finally:
            os.close(fd)
        if not replaceable(path):  # made in the meantime
            raise OSError(errno.EEXIST, "not a regular file", os.fspath(path))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


def replaceable(path: Path) -> bool:
    """Whether ``path`` is absent, a regular file or a symlink (not followed)."""
    try:
        mode = path.lstat().st_mode
        return stat.S_ISREG(mode) or stat.S_ISLNK(mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def path_lock(kind: str, path: Path) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock for one read-change-replace of the user's file or directory ``path``
    (``kind`` names the writer: ``fix``, ``init``), kept in ``$XDG_CACHE_HOME/scratchpack/locks/``
    (a private directory) and not beside it, where a lock file would be clutter in the user's
    project. Why: two ``lint --fix`` of one file at once each fixed the text they had read, and
    the second replace dropped the first's fixes; two ``init --force`` of one project could
    leave a set of files from two runs (``tests/test_parallel_writers.py``). It orders
    scratchpack runs of one user; an editor saving meanwhile is not excluded. One empty lock
    file per path ever locked, never deleted (deleting a lock file another process waits on
    would let a third lock a new one). No usable lock directory: no lock."""
    import hashlib

    from scratchpack.fsutil import exclusive_lock

    directory = cache_home() / "locks"
    try:
        target = os.fsencode(path.resolve())
    except (OSError, RuntimeError):
        return contextlib.nullcontext()
    if not usable_directory(directory, create=True):
        return contextlib.nullcontext()
    return exclusive_lock(directory / f"{kind}-{hashlib.sha256(target).hexdigest()[:32]}.lock")
