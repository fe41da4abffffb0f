"""Read and write whole images on a registry."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from scratchpack.errors import FormatError
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest
from scratchpack.model.image import Image
from scratchpack.model.manifest import Index, load_json, sniff_media_type
from scratchpack.model.reference import Reference
from scratchpack.transports.registry.auth import Credentials

if TYPE_CHECKING:
    # Imported at the first request instead: they load httpx (~70 ms), and every command that
    # may reach a registry builds a RegistryOptions, most often to write to oci: (issue 17).
    from scratchpack.transports.registry.client import RegistryClient
    from scratchpack.transports.registry.repository import Repository

DEFAULT_JOBS = 4


@dataclass
class RegistryOptions:
    tls_verify: bool = True
    credentials: Credentials | None = None
    jobs: int = DEFAULT_JOBS
    on_blob: Callable[[Descriptor, str], None] | None = None
    wrap_stream: Callable[[Descriptor, BinaryIO], BinaryIO] | None = None
    clients: dict[str, RegistryClient] = field(default_factory=dict)
    timeout: float = 60.0  # seconds without progress on one request
    retries: int = 4  # after the first attempt
    auth_file: Path | None = None  # --authfile (else REGISTRY_AUTH_FILE), then config.json

    def client(self, host: str) -> RegistryClient:
        if host not in self.clients:
            from scratchpack.transports.registry.client import RegistryClient, RetryPolicy

            self.clients[host] = RegistryClient(
                host,
                self.tls_verify,
                self.credentials,
                retry=RetryPolicy(attempts=self.retries + 1),
                timeout=self.timeout,
                auth_file=self.auth_file,
            )
        return self.clients[host]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()


def repository(
    reference: Reference, options: RegistryOptions, *, pushing: bool = False
) -> Repository:
    from scratchpack.transports.registry.repository import Repository

    return Repository(options.client(reference.domain), reference.path, pushing=pushing)


def manifest_reference(reference: Reference) -> str:
    return str(reference.digest) if reference.digest else reference.tag or "latest"


def resolve(
    repo: Repository,
    reference: str,
    platform: Platform | None,
    where: str,
    seen: list[Digest] | None = None,
) -> tuple[bytes, str]:
    """Follow an index to the manifest for ``platform``; returns its bytes and media type.
    ``seen`` collects the digest of each document read, the top one first."""
    data, media_type = repo.get_manifest(reference)
    if seen is not None:
        seen.append(Digest.of(data))
    media_type = media_type or sniff_media_type(load_json(data, f"{where} manifest"))
    depth = 0
    while media_type in mt.INDEX_TYPES:
        depth += 1
        if depth > 4:
            raise FormatError(f"{where}: indexes nested too deep")
        chosen = Index.parse(data, f"{where} index").choose(platform, where)
        data, media_type = repo.get_manifest(str(chosen.digest))
        if seen is not None:
            seen.append(Digest.of(data))
        media_type = media_type or chosen.media_type
    return data, media_type


def read_image(
    reference: Reference, options: RegistryOptions, platform: Platform | None = None
) -> Image:
    repo = repository(reference, options)
    where = f"docker://{reference}"
    seen: list[Digest] = []
    data, _ = resolve(repo, manifest_reference(reference), platform, where, seen)
    doc = load_json(data, f"{where} manifest")
    config = Descriptor.from_json(doc.get("config"))
    image = Image.assemble(data, repo.read_blob_bytes(config), repo)
    # picked from an index: the index's digest is what the reference points at
    return replace(image, index_digest=seen[0]) if len(seen) > 1 else image


def push_blob(
    repo: Repository,
    descriptor: Descriptor,
    opener: Callable[[], BinaryIO],
    options: RegistryOptions,
    mount_from: Repository | None = None,
) -> str:
    """Put one blob: skip if present, mount if the source is on the same registry, else upload
    (a blob skipped or mounted is not read)."""
    if repo.has_blob(descriptor.digest):
        repo.stats["existing"] += 1
        outcome = "existing"
    elif (
        mount_from is not None
        and mount_from.client.host == repo.client.host
        and mount_from.name != repo.name
        and repo.mount_blob(descriptor.digest, mount_from.name)
    ):
        outcome = "mounted"
    else:

        def open_wrapped() -> BinaryIO:
            stream = opener()
            return options.wrap_stream(descriptor, stream) if options.wrap_stream else stream

        outcome = repo.upload_blob(descriptor, open_wrapped, known_absent=True)
    if options.on_blob:
        options.on_blob(descriptor, outcome)
    return outcome


def write_image(reference: Reference, image: Image, options: RegistryOptions) -> Descriptor:
    """Push blobs (in parallel), then the config, then the manifest, by tag and digest."""
    from concurrent.futures import ThreadPoolExecutor  # with logging: not for every start-up

    from scratchpack.transports.registry.repository import Repository

    repo = repository(reference, options, pushing=True)
    source = image.layers[0].source if image.layers else None
    mount_from = source if isinstance(source, Repository) else None

    # A layer listed twice (BuildKit's empty layer) is pushed once, not twice in parallel.
    layers = list({layer.descriptor.digest: layer for layer in image.layers}.values())

    def push_layer(index: int) -> str:
        layer = layers[index]
        return push_blob(repo, layer.descriptor, layer.open, options, mount_from)

    with ThreadPoolExecutor(max(1, options.jobs)) as pool:
        list(pool.map(push_layer, range(len(layers))))
    config = image.manifest.config
    push_blob(repo, config, lambda: _bytes_stream(image.config_bytes), options, None)
    target = manifest_reference(reference)
    digest = repo.put_manifest(target, image.manifest_bytes, image.manifest.media_type)
    return Descriptor(image.manifest.media_type, digest, len(image.manifest_bytes))


def _bytes_stream(data: bytes) -> BinaryIO:
    return io.BytesIO(data)
