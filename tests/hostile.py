"""Hostile images: layer tars written byte by byte (tarfile refuses to write most of these),
wrapped into OCI layouts and docker-archive files.

Each :class:`Case` is one attack or one kind of damage: path traversal, absolute names, links
that escape, device files, GNU sparse headers, decompression bombs, deep paths, many entries,
huge PAX records, negative numbers, symlink loops, truncated and corrupt archives. The tests in
``test_hostile_images.py`` run every command that reads images over each of them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

BLOCK = 512
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

# -- tar blocks by hand ----------------------------------------------------------------------


def octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def base256(value: int, width: int) -> bytes:
    """GNU's binary number encoding (first byte 0x80, or 0xff for a negative number)."""
    raw = (value % (1 << (8 * width))).to_bytes(width, "big")
    return bytes([raw[0] | 0x80]) + raw[1:] if value >= 0 else raw


def number(value: int, width: int) -> bytes:
    return octal(value, width) if 0 <= value < 8 ** (width - 1) else base256(value, width)


_LAYOUT = (
    ("name", 100), ("mode", 8), ("uid", 8), ("gid", 8), ("size", 12), ("mtime", 12),
    ("chksum", 8), ("type", 1), ("linkname", 100), ("magic", 8), ("uname", 32), ("gname", 32),
    ("devmajor", 8), ("devminor", 8), ("prefix", 155), ("pad", 12),
)  # fmt: skip


def header(
    name: str | bytes,
    *,
    size: int = 0,
    kind: bytes = b"0",
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    link: str | bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
    prefix: bytes = b"",
    corrupt_checksum: bool = False,
    fields: dict[str, bytes] | None = None,
) -> bytes:
    """One USTAR header block. ``fields`` overrides raw fields (``size``, ``mode``...)."""
    raw = {
        "name": name.encode() if isinstance(name, str) else name,
        "mode": number(mode, 8),
        "uid": number(uid, 8),
        "gid": number(gid, 8),
        "size": number(size, 12),
        "mtime": octal(0, 12),
        "type": kind,
        "linkname": link.encode() if isinstance(link, str) else link,
        "magic": b"ustar\x0000",
        "devmajor": octal(devmajor, 8),
        "devminor": octal(devminor, 8),
        "prefix": prefix,
        **(fields or {}),
    }
    block = bytearray()
    for key, width in _LAYOUT:
        value = b" " * 8 if key == "chksum" else raw.get(key, b"")
        block += value[:width].ljust(width, b"\x00")
    checksum = sum(block) + (1 if corrupt_checksum else 0)
    block[148:156] = b"%06o\x00 " % checksum
    return bytes(block)


def padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % BLOCK)


def member(name: str | bytes, data: bytes = b"", **kw: Any) -> bytes:
    return header(name, size=len(data), **kw) + padded(data)


def pax_records(records: dict[str, str | bytes]) -> bytes:
    out = b""
    for key, value in records.items():
        raw = value if isinstance(value, bytes) else value.encode()
        body = b" " + key.encode() + b"=" + raw + b"\n"
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length = len(str(length)) + len(body)
        out += str(length).encode() + body
    return out


def pax(records: dict[str, str | bytes], kind: bytes = b"x") -> bytes:
    return member(b"./PaxHeaders/x", pax_records(records), kind=kind)


def gnu_long(name: bytes, kind: bytes = b"L") -> bytes:
    return member(b"././@LongLink", name + b"\x00", kind=kind)


END = b"\x00" * (2 * BLOCK)


# -- cases -----------------------------------------------------------------------------------

Expect = Literal["finding", "error", "clean"]


@dataclass(frozen=True)
class Case:
    """One hostile image. ``write`` streams its (uncompressed) layer tar; ``expect`` is what
    ``audit`` must do: report a finding naming ``fragment``, or fail with one error line
    naming it, or audit the image without complaint (``clean``)."""

    name: str
    write: Callable[[BinaryIO], None]
    expect: Expect
    fragment: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    gzip_layer: bool = False
    big: bool = False  # many MB of input: run only where the RSS bound is the point
    base_ok: bool = False  # ``pack --base`` builds on it (nothing hostile in the tar itself)

    def layer(self) -> bytes:
        out = io.BytesIO()
        self.write(out)
        return out.getvalue()


def _bytes(*parts: bytes) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        for part in parts:
            out.write(part)

    return write


def deep_path(components: int) -> bytes:
    return b"/".join([b"d"] * components) + b"/f"


def _many_entries(count: int, distinct: bool) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        chunk = bytearray()
        for n in range(count):
            name = b"d%03d/f%07d" % (n % 500, n) if distinct else b"x"
            chunk += header(name)
            if len(chunk) > 1 << 20:
                out.write(chunk)
                chunk.clear()
        out.write(chunk + END)

    return write


def _deep_paths(count: int, components: int, width: int = 1) -> Callable[[BinaryIO], None]:
    """``count`` entries, each a PAX path of ``components`` components of ``width`` bytes
    below a new directory: quadratic work and memory for anything that keeps every prefix of
    every path."""

    def write(out: BinaryIO) -> None:
        tail = b"/".join([b"d" * width] * components) + b"/f"
        for n in range(count):
            out.write(pax({"path": b"t%d/" % n + tail}) + header(b"placeholder"))
        out.write(END)

    return write


def _bomb(gib: int) -> Callable[[BinaryIO], None]:
    """One file of ``gib`` GiB of zeros (the layer is stored gzip-compressed: ~1 MB per GiB)."""

    def write(out: BinaryIO) -> None:
        size = gib << 30
        out.write(header(b"zeros", size=size))
        zeros = b"\x00" * (1 << 24)
        for _ in range(size // len(zeros)):
            out.write(zeros)
        out.write(END)

    return write


def _sparse_old_gnu() -> bytes:
    block = bytearray(header(b"sparse-old", size=512, kind=b"S"))
    # one sparse map entry (offset 0, size 512) in the old GNU header at offset 386
    block[386:398] = octal(0, 12)
    block[398:410] = octal(512, 12)
    block[483:495] = octal(512, 12)  # realsize
    block[148:156] = b"        "
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block) + b"x" * 512


ENTRY = {"Entrypoint": ["/app"], "User": "65532"}
# made up and real-looking (AWS's documentation key, ...EXAMPLE, is a placeholder to the rules)
SECRET = b"aws_key = AKIA" + b"Q3ZLX7MV2RT5WNBH\n"


def cases(canary: Path) -> list[Case]:
    """Every case; names that point at ``canary`` (a directory the tests watch) show that
    nothing is ever written outside the image."""
    escape = b"../" * 12 + str(canary).lstrip("/").encode()
    hello = member("ok", b"fine")
    return [
        Case("traversal", _bytes(hello, member(escape + b"/pwned", b"x"), END), "finding",
             "climbs out of the image root"),
        Case("traversal-inner", _bytes(member(b"a/../../pwned", b"x"), END), "finding",
             "climbs out of the image root"),
        Case("absolute", _bytes(member(str(canary).encode() + b"/abs", b"x"), END), "finding",
             "absolute"),
        Case("symlink-escape", _bytes(member(b"evil", kind=b"2", link=escape),
                                      member(b"evil/pwned", b"x"), END), "finding",
             "through the symlink"),
        Case("hardlink-escape", _bytes(member(b"h", kind=b"1", link=escape + b"/x"), END),
             "finding", "climbs out of the image root"),
        Case("hardlink-missing", _bytes(member(b"h", kind=b"1", link=b"nowhere"), END),
             "finding", "hard link to nowhere"),
        Case("hardlink-later", _bytes(member(b"a", kind=b"1", link=b"b"), member(b"b", b"x"),
                                      END), "finding", "hard link to b"),
        Case("devices", _bytes(member(b"dev/mem", kind=b"3", devmajor=1, devminor=1),
                               member(b"dev/sda", kind=b"4", devmajor=8),
                               member(b"dev/fifo", kind=b"6"), END), "finding", "device",
             base_ok=True),
        Case("nul-name", _bytes(pax({"path": "a\x00b"}), member(b"x", b"y"), END), "finding",
             "NUL"),
        Case("unknown-type", _bytes(member(b"odd", b"data", kind=b"Z"), END), "finding",
             "unknown type"),
        Case("non-utf8", _bytes(member(b"etc/\xff\xfe.env", SECRET), END), "finding",
             "AWS access key", base_ok=True),
        Case("negative-mode", _bytes(member(b"app", b"x", mode=-1), END), "finding",
             "negative"),
        # a base-256 mode past mode_t (found 2026-12-03: "unexpected OverflowError: mode out
        # of range" from stat.S_IMODE in the will-it-start check)
        Case("huge-mode", _bytes(member(b"app", b"x", mode=(1 << 56) - 1), END), "finding",
             "neither an ELF binary nor a script", ENTRY, base_ok=True),
        Case("negative-ids", _bytes(member(b"f", b"x", uid=-5, gid=-7), END), "finding",
             "negative"),
        Case("pax-negative", _bytes(pax({"uid": "-1", "size": "-3"}), member(b"f"), END),
             "error", "PAX"),
        Case("symlink-loop", _bytes(member(b"app", kind=b"2", link=b"a"),
                                    member(b"a", kind=b"2", link=b"b"),
                                    member(b"b", kind=b"2", link=b"a"), END), "finding",
             "symbolic links", ENTRY, base_ok=True),
        Case("sparse-gnu-0.0", _bytes(pax({"GNU.sparse.numblocks": "1", "GNU.sparse.offset": "0",
                                           "GNU.sparse.numbytes": "1", "GNU.sparse.size": "1"}),
                                      member(b"s", b"x"), END), "error", "sparse"),
        Case("sparse-gnu-0.1", _bytes(pax({"GNU.sparse.map": "0,1", "GNU.sparse.size": "1"}),
                                      member(b"s", b"x"), END), "error", "sparse"),
        Case("sparse-gnu-1.0", _bytes(pax({"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                           "GNU.sparse.name": "s", "GNU.sparse.realsize": "1"}),
                                      member(b"s", b"1\n0\n1\n".ljust(512, b"\x00") + b"x"),
                                      END), "error", "sparse"),
        Case("sparse-old-gnu", _bytes(_sparse_old_gnu(), END), "error", "sparse"),
        Case("truncated-content", _bytes(header(b"f", size=4096) + b"x" * 1000), "error",
             "truncated"),
        Case("truncated-header", _bytes(hello, header(b"g")[:300]), "error", "truncated"),
        Case("bad-checksum-first", _bytes(header(b"f", corrupt_checksum=True), END), "error",
             "checksum"),
        Case("bad-checksum-later", _bytes(hello, header(b"hidden", corrupt_checksum=True),
                                          member(b"etc/.env", SECRET), END), "error",
             "checksum"),
        Case("garbage", _bytes(b"\x13\x37" * 4096), "error", "checksum"),
        Case("huge-size", _bytes(header(b"f", size=8 << 30), b"x" * 1024), "error",
             "truncated"),
        Case("huge-pax", _bytes(header(b"./PaxHeaders/x", size=1 << 30, kind=b"x"),
                                b"\x00" * 4096), "error", "PAX"),
        Case("huge-longname", _bytes(header(b"././@LongLink", size=1 << 30, kind=b"L"),
                                     b"\x00" * 4096), "error", "long name"),
        Case("pax-bad-record", _bytes(pax({"path": "x"})[:512] + b"99999999 path=x\n".ljust(512,
                                      b"\x00"), member(b"f"), END), "error", "PAX"),
        Case("root-names", _bytes(member(b"././", kind=b"5"), member(b".//", kind=b"5"), hello,
                                  END), "clean", base_ok=True),
        # whiteouts of "..", "." and "" (found 2026-12-03: pack --from's unpacking removed
        # what "dir/.." names, the scratch directory above the root; audit deleted "dir")
        Case("whiteout-parent", _bytes(hello, member(b"d/f", b"x"), member(b"d/.wh.."),
                                       member(b".wh..."), member(b"d/.wh."), END), "finding",
             "names no entry of its directory"),
        Case("long-path", _bytes(pax({"path": b"a" * 5000}), member(b"x"), END), "finding",
             "longer than"),
        Case("deep-path", _bytes(pax({"path": deep_path(30_000)}), member(b"x"), END),
             "finding", "longer than"),
        Case("gnu-long-deep", _bytes(gnu_long(deep_path(20_000)), member(b"x"), END),
             "finding", "longer than"),
        Case("many-deep", _deep_paths(2000, 1000), "finding", "components", big=True),
        Case("deep-within-bounds", _deep_paths(2000, 125, 30), "clean", big=True, base_ok=True),
        Case("many-distinct", _many_entries(200_000, True), "clean", big=True, base_ok=True),
        Case("many-same", _many_entries(200_000, False), "clean", big=True, base_ok=True),
        Case("bomb", _bomb(1), "clean", gzip_layer=True, big=True, base_ok=True),
        Case("package-databases", _package_databases, "clean", gzip_layer=True, big=True,
             base_ok=True),
        # package manifests the sbom and audit read, nested deeper than any decoder's stack
        Case("deep-documents", _bytes(*(member(name, DEEP_JSON) for name in (
            "usr/lib/node_modules/x/package.json", "app/node_modules/y/package.json",
            "app/package-lock.json", "app/composer.lock", "app/Pipfile.lock",
            "usr/lib/python3/dist-packages/z-1.dist-info/direct_url.json")), END), "clean",
             base_ok=True),
    ]  # fmt: skip


DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


def _package_databases(out: BinaryIO) -> None:
    """Package files an sbom reads, each huge in its own way (found 2026-12-03: a dpkg status
    of one-character continuation lines took 3.3 GB, 64 MiB of METADATA headers 1.4 GB, one
    64 MiB apk line 600 MB)."""
    status = (b"Package: a\nStatus: install ok installed\nVersion: 1\nDescription: x\n"
              + b" .\n" * (16 << 20) + b"\nPackage: b\nStatus: install ok installed\n"
              b"Version: " + b"9" * (30 << 20) + b"\n")  # fmt: skip
    apk = b"P:c\nV:" + b"1" * (30 << 20) + b"\n\nP:d\nV:2\n"
    metadata = b"Metadata-Version: 2.1\nName: e\nVersion: 1\n" + b"Classifier: x\n" * (2 << 20)
    npm = json.dumps({"name": "f", "version": "1",
                      "dependencies": {f"d{n}": "1" for n in range(400_000)}}).encode()  # fmt: skip
    for name, data in (("var/lib/dpkg/status", status), ("lib/apk/db/installed", apk),
                       ("usr/lib/python3/site-packages/e-1.dist-info/METADATA", metadata),
                       ("app/node_modules/f/package.json", npm)):  # fmt: skip
        out.write(member(name, data))
    out.write(END)


# -- images ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    diff_id: str


def write_layer_blob(case: Case, directory: Path) -> Blob:
    """The case's layer under ``directory/<hex>`` (gzip-compressed if the case says so)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / "layer.tmp"
    raw = hashlib.sha256()
    stored = hashlib.sha256()

    class Sink:
        def __init__(self, out: BinaryIO) -> None:
            self.out = out
            self.size = 0
            self.deflate = zlib.compressobj(1, zlib.DEFLATED, 31) if case.gzip_layer else None

        def write(self, data: bytes) -> int:
            raw.update(data)
            if self.deflate is not None:
                data = self.deflate.compress(data)
            self._put(data)
            return len(data)

        def _put(self, data: bytes) -> None:
            stored.update(data)
            self.size += len(data)
            self.out.write(data)

        def finish(self) -> None:
            if self.deflate is not None:
                self._put(self.deflate.flush())

    with tmp.open("wb") as out:
        sink = Sink(out)
        case.write(sink)  # type: ignore[arg-type]
        sink.finish()
    digest = stored.hexdigest()
    tmp.rename(directory / digest)
    return Blob(f"sha256:{digest}", sink.size, f"sha256:{raw.hexdigest()}")


def config_json(case: Case, blob: Blob) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "config": case.config,
        "rootfs": {"type": "layers", "diff_ids": [blob.diff_id]},
        "history": [{"created_by": f"hostile {case.name}"}],
    }).encode()  # fmt: skip


def write_oci(case: Case, directory: Path, media_type: str | None = None,
              urls: tuple[str, ...] = ()) -> str:  # fmt: skip
    """An OCI layout holding the case's image; its ``oci:`` name."""
    blob = write_layer_blob(case, directory / "blobs/sha256")
    layer: dict[str, Any] = {
        "mediaType": media_type or (OCI_GZIP if case.gzip_layer else OCI_TAR),
        "digest": blob.digest,
        "size": blob.size,
    }
    if urls:
        layer["urls"] = list(urls)
    return write_layout(directory, [layer], config_json(case, blob))


def put_blob(directory: Path, data: bytes) -> dict[str, Any]:
    """``data`` as a blob of the layout ``directory``; its digest and size."""
    name = hashlib.sha256(data).hexdigest()
    blobs = directory / "blobs/sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / name).write_bytes(data)
    return {"digest": f"sha256:{name}", "size": len(data)}


def write_layout(directory: Path, layers: list[dict[str, Any]], config: bytes) -> str:
    """An OCI layout of one image (its layer blobs already in place), tagged ``t``."""
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **put_blob(directory, config)},
        "layers": layers,
    }).encode()  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **put_blob(directory, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]}  # fmt: skip
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{directory}:t"


def oci_with_canary(case_name: str, directory: Path) -> tuple[str, Path]:
    """The named case as ``directory/img`` and the canary directory its names aim at
    (``directory/canary``, holding one file)."""
    canary = directory / "canary"
    canary.mkdir()
    (canary / "keep").write_text("untouched")
    case = next(c for c in cases(canary) if c.name == case_name)
    return write_oci(case, directory / "img"), canary


def write_docker_archive(case: Case, path: Path) -> str:
    """A ``docker save``-style archive holding the case's image; its ``docker-archive:`` name."""
    spool = path.parent / f"{path.name}.blobs"
    blob = write_layer_blob(case, spool)
    layer_file = spool / blob.digest.split(":")[1]
    config = config_json(case, blob)
    layer_name = f"{blob.digest.split(':')[1]}/layer.tar"
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["hostile:1"],
                            "Layers": [layer_name]}]).encode()  # fmt: skip
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("manifest.json", manifest), ("config.json", config)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(layer_name)
        info.size = layer_file.stat().st_size
        with layer_file.open("rb") as handle:
            tar.addfile(info, handle)
    layer_file.unlink()
    spool.rmdir()
    return f"docker-archive:{path}"


def gunzip_reference(case: Case, directory: Path) -> Path:
    """The case's layer, gzip-compressed: what ``gzip -d`` is timed on for the time bound."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{case.name}.tar.gz"
    with gzip.open(out, "wb", compresslevel=1) as handle:
        case.write(handle)  # type: ignore[arg-type]
    return out


def iter_tree(root: Path) -> Iterator[tuple[str, bytes]]:
    """(relative path, content or link target) of everything under ``root``, for the canary."""
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            yield rel, b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            yield rel, path.read_bytes()
        else:
            yield rel, b"<dir>"
