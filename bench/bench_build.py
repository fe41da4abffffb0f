"""Benchmark ``scratchpack build``: each preset's size and its build time from a warm cache.

For every preset (static, base, cc, python3) the image is built twice untimed (the first fills
the download cache, the second warms the page cache), then ``--runs`` times timed, resolving
from the indexes each time (not ``--locked``) and once more ``--locked``. Printed: stored
(compressed) and uncompressed size, package count, and median times. The distroless sizes to
compare with are not fetched here (no registry outside this machine is reachable); the table
in docs/benchmarks.md gives them with their source.

``--cold`` measures instead a build from an empty cache (``XDG_CACHE_HOME`` in a new
directory: every index and package downloaded, every index parsed) against ``mmdebstrap
--variant=extract --include=<the packages our lock lists>`` (download and unpack, no
maintainer scripts: the same work) from the same mirrors, interleaved, ``--runs`` times each;
medians of wall time, CPU time (user + system of the process and its children) and peak RSS,
all read by ``wait4`` from this parent (which starts them with vfork: its own pages are not
counted). Each round also builds warm (the cache of ``XDG_CACHE_HOME`` as given, so only
the indexes are checked and loaded) for its wall time and peak RSS; ``--baseline-src DIR``
adds cold and warm builds of another source tree (``git archive`` of main, say) for before/after
figures from the same run. Bytecode is compiled first, as pip would on install.

Run from the repository root: ``.venv/bin/python bench/bench_build.py [--runs N] [--cold]
[--baseline-src DIR]``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, compile_scratchpack

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


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float


def measured(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run ``argv`` to its end; wall time, and CPU and peak RSS from ``wait4`` (the child and
    the children it waited for), so this parent's own memory is not counted."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {err.decode(errors='replace')[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def mirrors() -> list[str]:
    """The machine's bookworm apt sources as one-line entries, the ones our build reads."""
    from scratchpack.debian.sources import system_sources

    lines = []
    for source in system_sources():
        if source.suite == "bookworm" or source.suite.startswith("bookworm-"):
            lines.append(f"deb {source.uri} {source.suite} {' '.join(source.components)}")
    return lines


def _with_src(env: dict[str, str], src: Path | None) -> dict[str, str]:
    return env if src is None else {**env, "PYTHONPATH": str(src)}


def cold(runs: int, baseline: Path | None) -> int:
    presets = ("static", "cc", "python3")
    kinds = ["ours", "warm", "mmdebstrap"] + (["before", "before warm"] if baseline else [])
    results: dict[str, dict[str, list[Run]]] = {p: {k: [] for k in kinds} for p in presets}
    counts = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        for preset in presets:  # the package list mmdebstrap is given: what our lock holds
            build(preset, work)
            lock = json.loads((work / f"{preset}.lock.json").read_text())
            counts[preset] = [p["name"] for p in lock["packages"]]
        for _ in range(runs):
            for preset in presets:
                cache = Path(tempfile.mkdtemp(prefix="cold.", dir=work))
                cold_env = {**os.environ, "XDG_CACHE_HOME": str(cache / "xdg")}
                sides: list[tuple[str, Path | None, dict[str, str]]] = [
                    ("ours", None, cold_env),
                    ("warm", None, dict(os.environ)),
                ]
                if baseline:
                    sides += [("before", baseline, {**cold_env, "XDG_CACHE_HOME":
                                                    str(cache / "xdg-before")}),
                              ("before warm", baseline, dict(os.environ))]  # fmt: skip
                for kind, src, env in sides:
                    out = cache / f"out-{kind.replace(' ', '-')}"
                    results[preset][kind].append(measured(
                        [str(BIN / "scratchpack"), "build", "--preset", preset, "-q",
                         "-o", f"oci:{out}:latest", "--lock", str(out) + ".lock.json"],
                        env=_with_src(env, src), cwd=work))  # fmt: skip
                    subprocess.run(["rm", "-rf", str(out)], check=True)
                target = cache / "root.tar"
                results[preset]["mmdebstrap"].append(measured(
                    ["mmdebstrap", "--quiet", "--variant=extract", "--format=tar",
                     f"--include={','.join(counts[preset])}", "bookworm", str(target),
                     *mirrors()], cwd=work))  # fmt: skip
                subprocess.run(["rm", "-rf", str(cache)], check=True)
    print()
    print(f"## build, cold cache ({runs} interleaved runs each; medians)")
    print()
    print("| preset | packages | ours wall (s) | mmdebstrap wall (s) | ratio | ours CPU (s) | "
          "mmdebstrap CPU (s) | ours RSS (MB) | mmdebstrap RSS (MB) | ours warm wall (s) | "
          "ours warm RSS (MB) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def med(rs: list[Run], attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in rs))

    for preset in presets:
        ours, peer = results[preset]["ours"], results[preset]["mmdebstrap"]
        warm = results[preset]["warm"]
        print(f"| {preset} | {len(counts[preset])} | {med(ours, 'wall'):.2f} | "
              f"{med(peer, 'wall'):.2f} | {med(ours, 'wall') / med(peer, 'wall'):.2f}x | "
              f"{med(ours, 'cpu'):.2f} | {med(peer, 'cpu'):.2f} | {med(ours, 'rss_mb'):.0f} | "
              f"{med(peer, 'rss_mb'):.0f} | {med(warm, 'wall'):.2f} | "
              f"{med(warm, 'rss_mb'):.0f} |")  # fmt: skip
    if baseline:
        print()
        print(f"Before ({baseline}), same rounds:")
        print()
        print("| preset | cold wall (s) | cold CPU (s) | cold RSS (MB) | warm wall (s) | "
              "warm RSS (MB) |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|")
        for preset in presets:
            before, warm = results[preset]["before"], results[preset]["before warm"]
            print(f"| {preset} | {med(before, 'wall'):.2f} | {med(before, 'cpu'):.2f} | "
                  f"{med(before, 'rss_mb'):.0f} | {med(warm, 'wall'):.2f} | "
                  f"{med(warm, 'rss_mb'):.0f} |")  # fmt: skip
    print()
    print(f"- nproc {os.cpu_count()}, kernel {platform.release()}, Python "
          f"{platform.python_version()}; load average before {load_before[0]:.2f}, "
          f"after {os.getloadavg()[0]:.2f}")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=3, help="timed builds per preset (3)")
    parser.add_argument("--cold", action="store_true",
                        help="empty cache, against mmdebstrap (see above)")  # fmt: skip
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="with --cold: also build from this src/ (before/after)")  # fmt: skip
    args = parser.parse_args()
    os.chdir(ROOT)
    compile_scratchpack()  # or every timed process would compile every module it imports
    if args.baseline_src is not None and not compileall.compile_dir(args.baseline_src, quiet=1):
        raise SystemExit(f"cannot compile {args.baseline_src}")
    if args.cold:
        return cold(args.runs, args.baseline_src)
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
