"""Benchmark ``scratchpack db import`` and ``scratchpack scan --sbom`` (issue 16 item 7): the
import of a synthetic OSV export of ``--records`` advisories (default 100,000, spread over
Debian:12, PyPI, npm, Go, crates.io and Alpine:v3.19, several per package, as the real exports
are) and the scan of a CycloneDX SBOM of ``--packages`` packages (default 500) against it.

grype and trivy are compared when installed (they are not expected to be: neither is packaged
on PyPI or Debian 12, and both need their own database, downloaded from the network). Without
them the floor is SQLite itself: the same lookups by (ecosystem, name) as scan makes, in one
process, without the version comparisons, the start-up or the report. Run from the repository
root: ``.venv/bin/python bench/bench_scan.py [--records N] [--packages N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ECOSYSTEMS = ("Debian:12", "PyPI", "npm", "Go", "crates.io", "Alpine:v3.19")
PURL = {"Debian:12": "deb", "PyPI": "pypi", "npm": "npm", "Go": "golang", "crates.io": "cargo",
        "Alpine:v3.19": "apk"}  # fmt: skip


def version(ecosystem: str, rng: random.Random) -> str:
    major, minor, patch = rng.randrange(5), rng.randrange(20), rng.randrange(30)
    if ecosystem == "Debian:12":
        return f"{major}.{minor}.{patch}-{rng.randrange(1, 5)}+deb12u{rng.randrange(1, 9)}"
    if ecosystem == "Alpine:v3.19":
        return f"{major}.{minor}.{patch}-r{rng.randrange(5)}"
    return f"{major}.{minor}.{patch}"


def names(count: int) -> dict[str, list[str]]:
    rng = random.Random(7)
    return {eco: [f"pkg{n}-{rng.randrange(1 << 20):x}" for n in range(count // len(ECOSYSTEMS))]
            for eco in ECOSYSTEMS}  # fmt: skip


def write_export(path: Path, records: int, pool: dict[str, list[str]]) -> None:
    """An osv.dev-style all.zip: one ID.json per advisory, each with one or two ranges."""
    rng = random.Random(1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(records):
            ecosystem = ECOSYSTEMS[n % len(ECOSYSTEMS)]
            name = rng.choice(pool[ecosystem])
            events = [{"introduced": "0"}, {"fixed": version(ecosystem, rng)}]
            doc = {
                "id": f"SYN-{n:07d}", "modified": f"2026-11-{1 + n % 28:02d}T00:00:00Z",
                "aliases": [f"CVE-2026-{n:05d}"], "summary": f"synthetic advisory {n} for {name}",
                "severity": [{"type": "CVSS_V3",
                              "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
                "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                              "ranges": [{"type": "ECOSYSTEM" if ecosystem in ("Debian:12",
                                          "PyPI", "Alpine:v3.19") else "SEMVER",
                                          "events": events}]}],
            }  # fmt: skip
            archive.writestr(f"SYN-{n:07d}.json", json.dumps(doc))


def write_sbom(path: Path, packages: int, pool: dict[str, list[str]]) -> None:
    rng = random.Random(2)
    components = []
    for n in range(packages):
        ecosystem = ECOSYSTEMS[n % len(ECOSYSTEMS)]
        name = rng.choice(pool[ecosystem])
        kind = PURL[ecosystem]
        distro = {"deb": "?distro=debian-12", "apk": "?distro=alpine-3.19.1"}.get(kind, "")
        installed = version(ecosystem, rng)
        components.append({"type": "library", "name": name, "version": installed,
                           "purl": f"pkg:{kind}/{name}@{installed}{distro}"})  # fmt: skip
    path.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                                "components": components}))  # fmt: skip


def run(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed: {argv}\n{proc.stderr[-2000:]}")
    return elapsed


def sqlite_floor(db: Path, sbom: Path, runs: int) -> float:
    """The lookups alone: one indexed query per package, in this process."""
    components = json.loads(sbom.read_text())["components"]
    ecosystem_of = {v: k for k, v in PURL.items()}
    keys = [(ecosystem_of[c["purl"][4:].split("/", 1)[0]], c["name"]) for c in components]
    times = []
    for _ in range(runs):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        start = time.perf_counter()
        for ecosystem, name in keys:
            conn.execute("SELECT a.id, f.data FROM affected f JOIN advisory a ON a.id = "
                         "f.advisory WHERE f.ecosystem = ? AND f.name = ?",
                         (ecosystem, name)).fetchall()  # fmt: skip
        times.append(time.perf_counter() - start)
        conn.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--packages", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scratchpack = [sys.executable, "-m", "scratchpack"]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = Path(tmp)
        pool = names(max(args.records // 4, len(ECOSYSTEMS)))
        export, sbom, db = work / "all.zip", work / "sbom.cdx.json", work / "vulns.db"
        write_export(export, args.records, pool)
        write_sbom(sbom, args.packages, pool)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        imports = [run([*scratchpack, "db", "import", str(export), "--db", str(db)])
                   for _ in range(max(1, args.runs // 2))]  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        scan = [*scratchpack, "scan", "--sbom", str(sbom), "--db", str(db), "--format", "json",
                "--max-db-age", "100000"]  # fmt: skip
        run(scan)  # warm the page cache
        scans = [run(scan) for _ in range(args.runs)]
        version = [run([*scratchpack, "--version"]) for _ in range(args.runs)]
        floor = sqlite_floor(db, sbom, args.runs)
        result = subprocess.run(scan, capture_output=True, text=True, check=False,
                                env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
        found = len(json.loads(result.stdout)["matches"])
        print(f"export: {args.records:,} advisories, {export.stat().st_size / 1e6:.1f} MB zip; "
              f"database {db.stat().st_size / 1e6:.1f} MB; SBOM: {args.packages} packages, "
              f"{found} matches; load {os.getloadavg()[0]:.2f}")  # fmt: skip
        print()
        print("| case | median s | notes |")
        print("|---|---:|---|")
        print(f"| db import ({args.records:,} records) | {statistics.median(imports):.2f} | "
              f"{args.records / statistics.median(imports):,.0f} records/s; peak RSS "
              f"{max(peak, before) / 1024:.0f} MB |")  # fmt: skip
        print(
            f"| scan --sbom ({args.packages} packages) | {statistics.median(scans):.3f} | "
            "whole process, JSON report |"
        )
        print(f"| scratchpack --version | {statistics.median(version):.3f} | start-up floor |")
        print(f"| SQLite lookups alone | {floor:.4f} | {args.packages} indexed queries, "
              "in-process: the floor |")  # fmt: skip
        for peer in ("grype", "trivy"):
            state = "installed: not run" if shutil.which(peer) else "not installed"
            print(f"| {peer} | - | {state} |")


if __name__ == "__main__":
    main()
