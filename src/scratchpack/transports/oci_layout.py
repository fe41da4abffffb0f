"""The OCI image layout (image-spec v1.0/1.1): ``oci-layout``, ``index.json``, ``blobs/``.

Several images share one layout, each named by the ``org.opencontainers.image.ref.name``
annotation of its ``index.json`` entry, as skopeo and umoci do.

Writing goes through :class:`LayoutWriter`: every blob is verified (size and digest) into a
private staging directory first, so a corrupt input or a failure leaves the layout exactly as
it was; then, holding ``flock(LOCK_EX)`` on ``index.json.lock`` in the layout, the writer
checks the tag, renames its blobs in and replaces ``index.json`` (temp, fsync, rename). Parallel
writers therefore never lose each other's tags. skopeo and umoci take no such lock
(containers/image#1028), so the lock orders scratchpack's writers only.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast

from scratchpack.errors import (
    DigestMismatchError,
    FormatError,
    ImageNotFoundError,
    NotFoundError,
    ScratchpackError,
    UsageError,
    some,
)
from scratchpack.fsutil import (
    TempDirectory,
    atomic_file,
    atomic_write,
    describe_os_error,
    exclusive_lock,
    fsync_directory,
    open_regular,
    remove_stale,
)
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest, VerifyingReader, verify_bytes
from scratchpack.model.image import BlobSource, Image
from scratchpack.model.limits import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, too_large
from scratchpack.model.manifest import Index, Manifest, canonical_json, load_json

DEFAULT_TAG = "latest"
LOCK_FILE = "index.json.lock"
_COPY_CHUNK = 1 << 20
# Staged blobs are fsynced together at commit, this many at once: the file system merges
# concurrent fsyncs into few journal commits (50 blobs of 1 MB: 0.3-0.4 s one by one, 0.1 s
# four at a time, 0.05 s fifty at a time on this project's 2-core VM, issue 17).
SYNC_JOBS = 32


class LayoutBlobs(NamedTuple):
    """Reads blobs from ``DIR/blobs/ALG/HEX``, verifying each against its digest.
    (A NamedTuple, not a dataclass: on every ``pack``'s path; see ``operations/elf.py``.)"""

    root: Path

    def path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        path = self.path(descriptor.digest)
        try:
            handle = open_regular(path)
        except FileNotFoundError:
            raise NotFoundError(f"{self.root}: blob {descriptor.digest} is missing") from None
        except OSError as exc:
            raise ScratchpackError(f"cannot read {path}: {describe_os_error(exc)}") from exc
        return cast(
            BinaryIO, VerifyingReader(handle, descriptor.digest, descriptor.size, f"blob {path}")
        )

    def read_bytes(self, descriptor: Descriptor, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        """A small blob (manifest, index, config) in memory: refused unread above ``limit``,
        and never more than its declared size + 1 bytes read, whatever the file holds."""
        if descriptor.size > limit:
            raise FormatError(too_large(f"blob {descriptor.digest}", descriptor.size, limit))
        path = self.path(descriptor.digest)
        try:
            with open_regular(path) as handle:
                data = handle.read(descriptor.size + 1)
        except FileNotFoundError:
            raise NotFoundError(f"{self.root}: blob {descriptor.digest} is missing") from None
        except OSError as exc:
            raise ScratchpackError(f"cannot read {path}: {describe_os_error(exc)}") from exc
        return verify_bytes(data, descriptor.digest, descriptor.size, f"blob {path}")

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return self.path(descriptor.digest)


def is_layout(directory: Path) -> bool:
    return (directory / "oci-layout").is_file()


def _read_capped(path: Path, limit: int) -> bytes:
    """The whole file if it is at most ``limit`` bytes: its size is checked before reading,
    and at most ``limit + 1`` bytes are read in case it grows meanwhile."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise FormatError(too_large(str(path), max(size, len(data)), limit))
    return data


def read_index(directory: Path) -> Index:
    if not directory.exists():
        raise ImageNotFoundError(f"{directory}: no such directory")
    if not is_layout(directory):
        raise FormatError(f"{directory} is not an OCI image layout (no oci-layout file)")
    try:
        oci_layout = _read_capped(directory / "oci-layout", MAX_MANIFEST_BYTES)
        layout = load_json(oci_layout, f"{directory}/oci-layout")
        data = _read_capped(directory / "index.json", MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise FormatError(f"{directory} is not an OCI image layout (no index.json)") from None
    except OSError as exc:
        where = exc.filename or directory  # index.json itself when it is what cannot be read
        raise ScratchpackError(f"cannot read {where}: {describe_os_error(exc)}") from exc
    version = str(layout.get("imageLayoutVersion", ""))
    if not version.startswith("1."):
        raise FormatError(f"{directory}: unsupported imageLayoutVersion {version!r}")
    return Index.parse(data, f"{directory}/index.json")


def list_tags(directory: Path) -> list[str]:
    index = read_index(directory)
    return sorted(
        {
            d.annotations[mt.ANNOTATION_REF_NAME]
            for d in index.manifests
            if mt.ANNOTATION_REF_NAME in d.annotations
        }
    )


def read_image(directory: Path, tag: str | None, platform: Platform | None = None) -> Image:
    """Open the image named ``tag`` (or the only one) in the layout."""
    entry = find_entry(directory, tag)
    where = f"oci:{directory}:{tag}" if tag else f"oci:{directory}"
    return resolve_manifest(LayoutBlobs(directory), entry, platform, where)


def find_entry(directory: Path, tag: str | None) -> Descriptor:
    """The ``index.json`` entry named ``tag``, or the only entry when no tag is given."""
    index = read_index(directory)
    if tag:
        matches = [d for d in index.manifests if d.annotations.get(mt.ANNOTATION_REF_NAME) == tag]
        if not matches:
            known = some(list_tags(directory))
            raise ImageNotFoundError(f"oci:{directory}: no image tagged {tag!r} (tags: {known})")
    else:
        matches = list(index.manifests)
        if len(matches) != 1:
            known = some(list_tags(directory))
            raise UsageError(
                f"oci:{directory} holds {len(matches)} images: name one with oci:DIR:TAG "
                f"(tags: {known})"
            )
    return matches[0]


def resolve_manifest(
    blobs: LayoutBlobs, descriptor: Descriptor, platform: Platform | None, where: str
) -> Image:
    """Follow an index to the manifest for ``platform`` and assemble the image; an index's
    digest stays its manifest digest (what the tag points at, as skopeo reports it)."""
    index_digest = descriptor.digest if descriptor.media_type in mt.INDEX_TYPES else None
    seen = 0
    while descriptor.media_type in mt.INDEX_TYPES:
        seen += 1
        if seen > 4:
            raise FormatError(f"{where}: indexes nested too deep")
        nested = Index.parse(blobs.read_bytes(descriptor), f"{where} index {descriptor.digest}")
        descriptor = nested.choose(platform, where)
    if descriptor.media_type and descriptor.media_type not in mt.MANIFEST_TYPES:
        raise FormatError(f"{where}: unsupported manifest media type {descriptor.media_type!r}")
    manifest_bytes = blobs.read_bytes(descriptor)
    config_desc = Manifest.parse(manifest_bytes, f"{where}: manifest").config
    config_bytes = blobs.read_bytes(config_desc, MAX_CONFIG_BYTES)
    image = Image.assemble(manifest_bytes, config_bytes, blobs, where)
    return replace(image, index_digest=index_digest) if index_digest else image


def write_image(
    directory: Path,
    tag: str | None,
    image: Image,
    *,
    force: bool = False,
    extra_annotations: dict[str, str] | None = None,
) -> Descriptor:
    """Add ``image`` to the layout at ``directory`` under ``tag`` (default ``latest``)."""
    tag = tag or DEFAULT_TAG
    with LayoutWriter(directory) as writer:
        sources = {layer.descriptor.digest: layer.source for layer in image.layers}
        for descriptor in unique_descriptors([layer.descriptor for layer in image.layers]):
            writer.put_blob(descriptor, sources[descriptor.digest])
        writer.put_bytes(image.manifest.config, image.config_bytes)
        writer.put_bytes(
            Descriptor(image.manifest.media_type, image.digest, len(image.manifest_bytes)),
            image.manifest_bytes,
        )
        entry = Descriptor(
            image.manifest.media_type,
            image.digest,
            len(image.manifest_bytes),
            {**(extra_annotations or {})},
            image.config.platform if image.config.platform.architecture else None,
        )
        return writer.commit(tag, entry, force=force)


def unique_descriptors(descriptors: list[Descriptor]) -> list[Descriptor]:
    """Each blob once (an image may list one layer twice), in order."""
    seen: set[Digest] = set()
    unique = []
    for descriptor in descriptors:
        if descriptor.digest not in seen:
            seen.add(descriptor.digest)
            unique.append(descriptor)
    return unique


def init_layout(directory: Path) -> None:
    (directory / "blobs" / "sha256").mkdir(parents=True)
    atomic_write(
        directory / "oci-layout", canonical_json({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION})
    )
    atomic_write(directory / "index.json", Index(()).to_bytes())


def set_tag(directory: Path, tag: str, entry: Descriptor) -> None:
    """Point ``tag`` at ``entry`` in index.json, keeping every other entry (under the lock)."""
    with exclusive_lock(directory / LOCK_FILE):
        _write_tag(directory, tag, entry)


def _write_tag(directory: Path, tag: str, entry: Descriptor) -> None:
    index = read_index(directory)
    named = entry.with_annotations({**entry.annotations, mt.ANNOTATION_REF_NAME: tag})
    kept = [d for d in index.manifests if d.annotations.get(mt.ANNOTATION_REF_NAME) != tag]
    new_index = Index((*kept, named), mt.OCI_INDEX, index.annotations)
    atomic_write(directory / "index.json", new_index.to_bytes(), fsync=True)


def verified_file(path: Path, descriptor: Descriptor) -> BinaryIO:
    handle = open_regular(path)
    return cast(BinaryIO, VerifyingReader(handle, descriptor.digest, descriptor.size, str(path)))


def _blob_name(descriptor: Descriptor) -> str:
    return f"blob {descriptor.digest}"


def _verifying(stream: BinaryIO, descriptor: Descriptor) -> BinaryIO:
    """Checked here, at the sink: by the stream itself when it is (or forwards to) a
    :class:`VerifyingReader` of exactly this digest and size, untouched so far (hashing 300 MB
    twice cost a pull 0.2 s), else by a verifier wrapped around it."""
    proves = getattr(stream, "proves", None)
    if callable(proves) and proves(descriptor.digest, descriptor.size) is True:
        return stream
    reader = VerifyingReader(stream, descriptor.digest, descriptor.size, _blob_name(descriptor))
    return cast(BinaryIO, reader)


def _can_share_inode(path: Path) -> bool:
    """Whether a hard link to ``path`` stays what we verified: a regular file that only we
    (our uid) can modify. Anyone else's file, or one others may write, is copied instead,
    since a later write to a shared inode would change our copy too."""
    try:
        info = path.lstat()  # a symlink is never linked: the link would be the symlink
    except OSError:
        return False
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _hash_to_end(stream: BinaryIO) -> None:
    while stream.read(_COPY_CHUNK):
        pass


class TagMovedError(ScratchpackError):
    """A tag changed between a read and a conditional commit (``LayoutWriter.commit``)."""


class LayoutWriter:
    """One write into an OCI layout: blobs staged and verified, then committed under the lock.

    For a new layout the staging directory (beside it) is a whole layout, renamed into place
    on commit; if another writer created the layout meanwhile, the rename fails and this
    writer adds into that layout under the lock instead. For an existing layout the staging
    directory is ``.scratchpack.<pid>.<random>.tmp`` inside it, holding the new blobs only.
    Nothing enters the layout before ``commit``; leaving the ``with`` block without a commit
    removes the staging directory and leaves the layout untouched.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._verified: set[Digest] = set()
        self._unsynced: list[Path] = []  # staged, to be fsynced before commit names them
        self._made: set[Path] = set()  # staging directories made
        self._guard = threading.Lock()
        if directory.exists() and not directory.is_dir():
            raise ScratchpackError(
                f"cannot write oci:{directory}: it exists and is not a directory"
            )
        # A non-empty directory may be a layout another writer renamed into place just now.
        self.new = not is_layout(directory)
        if self.new and directory.is_dir() and any(directory.iterdir()):
            self.new = not is_layout(directory)
        if self.new:
            if directory.is_dir() and any(directory.iterdir()):
                raise ScratchpackError(
                    f"cannot write oci:{directory}: the directory exists and is not an OCI layout"
                )
            try:
                directory.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ScratchpackError(
                    f"cannot write oci:{directory}: {describe_os_error(exc)}"
                ) from exc
            remove_stale(directory.parent, directory.name)
            self._stage = TempDirectory(directory.parent, directory.name)
        else:
            self._stage = TempDirectory(directory, "scratchpack")
        try:
            if self.new:
                init_layout(self._stage.path)
            else:
                (self._stage.path / "blobs").mkdir()
        except OSError as exc:
            self._stage.remove()
            raise ScratchpackError(
                f"cannot write oci:{directory}: {describe_os_error(exc)}"
            ) from exc
        except BaseException:
            self._stage.remove()
            raise

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stage.remove()

    def _staged(self, digest: Digest) -> Path:
        return self._stage.path / "blobs" / digest.algorithm / digest.hex

    def _staged_target(self, digest: Digest) -> Path:
        """Where a blob is staged, its directory made once per writer (a ``mkdir`` per blob
        cost a pull of 50 small layers ~70 ms on a loaded machine, issue 17)."""
        target = self._staged(digest)
        with self._guard:  # made under the lock: no thread writes into it before it exists
            if target.parent not in self._made:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(target.parent)
        return target

    def _final(self, digest: Digest) -> Path:
        return self.directory / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, descriptor: Descriptor) -> bool:
        """Already staged, or in the layout with the right bytes (hashed, not trusted)."""
        with self._guard:
            if descriptor.digest in self._verified:
                return True
        if self.new:
            return False
        path = self._final(descriptor.digest)
        try:
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_size != descriptor.size:
                return False
            with verified_file(path, descriptor) as stream:
                _hash_to_end(stream)
        except (OSError, DigestMismatchError):
            return False  # absent or damaged: the verified copy staged now replaces it
        with self._guard:
            self._verified.add(descriptor.digest)
        return True

    def put_blob(self, descriptor: Descriptor, source: BlobSource) -> str:
        """Stage one blob from ``source``: ``existing`` or ``copied``."""
        if self.has_blob(descriptor):
            return "existing"
        local = source.local_path(descriptor)
        if local is not None and local.is_file():
            self.put_file(descriptor, local)
        else:
            with source.open_blob(descriptor) as stream:
                self.put_stream(descriptor, stream)
        return "copied"

    def put_file(self, descriptor: Descriptor, path: Path) -> None:
        """Stage a local file: hard-linked when that is safe (see ``_can_share_inode``),
        else copied; either way the staged inode is hashed, and a mismatch refused."""
        target = self._staged_target(descriptor.digest)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)
        linked = False
        if _can_share_inode(path):
            try:
                os.link(path, tmp, follow_symlinks=False)
                linked = True
            except OSError:
                pass
        try:
            if linked:
                with tmp.open("rb") as handle:
                    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode) or tmp.is_symlink():
                        raise ScratchpackError(f"{path}: {_blob_name(descriptor)} changed type")
                    _hash_to_end(_verifying(handle, descriptor))
                tmp.replace(target)
                self._sync_later(target)  # its writer may not have: durable before named
            else:
                tmp.unlink(missing_ok=True)
                try:
                    source = open_regular(path)
                except OSError as exc:
                    raise ScratchpackError(f"cannot read {path}: {describe_os_error(exc)}") from exc
                with source:
                    self.put_stream(descriptor, source)
                return
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        with self._guard:
            self._verified.add(descriptor.digest)

    def put_stream(self, descriptor: Descriptor, stream: BinaryIO) -> None:
        """Stage a blob from a stream, verified against the descriptor before it is named."""
        target = self._staged_target(descriptor.digest)
        checked = _verifying(stream, descriptor)
        # synced at commit, with every other staged blob, before index.json names any
        with atomic_file(target) as out:
            while chunk := checked.read(_COPY_CHUNK):
                out.write(chunk)
        self._sync_later(target)
        with self._guard:
            self._verified.add(descriptor.digest)

    def put_bytes(self, descriptor: Descriptor, data: bytes) -> None:
        """Stage a small blob (config, manifest) held in memory."""
        verify_bytes(data, descriptor.digest, descriptor.size, _blob_name(descriptor))
        if self.has_blob(descriptor):
            return
        target = self._staged_target(descriptor.digest)
        atomic_write(target, data)
        self._sync_later(target)  # synced at commit
        with self._guard:
            self._verified.add(descriptor.digest)

    def _sync_later(self, path: Path) -> None:
        with self._guard:
            self._unsynced.append(path)

    def _sync_staged(self) -> None:
        """Make every staged blob's data durable before anything names it.

        Blobs are written without a sync and synced here, many at once (``SYNC_JOBS``),
        instead of one fsync each inside the transfer threads: a pull of 50 small layers
        spent most of its wall time waiting on them (issue 17). Nothing references a staged
        blob before commit (a crash before leaves only the staging directory, swept as
        stale), and ``index.json`` is written only after this returns, so the guarantee is
        the same: a tag never names a blob whose bytes may not have reached the disk.
        """
        with self._guard:
            paths, self._unsynced = self._unsynced, []
        if paths:
            _fsync_files(paths)

    def commit(
        self,
        tag: str,
        entry: Descriptor,
        *,
        force: bool,
        expect: tuple[Digest | None] | None = None,
    ) -> Descriptor:
        """Publish the staged blobs and point ``tag`` at ``entry``; returns the named entry.

        ``expect`` makes it a compare-and-swap for read-modify-write updates (sign appends
        to a signature manifest): ``(digest,)`` the tag must still point at, ``(None,)`` for
        absent; else :class:`TagMovedError`, checked under the lock, nothing published."""
        named = entry.with_annotations({**entry.annotations, mt.ANNOTATION_REF_NAME: tag})
        self._sync_staged()
        if self.new:
            stage = self._stage.path
            index = Index((named,), mt.OCI_INDEX)
            atomic_write(stage / "index.json", index.to_bytes(), fsync=True)
            _fsync_blobs(stage)
            try:
                self._stage.rename_to(self.directory)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not is_layout(
                    self.directory
                ):
                    raise ScratchpackError(
                        f"cannot write oci:{self.directory}: {describe_os_error(exc)}"
                    ) from exc
                # Another writer created the layout first: add to it like to any layout.
            else:
                fsync_directory(self.directory.parent)
                return named
        with exclusive_lock(self.directory / LOCK_FILE):
            remove_stale(self.directory)
            for algorithm in ("sha256", "sha512"):
                remove_stale(self.directory / "blobs" / algorithm)
            index = read_index(self.directory)
            taken = [d for d in index.manifests if d.annotations.get(mt.ANNOTATION_REF_NAME) == tag]
            if expect is not None and (taken[0].digest if taken else None) != expect[0]:
                raise TagMovedError(f"oci:{self.directory}:{tag} changed while being updated")
            if taken and not force and taken[0].digest != entry.digest:
                raise ScratchpackError(
                    f"oci:{self.directory}:{tag} already exists ({taken[0].digest}); "
                    "use --force to replace it"
                )
            self._publish_blobs()
            _write_tag(self.directory, tag, entry)
        return named

    def commit_untagged(self, entry: Descriptor) -> bool:
        """Publish the staged blobs and add ``entry`` to index.json without a name (an OCI
        1.1 referrer, found through its ``subject``, as oras lists one), keeping every other
        entry; False when index.json already lists that digest. Only into an existing layout:
        a referrer's subject is there already."""
        if self.new:
            raise ImageNotFoundError(f"oci:{self.directory}: no such layout")
        self._sync_staged()
        with exclusive_lock(self.directory / LOCK_FILE):
            index = read_index(self.directory)
            if any(d.digest == entry.digest for d in index.manifests):
                return False
            self._publish_blobs()
            new_index = Index((*index.manifests, entry), mt.OCI_INDEX, index.annotations)
            atomic_write(self.directory / "index.json", new_index.to_bytes(), fsync=True)
        return True

    def _publish_blobs(self) -> None:
        staged_root = self._stage.path / "blobs"
        for algorithm_dir in sorted(p for p in staged_root.iterdir() if p.is_dir()):
            final_dir = self.directory / "blobs" / algorithm_dir.name
            final_dir.mkdir(parents=True, exist_ok=True)
            for blob in sorted(algorithm_dir.iterdir()):
                if not blob.name.startswith("."):
                    blob.replace(final_dir / blob.name)
            fsync_directory(final_dir)


def _fsync_files(paths: list[Path]) -> None:
    """fsync ``paths``, up to ``SYNC_JOBS`` at once, on plain threads taking paths in turn;
    the first error is raised once all are done. Not ``concurrent.futures``: its import
    (with ``logging``) cost a pack of a small binary more than its four fsyncs (issue 17)."""
    todo = iter(paths)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while not errors:
            with lock:
                path = next(todo, None)
            if path is None:
                return
            try:
                _fsync_file(path)
            except BaseException as exc:  # handed to the committing thread below
                errors.append(exc)

    workers = [threading.Thread(target=work, name="fsync", daemon=True)
               for _ in range(min(SYNC_JOBS, len(paths)))]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def _fsync_file(path: Path) -> None:
    """fsync one staged file (a read-only descriptor suffices on Linux)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ScratchpackError(f"cannot write {path}: {describe_os_error(exc)}") from exc


def _fsync_blobs(root: Path) -> None:
    """Make the staged blobs' names durable: once per directory, not once per blob."""
    fsync_directory(root / "blobs")
    for algorithm_dir in (root / "blobs").iterdir():
        fsync_directory(algorithm_dir)
