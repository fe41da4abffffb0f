"""What the audit's one pass over the layers finds in file contents wherever chunks fall.

A layer streams by in chunks of 1 MiB (the read-ahead thread's); executables are searched for
Go's build info magic and cargo-auditable's section name chunk by chunk. These tests put
those markers across every possible split at a chunk edge (a sweep of offsets around each
multiple of 1 MiB of the layer stream, so a change of where the edges fall by a few bytes
still lands in the sweep), and read the result through a real ``scratchpack sbom`` process.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import struct
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

from helpers import run_cli
from test_audit import T, layer_tar, write_layout

MIB = 1 << 20
GO_MAGIC = b"\xff Go buildinf:"
SWEEP = range(1, 21)  # how many bytes of a marker fall before the edge (it is 7 or 14 long)


def go_blob(module: str) -> bytes:
    """Go 1.18+ inline build info: the 32-byte header, then two varint-prefixed strings."""
    version = b"go1.21.0"
    modinfo = (b"\x00" * 16 + f"path\t{module}\nmod\t{module}\tv1.0.0\t\n".encode()
               + b"\x00" * 16)  # fmt: skip
    header = GO_MAGIC + b"\x08\x02" + b"\x00" * 16
    return header + bytes([len(version)]) + version + bytes([len(modinfo)]) + modinfo


def rust_elf(crate: str, name_at: int) -> bytes:
    """A minimal ELF64 file with a cargo-auditable ``.dep-v0`` section whose name, in the
    section name table, starts at byte ``name_at`` of the file."""
    deps = zlib.compress(json.dumps({"packages": [{"name": crate, "version": "1.0.0"}]}).encode())
    data_at = 64
    strtab_at = data_at + len(deps)
    pad = name_at - strtab_at - 1
    assert pad >= 0
    strtab = b"\x00" + b"x" * pad + b".dep-v0\x00.shstrtab\x00"
    dep_name = 1 + pad
    shstrtab_name = dep_name + len(".dep-v0") + 1
    shoff = strtab_at + len(strtab)
    shoff += -shoff % 8
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\x00" * 9, 2, 62, 1,
                         0, 0, shoff, 0, 64, 56, 0, 64, 3, 2)  # fmt: skip

    def section(name: int, kind: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, kind, 0, 0, offset, size, 0, 0, 1, 0)

    body = header + deps + strtab
    body += b"\x00" * (shoff - len(body))
    return (body + section(0, 0, 0, 0) + section(dep_name, 1, data_at, len(deps))
            + section(shstrtab_name, 3, strtab_at, len(strtab)))  # fmt: skip


def straddling(stem: str, make: Callable[[str, int], bytes]) -> list[tuple[T, int]]:
    """One file per split of the sweep: ``make(name, at)`` -> bytes with its marker at byte
    ``at`` of the file, placed so that the marker starts ``d`` bytes before a multiple of
    1 MiB of the layer stream. (Offsets are computed for the tar ``layer_tar`` writes:
    a 512-byte header per member, content padded to 512): each with where its content
    starts in the layer."""
    members: list[tuple[T, int]] = []
    offset = 0
    for d in SWEEP:
        data_at = offset + 512
        edge = (data_at + 70_000) // MIB * MIB + MIB  # past the first 64 KiB read of it
        name = f"app/{stem}{d:02d}"
        data = make(name, edge - d - data_at)
        data += b"\x00" * (edge + 4096 - data_at - len(data))  # (the marker is inside)
        members.append((T(name, data, 0o755), data_at))
        offset = data_at + len(data) + (-len(data) % 512)
    return members


def placed(members: list[tuple[T, int]]) -> list[T]:
    """The members, once their content is known to start where it was placed."""
    with tarfile.open(fileobj=io.BytesIO(layer_tar([m for m, _ in members]))) as archive:
        for member, data_at in members:
            assert archive.getmember(member.name).offset_data == data_at
    return [m for m, _ in members]


def test_markers_across_chunk_edges_are_found(tmp_path: Path) -> None:
    def go(name: str, at: int) -> bytes:
        return b"\x7fELF" + b"\x00" * (at - 4) + go_blob(f"example.com/{name.replace('/', '-')}")

    def rust(name: str, at: int) -> bytes:
        return rust_elf(name.replace("/", "-"), at)

    layers = [placed(straddling("go", go)), placed(straddling("rs", rust))]
    image = write_layout(tmp_path / "img", layers)
    result = run_cli("sbom", image, "--format", "json")
    assert result.code == 0, result.stderr
    names = {p["name"] for p in result.json()}
    for d in SWEEP:
        assert f"example.com/app-go{d:02d}" in names, d
        assert f"app-rs{d:02d}" in names, d


def gzip_layout(directory: Path, layer: bytes, blob: bytes) -> str:
    """A one-layer OCI layout whose layer blob is ``blob`` (gzip), ``layer`` its tar."""
    blobs = directory / "blobs/sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(blob)}],
    }).encode()  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]}  # fmt: skip
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{directory}:t"


def test_gzip_layers_are_read_and_a_corrupt_one_is_one_line(tmp_path: Path) -> None:
    """Layers are inflated with zlib-ng: the same report as the uncompressed layer's, and a
    deflate stream broken in its middle (its blob digest still right) is a clean error."""
    members = [T(f"srv/f{n:04d}.txt", f"line {n}\n".encode() * (n % 50 + 1)) for n in range(2000)]
    layer = layer_tar(members)
    plain = run_cli("audit", write_layout(tmp_path / "plain", [members]), "--format", "json")
    packed = gzip.compress(layer, 6, mtime=0)
    zipped = run_cli("audit", gzip_layout(tmp_path / "gz", layer, packed), "--format", "json")
    assert plain.code == zipped.code == 0, zipped.stderr
    sizes = zipped.json()["size"]
    assert {**sizes, "compressed": 0} == {**plain.json()["size"], "compressed": 0}
    assert zipped.json()["largest_files"] == plain.json()["largest_files"]
    # a deflate block of the reserved type 3 (zlib's "invalid block type"), and 64 bytes
    # zeroed in the middle: inflates to garbage, which is a bad tar header when the parser
    # gets there first, or gzip's CRC check failing when the read-ahead thread reaches the
    # end of the stream first (a layer smaller than a read-ahead chunk or two)
    invalid = packed[:10] + b"\xff" + packed[11:]
    middle = len(packed) // 2
    zeroed = packed[:middle] + bytes(64) + packed[middle + 64 :]
    cases = [(invalid, ("cannot decompress",)), (zeroed, ("bad checksum", "CRC check failed"))]
    for n, (broken, says) in enumerate(cases):
        result = run_cli("audit", gzip_layout(tmp_path / f"bad-{n}", layer, broken))
        assert result.code == 2, result.stderr
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("scratchpack: error: "), result.stderr
        assert any(words in last for words in says), result.stderr


def bytes_read_by_audit(image: str) -> int:
    """What a real ``scratchpack audit`` process read from files (``rchar`` of
    /proc/self/io at its exit: every read and pread, imports included)."""
    code = (
        "import atexit, sys\n"
        "def report():\n"
        "    io = dict(l.split(': ') for l in open('/proc/self/io').read().splitlines())\n"
        "    print('rchar', io['rchar'], file=sys.stderr)\n"
        "atexit.register(report)\n"
        "from scratchpack.cli.main import main\n"
        f"sys.exit(main(['audit', {image!r}, '--format', 'json', '--fail-on', 'none']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stderr.strip().splitlines()[-1].split()[1])


def test_each_layer_byte_is_read_once(tmp_path: Path) -> None:
    """An uncompressed layer's blob digest and diff_id are one hash of one read: the process
    reads the layer's bytes once (plus its own modules), from an OCI layout and from the
    docker-archive that ``copy`` writes of it."""
    size = 48 << 20
    rng = random.Random(5)
    members = [T(f"data/blob{n}", rng.randbytes(size // 4)) for n in range(4)]
    oci = write_layout(tmp_path / "img", [members])
    archive = f"docker-archive:{tmp_path / 'img.tar'}"
    copied = run_cli("copy", "-q", oci, f"{archive}:t:1")
    assert copied.code == 0, copied.stderr
    modules = bytes_read_by_audit(write_layout(tmp_path / "empty", [[T("a", b"a")]]))
    for image in (oci, archive):
        read = bytes_read_by_audit(image) - modules
        assert size * 0.95 < read < size * 1.1, (image, read)
