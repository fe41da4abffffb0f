"""Benchmark ``scratchpack build``: each preset's size and its build time from a warm cache.

For every preset (static, base, cc, python3) the image is built twice untimed (the first fills
the download cache, the second warms the page cache), then ``--runs`` times timed, resolving
from the indexes each time (not ``--locked``) and once more ``--locked``. Printed: stored
(compressed) and uncompressed size, package count, and median times. The distroless sizes to
compare with are not fetched here (no registry outside this machine is reachable); the table
in docs/benchmarks.md gives them with their source.

Run from the repository root: ``.venv/bin/python bench/bench_build.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

BIN = Path(sys.executable).parent
PRESETS = ("static", "base", "cc", "python3")


def build(preset: str, work: Path, *extra: str) -> dict[str, object]:
    out = work / f"{preset}-{time.monotonic_ns()}"
    proc = subprocess.run(
        [str(BIN / "scratchpack"), "build", "--preset", preset, "-o", f"oci:{out}:latest",
         "--lock", str(work / f"{preset}.lock.json"), "--format", "json", *extra],
        capture_output=True, text=True, check=False, cwd=work,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"build --preset {preset} failed: {proc.stderr[-2000:]}")
    result: dict[str, object] = json.loads(proc.stdout)
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return result


def timed(fn: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=3, help="timed builds per preset (3)")
    args = parser.parse_args()
    os.chdir(ROOT)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        for preset in PRESETS:
            build(preset, work)
            result = build(preset, work)
            resolving = timed(lambda p=preset: build(p, work), args.runs)
            locked = timed(lambda p=preset: build(p, work, "--locked"), args.runs)
            rows.append((preset, result, resolving, locked))
    print()
    print(f"## build ({args.runs} timed builds per preset and mode, warm cache; medians)")
    print()
    print(
        "| preset | packages | stored | uncompressed | build, resolving (s) | build, --locked (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for preset, result, resolving, locked in rows:
        packages = result["packages"]
        assert isinstance(packages, list)
        stored, raw = result["stored_size"], result["uncompressed_size"]
        assert isinstance(stored, int) and isinstance(raw, int)
        median, median_locked = statistics.median(resolving), statistics.median(locked)
        print(f"| {preset} | {len(packages)} | {stored / 1e6:.2f} MB | {raw / 1e6:.2f} MB | "
              f"{median:.2f} | {median_locked:.2f} |")  # fmt: skip
    print()
    print(f"- nproc {os.cpu_count()}, kernel {platform.release()}, Python "
          f"{platform.python_version()}; load average after: {os.getloadavg()[0]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
