"""``copy --with-signatures``: an image's signatures and attestations follow it.

What is carried, for the manifest digest the copy wrote (which must be the source's: a copy
that converts the manifest changes the digest, and no signature of the old one can speak
for the new):

- cosign's legacy tags ``sha256-<hex>.sig`` and ``sha256-<hex>.att``, byte for byte; one
  already at the destination is replaced by the source's, as ``cosign copy`` does;
- every OCI 1.1 referrer of the digest (bundles of both kinds, SBOMs, anything with that
  subject), listed by the source's referrers API, its tag index or its ``index.json``, and
  attached at the destination the destination's way (its API, else its tag index, keeping
  the entries already there; ``index.json`` in a layout).

skopeo has no such option (it copies the one image); cosign's is ``cosign copy``. Each blob
streams from source to destination, verified, and each manifest keeps its digest, so a
signature verifies at the destination exactly as at the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scratchpack import progress
from scratchpack.errors import NotFoundError, ScratchpackError
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Manifest
from scratchpack.signing import legacy, referrers
from scratchpack.transports.names import ImageName
from scratchpack.transports.registry.transport import RegistryOptions

TAG_SUFFIXES = (".sig", ".att")


@dataclass
class Carried:
    tags: list[str] = field(default_factory=list)
    referrers: list[Digest] = field(default_factory=list)


def check(source: ImageName, destination: ImageName) -> None:
    """Refuse, before anything is copied, a side that cannot hold signatures."""
    legacy.check_transport(source)
    legacy.check_transport(destination)


def carry(
    source: ImageName,
    destination: ImageName,
    digest: Digest,
    reading: RegistryOptions,
    writing: RegistryOptions,
) -> Carried:
    """Copy the signature tags and the referrers of ``digest`` from source to destination."""
    src = referrers.store_for(source, reading, pushing=False)
    dst = referrers.store_for(destination, writing, pushing=True)
    carried = Carried()
    for suffix in TAG_SUFFIXES:
        tag = f"{digest.algorithm}-{digest.hex}{suffix}"
        data = src.tagged(tag)
        if data is None:
            continue
        if dst.tagged(tag) != data:
            manifest = Manifest.parse(data, f"{source}: {tag}")
            blobs = list({d.digest: d for d in (manifest.config, *manifest.layers)}.values())
            dst.put_tagged(tag, data, blobs, src.open_blob)
        carried.tags.append(tag)
    listing = src.listing(digest)
    for entry in listing.entries:
        try:
            referrer = referrers.read_referrer(src, entry, digest)
        except referrers.OtherSubjectError:
            continue  # another image's (a layout lists them all), or a stray tag index entry
        except NotFoundError:
            # listed but gone (a registry's garbage collection, a pruned layout): nothing to copy
            progress.note(f"{source}: referrer {entry.digest.short()} is listed but absent")
            continue
        except ScratchpackError as exc:
            raise ScratchpackError(f"{source}: referrer {entry.digest.short()}: {exc}") from exc
        manifest = referrer.manifest
        assert manifest.subject is not None  # read_referrer checked it
        blobs = list({d.digest: d for d in (manifest.config, *manifest.layers)}.values())
        dst.attach(manifest.subject, referrer.data, blobs, src.open_blob)
        carried.referrers.append(entry.digest)
    return carried
