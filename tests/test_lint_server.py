"""The opt-in lint server (``scratchpack lint --daemon start``, cli/lintserver.py): a request it
answers is byte for byte what the same ``scratchpack lint`` prints in its own process, with the
same exit code; whenever it cannot answer (stale socket, killed mid-request, a socket that is
not ours) the client lints in-process. Every server here is real, in a private
``$XDG_RUNTIME_DIR``, and is stopped at the end of its test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from realtools import unavailable

# The client as the console script runs it, recording at exit which modules it loaded (in a
# file: its stdout and stderr are what is compared).
CLIENT = (
    "import atexit, sys\n"
    "record = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(record, 'w').write('\\n'.join(sys.modules)))\n"
    "from scratchpack.cli.entry import main\n"
    "sys.exit(main())\n"
)

DIRTY = "FROM debian:12\nRUN apt-get update && apt-get install -y curl && cd /tmp\n"
CLEAN = 'FROM scratch\nCOPY --chmod=0555 app /app\nUSER 65532:65532\nENTRYPOINT ["/app"]\n'


def environment(runtime: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), **extra}
    env.pop("SCRATCHPACK_LINT_SERVER", None)  # conftest turns it off for every other test
    return env


def lint(
    env: dict[str, str], cwd: Path, *args: str, stdin: bytes = b"", merged: bool = False
) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    """A real ``scratchpack lint ARGS`` process and the modules it loaded."""
    record = cwd / ".modules"
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, str(record), "lint", *args], cwd=cwd, env=env,
        input=stdin, capture_output=not merged, check=False, timeout=120,
        stdout=subprocess.PIPE if merged else None,
        stderr=subprocess.STDOUT if merged else None,
    )  # fmt: skip
    modules = set(record.read_text().splitlines())
    record.unlink()
    return proc, modules


def daemon(env: dict[str, str], action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scratchpack", "lint", "--daemon", action],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def server_pid(env: dict[str, str]) -> int:
    status = daemon(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    return int(status.stdout.split("(pid ", 1)[1].split(")", 1)[0])


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def served(runtime: Path) -> Iterator[dict[str, str]]:
    """A running server; its environment for clients."""
    env = environment(runtime)
    started = daemon(env, "start")
    assert started.returncode == 0, started.stderr
    assert "lint server started (pid" in started.stdout
    pids = {server_pid(env)}
    yield env
    if daemon(env, "status").returncode == 0:  # a test may have started another
        pids.add(server_pid(env))
    daemon(env, "stop")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # its session: the server and any child left


def project(tmp_path: Path) -> Path:
    where = tmp_path / "project"
    where.mkdir()
    (where / "Dockerfile").write_text(DIRTY)
    (where / "clean.Dockerfile").write_text(CLEAN)
    (where / ".dockerignore").write_text(".git\n")
    (where / "broken.Dockerfile").write_text("FROM scratch\nRUN <<EOF\nnever ends\n")
    return where


def in_process(env: dict[str, str], cwd: Path, *args: str, stdin: bytes = b"",
               merged: bool = False) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    proc, modules = lint({**env, "SCRATCHPACK_LINT_SERVER": "0"}, cwd, *args, stdin=stdin,
                         merged=merged)  # fmt: skip
    assert "scratchpack.cli.main" in modules
    return proc


def same(a: subprocess.CompletedProcess[bytes], b: subprocess.CompletedProcess[bytes]) -> None:
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


CASES = [
    ("Dockerfile",),  # findings: exit 1, with ShellCheck's (SC2164) when it is installed
    ("clean.Dockerfile",),  # exit 0
    ("-f", "json", "Dockerfile", "clean.Dockerfile"),
    ("-f", "sarif", "Dockerfile"),
    ("-f", "github", "--no-shellcheck", "Dockerfile"),
    ("-t", "error", "Dockerfile"),
    ("broken.Dockerfile", "Dockerfile"),  # a parse error: exit 2, stderr and stdout
    ("missing.Dockerfile",),  # exit 2
    ("--format", "nope", "Dockerfile"),  # a usage error (argparse): exit 2
    ("--explain", "DL3008"),
    ("--help",),
    ("--ignore", "SP101", "-f", "json", "-"),  # standard input
]


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_a_served_lint_prints_and_exits_as_in_process(
    served: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    where = project(tmp_path)
    stdin = DIRTY.encode() if "-" in args else b""
    got, modules = lint(served, where, *args, stdin=stdin)
    assert "scratchpack.cli.main" not in modules  # the server answered
    same(got, in_process(served, where, *args, stdin=stdin))
    assert got.returncode in (0, 1, 2)


@pytest.mark.parametrize("unbuffered", [True, False], ids=["PYTHONUNBUFFERED", "buffered"])
def test_merged_streams_keep_the_order_of_the_writes(
    served: dict[str, str], tmp_path: Path, unbuffered: bool
) -> None:
    """stdout and stderr into one pipe (as pre-commit reads a hook): the same bytes in the
    same order, with Python's buffering of the client (``-u``/``PYTHONUNBUFFERED`` or not)."""
    env = {k: v for k, v in served.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    where = project(tmp_path)
    args = ("missing.Dockerfile", "broken.Dockerfile", "Dockerfile")
    got, modules = lint(env, where, *args, merged=True)
    assert "scratchpack.cli.main" not in modules
    same(got, in_process(env, where, *args, merged=True))


def test_the_client_loads_almost_nothing(served: dict[str, str], tmp_path: Path) -> None:
    """What a served ``lint`` costs is the interpreter plus this: no CLI, no rules, no
    tree-sitter, and none of the standard library that makes the in-process start slow."""
    _, modules = lint(served, project(tmp_path), "Dockerfile")
    ours = {m for m in modules if m.split(".")[0] == "scratchpack"}
    assert ours == {"scratchpack", "scratchpack.cli", "scratchpack.cli.entry",
                    "scratchpack.cli.lintserver"}  # fmt: skip
    heavy = {"re", "typing", "socket", "selectors", "enum", "json", "pathlib", "argparse",
             "dataclasses", "subprocess", "tree_sitter", "dockerfile", "contextlib", "struct",
             "fcntl"}  # fmt: skip
    assert modules & heavy == set()


def test_config_changes_are_picked_up(served: dict[str, str], tmp_path: Path) -> None:
    where = project(tmp_path)
    config = where / ".scratchpack.toml"
    for ignored in ("SP100", "SP101"):
        config.write_text(f'ignore = ["{ignored}"]\n')
        got, modules = lint(served, where, "-f", "json", "--no-shellcheck", "Dockerfile")
        assert "scratchpack.cli.main" not in modules
        codes = {f["code"] for f in json.loads(got.stdout)}
        assert ignored not in codes and {"SP100", "SP101"} - {ignored} <= codes
        same(got, in_process(served, where, "-f", "json", "--no-shellcheck", "Dockerfile"))


def test_the_environment_and_directory_are_the_clients(
    served: dict[str, str], tmp_path: Path
) -> None:
    """``$SCRATCHPACK_SHELLCHECK`` empty (no ShellCheck) reaches the request, and a relative
    path is resolved in the client's directory."""
    where = project(tmp_path)
    env = {**served, "SCRATCHPACK_SHELLCHECK": ""}
    got, modules = lint(env, where, "-f", "json", "--verbose", "Dockerfile")
    assert "scratchpack.cli.main" not in modules
    assert not any(f["code"].startswith("SC") for f in json.loads(got.stdout))
    same(got, in_process(env, where, "-f", "json", "--verbose", "Dockerfile"))


def test_fix_always_runs_in_process(served: dict[str, str], tmp_path: Path) -> None:
    where = project(tmp_path)
    for flag in ("--fix", "--fi"):  # argparse's abbreviation too
        _, modules = lint(served, where, flag, "--no-pin", "Dockerfile")
        assert "scratchpack.cli.main" in modules


def test_lookup_bases_always_runs_in_process(served: dict[str, str], tmp_path: Path) -> None:
    """A lint that asks registries waits on them: the server, one request at a time, would
    hold every other lint up behind it."""
    where = project(tmp_path)
    (where / "scratch.Dockerfile").write_text("FROM scratch\nUSER 1\n")
    for flag in ("--lookup-bases", "--look"):  # argparse's abbreviation too
        _, modules = lint(served, where, flag, "scratch.Dockerfile")
        assert "scratchpack.cli.main" in modules
    _, modules = lint(served, where, "scratch.Dockerfile")
    assert "scratchpack.cli.main" not in modules  # served


def test_daemon_takes_no_files(runtime: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scratchpack", "lint", "--daemon", "start", "Dockerfile"],
        env=environment(runtime), capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert (
        proc.stderr == "scratchpack: error: --daemon start takes no files: it manages the server\n"
    )
    assert list(runtime.iterdir()) == []


def test_status_start_and_stop(served: dict[str, str]) -> None:
    pid = server_pid(served)
    again = daemon(served, "start")
    assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout
    stopped = daemon(served, "stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout, stopped.stderr
    assert not Path(served["XDG_RUNTIME_DIR"], "scratchpack-lint.sock").exists()  # waited for
    status = daemon(served, "status")
    assert status.returncode == 1 and "no lint server at" in status.stdout
    assert daemon(served, "stop").returncode == 0  # nothing to stop is not an error


def test_a_stale_socket_is_linted_past_and_replaced(served: dict[str, str], tmp_path: Path) -> None:
    pid = server_pid(served)
    os.killpg(pid, signal.SIGKILL)  # no chance to remove its socket
    sock = Path(served["XDG_RUNTIME_DIR"], "scratchpack-lint.sock")
    deadline = time.monotonic() + 10
    while daemon(served, "status").returncode == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sock.is_socket()
    where = project(tmp_path)
    for args, stdin in ((("Dockerfile",), b""), (("-f", "json", "-"), DIRTY.encode())):
        got, modules = lint(served, where, *args, stdin=stdin)
        assert "scratchpack.cli.main" in modules  # linted here, without a warning
        same(got, in_process(served, where, *args, stdin=stdin))
        assert got.stdout
    restarted = daemon(served, "start")
    assert restarted.returncode == 0, restarted.stderr
    assert server_pid(served) != pid
    _, modules = lint(served, where, "Dockerfile")
    assert "scratchpack.cli.main" not in modules


def test_a_server_killed_mid_request_is_linted_past(served: dict[str, str], tmp_path: Path) -> None:
    """The request blocks in a ShellCheck that sleeps the first time; the server's whole
    session is killed meanwhile; the client lints in-process (ShellCheck answers at
    once then) and prints what an in-process lint prints."""
    where = project(tmp_path)
    marker = tmp_path / "first-call"
    fake = tmp_path / "shellcheck"
    fake.write_text(
        f"#!/bin/sh\nif mkdir {marker} 2>/dev/null; then sleep 60; fi\necho '{{\"comments\":[]}}'\n"
    )
    fake.chmod(0o755)
    env = {**served, "SCRATCHPACK_SHELLCHECK": str(fake)}
    pid = server_pid(served)  # now: once the request runs, the server answers nothing else
    record = where / ".modules"
    source = tmp_path / "stdin"
    source.write_text(DIRTY)  # read by the client, sent, then linted here again
    with source.open("rb") as stdin:
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(record), "lint", "-"], cwd=where, env=env,
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the request never reached ShellCheck"
        assert client.poll() is None
        time.sleep(0.02)
    os.killpg(pid, signal.SIGKILL)
    out, err = client.communicate(timeout=60)
    assert "scratchpack.cli.main" in record.read_text().splitlines()
    got = subprocess.CompletedProcess(client.args, client.returncode, out, err)
    same(got, in_process(env, where, "-", stdin=DIRTY.encode()))
    assert out.startswith(b"-:1: SP100")  # the input read before the kill was linted


def listening(path: Path) -> socket.socket:
    """A socket that accepts and never answers (it must never be asked)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    return listener


def test_a_socket_open_to_others_is_refused(runtime: Path, tmp_path: Path) -> None:
    env = environment(runtime)
    where = project(tmp_path)
    with listening(runtime / "scratchpack-lint.sock") as listener:
        (runtime / "scratchpack-lint.sock").chmod(0o666)
        got, modules = lint(env, where, "clean.Dockerfile")
        assert "scratchpack.cli.main" in modules
        assert got.returncode == 0
        assert got.stderr.decode() == (
            f"scratchpack: warning: not using the lint server: {runtime}/scratchpack-lint.sock"
            " is open to other users (mode 666)\n"
        )
        listener.settimeout(0)
        with pytest.raises(BlockingIOError):
            listener.accept()  # never connected to
    (runtime / "scratchpack-lint.sock").unlink()
    runtime.chmod(0o777)
    with listening(runtime / "scratchpack-lint.sock"):
        got, _ = lint(env, where, "clean.Dockerfile")
        assert f"{runtime} is open to other users (mode 777)" in got.stderr.decode()


def test_another_users_socket_is_refused(runtime: Path, tmp_path: Path) -> None:
    if os.getuid() != 0:
        unavailable("making a socket owned by another user needs root")
    env = environment(runtime)
    where = project(tmp_path)
    sock = runtime / "scratchpack-lint.sock"
    with listening(sock) as listener:
        os.chown(sock, 65534, 65534)
        sock.chmod(0o600)
        got, modules = lint(env, where, "Dockerfile")
        assert "scratchpack.cli.main" in modules
        assert got.stderr.decode().startswith(
            f"scratchpack: warning: not using the lint server: {sock} is owned by uid 65534"
        )
        same(
            subprocess.CompletedProcess(got.args, got.returncode, got.stdout,
                                        got.stderr.split(b"\n", 1)[1]),
            in_process(env, where, "Dockerfile"),
        )  # fmt: skip
        listener.settimeout(0)
        with pytest.raises(BlockingIOError):
            listener.accept()
        # ... and a daemon start does not take it over
        started = daemon(env, "start")
        assert started.returncode != 0 and "owned by uid 65534" in started.stderr
        assert sock.stat().st_uid == 65534


def test_a_server_refuses_requests_of_another_protocol(served: dict[str, str]) -> None:
    from scratchpack.cli.lintserver import pack, receive

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(Path(served["XDG_RUNTIME_DIR"], "scratchpack-lint.sock")))
        conn.sendall(pack([b"scratchpack-lint/0 old", b"lint"]))
        assert receive(conn)[0] == b"version"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(Path(served["XDG_RUNTIME_DIR"], "scratchpack-lint.sock")))
        conn.sendall(b"\xff\xff\xff\xff")  # more fields than any request: dropped
        assert conn.recv(1) == b""
    assert daemon(served, "status").returncode == 0  # and the server goes on


def test_status_is_answered_while_a_long_lint_runs(served: dict[str, str], tmp_path: Path) -> None:
    """Each connection has its thread: a lint held in a slow ShellCheck does not hold up
    ``--daemon status``, and a second lint waits for the first (they share the process's
    directory and environment) and is then served, not refused."""
    where = project(tmp_path)
    marker = tmp_path / "started"
    release = tmp_path / "release"
    fake = tmp_path / "shellcheck"
    fake.write_text(
        f"#!/bin/sh\ntouch {marker}\nwhile [ ! -e {release} ]; do sleep 0.05; done\n"
        "echo '{\"comments\":[]}'\n"
    )
    fake.chmod(0o755)
    env = {**served, "SCRATCHPACK_SHELLCHECK": str(fake), "SCRATCHPACK_SHELLCHECK_CACHE": "0"}
    record = tmp_path / "slow-modules"  # not lint()'s, which the second client uses
    slow = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(record), "lint", "Dockerfile"], cwd=where, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the request never reached ShellCheck"
            assert slow.poll() is None
            time.sleep(0.02)
        status = daemon(served, "status")
        assert status.returncode == 0 and "lint server running" in status.stdout
        assert slow.poll() is None  # answered while the lint still waits in ShellCheck
        second, modules = lint(served, where, "--no-shellcheck", "clean.Dockerfile")
        assert second.returncode == 0 and "scratchpack.cli.main" not in modules  # served
    finally:
        release.touch()
    out, err = slow.communicate(timeout=60)
    assert "scratchpack.cli.main" not in record.read_text().splitlines()  # served, not local
    assert slow.returncode == 1 and out.startswith(b"Dockerfile:1: SP100"), err


def test_an_oversized_request_is_refused_before_it_is_read(served: dict[str, str]) -> None:
    from scratchpack.cli.lintserver import PROTOCOL

    path = str(Path(served["XDG_RUNTIME_DIR"], "scratchpack-lint.sock"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        # three fields announced, the last one of 64 MiB: dropped at its length, unread
        conn.sendall(b"\x00\x00\x00\x03" + len(PROTOCOL).to_bytes(4, "big") + PROTOCOL)
        conn.sendall(b"\x00\x00\x00\x04lint" + (64 << 20).to_bytes(4, "big"))
        assert conn.recv(1) == b""
    assert daemon(served, "status").returncode == 0  # and the server goes on


# --- SCRATCHPACK_LINT_SERVER=auto: a client that finds no server starts one ----------------


def servers_at(runtime: Path) -> set[int]:
    """The pids of the lint server processes for this runtime directory's socket (a test's
    own: the socket path is the test's temporary directory)."""
    sock = os.fsencode(runtime / "scratchpack-lint.sock")
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if b"scratchpack.cli.lintserver" in argv and sock in argv:
                    found.add(int(entry.name))
    return found


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Poll ``condition`` (a server's warm-up takes about a second idle, far more at load)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def auto(runtime: Path) -> Iterator[dict[str, str]]:
    """The environment of a client that starts a server when none answers; every server of
    the runtime directory is stopped at the end."""
    env = {
        **environment(runtime, SCRATCHPACK_LINT_SERVER_IDLE="120"),
        "SCRATCHPACK_LINT_SERVER": "auto",
    }
    env.pop("CI", None)
    yield env
    daemon(env, "stop")
    for pid in servers_at(runtime):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_auto_starts_a_server_that_answers_the_next_requests(
    auto: dict[str, str], runtime: Path, tmp_path: Path
) -> None:
    where = project(tmp_path)
    first, modules = lint(auto, where, "Dockerfile")
    assert "scratchpack.cli.main" in modules  # this one linted in-process, at once
    same(first, in_process(auto, where, "Dockerfile"))
    sock = runtime / "scratchpack-lint.sock"
    wait_until(lambda: daemon(auto, "status").returncode == 0, "the started server")
    assert sock.is_socket()
    pid = server_pid(auto)
    assert os.getsid(pid) == pid  # a session of its own: the client's terminal may go away
    log = runtime / "scratchpack-lint.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert f"lint server (pid {pid})" in log.read_text()
    for args in (("Dockerfile",), ("-f", "json", "Dockerfile", "clean.Dockerfile")):
        got, modules = lint(auto, where, *args)
        assert "scratchpack.cli.main" not in modules  # served
        same(got, in_process(auto, where, *args))
    assert servers_at(runtime) == {pid}  # served requests start nothing


def test_an_auto_started_server_exits_when_idle(
    auto: dict[str, str], runtime: Path, tmp_path: Path
) -> None:
    env = {**auto, "SCRATCHPACK_LINT_SERVER_IDLE": "1"}
    where = project(tmp_path)
    lint(env, where, "Dockerfile")
    wait_until(lambda: bool(servers_at(runtime)), "the started server")
    wait_until(lambda: not servers_at(runtime), "the idle server's exit")
    assert not (runtime / "scratchpack-lint.sock").exists()  # removed on its way out
    assert "idle, exiting" in (runtime / "scratchpack-lint.log").read_text()
    lint(auto, where, "Dockerfile")  # the next client finds none again and starts one
    wait_until(lambda: daemon(auto, "status").returncode == 0, "a server started anew")


def test_auto_starts_nothing_in_ci_or_for_a_terminal_less_request(
    auto: dict[str, str], runtime: Path, tmp_path: Path
) -> None:
    """Under CI a started server would outlive its job's step; ``--fix`` is never served."""
    where = project(tmp_path)
    got, _ = lint({**auto, "CI": "true"}, where, "Dockerfile")
    same(got, in_process(auto, where, "Dockerfile"))
    lint(auto, where, "--fix", "--diff", "Dockerfile")
    time.sleep(2)  # what a start would have taken to show its process
    assert servers_at(runtime) == set()
    assert not (runtime / "scratchpack-lint.sock").exists()
    assert lint({**auto, "CI": "false"}, where, "Dockerfile")[0].returncode == 1
    wait_until(lambda: daemon(auto, "status").returncode == 0, "the server CI=false starts")


def test_concurrent_auto_starts_leave_one_server(
    auto: dict[str, str], runtime: Path, tmp_path: Path
) -> None:
    """Eight clients at once find no server: one server stays, its socket answers, and every
    client printed what an in-process lint prints."""
    where = project(tmp_path)
    record = where / ".modules"
    pipe = subprocess.PIPE
    command = [sys.executable, "-c", CLIENT]
    clients = [
        subprocess.Popen(
            [*command, f"{record}{n}", "lint", "Dockerfile"],
            cwd=where,
            env=auto,
            stdout=pipe,
            stderr=pipe,
        )
        for n in range(8)
    ]
    outputs = {(*c.communicate(timeout=120), c.returncode) for c in clients}
    expected = in_process(auto, where, "Dockerfile")
    assert outputs == {(expected.stdout, expected.stderr, expected.returncode)}
    wait_until(lambda: daemon(auto, "status").returncode == 0, "the started server")
    pid = server_pid(auto)
    wait_until(lambda: servers_at(runtime) == {pid}, "the other starters' exit")
    got, modules = lint(auto, where, "Dockerfile")
    assert "scratchpack.cli.main" not in modules
    same(got, expected)
    again = daemon(auto, "start")
    assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout


def test_auto_replaces_the_stale_socket_of_a_killed_server(
    auto: dict[str, str], runtime: Path, tmp_path: Path
) -> None:
    where = project(tmp_path)
    lint(auto, where, "Dockerfile")
    wait_until(lambda: daemon(auto, "status").returncode == 0, "the started server")
    killed = server_pid(auto)
    os.killpg(killed, signal.SIGKILL)  # no chance to remove its socket
    wait_until(lambda: killed not in servers_at(runtime), "the killed server's end")
    assert (runtime / "scratchpack-lint.sock").is_socket()
    got, modules = lint(auto, where, "Dockerfile")
    assert "scratchpack.cli.main" in modules  # linted here, and a server started anew
    same(got, in_process(auto, where, "Dockerfile"))
    wait_until(lambda: daemon(auto, "status").returncode == 0, "the new server")
    assert server_pid(auto) != killed
    served, modules = lint(auto, where, "Dockerfile")
    assert "scratchpack.cli.main" not in modules
    same(served, got)


def test_requests_of_another_version_do_not_keep_a_server_alive(
    auto: dict[str, str], runtime: Path, tmp_path: Path
) -> None:
    """After an upgrade every client is refused by the old server (another protocol): those
    refusals must not reset its idle time, or ``auto`` would never get a current server."""
    from scratchpack.cli.lintserver import pack, receive

    env = {**auto, "SCRATCHPACK_LINT_SERVER_IDLE": "2"}
    lint(env, project(tmp_path), "Dockerfile")
    wait_until(lambda: daemon(env, "status").returncode == 0, "the started server")
    pid = server_pid(env)

    def refused_and_gone() -> bool:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(runtime / "scratchpack-lint.sock"))
            conn.sendall(pack([b"scratchpack-lint/0 old", b"lint"]))
            assert receive(conn)[0] == b"version"
        time.sleep(0.2)
        return pid not in servers_at(runtime)

    wait_until(refused_and_gone, "the idle exit of a server asked only by other versions")
    assert "idle, exiting" in (runtime / "scratchpack-lint.log").read_text()


def test_an_idle_time_that_is_no_number_is_said_not_guessed(
    auto: dict[str, str], runtime: Path, tmp_path: Path
) -> None:
    """``SCRATCHPACK_LINT_SERVER_IDLE=15m`` (a typo for 900) once fell back to the default in
    silence; now ``--daemon start`` refuses it and ``auto`` lints here with a warning, starting
    no server that would live for a time nobody asked for."""
    where = project(tmp_path)
    for value in ("15m", "nan", "inf", "0x10"):
        env = {**auto, "SCRATCHPACK_LINT_SERVER_IDLE": value}
        started = daemon(env, "start")
        assert started.returncode == 2, started.stdout + started.stderr
        assert "SCRATCHPACK_LINT_SERVER_IDLE must be a number" in started.stderr
        assert "Traceback" not in started.stderr
        got, _ = lint(env, where, "Dockerfile")
        assert "SCRATCHPACK_LINT_SERVER_IDLE must be a number" in got.stderr.decode()
        assert "no lint server started" in got.stderr.decode()
        assert got.returncode == 1  # the findings, linted in this process
    time.sleep(1)
    assert servers_at(runtime) == set()
