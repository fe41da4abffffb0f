"""Trust under attack (issue 12): the registry, or the network, may be hostile.

Credentials go only to the registry's own origin: an upload ``Location``, a tags ``Link`` or
a redirect to another address gets none (a second proxy on 127.0.0.2, standing in for a
storage host, records what reaches it); a token realm over plain HTTP to another machine is
refused without ``--tls-verify=false``. Huge responses (manifest, config, token, tags) are
refused without being read into memory (peak RSS of the real process is bounded). A tags
``Link`` loop ends; a plain-HTTP server on an HTTPS connection fails at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultproxy import Fault, FaultProxy
from helpers import CliResult, assert_clean_error, run_cli
from registryserver import (
    PASSWORD,
    USER,
    htpasswd_yaml,
    non_loopback_address,
    running_registry,
)
from scratchpack.errors import FormatError
from scratchpack.model.reference import Reference
from scratchpack.transports.registry import repository as repository_module
from scratchpack.transports.registry.transport import RegistryOptions, repository
from tokenserver import TokenServer

CREDS = f"{USER}:{PASSWORD}"
BASIC = "Basic " + base64.b64encode(CREDS.encode()).decode()
HUGE = 256 << 20  # a hostile response: far more than any cap, small enough to send quickly
RSS_BOUND_KB = 200 << 10  # reading HUGE into memory would pass this


@pytest.fixture(scope="module")
def shared(registry: str, layout: Path) -> str:
    """The layout pushed once (as REPO:v1) to the shared test registry, for the tests that
    only read it."""
    repo = f"trust/shared-{uuid.uuid4().hex[:12]}"
    result = run_cli("copy", f"oci:{layout}:v1", f"docker://{registry}/{repo}:v1")
    assert result.code == 0, result.stderr
    return repo


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No credentials from the machine: only --creds counts."""
    return {"DOCKER_CONFIG": str(tmp_path_factory.mktemp("empty")), "REGISTRY_AUTH_FILE": ""}


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("basic-registry")
    with running_registry(root, htpasswd_yaml(root)) as address:
        yield address


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TokenServer]]:
    root = tmp_path_factory.mktemp("token-registry")
    with TokenServer(root) as tokens, running_registry(root, tokens.registry_auth_yaml()) as addr:
        yield addr, tokens


def _push_pull_tags(front: FaultProxy, storage: FaultProxy, repo: str, layout: Path,
                    tmp_path: Path, env: dict[str, str]) -> None:  # fmt: skip
    """Push (uploads relocated to storage), pull (blobs redirected there), list tags (the
    next page is on storage): all must work, with credentials for the registry only."""
    front.add(Fault("POST", "/blobs/uploads/", "relocate", times=100, target=storage.address))
    front.add(Fault("GET", "/blobs/sha256:", "redirect", times=100, target=storage.address))
    link = f'<http://{storage.address}/v2/{repo}/tags/list?n=1000&last=v1>; rel="next"'
    front.add(Fault("GET", "/tags/list", "header", times=100, headers={"Link": link}))
    dest = f"docker://{front.address}/{repo}:v1"
    pushed = run_cli("copy", f"oci:{layout}:v1", dest, "--creds", CREDS, env=env)
    assert pushed.code == 0, pushed.stderr
    pulled = run_cli("copy", dest, f"oci:{tmp_path / 'p'}:v1", "--creds", CREDS, env=env)
    assert pulled.code == 0, pulled.stderr
    tags = run_cli(
        "tags", f"docker://{front.address}/{repo}", "--creds", CREDS, "--format", "json", env=env
    )
    assert tags.code == 0, tags.stderr
    assert json.loads(tags.stdout) == ["v1"]
    # the storage host did the work...
    methods = {key.split()[0] for key in storage.requests}
    assert {"PUT", "GET"} <= methods
    assert any("/tags/list" in key for key in storage.requests)
    # ...and never saw a credential, which the registry itself did get
    assert storage.authorizations == []
    assert front.authorizations


def test_basic_password_never_leaves_the_registry(
    basic_registry: str, layout: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    with (
        FaultProxy(basic_registry) as front,
        FaultProxy(basic_registry, bind="127.0.0.2", upstream_headers={"Authorization": BASIC})
        as storage,
    ):  # fmt: skip
        _push_pull_tags(front, storage, "trust/basic", layout, tmp_path, env)
        assert all(value == BASIC for _, value in front.authorizations)


def test_bearer_token_never_leaves_the_registry(
    token_registry: tuple[str, TokenServer], layout: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    address, tokens = token_registry
    own = "Bearer " + tokens.token(["repository:trust/bearer:pull,push"])
    with (
        FaultProxy(address) as front,
        FaultProxy(address, bind="127.0.0.2", upstream_headers={"Authorization": own})
        as storage,
    ):  # fmt: skip
        _push_pull_tags(front, storage, "trust/bearer", layout, tmp_path, env)
        assert all(value.startswith("Bearer ") for _, value in front.authorizations)


def test_token_realm_over_plain_http_to_another_host_needs_tls_verify_false(
    layout: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """Docker's token spec sends the registry password to the realm: over plain HTTP to
    another machine anyone on the network would read it."""
    with (
        TokenServer(tmp_path, bind=non_loopback_address()) as tokens,
        running_registry(tmp_path, tokens.registry_auth_yaml()) as address,
    ):
        dest = f"docker://{address}/trust/realm:v1"
        refused = run_cli("copy", f"oci:{layout}:v1", dest, "--creds", CREDS, env=env)
        assert_clean_error(refused, 1, "plain HTTP", "token server", "--tls-verify=false")
        assert tokens.authorizations == []
        allowed = run_cli(
            "copy", f"oci:{layout}:v1", dest, "--creds", CREDS, "--tls-verify=false", env=env
        )
        assert allowed.code == 0, allowed.stderr
        assert tokens.authorizations and all(a == BASIC for a in tokens.authorizations)


class _CountingPlainServer:
    """Answers every connection with one plain-HTTP 400, counting connections."""

    def __init__(self, address: str) -> None:
        self.sock = socket.create_server((address, 0))
        self.address = f"{address}:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def test_plain_http_registry_on_https_fails_at_once_and_names_the_fix(
    registry: str, shared: str
) -> None:
    address = non_loopback_address()
    server = _CountingPlainServer(address)
    try:
        result = run_cli("digest", f"docker://{server.address}/trust/x:v1")
    finally:
        server.sock.close()
    assert_clean_error(result, 1, "TLS", "plain-HTTP", "--tls-verify=false")
    assert "failed after" not in result.stderr
    assert server.connections == 1  # not retried
    # the advice works: the same kind of server, a real registry behind it
    with FaultProxy(registry, bind=address) as plain:
        ok = run_cli("digest", f"docker://{plain.address}/{shared}:v1", "--tls-verify=false")
        assert ok.code == 0, ok.stderr
        assert ok.stdout.strip().startswith("sha256:")


def test_tags_link_loops_and_endless_pages_are_refused(
    registry: str, shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = shared
    with FaultProxy(registry) as front:
        same = f'</v2/{repo}/tags/list?n=1000>; rel="next"'
        front.add(Fault("GET", "/tags/list", "header", times=3, headers={"Link": same}))
        looped = run_cli("tags", f"docker://{front.address}/{repo}")
        assert_clean_error(looped, 1, "tags list pages loop")
        monkeypatch.setattr(repository_module, "MAX_TAG_PAGES", 3)
        front.faults.clear()
        endless = f'</v2/{repo}/tags/list?n=1000&last=p{{n}}>; rel="next"'
        front.add(Fault("GET", "/tags/list", "header", times=10, headers={"Link": endless}))
        options = RegistryOptions()
        try:
            with pytest.raises(FormatError, match="longer than 3 pages"):
                repository(Reference.parse(f"{front.address}/{repo}"), options).tags()
        finally:
            options.close()


# -- huge answers --------------------------------------------------------------------------


# The CLI, reporting its own peak RSS. Not ru_maxrss: Linux carries the high-water mark of the
# forked (pytest-sized) process across exec into it; VmHWM is the exec'd process's own.
_MEASURED_MAIN = """
import sys
from scratchpack.cli.main import main
try:
    code = main(sys.argv[2:])
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as report:
        report.write(peak)
sys.exit(code)
"""


def _run_measured(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[
    CliResult, int
]:  # fmt: skip
    """Run the CLI in a real process; return its result and its peak RSS in KiB."""
    peak = tmp_path / "peak-rss"
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED_MAIN, str(peak), *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300,
        check=False,
    )  # fmt: skip
    return CliResult(proc.returncode, proc.stdout, proc.stderr), int(peak.read_text())


@pytest.mark.parametrize(
    ("what", "method", "path", "declare", "command", "message"),
    [
        ("manifest", "GET", "/manifests/", True, "inspect", "more than the 4 MiB"),
        ("manifest-undeclared", "GET", "/manifests/", False, "inspect", "more than the 4 MiB"),
        ("config", "GET", "/blobs/sha256:", False, "inspect", "more than the"),
        ("tags", "GET", "/tags/list", False, "tags", "more than the 4 MiB"),
    ],
)
def test_huge_answers_are_refused_without_reading_them(
    registry: str, shared: str, tmp_path: Path,
    what: str, method: str, path: str, declare: bool, command: str, message: str,
) -> None:  # fmt: skip
    repo = shared
    with FaultProxy(registry) as front:
        front.add(Fault(method, path, "inflate", times=100, extra=HUGE, declare=declare))
        target = f"docker://{front.address}/{repo}" + ("" if command == "tags" else ":v1")
        result, peak_kb = _run_measured(tmp_path, command, target)
    assert_clean_error(result, 1, message)
    assert peak_kb < RSS_BOUND_KB, f"peak RSS {peak_kb} KiB"


def test_a_huge_token_answer_is_refused_without_reading_it(
    token_registry: tuple[str, TokenServer], layout: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    address, tokens = token_registry
    pushed = run_cli(
        "copy", f"oci:{layout}:v1", f"docker://{address}/trust/token:v1", "--creds", CREDS,
        env=env,
    )  # fmt: skip
    assert pushed.code == 0, pushed.stderr
    tokens.inflate = HUGE
    try:
        result, peak_kb = _run_measured(
            tmp_path, "inspect", f"docker://{address}/trust/token:v1", "--creds", CREDS, env=env
        )
    finally:
        tokens.inflate = 0
    assert_clean_error(result, 1, "token server answer", "more than the 1 MiB")
    assert peak_kb < RSS_BOUND_KB, f"peak RSS {peak_kb} KiB"


def test_a_lying_digest_header_is_never_pinned(registry: str, shared: str, tmp_path: Path) -> None:
    """A registry (or a proxy) that answers a false ``Docker-Content-Digest`` on HEAD and GET
    must not get that digest printed by ``digest`` nor pinned by ``lint --fix``: the digest
    is the hash of the manifest bytes served, checked here against skopeo's raw copy."""
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/{shared}:v1"],
        check=True,
        capture_output=True,
    ).stdout
    true_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    lie = "sha256:" + "0" * 64
    with FaultProxy(registry) as front:
        header = {"Docker-Content-Digest": lie}
        for method in ("HEAD", "GET"):
            front.add(Fault(method, "/manifests/", "header", times=100, headers=header))
        image = f"{front.address}/{shared}:v1"
        printed = run_cli("digest", f"docker://{image}")
        assert printed.code == 0, printed.stderr
        assert printed.stdout.strip() == true_digest
        dockerfile = tmp_path / "Dockerfile"
        dockerfile.write_text(f"FROM {image}\nUSER 65532\n")
        fixed = run_cli("lint", "--fix", "--timeout", "5", str(dockerfile))
        assert dockerfile.read_text() == f"FROM {image}@{true_digest}\nUSER 65532\n", fixed.stderr
        assert lie not in fixed.stdout + fixed.stderr
