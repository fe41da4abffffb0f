"""Content descriptors and platforms."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchpack.errors import UsageError
from scratchpack.model.digest import Digest

if TYPE_CHECKING:
    from scratchpack.model.decoding import DescriptorDoc, PlatformDoc

_MACHINE_TO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    """An OCI platform (``os/architecture[/variant]``)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(
                f"invalid platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/amd64"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        machine = os.uname().machine.lower()
        arch = _MACHINE_TO_ARCH.get(machine, machine)
        variant = "v7" if machine == "armv7l" else ("v8" if arch == "arm64" else None)
        return cls("linux", arch, variant)

    @classmethod
    def from_json(cls, data: Any, what: str = "platform") -> Platform:
        from scratchpack.model import decoding  # msgspec: loaded by commands that decode

        return cls.from_doc(decoding.convert(data, decoding.PlatformDoc, what))

    @classmethod
    def from_doc(cls, doc: PlatformDoc) -> Platform:
        return cls(doc.os, doc.architecture, doc.variant, doc.os_version)

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.variant:
            out["variant"] = self.variant
        return out

    def matches(self, other: Platform) -> bool:
        """True if ``other`` satisfies this platform (a missing variant matches any)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return self.variant is None or other.variant is None or self.variant == other.variant

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


@dataclass(frozen=True)
class Descriptor:
    """Points at a blob: what it is, its digest and its size."""

    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None

    @classmethod
    def from_json(cls, data: Any, what: str = "descriptor") -> Descriptor:
        from scratchpack.model import decoding  # msgspec: loaded by commands that decode

        return cls.from_doc(decoding.convert(data, decoding.DescriptorDoc, what))

    @classmethod
    def from_doc(cls, doc: DescriptorDoc) -> Descriptor:
        """From a decoded descriptor, whose digest, size and types are already checked."""
        return cls(
            media_type=doc.media_type,
            digest=Digest.parse(doc.digest),
            size=doc.size,
            annotations=dict(doc.annotations or {}),
            platform=Platform.from_doc(doc.platform) if doc.platform else None,
            urls=tuple(doc.urls or ()),
            artifact_type=doc.artifact_type,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.platform:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def with_annotations(self, annotations: dict[str, str]) -> Descriptor:
        return Descriptor(
            self.media_type,
            self.digest,
            self.size,
            annotations,
            self.platform,
            self.urls,
            self.artifact_type,
        )
