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
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from scratchpack.errors import DigestMismatchError, FormatError, NotFoundError, ScratchpackError
from scratchpack.fsutil import atomic_file, check_parent_writable
from scratchpack.model import mediatypes as mt
from scratchpack.model.config import ImageConfig
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest, VerifyingReader
from scratchpack.model.image import Image, Layer, detect_compression
from scratchpack.model.limits import MAX_ARCHIVE_MANIFEST_BYTES, MAX_CONFIG_BYTES, too_large
from scratchpack.model.manifest import Manifest, canonical_json
from scratchpack.model.reference import Reference


@dataclass(frozen=True)
class ArchiveEntry:
    config_path: str
    repo_tags: tuple[str, ...]
    layer_paths: tuple[str, ...]


class ArchiveBlobs:
    """Blobs of one archive, looked up by digest through the paths ``manifest.json`` gives."""

    def __init__(self, tar: tarfile.TarFile, where: str) -> None:
        self._tar = tar
        self._where = where
        self._paths: dict[Digest, str] = {}

    def register(self, digest: Digest, path: str) -> None:
        self._paths[digest] = path

    def member(self, path: str) -> tarfile.TarInfo:
        try:
            info = self._tar.getmember(path)
        except KeyError:
            # manifest.json may name "./x" while the tar says "x", or the reverse.
            alt = path[2:] if path.startswith("./") else f"./{path}"
            try:
                info = self._tar.getmember(alt)
            except KeyError:
                raise FormatError(f"{self._where}: {path} is missing from the archive") from None
        if info.issym() or info.islnk():
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), info.linkname))
            if info.islnk():
                target = info.linkname
            return self.member(target)
        if not info.isfile():
            raise FormatError(f"{self._where}: {path} is not a regular file")
        return info

    def read_member(self, path: str, limit: int) -> bytes:
        """A JSON member, refused unread (by its tar header's size) above ``limit``."""
        info = self.member(path)
        if info.size > limit:
            raise FormatError(too_large(f"{self._where}: {path}", info.size, limit))
        handle = self._tar.extractfile(info)
        assert handle is not None
        return handle.read(limit + 1)

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        path = self._paths.get(descriptor.digest)
        if path is None:
            raise NotFoundError(f"{self._where}: no blob {descriptor.digest}")
        info = self.member(path)
        handle = self._tar.extractfile(info)
        assert handle is not None
        return cast(
            BinaryIO,
            VerifyingReader(
                cast(BinaryIO, handle), descriptor.digest, descriptor.size, f"{self._where}:{path}"
            ),
        )

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return None

    def _open_member(self, path: str) -> BinaryIO:
        handle = self._tar.extractfile(self.member(path))
        assert handle is not None
        return cast(BinaryIO, handle)

    def peek(self, path: str) -> bytes:
        return self._open_member(path).read(4)

    def hash_member(self, path: str) -> Digest:
        handle = self._open_member(path)
        hasher = hashlib.sha256()
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
        return Digest("sha256", hasher.hexdigest())


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
        raise NotFoundError(f"{where}: no such file")
    if path.is_dir():
        raise ScratchpackError(f"{where}: is a directory, not an archive")
    with ExitStack() as stack:
        try:
            tar = stack.enter_context(tarfile.open(path, "r:*"))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FormatError(f"{where}: not a readable tar archive: {exc}") from exc
        blobs = ArchiveBlobs(tar, where)
        try:
            manifest_json = blobs.read_member("manifest.json", MAX_ARCHIVE_MANIFEST_BYTES)
            entries = _parse_manifest_json(manifest_json, where)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FormatError(f"{where}: corrupt archive: {exc}") from exc
        entry = _choose(entries, reference, where)
        yield _image_from_entry(blobs, entry, where)


def _choose(entries: list[ArchiveEntry], reference: Reference | None, where: str) -> ArchiveEntry:
    if reference is None:
        if len(entries) != 1:
            names = ", ".join(t for e in entries for t in e.repo_tags) or "untagged"
            raise FormatError(f"{where} holds {len(entries)} images ({names}): name one")
        return entries[0]
    wanted = str(reference)
    for entry in entries:
        if any(_normalise_tag(tag) == wanted for tag in entry.repo_tags):
            return entry
    names = ", ".join(t for e in entries for t in e.repo_tags) or "none"
    raise NotFoundError(f"{where}: no image tagged {reference.familiar()} (tags: {names})")


def _check_diff_id(layer: Layer) -> None:
    with layer.open_uncompressed() as stream:
        while stream.read(1 << 20):
            pass


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
        if compression != "none":
            _check_diff_id(Layer(descriptor, diff_id, blobs))
        layer_descs.append(descriptor)
    manifest = Manifest(
        config=Descriptor(mt.DOCKER_CONFIG, config_digest, len(config_bytes)),
        layers=tuple(layer_descs),
        media_type=mt.DOCKER_MANIFEST,
    )
    return Image.assemble(manifest.to_bytes(), config_bytes, blobs, where)


def repo_tag(reference: Reference) -> str:
    """How ``docker save`` writes a tag: the familiar form, always with a tag."""
    tagged = Reference(reference.domain, reference.path, reference.tag or "latest", None)
    return tagged.familiar()


def write_archive(
    path: Path, image: Image, reference: Reference | None, *, force: bool = False
) -> None:
    """Write ``image`` as a ``docker load``-able archive at ``path`` (atomically)."""
    if path.is_dir():
        raise ScratchpackError(f"cannot write docker-archive:{path}: it is a directory")
    if path.exists() and not force:
        raise ScratchpackError(f"docker-archive:{path} already exists; use --force to replace it")
    check_parent_writable(path)
    with atomic_file(path) as out:
        write_archive_stream(out, image, reference)


def write_archive_stream(out: BinaryIO, image: Image, reference: Reference | None) -> None:
    config_name = f"{image.config_digest.hex}.json"
    layer_names = [f"{layer.diff_id.hex}.tar" for layer in image.layers]
    tags = [repo_tag(reference)] if reference else []
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _add_bytes(tar, config_name, image.config_bytes)
        written: set[str] = set()
        for layer, name in zip(image.layers, layer_names, strict=True):
            if name in written:
                continue  # the same layer twice in one image: docker save stores it once
            written.add(name)
            _add_layer(tar, name, layer)
        _add_bytes(tar, "manifest.json", canonical_json(manifest))
        if reference:
            tagged = repo_tag(reference)
            repo, _, tag = tagged.rpartition(":")
            last_layer = image.layers[-1].diff_id.hex if image.layers else image.config_digest.hex
            _add_bytes(tar, "repositories", canonical_json({repo: {tag: last_layer}}))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _info(name, len(data))
    tar.addfile(info, io.BytesIO(data))


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_layer(tar: tarfile.TarFile, name: str, layer: Layer) -> None:
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
        return
    # Compressed input: docker save stores uncompressed tars and needs the size up front.
    with tempfile.TemporaryFile() as spool:
        with layer.open_uncompressed() as stream:
            shutil.copyfileobj(stream, spool, 1 << 20)
        size = spool.tell()
        spool.seek(0)
        tar.addfile(_info(name, size), spool)


def manifest_entries(path: Path) -> list[dict[str, object]]:
    """The raw ``manifest.json`` of an archive (for tests and diagnostics)."""
    with tarfile.open(path, "r:*") as tar:
        handle = tar.extractfile("manifest.json")
        if handle is None:
            raise FormatError(f"docker-archive:{path}: manifest.json is not a file")
        return cast(list[dict[str, object]], json.loads(handle.read()))
