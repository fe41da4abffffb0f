"""Atomic file system writes: nothing half-written is ever left under a final name."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from scratchpack.errors import ScratchpackError


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ScratchpackError(f"cannot write {path}: {describe_os_error(exc)}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
        tmp.chmod(mode & ~_umask())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ScratchpackError(f"cannot write {path}: {describe_os_error(exc)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_file(path, mode) as handle:
        handle.write(data)


@contextlib.contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """A temporary directory beside ``final``, renamed to ``final`` only on success."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as exc:
        raise ScratchpackError(f"cannot write {final}: {describe_os_error(exc)}") from exc
    try:
        yield tmp
        tmp.chmod(0o755 & ~_umask())
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ScratchpackError(f"cannot write {final}: {describe_os_error(exc)}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def scratch_directory(near: Path, prefix: str = "scratchpack") -> Iterator[Path]:
    """A temporary work directory on the same file system as ``near`` (so renames work)."""
    base = near if near.is_dir() else near.parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{prefix}.", suffix=".tmp", dir=base))
    except OSError:
        tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}."))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def link_or_copy(source: Path, dest: Path) -> None:
    """Put ``source``'s bytes at ``dest`` atomically, by hard link when on one file system."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        tmp.replace(dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ScratchpackError(f"cannot write {dest}: {describe_os_error(exc)}") from exc


def check_parent_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path()
    if not parent.exists():
        raise ScratchpackError(f"cannot write {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise ScratchpackError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScratchpackError(f"cannot write {path}: directory {parent} is not writable")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
