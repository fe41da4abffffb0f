"""Benchmark ``scratchpack copy`` against ``skopeo copy``: registry -> oci: and oci: -> registry.

The image has six gzip layers of binary-like data (840 MB uncompressed, about 300 MB stored).
Both tools talk to the same loopback registry in the same run; every push goes to a fresh
repository so that every blob is really uploaded, and every pull to an empty directory.
Run: ``.venv/bin/python bench/bench_copy.py [--runs N] [--layers N] [--layer-mb N]``.

``--speed`` instead runs issue 17's three registry cases against skopeo, interleaved, medians:
a push of one layer of ``--big-layer-mb`` (600) MB uncompressed to a fresh repository, a no-op
re-push of the default image to the repository that already holds every blob, and a pull of
``--small-layers`` (50) layers of 1 MB; wall and CPU seconds (user + system of the tool's
process; the registry's are not counted) and, for the big push, the PATCH requests each tool
sent (counted in the registry's log). Each case has a third tool in its rotation, its floor:
curl sending the same HTTP requests with nothing verified, hashed, fsynced or indexed (the
push's POST and one ``curl -T`` PUT of the blob, the re-push's ``/v2/``, blob and manifest
HEADs and tag PUT in one process, the pull's blob GETs ``--parallel`` 4 at a time); the
table prints curl / skopeo and ours / curl beside ours / skopeo.

``--scaling`` instead measures how a push and a pull scale with the layer size (``--sizes``,
10, 100, 1000 and 2000 MB by default; one gzip layer of random data each, so compression
changes nothing): wall time, CPU and peak RSS of our process (from ``wait4``, the bench being
the small parent), against the floors for the same blob: ``openssl dgst -sha256``, Python's
``hashlib.file_digest`` (a fresh interpreter), ``gzip -dc``, and a raw ``curl -T`` PUT of the
blob to the same registry (after an untimed POST that opens the upload) and a ``curl`` GET of
it into a file, the transfers with no verification, chunking or layout. The operations of each
run go in a rotated order, ``sync`` before each; medians.

``--progress-cost`` instead times our copy with progress against our copy with ``-q`` (issue
14: progress must cost < 2%): on a pseudo-terminal (rich bars, redrawn 5 times a second) and
off one (a plain line per step), both directions, the "peer" column being ``-q``; both sides
print the JSON summary, so they differ by progress alone; CPU times are printed too.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import os
import pty
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import (
    SCRATCHPACK,
    Case,
    binary_like_bytes,
    compile_scratchpack,
    machine_info,
    print_table,
    reset_path,
    sh,
    stop_env,
    timed_pair,
    tool_env,
)
from scratchpack.layers.compress import CompressingWriter
from scratchpack.layers.tarwriter import LayerContents, write_tar
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Manifest, canonical_json
from scratchpack.transports import oci_layout

SKOPEO_BLOB_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")


def make_layout(path: Path, layers: int, layer_bytes: int) -> int:
    """An OCI layout tagged ``bench`` with ``layers`` distinct gzip layers; returns its size."""
    data = binary_like_bytes(layers * layer_bytes)
    path.mkdir(parents=True)
    oci_layout.init_layout(path)
    blobs = path / "blobs/sha256"
    descriptors, diff_ids = [], []
    for n in range(layers):
        contents = LayerContents()
        contents.add_file(f"data/part{n}.bin", data=data[n * layer_bytes : (n + 1) * layer_bytes])
        tmp = blobs / "layer.tmp"
        with tmp.open("wb") as out:
            writer = CompressingWriter(out, "gzip")
            write_tar(contents, writer, 0)  # type: ignore[arg-type]
            blob = writer.finish()
        tmp.rename(blobs / blob.digest.hex)
        descriptors.append(Descriptor(mt.OCI_LAYER_GZIP, blob.digest, blob.size))
        diff_ids.append(str(blob.diff_id))
    config = canonical_json(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    )
    (blobs / Digest.of(config).hex).write_bytes(config)
    manifest = Manifest(
        Descriptor(mt.OCI_CONFIG, Digest.of(config), len(config)), tuple(descriptors)
    )
    data_m = manifest.to_bytes()
    (blobs / Digest.of(data_m).hex).write_bytes(data_m)
    oci_layout.set_tag(path, "bench", Descriptor(mt.OCI_MANIFEST, Digest.of(data_m), len(data_m)))
    return sum(d.size for d in descriptors)


def on_pty(cmd: list[str], env: dict[str, str]) -> None:
    """Run ``cmd`` with a pseudo-terminal as its stdio (so it draws its bars), reading all it
    draws as a terminal would."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(cmd[0], cmd, env)
    while True:
        ready, _, _ = select.select([fd], [], [], 5.0)
        if not ready:
            continue
        try:
            if not os.read(fd, 1 << 16):
                break
        except OSError:
            break
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed on a pty: {cmd}")


def child_cpu() -> float:
    """CPU seconds (user + system) used so far by waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def progress_cost(
    args: argparse.Namespace, env: dict[str, str], registry: str, cpu: dict[str, list[float]]
) -> list[Case]:
    """Our copy with progress (on a pty, and off one) against our copy with ``-q``; ``cpu``
    gets each run's CPU time by label (steadier than wall time on a loaded machine)."""
    counter = itertools.count()
    run_id = uuid.uuid4().hex[:8]
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        source = work / "source"
        size = make_layout(source, args.layers, args.layer_mb * 1_000_000)
        print(f"image: {args.layers} layers, {size / 1e6:.1f} MB compressed")
        seed = f"docker://{registry}/bench/{run_id}-seed:1"
        sh([*SCRATCHPACK, "copy", "-q", f"oci:{source}:bench", seed], env)
        pulled, quiet_dir = work / "pulled", work / "pulled-q"

        def fresh() -> str:
            return f"docker://{registry}/bench/{run_id}-{next(counter)}:1"

        for mode in ("pty", "plain"):
            # the -q run is in the same place (a pty, or a pipe), so only progress differs
            def run(cmd: list[str], mode: str = mode) -> None:
                before = child_cpu()
                on_pty(cmd, env) if mode == "pty" else sh(cmd, env)
                quiet = cmd[4] == "-q"
                direction = "push" if cmd[5 if quiet else 4].startswith("oci:") else "pull"
                label = f"{direction}, {mode}, {'-q' if quiet else 'progress'}"
                cpu.setdefault(label, []).append(child_cpu() - before)

            # --format json on both sides: the same summary (no rich for it), so the runs
            # differ by progress alone (a text summary on a terminal would load rich for -q too)
            def push(quiet: list[str]) -> Callable[[], None]:
                return lambda: run([*SCRATCHPACK, "copy", *quiet, f"oci:{source}:bench", fresh(),
                                    "--format", "json"])  # fmt: skip

            def pull(quiet: list[str], into: Path) -> Callable[[], None]:
                return lambda: run([*SCRATCHPACK, "copy", *quiet, seed, f"oci:{into}:1",
                                    "--format", "json"])  # fmt: skip

            ours, quiet = timed_pair(push([]), push(["-q"]), args.runs, lambda: None, lambda: None)
            cases.append(Case(f"oci: -> registry, progress ({mode}) vs -q", ours, quiet, 1.02,
                              size))  # fmt: skip
            ours, quiet = timed_pair(
                pull([], pulled),
                pull(["-q"], quiet_dir),
                args.runs,
                reset_path(pulled),
                reset_path(quiet_dir),
            )
            cases.append(Case(f"registry -> oci:, progress ({mode}) vs -q", ours, quiet, 1.02,
                              size))  # fmt: skip
    return cases


def count_patches(env: dict[str, str], repo: str) -> int:
    """PATCH requests the registry logged for ``repo`` so far (its access log names each)."""
    log = Path(env.get("SCRATCHPACK_TEST_REGISTRY_LOG", ""))
    if not log.is_file():
        return -1
    needle = f'"PATCH /v2/{repo}/blobs/uploads/'
    with log.open(errors="replace") as lines:
        return sum(1 for line in lines if needle in line)


def timed_rotation(
    steps: list[tuple[str, Callable[[], object], Callable[[], object]]], runs: int
) -> dict[str, list[float]]:
    """Wall seconds of each step (label, run, reset), after one warm-up each: the order rotates
    run by run and reverses every other run, so that drift falls on every tool alike (ABBA for
    two, a rotation for three); ``sync`` (untimed) before each timed run, as in ``timed_pair``."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in steps}
    for _, fn, reset in steps:
        reset()
        fn()
    for n in range(runs):
        shift = (n // 2) % len(steps)
        order = steps[shift:] + steps[:shift]
        if n % 2:
            order = order[::-1]
        for label, fn, reset in order:
            reset()
            os.sync()
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    return times


@dataclass
class LayoutImage:
    """What the curl floors send or ask for: the manifest's bytes and every blob it names."""

    manifest: Path
    manifest_type: str
    manifest_digest: str
    blobs: list[tuple[str, Path]]  # (digest, file), config first


def layout_image(path: Path, tag: str = "bench") -> LayoutImage:
    """The image tagged ``tag`` in the OCI layout at ``path``, read as plain JSON."""
    index = json.loads((path / "index.json").read_text())
    name = "org.opencontainers.image.ref.name"
    entry = next(m for m in index["manifests"] if m.get("annotations", {}).get(name) == tag)
    blobs = path / "blobs/sha256"

    def file(digest: str) -> Path:
        return blobs / digest.split(":", 1)[1]

    manifest = json.loads(file(entry["digest"]).read_bytes())
    named = [manifest["config"], *manifest["layers"]]
    return LayoutImage(
        file(entry["digest"]), entry["mediaType"], entry["digest"],
        [(d["digest"], file(d["digest"])) for d in named],
    )  # fmt: skip


CURL = ["curl", "-sf", "--max-time", "120"]


def curl_push_floor(registry: str, repo: str, blob: tuple[str, Path], image: LayoutImage) -> None:
    """The push's HTTP work with curl, no verification, no layout: POST an upload, PUT the
    blob in one request from the file (``-T``), then one process for the rest (the config's
    upload would need its own POST and PUT; it is 0.3 kB and left out), a HEAD of the
    manifest as a pusher checks for it."""
    digest, path = blob
    answer = subprocess.run(
        [*CURL, "-X", "POST", "-D", "-", "-o", "/dev/null",
         f"http://{registry}/v2/{repo}/blobs/uploads/"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    location = next(line.split(":", 1)[1].strip() for line in answer.stdout.splitlines()
                    if line.lower().startswith("location:"))  # fmt: skip
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    subprocess.run(
        [*CURL, "-o", "/dev/null", "-X", "PUT", "-T", str(path),
         "-H", "Content-Type: application/octet-stream", f"{location}{sep}digest={digest}",
         "--next", *CURL[1:], "-o", "/dev/null", "-I",
         f"http://{registry}/v2/{repo}/manifests/{image.manifest_digest}"],
        check=False, capture_output=True,  # the HEAD answers 404: the manifest is not there
    )  # fmt: skip


def curl_repush_floor(registry: str, repo: str, tag: str, image: LayoutImage) -> list[str]:
    """A no-op re-push's HTTP work in one curl process, one connection: ``/v2/``, a HEAD of
    every blob (as skopeo does), a HEAD of the manifest, the tag's manifest PUT."""
    base = f"http://{registry}/v2/{repo}"
    heads = [f"{base}/blobs/{digest}" for digest, _ in image.blobs]
    heads.append(f"{base}/manifests/{image.manifest_digest}")
    outputs = itertools.chain.from_iterable(("-o", "/dev/null", url) for url in heads)
    return [*CURL, "-o", "/dev/null", f"http://{registry}/v2/",
            "--next", *CURL[1:], "-I", *outputs,
            "--next", *CURL[1:], "-o", "/dev/null", "-X", "PUT", "-T", str(image.manifest),
            "-H", f"Content-Type: {image.manifest_type}", f"{base}/manifests/{tag}"]  # fmt: skip


def curl_pull_floor(
    registry: str, repo: str, tag: str, image: LayoutImage, into: Path, jobs: int = 4
) -> list[str]:
    """A pull's HTTP work with curl: the manifest by tag, then every blob (the config with the
    layers) ``jobs`` at a time over reused connections, each into its own file; nothing is
    hashed, fsynced or indexed."""
    base = f"http://{registry}/v2/{repo}"
    accept = f"Accept: {image.manifest_type}"
    gets = itertools.chain.from_iterable(
        ("-o", str(into / digest.split(":", 1)[1]), f"{base}/blobs/{digest}")
        for digest, _ in image.blobs
    )
    return [*CURL, "-H", accept, "-o", str(into / "manifest.json"), f"{base}/manifests/{tag}",
            "--next", *CURL[1:], "--parallel", "--parallel-max", str(jobs), *gets]  # fmt: skip


def speed_cases(
    args: argparse.Namespace, env: dict[str, str], registry: str, cpu: dict[str, list[float]]
) -> tuple[list[Case], dict[str, list[int]]]:
    """Issue 17's registry targets: big push, no-op re-push, pull of many small layers; each
    with its floor, the same HTTP requests sent by curl, in the same rotation."""
    counter = itertools.count()
    run_id = uuid.uuid4().hex[:8]
    cases: list[Case] = []
    patches: dict[str, list[int]] = {"ours": [], "skopeo": []}

    def measured(label: str, run: Callable[[], object]) -> Callable[[], None]:
        def timed() -> None:
            before = child_cpu()
            run()
            cpu.setdefault(label, []).append(child_cpu() - before)

        return timed

    def command(cmd: list[str]) -> Callable[[], None]:
        def run() -> None:
            sh(cmd, env)

        return run

    def add(name: str, times: dict[str, list[float]], target: float, size: int) -> None:
        ours, skopeo, curl = (times[k] for k in ("ours", "skopeo", "curl"))
        cases.append(Case(name, ours, skopeo, target, size))
        cases.append(Case(f"(floor) curl, {name}", curl, skopeo, None, size))
        cases.append(Case(f"(floor) ours vs curl, {name}", ours, curl, None, size))

    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        # 1. one big layer, pushed to a fresh repository each time
        big = work / "big"
        big_size = make_layout(big, 1, args.big_layer_mb * 1_000_000)
        big_image = layout_image(big)
        print(f"big image: 1 layer, {args.big_layer_mb} MB uncompressed, {big_size / 1e6:.1f} MB")
        label = f"push {args.big_layer_mb} MB layer"

        def push_big(tool: str) -> Callable[[], None]:
            def run() -> None:
                repo = f"bench/{run_id}-big-{tool}{next(counter)}"
                dest = f"docker://{registry}/{repo}:1"
                go: Callable[[], object]
                if tool == "curl":
                    go = functools.partial(
                        curl_push_floor, registry, repo, big_image.blobs[1], big_image
                    )
                elif tool == "ours":
                    go = command([*SCRATCHPACK, "copy", "-q", f"oci:{big}:bench", dest])
                else:
                    go = command(["skopeo", "copy", "-q", "--dest-tls-verify=false",
                                  f"oci:{big}:bench", dest])  # fmt: skip
                measured(f"{label}, {tool}", go)()
                if tool != "curl":
                    patches[tool].append(count_patches(env, repo))

            return run

        times = timed_rotation(
            [("ours", push_big("ours"), lambda: None),
             ("skopeo", push_big("skopeo"), reset_path(SKOPEO_BLOB_CACHE)),
             ("curl", push_big("curl"), lambda: None)],
            args.runs,
        )  # fmt: skip
        add(f"push of one {args.big_layer_mb} MB layer", times, 0.8, big_size)
        shutil.rmtree(big)

        # 2. the default image, pushed again where every blob already is
        source = work / "source"
        size = make_layout(source, args.layers, args.layer_mb * 1_000_000)
        image = layout_image(source)
        seed_repo = f"bench/{run_id}-seed"
        seed = f"docker://{registry}/{seed_repo}:1"
        sh([*SCRATCHPACK, "copy", "-q", f"oci:{source}:bench", seed], env)
        times = timed_rotation(
            [("ours", measured("no-op re-push, ours", command(
                [*SCRATCHPACK, "copy", "-q", f"oci:{source}:bench", seed])), lambda: None),
             ("skopeo", measured("no-op re-push, skopeo", command(
                ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{source}:bench",
                 seed])), lambda: None),
             ("curl", measured("no-op re-push, curl", command(
                curl_repush_floor(registry, seed_repo, "1", image))), lambda: None)],
            args.runs,
        )  # fmt: skip
        add("no-op re-push (every blob present)", times, 2.0, size)
        shutil.rmtree(source)

        # 3. many small layers, pulled into an empty directory
        small = work / "small"
        small_size = make_layout(small, args.small_layers, 1_000_000)
        small_image = layout_image(small)
        small_repo = f"bench/{run_id}-small"
        small_ref = f"docker://{registry}/{small_repo}:1"
        sh([*SCRATCHPACK, "copy", "-q", f"oci:{small}:bench", small_ref], env)
        pulled, theirs, fetched = work / "pulled", work / "pulled-skopeo", work / "fetched"

        def empty(path: Path) -> Callable[[], None]:
            def reset() -> None:
                reset_path(path)()
                path.mkdir()

            return reset

        times = timed_rotation(
            [("ours", measured("pull small layers, ours", command(
                [*SCRATCHPACK, "copy", "-q", small_ref, f"oci:{pulled}:1"])), reset_path(pulled)),
             ("skopeo", measured("pull small layers, skopeo", command(
                ["skopeo", "copy", "-q", "--src-tls-verify=false", small_ref,
                 f"oci:{theirs}:1"])), reset_path(theirs)),
             ("curl", measured("pull small layers, curl", command(
                curl_pull_floor(registry, small_repo, "1", small_image, fetched))),
              empty(fetched))],
            args.runs,
        )  # fmt: skip
        add(f"pull of {args.small_layers} x 1 MB layers", times, 0.8, small_size)
    return cases, patches


@dataclass
class Usage:
    """One child process, as ``wait4`` reports it."""

    wall: float
    cpu: float
    rss_mb: float


def measure(cmd: list[str], env: dict[str, str], stdout: Path | None = None) -> Usage:
    """Run ``cmd`` and take its wall time, CPU (user + system) and peak RSS from ``wait4``:
    the child's own figures, not the bench's nor pytest's."""
    with tempfile.TemporaryFile() as err, open(stdout or os.devnull, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise SystemExit(f"command failed: {cmd}\n{tail}")
    return Usage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


class _RandomReader:
    """``size`` random bytes as a stream (a tar member written without holding it)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def random_layer_layout(path: Path, size: int) -> tuple[Path, Digest]:
    """An OCI layout tagged ``bench`` whose one layer is a gzip (-1) tar of ``size`` random
    bytes; returns the layer blob's path and digest."""
    path.mkdir(parents=True)
    oci_layout.init_layout(path)
    blobs = path / "blobs/sha256"
    tmp = blobs / "layer.tmp"
    with tmp.open("wb") as out:
        gzip = subprocess.Popen(["gzip", "-1", "-n", "-c"], stdin=subprocess.PIPE, stdout=out)
        assert gzip.stdin is not None
        with tarfile.open(fileobj=gzip.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("data/random.bin")
            info.size = size
            tar.addfile(info, _RandomReader(size))
        gzip.stdin.close()
        if gzip.wait() != 0:
            raise SystemExit("gzip failed")
    with tmp.open("rb") as blob:
        digest = Digest("sha256", hashlib.file_digest(blob, "sha256").hexdigest())
    layer = blobs / digest.hex
    tmp.rename(layer)
    # the diff_id is not checked by a copy; a fixed one keeps the layout quick to make
    config = canonical_json(
        {"architecture": "amd64", "os": "linux",
         "rootfs": {"type": "layers", "diff_ids": [str(digest)]}}
    )  # fmt: skip
    (blobs / Digest.of(config).hex).write_bytes(config)
    manifest = Manifest(
        Descriptor(mt.OCI_CONFIG, Digest.of(config), len(config)),
        (Descriptor(mt.OCI_LAYER_GZIP, digest, layer.stat().st_size),),
    )
    data = manifest.to_bytes()
    (blobs / Digest.of(data).hex).write_bytes(data)
    oci_layout.set_tag(path, "bench", Descriptor(mt.OCI_MANIFEST, Digest.of(data), len(data)))
    return layer, digest


def open_upload(registry: str, repo: str) -> str:
    """POST a new upload (untimed) and return where to PUT the blob."""
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        location = str(answer.headers["Location"])
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    return location


HASHLIB = "import hashlib, sys; hashlib.file_digest(open(sys.argv[1], 'rb'), 'sha256')"
SCALING_HEADER = [
    "| layer | blob | push wall / CPU / RSS | pull wall / CPU / RSS | curl PUT | curl GET "
    "| openssl sha256 | hashlib | gzip -dc | push / curl PUT | pull / curl GET |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def scaling(args: argparse.Namespace, env: dict[str, str], registry: str) -> list[str]:
    """Push and pull time and peak RSS against the floors, per layer size (markdown rows)."""
    run_id = uuid.uuid4().hex[:8]
    rows = list(SCALING_HEADER)
    for size_mb in args.sizes:
        rows.append(scale_one(size_mb, args.runs, env, registry, run_id))
        print(rows[-1], flush=True)
    return rows


def scale_one(size_mb: int, runs: int, env: dict[str, str], registry: str, run_id: str) -> str:
    """One row of :func:`scaling`: every operation on one layer of ``size_mb`` MB."""
    counter = itertools.count()
    usage: dict[str, list[Usage]] = {}
    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        layout = work / "layout"
        layer, digest = random_layer_layout(layout, size_mb * 1_000_000)
        blob_size = layer.stat().st_size
        seed_repo = f"bench/{run_id}-scale{size_mb}"
        seed = f"docker://{registry}/{seed_repo}:1"
        sh([*SCRATCHPACK, "copy", "-q", f"oci:{layout}:bench", seed], env)
        pulled, fetched = work / "pulled", work / "fetched.blob"

        def fresh() -> str:
            return f"bench/{run_id}-s{size_mb}-{next(counter)}"

        def curl_put() -> list[str]:
            where = open_upload(registry, fresh())
            sep = "&" if "?" in where else "?"
            return ["curl", "-sf", "-o", "/dev/null", "-X", "PUT", "-T", str(layer),
                    "-H", "Content-Type: application/octet-stream",
                    f"{where}{sep}digest={digest}"]  # fmt: skip

        blob_url = f"http://{registry}/v2/{seed_repo}/blobs/{digest}"
        ops: dict[str, Callable[[], list[str]]] = {
            "push": lambda: [
                *SCRATCHPACK, "copy", "-q", f"oci:{layout}:bench",
                f"docker://{registry}/{fresh()}:1",
            ],
            "pull": lambda: [*SCRATCHPACK, "copy", "-q", seed, f"oci:{pulled}:1"],
            "curl PUT": curl_put,
            "curl GET": lambda: ["curl", "-sf", "-o", str(fetched), blob_url],
            "openssl": lambda: ["openssl", "dgst", "-sha256", str(layer)],
            "hashlib": lambda: [sys.executable, "-c", HASHLIB, str(layer)],
            "gzip -dc": lambda: ["gzip", "-dc", str(layer)],
        }  # fmt: skip
        names = list(ops)
        for n in range(runs):
            shift = n % len(names)
            for name in names[shift:] + names[:shift]:  # rotated: drift falls on all
                reset_path(pulled)()
                reset_path(fetched)()
                cmd = ops[name]()
                os.sync()
                usage.setdefault(name, []).append(measure(cmd, env))
        reset_path(pulled)()
        reset_path(fetched)()

    def med(name: str, attr: str) -> float:
        return float(statistics.median(getattr(u, attr) for u in usage[name]))

    def triple(name: str) -> str:
        wall, cpu, rss = med(name, "wall"), med(name, "cpu"), med(name, "rss_mb")
        return f"{wall:.2f} s / {cpu:.2f} s / {rss:.0f} MB"

    floors = ("curl PUT", "curl GET", "openssl", "hashlib", "gzip -dc")
    return (
        f"| {size_mb} MB | {blob_size / 1e6:.0f} MB | {triple('push')} | {triple('pull')} "
        + " ".join(f"| {med(name, 'wall'):.2f} s" for name in floors)
        + f" | {med('push', 'wall') / med('curl PUT', 'wall'):.2f}x"
        f" | {med('pull', 'wall') / med('curl GET', 'wall'):.2f}x |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="scratchpack copy vs skopeo copy")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--layer-mb", type=int, default=140)
    parser.add_argument(
        "--progress-cost", action="store_true", help="time progress against -q, not skopeo"
    )
    parser.add_argument("--speed", action="store_true", help="issue 17's three registry cases")
    parser.add_argument(
        "--scaling", action="store_true", help="push/pull time and peak RSS per layer size"
    )
    parser.add_argument(
        "--sizes", type=lambda text: [int(x) for x in text.split(",")],
        default=[10, 100, 1000, 2000], help="layer sizes for --scaling, MB (10,100,1000,2000)",
    )  # fmt: skip
    parser.add_argument("--big-layer-mb", type=int, default=600)
    parser.add_argument("--small-layers", type=int, default=50)
    args = parser.parse_args()
    compile_scratchpack()  # or every timed process would compile every module it imports
    env, started = tool_env()
    registry = env["SCRATCHPACK_TEST_REGISTRY"]
    if args.scaling:
        try:
            print(f"uptime before: {sh(['uptime']).strip()}", flush=True)
            rows = scaling(args, env, registry)
        finally:
            stop_env(started)
        print(f"\n{args.runs} runs each, medians (wall / CPU / peak RSS of the process)\n")
        print("\n".join([*rows, "", f"uptime after: {sh(['uptime']).strip()}", ""]))
        print("\n".join(machine_info(env)))
        return 0
    if args.speed or args.progress_cost:
        cpu: dict[str, list[float]] = {}
        notes: list[str] = []
        try:
            print(f"uptime before: {sh(['uptime']).strip()}")
            if args.speed:
                measured, patches = speed_cases(args, env, registry, cpu)
                notes.append(f"PATCH requests per push of the big layer: {patches}")
            else:
                measured = progress_cost(args, env, registry, cpu)
        finally:
            stop_env(started)
        print_table(measured, args.runs)
        print("\nCPU seconds (user + system) of each run, median:")
        for label, times in sorted(cpu.items()):
            print(f"- {label}: {statistics.median(times):.3f} s over {len(times)} runs")
        print("\n".join(["", *notes, f"uptime after: {sh(['uptime']).strip()}", ""]))
        print("\n".join(machine_info(env)))
        return 0
    counter = itertools.count()
    run_id = uuid.uuid4().hex[:8]  # fresh repositories even on a registry that outlived runs
    outcomes: list[dict[str, int]] = []
    cases: list[Case] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
            work = Path(tmp)
            source = work / "source"
            size = make_layout(source, args.layers, args.layer_mb * 1_000_000)
            print(f"image: {args.layers} layers, {args.layers * args.layer_mb} MB uncompressed, "
                  f"{size / 1e6:.1f} MB compressed")  # fmt: skip
            seed = f"docker://{registry}/bench/{run_id}-seed:1"
            sh([*SCRATCHPACK, "copy", "-q", f"oci:{source}:bench", seed], env)

            pulled = work / "pulled"
            theirs = work / "pulled-skopeo"
            skopeo_pull = [
                "skopeo",
                "copy",
                "-q",
                "--src-tls-verify=false",
                seed,
                f"oci:{theirs}:1",
            ]
            ours, peer = timed_pair(
                lambda: sh([*SCRATCHPACK, "copy", "-q", seed, f"oci:{pulled}:1"], env),
                lambda: sh(skopeo_pull, env),
                args.runs,
                reset_path(pulled),
                reset_path(theirs),
            )
            cases.append(Case("registry -> oci: copy vs skopeo copy", ours, peer, 1.0, size))

            def push_ours() -> None:
                dest = f"docker://{registry}/bench/{run_id}-ours{next(counter)}:1"
                out = sh([*SCRATCHPACK, "copy", "-q", "--format", "json", f"oci:{source}:bench",
                          dest], env)  # fmt: skip
                outcomes.append(json.loads(out)["blobs"])

            def push_skopeo() -> None:
                dest = f"docker://{registry}/bench/{run_id}-skopeo{next(counter)}:1"
                sh(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{source}:bench",
                    dest], env)  # fmt: skip

            # skopeo remembers where it saw each blob and would mount it from the last run's
            # repository instead of uploading: forget that, so both tools move the same bytes.
            ours, peer = timed_pair(
                push_ours, push_skopeo, args.runs, lambda: None, reset_path(SKOPEO_BLOB_CACHE)
            )
            cases.append(Case("oci: -> registry: copy vs skopeo copy", ours, peer, 1.0, size))
    finally:
        stop_env(started)
    print_table(cases, args.runs)
    print(f"\nour pushes, blob outcomes per run: {outcomes}")
    if any(set(o) != {"uploaded"} for o in outcomes):
        print("WARNING: some of our pushes did not upload every blob")
    print()
    print("\n".join(machine_info(env)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
