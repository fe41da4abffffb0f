"""Benchmark ``layers/readahead.py``: reading and hashing a layer beside a busy main thread.

What ``audit`` does with every layer: a background thread reads (``pread``), hashes (sha256)
and queues the bytes while the main thread parses them in Python. The thread needs the GIL
between those C calls; here a third thread spins in pure Python and never lets go of it, the
worst case of a parsing main thread. Compared in the same run, interleaved (ABBA, one warm-up
each, a fresh interpreter per run): the settings before (1 MiB chunks, the interpreter's
default 5 ms switch interval) against the module's own (``CHUNK``, ``SWITCH_INTERVAL``).
Run from the repository root: ``.venv/bin/python bench/bench_readahead.py [--runs N]
[--size-mb N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from common import ROOT, timed_pair

# one run: hash the file through a ReadAhead (via a VerifyingReader, as a layer is read)
# while a thread spins; prints the seconds the read took
_RUN = """
import hashlib, sys, threading, time
from scratchpack.layers import readahead
from scratchpack.model.digest import Digest, VerifyingReader
path, digest, old = sys.argv[1], Digest("sha256", sys.argv[2]), sys.argv[3] == "old"
if old:
    readahead.SWITCH_INTERVAL = sys.getswitchinterval()
chunk = 1 << 20 if old else readahead.CHUNK
stop = False
def spin():
    count = 0
    while not stop:
        count += 1
spinner = threading.Thread(target=spin)
spinner.start()
start = time.perf_counter()
with readahead.ReadAhead(VerifyingReader(open(path, "rb"), digest, None, path), chunk) as ahead:
    while ahead.read(1 << 20):
        pass
print(time.perf_counter() - start)
stop = True
spinner.join()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per setting (5)")
    parser.add_argument("--size-mb", type=int, default=600, help="bytes to read (600 MB)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.NamedTemporaryFile(prefix="scratchpack-bench.", dir="/var/tmp") as handle:
        import hashlib

        digest = hashlib.sha256()
        for _ in range(args.size_mb):
            block = os.urandom(1 << 20)
            digest.update(block)
            handle.write(block)
        handle.flush()
        inner: dict[str, list[float]] = {"new": [], "old": []}

        def run(setting: str) -> None:
            out = subprocess.run(
                [sys.executable, "-c", _RUN, handle.name, digest.hexdigest(), setting],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            inner[setting].append(float(out.stdout))

        timed_pair(lambda: run("new"), lambda: run("old"), args.runs, lambda: None, lambda: None)
    new, old = inner["new"][1:], inner["old"][1:]  # (the first of each is the warm-up)
    print(f"## read-ahead, {args.size_mb} MB read and hashed beside a spinning thread "
          f"({args.runs} runs each after one warm-up, interleaved; medians)")  # fmt: skip
    print()
    print("| setting | read + hash (s) | runs (s) |")
    print("|---|---:|---|")
    for label, times in (("1 MiB chunks, 5 ms switch interval (before)", old),
                         ("4 MiB chunks, 0.5 ms while a read-ahead runs", new)):  # fmt: skip
        runs = " ".join(f"{t:.2f}" for t in times)
        print(f"| {label} | {statistics.median(times):.2f} | {runs} |")
    print()
    print(f"ratio new / before: {statistics.median(new) / statistics.median(old):.2f}x; "
          f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
