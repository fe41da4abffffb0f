"""One entry point to read or write an image, whatever transport its name selects.

Transports are imported when a name selects them: every command pays for what it uses only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.model.descriptor import Platform
from scratchpack.model.digest import Digest
from scratchpack.model.image import Image
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


@dataclass(frozen=True)
class WriteResult:
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


def write_image(
    name: ImageName,
    image: Image,
    *,
    force: bool = False,
    registry_options: RegistryOptions | None = None,
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
