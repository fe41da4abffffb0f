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
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import (
    SCRATCHPACK,
    Case,
    binary_like_bytes,
    machine_info,
    print_table,
    reset_path,
    sh,
    stop_env,
    timed,
    tool_env,
)

BARE = ["--tz", "none", "--no-certs"]


def make_binary(work: Path, size: int) -> Path:
    """A static ELF with real binaries appended: pack accepts it and it compresses like one."""
    source = work / "main.c"
    source.write_text('#include <stdio.h>\nint main(void){puts("big");return 0;}\n')
    binary = work / "big"
    sh(["gcc", "-static", "-Os", "-o", str(binary), str(source)])
    with binary.open("ab") as out:
        out.write(binary_like_bytes(size - binary.stat().st_size))
    return binary


def pack(binary: Path, dest: str, *extra: str) -> Callable[[], object]:
    return lambda: sh([*SCRATCHPACK, "pack", str(binary), "-o", dest, *BARE, "--force", *extra])


def blobs_size(layout: Path) -> int:
    return sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())


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
        stop_env(started)

    print_table(cases, args.runs)
    print()
    print("\n".join(machine_info(env)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
