"""The ``docker save`` archive: a tar holding ``manifest.json``, image configs and layer tars.

Reading accepts both layouts Docker has produced: the legacy one (``<id>/layer.tar``,
``<id>.json``) and the OCI-in-tar one of Docker 25+ (``blobs/sha256/...``), since
``manifest.json`` names the paths either way. Writing produces what ``docker load`` and
``podman load`` accept: uncompressed layers named ``<diff_id>.tar``, the config as
``<config digest>.json``, ``manifest.json`` and ``repositories``, deterministically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from scratchpack.errors import (
    DigestMismatchError,
    FormatError,
    ImageNotFoundError,
    NotFoundError,
    ScratchpackError,
    some,
)
from scratchpack.fsutil import atomic_file, check_parent_writable, open_regular
from scratchpack.model import mediatypes as mt
from scratchpack.model.config import ImageConfig
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest, VerifyingReader
from scratchpack.model.image import Image, Layer, detect_compression
from scratchpack.model.limits import MAX_ARCHIVE_MANIFEST_BYTES, MAX_CONFIG_BYTES, too_large
from scratchpack.model.manifest import Manifest, canonical_json
from scratchpack.model.reference import Reference

if TYPE_CHECKING:  # (only writing an archive needs tarfile: slow to import, issue 17)
    import tarfile


@dataclass(frozen=True)
class ArchiveEntry:
    config_path: str
    repo_tags: tuple[str, ...]
    layer_paths: tuple[str, ...]


# A docker save archive holds a handful of members per layer; the index keeps one entry per
# member, so an archive of millions of (empty) members is refused at this count.
MAX_MEMBERS = 100_000
MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Member:
    kind: bytes  # the tar type flag
    size: int
    linkname: str
    offset: int  # of the content in the (uncompressed) archive file


class _Region:
    """``size`` bytes of a file from ``offset``, read with ``pread`` (threads may read several
    members of one archive at once; nothing shares a file position)."""

    def __init__(self, fd: int, offset: int, size: int, what: str) -> None:
        self._fd = fd
        self._position = offset
        self._left = size
        self._what = what

    def read(self, n: int = -1) -> bytes:
        want = self._left if n < 0 else min(n, self._left)
        if want <= 0:
            return b""
        data = os.pread(self._fd, want, self._position)
        if not data:
            raise FormatError(f"{self._what}: the archive ends inside this member")
        self._position += len(data)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> _Region:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class ArchiveBlobs:
    """Blobs of one archive, looked up by digest through the paths ``manifest.json`` gives.

    The archive is indexed once with the layer reader's bounded tar parser (not ``tarfile``,
    which reads a PAX header's whole declared size into memory, keeps every member, and
    raises ``ValueError`` on sparse members); members are then read by offset.
    """

    def __init__(self, fd: int, size: int, where: str) -> None:
        self._fd = fd
        self._where = where
        self._paths: dict[Digest, str] = {}
        self._members = self._index(fd, size)

    def _index(self, fd: int, size: int) -> dict[str, _Member]:
        from scratchpack.layers.tarstream import BLOCK, TarStream

        members: dict[str, _Member] = {}
        with os.fdopen(os.dup(fd), "rb") as stream:
            stream.seek(0)  # a dup shares the file offset, wherever the opener left it
            try:
                for count, member in enumerate(TarStream(stream).members(), 1):
                    if count > MAX_MEMBERS:
                        raise FormatError(
                            f"{self._where}: more than {MAX_MEMBERS} members: not a docker "
                            "save archive"
                        )
                    offset = member.offset + BLOCK
                    if offset + member.size > size:
                        raise FormatError(
                            f"{self._where}: the archive is truncated: {member.name!r} "
                            "ends past its end"
                        )
                    # the last of two members of one name wins, as when tar extracts
                    members[_normal(member.name)] = _Member(
                        member.type, member.size, member.linkname, offset
                    )
            except FormatError as exc:
                if str(exc).startswith(self._where):
                    raise
                raise FormatError(f"{self._where}: {exc}") from exc
        return members

    def register(self, digest: Digest, path: str) -> None:
        self._paths[digest] = path

    def _lookup(self, path: str) -> _Member:
        found = self._members.get(_normal(path))
        if found is None:
            raise FormatError(f"{self._where}: {path} is missing from the archive")
        return found

    def member(self, path: str) -> _Member:
        """The regular file ``path`` names, following links inside the archive (docker save
        links a layer shared by two images), a bounded number of times."""
        wanted = path
        info = self._lookup(path)
        for _ in range(MAX_LINK_HOPS):
            if info.kind == b"1":  # hard link: the name is from the archive's root
                path = info.linkname
            elif info.kind == b"2":  # symbolic link: relative to the link's directory
                path = posixpath.join(posixpath.dirname(_normal(path)), info.linkname)
            else:
                break
            info = self._lookup(path)
        else:
            raise FormatError(f"{self._where}: {wanted}: more than {MAX_LINK_HOPS} links (a loop?)")
        if info.kind not in (b"0", b"\x00", b"7"):
            raise FormatError(f"{self._where}: {wanted} is not a regular file")
        return info

    def member_size(self, path: str) -> int:
        return self.member(path).size

    def _open_member(self, path: str) -> BinaryIO:
        info = self.member(path)
        return cast(BinaryIO, _Region(self._fd, info.offset, info.size, f"{self._where}:{path}"))

    def read_member(self, path: str, limit: int) -> bytes:
        """A JSON member, refused unread (by its tar header's size) above ``limit``."""
        info = self.member(path)
        if info.size > limit:
            raise FormatError(too_large(f"{self._where}: {path}", info.size, limit))
        return self._open_member(path).read()

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        path = self._paths.get(descriptor.digest)
        if path is None:
            raise NotFoundError(f"{self._where}: no blob {descriptor.digest}")
        return cast(
            BinaryIO,
            VerifyingReader(
                self._open_member(path), descriptor.digest, descriptor.size, f"{self._where}:{path}"
            ),
        )

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return None

    def peek(self, path: str) -> bytes:
        return self._open_member(path).read(4)

    def hash_member(self, path: str) -> Digest:
        hasher = hashlib.sha256()
        handle = self._open_member(path)
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
        return Digest("sha256", hasher.hexdigest())


def _normal(name: str) -> str:
    """A member name as a lookup key: ``./a//b``, ``c/../a/b`` and ``a/b`` are one member (the
    legacy layout links ``<id>/layer.tar`` to ``../<other>/layer.tar``). A name that climbs out
    of the archive's root keeps a NUL prefix: nothing is ever extracted, it only has to match
    no ordinary member."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return "\x00" + name
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def _parse_manifest_json(data: bytes, where: str) -> list[ArchiveEntry]:
    from scratchpack.model import decoding

    what = f"{where}: manifest.json"
    raw = decoding.decode_json(data, what)
    items = decoding.convert(raw, list[decoding.ArchiveEntryDoc], what)
    if not items:
        raise FormatError(f"{what} lists no image")
    return [
        ArchiveEntry(item.config, tuple(item.repo_tags or ()), tuple(item.layers or ()))
        for item in items
    ]


def _normalise_tag(tag: str) -> str:
    try:
        return str(Reference.parse(tag))
    except ScratchpackError:
        return tag


@contextmanager
def open_archive(path: Path, reference: Reference | None) -> Iterator[Image]:
    """Open the image named ``reference`` (or the only one) in the archive at ``path``."""
    where = f"docker-archive:{path}"
    if not path.exists():
        raise ImageNotFoundError(f"{where}: no such file")
    if path.is_dir():
        raise ScratchpackError(f"{where}: is a directory, not an archive")
    with ExitStack() as stack:
        try:
            # a FIFO blocked the open for ever; members are read by offset: a file only
            opened = stack.enter_context(open_regular(path))
        except OSError as exc:
            raise ScratchpackError(f"{where}: cannot read: {exc.strerror or exc}") from exc
        handle = _uncompressed(opened, stack, where)
        blobs = ArchiveBlobs(handle.fileno(), os.fstat(handle.fileno()).st_size, where)
        manifest_json = blobs.read_member("manifest.json", MAX_ARCHIVE_MANIFEST_BYTES)
        entries = _parse_manifest_json(manifest_json, where)
        entry = _choose(entries, reference, where)
        yield _image_from_entry(blobs, entry, where)


def _uncompressed(handle: BinaryIO, stack: ExitStack, where: str) -> BinaryIO:
    """The archive itself, or (``docker save | gzip``) its tar decompressed into an unlinked
    temporary file, as containers/image does: members are read by offset."""
    head = handle.read(4)
    handle.seek(0)
    kind = detect_compression(head)
    if kind == "none":
        return handle
    import shutil
    import tempfile

    # closed by the caller's stack, with the archive
    spool = cast(BinaryIO, stack.enter_context(tempfile.TemporaryFile()))  # noqa: SIM115
    try:
        if kind == "gzip":
            import gzip

            with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
                shutil.copyfileobj(stream, spool, _CHUNK)
        else:
            import zstandard  # slow to import: only for a zstd archive

            from scratchpack.layers.zstdstream import zstd_reader

            try:  # cut short, even inside the last checksum: TruncatedZstd, an EOFError
                shutil.copyfileobj(zstd_reader(handle), spool, _CHUNK)
            except zstandard.ZstdError as exc:
                raise FormatError(f"{where}: cannot decompress the archive: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise FormatError(f"{where}: cannot decompress the archive: {exc}") from exc
    spool.flush()
    return spool


def _choose(entries: list[ArchiveEntry], reference: Reference | None, where: str) -> ArchiveEntry:
    if reference is None:
        if len(entries) != 1:
            names = some([t for e in entries for t in e.repo_tags], "untagged")
            raise FormatError(f"{where} holds {len(entries)} images ({names}): name one")
        return entries[0]
    wanted = str(reference)
    for entry in entries:
        if any(_normalise_tag(tag) == wanted for tag in entry.repo_tags):
            return entry
    names = some([t for e in entries for t in e.repo_tags])
    raise ImageNotFoundError(f"{where}: no image tagged {reference.familiar()} (tags: {names})")


def _check_diff_id(layer: Layer) -> int:
    """Read the layer to its end (which verifies the diff_id); returns its uncompressed size."""
    size = 0
    with layer.open_uncompressed() as stream:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
    return size


def archive_manifest_digest(config_bytes: bytes, layers: list[tuple[Digest, int]]) -> Digest:
    """The manifest digest of an image held without a manifest (docker-archive, daemon).

    Such an image has no stored manifest, so every tool makes one up. skopeo (containers/image)
    builds a Docker schema 2 manifest whose layers are the uncompressed tars (digest: the
    diff_id, size: the tar's) under the *gzip* layer media type, serialises it as Go's
    encoding/json does (compact, fields in declaration order) and reports its sha256; this
    reproduces those bytes so that ``inspect`` and ``digest`` agree with
    ``skopeo inspect docker-archive:...``. It is not the digest the image gets once pushed:
    a push compresses the layers, which changes their digests and so the manifest's. The image
    id (``layers`` here are ``(diff_id, uncompressed size)``) is what stays.
    """
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {
            "mediaType": mt.DOCKER_CONFIG,
            "size": len(config_bytes),
            "digest": str(Digest.of(config_bytes)),
        },
        "layers": [
            {"mediaType": mt.DOCKER_LAYER_GZIP, "size": size, "digest": str(diff_id)}
            for diff_id, size in layers
        ],
    }
    return Digest.of(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def _check_named_digest(path: str, digest: Digest, where: str) -> None:
    """A config stored as ``<hex>.json`` or ``blobs/sha256/<hex>`` must hash to that name."""
    stem = posixpath.basename(path).removesuffix(".json")
    if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem) and stem != digest.hex:
        raise DigestMismatchError(f"{where}:{path}: digest mismatch, the config hashes to {digest}")


def _image_from_entry(blobs: ArchiveBlobs, entry: ArchiveEntry, where: str) -> Image:
    config_bytes = blobs.read_member(entry.config_path, MAX_CONFIG_BYTES)
    config_digest = Digest.of(config_bytes)
    _check_named_digest(entry.config_path, config_digest, where)
    blobs.register(config_digest, entry.config_path)
    diff_ids = ImageConfig.parse(config_bytes, f"{where}: image config").diff_ids
    if len(diff_ids) != len(entry.layer_paths):
        raise FormatError(
            f"{where}: config lists {len(diff_ids)} diff_ids but manifest.json "
            f"{len(entry.layer_paths)} layers"
        )
    layer_descs = []
    tar_sizes: list[tuple[Digest, int]] = []
    for diff_id, layer_path in zip(diff_ids, entry.layer_paths, strict=True):
        info = blobs.member(layer_path)
        head = blobs.peek(layer_path)
        compression = detect_compression(head)
        if compression == "none":
            digest = diff_id
            media_type = mt.DOCKER_LAYER
        else:
            # A compressed layer in an archive: its own digest is only known by hashing it,
            # and nothing vouches for those bytes until they decompress to the diff_id.
            digest = blobs.hash_member(layer_path)
            media_type = mt.DOCKER_LAYER_GZIP if compression == "gzip" else mt.OCI_LAYER_ZSTD
        blobs.register(digest, layer_path)
        descriptor = Descriptor(media_type, digest, info.size)
        tar_size = info.size
        if compression != "none":
            tar_size = _check_diff_id(Layer(descriptor, diff_id, blobs))
        tar_sizes.append((diff_id, tar_size))
        layer_descs.append(descriptor)
    manifest = Manifest(
        config=Descriptor(mt.DOCKER_CONFIG, config_digest, len(config_bytes)),
        layers=tuple(layer_descs),
        media_type=mt.DOCKER_MANIFEST,
    )
    image = Image.assemble(manifest.to_bytes(), config_bytes, blobs, where)
    return replace(image, archive_digest=archive_manifest_digest(config_bytes, tar_sizes))


def repo_tag(reference: Reference) -> str:
    """How ``docker save`` writes a tag: the familiar form, always with a tag."""
    tagged = Reference(reference.domain, reference.path, reference.tag or "latest", None)
    return tagged.familiar()


def write_archive(
    path: Path, image: Image, reference: Reference | None, *, force: bool = False
) -> Digest:
    """Write ``image`` as a ``docker load``-able archive at ``path`` (atomically)."""
    if path.is_dir():
        raise ScratchpackError(f"cannot write docker-archive:{path}: it is a directory")
    if path.exists() and not force:
        raise ScratchpackError(f"docker-archive:{path} already exists; use --force to replace it")
    check_parent_writable(path)
    with atomic_file(path, replace=force) as out:  # (the check above only fails early)
        return write_archive_stream(out, image, reference)


def write_archive_stream(out: BinaryIO, image: Image, reference: Reference | None) -> Digest:
    """Write the archive; returns its manifest digest (:func:`archive_manifest_digest`), which
    needs each layer's tar size, known here once compressed layers are decompressed."""
    config_name = f"{image.config_digest.hex}.json"
    layer_names = [f"{layer.diff_id.hex}.tar" for layer in image.layers]
    tags = [repo_tag(reference)] if reference else []
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]
    import tarfile  # (only a writer needs it)

    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _add_bytes(tar, config_name, image.config_bytes)
        written: dict[str, int] = {}
        for layer, name in zip(image.layers, layer_names, strict=True):
            if name in written:
                continue  # the same layer twice in one image: docker save stores it once
            written[name] = _add_layer(tar, name, layer)
        _add_bytes(tar, "manifest.json", canonical_json(manifest))
        if reference:
            tagged = repo_tag(reference)
            repo, _, tag = tagged.rpartition(":")
            last_layer = image.layers[-1].diff_id.hex if image.layers else image.config_digest.hex
            _add_bytes(tar, "repositories", canonical_json({repo: {tag: last_layer}}))
    sizes = [
        (layer.diff_id, written[name])
        for layer, name in zip(image.layers, layer_names, strict=True)
    ]
    return archive_manifest_digest(image.config_bytes, sizes)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _info(name, len(data))
    tar.addfile(info, io.BytesIO(data))


def _info(name: str, size: int) -> tarfile.TarInfo:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_layer(tar: tarfile.TarFile, name: str, layer: Layer) -> int:
    """Add the layer's tar; returns its size."""
    if layer.compression == "none":
        with layer.open() as stream:
            tar.addfile(_info(name, layer.descriptor.size), stream)
            # tarfile reads exactly the declared size: one more read reaches the EOF at
            # which the stream checks the digest (and refuses a longer blob).
            if stream.read(1):
                raise DigestMismatchError(
                    f"layer {layer.descriptor.digest}: more than the declared "
                    f"{layer.descriptor.size} bytes"
                )
        return layer.descriptor.size
    # Compressed input: docker save stores uncompressed tars and needs the size up front.
    import shutil
    import tempfile

    with tempfile.TemporaryFile() as spool:
        with layer.open_uncompressed() as stream:
            shutil.copyfileobj(stream, spool, 1 << 20)
        size = spool.tell()
        spool.seek(0)
        tar.addfile(_info(name, size), spool)
    return size


def manifest_entries(path: Path) -> list[dict[str, object]]:
    """The raw ``manifest.json`` of an archive (for tests and diagnostics)."""
    import tarfile

    with tarfile.open(path, "r:*") as tar:
        handle = tar.extractfile("manifest.json")
        if handle is None:
            raise FormatError(f"docker-archive:{path}: manifest.json is not a file")
        return cast(list[dict[str, object]], json.loads(handle.read()))
