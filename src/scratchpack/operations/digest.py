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
