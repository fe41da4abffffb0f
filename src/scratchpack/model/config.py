"""The image configuration (OCI image config / Docker image JSON).

The raw document is kept as read so that re-serialising an image we did not build never
changes its digest; typed accessors read the fields the rest of the project needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scratchpack.errors import FormatError
from scratchpack.model.descriptor import Platform
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import canonical_json, load_json


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None
    created_by: str
    comment: str
    empty_layer: bool


@dataclass(frozen=True)
class ImageConfig:
    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        doc = load_json(data, "image config")
        rootfs = doc.get("rootfs")
        if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids", []), list):
            raise FormatError("image config lacks a valid 'rootfs'")
        return cls(doc)

    def to_bytes(self) -> bytes:
        return canonical_json(self.raw)

    @property
    def container_config(self) -> dict[str, Any]:
        cfg = self.raw.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def platform(self) -> Platform:
        return Platform(
            str(self.raw.get("os", "linux")),
            str(self.raw.get("architecture", "")),
            self.raw.get("variant"),
        )

    @property
    def diff_ids(self) -> list[Digest]:
        return [Digest.parse(str(d)) for d in self.raw.get("rootfs", {}).get("diff_ids", [])]

    @property
    def created(self) -> str | None:
        value = self.raw.get("created")
        return str(value) if value else None

    @property
    def user(self) -> str:
        return str(self.container_config.get("User") or "")

    @property
    def entrypoint(self) -> list[str]:
        return list(self.container_config.get("Entrypoint") or [])

    @property
    def cmd(self) -> list[str]:
        return list(self.container_config.get("Cmd") or [])

    @property
    def env(self) -> list[str]:
        return list(self.container_config.get("Env") or [])

    @property
    def workdir(self) -> str:
        return str(self.container_config.get("WorkingDir") or "")

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.container_config.get("Labels") or {})

    @property
    def exposed_ports(self) -> list[str]:
        return sorted((self.container_config.get("ExposedPorts") or {}).keys())

    @property
    def history(self) -> list[HistoryEntry]:
        out = []
        for item in self.raw.get("history") or []:
            if isinstance(item, dict):
                out.append(
                    HistoryEntry(
                        created=item.get("created"),
                        created_by=str(item.get("created_by", "")),
                        comment=str(item.get("comment", "")),
                        empty_layer=bool(item.get("empty_layer", False)),
                    )
                )
        return out
