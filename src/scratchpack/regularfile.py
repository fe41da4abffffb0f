"""Reading a file the user (or someone else's repository) named, without hanging on it: only a
regular file, and only up to a bound.

Apart from ``fsutil`` (which re-exports both) so that the lint path, which reads every
Dockerfile and configuration through here, does not import fsutil's shutil, threading and
compression modules at start-up.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import BinaryIO


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, only if it is (or links to) a regular file; else an
    ``OSError`` ("not a regular file"). Why not ``open()``: opening a FIFO blocks until some
    writer comes, forever, and a device reads without end; an image layout or archive
    unpacked from someone else's tar can hold either under a blob's or index.json's name
    (``audit`` hung on one). ``O_NONBLOCK`` makes the open itself return at once; it is
    cleared again once the file is known to be regular."""
    return _open_checked(path, named=False)


def open_named(path: Path) -> BinaryIO:
    """A file the user named on the command line for a bounded read (lint's Dockerfile, its
    ``-c``): a regular file, a character device (``-c /dev/null`` for no configuration,
    ``/dev/zero`` is then refused by the bound) or a pipe the shell made (``lint <(git show
    HEAD:Dockerfile)``: ``/dev/fd/N``, ``/proc/self/fd/N``); not a FIFO elsewhere, which is
    what a cloned repository can hold under the default name ``Dockerfile`` (the open blocked
    for ever)."""
    return _open_checked(path, named=True)


def _open_checked(path: Path, named: bool) -> BinaryIO:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        accepted = stat.S_ISREG(mode) or (
            named and (stat.S_ISCHR(mode) or (stat.S_ISFIFO(mode) and _is_fd_path(path)))
        )
        if not accepted:
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _is_fd_path(path: Path) -> bool:
    """``/dev/fd/N``, ``/dev/stdin`` or ``/proc/self/fd/N`` as written (process substitution)."""
    parts = path.absolute().parts  # as written: resolving would follow /dev/fd's links
    return (
        parts[:3] == ("/", "dev", "fd")
        or parts == ("/", "dev", "stdin")
        or (parts[:2] == ("/", "proc") and len(parts) == 5 and parts[3] == "fd")
    )


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a file the user named (``--vex``, ``--sbom``, a spec, a key...), read only
    if it is regular (:func:`open_regular`) and at most ``limit`` long; else an ``OSError``
    whose ``strerror`` says why ("not a regular file", "larger than 16 MiB: refused"). A size
    checked with ``stat()`` first passed ``/dev/zero`` (st_size 0), which then read for ever."""
    with open_regular(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        shown = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
        raise OSError(errno.EFBIG, f"larger than {shown}: refused", str(path))
    return data
