"""Benchmark ``scratchpack pack DIR`` of a Node app (tests/data/apps/node-app: express +
bufferutil) against the distroless-style image of the same app built locally and against the
published sizes of the official images.

* ours: ``pack DIR`` with each size lever (``VARIANTS``: gzip 6 and 9, zstd 3 and 19,
  ``--icu-locales en`` alone and with zstd 19): stored and uncompressed size, median wall time
  with warm caches (Debian packages and npm's cache already downloaded, as in CI reruns) and
  the median load average when each run started. The variants run interleaved, round after
  round, so a burst of load on the shared machine hits them all alike.
* peer ("distroless nodejs18, built here"): ``scratchpack build`` of the Debian packages that
  distroless-style images take for node (``nodejs`` and what it depends on, plus base-files,
  netbase, tzdata, ca-certificates, docs dropped as ``build`` does) with the app and its
  unpruned ``npm ci --omit=dev`` node_modules as one more layer, measured as
  ``tar | gzip -6``.
* official, rebuilt here (``bench/node_official.py``): node:18-bookworm-slim and
  gcr.io/distroless/nodejs18-debian12 cannot be pulled here, so they are made from their own
  parts (debian:bookworm-slim from Debian's packages, the official node 18.20.4 build,
  npm, corepack and yarn from the npm registry; distroless cc + the node tree) and measured
  per layer as gzip -6 tars, as docker pushes them. These are the ratios' denominators; the
  published figures found (``OFFICIAL``) are printed beside them as a cross-check.

Run from the repository root: ``.venv/bin/python bench/bench_pack_node.py [--runs N]
[--variant K ...]`` (``--variant`` picks rows of ``VARIANTS`` by index; sizes are the same in
every run, so a size-only check can take one run of a few).
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

import node_official  # bench/, beside this file
from common import layout_sizes

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


# (what, the flags); every variant runs once per round, rounds interleave them
VARIANTS = [
    ("ours, default (gzip 6)", []),
    ("ours, --compression-level 9", ["--compression-level", "9"]),
    ("ours, --compression zstd (3)", ["--compression", "zstd"]),
    ("ours, --compression zstd --compression-level 19",
     ["--compression", "zstd", "--compression-level", "19"]),
    ("ours, --icu-locales en (gzip 6)", ["--icu-locales", "en"]),
    ("ours, --icu-locales en --compression zstd --compression-level 19",
     ["--icu-locales", "en", "--compression", "zstd", "--compression-level", "19"]),
]  # fmt: skip
# Published compressed sizes (amd64), in the MB the page shows; none can be pulled here: printed
# beside the rebuilt official images as a cross-check (the ratios use the rebuilt ones).
OFFICIAL = [
    ("node:26.12.0-bookworm-slim (hub.docker.com/_/node/tags?name=26)", 80.17e6),
    ("a third-party image tagged 18.20.4-bookworm-slim-runtime (hub.docker.com/r/nhhoangctu/"
     "node/tags), the nearest figure to node:18-bookworm-slim found", 65.82e6),
    ("gcr.io/distroless/nodejs20-debian12, '~55 MB' (a published comparison table, "
     "mid-2025; no nodejs18 figure found)", 55e6),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", type=int, action="append", choices=range(len(VARIANTS)))
    args = parser.parse_args()
    variants = [VARIANTS[k] for k in sorted(set(args.variant))] if args.variant else VARIANTS
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SOURCE_DATE_EPOCH": "1700000000"}
    rows: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp:
        work = Path(tmp)
        # one untimed run fills the Debian and npm caches (and the ICU tools' .debs)
        _run([*SCRATCHPACK, "pack", str(APP), "-o", f"oci:{work / 'warm'}:v1", "-q",
              "--icu-locales", "en"], env)  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name, _ in variants}
        loads: dict[str, list[float]] = {name: [] for name, _ in variants}
        for n in range(args.runs):
            for k, (name, flags) in enumerate(variants):
                out = work / f"ours-{k}-{n}"
                loads[name].append(os.getloadavg()[0])
                times[name].append(_run([*SCRATCHPACK, "pack", str(APP), "-o", f"oci:{out}:v1",
                                         "-q", *flags], env))  # fmt: skip
                stored, raw = layout_sizes(out)
                rows[name] = {"stored": stored, "uncompressed": raw}
                if n:
                    shutil.rmtree(out)
        for name, _ in variants:
            rows[name]["seconds_median"] = round(statistics.median(times[name]), 1)
            rows[name]["load_median"] = round(statistics.median(loads[name]), 2)
        spec = work / "peer.toml"
        spec.write_text(PEER_SPEC)
        peer_out = work / "peer"
        wall = _run([*SCRATCHPACK, "build", str(spec), "-o", f"oci:{peer_out}:v1", "-q"], env,
                    cwd=work)  # fmt: skip
        base_stored, base_raw = layout_sizes(peer_out)
        app_stored, app_raw = _app_layer_unpruned(work, env)
        official = _official(work)
    peer = base_stored + app_stored
    print(f"{'image':<66} {'stored':>9} {'uncompr.':>9} {'s':>6} {'load':>5} "
          f"{'/peer':>6} {'/slim18':>7} {'/dl':>5}")  # fmt: skip
    slim18, distroless = official["slim"][0], official["distroless"][0]

    def line(name: str, stored: float, raw: str, seconds: str, load: str) -> None:
        print(
            f"{name[:66]:<66} {stored / 1e6:>8.2f}M {raw:>9} {seconds:>6} {load:>5} "
            f"{stored / peer:>6.3f} {stored / slim18:>7.3f} {stored / distroless:>5.3f}"
        )

    for name, row in rows.items():
        line(name, float(row["stored"]), f"{float(row['uncompressed']) / 1e6:.2f}M",  # type: ignore[arg-type]
             str(row["seconds_median"]), str(row["load_median"]))  # fmt: skip
    line(f"peer: distroless-style built here (base {base_stored / 1e6:.2f} + app "
         f"{app_stored / 1e6:.2f})", peer, f"{(base_raw + app_raw) / 1e6:.2f}M",
         f"{wall:.1f}", f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    for kind, (stored, raw) in official.items():
        line(f"official {kind}, rebuilt here (bench/node_official.py)", stored,
             f"{raw / 1e6:.2f}M", "", "")  # fmt: skip
    for name, size in OFFICIAL:
        line(f"published: {name}", size, "", "", "")
    print(json.dumps({"runs": args.runs, "rows": rows, "peer": peer, "official": official},
                     indent=2))  # fmt: skip


def _official(work: Path) -> dict[str, tuple[int, int]]:
    """(stored, uncompressed) of the official images rebuilt from their parts: every layer a
    tar, gzip -6 as docker pushes it. ``distroless-binary`` is distroless cc + bin/node alone,
    the smallest image of the official node build (distroless itself also ships include/)."""
    slim = node_official.slim_layers("18", work / "official-slim")
    distroless = node_official.distroless_layers("18", work / "official-distroless")
    binary = work / "official-distroless" / "node-binary.tar"
    with tarfile.open(distroless[-1]) as src, tarfile.open(binary, "w") as dst:
        for member in src:
            if member.name in ("nodejs", "nodejs/bin", "nodejs/bin/node"):
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    result = {}
    for kind, layers in (("slim", slim), ("distroless", distroless),
                         ("distroless-binary", [*distroless[:-1], binary])):  # fmt: skip
        result[kind] = (sum(node_official.gzip_size(p) for p in layers),
                        sum(p.stat().st_size for p in layers))  # fmt: skip
    return result


if __name__ == "__main__":
    main()
