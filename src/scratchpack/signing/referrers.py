"""OCI 1.1 referrers: manifests that point at an image through ``subject``, and how to find
them again, on a registry and in an OCI layout.

A referrer is an OCI image manifest with an ``artifactType``, the subject's descriptor as
``subject``, and (for an artifact without a config of its own) the empty descriptor
``application/vnd.oci.empty.v1+json`` (``{}``) as config, as cosign writes its bundles.

- **Registry.** ``GET /v2/<name>/referrers/<digest>`` (distribution spec 1.1) lists them as an
  OCI index. A registry without that API answers 404 (distribution 2.8 does): then the
  referrers live in the **referrers tag schema**, an OCI index tagged ``<alg>-<hex>``
  (``sha256-<hex>``) in the same repository, which every writer updates read-modify-write,
  keeping the entries already there. The distribution API has no compare-and-swap for a tag,
  so two writers attaching to one image at the same instant can lose one entry (the manifest
  itself stays in the repository, by digest); cosign, oras and regclient share that race.
- **OCI layout.** The referrer's manifest and blobs go into the layout and its descriptor
  (media type, digest, size, ``artifactType``, the manifest's annotations) into
  ``index.json`` without a ``ref.name``, as oras does; a reader finds it by reading each
  untagged entry's ``subject``. The update holds the layout's lock.

A listing is only a list of candidates: whoever uses a referrer reads its manifest and checks
that its ``subject`` is the image (``read_referrer``), since a tag index is anyone's to write.

The same stores read and write a tagged artifact manifest byte for byte (``tagged``,
``put_tagged``: cosign's ``.sig`` and ``.att`` tags), so ``copy --with-signatures`` moves
every artifact of an image through one interface, streaming each blob.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from scratchpack.errors import FormatError, ImageNotFoundError
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Index, Manifest, canonical_json, load_json, sniff_media_type
from scratchpack.transports import oci_layout
from scratchpack.transports.names import ImageName, OciName, RegistryName
from scratchpack.transports.registry.transport import (
    RegistryOptions,
    manifest_reference,
    push_blob,
    repository,
)

EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_DATA = b"{}"
EMPTY = Descriptor(EMPTY_MEDIA_TYPE, Digest.of(EMPTY_DATA), len(EMPTY_DATA))
MAX_REFERRERS = 1000  # entries of one listing considered, at most
MAX_BLOB_BYTES = 64 << 20  # an attestation may carry an SBOM; anything larger is refused

API = "referrers API"
TAG_SCHEMA = "referrers tag"
LAYOUT_INDEX = "index.json"


def fallback_tag(digest: Digest) -> str:
    """The referrers tag schema's tag: ``<alg>-<ref>``, alg cut to 32 and ref to 64 chars."""
    return f"{digest.algorithm[:32]}-{digest.hex[:64]}"


def referrer_manifest(
    subject: Descriptor,
    artifact_type: str,
    layers: list[Descriptor],
    annotations: dict[str, str],
) -> bytes:
    """An OCI 1.1 artifact manifest over ``layers`` whose subject is ``subject``."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        # cosign's go-containerregistry struct repeats the artifactType on the config
        "config": {**EMPTY.to_json(), "artifactType": artifact_type},
        "layers": [layer.to_json() for layer in layers],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "annotations": dict(sorted(annotations.items())),
    }
    return canonical_json(doc)


class OtherSubjectError(FormatError):
    """A listed manifest whose subject is another image (or none): not this image's."""


@dataclass(frozen=True)
class Listing:
    """The candidate referrers of one subject and where they were listed."""

    entries: tuple[Descriptor, ...]
    via: str  # API, TAG_SCHEMA + " sha256-...", or LAYOUT_INDEX


@dataclass(frozen=True)
class Referrer:
    """A referrer whose manifest was read and whose subject is the image."""

    descriptor: Descriptor
    manifest: Manifest
    artifact_type: str
    data: bytes


class Store(Protocol):
    """Where an image's referrers live: a registry repository or an OCI layout."""

    def subject(self) -> Descriptor: ...
    def listing(self, subject: Digest) -> Listing: ...
    def manifest(self, entry: Descriptor) -> bytes: ...
    def open_blob(self, descriptor: Descriptor) -> BinaryIO: ...
    def attach(self, subject: Descriptor, manifest: bytes, blobs: list[Descriptor],
               opener: Callable[[Descriptor], BinaryIO]) -> str: ...  # fmt: skip
    def tagged(self, tag: str) -> bytes | None: ...
    def put_tagged(self, tag: str, manifest: bytes, blobs: list[Descriptor],
                   opener: Callable[[Descriptor], BinaryIO]) -> None: ...  # fmt: skip


def descriptor_of(data: bytes) -> Descriptor:
    """The descriptor a referrers listing gives a manifest: type, digest, size,
    ``artifactType`` (else the config's media type) and the manifest's annotations."""
    doc = load_json(data, "referrer manifest")
    artifact_type = doc.get("artifactType")
    if not isinstance(artifact_type, str):
        config = doc.get("config")
        artifact_type = config.get("mediaType") if isinstance(config, dict) else None
    annotations = doc.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    return Descriptor(
        mt.OCI_MANIFEST,
        Digest.of(data),
        len(data),
        annotations={k: v for k, v in annotations.items() if isinstance(v, str)},
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
    )


def read_referrer(store: Store, entry: Descriptor, subject: Digest) -> Referrer:
    """The manifest ``entry`` names, checked to be a referrer of ``subject``:
    OtherSubjectError when its subject is another (or none), FormatError when it is no
    manifest."""
    if entry.media_type and entry.media_type != mt.OCI_MANIFEST:
        raise FormatError(f"{entry.digest.short()}: {entry.media_type!r} is not a manifest")
    data = store.manifest(entry)
    where = f"referrer {entry.digest.short()}"
    manifest = Manifest.parse(data, where)
    if manifest.subject is None:
        raise OtherSubjectError(f"{where} has no subject")
    if manifest.subject.digest != subject:
        raise OtherSubjectError(f"{where} refers to {manifest.subject.digest}, not this image")
    artifact_type = descriptor_of(data).artifact_type or ""
    return Referrer(entry, manifest, artifact_type, data)


def read_blob(store: Store, descriptor: Descriptor, limit: int = MAX_BLOB_BYTES) -> bytes:
    """A referrer's blob, verified, at most ``limit`` bytes held."""
    if descriptor.size > limit:
        raise FormatError(f"{descriptor.digest.short()}: {descriptor.size} bytes is too large")
    chunks, total = [], 0
    with store.open_blob(descriptor) as stream:
        # read to the end: the read that finds it is the one that checks the digest
        while chunk := stream.read(1 << 16):
            total += len(chunk)
            if total > limit:
                raise FormatError(f"{descriptor.digest.short()}: more than {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


class RegistryReferrers:
    def __init__(self, name: RegistryName, options: RegistryOptions, *, pushing: bool) -> None:
        self.name = name
        self.options = options
        self.repo = repository(name.reference, options, pushing=pushing)

    def subject(self) -> Descriptor:
        data, media_type = self.repo.get_manifest(manifest_reference(self.name.reference))
        kind = media_type or sniff_media_type(load_json(data, str(self.name)))
        return Descriptor(kind, Digest.of(data), len(data))

    def api(self, subject: Digest) -> Index | None:
        """The registry's referrers listing, or None when it has no referrers API (404)."""
        from scratchpack.transports.registry.repository import MAX_MANIFEST

        response = self.repo.client.request(
            "GET",
            self.repo.path(f"referrers/{subject}"),
            scope=self.repo.scope("pull"),
            headers={"Accept": mt.OCI_INDEX},
            ok=(200, 404),
            limit=MAX_MANIFEST,
        )
        if response.status_code == 404:
            return None
        return Index.parse(response.content, f"{self.name}: referrers of {subject.short()}")

    def tag_index(self, subject: Digest) -> Index | None:
        """The referrers tag index, None when absent; a tag that holds something else is a
        FormatError (and is never overwritten: it is someone's image)."""
        tag = fallback_tag(subject)
        try:
            data, _ = self.repo.get_manifest(tag)
        except ImageNotFoundError:
            return None
        try:
            return Index.parse(data, f"{self.name}: {tag}")
        except FormatError as exc:
            raise FormatError(
                f"{self.name.reference.domain}/{self.name.reference.path}:{tag} is no "
                f"referrers index ({exc}); it is left as it is"
            ) from None

    def listing(self, subject: Digest) -> Listing:
        listed = self.api(subject)
        if listed is not None:
            return Listing(listed.manifests[:MAX_REFERRERS], API)
        index = self.tag_index(subject)
        entries = index.manifests[:MAX_REFERRERS] if index is not None else ()
        return Listing(entries, f"{TAG_SCHEMA} {fallback_tag(subject)}")

    def manifest(self, entry: Descriptor) -> bytes:
        data = self.repo.get_manifest(str(entry.digest))[0]  # verified against the digest
        if len(data) != entry.size:
            raise FormatError(f"{entry.digest.short()}: {len(data)} bytes, listed as {entry.size}")
        return data

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self.repo.open_blob(descriptor)

    def attach(
        self,
        subject: Descriptor,
        manifest: bytes,
        blobs: list[Descriptor],
        opener: Callable[[Descriptor], BinaryIO],
    ) -> str:
        """Push the blobs and the manifest (by digest); without a referrers API, add it to
        the tag index too. Returns where it is listed."""
        for blob in blobs:
            push_blob(self.repo, blob, functools.partial(opener, blob), self.options)
        self.repo.put_manifest(str(Digest.of(manifest)), manifest, mt.OCI_MANIFEST)
        if self.api(subject.digest) is not None:
            return API
        tag = fallback_tag(subject.digest)
        entry = descriptor_of(manifest)
        index = self.tag_index(subject.digest)
        kept = index.manifests if index is not None else ()
        if any(d.digest == entry.digest for d in kept):
            return f"{TAG_SCHEMA} {tag}"
        # read-modify-write: every entry already there is kept, ours appended (no CAS exists)
        updated = Index((*kept, entry), mt.OCI_INDEX, index.annotations if index else {})
        self.repo.put_manifest(tag, updated.to_bytes(), mt.OCI_INDEX)
        return f"{TAG_SCHEMA} {tag}"

    def tagged(self, tag: str) -> bytes | None:
        try:
            return self.repo.get_manifest(tag)[0]
        except ImageNotFoundError:
            return None

    def put_tagged(
        self,
        tag: str,
        manifest: bytes,
        blobs: list[Descriptor],
        opener: Callable[[Descriptor], BinaryIO],
    ) -> None:
        for blob in blobs:
            push_blob(self.repo, blob, functools.partial(opener, blob), self.options)
        media_type = sniff_media_type(load_json(manifest, f"{self.name}: {tag}"))
        self.repo.put_manifest(tag, manifest, media_type)


class LayoutReferrers:
    def __init__(self, name: OciName) -> None:
        self.name = name
        self.blobs = oci_layout.LayoutBlobs(name.directory)

    def subject(self) -> Descriptor:
        entry = oci_layout.find_entry(self.name.directory, self.name.tag)
        self.blobs.read_bytes(entry)  # a tag whose manifest is missing or altered is no image
        return Descriptor(entry.media_type, entry.digest, entry.size)

    def listing(self, subject: Digest) -> Listing:
        index = oci_layout.read_index(self.name.directory)
        untagged = [
            d
            for d in index.manifests
            if mt.ANNOTATION_REF_NAME not in d.annotations and d.media_type == mt.OCI_MANIFEST
        ]
        return Listing(tuple(untagged[:MAX_REFERRERS]), LAYOUT_INDEX)

    def manifest(self, entry: Descriptor) -> bytes:
        return self.blobs.read_bytes(entry)

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self.blobs.open_blob(descriptor)

    def attach(
        self,
        subject: Descriptor,
        manifest: bytes,
        blobs: list[Descriptor],
        opener: Callable[[Descriptor], BinaryIO],
    ) -> str:
        with oci_layout.LayoutWriter(self.name.directory) as writer:
            for blob in blobs:
                if not writer.has_blob(blob):
                    with opener(blob) as stream:
                        writer.put_stream(blob, stream)
            entry = descriptor_of(manifest)
            writer.put_bytes(entry, manifest)
            writer.commit_untagged(entry)
        return LAYOUT_INDEX

    def tagged(self, tag: str) -> bytes | None:
        try:
            entry = oci_layout.find_entry(self.name.directory, tag)
        except ImageNotFoundError:
            return None
        return self.blobs.read_bytes(entry)

    def put_tagged(
        self,
        tag: str,
        manifest: bytes,
        blobs: list[Descriptor],
        opener: Callable[[Descriptor], BinaryIO],
    ) -> None:
        media_type = sniff_media_type(load_json(manifest, f"oci:{self.name.directory}:{tag}"))
        entry = Descriptor(media_type, Digest.of(manifest), len(manifest))
        with oci_layout.LayoutWriter(self.name.directory) as writer:
            for blob in blobs:
                if not writer.has_blob(blob):
                    with opener(blob) as stream:
                        writer.put_stream(blob, stream)
            writer.put_bytes(entry, manifest)
            writer.commit(tag, entry, force=True)


def store_for(name: ImageName, options: RegistryOptions, *, pushing: bool) -> Store:
    """The referrers store of a registry or layout image (the caller checked the transport)."""
    if isinstance(name, RegistryName):
        return RegistryReferrers(name, options, pushing=pushing)
    assert isinstance(name, OciName)
    return LayoutReferrers(name)


def bytes_opener(blobs: dict[Digest, bytes]) -> Callable[[Descriptor], BinaryIO]:
    """An opener over blobs held in memory (a bundle and the empty config are small)."""
    return lambda descriptor: io.BytesIO(blobs[descriptor.digest])
