"""How large a JSON document we read into memory; anything larger is refused unread.

Manifests and indexes (``index.json`` too): 4 MiB, the size the OCI distribution spec asks
every client and registry to support and containerd's ``MaxManifestSize`` (remotes/docker).
Image configs have no such rule: containerd bounds a config only by its descriptor's size and
caps each JSON file of a ``docker save`` tar (``manifest.json``, configs) at 20 MiB in its
archive importer, so configs and an archive's ``manifest.json`` may have 20 MiB here. Real
configs are a few kB; a history of hundreds of steps stays far below either limit.
"""

from __future__ import annotations

MAX_MANIFEST_BYTES = 4 << 20
MAX_CONFIG_BYTES = 20 << 20
MAX_ARCHIVE_MANIFEST_BYTES = 20 << 20
# Indexes followed inside one another (a real one nests one level: an attestation index
# under a multi-platform one); a hostile source could chain them without end.
MAX_INDEX_DEPTH = 4


def too_large(what: str, size: int, limit: int) -> str:
    """The one-line refusal, the same wherever the size is found out."""
    return f"{what} is {size} bytes, more than the {limit >> 20} MiB a JSON document may have"
