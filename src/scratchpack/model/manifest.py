"""Image manifests and indexes (OCI and Docker schema 2), parsed and serialised."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from scratchpack.errors import FormatError, PlatformNotFoundError, some
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest
from scratchpack.model.limits import MAX_MANIFEST_BYTES, too_large


def canonical_json(obj: Any) -> bytes:
    """Serialise with a fixed layout so that equal objects always give equal digests."""
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except RecursionError as exc:  # an unknown field of a base image nested ~1000 deep
        raise FormatError("a JSON document is nested too deeply to write") from exc


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object; anything else (not JSON, too deep, not an object) is a FormatError."""
    from scratchpack.model import decoding  # msgspec: loaded by commands that decode

    return decoding.decode_object(data, what)


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_MANIFEST_BYTES:
        raise FormatError(too_large(what, len(data), MAX_MANIFEST_BYTES))


def sniff_media_type(data: dict[str, Any]) -> str:
    """Media type of a manifest document, from its own field or its shape."""
    declared = data.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if data.get("schemaVersion") == 1:
        return "application/vnd.docker.distribution.manifest.v1+json"
    if "manifests" in data:
        return mt.OCI_INDEX
    if "config" in data and "layers" in data:
        return mt.OCI_MANIFEST
    raise FormatError("document is neither an image manifest nor an index")


@dataclass(frozen=True)
class Manifest:
    """A single-platform image manifest: a config and an ordered list of layers."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None

    @classmethod
    def parse(cls, data: bytes, what: str = "manifest") -> Manifest:
        from scratchpack.model import decoding

        _check_size(data, what)
        raw = decoding.decode_object(data, what)
        media_type = sniff_media_type(raw)
        if media_type not in mt.MANIFEST_TYPES:
            raise FormatError(f"{what}: unsupported manifest media type {media_type!r}")
        doc = decoding.convert(raw, decoding.ManifestDoc, what)
        return cls(
            config=Descriptor.from_doc(doc.config),
            layers=tuple(Descriptor.from_doc(layer) for layer in doc.layers),
            media_type=media_type,
            annotations=dict(doc.annotations or {}),
            subject=Descriptor.from_doc(doc.subject) if doc.subject else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        out["config"] = self.config.to_json()
        out["layers"] = [layer.to_json() for layer in self.layers]
        if self.subject:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def as_oci(self) -> Manifest:
        """The same image with OCI media types (Docker schema 2 types mapped, as skopeo
        does for an OCI layout); the config and layer blobs it names are unchanged."""
        return replace(
            self,
            config=replace(self.config, media_type=mt.oci_equivalent(self.config.media_type)),
            layers=tuple(
                replace(layer, media_type=mt.oci_equivalent(layer.media_type))
                for layer in self.layers
            ),
            media_type=mt.oci_equivalent(self.media_type),
        )


@dataclass(frozen=True)
class Index:
    """A list of manifests, usually one per platform (OCI index or Docker manifest list)."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes, what: str = "index") -> Index:
        from scratchpack.model import decoding

        _check_size(data, what)
        doc = decoding.convert(decoding.decode_object(data, what), decoding.IndexDoc, what)
        media_type = doc.media_type or mt.OCI_INDEX
        if media_type not in mt.INDEX_TYPES:
            raise FormatError(f"{what}: unsupported index media type {media_type!r}")
        return cls(
            manifests=tuple(Descriptor.from_doc(entry) for entry in doc.manifests),
            media_type=media_type,
            annotations=dict(doc.annotations or {}),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        out["manifests"] = [entry.to_json() for entry in self.manifests]
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def select_platform(self, wanted: Platform) -> Descriptor | None:
        for entry in self.manifests:
            if entry.platform and wanted.matches(entry.platform):
                return entry
        return None

    def choose(self, wanted: Platform | None, where: str, hint: str = "") -> Descriptor:
        """The entry for ``wanted`` (default: this host), or an error naming what there is."""
        platform = wanted or Platform.host()
        chosen = self.select_platform(platform)
        if chosen is None:
            available = some([str(d.platform) for d in self.manifests if d.platform])
            raise PlatformNotFoundError(
                f"{where}: no image for {platform} (available: {available}){hint}"
            )
        return chosen


def digest_of(data: bytes) -> Digest:
    return Digest.of(data)
