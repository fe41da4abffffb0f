"""Benchmark ``scratchpack pack DIR`` of a Node app (tests/data/apps/node-app: express +
bufferutil) against the distroless-style image of the same app built locally.

* ours: ``pack DIR`` (gzip, and ``--compression zstd``): stored and uncompressed size, wall
  time with warm caches (Debian packages and npm's cache already downloaded, as in CI reruns).
* peer ("distroless nodejs18, built here"): ``scratchpack build`` of the Debian packages that
  distroless-style images take for node (``nodejs`` and what it depends on, plus base-files,
  netbase, tzdata, ca-certificates, docs dropped as ``build`` does) with the app and its
  unpruned ``npm ci --omit=dev`` node_modules as one more layer, measured as
  ``tar | gzip -6``. node:18-slim and gcr.io/distroless/nodejs18-debian12 cannot be pulled
  here and ../shared/notes/anchors.md has no figure for them, so the peer is built.

Run from the repository root: ``.venv/bin/python bench/bench_pack_node.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "data" / "apps" / "node-app"
SCRATCHPACK = [sys.executable, "-m", "scratchpack"]
PEER_SPEC = """[image]
packages = ["nodejs", "base-files", "netbase", "tzdata", "ca-certificates"]
exclude = ["debconf", "openssl", "awk", "python3", "media-types", "mailcap"]
entrypoint = ["/usr/bin/node"]
"""


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.monotonic()
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr[-2000:]}")
    return time.monotonic() - started


def _sizes(layout: Path) -> tuple[int, int]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_text())
    stored = sum(layer["size"] for layer in manifest["layers"])
    raw = 0
    for layer in manifest["layers"]:
        data = (layout / "blobs/sha256" / layer["digest"].split(":")[1]).read_bytes()
        if layer["mediaType"].endswith("+zstd"):
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(
                io.BytesIO(data), read_across_frames=True
            )
            raw += len(reader.read())  # pack writes one frame per 4 MiB chunk
        elif layer["mediaType"].endswith("+gzip"):
            raw += len(gzip.decompress(data))
        else:
            raw += len(data)
    return stored, raw


def _app_layer_unpruned(work: Path, env: dict[str, str]) -> tuple[int, int]:
    """The app with node_modules as npm ci leaves it, as a gzip -6 tar layer."""
    project = work / "peer-app"
    shutil.copytree(APP, project)
    subprocess.run(["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
                   cwd=project, env=env, capture_output=True, check=True)  # fmt: skip
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(project, arcname="app")
    return len(gzip.compress(raw.getvalue(), 6)), len(raw.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SOURCE_DATE_EPOCH": "1700000000"}
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp:
        work = Path(tmp)
        for compression in ("gzip", "zstd"):
            times = []
            for n in range(args.runs + 1):  # the first run warms the caches, untimed
                out = work / f"ours-{compression}-{n}"
                wall = _run([*SCRATCHPACK, "pack", str(APP), "-o", f"oci:{out}:v1", "-q",
                             "--compression", compression], env)  # fmt: skip
                if n:
                    times.append(wall)
            stored, raw = _sizes(out)
            median = statistics.median(times)
            results[f"ours_{compression}"] = {"stored": stored, "uncompressed": raw,
                                              "seconds_median": median}  # fmt: skip
        spec = work / "peer.toml"
        spec.write_text(PEER_SPEC)
        peer_out = work / "peer"
        wall = _run([*SCRATCHPACK, "build", str(spec), "-o", f"oci:{peer_out}:v1", "-q"], env,
                    cwd=work)  # fmt: skip
        base_stored, base_raw = _sizes(peer_out)
        app_stored, app_raw = _app_layer_unpruned(work, env)
        results["peer_distroless_style"] = {
            "stored": base_stored + app_stored, "uncompressed": base_raw + app_raw,
            "base_stored": base_stored, "app_stored": app_stored, "build_seconds": wall,
        }  # fmt: skip
    ours = results["ours_gzip"]
    peer = results["peer_distroless_style"]
    assert isinstance(ours, dict) and isinstance(peer, dict)
    results["ratio_stored"] = round(ours["stored"] / peer["stored"], 3)
    results["ratio_uncompressed"] = round(ours["uncompressed"] / peer["uncompressed"], 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
