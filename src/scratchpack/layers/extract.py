"""An image's file system unpacked into a scratch directory, safely, for reading as a root.

``pack BINARY --from IMAGE`` needs the builder image's loader, libraries, glibc data and dpkg
database as a directory the closure search can walk. Layers come from anyone, so this unpacks
them the way a hostile tar cannot turn against the host:

* every path is resolved inside the scratch root as after ``chroot(root)`` (the semantics of
  ``closure.RootResolver``): a symlink met in a parent is followed *inside* the root (an
  absolute target starts again at the root, ``..`` stops at it), a loop is an error; the last
  component is never followed, and every directory is opened with ``O_NOFOLLOW`` relative to
  its already-opened parent, so nothing the tar made can redirect a write;
* members are written only as regular files, directories, symlinks (their text stored as
  data, never followed when writing) and hard links to a regular file already inside the
  root; device files and fifos are skipped; a replaced path is written under a temporary name
  created with ``O_EXCL`` and renamed over it;
* modes keep only the permission bits (no setuid, setgid or sticky), plus owner read (files)
  and owner rwx (directories) so the scratch directory can always be read and removed;
  owners are not applied;
* OCI whiteouts (``.wh.NAME``, the opaque ``.wh..wh..opq``) delete what lower layers put there;
* hostile names (``..`` out of the root, NUL bytes, unknown member types) are refused by
  ``reader.read_layer`` with one error; a total over ``max_bytes`` or ``max_entries`` stops
  the unpacking with an error naming the limit (tar bombs) before writing the member over it;
  runs of zeros are written as holes, so a zero bomb under the limit costs no disk;
* memory stays bounded: content is streamed in chunks, nothing holds a layer.

Not ``RootResolver`` itself: it answers with a path, and opening that path again would follow
whatever is there by then; the walk here holds each directory open as it goes. Not
``tarfile.extractall(filter="data")``: it reads the layer through ``tarfile`` (see
``tarstream.py`` for why not) and leaves whiteouts to the caller.

``tests/test_extract.py`` compares the result with ``tar -x`` and ``umoci unpack``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.fsutil import describe_os_error
from scratchpack.layers.reader import LayerEntry, read_layer, shown
from scratchpack.model.image import Image

MAX_SYMLINKS = 40  # as the kernel's path walk (and closure.MAX_SYMLINKS)
DEFAULT_MAX_BYTES = 8 << 30  # of regular file content: a large builder image holds ~2-3 GiB
DEFAULT_MAX_ENTRIES = 1_000_000  # members over all layers (a Debian with build tools: ~60k)
_CHUNK = 1 << 20
_TEMP = ".scratchpack-extract.tmp"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class ExtractReport:
    """What was unpacked: counts for the summary and the tests."""

    layers: int = 0
    entries: int = 0
    bytes: int = 0
    skipped: int = 0  # device files and fifos


class _Walker:
    """Directory file descriptors inside one root, opened component by component. The parent
    of the last file written stays open (files of one directory come in a row in a tar, and
    the walk is most of the work): ``forget`` drops it whenever anything but a regular file
    is written, since a symlink, a whiteout or a replaced directory may change what the path
    leads to."""

    def __init__(self, root: Path) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS)
        self._kept: tuple[str, int] | None = None

    def close(self) -> None:
        self.forget()
        os.close(self.root_fd)

    def forget(self) -> None:
        if self._kept is not None:
            if self._kept[1] != self.root_fd:
                os.close(self._kept[1])
            self._kept = None

    def file_parent(self, path: str) -> tuple[int, str]:
        """``parent(path, create=True)`` for a regular file, from the kept directory when it
        is the same; the descriptor stays the walker's (not to be closed)."""
        directory, _, name = path.rpartition("/")
        if self._kept is None or self._kept[0] != directory:
            fd = self._walk(directory.split("/") if directory else [], create=True)
            assert fd is not None
            self.forget()
            self._kept = (directory, fd)
        return self._kept[1], name

    @contextlib.contextmanager
    def parent(self, path: str, create: bool) -> Iterator[tuple[int, str] | None]:
        """The open directory holding ``path``'s last component, and that component. Missing
        directories on the way are made (0755) when ``create``, else the answer is None."""
        self.forget()
        parts = path.split("/")
        fd = self._walk(parts[:-1], create)
        if fd is None:
            yield None
            return
        try:
            yield fd, parts[-1]
        finally:
            if fd != self.root_fd:
                os.close(fd)

    def _walk(self, parts: list[str], create: bool) -> int | None:
        pending = list(reversed(parts))  # a stack of the components still to walk
        stack: list[int] = []  # open directories below the root, deepest last
        hops = 0
        try:
            while pending:
                part = pending.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    if stack:
                        os.close(stack.pop())
                    continue
                here = stack[-1] if stack else self.root_fd
                try:
                    info = os.stat(part, dir_fd=here, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        return None
                    os.mkdir(part, 0o755, dir_fd=here)
                    info = os.stat(part, dir_fd=here, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    hops += 1
                    if hops > MAX_SYMLINKS:
                        where = "/".join(parts)
                        raise FormatError(f"too many levels of symbolic links in /{where}")
                    target = os.readlink(part, dir_fd=here)
                    if target.startswith("/"):
                        while stack:
                            os.close(stack.pop())
                    pending.extend(reversed(target.split("/")))
                    continue
                if not stat.S_ISDIR(info.st_mode):
                    if not create:
                        return None
                    raise FormatError(f"/{'/'.join(parts)}: a component is not a directory")
                stack.append(os.open(part, _DIR_FLAGS, dir_fd=here))
        except BaseException:
            for fd in stack:
                os.close(fd)
            raise
        for fd in stack[:-1]:
            os.close(fd)
        return stack[-1] if stack else self.root_fd


def _remove(dir_fd: int, name: str) -> None:
    """Delete ``name`` in ``dir_fd`` whatever it is, never following a symlink."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _kind_at(dir_fd: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None


def _publish(dir_fd: int, name: str) -> bool:
    """Rename the temporary over ``name`` (a directory there is removed first: then True)."""
    existing = _kind_at(dir_fd, name)
    removed = existing is not None and stat.S_ISDIR(existing)
    if removed:
        shutil.rmtree(name, dir_fd=dir_fd)
    os.rename(_TEMP, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    return removed


def _file_mode(mode: int) -> int:
    return (mode & 0o777) | 0o400


def _dir_mode(mode: int) -> int:
    return (mode & 0o777) | 0o700


class _Extractor:
    def __init__(self, root: Path, max_bytes: int, max_entries: int, where: str) -> None:
        self.walker = _Walker(root)
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.where = where
        self.report = ExtractReport()
        self.written: set[str] = set()  # paths this layer wrote (an opaque marker keeps them)
        # directories whose mode is set once the image is unpacked (a 0555 one would refuse
        # the members below it; as root it would not, but we may not be root)
        self.dir_modes: dict[str, int] = {}

    def count(self, entry: LayerEntry) -> None:
        self.report.entries += 1
        if self.report.entries > self.max_entries:
            raise ScratchpackError(
                f"{self.where}: more than {self.max_entries} entries to unpack "
                "(a tar bomb, or raise the limit)"
            )
        if entry.kind == "file" and self.report.bytes + entry.size > self.max_bytes:
            raise ScratchpackError(
                f"{self.where}: /{shown(entry.path)} would take the unpacked files over "
                f"{self.max_bytes >> 20} MiB (a tar bomb, or raise the limit)"
            )

    def file(self, entry: LayerEntry, content: IO[bytes]) -> None:
        """A regular file, streamed under a temporary name then renamed into place."""
        self.count(entry)
        dir_fd, name = self.walker.file_parent(entry.path)
        _remove(dir_fd, _TEMP)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(_TEMP, flags, 0o600, dir_fd=dir_fd)
        try:
            written = 0
            while chunk := content.read(_CHUNK):
                if chunk.count(0) == len(chunk):
                    os.lseek(fd, len(chunk), os.SEEK_CUR)  # a hole
                else:
                    os.write(fd, chunk)
                written += len(chunk)
            os.ftruncate(fd, written)
            os.fchmod(fd, _file_mode(entry.mode))
        finally:
            os.close(fd)
        if _publish(dir_fd, name):
            self.walker.forget()  # a directory was replaced: it may be on the kept path
        self.report.bytes += entry.size
        self.written.add(entry.path)

    def apply(self, entry: LayerEntry) -> None:
        kind = entry.kind
        if kind == "file":
            return  # written by ``file`` as the stream went by
        if kind == "whiteout":
            self.count(entry)
            with self.walker.parent(entry.path, create=False) as found:
                if found is not None:
                    _remove(*found)
            return
        if kind == "opaque":
            self.count(entry)
            with self.walker.parent(entry.path + "/.", create=False) as found:
                if found is not None:
                    self._clear(found[0], entry.path)
            return
        if kind in ("char", "block", "fifo"):
            self.report.skipped += 1
            return
        self.count(entry)
        with self.walker.parent(entry.path, create=True) as found:
            assert found is not None
            dir_fd, name = found
            if kind == "dir":
                existing = _kind_at(dir_fd, name)
                if existing is not None and not stat.S_ISDIR(existing):
                    os.unlink(name, dir_fd=dir_fd)
                    existing = None
                if existing is None:
                    os.mkdir(name, 0o700, dir_fd=dir_fd)
                os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
                self.dir_modes[entry.path] = _dir_mode(entry.mode)
            elif kind == "symlink":
                _remove(dir_fd, _TEMP)
                os.symlink(entry.link, _TEMP, dir_fd=dir_fd)
                _publish(dir_fd, name)
            else:  # a hard link: to a regular file already unpacked, inside the root
                self._hardlink(entry, dir_fd, name)
        self.written.add(entry.path)

    def _hardlink(self, entry: LayerEntry, dir_fd: int, name: str) -> None:
        with self.walker.parent(entry.link, create=False) as target:
            mode = None if target is None else _kind_at(*target)
            if target is None or mode is None or not stat.S_ISREG(mode):
                raise FormatError(
                    f"{self.where}: hard link /{shown(entry.path)} to /{shown(entry.link)}, "
                    "which is not a regular file unpacked before it"
                )
            _remove(dir_fd, _TEMP)
            os.link(target[1], _TEMP, src_dir_fd=target[0], dst_dir_fd=dir_fd,
                    follow_symlinks=False)  # fmt: skip
            _publish(dir_fd, name)

    def _clear(self, dir_fd: int, prefix: str) -> None:
        """Remove what lower layers left in a directory this layer made opaque (what this
        layer wrote there already stays)."""
        for name in os.listdir(dir_fd):
            path = f"{prefix}/{name}" if prefix else name
            if path not in self.written:
                _remove(dir_fd, name)
                continue
            mode = _kind_at(dir_fd, name)
            if mode is not None and stat.S_ISDIR(mode):
                sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                try:
                    self._clear(sub, path)
                finally:
                    os.close(sub)

    def finish(self) -> None:
        """Directory modes, deepest first (so a read-only parent does not refuse its child)."""
        for path in sorted(self.dir_modes, key=lambda p: p.count("/"), reverse=True):
            with self.walker.parent(path, create=False) as found:
                if found is not None and (mode := _kind_at(*found)) and stat.S_ISDIR(mode):
                    os.chmod(found[1], self.dir_modes[path], dir_fd=found[0],
                             follow_symlinks=False)  # fmt: skip


def extract_image(
    image: Image,
    root: Path,
    *,
    where: str = "image",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    count: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Unpack every layer of ``image``, in order, into the empty directory ``root``.

    ``where`` (the image's name) starts every error message. Raises ScratchpackError (a
    FormatError for a malformed or hostile layer); the caller removes ``root`` either way.
    ``count`` is told the stored bytes of the layers as they are read (progress)."""
    extractor = _Extractor(root, max_bytes, max_entries, where)

    def unpacking(action: Callable[..., None]) -> Callable[..., None]:
        """``action`` with its own system errors named as ours, here: the layer's stream
        takes any OSError that passes through it for a decompression error ("layer X: cannot
        decompress: File name too long"). A gzip error is an OSError without an errno."""

        def run(entry: LayerEntry, *content: IO[bytes]) -> None:
            try:
                action(entry, *content)
            except OSError as exc:
                if exc.errno is None:
                    raise
                raise ScratchpackError(
                    f"{where}: cannot unpack /{shown(entry.path)}: {describe_os_error(exc)}"
                ) from exc

        return run

    write_file, apply = unpacking(extractor.file), unpacking(extractor.apply)
    try:
        for layer in image.layers:
            extractor.written = set()
            with layer.open_uncompressed(count) as stream:
                for entry in read_layer(stream, lambda _e: True, write_file):
                    apply(entry)
            extractor.report.layers += 1
        extractor.finish()
    except OSError as exc:
        raise ScratchpackError(f"{where}: cannot unpack: {describe_os_error(exc)}") from exc
    finally:
        extractor.walker.close()
    return extractor.report
