"""Hostile images through every command that reads images.

Each case of ``hostile.py`` (traversal, links that escape, devices, sparse headers, bombs, deep
paths, many entries, huge PAX records, negative numbers, loops, truncated and corrupt tars) is
written as an OCI layout and as a docker-archive, and run through ``audit``, ``sbom``,
``compare``, ``inspect``, ``copy`` (to ``oci:`` and ``docker-archive:``) and ``pack --base``.
Every run is a fresh ``python -m scratchpack`` process; the test asserts its exit code (0, or 1
with a finding, or 1/2 with one ``scratchpack: error:`` line), that no traceback shows, that
its peak resident memory stays under a bound, and that a canary tree next to the images is
untouched (nothing is ever written outside, whatever the tar names).

The time bound is a complexity bound, not a benchmark: the CPU time of a run must stay within
10x the CPU time of ``gzip -d`` over the same layer plus a fixed allowance for the interpreter's
start; a quadratic path kept in the code overshoots it by orders of magnitude.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

import hostile
from helpers import ROOT, not_progress, static_cc

RSS_LIMIT_MB = 200.0
TIME_RATIO = 10.0
TIME_ALLOWANCE_S = 4.0  # interpreter start, imports, the image's JSON: the same for every case


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    rss_mb: float
    cpu_s: float


# Measures one process from a small one. A process's peak RSS (ru_maxrss) starts at the
# peak of the address space it replaced at exec: spawned straight from a pytest worker that has
# grown to 450 MB, any command "peaks" at 450 MB. Spawned from this helper, it starts at ~10.
_MEASURE = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
cpu = usage.ru_utime + usage.ru_stime
with open(sys.argv[1], "w") as out:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss, cpu], out)
"""


def run_measured(*args: str | Path, cwd: Path) -> Run:
    """A fresh CLI process: its result, peak RSS (from its rusage) and CPU time."""
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["TMPDIR"] = str(cwd)  # anything spooled lands where the test can see it
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as scratch:  # fmt: skip
        measured = Path(scratch) / "usage.json"
        subprocess.run([sys.executable, "-c", _MEASURE, str(measured), sys.executable, "-m",
                        "scratchpack", *map(str, args)], stdout=out, stderr=err, cwd=cwd,
                       env=env, check=True)  # fmt: skip
        code, rss_kb, cpu = json.loads(measured.read_text())
        out.seek(0)
        err.seek(0)
        return Run(code, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   rss_kb / 1024, cpu)  # fmt: skip


def gunzip_cpu(path: Path) -> float:
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(["gzip", "-dc", str(path)], stdout=null)
        _, _, usage = os.wait4(proc.pid, 0)
    return float(usage.ru_utime + usage.ru_stime)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory holding the canary tree, a work directory, and a static binary."""
    root = tmp_path_factory.mktemp("hostile")
    canary = root / "canary"
    (canary / "sub").mkdir(parents=True)
    (canary / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (canary / "sub/keep").write_bytes(b"keep")
    (root / "work").mkdir()
    subprocess.run([*static_cc(), "-o", str(root / "hello"), str(ROOT / "examples/hello/hello.c")],
                   check=True)  # fmt: skip
    yield root


CANARY_CASES = {c.name: c for c in hostile.cases(Path("/canary-placeholder"))}


def _case(world: Path, name: str) -> hostile.Case:
    return {c.name: c for c in hostile.cases(world / "canary")}[name]


class Images:
    """Each case's OCI layout and docker-archive, written on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[tuple[str, str], str] = {}

    def get(self, case: hostile.Case, form: str) -> str:
        key = (case.name, form)
        if key not in self.made:
            base = self.root / "images" / case.name
            base.mkdir(parents=True, exist_ok=True)
            if form == "oci":
                self.made[key] = hostile.write_oci(case, base / "oci")
            else:
                self.made[key] = hostile.write_docker_archive(case, base / "image.tar")
        return self.made[key]


@pytest.fixture(scope="module")
def images(world: Path) -> Images:
    return Images(world)


def assert_sane(run: Run, world: Path, before: list[tuple[str, bytes]], what: str) -> None:
    assert "Traceback" not in run.stderr, (what, run.stderr[-3000:])
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("scratchpack: error:")]
    assert len(errors) <= 1, (what, run.stderr)
    if run.code != 0:
        assert run.code in (1, 2), (what, run.code, run.stderr)
    assert run.rss_mb <= RSS_LIMIT_MB, (what, f"{run.rss_mb:.0f} MB")
    assert list(hostile.iter_tree(world / "canary")) == before, what
    assert not list((world / "work").iterdir()), (what, list((world / "work").iterdir()))


def _audit_verdict(case: hostile.Case, run: Run) -> None:
    if case.expect == "error":
        assert run.code == 2, (case.name, run.code, run.stdout[-2000:], run.stderr)
        [line] = [ln for ln in run.stderr.splitlines() if ln.startswith("scratchpack: error:")]
        assert case.fragment in line, (case.name, line)
    elif case.expect == "finding":
        assert run.code in (0, 1), (case.name, run.code, run.stderr)
        folded = " ".join(run.stdout.split())  # findings fold at spaces to the width
        assert case.fragment in folded, (case.name, run.stdout[-3000:])
        assert not not_progress(run.stderr), (case.name, run.stderr)
    else:
        assert run.code in (0, 1) and not not_progress(run.stderr), (case.name, run.stderr)


SMALL = [c.name for c in CANARY_CASES.values() if not c.big]
BIG = [c.name for c in CANARY_CASES.values() if c.big]


@pytest.mark.parametrize("form", ["oci", "docker-archive"])
@pytest.mark.parametrize("name", SMALL)
def test_audit_reports_or_refuses_cleanly(world: Path, images: Images, name: str,
                                          form: str) -> None:  # fmt: skip
    case = _case(world, name)
    image = images.get(case, form)
    before = list(hostile.iter_tree(world / "canary"))
    run = run_measured("audit", image, cwd=world / "work")
    assert_sane(run, world, before, f"audit {name} {form}")
    _audit_verdict(case, run)


COMMANDS = {
    "sbom": lambda image, out: ["sbom", image, "--format", "json"],
    "compare": lambda image, out: ["compare", image, image, "--format", "json"],
    "inspect": lambda image, out: ["inspect", image],
    "copy-oci": lambda image, out: ["copy", image, f"oci:{out}/copied:t"],
    "copy-archive": lambda image, out: ["copy", image, f"docker-archive:{out}/copied.tar:x:1"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", SMALL)
def test_every_command_survives(world: Path, images: Images, name: str, command: str,
                                tmp_path: Path) -> None:  # fmt: skip
    case = _case(world, name)
    image = images.get(case, "oci")
    before = list(hostile.iter_tree(world / "canary"))
    run = run_measured(*COMMANDS[command](image, tmp_path), cwd=world / "work")
    assert_sane(run, world, before, f"{command} {name}")
    if command in ("inspect", "copy-oci", "copy-archive"):
        # these never read the tar inside a layer: the image's bytes are intact
        assert run.code == 0, (command, name, run.stderr)
    elif case.expect == "error":
        assert run.code == 2, (command, name, run.code, run.stderr)
    if command == "sbom" and case.expect != "error":
        assert run.code == 0, (command, name, run.stderr)


@pytest.mark.parametrize("name", SMALL)
def test_pack_on_a_hostile_base(world: Path, images: Images, name: str, tmp_path: Path) -> None:
    case = _case(world, name)
    image = images.get(case, "oci")
    before = list(hostile.iter_tree(world / "canary"))
    run = run_measured("pack", world / "hello", "--base", image, "-o", f"oci:{tmp_path}/out:t",
                       cwd=world / "work")  # fmt: skip
    assert_sane(run, world, before, f"pack --base {name}")
    if case.base_ok:
        assert run.code == 0, run.stderr
    else:
        # a base whose tar is broken or hostile is refused, and nothing is written
        assert run.code in (1, 2), (name, run.code, run.stderr)
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("media_type", "urls", "fragment"),
    [
        ("application/vnd.oci.image.layer.v1.tar+lz4", (), "media type"),
        ("application/vnd.example.weird", (), "media type"),
        ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         ("https://example.invalid/layer",), "foreign"),
    ],
)  # fmt: skip
def test_pack_base_refuses_layers_it_cannot_keep(
    world: Path, tmp_path: Path, media_type: str, urls: tuple[str, ...], fragment: str
) -> None:
    case = hostile.Case("plain", hostile._bytes(hostile.member("ok", b"fine"), hostile.END),
                        "clean", gzip_layer=True)  # fmt: skip
    image = hostile.write_oci(case, tmp_path / "base", media_type, urls)
    before = list(hostile.iter_tree(world / "canary"))
    run = run_measured("pack", world / "hello", "--base", image, "-o", f"oci:{tmp_path}/out:t",
                       cwd=world / "work")  # fmt: skip
    assert_sane(run, world, before, media_type)
    assert run.code in (1, 2), run.stderr
    [line] = [ln for ln in run.stderr.splitlines() if ln.startswith("scratchpack: error:")]
    assert fragment in line, line
    assert not (tmp_path / "out").exists()


# -- big inputs: memory and time bounds --------------------------------------------------------


@pytest.fixture(scope="module")
def references(world: Path) -> dict[str, float]:
    """CPU seconds of ``gzip -d`` over each big case's layer."""
    out = {}
    for name in BIG:
        path = hostile.gunzip_reference(_case(world, name), world / "gz")
        out[name] = gunzip_cpu(path)
        path.unlink()
    return out


BIG_COMMANDS = {
    "audit": lambda image, out: ["audit", image, "--format", "json"],
    "sbom": lambda image, out: ["sbom", image, "--format", "json"],
    "pack-base": lambda image, out: [None, "--base", image, "-o", f"oci:{out}/out:t"],
}


@pytest.mark.parametrize("command", sorted(BIG_COMMANDS))
@pytest.mark.parametrize("name", BIG)
def test_big_hostile_inputs_stay_bounded(
    world: Path, images: Images, references: dict[str, float], name: str, command: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    case = _case(world, name)
    image = images.get(case, "docker-archive" if name == "many-distinct" else "oci")
    args = [str(a) if a is not None else "" for a in BIG_COMMANDS[command](image, tmp_path)]
    if command == "pack-base":
        args = ["pack", str(world / "hello"), *args[1:]]
    before = list(hostile.iter_tree(world / "canary"))
    run = run_measured(*args, cwd=world / "work")
    assert_sane(run, world, before, f"{command} {name}")
    if command == "audit":
        _audit_verdict(case, run)
    budget = TIME_RATIO * references[name] + TIME_ALLOWANCE_S
    print(f"{command} {name}: {run.rss_mb:.0f} MB, {run.cpu_s:.2f} s CPU "
          f"(gzip -d {references[name]:.2f} s; budget {budget:.1f} s)")  # fmt: skip
    assert run.cpu_s <= budget, (command, name, run.cpu_s, references[name])


BYTES_PER_PATH = 160  # 1M distinct files within the 200 MB bound, with the interpreter's ~40


def test_memory_per_distinct_path_is_bounded(world: Path, tmp_path: Path) -> None:
    """The file system model's cost of one more path, from the peak RSS of two fresh audits
    (100k and 300k distinct empty files; the difference cancels the interpreter's share):
    at most 160 bytes, so that 1M files audit within the 200 MB bound. A path-keyed node
    table beside the component tree cost ~350 (1M files: 393 MB)."""
    rss = {}
    for count in (100_000, 300_000):
        case = hostile.Case(f"distinct-{count}", hostile._many_entries(count, True), "clean")
        image = hostile.write_oci(case, tmp_path / case.name)
        run = run_measured("audit", image, "--format", "json", cwd=world / "work")
        assert run.code == 0 and not not_progress(run.stderr), (count, run.code, run.stderr)
        report = json.loads(run.stdout)
        assert report["size"]["files"] == count
        assert report["efficiency"]["wasted_bytes"] == 0
        rss[count] = run.rss_mb
    per_path = (rss[300_000] - rss[100_000]) * (1 << 20) / 200_000
    print(f"audit of distinct empty files: {rss} MB peak; {per_path:.0f} bytes a path")
    assert per_path <= BYTES_PER_PATH, (rss, per_path)


def test_a_huge_entrypoint_is_never_copied(world: Path, tmp_path: Path) -> None:
    """A 256 MiB entrypoint (a real static binary, padded): the will-it-start check reads its
    headers from the stream; nothing is spooled to memory or TMPDIR (bytes written by the
    process, from /proc/self/io, stay at the size of its report)."""
    binary = (world / "hello").read_bytes()
    pad = 256 << 20

    def write(out: BinaryIO) -> None:
        out.write(hostile.header(b"app", size=len(binary) + pad, mode=0o755))
        out.write(binary)
        zeros = bytes(1 << 20)
        for _ in range(pad >> 20):
            out.write(zeros)
        out.write(b"\x00" * (-(len(binary) + pad) % hostile.BLOCK) + hostile.END)

    case = hostile.Case("huge-entrypoint", write, "clean",
                        config={"Entrypoint": ["/app"], "User": "1"}, gzip_layer=True)  # fmt: skip
    image = hostile.write_oci(case, tmp_path / "img")
    code = (
        "import sys; from scratchpack.cli.main import main; sys.argv[0] = 'scratchpack'; "
        "rc = main(sys.argv[1:]); sys.stderr.write(open('/proc/self/io').read()); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, "audit", image, "-q", "--format", "json"],
                          capture_output=True, text=True, cwd=world / "work", timeout=600,
                          check=False,
                          env={**os.environ, "TMPDIR": str(world / "work")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    io_stats = dict(line.split(": ") for line in proc.stderr.splitlines() if ": " in line)
    assert int(io_stats["wchar"]) < 4 << 20, io_stats
    startup = json.loads(proc.stdout)["startup"]
    assert startup["kind"] == "elf-static" and startup["missing"] == []
