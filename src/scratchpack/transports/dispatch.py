"""One entry point to read or write an image, whatever transport its name selects.

Transports are imported when a name selects them: every command pays for what it uses only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, cast

from scratchpack import progress
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest
from scratchpack.model.image import BlobSource, Image
from scratchpack.transports import oci_layout

if TYPE_CHECKING:
    from scratchpack.transports.registry.transport import RegistryOptions
from scratchpack.transports.names import (
    ArchiveName,
    DaemonName,
    ImageName,
    OciName,
    RegistryName,
    StorageName,
)


class WriteResult(NamedTuple):
    """Where an image was written.
    (A NamedTuple, not a dataclass: on every ``pack``'s path; see ``operations/elf.py``.)"""

    destination: str
    detail: str
    # the manifest digest at the destination, as ``inspect`` and skopeo report it there
    manifest_digest: Digest


@contextmanager
def open_image(
    name: ImageName,
    platform: Platform | None = None,
    registry_options: RegistryOptions | None = None,
) -> Iterator[Image]:
    """The image ``name`` holds; ``platform``, when given, must be one it has (exit 2)."""
    with _open(name, platform, registry_options) as image:
        image.require_platform(platform, str(name))
        yield image


@contextmanager
def _open(
    name: ImageName, platform: Platform | None, registry_options: RegistryOptions | None
) -> Iterator[Image]:
    if isinstance(name, RegistryName):
        from scratchpack.transports.registry import transport as registry

        options = registry_options or registry.RegistryOptions()
        try:
            yield registry.read_image(name.reference, options, platform)
        finally:
            if registry_options is None:
                options.close()
    elif isinstance(name, OciName):
        yield oci_layout.read_image(name.directory, name.tag, platform)
    elif isinstance(name, ArchiveName):
        from scratchpack.transports import docker_archive

        with docker_archive.open_archive(name.file, name.reference) as image:
            yield image
    elif isinstance(name, StorageName):
        from scratchpack.transports import containers_storage

        with containers_storage.open_storage_image(name.reference) as image:
            yield image
    else:
        from scratchpack.transports import docker_daemon

        with docker_daemon.open_daemon_image(name.reference) as image:
            yield image


class _CountedBlobs:
    """A blob source whose streams advance a progress step: every writer reads the layers
    through ``open_blob``, so one wrapper counts the bytes of all of them. A local file a
    layout hard-links is not read, and so not counted (the step ends complete anyway)."""

    def __init__(self, inner: BlobSource, count: Callable[[int], None]) -> None:
        self.inner = inner
        self.count = count

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return cast(BinaryIO, progress.Counted(self.inner.open_blob(descriptor), self.count))

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return self.inner.local_path(descriptor)


def _counted(image: Image, count: Callable[[int], None], keep: type | None) -> Image:
    """``image`` with its layers read through :class:`_CountedBlobs` (a ``keep`` source, a
    registry repository the push may mount from, stays as it is)."""
    layers = tuple(
        layer if keep is not None and isinstance(layer.source, keep)
        else replace(layer, source=_CountedBlobs(layer.source, count))
        for layer in image.layers
    )  # fmt: skip
    return replace(image, layers=layers)


def write_image(
    name: ImageName,
    image: Image,
    *,
    force: bool = False,
    registry_options: RegistryOptions | None = None,
) -> WriteResult:
    """Write ``image`` to ``name``, as one progress step over its layers' bytes."""
    if not progress.active():
        return _write_image(name, image, force, registry_options)
    unique = {layer.descriptor.digest: layer.descriptor.size for layer in image.layers}
    verb = "pushing to" if isinstance(name, RegistryName) else "writing"
    what = f"{verb} {name} ({len(unique)} layer{'' if len(unique) == 1 else 's'})"
    with progress.step(what, sum(unique.values())) as task:
        keep = None
        if isinstance(name, RegistryName):
            from scratchpack.transports.registry.repository import Repository

            keep = Repository
        return _write_image(name, _counted(image, task.advance, keep), force, registry_options)


def _write_image(
    name: ImageName, image: Image, force: bool, registry_options: RegistryOptions | None
) -> WriteResult:
    if isinstance(name, RegistryName):
        from scratchpack.transports.registry import transport as registry

        options = registry_options or registry.RegistryOptions()
        try:
            entry = registry.write_image(name.reference, image, options)
        finally:
            if registry_options is None:
                options.close()
        return WriteResult(str(name), f"pushed {entry.digest}", entry.digest)
    if isinstance(name, OciName):
        entry = oci_layout.write_image(name.directory, name.tag, image, force=force)
        tag = entry.annotations.get("org.opencontainers.image.ref.name", "")
        return WriteResult(f"oci:{name.directory}:{tag}", "", entry.digest)
    if isinstance(name, ArchiveName):
        from scratchpack.transports import docker_archive

        digest = docker_archive.write_archive(name.file, image, name.reference, force=force)
        return WriteResult(str(name), "", digest)
    if isinstance(name, DaemonName):
        from scratchpack.transports import docker_daemon

        message, digest = docker_daemon.load_image(image, name.reference)
        return WriteResult(str(name), message, digest)
    if isinstance(name, StorageName):
        raise UsageError(
            f"cannot write to {name}: containers-storage: is read-only here; write "
            "docker-archive:FILE and `podman load -i FILE`"
        )
    raise ScratchpackError(f"cannot write to {name}")


def stores_uncompressed(name: ImageName) -> bool:
    """Docker archives and the daemon hold uncompressed layers (the ``docker save`` format)."""
    return isinstance(name, ArchiveName | DaemonName)
