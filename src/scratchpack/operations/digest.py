"""The digest a registry reference points at now: for ``scratchpack digest`` and for pinning
``FROM`` lines (``lint --fix``); and the platforms it is offered for (``lint --lookup-bases``)."""

from __future__ import annotations

from scratchpack.model.descriptor import Platform
from scratchpack.model.digest import Digest
from scratchpack.model.reference import Reference
from scratchpack.transports.registry.transport import (
    RegistryOptions,
    manifest_reference,
    repository,
)


def registry_digest(reference: Reference, options: RegistryOptions) -> Digest:
    """The manifest (or index) digest, computed from the bytes the registry serves.

    Why a GET and not the cheaper HEAD (``crane digest``'s way): a HEAD answers only a
    ``Docker-Content-Digest`` header, which a hostile or broken registry can set to any
    value, and the digest printed here ends up pinned in ``FROM`` lines (``lint --fix``)
    as the promise of what gets built. Hashing what we received is the only answer that is
    verified (house rule: every byte read is verified before it is trusted). The manifest is
    a few kB, read under the manifest size cap. An index stays an index: pinning one keeps
    every platform."""
    repo = repository(reference, options)
    data, _ = repo.get_manifest(manifest_reference(reference))
    return Digest.of(data)


def registry_platforms(reference: Reference, options: RegistryOptions) -> tuple[Platform, ...]:
    """The platforms the image a reference names is offered for: an index's entries (not its
    attestation manifests, ``unknown/unknown``), or a single manifest's config's os and
    architecture. For ``lint --lookup-bases`` (BuildKit's InvalidBaseImagePlatform).

    Every document is read under the manifest size cap and verified when the reference
    pins a digest (the config blob always is, against its descriptor): the platform decides a
    finding, so it is read from the bytes, never from a header."""
    from scratchpack.model import mediatypes as mt
    from scratchpack.model.config import ImageConfig
    from scratchpack.model.descriptor import Descriptor
    from scratchpack.model.manifest import Index, load_json, sniff_media_type

    repo = repository(reference, options)
    where = f"docker://{reference}"
    data, media_type = repo.get_manifest(manifest_reference(reference))
    doc = load_json(data, f"{where} manifest")
    media_type = media_type or sniff_media_type(doc)
    if media_type in mt.INDEX_TYPES or "manifests" in doc:
        index = Index.parse(data, f"{where} index")
        return tuple(
            entry.platform
            for entry in index.manifests
            if entry.platform is not None and entry.platform.os != "unknown"
        )
    config = Descriptor.from_json(doc.get("config"), f"{where} config descriptor")
    platform = ImageConfig.parse(repo.read_blob_bytes(config), f"{where} config").platform
    return (platform,) if platform.architecture else ()
