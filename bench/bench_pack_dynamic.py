"""pack of a dynamically linked program, against a distroless-style image and against
debian:bookworm-slim with the same program: sizes and build times (issue 15, item 1 and
"Done when": bench/ records image sizes and build times next to distroless and the official
slim images, built locally where they cannot be pulled).

The program is the host's ``/usr/bin/curl`` (Debian 12): a real dynamic program with TLS, NSS
and libcurl's closure of some 30 libraries. The three images:

* **ours**: ``scratchpack pack /usr/bin/curl`` (essentials, libraries and app layers, gzip 6):
  the loader, the DT_NEEDED closure, NSS modules and libgcc_s from the host root.
* **distroless-style**: ``scratchpack build`` of preset ``cc``'s packages plus Debian's
  ``curl`` package (and so everything it depends on): the image a distroless base gets when the
  program's packages are added to it, as distroless images are made (Debian's packages
  unpacked, no dpkg, no shell). gcr.io/distroless cannot be pulled here.
* **slim**: debian:bookworm-slim plus ``apt-get install --no-install-recommends curl``, rebuilt
  as ``node_official.debian_slim`` rebuilds the slim image (mmdebstrap minbase with
  debuerreotype's path excludes) with ``--include=curl``; one tar layer, gzip -6 (as docker
  pushes it). Built once (its time includes mmdebstrap's own setup); the others are timed
  ``--runs`` times, interleaved, after an untimed warm-up (Debian's indexes and packages cached).

Each image must run ``curl --version`` under podman (read-only) before its row is printed.
Run: ``PYTHONPATH=src .venv/bin/python bench/bench_pack_dynamic.py [--runs 3]`` with the test
environment's podman on PATH (``. /tmp/scratchpack-test-env/env``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import node_official  # bench/, beside this file
from common import ROOT, SCRATCHPACK, compile_scratchpack, layout_sizes

PROGRAM = Path("/usr/bin/curl")


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(args, env=env, check=True, capture_output=True, timeout=1800)
    return time.monotonic() - started


def _runs_curl(image: str, *engine_args: str) -> None:
    """The image runs ``curl --version``; the copy podman made of an ``oci:`` layout in its
    storage (named after the layout's path) is removed again."""
    done = subprocess.run(
        ["podman", "run", "--rm", "--read-only", "--network", "none", *engine_args, image,
         "--version"], capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    if image.startswith("oci:"):
        stored = "localhost" + image.removeprefix("oci:").rsplit(":", 1)[0] + ":latest"
        subprocess.run(["podman", "rmi", "-f", stored], capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout.startswith("curl "):
        raise SystemExit(f"{image} does not run curl: {done.stderr.strip()[-500:]}")


def _slim_with_curl(work: Path, env: dict[str, str]) -> tuple[int, int, float]:
    """debian:bookworm-slim + curl as one tar (mmdebstrap, node_official's slim recipe)."""
    tar = work / "slim-curl.tar"
    args = node_official.slim_mmdebstrap(tar, include=("curl",))
    seconds = _run(args, {**env, "SOURCE_DATE_EPOCH": str(node_official.EPOCH)})
    raw = tar.stat().st_size
    stored = node_official.gzip_size(tar)
    imported = subprocess.run(["podman", "import", "--quiet", str(tar)], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    try:
        _runs_curl(imported, "--entrypoint", "/usr/bin/curl")
    finally:
        subprocess.run(["podman", "rmi", "-f", imported], capture_output=True, check=False)
    return stored, raw, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of ours and the build")
    args = parser.parse_args()
    compile_scratchpack()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SOURCE_DATE_EPOCH": "1700000000"}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-dynamic-") as tmp:
        work = Path(tmp)
        spec = work / "cc-curl.toml"
        printed = subprocess.run(
            [*SCRATCHPACK, "build", "--preset", "cc", "--print-spec"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        spec.write_text(printed.replace('"libgomp1"]', '"libgomp1", "curl"]', 1))
        if '"curl"]' not in spec.read_text():
            raise SystemExit("preset cc's spec changed: cannot add curl to its packages")
        pack = [*SCRATCHPACK, "pack", str(PROGRAM), "-q", "-o"]
        build = [*SCRATCHPACK, "build", str(spec), "-q", "--lock", str(work / "lock.json"), "-o"]
        _run([*pack, f"oci:{work / 'warm-ours'}:1"], env)  # untimed: the page cache
        _run([*build, f"oci:{work / 'warm-build'}:1"], env)  # untimed: Debian's cache
        times: dict[str, list[float]] = {"ours": [], "build": []}
        for n in range(args.runs):
            times["ours"].append(_run([*pack, f"oci:{work / f'ours-{n}'}:1"], env))
            times["build"].append(_run([*build, f"oci:{work / f'build-{n}'}:1"], env))
        ours, peer = layout_sizes(work / "ours-0"), layout_sizes(work / "build-0")
        _runs_curl(f"oci:{work / 'ours-0'}:1")
        _runs_curl(f"oci:{work / 'build-0'}:1", "--entrypoint", "/usr/bin/curl")
        slim_stored, slim_raw, slim_seconds = _slim_with_curl(work, env)
    load_after = os.getloadavg()
    rows = [
        ("ours: `pack /usr/bin/curl`", ours, statistics.median(times["ours"])),
        ("distroless-style: `build` preset cc + curl", peer, statistics.median(times["build"])),
        ("debian:bookworm-slim + curl, rebuilt (one run)", (slim_stored, slim_raw), slim_seconds),
    ]
    print(f"## pack of a dynamic program (/usr/bin/curl), median of {args.runs}\n")
    print("| image | stored | uncompressed | / distroless-style | / slim | time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (stored, raw), seconds in rows:
        ratios = f"{stored / peer[0]:.3f}x | {stored / slim_stored:.3f}x"
        print(f"| {name} | {stored / 1e6:.2f} MB | {raw / 1e6:.2f} MB | {ratios} | {seconds:.2f} |")
    print(f"\n- times of ours / build, every run: {times['ours']} / {times['build']}")
    print(
        f"- load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)}"
    )


if __name__ == "__main__":
    main()
