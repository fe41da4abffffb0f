"""CPU of each thread of one ``scratchpack pack``, in-process: where a pack's work runs.

On a loaded machine wall times say little (the scheduler decides them), but the CPU each
thread spends does not depend much on the load: the main thread's CPU (the interpreter, the
imports, everything that holds the GIL) is the part no second core can take, and the
largest compression thread shows whether the layer is spread over the cores or waits for one
big chunk. Runs the trees given as ``NAME=SRC_DIR`` in turn, ``--runs`` times each, and prints
the medians. Used for docs/benchmarks.md "gzip on both cores" (issue 17).

    .venv/bin/python bench/bench_pack_threads.py --runs 7 main=/tmp/main/src branch=src \\
        -- BINARY -o oci:/tmp/out:1 --tz none --no-certs -q
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

# Run in a child: patch Thread.run to record each thread's CPU when it ends, then pack.
CHILD = r"""
import json, sys, threading, time
cpu = {}
def patch(cls):
    run = cls.run
    def timed(self):
        try:
            run(self)
        finally:
            cpu.setdefault(self.name, []).append(time.thread_time())
    cls.run = timed
patch(threading.Thread)
import scratchpack.layers.compress as compress
if hasattr(compress, "_ChunkThread"):  # the compressor before 2026-12-02
    patch(compress._ChunkThread)
from scratchpack.cli.main import main
main(sys.argv[1:])
print(json.dumps({"main": time.thread_time(), "threads": cpu}))
"""


def one(src: str, pack_args: list[str]) -> dict[str, float]:
    out = next((a for a in pack_args if a.startswith("oci:")), "")
    if out:
        shutil.rmtree(out[4:].rsplit(":", 1)[0], ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "pack", *pack_args],
        env=dict(os.environ, PYTHONPATH=src),
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    row = {"main thread": report["main"]}
    for name, times in report["threads"].items():
        row[f"{name} (largest)"] = max(times)
        row[f"{name} (sum of {len(times)})"] = sum(times)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("trees", nargs="+", help="NAME=SRC_DIR ... -- PACK ARGS")
    args = parser.parse_args(sys.argv[1 : sys.argv.index("--")] if "--" in sys.argv else None)
    pack_args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    trees = dict(tree.split("=", 1) for tree in args.trees)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for n in range(args.runs):
        names = list(trees)[n % len(trees) :] + list(trees)[: n % len(trees)]
        for name in names:
            rows[name].append(one(str(Path(trees[name]).resolve()), pack_args))
    for name, runs in rows.items():
        keys = sorted({key for run in runs for key in run})
        medians = {k: statistics.median(run.get(k, 0.0) for run in runs) for k in keys}
        print(f"{name}: " + "; ".join(f"{k} {v * 1000:.0f} ms" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
