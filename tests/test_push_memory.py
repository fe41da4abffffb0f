"""Memory stays flat on push, whatever the layer size (issue 17: a 1.5 GB layer took 503 MB,
because whole blobs and 16 MiB chunks were held in memory; skopeo needs 21 MB).

Peak RSS of the real ``scratchpack copy`` process (``wait4``'s rusage of that child alone),
for layers below and above the chunking threshold, against the same copy of a 1 MiB layer:
the difference is what the layer's size costs, and it must stay small."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

MIB = 1 << 20
# What a layer of any size may add to the peak over a 1 MiB one: a few 1 MiB pieces per blob
# in flight, plus allocator slack. The old code added the whole blob (<= 32 MiB) or two chunks.
GROWTH_ALLOWED = 16 * MIB


def write_layout(path: Path, size: int) -> None:
    """An OCI layout tagged ``v`` with one uncompressed layer of ``size`` random bytes, written
    piece by piece so this process never holds it."""
    blobs = path / "blobs/sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    hasher = hashlib.sha256()
    with (blobs / "layer").open("wb") as out:
        for _ in range(size // MIB):
            piece = os.urandom(MIB)
            hasher.update(piece)
            out.write(piece)
    layer_digest = f"sha256:{hasher.hexdigest()}"
    (blobs / "layer").rename(blobs / hasher.hexdigest())
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
             "size": size}  # fmt: skip
    config = json.dumps(
        {"architecture": "amd64", "os": "linux",
         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}
    ).encode()  # fmt: skip
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": put(config), "size": len(config)},
            "layers": [layer],
        }
    ).encode()  # fmt: skip
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
             "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v"}}
        ],
    }  # fmt: skip
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps(index))


# A small process that runs the command and reports its child's peak RSS: a child forked from
# pytest itself would count pytest's own pages (Linux records the forked memory's high-water
# mark at exec), so the measuring parent must be small.
MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stderr=subprocess.PIPE)
errors = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
sys.stderr.buffer.write(errors)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024)
"""


def peak_rss_of_push(layout: Path, registry: str, *extra: str, chunk_mib: str = "") -> int:
    """Bytes of peak RSS of one ``scratchpack copy`` of ``layout`` to a fresh repository
    (``chunk_mib``: SCRATCHPACK_UPLOAD_CHUNK_MIB, else the default chunking)."""
    dest = f"docker://{registry}/push-memory/{uuid.uuid4().hex[:12]}:v"
    command = [sys.executable, "-m", "scratchpack", "copy", "-q", *extra, f"oci:{layout}:v", dest]
    env = {**os.environ, "SCRATCHPACK_UPLOAD_CHUNK_MIB": chunk_mib}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    code, peak = result.stdout.split()
    assert code == "0", result.stderr
    return int(peak)


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_push_peak_memory_does_not_grow_with_the_layer(
    registry: str, tmp_path: Path, jobs: str
) -> None:
    # 80 MiB in 32 MiB chunks (above twice that): a chunk as large as the single request must
    # cost no more (the default 64 MiB chunks start at 128 MiB, too slow a layer to write here)
    sizes = {"small": 1 * MIB, "single request": 30 * MIB, "chunked": 80 * MIB}
    peaks: dict[str, int] = {}
    for name, size in sizes.items():
        layout = tmp_path / name.replace(" ", "-")
        write_layout(layout, size)
        chunk = "32" if name == "chunked" else ""
        peaks[name] = peak_rss_of_push(layout, registry, "--jobs", jobs, chunk_mib=chunk)
    for name in ("single request", "chunked"):
        growth = peaks[name] - peaks["small"]
        assert growth < GROWTH_ALLOWED, (
            f"a {sizes[name] // MIB} MiB layer ({name}) raised the peak by "
            f"{growth / MIB:.1f} MiB over a 1 MiB one: {peaks}"
        )
