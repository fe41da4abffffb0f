"""Benchmark ``scratchpack pack`` against the tools people use for the same job.

Same work, same run, medians, ratio = ours / peer (lower is better):

* ``pack -o docker-archive:`` vs ``docker build`` (legacy, FROM scratch + COPY) + ``docker save``
* ``pack -o oci: --compression none`` vs buildah (from scratch, copy, commit to ``oci:``)
* ``pack -o oci:`` (gzip 6) vs the one-core floor ``gzip -6 | sha256sum``
* ``pack --compression zstd`` next to gzip

The input is a static ELF with real binaries appended (so it compresses like a binary).
Run: ``.venv/bin/python bench/bench_pack.py [--runs N] [--size-mb N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("SCRATCHPACK_TEST_ENV", "/tmp/scratchpack-test-env"))
SCRATCHPACK = [sys.executable, "-m", "scratchpack"]
BARE = ["--tz", "none", "--no-certs"]


@dataclass
class Case:
    name: str
    ours: list[float]
    peer: list[float] | None
    target: float | None
    size: int

    @property
    def ratio(self) -> float | None:
        if not self.peer:
            return None
        return statistics.median(self.ours) / statistics.median(self.peer)


def sh(cmd: list[str] | str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, shell=isinstance(cmd, str), env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {cmd}\n{proc.stderr[-2000:]}")
    return proc.stdout


def timed(fn: Callable[[], object], runs: int, reset: Callable[[], object]) -> list[float]:
    """Warm once (not counted), then ``runs`` timed repetitions with a reset before each."""
    reset()
    fn()
    times = []
    for _ in range(runs):
        reset()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def make_binary(work: Path, size: int) -> Path:
    source = work / "main.c"
    source.write_text('#include <stdio.h>\nint main(void){puts("big");return 0;}\n')
    binary = work / "big"
    sh(["gcc", "-static", "-Os", "-o", str(binary), str(source)])
    with binary.open("ab") as out:
        written = binary.stat().st_size
        for directory in ("/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib"):
            for path in sorted(Path(directory).glob("*")):
                if written >= size:
                    break
                if path.is_file() and not path.is_symlink() and path.stat().st_size > 100_000:
                    data = path.read_bytes()[: size - written]
                    out.write(data)
                    written += len(data)
    return binary


def tool_env() -> tuple[dict[str, str], bool]:
    env_file = STATE / "env"
    started = False
    if not env_file.exists():
        sh([str(ROOT / "scripts/provision-test-env"), "up"])
        started = True
    env = dict(os.environ)
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
    return env, started


def reset_path(path: Path) -> Callable[[], None]:
    def reset() -> None:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    return reset


def pack(binary: Path, dest: str, *extra: str) -> Callable[[], object]:
    return lambda: sh([*SCRATCHPACK, "pack", str(binary), "-o", dest, *BARE, "--force", *extra])


def blobs_size(layout: Path) -> int:
    return sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())


def machine_info(env: dict[str, str]) -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    lines = [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {int(mem) // 1024 // 1024} GiB",
        f"- kernel {platform.release()}, Python {platform.python_version()}",
    ]
    for cmd in (["docker", "version", "--format", "{{.Server.Version}}"], ["buildah", "--version"]):
        if shutil.which(cmd[0]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            lines.append(f"- {cmd[0]}: {proc.stdout.strip() or proc.stderr.strip()[:80]}")
    lines.append(f"- gzip: {sh(['gzip', '--version']).splitlines()[0]}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--skip-docker", action="store_true")
    parser.add_argument("--skip-buildah", action="store_true")
    args = parser.parse_args()
    env, started = tool_env()
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DOCKER", "CONTAINERS"))})
    cases: list[Case] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
            work = Path(tmp)
            binary = make_binary(work, args.size_mb * 1_000_000)
            print(f"input: {binary.stat().st_size / 1e6:.1f} MB static ELF + appended binaries")
            runs = args.runs

            archive = work / "ours.tar"
            ours = timed(
                pack(binary, f"docker-archive:{archive}:bench:1"), runs, reset_path(archive)
            )
            peer = None
            if not args.skip_docker:
                ctx = work / "ctx"
                ctx.mkdir()
                os.link(binary, ctx / "big")
                (ctx / "Dockerfile").write_text("FROM scratch\nCOPY big /big\n")
                saved = work / "docker.tar"

                def docker_build_save() -> None:
                    sh(["docker", "build", "--no-cache", "-q", "-t", "bench-peer:1", str(ctx)], env)
                    sh(["docker", "save", "-o", str(saved), "bench-peer:1"], env)

                def docker_reset() -> None:
                    reset_path(saved)()
                    subprocess.run(
                        ["docker", "rmi", "-f", "bench-peer:1"],
                        env=env,
                        capture_output=True,
                        check=False,
                    )

                peer = timed(docker_build_save, runs, docker_reset)
            cases.append(
                Case("archive: pack vs docker build+save", ours, peer, 0.5, archive.stat().st_size)
            )

            plain = work / "plain"
            ours = timed(
                pack(binary, f"oci:{plain}:1", "--compression", "none"), runs, reset_path(plain)
            )
            peer = None
            if not args.skip_buildah:
                theirs = work / "buildah"

                def buildah_commit() -> None:
                    ctr = sh(["buildah", "from", "scratch"], env).strip()
                    sh(["buildah", "copy", ctr, str(binary), "/big"], env)
                    sh(["buildah", "commit", "-q", ctr, f"oci:{theirs}:1"], env)
                    sh(["buildah", "rm", ctr], env)

                peer = timed(buildah_commit, runs, reset_path(theirs))
            cases.append(
                Case("oci none: pack vs buildah commit", ours, peer, 0.5, blobs_size(plain))
            )

            gz = work / "gzip"
            ours = timed(pack(binary, f"oci:{gz}:1"), runs, reset_path(gz))
            floor = timed(lambda: sh(f"gzip -6 < {binary} | sha256sum"), runs, lambda: None)
            gzip_size = int(sh(f"gzip -6 < {binary} | wc -c").strip())
            cases.append(
                Case("oci gzip-6: pack vs gzip -6 \\| sha256sum", ours, floor, 0.6, blobs_size(gz))
            )
            print(f"(gzip -6 of the same bytes: {gzip_size / 1e6:.1f} MB)")

            zs = work / "zstd"
            ours = timed(pack(binary, f"oci:{zs}:1", "--compression", "zstd"), runs, reset_path(zs))
            gzip_median = statistics.median(cases[-1].ours)
            cases.append(
                Case("oci zstd-3: pack (vs pack gzip)", ours, [gzip_median], None, blobs_size(zs))
            )

            full = work / "full"
            ours = timed(
                lambda: sh([*SCRATCHPACK, "pack", str(binary), "-o", f"oci:{full}:1", "--force"]),
                runs,
                reset_path(full),
            )
            cases.append(
                Case(
                    "oci gzip-6 with essentials (all zones, CA)", ours, None, None, blobs_size(full)
                )
            )
    finally:
        if started:
            subprocess.run([str(ROOT / "scripts/provision-test-env"), "down"], check=False)

    print()
    print(f"{args.runs} timed runs each after one warm-up; medians in seconds; ratio = ours / peer")
    print()
    print("| case | ours (s) | peer (s) | ratio | target | verdict | output |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for case in cases:
        ours_m = statistics.median(case.ours)
        peer_m = f"{statistics.median(case.peer):.2f}" if case.peer else "-"
        ratio = f"{case.ratio:.2f}x" if case.ratio is not None else "-"
        target = f"<= {case.target}x" if case.target else "-"
        if case.target and case.ratio is not None:
            verdict = "met" if case.ratio <= case.target else "MISSED"
        else:
            verdict = "-"
        print(
            f"| {case.name} | {ours_m:.2f} | {peer_m} | {ratio} | {target} | {verdict} | "
            f"{case.size / 1e6:.1f} MB |"
        )
    print()
    print("\n".join(machine_info(env)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
