"""What the audit's one pass over the layers finds in file contents wherever chunks fall.

A layer streams by in chunks of 1 MiB (the read-ahead thread's); executables are searched for
Go's build info magic and cargo-auditable's section name chunk by chunk. These tests put
those markers across every possible split at a chunk edge (a sweep of offsets around each
multiple of 1 MiB of the layer stream, so a change of where the edges fall by a few bytes
still lands in the sweep), and read the result through a real ``scratchpack sbom`` process.
"""

from __future__ import annotations

import io
import json
import struct
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
