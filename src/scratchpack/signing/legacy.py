"""cosign's legacy signature layout: every signature of an image in one OCI manifest, tagged
``sha256-<hex>.sig`` beside the image (its registry repository, or its OCI layout).

Each signature is one layer: the simple signing payload as the blob (media type
``application/vnd.dev.cosign.simplesigning.v1+json``) and the base64 ASN.1 DER ECDSA
signature in the layer annotation ``dev.cosignproject.cosign/signature``. The config is the
one go-containerregistry makes for such an image (zero times, the payloads as diff_ids), so
the manifest is a valid image every registry and tool accepts. Signing appends a layer to the
manifest already there; verifying checks every layer and keeps those that verify.

No transparency log is written or read: this is cosign's ``--tlog-upload=false`` and
``--insecure-ignore-tlog`` mode, offline by design.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.errors import FormatError, ImageNotFoundError, ScratchpackError, UsageError
from scratchpack.fsutil import open_regular
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Manifest, canonical_json
from scratchpack.signing import keys, payload
from scratchpack.transports import oci_layout
from scratchpack.transports.names import ImageName, OciName, RegistryName
from scratchpack.transports.registry.transport import (
    RegistryOptions,
    manifest_reference,
    push_blob,
    repository,
)

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time, which go-containerregistry writes
MAX_SIGNATURES = 1000  # layers of one signature manifest checked, at most
_APPEND_ATTEMPTS = 5  # a layout's tag moved by another signer meanwhile: read again


def signature_tag(digest: Digest) -> str:
    """``sha256:abc`` -> ``sha256-abc.sig`` (SIGNATURE_SPEC.md, tag-based discovery)."""
    return f"{digest.algorithm}-{digest.hex}.sig"


@dataclass
class Signed:
    image: str
    digest: Digest
    signature_tag: str
    signatures: int  # in the manifest now, this one included
    payload: payload.Payload


@dataclass
class Checked:
    """One signature layer and why it does not count (``problem`` empty when it verifies)."""

    layer: Digest
    problem: str = ""
    claims: payload.Payload | None = None


@dataclass
class Verified:
    image: str
    digest: Digest
    signature_tag: str
    checked: list[Checked] = field(default_factory=list)

    @property
    def good(self) -> list[payload.Payload]:
        return [c.claims for c in self.checked if not c.problem and c.claims is not None]


class Store(Protocol):
    """Where an image and its signature manifest live: a registry repository or a layout."""

    def image_digest(self) -> Digest: ...
    def identity(self) -> str: ...
    def read(self, tag: str) -> tuple[Manifest, Digest] | None: ...
    def blob(self, descriptor: Descriptor, limit: int = payload.MAX_PAYLOAD_BYTES) -> bytes: ...
    def write(
        self, tag: str, previous: Digest | None, manifest: bytes, blobs: list[bytes]
    ) -> None: ...


class RegistryStore:
    def __init__(self, name: RegistryName, options: RegistryOptions, *, pushing: bool) -> None:
        self.name = name
        self.options = options
        self.repo = repository(name.reference, options, pushing=pushing)

    def image_digest(self) -> Digest:
        # hashed here, not taken from a header: what is signed is what was read
        data, _ = self.repo.get_manifest(manifest_reference(self.name.reference))
        return Digest.of(data)

    def identity(self) -> str:
        return default_identity(self.name)

    def read(self, tag: str) -> tuple[Manifest, Digest] | None:
        try:
            data, _ = self.repo.get_manifest(tag)
        except ImageNotFoundError:
            return None
        return Manifest.parse(data, f"{self.name}: {tag}"), Digest.of(data)

    def blob(self, descriptor: Descriptor, limit: int = payload.MAX_PAYLOAD_BYTES) -> bytes:
        if descriptor.size > limit:
            raise FormatError(f"blob {descriptor.digest}: {descriptor.size} bytes is too large")
        return self.repo.read_blob_bytes(descriptor)

    def write(self, tag: str, previous: Digest | None, manifest: bytes, blobs: list[bytes]) -> None:
        # The distribution API has no compare-and-swap on a tag: two signers at once can
        # lose one signature here, as with cosign itself.
        for data in blobs:
            descriptor = Descriptor("application/octet-stream", Digest.of(data), len(data))
            push_blob(self.repo, descriptor, _opener(data), self.options)
        self.repo.put_manifest(tag, manifest, mt.OCI_MANIFEST)


def _opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


class LayoutStore:
    def __init__(self, name: OciName, identity: str | None) -> None:
        self.name = name
        self._identity = identity
        self.blobs = oci_layout.LayoutBlobs(name.directory)

    def image_digest(self) -> Digest:
        entry = oci_layout.find_entry(self.name.directory, self.name.tag)
        self.blobs.read_bytes(entry)  # a tag whose manifest is missing or altered is no image
        return entry.digest

    def identity(self) -> str:
        return self._identity or default_identity(self.name)

    def read(self, tag: str) -> tuple[Manifest, Digest] | None:
        try:
            entry = oci_layout.find_entry(self.name.directory, tag)
        except ImageNotFoundError:
            return None
        data = self.blobs.read_bytes(entry)
        return Manifest.parse(data, f"oci:{self.name.directory}:{tag}"), entry.digest

    def blob(self, descriptor: Descriptor, limit: int = payload.MAX_PAYLOAD_BYTES) -> bytes:
        return self.blobs.read_bytes(descriptor, limit)

    def write(self, tag: str, previous: Digest | None, manifest: bytes, blobs: list[bytes]) -> None:
        entry = Descriptor(mt.OCI_MANIFEST, Digest.of(manifest), len(manifest))
        with oci_layout.LayoutWriter(self.name.directory) as writer:
            for data in [*blobs, manifest]:
                writer.put_bytes(Descriptor("", Digest.of(data), len(data)), data)
            writer.commit(tag, entry, force=True, expect=(previous,))


def default_identity(name: RegistryName | OciName) -> str:
    """The image's name in a signature or statement: for a registry, the repository as
    go-containerregistry names it (``index.docker.io`` for Docker Hub), which is what cosign
    writes; for a layout, its directory's name."""
    if isinstance(name, OciName):
        return name.directory.resolve().name
    ref = name.reference
    domain = "index.docker.io" if ref.domain == "docker.io" else ref.domain
    return f"{domain}/{ref.path}"


def store_for(
    name: ImageName, options: RegistryOptions, *, identity: str | None, pushing: bool
) -> Store:
    check_transport(name)
    if isinstance(name, RegistryName):
        return RegistryStore(name, options, pushing=pushing)
    assert isinstance(name, OciName)
    return LayoutStore(name, identity)


def check_transport(name: ImageName) -> None:
    """Refuse, before any password is asked, a transport that cannot hold signatures."""
    if isinstance(name, RegistryName | OciName):
        return
    raise UsageError(
        f"{name}: signatures are stored beside the image, in a registry (docker://) or an OCI "
        "layout (oci:); an archive or the daemon cannot hold them: copy the image first"
    )


def sign(
    name: ImageName,
    key: ec.EllipticCurvePrivateKey,
    annotations: dict[str, str],
    options: RegistryOptions,
    identity: str | None = None,
    digest: Digest | None = None,
) -> Signed:
    """Sign the image ``name`` points at now (or ``digest``, the one a build just wrote there)
    and add the signature to its ``.sig`` manifest."""
    store = store_for(name, options, identity=identity, pushing=True)
    digest = digest or store.image_digest()
    tag = signature_tag(digest)
    claims = payload.Payload(identity or store.identity(), digest, dict(annotations))
    data = claims.to_bytes()
    signature = base64.b64encode(keys.sign(key, data)).decode()
    layer = Descriptor(
        payload.MEDIA_TYPE,
        Digest.of(data),
        len(data),
        annotations={SIGNATURE_ANNOTATION: signature},
    )
    count = append_layer(store, tag, layer, data, str(name))
    return Signed(str(name), digest, tag, count, claims)


def append_layer(store: Store, tag: str, layer: Descriptor, data: bytes, where: str) -> int:
    """Add one layer (its blob ``data``) to the manifest tagged ``tag`` (made when there is
    none), as cosign appends signatures and attestations; returns the layers it now holds.
    In a layout the write is a compare-and-swap, read again when another writer won."""
    for attempt in range(_APPEND_ATTEMPTS):
        found = store.read(tag)
        previous = found[1] if found is not None else None
        layers = [*(found[0].layers if found is not None else ()), layer]
        if len(layers) > MAX_SIGNATURES:
            raise ScratchpackError(f"{where}: {tag} already holds {MAX_SIGNATURES} layers")
        config = _config(layers)
        manifest = Manifest(
            config=Descriptor(mt.OCI_CONFIG, Digest.of(config), len(config)),
            layers=tuple(layers),
            media_type=mt.OCI_MANIFEST,
        ).to_bytes()
        try:
            store.write(tag, previous, manifest, [data, config])
        except oci_layout.TagMovedError:
            if attempt == _APPEND_ATTEMPTS - 1:
                raise
            continue
        return len(layers)
    raise AssertionError("unreachable")


def verify(
    name: ImageName,
    key: ec.EllipticCurvePublicKey,
    annotations: dict[str, str],
    options: RegistryOptions,
    identity: str | None = None,
) -> Verified:
    """Check every signature in the image's ``.sig`` manifest: the signature against ``key``,
    then the payload's claims (manifest digest, docker-reference, ``annotations``)."""
    store = store_for(name, options, identity=identity, pushing=False)
    digest = store.image_digest()
    tag = signature_tag(digest)
    result = Verified(str(name), digest, tag)
    found = store.read(tag)
    if found is None:
        return result
    expected_identity = identity or store.identity()
    for layer in found[0].layers[:MAX_SIGNATURES]:
        result.checked.append(_check(store, layer, key, digest, expected_identity, annotations))
    return result


def _check(
    store: Store,
    layer: Descriptor,
    key: ec.EllipticCurvePublicKey,
    digest: Digest,
    identity: str,
    annotations: dict[str, str],
) -> Checked:
    checked = Checked(layer.digest)
    if layer.media_type != payload.MEDIA_TYPE:
        checked.problem = f"layer media type {layer.media_type!r} is not a simple signing payload"
        return checked
    encoded = layer.annotations.get(SIGNATURE_ANNOTATION)
    if not encoded:
        checked.problem = f"no {SIGNATURE_ANNOTATION} annotation"
        return checked
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        checked.problem = "the signature annotation is not base64"
        return checked
    if layer.size > payload.MAX_PAYLOAD_BYTES:
        checked.problem = f"a {layer.size}-byte payload is too large"
        return checked
    try:
        data = store.blob(layer)
    except ScratchpackError as exc:  # missing or corrupt: this signature counts for nothing
        checked.problem = f"cannot read the payload: {exc}"
        return checked
    if not keys.verifies(key, data, signature):
        checked.problem = "the signature does not verify with this key"
        return checked
    try:
        claims = payload.parse(data, f"payload {layer.digest.short()}")
    except FormatError as exc:
        checked.problem = str(exc)
        return checked
    checked.claims = claims
    if claims.manifest_digest != digest:
        checked.problem = f"signed for {claims.manifest_digest}, the image is {digest}"
    elif not _same_identity(claims.docker_reference, identity):
        checked.problem = f"signed as {claims.docker_reference!r}, the image is {identity!r}"
    else:
        missing = {k: v for k, v in annotations.items() if claims.annotations.get(k) != v}
        if missing:
            wanted = ", ".join(f"{k}={v}" for k, v in sorted(missing.items()))
            checked.problem = f"the payload lacks the annotations {wanted}"
    return checked


def _same_identity(signed: str, expected: str) -> bool:
    """Docker Hub is named three ways (docker.io, index.docker.io, none); all are one."""

    def normal(text: str) -> str:
        for prefix in ("index.docker.io/", "docker.io/"):
            if text.startswith(prefix):
                return "index.docker.io/" + text.removeprefix(prefix)
        return text

    return normal(signed) == normal(expected)


def _config(layers: list[Descriptor]) -> bytes:
    """The image config go-containerregistry writes for an image of these layers (empty
    platform, Go's zero time): a fixed document, so the same signatures give the same
    manifest digest."""
    doc: dict[str, Any] = {
        "architecture": "",
        "created": ZERO_TIME,
        "history": [{"created": ZERO_TIME} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in layers]},
        "config": {},
    }
    return canonical_json(doc)


def read_key_file(path: Path, what: str) -> bytes:
    try:
        with open_regular(path) as handle:  # a FIFO named as the key blocked for ever
            return handle.read(keys.MAX_KEY_FILE + 1)
    except OSError as exc:
        raise keys.KeyError_(f"cannot read {what} {path}: {exc.strerror or exc}") from None
