"""The image configuration (OCI image config / Docker image JSON).

The raw document is kept as read so that re-serialising an image we did not build never
changes its digest; the typed fields come from :mod:`scratchpack.model.decoding`, which has
checked every field the rest of the project reads (``null`` reads as empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from scratchpack.errors import FormatError
from scratchpack.model.descriptor import Platform
from scratchpack.model.digest import Digest
from scratchpack.model.limits import MAX_CONFIG_BYTES, too_large
from scratchpack.model.manifest import canonical_json

if TYPE_CHECKING:
    from scratchpack.model.decoding import ConfigDoc, ContainerConfigDoc


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None
    created_by: str
    comment: str
    empty_layer: bool


@dataclass(frozen=True)
class ImageConfig:
    """A config read (:meth:`parse`: every field checked at once) or built by this process
    (:meth:`of`: typed on first use). ``platform`` reads the raw document, which is checked
    or ours either way, so writing an image pack built loads no decoder (issue 17)."""

    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: bytes, what: str = "image config") -> ImageConfig:
        from scratchpack.model import decoding  # msgspec: loaded by commands that decode

        if len(data) > MAX_CONFIG_BYTES:
            raise FormatError(too_large(what, len(data), MAX_CONFIG_BYTES))
        raw = decoding.decode_object(data, what)
        config = cls(raw)
        config.__dict__["doc"] = decoding.convert(raw, decoding.ConfigDoc, what)
        return config

    @classmethod
    def of(cls, raw: dict[str, Any]) -> ImageConfig:
        """The config this process built as ``raw`` (pack): typed when a field is read."""
        return cls(raw)

    @cached_property
    def doc(self) -> ConfigDoc:
        from scratchpack.model import decoding

        return decoding.convert(self.raw, decoding.ConfigDoc, "image config")

    def to_bytes(self) -> bytes:
        return canonical_json(self.raw)

    @property
    def container_config(self) -> dict[str, Any]:
        """The raw ``config`` object (unknown fields included), for writing a derived image."""
        cfg = self.raw.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def _container(self) -> ContainerConfigDoc:
        from scratchpack.model.decoding import ContainerConfigDoc

        return self.doc.config or ContainerConfigDoc()

    @property
    def platform(self) -> Platform:
        if "doc" in self.__dict__:
            doc = self.doc
            return Platform(doc.os or "linux", doc.architecture or "", doc.variant)
        # a config of ours (of), not typed yet: the same fields, as this process wrote them
        raw = self.raw
        return Platform(raw.get("os") or "linux", raw.get("architecture") or "", raw.get("variant"))

    @property
    def diff_ids(self) -> list[Digest]:
        return [Digest.parse(d) for d in self.doc.rootfs.diff_ids or ()]

    @property
    def created(self) -> str | None:
        return self.doc.created or None

    @property
    def user(self) -> str:
        return self._container.user or ""

    @property
    def entrypoint(self) -> list[str]:
        return list(self._container.entrypoint or ())

    @property
    def cmd(self) -> list[str]:
        return list(self._container.cmd or ())

    @property
    def env(self) -> list[str]:
        return list(self._container.env or ())

    @property
    def workdir(self) -> str:
        return self._container.working_dir or ""

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._container.labels or {})

    @property
    def exposed_ports(self) -> list[str]:
        return sorted(self._container.exposed_ports or {})

    @property
    def healthcheck_test(self) -> list[str]:
        health = self._container.healthcheck
        return list(health.test or ()) if health else []

    @property
    def history(self) -> list[HistoryEntry]:
        return [
            HistoryEntry(
                created=item.created,
                created_by=item.created_by or "",
                comment=item.comment or "",
                empty_layer=bool(item.empty_layer),
            )
            for item in self.doc.history or ()
        ]
