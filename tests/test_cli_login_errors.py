"""``login``/``logout`` with real credential helpers and a terminal prompt, and the registry
errors a user meets first: refused connections, unknown hosts, missing images."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import assert_clean_error, run_cli
from registryserver import PASSWORD, USER, htpasswd_yaml, running_registry
from scratchpack.errors import TransportError
from scratchpack.transports.registry.client import RegistryClient, RetryPolicy

_HELPER = """\
#!{python}
# A docker-credential helper (store/get/erase/list) keeping its secrets in one JSON file.
import json, os, sys
path = os.environ["TESTHELPER_STORE"]
data = json.load(open(path)) if os.path.exists(path) else {{}}
action, text = sys.argv[1], sys.stdin.read()
with open(path + ".log", "a") as log:
    log.write(action + "\\n")
if os.environ.get("TESTHELPER_FAIL"):
    print("the keychain is locked (" + text + ")")
    sys.exit(1)
if action == "store":
    entry = json.loads(text)
    data[entry["ServerURL"]] = {{"Username": entry["Username"], "Secret": entry["Secret"]}}
elif action == "get":
    if text.strip() not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": text.strip(), **data[text.strip()]}}))
elif action == "erase":
    if data.pop(text.strip(), None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
elif action == "list":
    print(json.dumps({{k: v["Username"] for k, v in data.items()}}))
json.dump(data, open(path, "w"))
"""


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("auth-registry")
    with running_registry(root, htpasswd_yaml(root)) as address:
        yield address


class Helper:
    """``docker-credential-testhelper`` on PATH, a DOCKER_CONFIG naming it, and the env."""

    def __init__(self, tmp_path: Path) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        program = bin_dir / "docker-credential-testhelper"
        program.write_text(_HELPER.format(python=sys.executable))
        program.chmod(0o755)
        self.store = tmp_path / "helper-store.json"
        self.config_dir = tmp_path / "docker"
        self.config_dir.mkdir()
        self.config = self.config_dir / "config.json"
        self.env = {
            "DOCKER_CONFIG": str(self.config_dir),
            "REGISTRY_AUTH_FILE": "",
            "TESTHELPER_STORE": str(self.store),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        }

    def secrets(self) -> dict[str, dict[str, str]]:
        return dict(json.loads(self.store.read_text())) if self.store.exists() else {}

    def calls(self) -> list[str]:
        log = Path(f"{self.store}.log")
        return log.read_text().split() if log.exists() else []


@pytest.fixture
def helper(tmp_path: Path) -> Helper:
    return Helper(tmp_path)


@pytest.mark.parametrize("how", ["credsStore", "credHelpers"])
def test_login_with_a_helper_never_writes_the_password(
    auth_registry: str, helper: Helper, how: str
) -> None:
    stale = base64.b64encode(f"{USER}:old-password".encode()).decode()
    config: dict[str, object] = {"auths": {auth_registry: {"auth": stale}}, "other": "kept"}
    if how == "credsStore":
        config["credsStore"] = "testhelper"
    else:
        config["credHelpers"] = {auth_registry: "testhelper", "other.example.com": "nope"}
    helper.config.write_text(json.dumps(config))
    result = run_cli(
        "login", f"docker://{auth_registry}", "-u", USER, "--password-stdin",
        env=helper.env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "docker-credential-testhelper" in result.stdout
    assert helper.secrets() == {auth_registry: {"Username": USER, "Secret": PASSWORD}}
    text = helper.config.read_text()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert PASSWORD not in text and token not in text
    written = json.loads(text)
    assert stale not in text  # the old password on disk is gone, not shadowing the helper's
    assert written["other"] == "kept" and written.get(how) == config[how]
    # a later command gets the credentials from the helper's `get`
    listed = run_cli("tags", f"docker://{auth_registry}/nothing/here", env=helper.env)
    assert "requires authentication" not in listed.stderr, listed.stderr
    assert "NAME_UNKNOWN" in listed.stderr, listed.stderr  # authenticated: the repo is unknown
    assert "get" in helper.calls()
    # logout erases them from the helper; then the registry asks again
    out = run_cli("logout", auth_registry, env=helper.env)
    assert out.code == 0, out.stderr
    assert "docker-credential-testhelper" in out.stdout
    assert helper.secrets() == {}
    assert "erase" in helper.calls()
    after = run_cli("tags", f"docker://{auth_registry}/nothing/here", env=helper.env)
    assert_clean_error(after, 1, "requires authentication")
    again = run_cli("logout", auth_registry, env=helper.env)
    assert again.code == 0 and f"Not logged in to {auth_registry}" in again.stdout


def test_a_wrong_password_is_not_stored(auth_registry: str, helper: Helper) -> None:
    helper.config.write_text(json.dumps({"credsStore": "testhelper"}))
    result = run_cli(
        "login", auth_registry, "-u", USER, "--password-stdin", env=helper.env, stdin="wrong\n"
    )
    assert_clean_error(result, 1, "invalid username or password")
    assert helper.secrets() == {}
    assert "store" not in helper.calls()


def test_a_failing_helper_is_one_clear_error(auth_registry: str, helper: Helper) -> None:
    helper.config.write_text(json.dumps({"credsStore": "testhelper"}))
    result = run_cli(
        "login", auth_registry, "-u", USER, "--password-stdin",
        env={**helper.env, "TESTHELPER_FAIL": "1"}, stdin=PASSWORD + "\n",
    )  # fmt: skip
    # the helper's own message, with the secret it echoed masked
    assert_clean_error(result, 1, "docker-credential-testhelper could not store", "locked")
    assert PASSWORD not in result.stderr and "***" in result.stderr
    assert PASSWORD not in helper.config.read_text()


def test_login_without_a_helper_writes_auths_and_logout_removes_it(
    auth_registry: str, tmp_path: Path
) -> None:
    config_dir = tmp_path / "docker"
    env = {"DOCKER_CONFIG": str(config_dir), "REGISTRY_AUTH_FILE": ""}
    result = run_cli(
        "login", auth_registry, "-u", USER, "--password-stdin", env=env, stdin=PASSWORD + "\n"
    )
    assert result.code == 0, result.stderr
    config = config_dir / "config.json"
    assert auth_registry in json.loads(config.read_text())["auths"]
    assert (config_dir / "config.json.lock").exists()  # written under the lock
    out = run_cli("logout", f"docker://{auth_registry}/", env=env)
    assert out.code == 0, out.stderr
    assert str(config) in out.stdout
    assert json.loads(config.read_text())["auths"] == {}
    assert config.stat().st_mode & 0o777 == 0o600
    assert_clean_error(
        run_cli("tags", f"docker://{auth_registry}/nothing/here", env=env),
        1,
        "requires authentication",
    )


def test_password_on_the_command_line_warns_as_docker_does(
    auth_registry: str, tmp_path: Path
) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "d"), "REGISTRY_AUTH_FILE": ""}
    result = run_cli("login", auth_registry, "-u", USER, "-p", PASSWORD, env=env)
    assert result.code == 0, result.stderr
    assert result.stderr == (
        "scratchpack: warning: Using --password via the CLI is insecure. Use --password-stdin.\n"
    )
    quiet = run_cli(
        "login", auth_registry, "-u", USER, "--password-stdin", env=env, stdin=PASSWORD + "\n"
    )
    assert quiet.code == 0 and quiet.stderr == ""


def test_no_password_and_no_terminal_is_a_usage_error(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "d"), "REGISTRY_AUTH_FILE": ""}
    result = run_cli("login", "127.0.0.1:1", "-u", USER, env=env, stdin="")
    assert_clean_error(result, 2, "--password-stdin", "not a terminal")
    both = run_cli("login", "127.0.0.1:1", "-u", USER, "-p", "x", "--password-stdin", env=env)
    assert_clean_error(both, 2, "mutually exclusive")
    plain = run_cli("login", "http://127.0.0.1:1", "-u", USER, "-p", "x", env=env)
    assert_clean_error(plain, 2, "--tls-verify=false")
    assert not (tmp_path / "d").exists()


def test_login_help_has_no_options_that_do_nothing() -> None:
    result = run_cli("login", "--help")
    assert result.code == 0
    for useless in ("--quiet", "--jobs", "--creds", "--retries"):
        assert useless not in result.stdout
    assert "--password-stdin" in result.stdout and "examples:" in result.stdout


def _read_until(fd: int, wanted: bytes, seen: bytearray, deadline: float) -> bool:
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return wanted in seen
        if not chunk:
            return wanted in seen
        seen.extend(chunk)
    return True


def _login_on_a_terminal(registry: str, tmp_path: Path, typed: bytes) -> tuple[int, str]:
    """Run ``login REGISTRY -u alice`` with a pty as its controlling terminal (as in a shell),
    type ``typed`` at the password prompt; the exit code and all the terminal showed."""
    env = {
        **os.environ,
        "DOCKER_CONFIG": str(tmp_path / "d"),
        "REGISTRY_AUTH_FILE": "",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execve(sys.executable, [sys.executable, "-m", "scratchpack", "login",
                                   registry, "-u", USER], env)  # fmt: skip
    seen = bytearray()
    prompted = False
    try:
        prompted = _read_until(fd, b"Password:", seen, time.monotonic() + 60)
        if prompted:
            os.write(fd, typed)
            _read_until(fd, b"\0never", seen, time.monotonic() + 60)  # until it exits
    finally:
        if not prompted:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode(errors="replace")
    assert prompted, text
    return os.waitstatus_to_exitcode(status), text


def test_prompts_for_the_password_on_a_terminal_without_echo(
    auth_registry: str, tmp_path: Path
) -> None:
    code, text = _login_on_a_terminal(auth_registry, tmp_path, PASSWORD.encode() + b"\n")
    assert code == 0, text
    assert "Login succeeded" in text
    assert PASSWORD not in text  # not echoed
    config = json.loads((tmp_path / "d/config.json").read_text())
    assert auth_registry in config["auths"]


def test_end_of_input_at_the_prompt_is_a_usage_error(auth_registry: str, tmp_path: Path) -> None:
    code, text = _login_on_a_terminal(auth_registry, tmp_path, b"\x04")  # Ctrl-D
    assert code == 2, text
    assert "scratchpack: error: no password given" in text and "Traceback" not in text
    assert not (tmp_path / "d").exists()


# -- item 6: errors -------------------------------------------------------------------------


def test_a_refused_connection_fails_at_once_in_a_sentence(free_port: int) -> None:
    slept: list[float] = []
    client = RegistryClient(f"127.0.0.1:{free_port}", retry=RetryPolicy(sleep=slept.append))
    with client, pytest.raises(TransportError) as caught:
        client.request("GET", "/v2/")
    assert str(caught.value) == (
        f"127.0.0.1:{free_port}: GET /v2/: cannot connect to 127.0.0.1:{free_port}: "
        "connection refused"
    )
    assert slept == [] and client.stats["retries"] == 0  # not retried in silence
    result = run_cli("digest", f"docker://127.0.0.1:{free_port}/x:1")
    assert_clean_error(result, 1, f"cannot connect to 127.0.0.1:{free_port}: connection refused")
    assert "Errno" not in result.stderr and "attempt" not in result.stderr


def test_an_unknown_host_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    slept: list[float] = []
    client = RegistryClient("registry.example.com", retry=RetryPolicy(sleep=slept.append))
    with client, pytest.raises(TransportError) as caught:
        client.request("GET", "/v2/")
    assert str(caught.value).endswith("cannot resolve registry.example.com: no such host")
    assert slept == []


def test_the_real_resolver_names_the_host_not_an_errno() -> None:
    result = run_cli("digest", "docker://no-such-host.invalid/x:1", "--retries", "0")
    assert_clean_error(result, 1, "cannot resolve no-such-host.invalid")
    assert "Errno" not in result.stderr


class _HangUpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        if self.request.recv(65536).startswith(b"GET /v2/ "):
            self.request.sendall(
                b"HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
        elif isinstance(self.server, _HangUp):
            self.server.hung_up += 1


class _HangUp(socketserver.ThreadingTCPServer):
    """A registry that answers ``GET /v2/`` and hangs up on everything else: a transient
    failure, retried, whose attempts are counted in ``hung_up``."""

    daemon_threads = True

    def __init__(self) -> None:
        self.hung_up = 0
        super().__init__(("127.0.0.1", 0), _HangUpHandler)
        self.address = f"127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.mark.parametrize(("retries", "counted"), [(0, "1 attempt:"), (2, "3 attempts:")])
def test_failed_after_counts_the_attempts(retries: int, counted: str) -> None:
    server = _HangUp()
    try:
        result = run_cli("digest", f"docker://{server.address}/x:1", "--retries", str(retries))
    finally:
        server.shutdown()
        server.server_close()
    assert_clean_error(result, 1, f"failed after {counted}", "closed the connection")
    assert server.hung_up == retries + 1
    assert "Errno" not in result.stderr


@pytest.fixture(scope="module")
def pushed(registry: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A repository on the shared test registry holding one image, ``:v1``."""
    layout = tmp_path_factory.mktemp("layout") / "l"
    repo = f"{registry}/sptest-{uuid.uuid4().hex[:12]}"
    made = run_cli("pack", "/bin/true", "--allow-dynamic", "-o", f"oci:{layout}:v1")
    assert made.code == 0, made.stderr
    copied = run_cli("copy", f"oci:{layout}:v1", f"docker://{repo}:v1")
    assert copied.code == 0, copied.stderr
    return repo


@pytest.mark.parametrize(
    "where", ["oci-dir", "oci-tag", "archive", "registry-repo", "registry-tag"]
)
@pytest.mark.parametrize("command", ["inspect", "digest", "copy", "audit", "pack --base"])
def test_image_not_found_is_exit_2_everywhere(
    where: str, command: str, pushed: str, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    assert run_cli("pack", "/bin/true", "--allow-dynamic", "-o", f"oci:{layout}:v1").code == 0
    image = {
        "oci-dir": f"oci:{tmp_path}/nothing:v1",
        "oci-tag": f"oci:{layout}:nope",
        "archive": f"docker-archive:{tmp_path}/nothing.tar",
        "registry-repo": f"docker://{pushed}-gone:v1",
        "registry-tag": f"docker://{pushed}:nope",
    }[where]
    args: list[str] = {
        "inspect": ["inspect", image],
        "digest": ["digest", image],
        "copy": ["copy", image, f"oci:{tmp_path}/out:v1"],
        "audit": ["audit", image],
        "pack --base": [
            "pack", "/bin/true", "--allow-dynamic", "--base", image, "-o", f"oci:{tmp_path}/p:v1"
        ],
    }[command]  # fmt: skip
    result = run_cli(*args)
    fragment = "no image tagged" if where == "oci-tag" else "no such"
    assert_clean_error(result, 2, fragment)
    assert not (tmp_path / "out").exists() and not (tmp_path / "p").exists()
    # the image that does exist is found by the same command (the 2 is about absence)
    if where == "registry-tag" and command in ("inspect", "digest"):
        assert run_cli(command, f"docker://{pushed}:v1").code == 0


@pytest.mark.parametrize(
    ("docker_host", "reason"),
    [
        ("unix:///nonexistent/docker.sock", "no such file or directory"),
        ("tcp://127.0.0.1:1", "connection refused"),
    ],
)
def test_an_unreachable_daemon_is_a_sentence(docker_host: str, reason: str) -> None:
    result = run_cli("inspect", "docker-daemon:x:1", env={"DOCKER_HOST": docker_host})
    assert_clean_error(result, 1, f"cannot reach the Docker daemon at {docker_host}: {reason}")
    assert "Errno" not in result.stderr
