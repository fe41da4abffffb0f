"""``copy``: move an image (or a whole multi-platform index) between any two transports.

Between OCI layouts and registries nothing is converted: manifests and blobs move byte for
byte, so the manifest digest is preserved, and ``--all`` copies every manifest of an index.
Anything involving a ``docker save`` archive or the daemon goes through the image model:
uncompressed archive layers are gzip-compressed for OCI layouts and registries, in an OCI
manifest for layouts and a Docker schema 2 one for registries (as skopeo does), and compressed
layers are expanded for archives.

Every blob is verified before it enters the destination: a layout's ``LayoutWriter`` checks
size and digest while staging, a registry push verifies a local blob while it streams (its
upload is never completed unless the bytes match), and a remote blob is spooled to a
verified private file.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from scratchpack import progress
from scratchpack.errors import FormatError, UsageError
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest, VerifyingReader
from scratchpack.model.image import BlobSource, Image, Layer
from scratchpack.model.limits import MAX_CONFIG_BYTES, MAX_INDEX_DEPTH, too_large
from scratchpack.model.manifest import Index, Manifest, load_json, sniff_media_type
from scratchpack.transports import oci_layout
from scratchpack.transports.names import ImageName, OciName, RegistryName
from scratchpack.transports.preflight import check_destination
from scratchpack.transports.registry.transport import (
    RegistryOptions,
    manifest_reference,
    push_blob,
    repository,
)

if TYPE_CHECKING:
    # httpx is loaded at the first registry request, not by copies between local transports
    from scratchpack.transports.registry.repository import Repository


@dataclass
class CopyOptions:
    source: ImageName
    destination: ImageName
    all_platforms: bool = False
    platform: Platform | None = None
    force: bool = False
    registry: RegistryOptions = field(default_factory=RegistryOptions)
    # the source's own flags (skopeo's --src-creds, --src-tls-verify); None: ``registry``
    source_registry: RegistryOptions | None = None

    def reading(self) -> RegistryOptions:
        """The registry options for the source."""
        return self.source_registry or self.registry


@dataclass
class CopyResult:
    source: str
    destination: str
    digest: Digest
    media_type: str
    manifests: int = 0
    preserved: bool = True
    outcomes: dict[str, int] = field(default_factory=dict)
    image_id: Digest | None = None  # none for an index copied whole (one per platform)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


# -- raw sources and destinations (OCI layouts and registries) ----------------------------


class RawSource(Protocol):
    repository: Repository | None

    def top(self) -> tuple[bytes, str]: ...
    def manifest(self, descriptor: Descriptor) -> tuple[bytes, str]: ...
    def open_blob(self, descriptor: Descriptor) -> BinaryIO: ...
    def local_path(self, descriptor: Descriptor) -> Path | None: ...


class OciSource:
    repository: Repository | None = None

    def __init__(self, name: OciName) -> None:
        self.name = name
        self.blobs = oci_layout.LayoutBlobs(name.directory)

    def top(self) -> tuple[bytes, str]:
        entry = oci_layout.find_entry(self.name.directory, self.name.tag)
        return self.manifest(entry)

    def manifest(self, descriptor: Descriptor) -> tuple[bytes, str]:
        data = self.blobs.read_bytes(descriptor)
        return data, descriptor.media_type or sniff_media_type(load_json(data, str(self.name)))

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self.blobs.open_blob(descriptor)

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return self.blobs.local_path(descriptor)


class RegistrySource:
    def __init__(self, name: RegistryName, options: RegistryOptions) -> None:
        self.name = name
        self.repository: Repository | None = repository(name.reference, options)
        # configs read (and verified) to check them: copied from here, not fetched again
        self._read: dict[Digest, bytes] = {}
        self._read_lock = threading.Lock()

    def keep(self, descriptor: Descriptor, data: bytes) -> None:
        """Remember a small blob read through :meth:`open_blob` to its verified end, so that
        copying it does not ask the registry again (a pull fetched each config twice, the
        first time serially before any layer, issue 17)."""
        if len(data) == descriptor.size:
            with self._read_lock:
                self._read[descriptor.digest] = data

    @property
    def repo(self) -> Repository:
        assert self.repository is not None
        return self.repository

    def top(self) -> tuple[bytes, str]:
        data, media_type = self.repo.get_manifest(manifest_reference(self.name.reference))
        return data, media_type or sniff_media_type(load_json(data, str(self.name)))

    def manifest(self, descriptor: Descriptor) -> tuple[bytes, str]:
        data, media_type = self.repo.get_manifest(str(descriptor.digest))
        return data, media_type or descriptor.media_type

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        with self._read_lock:
            data = self._read.get(descriptor.digest)
        if data is not None and len(data) == descriptor.size:
            # hashed again as it is copied; the sink takes that as its proof (no third hash)
            where = f"{self.name}: blob {descriptor.digest}"
            reader = VerifyingReader(io.BytesIO(data), descriptor.digest, descriptor.size, where)
            return cast(BinaryIO, reader)
        return self.repo.open_blob(descriptor)

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return None


# Counts the bytes of one blob as they stream to the destination (progress).
Count = Callable[[int], None]


class RawDestination(Protocol):
    def holds(self, data: bytes) -> bool: ...
    def ensure_blob(self, descriptor: Descriptor, source: RawSource, count: Count) -> str: ...
    def put_manifest(self, data: bytes, media_type: str, top: bool) -> None: ...


class OciDestination:
    """Blobs verified into the layout writer's staging; index.json written at commit."""

    def __init__(self, writer: oci_layout.LayoutWriter, name: OciName) -> None:
        self.writer = writer
        self.name = name
        self.top_entry: Descriptor | None = None

    def holds(self, data: bytes) -> bool:
        """Never taken on trust: each blob is checked by the writer (hashed if present)."""
        return False

    def ensure_blob(self, descriptor: Descriptor, source: RawSource, count: Count) -> str:
        if self.writer.has_blob(descriptor):
            return "existing"
        local = source.local_path(descriptor)
        if local is not None and local.is_file():
            self.writer.put_file(descriptor, local)
            return "copied"
        with source.open_blob(descriptor) as stream:
            counted = progress.Counted(stream, count)
            self.writer.put_stream(descriptor, cast(BinaryIO, counted))
        return "copied"

    def put_manifest(self, data: bytes, media_type: str, top: bool) -> None:
        descriptor = Descriptor(media_type, Digest.of(data), len(data))
        self.writer.put_bytes(descriptor, data)
        if top:
            self.top_entry = descriptor

    def commit(self, force: bool) -> None:
        assert self.top_entry is not None
        tag = self.name.tag or oci_layout.DEFAULT_TAG
        self.writer.commit(tag, self.top_entry, force=force)


class RegistryDestination:
    def __init__(self, name: RegistryName, options: RegistryOptions, spool: Path) -> None:
        self.name = name
        self.options = options
        self.spool = spool
        self.repo = repository(name.reference, options, pushing=True)
        self._present: set[Digest] = set()

    def holds(self, data: bytes) -> bool:
        """Whether the registry holds this image manifest by digest, so that every blob it
        names is there too and none need asking (a no-op re-push HEADed each of them, issue
        17). Safe because a registry that has a manifest has its blobs: distribution refuses
        a manifest PUT naming a blob the repository lacks (MANIFEST_BLOB_UNKNOWN), as do the
        registries that follow the distribution spec's "MAY reject" (docs/security.md). A 404
        (or any other digest) takes the per-blob path."""
        digest = Digest.of(data)
        if self.repo.find_manifest(digest):
            self._present.add(digest)
            return True
        return False

    def ensure_blob(self, descriptor: Descriptor, source: RawSource, count: Count) -> str:
        local = source.local_path(descriptor)
        ready: list[Path] = []

        def verified_path() -> Path:
            """The source's file, or a verified download (made once: a retry that reopens
            the blob streams it again but does not download it twice)."""
            if not ready:
                if local is not None and local.is_file():
                    ready.append(local)
                else:
                    ready.append(self._download(descriptor, source))
            return ready[0]

        def opener() -> BinaryIO:
            # verified while it streams: the upload reads past the blob's end before its last
            # piece goes (repository._Positioned), so a corrupt or changed local blob fails
            # with its body incomplete and the registry never completes it. Not hashed first:
            # that serial pass cost a 600 MB push ~0.3 s of wall time (issue 17).
            stream = oci_layout.verified_file(verified_path(), descriptor)
            return cast(BinaryIO, progress.Counted(stream, count))

        # A blob the registry already has is not read at all (a no-op re-push of 300 MB hashed
        # all of it, issue 17).
        return push_blob(self.repo, descriptor, opener, self.options, source.repository)

    def _download(self, descriptor: Descriptor, source: RawSource) -> Path:
        fd, name = tempfile.mkstemp(prefix=f"{descriptor.digest.hex}.", dir=self.spool)
        with source.open_blob(descriptor) as stream, os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
        return Path(name)

    def put_manifest(self, data: bytes, media_type: str, top: bool) -> None:
        digest = Digest.of(data)
        reference = manifest_reference(self.name.reference) if top else str(digest)
        if digest in self._present and reference == str(digest):
            return  # there already, under the only name it gets
        self.repo.put_manifest(reference, data, media_type)


def copy(options: CopyOptions) -> CopyResult:
    src, dst = options.source, options.destination
    if isinstance(dst, OciName | RegistryName) and isinstance(src, OciName | RegistryName):
        return _copy_raw(options)
    if options.all_platforms:
        raise UsageError("--all needs an oci: or docker:// source and destination")
    return _copy_converted(options)


def _raw_source(options: CopyOptions) -> RawSource:
    if isinstance(options.source, OciName):
        return OciSource(options.source)
    assert isinstance(options.source, RegistryName)
    return RegistrySource(options.source, options.reading())


@contextmanager
def _raw_destination(options: CopyOptions) -> Iterator[RawDestination]:
    """The destination; an OCI layout is committed (tag set under its lock) on success."""
    dst = options.destination
    if isinstance(dst, RegistryName):
        with tempfile.TemporaryDirectory(prefix="scratchpack-copy.") as tmp:
            yield RegistryDestination(dst, options.registry, Path(tmp))
        return
    assert isinstance(dst, OciName)
    check_destination(dst, force=options.force)
    with oci_layout.LayoutWriter(dst.directory) as writer:
        target = OciDestination(writer, dst)
        yield target
        target.commit(options.force)


def _copy_raw(options: CopyOptions) -> CopyResult:
    source = _raw_source(options)
    to_oci = isinstance(options.destination, OciName)
    verb = "copying" if to_oci else "uploading"
    lock = threading.Lock()
    with _raw_destination(options) as destination:
        data, media_type = source.top()
        result = CopyResult(
            str(options.source), str(options.destination), Digest.of(data), media_type
        )

        def copy_blob(descriptor: Descriptor, overall: progress.Task) -> None:
            sent = [0]
            with progress.step(f"{verb} {descriptor.digest.short()}", descriptor.size,
                               minor=True) as blob:  # fmt: skip

                def count(n: int) -> None:
                    sent[0] += n
                    blob.advance(n)
                    overall.advance(n)

                outcome = destination.ensure_blob(descriptor, source, count)
            # skipped (present, mounted, linked) or resent: the total still ends where it said
            overall.advance(max(0, descriptor.size - sent[0]))
            with lock:
                result.count(outcome)

        copied: dict[Digest, Descriptor] = {}

        def copy_manifest(data: bytes, media_type: str, top: bool, depth: int = 0) -> Descriptor:
            """Copy the blobs, then write the manifest (or index) itself; returns what was
            written, which differs from ``data`` only when converted for an OCI layout.

            Indexes nest at most ``MAX_INDEX_DEPTH`` deep, as every reader of ours allows
            (1500 nested indexes from a hostile registry were an ``unexpected
            RecursionError``), and a child listed many times is fetched and copied once."""
            if media_type in mt.INDEX_TYPES:
                if depth >= MAX_INDEX_DEPTH:
                    raise FormatError(f"{options.source}: indexes nested too deep")
                index = Index.parse(data)
                written = []
                for child in index.manifests:
                    if child.digest in copied:
                        done = copied[child.digest]
                    else:
                        child_data, child_type = source.manifest(child)
                        done = copy_manifest(
                            child_data, child_type or child.media_type, False, depth + 1
                        )
                        copied[child.digest] = done
                    written.append(replace(child, media_type=done.media_type, digest=done.digest,
                                           size=done.size))  # fmt: skip
                if to_oci and mt.is_docker_type(media_type):
                    index = replace(index, manifests=tuple(written), media_type=mt.OCI_INDEX)
                    data, media_type = index.to_bytes(), mt.OCI_INDEX
            else:
                manifest = Manifest.parse(data, f"{options.source}: manifest")
                checked = _check_config(source, data, manifest, str(options.source))
                if top and checked is not None and not picked:
                    checked.require_platform(options.platform, str(options.source))
                layers = oci_layout.unique_descriptors(list(manifest.layers))
                total = sum(d.size for d in layers) + manifest.config.size
                what = f"{verb} {len(layers) + 1} blobs"
                # the config goes with the layers, not after them: one round trip less
                # for a push where every blob is present (issue 17)
                config_apart = manifest.config.digest in {d.digest for d in layers}
                blobs = layers if config_apart else [*layers, manifest.config]
                if destination.holds(data):  # every blob is there: none asked about
                    for _ in range(len(blobs) + config_apart):
                        result.count("existing")
                else:
                    # here, not at the top: concurrent.futures loads logging, and a re-push
                    # whose manifest is there needs no pool (start-up, issue 17)
                    from concurrent.futures import ThreadPoolExecutor

                    with (
                        progress.step(what, total) as overall,
                        ThreadPoolExecutor(max(1, options.registry.jobs)) as pool,
                    ):
                        list(pool.map(lambda d: copy_blob(d, overall), blobs))
                        if config_apart:
                            copy_blob(manifest.config, overall)
                if top:
                    result.image_id = manifest.config.digest
                if to_oci and mt.is_docker_type(media_type):
                    # An OCI layout holds OCI manifests (umoci refuses Docker ones); skopeo
                    # converts the same way. Blobs are untouched; the manifest digest changes.
                    data, media_type = manifest.as_oci().to_bytes(), mt.OCI_MANIFEST
            destination.put_manifest(data, media_type, top)
            result.manifests += 1
            return Descriptor(media_type, Digest.of(data), len(data))

        picked = media_type in mt.INDEX_TYPES  # chosen from an index by platform already
        depth = 0  # indexes already followed
        if media_type in mt.INDEX_TYPES and not options.all_platforms:
            depth = 1
            index = Index.parse(data, str(options.source))
            chosen = index.choose(
                options.platform, str(options.source), "; use --platform or --all"
            )
            data, media_type = source.manifest(chosen)
            result.digest, result.media_type = Digest.of(data), media_type or chosen.media_type
        top = copy_manifest(data, result.media_type, True, depth)
        if top.digest != result.digest:
            result.digest, result.media_type, result.preserved = top.digest, top.media_type, False
    return result


def _check_config(source: RawSource, data: bytes, manifest: Manifest, where: str) -> Image | None:
    """Decode an image's config as every other command does, so that copy never passes on an
    image they would refuse (an artifact's config is not an image config: left alone, None)."""
    config = manifest.config
    if config.media_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        return None
    if config.size > MAX_CONFIG_BYTES:
        raise FormatError(too_large(f"{where}: image config", config.size, MAX_CONFIG_BYTES))
    parts: list[bytes] = []
    with source.open_blob(config) as stream:
        # a read may return less than asked (a registry stream resuming after a short body);
        # the read that returns EOF verifies size and digest
        while piece := stream.read(max(1, config.size + 1 - sum(map(len, parts)))):
            parts.append(piece)
    config_bytes = b"".join(parts)
    if isinstance(source, RegistrySource):
        source.keep(config, config_bytes)
    return Image.assemble(data, config_bytes, source, where)


def _copy_converted(options: CopyOptions) -> CopyResult:
    # here, not at the top: the raw path (oci: and registries, a no-op re-push above all)
    # needs none of the other transports' dispatch (start-up, issue 17)
    from scratchpack.transports.dispatch import open_image, write_image

    destination = options.destination
    with ExitStack() as stack:
        image = stack.enter_context(open_image(options.source, options.platform, options.reading()))
        converted = False
        if isinstance(destination, OciName | RegistryName):
            oci = isinstance(destination, OciName)
            if any(layer.compression == "none" for layer in image.layers) or (
                oci and image.manifest.media_type != mt.OCI_MANIFEST
            ):
                spool = tempfile.TemporaryDirectory(prefix="scratchpack-gz.")
                tmp = Path(stack.enter_context(spool))
                image = _convert(image, tmp, oci=oci)
                converted = True
            check_destination(destination, force=options.force)
        written = write_image(
            destination, image, force=options.force, registry_options=options.registry
        )
        # the digest at the destination as inspect and skopeo see it there: for an archive or
        # the daemon, the one skopeo makes up for a manifest-less image
        result = CopyResult(
            str(options.source),
            written.destination,
            written.manifest_digest,
            image.manifest.media_type,
            image_id=image.image_id,
        )
        result.preserved = not converted and not _is_archive_like(destination)
        result.manifests = 1
        result.outcomes["copied"] = len(image.layers) + 1
    return result


def _is_archive_like(name: ImageName) -> bool:
    return not isinstance(name, OciName | RegistryName)


class _ConvertedBlobs:
    """Layers compressed into ``root`` (named by digest), others still read from their source."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kept: dict[Digest, BlobSource] = {}

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        if descriptor.digest in self.kept:
            return self.kept[descriptor.digest].open_blob(descriptor)
        return oci_layout.verified_file(self.root / descriptor.digest.hex, descriptor)

    def local_path(self, descriptor: Descriptor) -> Path | None:
        if descriptor.digest in self.kept:
            return self.kept[descriptor.digest].local_path(descriptor)
        return self.root / descriptor.digest.hex


def _convert(image: Image, tmp: Path, *, oci: bool) -> Image:
    """An archive's image for a layout (``oci``) or a registry, as skopeo converts it.

    Uncompressed layers are gzip-compressed. For a layout the manifest becomes an OCI
    manifest (OCI config and layer media types): what umoci requires and skopeo writes. For a
    registry it stays Docker schema 2. The config bytes, hence the image ID, never change.
    """
    blobs = _ConvertedBlobs(tmp)
    compressed: dict[Digest, Descriptor] = {}
    descriptors: list[Descriptor] = []
    plain = {la.diff_id: la.descriptor.size for la in image.layers if la.compression == "none"}
    with progress.step(f"compressing {len(plain)} layers (gzip)", sum(plain.values())) as task:
        for layer in image.layers:
            _convert_layer(layer, tmp, oci, blobs, compressed, descriptors, task)
    config_type = mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG
    manifest = Manifest(
        config=Descriptor(config_type, image.config_digest, len(image.config_bytes)),
        layers=tuple(descriptors),
        media_type=mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST,
    )
    return Image.assemble(manifest.to_bytes(), image.config_bytes, blobs)


def _convert_layer(
    layer: Layer,
    tmp: Path,
    oci: bool,
    blobs: _ConvertedBlobs,
    compressed: dict[Digest, Descriptor],
    descriptors: list[Descriptor],
    task: progress.Task,
) -> None:
    """One layer of :func:`_convert`: kept if compressed, else gzip-compressed once."""
    from scratchpack.layers.compress import CompressingWriter  # only this path compresses

    if layer.compression != "none":
        blobs.kept[layer.descriptor.digest] = layer.source
        kind = layer.compression
        media_type = mt.oci_layer_type(kind) if oci or kind != "gzip" else mt.DOCKER_LAYER_GZIP
        descriptors.append(replace(layer.descriptor, media_type=media_type))
        return
    if layer.diff_id not in compressed:
        spool = tmp / "layer.tmp"
        with (
            spool.open("wb") as out,
            layer.open_uncompressed(task.advance) as stream,
            CompressingWriter(out, "gzip") as writer,  # its threads stopped if the read fails
        ):
            shutil.copyfileobj(stream, cast(BinaryIO, writer), 1 << 20)
            blob = writer.finish()
        if blob.diff_id != layer.diff_id:
            raise FormatError(f"layer {layer.diff_id} changed while being compressed")
        spool.rename(tmp / blob.digest.hex)
        media_type = mt.OCI_LAYER_GZIP if oci else mt.DOCKER_LAYER_GZIP
        compressed[layer.diff_id] = Descriptor(media_type, blob.digest, blob.size)
    descriptors.append(compressed[layer.diff_id])
