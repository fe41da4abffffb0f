"""Progress on long work (issue 14 items 1 and 6), from real ``scratchpack`` processes.

On a pseudo-terminal: rich bars with what is being done, bytes and an ETA (copy, pack,
audit). Off a terminal: one line per step, a bounded number of them, and stdout untouched
(``--format json`` still parses). ``-q``: nothing on stderr. A retried registry request says
``retrying (k/n) after ...``; a daemon export has a total known before it starts.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import select
import struct
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultproxy import Fault, FaultProxy
from helpers import ROOT, Examples, not_progress, run_cli
from realtools import CACHE, Runner
from scratchpack import progress
from scratchpack.cli.progress import PlainReporter

BUILD_ENV = {"XDG_CACHE_HOME": str(CACHE / "xdg"), "SOURCE_DATE_EPOCH": "1700000000"}


def run_on_pty(*args: str | Path, columns: int = 120, timeout: float = 240) -> tuple[int, str]:
    """``python -m scratchpack ARGS`` with a pseudo-terminal as stdin, stdout and stderr, as
    in a shell; returns the exit code and everything it drew."""
    argv = [sys.executable, "-m", "scratchpack", *map(str, args)]
    # bars from the first step on: these inputs are small, work ends within the usual 1 s
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TERM": "xterm-256color",
           "SCRATCHPACK_PROGRESS_DELAY": "0"}  # fmt: skip
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of a known size, then the command
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        os.execvpe(argv[0], argv, env)
    output = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        output += data
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.fixture(scope="module")
def image(layout: Path) -> str:
    """conftest's two-layer image, by name."""
    return f"oci:{layout}:v1"


def _assert_bar_with_eta(text: str, *descriptions: str) -> None:
    for description in descriptions:
        assert description in text, text[-3000:]
    assert "━" in text, text[-3000:]  # a bar
    assert "ETA " in text, text[-3000:]
    assert "Traceback" not in text
    assert "0 B/0 B" not in text  # never an empty total


def test_copy_on_a_terminal_shows_bars_with_eta(
    image: str, registry: str, unique_name: str
) -> None:
    code, text = run_on_pty("copy", image, f"docker://{registry}/{unique_name}:v1")
    assert code == 0, text
    _assert_bar_with_eta(text, "uploading 3 blobs", "kB/")
    assert "Copied" in text


def test_pack_to_a_registry_on_a_terminal_shows_bars_with_eta(
    examples: Examples, registry: str, unique_name: str
) -> None:
    code, text = run_on_pty("pack", examples.hello, "-o", f"docker://{registry}/{unique_name}:p")
    assert code == 0, text
    _assert_bar_with_eta(text, "writing layer 1/2 (essentials)", f"pushing to docker://{registry}")


def test_audit_on_a_terminal_shows_bars_with_eta(image: str) -> None:
    code, text = run_on_pty("audit", image)
    assert code in (0, 1), text
    _assert_bar_with_eta(text, "scanning layer 2/2")


def test_narrow_terminal_cuts_the_description_not_the_numbers(image: str) -> None:
    code, text = run_on_pty("audit", image, columns=60)
    assert code in (0, 1), text
    assert "…" in text and "ETA " in text


def test_off_a_terminal_one_line_per_step_and_stdout_untouched(
    image: str, registry: str, unique_name: str, tmp_path: Path
) -> None:
    audit = run_cli("audit", image, "--format", "json")
    assert audit.code in (0, 1), audit.stderr
    assert audit.json()["layers"]  # stdout is the report alone
    lines = audit.stderr.splitlines()
    assert lines[1:] == [f"scratchpack: scanning layer {k}/2 of {image}" for k in (1, 2)], lines
    assert lines[0].startswith(f"scratchpack: scanning 2 layers of {image}: ")
    assert lines[0].endswith("kB")

    copied = run_cli("copy", image, f"docker://{registry}/{unique_name}:v1", "--format", "json")
    assert copied.code == 0, copied.stderr
    assert copied.json()["blobs"] == {"uploaded": 3}
    [line] = copied.stderr.splitlines()
    assert line.startswith("scratchpack: uploading 3 blobs: ") and line.endswith("kB")
    pulled = run_cli("copy", f"docker://{registry}/{unique_name}:v1", f"oci:{tmp_path}/p:v1")
    assert pulled.code == 0 and not not_progress(pulled.stderr), pulled.stderr
    assert pulled.stderr.startswith("scratchpack: copying 3 blobs: ")


def test_compare_and_sbom_report_per_image(image: str, examples: Examples, tmp_path: Path) -> None:
    other = f"oci:{tmp_path}/httpd:v1"
    assert run_cli("pack", examples.httpd, "-o", other, "-q").code == 0
    compared = run_cli("compare", image, other, "--format", "json")
    assert compared.code == 0, compared.stderr
    assert [c["image"] for c in compared.json()] == [image, other]
    assert not not_progress(compared.stderr), compared.stderr
    for name in (image, other):
        assert f"scratchpack: scanning 2 layers of {name}: " in compared.stderr
        assert f"scratchpack: scanning layer 2/2 of {name}\n" in compared.stderr
    listed = run_cli("sbom", image)
    assert listed.code == 0 and json.loads(listed.stdout)
    assert f"scratchpack: scanning layer 2/2 of {image}" in listed.stderr


def test_quiet_prints_nothing(
    examples: Examples, image: str, registry: str, unique_name: str, tmp_path: Path
) -> None:
    runs = [
        run_cli("pack", examples.hello, "-o", f"oci:{tmp_path}/q:v1", "-q"),
        run_cli("copy", image, f"docker://{registry}/{unique_name}:q", "-q"),
        run_cli("copy", f"docker://{registry}/{unique_name}:q", f"oci:{tmp_path}/r:v1", "-q"),
        run_cli("audit", image, "-q", "--format", "json"),
        run_cli("sbom", image, "-q"),
    ]
    for result in runs:
        assert result.code in (0, 1) and result.stderr == "", result.stderr
    json.loads(runs[3].stdout)


def test_a_retried_request_says_so(image: str, registry: str, unique_name: str) -> None:
    pushed = run_cli("copy", image, f"docker://{registry}/{unique_name}:v1", "-q")
    assert pushed.code == 0, pushed.stderr
    with FaultProxy(registry) as proxy:
        proxy.add(Fault("GET", "/manifests/", "status", times=2, status=503))
        via = f"docker://{proxy.address}/{unique_name}:v1"
        result = run_cli("audit", via, "--format", "json")
        assert result.code in (0, 1), result.stderr
        json.loads(result.stdout)
        retries = [line for line in result.stderr.splitlines() if "retrying" in line]
        assert len(retries) == 2, result.stderr
        assert retries[0].startswith(f"scratchpack: {proxy.address}: retrying (2/5) after HTTP 503")
        assert retries[1].startswith(f"scratchpack: {proxy.address}: retrying (3/5) after HTTP 503")
        assert "GET /v2/" in retries[0]
        # with -q the retries are silent too; without retries left, one error line
        proxy.add(Fault("GET", "/manifests/", "status", times=1, status=503))
        quiet = run_cli("audit", via, "-q", "--format", "json")
        assert quiet.code in (0, 1) and quiet.stderr == "", quiet.stderr
        proxy.add(Fault("GET", "/manifests/", "status", times=1, status=503))
        failed = run_cli("audit", via, "--retries", "0")
        assert failed.code == 2 and "retrying" not in failed.stderr, failed.stderr
        # refused connections are not retried at all
        refused = run_cli("audit", "docker://127.0.0.1:9/x:v1", "--format", "json")
        assert refused.code == 2 and "retrying" not in refused.stderr, refused.stderr


def test_a_daemon_export_has_its_total_first(
    examples: Examples, docker: Runner, unique_name: str, tmp_path: Path
) -> None:
    tag = f"{unique_name}:v1"
    loaded = run_cli("pack", examples.hello, "-o", f"docker-daemon:{tag}")
    assert loaded.code == 0, loaded.stderr
    assert "scratchpack: loading into the daemon at " in loaded.stderr
    try:
        size = int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout.decode())
        copied = run_cli("copy", f"docker-daemon:{tag}", f"oci:{tmp_path}/d:v1")
        assert copied.code == 0 and not not_progress(copied.stderr), copied.stderr
        lines = copied.stderr.splitlines()
        shown = f"{size / 1000:.1f} kB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"
        assert f"scratchpack: exporting {tag} from the daemon: {shown}" in lines, lines
        assert "scratchpack: compressing 2 layers (gzip): " in copied.stderr
        code, text = run_on_pty("copy", f"docker-daemon:{tag}", f"oci:{tmp_path}/e:v1")
        assert code == 0, text
        _assert_bar_with_eta(text, "exporting")
    finally:
        docker("rmi", "-f", tag, check=False)


def test_build_reports_each_step(tmp_path: Path) -> None:
    """A preset build: resolve, (download), unpack, write; -q: nothing."""
    out = f"oci:{tmp_path}/static:latest"
    lock = tmp_path / "static.lock.json"
    built = run_cli("build", "--preset", "static", "-o", out, "--lock", lock, env=BUILD_ENV)
    assert built.code == 0, built.stderr
    assert not not_progress(built.stderr), built.stderr
    steps = [line.removeprefix("scratchpack: ") for line in built.stderr.splitlines()]
    assert steps[0].startswith("resolving 4 packages against"), steps
    assert any(s.startswith("unpacking 4 packages") for s in steps), steps
    assert any(s.startswith("writing the layer (gzip)") for s in steps), steps
    assert steps[-1].startswith(f"writing {out}"), steps
    assert len(steps) <= 10, steps
    again = run_cli("build", "--preset", "static", "-o", out, "--lock", lock, "--locked",
                    "--force", "-q", env=BUILD_ENV)  # fmt: skip
    assert again.code == 0 and again.stderr == "", again.stderr


def _count(reporter: PlainReporter, seconds: float) -> None:
    previous = progress.install(reporter)
    try:
        with progress.step("a long step", 10_000_000) as task:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                task.advance(1000)
                time.sleep(0.001)
        with progress.step("a blob", 10, minor=True) as task:
            task.advance(10)
    finally:
        progress.install(previous)


def test_plain_lines_about_a_long_step_are_rate_limited() -> None:
    """About a thousand advances in 1.2 s, a line allowed every 0.3 s: the headline and at
    most four more, each with its share and rate; a minor step prints nothing."""
    out = io.StringIO()
    _count(PlainReporter(out, interval=0.3), 1.2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "scratchpack: a long step: 10.0 MB"
    assert 2 <= len(lines) <= 5, lines
    for line in lines[1:]:
        assert line.startswith("scratchpack: a long step: ") and " of 10.0 MB (" in line
        assert "%, " in line and "/s, ETA " in line


@pytest.fixture(autouse=True)
def _no_reporter_left() -> Iterator[None]:
    yield
    assert not progress.active()


def _dockerfiles(tmp_path: Path, count: int) -> list[Path]:
    """``count`` small Dockerfiles, each with its own RUN (so ShellCheck gets one script each,
    none from a cache: ``--no-cache``)."""
    files = []
    for n in range(count):
        path = tmp_path / f"d{n}" / "Dockerfile"
        path.parent.mkdir()
        path.write_text(f"FROM debian:12\nRUN echo $HOME{n} && ls /tmp/{n}\n")
        files.append(path)
    return files


def test_lint_of_a_tree_reports_progress_and_one_file_reports_nothing(tmp_path: Path) -> None:
    """A lint of many files takes seconds (ShellCheck over every RUN): a line per step off a
    terminal, stdout the findings alone; one file (an editor's, a hook's) prints nothing but
    its findings, as hadolint does; on a terminal, bars with an ETA."""
    files = _dockerfiles(tmp_path, 130)
    env = {"SCRATCHPACK_LINT_SERVER": "0"}
    many = run_cli("lint", "-f", "json", "--no-fail", "--no-cache", *files, env=env)
    assert many.code == 0, many.stderr
    assert json.loads(many.stdout)  # stdout is the JSON alone
    lines = many.stderr.splitlines()
    assert lines[0] == "scratchpack: linting 130 Dockerfiles", many.stderr
    assert "scratchpack: running ShellCheck on 130 scripts" in lines, many.stderr
    one = run_cli("lint", "-f", "json", "--no-fail", "--no-cache", files[0], env=env)
    assert one.code == 0 and one.stderr == "", one.stderr
    code, text = run_on_pty("lint", "--no-fail", "--no-cache", *files)
    assert code == 0
    _assert_bar_with_eta(text, "linting 130 Dockerfiles")
