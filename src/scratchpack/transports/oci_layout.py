"""The OCI image layout (image-spec v1.0/1.1): ``oci-layout``, ``index.json``, ``blobs/``.

Several images share one layout, each named by the ``org.opencontainers.image.ref.name``
annotation of its ``index.json`` entry, as skopeo and umoci do. Blobs are written under
temporary names and renamed; ``index.json`` is replaced last, so a failed write never leaves
an index that points at missing blobs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from scratchpack.errors import FormatError, NotFoundError, ScratchpackError, UsageError
from scratchpack.fsutil import (
    atomic_file,
    atomic_write,
    describe_os_error,
    link_or_copy,
    staged_directory,
)
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest, VerifyingReader, verify_bytes
from scratchpack.model.image import Image, Layer
from scratchpack.model.limits import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, too_large
from scratchpack.model.manifest import Index, Manifest, canonical_json, load_json

DEFAULT_TAG = "latest"
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayoutBlobs:
    """Reads blobs from ``DIR/blobs/ALG/HEX``, verifying each against its digest."""

    root: Path

    def path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        path = self.path(descriptor.digest)
        try:
            handle = path.open("rb")
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
            with path.open("rb") as handle:
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
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise FormatError(too_large(str(path), max(size, len(data)), limit))
    return data


def read_index(directory: Path) -> Index:
    if not directory.exists():
        raise NotFoundError(f"{directory}: no such directory")
    if not is_layout(directory):
        raise FormatError(f"{directory} is not an OCI image layout (no oci-layout file)")
    try:
        oci_layout = _read_capped(directory / "oci-layout", MAX_MANIFEST_BYTES)
        layout = load_json(oci_layout, f"{directory}/oci-layout")
        data = _read_capped(directory / "index.json", MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise FormatError(f"{directory} is not an OCI image layout (no index.json)") from None
    except OSError as exc:
        raise ScratchpackError(f"cannot read {directory}: {describe_os_error(exc)}") from exc
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
            known = ", ".join(list_tags(directory)) or "none"
            raise NotFoundError(f"oci:{directory}: no image tagged {tag!r} (tags: {known})")
    else:
        matches = list(index.manifests)
        if len(matches) != 1:
            known = ", ".join(list_tags(directory)) or "none"
            raise UsageError(
                f"oci:{directory} holds {len(matches)} images: name one with oci:DIR:TAG "
                f"(tags: {known})"
            )
    return matches[0]


def resolve_manifest(
    blobs: LayoutBlobs, descriptor: Descriptor, platform: Platform | None, where: str
) -> Image:
    """Follow an index to the manifest for ``platform`` and assemble the image."""
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
    return Image.assemble(manifest_bytes, config_bytes, blobs, where)


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
    if directory.exists() and not directory.is_dir():
        raise ScratchpackError(f"cannot write oci:{directory}: it exists and is not a directory")
    if directory.is_dir() and not is_layout(directory):
        if any(directory.iterdir()):
            raise ScratchpackError(
                f"cannot write oci:{directory}: the directory exists and is not an OCI layout"
            )
        directory.rmdir()
    if not directory.exists():
        if not directory.parent.exists():
            directory.parent.mkdir(parents=True, exist_ok=True)
        with staged_directory(directory) as staging:
            init_layout(staging)
            return _add_image(staging, tag, image, force, extra_annotations)
    return _add_image(directory, tag, image, force, extra_annotations)


def init_layout(directory: Path) -> None:
    (directory / "blobs" / "sha256").mkdir(parents=True)
    atomic_write(
        directory / "oci-layout", canonical_json({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION})
    )
    atomic_write(directory / "index.json", Index(()).to_bytes())


def _add_image(
    directory: Path,
    tag: str,
    image: Image,
    force: bool,
    extra_annotations: dict[str, str] | None,
) -> Descriptor:
    index = read_index(directory)
    taken = [d for d in index.manifests if d.annotations.get(mt.ANNOTATION_REF_NAME) == tag]
    if taken and not force and taken[0].digest != image.digest:
        raise ScratchpackError(
            f"oci:{directory}:{tag} already exists ({taken[0].digest}); use --force to replace it"
        )
    blobs_dir = directory / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    for layer in image.layers:
        _put_layer(directory, layer)
    _put_bytes(directory, image.manifest.config.digest, image.config_bytes)
    _put_bytes(directory, image.digest, image.manifest_bytes)
    annotations = {mt.ANNOTATION_REF_NAME: tag, **(extra_annotations or {})}
    entry = Descriptor(
        image.manifest.media_type,
        image.digest,
        len(image.manifest_bytes),
        annotations,
        image.config.platform if image.config.platform.architecture else None,
    )
    set_tag(directory, tag, entry)
    return entry


def set_tag(directory: Path, tag: str, entry: Descriptor) -> None:
    """Point ``tag`` at ``entry`` in index.json, keeping every other entry."""
    index = read_index(directory)
    named = entry.with_annotations({**entry.annotations, mt.ANNOTATION_REF_NAME: tag})
    kept = [d for d in index.manifests if d.annotations.get(mt.ANNOTATION_REF_NAME) != tag]
    new_index = Index((*kept, named), mt.OCI_INDEX, index.annotations)
    atomic_write(directory / "index.json", new_index.to_bytes())


def verified_file(path: Path, descriptor: Descriptor) -> BinaryIO:
    handle = path.open("rb")
    return cast(BinaryIO, VerifyingReader(handle, descriptor.digest, descriptor.size, str(path)))


def _blob_path(directory: Path, digest: Digest) -> Path:
    path = directory / "blobs" / digest.algorithm / digest.hex
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _put_bytes(directory: Path, digest: Digest, data: bytes) -> None:
    path = _blob_path(directory, digest)
    if path.is_file() and path.stat().st_size == len(data):
        return
    atomic_write(path, data, 0o644)


def _put_layer(directory: Path, layer: Layer) -> None:
    path = _blob_path(directory, layer.descriptor.digest)
    if path.is_file() and path.stat().st_size == layer.descriptor.size:
        return  # content-addressed: a blob of the right name and size is already there
    source_path = layer.source.local_path(layer.descriptor)
    if source_path is not None and source_path.is_file():
        link_or_copy(source_path, path)
        return
    with layer.open() as stream, atomic_file(path) as out:
        shutil.copyfileobj(stream, out, _COPY_CHUNK)
