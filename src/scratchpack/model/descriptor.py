"""Content descriptors and platforms."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from scratchpack.errors import FormatError, UsageError
from scratchpack.model.digest import Digest

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
    def from_json(cls, data: dict[str, Any]) -> Platform:
        try:
            return cls(
                str(data["os"]),
                str(data["architecture"]),
                data.get("variant"),
                data.get("os.version"),
            )
        except (KeyError, TypeError) as exc:
            raise FormatError(f"invalid platform object: {data!r}") from exc

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
    def from_json(cls, data: Any) -> Descriptor:
        if not isinstance(data, dict):
            raise FormatError(f"descriptor is not an object: {data!r}")
        try:
            size = data["size"]
            if not isinstance(size, int) or size < 0:
                raise FormatError(f"descriptor has an invalid size: {size!r}")
            annotations = data.get("annotations") or {}
            if not isinstance(annotations, dict):
                raise FormatError("descriptor annotations are not an object")
            return cls(
                media_type=str(data.get("mediaType", "")),
                digest=Digest.parse(str(data["digest"])),
                size=size,
                annotations={str(k): str(v) for k, v in annotations.items()},
                platform=Platform.from_json(data["platform"]) if data.get("platform") else None,
                urls=tuple(data.get("urls") or ()),
                artifact_type=data.get("artifactType"),
            )
        except KeyError as exc:
            raise FormatError(f"descriptor lacks {exc.args[0]!r}") from exc

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
