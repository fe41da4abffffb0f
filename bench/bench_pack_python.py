"""Benchmark ``scratchpack pack DIR`` of a Python project: the Flask app of the tests
(flask + requests, tests/data/apps/flask-app), its size and its build time.

Timed: one cold build (empty ``XDG_CACHE_HOME``: Debian indexes and packages and the wheels
downloaded) and ``--runs`` warm ones (both caches full), without ``--test``, and one warm
build with ``--test`` (the app's pytest suite run inside the image under podman). Compared
with ``build --preset python3`` (the distroless-style base) plus the same app layer, which is
what installing the wheels on that base gives. The python:3.12-slim and distroless figures
are not fetched here (no outside registry is reachable); docs/benchmarks.md gives them with
their source.

Run from the repository root: ``.venv/bin/python bench/bench_pack_python.py [--runs N]``
(``--test`` needs the provisioned podman: ``. /tmp/scratchpack-test-env/env`` first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT

APP = ROOT / "tests" / "data" / "apps" / "flask-app"


def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "scratchpack", *args, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"scratchpack {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return took, json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=2, help="warm builds (2)")
    parser.add_argument("--no-test", action="store_true", help="skip the --test build")
    args = parser.parse_args()
    env = dict(os.environ)  # PYTHONPATH too: the checkout's scratchpack (pip gets none of it)
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    with tempfile.TemporaryDirectory(prefix="bench-pack-python-") as tmp:
        work = Path(tmp)
        cold_env = {**env, "XDG_CACHE_HOME": str(work / "cold-cache")}
        pack = ["pack", str(APP), "-o"]
        cold, result = run([*pack, f"oci:{work / 'cold'}:1"], cold_env, work)
        shutil.rmtree(work / "cold-cache")
        run([*pack, f"oci:{work / 'fill'}:1"], env, work)  # the user's cache, filled once
        warm = []
        for n in range(args.runs):
            took, result = run([*pack, f"oci:{work / f'warm{n}'}:1", "--force"], env, work)
            warm.append(took)
        tested = None
        if not args.no_test:
            tested, _ = run(
                [
                    *pack,
                    f"oci:{work / 'tested'}:1",
                    "--keep-module",
                    "colorsys",
                    "--test",
                    "python3 -m pytest -q tests",
                ],
                env,
                work,
            )
        base_time, base = run(
            [
                "build",
                "--preset",
                "python3",
                "-o",
                f"oci:{work / 'base'}:1",
                "--lock",
                str(work / "lock.json"),
            ],
            env,
            work,
        )
    app = result["layers"][-1]
    rows = [
        ("pack DIR (this)", result["size"]["stored"], result["size"]["uncompressed"]),
        (
            "build --preset python3 + the same app layer",
            base["stored_size"] + app["size"],
            base["uncompressed_size"] + app["uncompressed_size"],
        ),
    ]
    print("| image | stored (gzip) | uncompressed |")
    print("|---|---|---|")
    for name, stored, uncompressed in rows:
        print(f"| {name} | {stored / 1e6:.2f} MB | {uncompressed / 1e6:.2f} MB |")
    print()
    print(
        f"stdlib modules kept: {len(result['app']['stdlib_modules'])} of "
        f"{result['app']['stdlib_available']}; layers: "
        + ", ".join(f"{layer['name']} {layer['size'] / 1e6:.2f} MB" for layer in result["layers"])
    )
    print(
        f"pack cold cache: {cold:.1f} s; warm (median of {len(warm)}): "
        f"{statistics.median(warm):.1f} s"
        + (f"; warm with --test: {tested:.1f} s" if tested else "")
    )
    print(f"build --preset python3 (warm, resolving): {base_time:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
