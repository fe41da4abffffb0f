"""Shared plumbing for the benchmarks: the tool environment, timing, and the result table."""

from __future__ import annotations

import compileall
import gzip
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("SCRATCHPACK_TEST_ENV", "/tmp/scratchpack-test-env"))
SCRATCHPACK = [sys.executable, "-m", "scratchpack"]


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


def compile_scratchpack() -> None:
    """Compile scratchpack's modules to bytecode, as pip does on install: an editable install
    under ``PYTHONDONTWRITEBYTECODE`` (set on these machines) has none, so every timed process
    would otherwise recompile every module it imports and the bench would time the compiler."""
    import scratchpack

    for directory in scratchpack.__path__:
        if not compileall.compile_dir(directory, quiet=1):
            raise SystemExit(f"cannot compile {directory}")


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


def timed_pair(
    ours: Callable[[], object],
    peer: Callable[[], object],
    runs: int,
    reset_ours: Callable[[], object],
    reset_peer: Callable[[], object],
) -> tuple[list[float], list[float]]:
    """Time two tools interleaved, alternating which goes first (ABBA), after one warm-up each,
    so that drift during the run (page cache, the registry's state) falls on both alike.
    Before each timed run the output is reset and ``sync`` runs (untimed): nobody pays for
    the writeback of the run before."""
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    steps = {"ours": (ours, reset_ours), "peer": (peer, reset_peer)}
    for name in ("ours", "peer"):
        fn, reset = steps[name]
        reset()
        fn()
    for n in range(runs):
        order = ("ours", "peer") if n % 2 == 0 else ("peer", "ours")
        for name in order:
            fn, reset = steps[name]
            reset()
            os.sync()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times["ours"], times["peer"]


def reset_path(path: Path) -> Callable[[], None]:
    def reset() -> None:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    return reset


def tool_env() -> tuple[dict[str, str], bool]:
    """The provisioned environment (started here if needed; True if so)."""
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


def stop_env(started: bool) -> None:
    if started:
        subprocess.run([str(ROOT / "scripts/provision-test-env"), "down"], check=False)


def binary_like_bytes(size: int) -> bytes:
    """Real binaries from this machine, concatenated: compresses like an application."""
    out = bytearray()
    for directory in ("/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib"):
        for path in sorted(Path(directory).glob("*")):
            if len(out) >= size:
                return bytes(out[:size])
            if path.is_file() and not path.is_symlink() and path.stat().st_size > 100_000:
                out += path.read_bytes()
    return bytes(out[:size])


def print_table(cases: list[Case], runs: int) -> None:
    print()
    print(
        f"{runs} timed runs each after one warm-up (interleaved where both tools run); "
        "medians in seconds; ratio = ours / peer"
    )
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
    for cmd in (
        ["docker", "version", "--format", "{{.Server.Version}}"],
        ["buildah", "--version"],
        ["skopeo", "--version"],
    ):
        if shutil.which(cmd[0]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            lines.append(f"- {cmd[0]}: {proc.stdout.strip() or proc.stderr.strip()[:80]}")
    lines.append(f"- gzip: {sh(['gzip', '--version']).splitlines()[0]}")
    return lines


def layout_sizes(layout: Path) -> tuple[int, int]:
    """An OCI layout's one image: stored bytes (its layers as a registry holds them) and
    uncompressed bytes (gzip, zstd or plain layers)."""
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_text())
    stored = sum(layer["size"] for layer in manifest["layers"])
    raw = 0
    for layer in manifest["layers"]:
        data = (layout / "blobs/sha256" / layer["digest"].split(":")[1]).read_bytes()
        if layer["mediaType"].endswith("+zstd"):
            import zstandard  # only for zstd layers

            reader = zstandard.ZstdDecompressor().stream_reader(
                io.BytesIO(data), read_across_frames=True
            )
            raw += len(reader.read())  # pack writes one frame per 4 MiB chunk
        elif layer["mediaType"].endswith("+gzip"):
            raw += len(gzip.decompress(data))
        else:
            raw += len(data)
    return stored, raw
