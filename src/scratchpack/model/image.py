"""An image as the transports hand it over: manifest, config and layers with their blobs.

Blobs are opened lazily through a :class:`BlobSource`, and every stream a source hands out
is verified against its digest, so operations never see unchecked bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from scratchpack.errors import FormatError, PlatformNotFoundError
from scratchpack.model import mediatypes as mt
from scratchpack.model.config import ImageConfig
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest, VerifyingReader
from scratchpack.model.manifest import Manifest
from scratchpack.progress import Counted


class BlobSource(Protocol):
    """Where an image's blobs can be read from."""

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        """Open the blob; the stream raises DigestMismatchError at EOF if it is corrupt."""
        ...

    def local_path(self, descriptor: Descriptor) -> Path | None:
        """A file holding exactly the blob, when there is one (lets writers hard-link)."""
        ...


_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def detect_compression(head: bytes) -> str:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "none"


class _PeekReader:
    """A stream with its first bytes already read, so compression can be sniffed."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._rest.read(n)

    def readinto(self, buffer: Any) -> int:
        """What zlib-ng's GzipFile reads with (into its own buffer)."""
        data = self.read(len(memoryview(buffer).cast("B")))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._rest.close()


@dataclass(frozen=True)
class Layer:
    descriptor: Descriptor
    diff_id: Digest
    source: BlobSource

    @property
    def compression(self) -> str:
        return mt.layer_compression(self.descriptor.media_type)

    def open(self) -> BinaryIO:
        """The stored blob (maybe compressed), verified against the descriptor."""
        return self.source.open_blob(self.descriptor)

    @contextmanager
    def open_uncompressed(self, count: Callable[[int], None] | None = None) -> Iterator[BinaryIO]:
        """The layer's tar stream, verified against the config's diff_id at EOF (once: an
        uncompressed blob whose reader already proves the diff_id is not hashed again, which
        was a tenth of ``audit``'s time). ``count`` is told the stored (compressed) bytes as
        they are read: progress against the descriptor's size, a total known before reading."""
        raw = self.open()
        proven = isinstance(raw, VerifyingReader) and raw.proves(self.diff_id, self.descriptor.size)
        if count is not None:
            raw = cast(BinaryIO, Counted(raw, count))
        decode_errors: tuple[type[BaseException], ...] = (OSError, EOFError)
        try:
            head = raw.read(4)
            peek = cast(BinaryIO, _PeekReader(head, raw))
            kind = detect_compression(head)
            stream: BinaryIO
            if kind == "gzip":
                # zlib-ng (already what pack compresses with) inflates about twice as fast
                # as the standard library's zlib, with the same GzipFile
                from zlib_ng import gzip_ng, zlib_ng

                decode_errors = (OSError, EOFError, cast(type[BaseException], zlib_ng.error))
                inflate = gzip_ng.GzipFile(fileobj=peek, mode="rb")  # type: ignore[no-untyped-call]
                stream = cast(BinaryIO, inflate)
            elif kind == "zstd":
                import zstandard  # only zstd layers need it; slow to import

                from scratchpack.layers.zstdstream import zstd_reader

                # a stream cut inside its last frame is an error (TruncatedZstd, an EOFError)
                decode_errors = (OSError, EOFError, zstandard.ZstdError)
                stream = cast(BinaryIO, zstd_reader(peek))
            else:
                stream = peek
            if kind != "none" or not proven:
                what = f"layer {self.diff_id} (uncompressed)"
                stream = cast(BinaryIO, VerifyingReader(stream, self.diff_id, None, what))
            # reading, decompressing and hashing run in a thread, beside the caller's parsing
            # (imported here: copy and a re-push never read a layer's content, issue 17)
            from scratchpack.layers.readahead import ReadAhead

            with ReadAhead(stream) as ahead:
                yield cast(BinaryIO, ahead)
        except decode_errors as exc:
            raise FormatError(f"layer {self.descriptor.digest}: cannot decompress: {exc}") from exc
        finally:
            raw.close()


@dataclass(frozen=True)
class Image:
    """One single-platform image.

    Two digests name it (README, "Digests"). The *manifest digest* is what a registry and
    ``@sha256:`` pinning use: the sha256 of the manifest, or of the index the image was picked
    from, as stored. The *image id* is the config digest, what ``docker images`` shows; it
    survives every copy, while the manifest digest changes when layers are recompressed.
    """

    manifest: Manifest
    manifest_bytes: bytes
    config: ImageConfig
    config_bytes: bytes
    layers: tuple[Layer, ...]
    # The index the image was picked from (oci:, docker://): its digest is the manifest digest.
    index_digest: Digest | None = None
    # A docker-archive or the daemon stores no manifest: ``manifest_bytes`` is made up here,
    # and the manifest digest is that of the one skopeo makes up for it (docker_archive).
    archive_digest: Digest | None = None

    @property
    def digest(self) -> Digest:
        """The digest of ``manifest_bytes``: the single-platform manifest held here."""
        return Digest.of(self.manifest_bytes)

    @property
    def manifest_digest(self) -> Digest:
        """What the name points at, as skopeo inspect and a registry report it."""
        return self.index_digest or self.archive_digest or self.digest

    @property
    def config_digest(self) -> Digest:
        return self.manifest.config.digest

    @property
    def image_id(self) -> Digest:
        return self.manifest.config.digest

    @classmethod
    def assemble(
        cls, manifest_bytes: bytes, config_bytes: bytes, source: BlobSource, where: str = ""
    ) -> Image:
        """Build from a manifest and its config, checking that they agree.

        ``where`` (``oci:DIR:TAG``...) starts every error message about the two documents.
        """
        prefix = f"{where}: " if where else ""
        manifest = Manifest.parse(manifest_bytes, f"{prefix}manifest")
        config = ImageConfig.parse(config_bytes, f"{prefix}image config")
        diff_ids = config.diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise FormatError(
                f"{prefix}manifest has {len(manifest.layers)} layers but the config lists "
                f"{len(diff_ids)} diff_ids"
            )
        layers = tuple(
            Layer(desc, diff_id, source)
            for desc, diff_id in zip(manifest.layers, diff_ids, strict=True)
        )
        return cls(manifest, manifest_bytes, config, config_bytes, layers)

    def require_platform(self, wanted: Platform | None, where: str) -> None:
        """Refuse a single-platform image that is not ``wanted``: asking for arm64 and
        silently getting amd64 would run the wrong binary later. An index was already chosen
        from by platform; a config that names no architecture cannot be judged, and passes."""
        have = self.config.platform
        if wanted is None or not have.architecture or wanted.matches(have):
            return
        raise PlatformNotFoundError(
            f"{where}: no image for {wanted} (available: {have}; a single-platform image)"
        )

    def total_size(self) -> int:
        """Stored size of the image: manifest, config and layer blobs."""
        return (
            len(self.manifest_bytes)
            + self.manifest.config.size
            + sum(layer.descriptor.size for layer in self.layers)
        )
