"""Atomic file system writes: nothing half-written is ever left under a final name.

Every temporary name this module makes is ``.<name>.<pid>.<random>.tmp`` beside its target,
and its creator holds a shared ``flock`` on it while it lives, so that a later writer can tell
the leftovers of a killed process (lock free, and its pid dead or the file old) from the work
of a live one, even one in another pid namespace, and remove them (``remove_stale``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from scratchpack.errors import ScratchpackError
from scratchpack.regularfile import open_regular, read_regular

__all__ = ["open_regular", "read_regular"]  # where most callers look for them

STALE_AGE = 3600  # seconds: a temporary whose creator cannot be identified is stale after this
_TEMP_RE = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?(?P<token>[A-Za-z0-9_]+)\.tmp$")


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def temp_prefix(name: str) -> str:
    """The start of a temporary name for ``name``: ``.<name>.<pid>.`` (mkstemp adds the rest)."""
    return f".{name}.{os.getpid()}."


def _hold(fd: int) -> None:
    """A shared lock on our own temporary, so cleaners know it is alive."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)


def _through_proc(path: Path) -> bool:
    """Whether ``path`` is a process's open file in /proc or reaches one by symbolic links
    (``/dev/stdout`` -> ``/proc/self/fd/1``): realpath() resolves the magic fd link to the
    file fd 1 has open, so the links are followed one by one. Any other file of /proc
    (``/proc/self/mem``...) is refused."""
    current = Path.cwd() / path
    for _ in range(40):  # the kernel's own limit of links in one lookup
        if current.parts[:2] == ("/", "proc"):
            if len(current.parts) == 5 and current.parts[3] == "fd":
                return True
            raise ScratchpackError(f"cannot write {path}: a file of /proc: refused")
        try:
            target = current.readlink()
        except OSError:
            return False  # not a link (or gone): an ordinary file, renamed over as ever
        current = Path(os.path.normpath(current.parent / target))
    return False


def _stream_target(path: Path) -> bool:
    """Whether ``path`` names something a rename must not replace, to be written through
    instead: a character device or FIFO (``-o /dev/null``, a shell's ``>(...)``), or a link
    into /proc (``/dev/stdout``, whatever fd 1 is). Renaming a temporary over them replaced
    the device node itself (running as root, ``-o /dev/zero`` left a JSON file in its place,
    and every later reader of /dev/zero read that) or the /dev/stdout link. A block device
    is refused: writing an SBOM over a disk is never what was meant."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False  # absent (or unnameable: the temporary's creation will say so)
    if stat.S_ISBLK(mode):
        raise ScratchpackError(f"cannot write {path}: a block device: refused")
    if stat.S_ISREG(mode):
        return _through_proc(path)
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextlib.contextmanager
def _written_through(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for appending (after what the process already wrote to its stdout, if
    that is where it leads); ``O_NONBLOCK`` only for the open, so that a FIFO nobody reads is
    an error at once (ENXIO), not a hang."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except OSError as exc:
        raise ScratchpackError(f"cannot write {path}: {describe_os_error(exc)}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
    except OSError as exc:
        raise ScratchpackError(f"cannot write {path}: {describe_os_error(exc)}") from exc


@contextlib.contextmanager
def atomic_file(
    path: Path,
    mode: int = 0o644,
    *,
    fsync: bool = False,
    sync_directory: bool = True,
    replace: bool = True,
    write_through: bool = True,
) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    With ``fsync`` the data reach the disk before the rename, so that after a crash the
    name holds either the old content or the whole new one; and the directory is synced too,
    so that the name itself survives, unless ``sync_directory`` is False: for a caller that
    syncs the directory once after many files (a layout's staged blobs, synced at commit
    before anything names them), not once per file.

    Without ``replace`` the temporary gets the name only if nothing holds it at that
    instant, else "PATH already exists; use --force to replace it": the check a caller made
    before its work is then not the last word (two packs to one new archive without
    ``--force`` both found no file, and the second silently replaced the first's). A hard
    link publishes it (``link`` fails on an existing name, atomically, where ``rename``
    replaces), so nothing but the file is left beside it, unlike a lock file; on a file
    system without hard links the name is checked just before the rename (racy, as before).

    A device, FIFO or /proc link (``/dev/null``, ``/dev/stdout``) is written through instead
    (see :func:`_stream_target`): there is no file to be half-written. Not with
    ``write_through=False``, for a name in a directory the caller owns (``init``'s files in a
    project someone else made): there a symlink is replaced, never followed to a FIFO or
    device outside it.
    """
    if write_through and _stream_target(path):
        with _written_through(path) as handle:
            yield handle
        return
    try:
        import tempfile  # (slow to import: only writers need it)

        fd, tmp_name = tempfile.mkstemp(
            prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent
        )
    except OSError as exc:
        raise ScratchpackError(f"cannot write {path}: {describe_os_error(exc)}") from exc
    _hold(fd)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode & ~_umask())
            if replace:
                tmp.replace(path)
            else:
                _publish_new(tmp, path)
        if fsync and sync_directory:
            fsync_directory(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ScratchpackError(f"cannot write {path}: {describe_os_error(exc)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class AlreadyExists(ScratchpackError):
    """``atomic_file(replace=False)`` found the name taken when it came to publish."""


_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS)


def _publish_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if it is free (see ``atomic_file``)."""
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise AlreadyExists(f"{path} already exists; use --force to replace it") from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(path):
            raise AlreadyExists(f"{path} already exists; use --force to replace it") from None
        tmp.replace(path)
        return
    tmp.unlink()


def atomic_write(
    path: Path,
    data: bytes,
    mode: int = 0o644,
    *,
    fsync: bool = False,
    sync_directory: bool = True,
    replace: bool = True,
    write_through: bool = True,
) -> None:
    with atomic_file(
        path,
        mode,
        fsync=fsync,
        sync_directory=sync_directory,
        replace=replace,
        write_through=write_through,
    ) as handle:
        handle.write(data)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # some file systems cannot
            raise
    finally:
        os.close(fd)


class TempDirectory:
    """A private (0700) temporary directory in ``parent``, locked while it lives.

    ``release()`` lets go of it without deleting (after it was renamed into place);
    ``remove()`` deletes it.
    """

    def __init__(self, parent: Path, name: str) -> None:
        try:
            import tempfile  # (slow to import: only writers need it)

            self.path = Path(tempfile.mkdtemp(prefix=temp_prefix(name), suffix=".tmp", dir=parent))
        except OSError as exc:
            raise ScratchpackError(
                f"cannot write {parent / name}: {describe_os_error(exc)}"
            ) from exc
        self._fd: int | None = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        _hold(self._fd)

    def rename_to(self, final: Path) -> None:
        """Publish the directory as ``final`` (mode 0755 less the umask); OSError if taken."""
        self.path.chmod(0o755 & ~_umask())
        self.path.rename(final)
        self.path = final
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Delete the directory, unless it was published."""
        if self._fd is not None:
            import shutil  # (slow to import, with bz2 and lzma: only writers need it)

            shutil.rmtree(self.path, ignore_errors=True)
        self.release()


@contextlib.contextmanager
def scratch_directory(near: Path, prefix: str = "scratchpack") -> Iterator[Path]:
    """A temporary work directory on the same file system as ``near`` (so renames work)."""
    base = near if near.is_dir() else near.parent
    try:
        scratch = TempDirectory(base, prefix)
    except ScratchpackError:
        import tempfile  # (slow to import: only writers need it)

        scratch = TempDirectory(Path(tempfile.gettempdir()), prefix)
    try:
        yield scratch.path
    finally:
        scratch.remove()


LOCK_TIMEOUT = 300.0  # seconds: default wait for another writer's lock (SCRATCHPACK_LOCK_TIMEOUT)
LOCK_NOTICE_AFTER = 1.0  # seconds of waiting before saying why nothing happens
_LOCK_POLL_MAX = 0.1  # seconds between tries, reached by doubling from 5 ms


def lock_timeout() -> float:
    """The lock wait from ``SCRATCHPACK_LOCK_TIMEOUT`` (seconds), else ``LOCK_TIMEOUT``."""
    text = os.environ.get("SCRATCHPACK_LOCK_TIMEOUT", "")
    try:
        value = float(text)
    except ValueError:
        return LOCK_TIMEOUT
    return value if value >= 0 else LOCK_TIMEOUT


@contextlib.contextmanager
def exclusive_lock(
    path: Path, timeout: float | None = None, notice: TextIO | None = None
) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``path`` (created if missing, never a symlink followed).

    The lock file is never renamed or deleted: a lock on a file that a rename replaces
    would lock nothing. Writers hold these locks for the short commit of a small file, so a
    wait longer than a second means another process is busy or stuck: after
    ``LOCK_NOTICE_AFTER`` one line on ``notice`` (stderr by default) says whose lock we wait
    for, so a user never stares at a silent hang, and after ``timeout`` seconds
    (``lock_timeout()`` by default) the wait ends in a clear error instead of forever.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise ScratchpackError(f"cannot lock {path}: {describe_os_error(exc)}") from exc
    try:
        _wait_for_lock(fd, path, lock_timeout() if timeout is None else timeout, notice)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _wait_for_lock(fd: int, path: Path, timeout: float, notice: TextIO | None) -> None:
    start = time.monotonic()
    noticed = False
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as exc:
            raise ScratchpackError(f"cannot lock {path}: {describe_os_error(exc)}") from exc
        waited = time.monotonic() - start
        if waited >= timeout:
            raise ScratchpackError(
                f"gave up after {timeout:g} s waiting for the lock on {path}: another process "
                "holds it (set SCRATCHPACK_LOCK_TIMEOUT to wait longer)"
            )
        if not noticed and waited >= LOCK_NOTICE_AFTER:
            stream = notice if notice is not None else sys.stderr
            stream.write(f"scratchpack: waiting for another process's lock on {path}\n")
            stream.flush()
            noticed = True
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL_MAX)


def remove_stale(directory: Path, name: str | None = None) -> list[Path]:
    """Delete the temporaries in ``directory`` that no live writer owns; return them.

    A temporary (``.<name>[.<pid>].<random>.tmp``, for one ``name`` if given) is stale when
    nobody holds a lock on it and either its pid is not a running process or it is older
    than ``STALE_AGE``. Symlinks are removed, never followed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if not match or (name is not None and match["name"] != name):
            continue
        path = Path(entry.path)
        if _is_stale(path, match["pid"]):
            try:
                if entry.is_dir(follow_symlinks=False):
                    import shutil

                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


def _is_stale(path: Path, pid_text: str | None) -> bool:
    try:
        info = path.lstat()
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return exc.errno == errno.ELOOP  # a symlink under a temporary name: never ours
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its writer is alive
    finally:
        os.close(fd)
    if pid_text is not None and not _pid_alive(int(pid_text)):
        return True
    return time.time() - info.st_mtime > STALE_AGE


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we can judge: leave it to the age rule
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: someone else's live process
    return True


def check_parent_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path()
    if not parent.exists():
        raise ScratchpackError(f"cannot write {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise ScratchpackError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScratchpackError(f"cannot write {path}: directory {parent} is not writable")


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask, read without changing it.

    ``os.umask`` can only be read by setting it, and a pull stages blobs on several threads:
    two of them reading at once could leave it at 0 for the rest of the process (A reads
    B's temporary 0 and puts that back last), and any thread's ``mkdir`` or file written in
    the window ignored the user's umask (0777 directories; 0644 blobs under a umask of
    077). Linux (4.7+) shows it in ``/proc/self/status``, shared by all threads; elsewhere
    it is set and put back under a lock (which orders this module's readers only)."""
    try:
        with Path("/proc/self/status").open("rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        current = os.umask(0)
        os.umask(current)
    return current
