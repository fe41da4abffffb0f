"""``compare``: several images side by side, the table people write by hand when they weigh
scratch, alpine, distroless and debian variants of one app. Each column is one audit."""

from __future__ import annotations

import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, BinaryIO

from scratchpack import progress
from scratchpack.model.image import Image

# compressed: what the image takes (or would take) in a registry, so that an archive or a
# daemon image weighs the same as its pushed copy; "*" marks a gzip -6 estimate (FOOTNOTE)
ROWS: tuple[tuple[str, str], ...] = (
    ("compressed", "compressed size (in a registry)"),
    ("uncompressed", "uncompressed size"),
    ("ratio", "x the smallest (compressed)"),
    ("layers", "layers"),
    ("files", "files"),
    ("packages", "packages"),
    ("shell", "shell"),
    ("package_manager", "package manager"),
    ("user", "user"),
    ("starts", "will start"),
    ("efficiency", "efficiency (dive)"),
    ("critical", "critical findings"),
    ("error", "error findings"),
    ("warning", "warning findings"),
    ("info", "info findings"),
    ("vulnerabilities", "vulnerabilities"),
)


FOOTNOTE = (
    "* estimated: the source stores these layers uncompressed; the size is that of each "
    "layer gzip-compressed at level 6, as a push would store it"
)
_CHUNK = 1 << 20
GZIP_LEVEL = 6


@dataclass(frozen=True)
class RegistrySize:
    """What an image takes in a registry: manifest, config and compressed layers."""

    size: int
    estimated: bool  # some layers are stored uncompressed here: their gzip size is computed


def gzip_size(layer_stream: BinaryIO) -> int:
    """The size of ``layer_stream`` gzip-compressed at level 6, streamed (bounded memory:
    one chunk in, the compressor's window), nothing written."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    size = 0
    while chunk := layer_stream.read(_CHUNK):
        size += len(compressor.compress(chunk))
    return size + len(compressor.flush())


def registry_size(image: Image) -> RegistrySize:
    """Layers stored compressed count as stored; an uncompressed one (a docker-archive, the
    daemon, an ``oci:`` image packed with ``--compression none``) as its gzip -6 size, which
    is what a push (ours, or skopeo's) compresses it to, give or take the compressor. A layer
    listed twice is compressed once."""
    estimated = False
    done: dict[str, int] = {}
    total = len(image.manifest_bytes) + image.manifest.config.size
    plain = {str(la.diff_id): la.descriptor.size for la in image.layers if la.compression == "none"}
    what = f"compressing {len(plain)} uncompressed layers (gzip -6) for the registry size"
    with progress.step(what, sum(plain.values())) if plain else nullcontext() as task:
        for layer in image.layers:
            if layer.compression != "none":
                total += layer.descriptor.size
                continue
            estimated = True
            key = str(layer.diff_id)
            if key not in done:
                with layer.open_uncompressed(task.advance if task else None) as stream:
                    done[key] = gzip_size(stream)
            total += done[key]
    return RegistrySize(total, estimated)


def column(report: dict[str, Any], size: RegistrySize | None = None) -> dict[str, Any]:
    """The compare values of one audit report (and the image's registry size)."""
    startup = report["startup"]
    starts = not startup["missing"] and startup["kind"] not in (
        "missing",
        "not-executable",
        "other",
    )
    return {
        "image": report["image"],
        "digest": report["digest"],
        "compressed": size.size if size else report["size"]["compressed"],
        "compressed_estimated": size.estimated if size else False,
        "stored": report["size"]["compressed"],  # as the source holds it
        "uncompressed": report["size"]["uncompressed"],
        "layers": len(report["layers"]),
        "files": report["size"]["files"],
        "packages": report["packages"]["count"],
        "shell": ", ".join(report["shells"]) or "none",
        "package_manager": ", ".join(report["package_managers"]) or "none",
        "user": "root" if report["user"]["uid"] == 0 else report["user"]["configured"],
        "starts": "yes" if starts else ("no command" if startup["kind"] == "none" else "NO"),
        "efficiency": report["efficiency"]["score"],
        **report["summary"],
    }


def compare(
    reports: list[dict[str, Any]], sizes: list[RegistrySize] | None = None
) -> list[dict[str, Any]]:
    columns = [column(r, sizes[n] if sizes else None) for n, r in enumerate(reports)]
    smallest = min(c["compressed"] for c in columns)
    for c in columns:
        c["ratio"] = c["compressed"] / smallest if smallest else 1.0
    return columns
