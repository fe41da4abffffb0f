"""Benchmark ``scratchpack pack`` against the tools people use for the same job.

Same work, same run, medians, ratio = ours / peer (lower is better):

* ``pack -o docker-archive:`` vs ``docker build`` (legacy builder, ``FROM scratch`` + ``COPY``,
  ``--no-cache``) + ``docker save -o``; both write uncompressed layers. Target <= 0.5x.
* ``pack -o oci: --compression none`` vs buildah (``from scratch``, ``copy``, ``commit`` to
  ``oci:DIR:TAG``, ``rm``). Target <= 0.5x.
* ``pack -o oci:`` (gzip, its default) vs buildah as above (its default for ``oci:``:
  uncompressed), issue 17's case for a 5 MB binary (``--size-mb 5``). Target <= 0.8x.
* ``pack -o oci:`` (gzip level 6) vs the one-core floor ``gzip -6 < file | sha256sum``.
  Target <= 0.6x.
* ``pack --compression zstd`` next to ``pack`` gzip, and ``pack`` with the default essentials.

The input is a static ELF (``gcc -static``) with real binaries from this machine appended, so
pack accepts it and it compresses like an application. Comparisons use ``--tz none --no-certs``
so that both sides do exactly "one file into an image". Tools that are compared are timed
interleaved, run by run, with the order rotating, after one untimed warm-up each; every timed
run starts from an empty output and with no dirty pages left by the previous run (``sync``).

Run from the repository root: ``.venv/bin/python bench/bench_pack.py [--runs N] [--size-mb N]
[--skip-docker] [--skip-buildah]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    ROOT,
    STATE,
    binary_like_bytes,
    compile_scratchpack,
    reset_path,
    sh,
    stop_env,
    tool_env,
)

# The console script a user runs (same interpreter start-up as theirs).
SCRATCHPACK = [str(Path(sys.executable).parent / "scratchpack")]
BARE = ["--tz", "none", "--no-certs"]
PEER_TAG = "scratchpack-bench-peer:1"
# The start-up floor of any pack: the interpreter alone, and the interpreter importing what
# pack of a static binary to oci: imports (tests/test_startup.py lists it), doing nothing.
FLOOR_PASS = [sys.executable, "-c", "pass"]
FLOOR_IMPORTS = [sys.executable, "-c", "import scratchpack.cli.main, scratchpack.cli.progress, "
                 "scratchpack.cli.pack, scratchpack.operations.pack.binary, "
                 "scratchpack.transports.oci_layout"]  # fmt: skip


@dataclass
class Step:
    """One thing to time: ``run`` after ``reset``; ``size`` measures its output afterwards."""

    label: str
    run: Callable[[], object]
    reset: Callable[[], object]
    size: Callable[[], int]
    daemon_pid: int | None = None  # CPU done on the tool's behalf by a daemon (dockerd)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    output: int = 0  # bytes written by the last run

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


@dataclass
class Row:
    case: str
    ours: Step
    peer: Step | None
    target: float | None

    @property
    def ratio(self) -> float | None:
        return self.ours.median / self.peer.median if self.peer else None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | None) -> float:
    """user + system seconds of a process (all its threads) from /proc; 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_interleaved(steps: list[Step], runs: int) -> None:
    """Warm each step once, then ``runs`` rounds; round n starts at step n mod len(steps), so
    that drift over the run (page cache, writeback, the daemon's state) falls on all alike."""
    for step in steps:
        step.reset()
        step.run()
    for n in range(runs):
        for k in range(len(steps)):
            step = steps[(n + k) % len(steps)]
            step.reset()
            os.sync()  # the previous run's writeback is not charged to this one
            cpu0, daemon0 = children_cpu(), process_cpu(step.daemon_pid)
            start = time.perf_counter()
            step.run()
            step.wall.append(time.perf_counter() - start)
            step.cpu.append(
                children_cpu() - cpu0 + process_cpu(step.daemon_pid) - daemon0,
            )
        print(
            f"  round {n + 1}/{runs}: " + ", ".join(f"{s.label} {s.wall[-1]:.2f}s" for s in steps)
        )
    for step in steps:
        step.output = step.size()


def make_binary(work: Path, size: int) -> Path:
    """A static ELF with real binaries appended: pack accepts it, it compresses like one."""
    source = work / "main.c"
    source.write_text('#include <stdio.h>\nint main(void){puts("big");return 0;}\n')
    binary = work / "big"
    sh(["gcc", "-static", "-Os", "-o", str(binary), str(source)])
    with binary.open("ab") as out:
        out.write(binary_like_bytes(size - binary.stat().st_size))
    if sh([str(binary)]).strip() != "big":
        raise SystemExit(f"{binary} no longer runs after appending data")
    return binary


def pack_cmd(binary: Path, dest: str, *extra: str) -> list[str]:
    return [*SCRATCHPACK, "pack", str(binary), "-o", dest, "--force", *extra]


def check_input(binary: Path, work: Path) -> None:
    """pack accepts the file as a static ELF and puts all of it in the app layer."""
    out = work / "check"
    report = json.loads(sh(pack_cmd(binary, f"oci:{out}:1", *BARE, "--format", "json")))
    app = report["layers"][1]
    if report["binary"]["linkage"] != "static" or app["uncompressed_size"] < binary.stat().st_size:
        raise SystemExit(f"unexpected pack report: {json.dumps(report)[:1000]}")
    print(
        f"input: {binary.stat().st_size / 1e6:.1f} MB, linkage {report['binary']['linkage']}, "
        f"app layer {app['uncompressed_size'] / 1e6:.1f} MB uncompressed"
    )
    shutil.rmtree(out)


def blobs_size(layout: Path) -> int:
    return sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())


def file_size(path: Path) -> Callable[[], int]:
    return lambda: path.stat().st_size


def layout_size(path: Path) -> Callable[[], int]:
    return lambda: blobs_size(path)


def check_archive(path: Path, expected: int, who: str) -> None:
    """A docker-save archive whose layers hold a regular file of ``expected`` bytes."""
    with tarfile.open(path) as outer:
        handle = outer.extractfile("manifest.json")
        if handle is None:
            raise SystemExit(f"{who}: {path} has no manifest.json")
        for name in json.load(handle)[0]["Layers"]:
            handle = outer.extractfile(name)
            if handle is None:
                continue
            with tarfile.open(fileobj=handle) as layer:
                files = [m for m in layer.getmembers() if m.isfile()]
                if any(m.size == expected for m in files):
                    return
    raise SystemExit(f"{who}: {path} has no layer holding the {expected}-byte file")


def check_layout(path: Path, expected: int, who: str) -> None:
    """An OCI layout with an uncompressed layer holding a file of ``expected`` bytes."""
    blobs = path / "blobs/sha256"
    index = json.loads((path / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    for layer in manifest["layers"]:
        if not layer["mediaType"].endswith(".tar"):
            raise SystemExit(f"{who}: layer is {layer['mediaType']}, not uncompressed")
    for layer in manifest["layers"]:
        with tarfile.open(blobs / layer["digest"].split(":")[1]) as tar:
            if any(m.isfile() and m.size == expected for m in tar.getmembers()):
                return
    raise SystemExit(f"{who}: {path} has no layer holding the {expected}-byte file")


def docker_steps(binary: Path, work: Path, env: dict[str, str]) -> tuple[Step, Step]:
    archive = work / "ours.tar"
    ours = Step(
        "pack archive",
        lambda: sh(pack_cmd(binary, f"docker-archive:{archive}:bench:1", *BARE)),
        reset_path(archive),
        file_size(archive),
    )
    # The build context holds only the file; the Dockerfile is passed with -f from outside.
    ctx = work / "ctx"
    ctx.mkdir()
    os.link(binary, ctx / "big")
    dockerfile = work / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY big /big\n")
    saved = work / "docker.tar"
    docker_env = {**env, "DOCKER_BUILDKIT": "0"}

    def build_save() -> None:
        build = ["docker", "build", "--no-cache", "-q", "-f", str(dockerfile), "-t", PEER_TAG]
        sh([*build, str(ctx)], docker_env)
        sh(["docker", "save", "-o", str(saved), PEER_TAG], docker_env)

    def reset() -> None:
        reset_path(saved)()
        subprocess.run(
            ["docker", "rmi", "-f", PEER_TAG], env=docker_env, capture_output=True, check=False
        )

    pid_file = STATE / "docker.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    peer = Step("docker build+save", build_save, reset, file_size(saved), daemon_pid=pid)
    return ours, peer


def buildah_steps(binary: Path, work: Path, env: dict[str, str]) -> tuple[Step, Step]:
    plain = work / "plain"
    ours = Step(
        "pack oci none",
        lambda: sh(pack_cmd(binary, f"oci:{plain}:1", *BARE, "--compression", "none")),
        reset_path(plain),
        layout_size(plain),
    )
    theirs = work / "buildah"

    def commit() -> None:
        ctr = sh(["buildah", "from", "scratch"], env).strip()
        sh(["buildah", "copy", "-q", ctr, str(binary), "/big"], env)
        sh(["buildah", "commit", "-q", ctr, f"oci:{theirs}:1"], env)
        sh(["buildah", "rm", ctr], env)

    peer = Step("buildah", commit, reset_path(theirs), layout_size(theirs))
    return ours, peer


def fmt_mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def print_table(rows: list[Row], runs: int) -> None:
    print()
    print(
        f"{runs} timed runs per tool after one warm-up, interleaved with the peer; "
        "medians in seconds; ratio = ours / peer"
    )
    print()
    print("| case | ours (s) | peer (s) | ratio | target | verdict | output size (ours / peer) |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for row in rows:
        peer = f"{row.peer.median:.2f}" if row.peer else "-"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        target = f"<= {row.target}x" if row.target else "-"
        verdict = "-"
        if row.target and row.ratio is not None:
            verdict = "met" if row.ratio <= row.target else "**MISSED**"
        size = fmt_mb(row.ours.output)
        if row.peer:
            size += f" / {fmt_mb(row.peer.output)}"
        print(
            f"| {row.case} | {row.ours.median:.2f} | {peer} | {ratio} | {target} | {verdict} "
            f"| {size} |"
        )


def print_details(steps: list[Step]) -> None:
    print()
    print("| tool | all runs (s) | min | max | CPU user+sys (s, median) |")
    print("|---|---|---:|---:|---:|")
    for step in steps:
        runs = " ".join(f"{t:.2f}" for t in step.wall)
        label = step.label.replace("|", "\\|")
        print(
            f"| {label} | {runs} | {min(step.wall):.2f} | {max(step.wall):.2f} "
            f"| {step.cpu_median:.2f} |"
        )
    print("(CPU: the command and its children; for docker also dockerd's own CPU time)")


def version(cmd: list[str], env: dict[str, str]) -> str:
    if not shutil.which(cmd[0]):
        return "not installed"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    out = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return out[0] if out else "?"


def machine_info(env: dict[str, str], work: Path, use_docker: bool, use_buildah: bool) -> None:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?"
    )
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kib = int(next(ln for ln in meminfo if ln.startswith("MemTotal")).split()[1])
    fs = sh(["df", "--output=fstype", str(work)]).split()[-1]
    print(f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"- nproc: {sh(['nproc']).strip()}; CPU: {model}")
    print(f"- memory: {mem_kib / 1024 / 1024:.1f} GiB; kernel: {platform.release()}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"- work dir filesystem: {fs}; load average at the end: {load}")
    mods = ("scratchpack", "zlib-ng", "zstandard")
    print(
        f"- Python {platform.python_version()}; "
        + ", ".join(f"{m} {importlib.metadata.version(m)}" for m in mods)
    )
    if use_docker:
        server = version(["docker", "version", "--format", "{{.Server.Version}}"], env)
        driver = version(["docker", "info", "--format", "{{.Driver}}"], env)
        client = version(["docker", "version", "--format", "{{.Client.Version}}"], env)
        print(f"- dockerd {server} ({driver}, legacy builder), docker CLI {client}")
    if use_buildah:
        conf = env.get("CONTAINERS_STORAGE_CONF", "")
        driver = "?"
        if conf and Path(conf).exists():
            for line in Path(conf).read_text().splitlines():
                if line.strip().startswith("driver"):
                    driver = line.split("=", 1)[1].strip().strip('"')
        print(f"- {version(['buildah', '--version'], env)} (storage driver {driver})")
    print(f"- {version(['gzip', '--version'], env)}; {version(['sha256sum', '--version'], env)}")
    print(f"- {version(['gcc', '--version'], env)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per tool (default 7)")
    parser.add_argument("--size-mb", type=int, default=100, help="input size (default 100 MB)")
    parser.add_argument("--skip-docker", action="store_true")
    parser.add_argument("--skip-buildah", action="store_true")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    os.chdir(ROOT)
    compile_scratchpack()  # or every timed process would compile every module it imports
    use_docker, use_buildah = not args.skip_docker, not args.skip_buildah
    env, started = dict(os.environ), False
    if use_docker or use_buildah:
        env, started = tool_env()
    rows: list[Row] = []
    steps: list[Step] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
            work = Path(tmp)
            binary = make_binary(work, args.size_mb * 1_000_000)
            size = binary.stat().st_size
            check_input(binary, work)

            if use_docker:
                print("docker-archive: vs docker build + docker save")
                ours, peer = docker_steps(binary, work, env)
                time_interleaved([ours, peer], args.runs)
                check_archive(work / "ours.tar", size, "scratchpack")
                check_archive(work / "docker.tar", size, "docker")
                peer.reset()  # the image out of dockerd
                rows.append(Row("docker-archive: pack vs docker build+save", ours, peer, 0.5))
                steps += [ours, peer]

            if use_buildah:
                print("oci: --compression none vs buildah from/copy/commit/rm")
                ours, peer = buildah_steps(binary, work, env)
                time_interleaved([ours, peer], args.runs)
                check_layout(work / "plain", size, "scratchpack")
                check_layout(work / "buildah", size, "buildah")
                rows.append(Row("oci: none: pack vs buildah commit", ours, peer, 0.5))
                steps += [ours, peer]

                # issue 17's case: pack as users run it (gzip) against buildah as users run it
                # (its default for an oci: directory: uncompressed layers)
                print("oci: gzip (pack's default) vs buildah from/copy/commit/rm (its default)")
                gzb = work / "gzip-vs-buildah"
                ours = Step("pack gzip (vs buildah)",
                            lambda: sh(pack_cmd(binary, f"oci:{gzb}:1", *BARE)),
                            reset_path(gzb), layout_size(gzb))  # fmt: skip
                _, peer = buildah_steps(binary, work, env)
                peer.label = "buildah (vs pack gzip)"
                none = lambda: None  # noqa: E731
                floors = [Step("python -c pass", lambda: sh(FLOOR_PASS), none, lambda: 0),
                          Step("python -c 'import <pack's modules>'", lambda: sh(FLOOR_IMPORTS),
                               none, lambda: 0)]  # fmt: skip
                time_interleaved([ours, peer, *floors], args.runs)
                rows.append(Row("oci: gzip: pack vs buildah commit", ours, peer, 0.8))
                rows += [Row(f"(floor) {f.label} vs buildah", f, peer, None) for f in floors]
                steps += [ours, peer, *floors]

            print("oci: gzip / zstd / essentials vs gzip -6 | sha256sum")
            gz, zs, full = work / "gzip", work / "zstd", work / "full"
            gzip_size = int(sh(f"gzip -6 < {binary} | wc -c").strip())
            pack_gz = Step(
                "pack gzip",
                lambda: sh(pack_cmd(binary, f"oci:{gz}:1", *BARE)),
                reset_path(gz),
                layout_size(gz),
            )
            floor = Step(
                "gzip -6 | sha256sum",
                lambda: sh(f"gzip -6 < {binary} | sha256sum"),
                lambda: None,
                lambda: gzip_size,
            )
            pack_zs = Step(
                "pack zstd",
                lambda: sh(pack_cmd(binary, f"oci:{zs}:1", *BARE, "--compression", "zstd")),
                reset_path(zs),
                layout_size(zs),
            )
            pack_full = Step(
                "pack gzip + essentials",
                lambda: sh(pack_cmd(binary, f"oci:{full}:1")),
                reset_path(full),
                layout_size(full),
            )
            time_interleaved([pack_gz, floor, pack_zs, pack_full], args.runs)
            rows.append(Row("oci: gzip-6: pack vs gzip -6 \\| sha256sum", pack_gz, floor, 0.6))
            rows.append(Row("oci: zstd-3: pack zstd vs pack gzip", pack_zs, pack_gz, None))
            rows.append(
                Row("oci: gzip-6 + default essentials vs bare pack gzip", pack_full, pack_gz, None)
            )
            steps += [pack_gz, floor, pack_zs, pack_full]

            print()
            print(f"## pack, {size / 1e6:.1f} MB input (gzip -6 of it: {fmt_mb(gzip_size)})")
            print_table(rows, args.runs)
            print_details(steps)
            print()
            machine_info(env, work, use_docker, use_buildah)
    finally:
        stop_env(started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
