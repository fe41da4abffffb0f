"""The digest a registry reference points at now: for ``scratchpack digest`` and for pinning
``FROM`` lines (``lint --fix``)."""

from __future__ import annotations

from scratchpack.model.digest import Digest
from scratchpack.model.reference import Reference
from scratchpack.transports.registry.transport import (
    RegistryOptions,
    manifest_reference,
    repository,
)


def registry_digest(reference: Reference, options: RegistryOptions) -> Digest:
    """The manifest (or index) digest, as a HEAD answers it; a GET when a registry's HEAD
    gives no Docker-Content-Digest. An index stays an index: pinning one keeps every
    platform."""
    repo = repository(reference, options)
    name = manifest_reference(reference)
    digest = repo.head_manifest(name)
    if digest is None:
        data, _ = repo.get_manifest(name)
        digest = Digest.of(data)
    return digest
