"""Private docker-registry (distribution) instances for tests that need their own config:
htpasswd (basic) or token (bearer) authentication."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import httpx

from realtools import free_tcp_port, need, unavailable

USER, PASSWORD = "alice", "s3cret"


def htpasswd_yaml(root: Path) -> str:
    """Basic auth for alice / s3cret (bcrypt, few rounds: the registry checks it per request)."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    return f"auth:\n  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n"


def start_registry(root: Path, auth_yaml: str) -> subprocess.Popen[bytes]:
    """Start ``docker-registry serve`` on a free loopback port; ``proc.address`` is HOST:PORT."""
    need("docker-registry")
    port = free_tcp_port()
    (root / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(root / "config.yml")],
        stdout=subprocess.DEVNULL, stderr=(root / "log").open("wb"),
    )  # fmt: skip
    proc.address = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 401:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise AssertionError((root / "log").read_text())
        time.sleep(0.1)


@contextmanager
def running_registry(root: Path, auth_yaml: str) -> Iterator[str]:
    """A registry for the duration of the block; yields its ``HOST:PORT``."""
    proc = start_registry(root, auth_yaml)
    try:
        yield str(proc.address)  # type: ignore[attr-defined]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def non_loopback_address() -> str:
    """An IPv4 address of this machine that is not loopback (the provisioned bridge or the
    network interface): plain HTTP to it crosses a network as far as the rules are concerned."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet" and not fields[3].startswith("127."):
            return fields[3].split("/", 1)[0]
    unavailable("no non-loopback IPv4 address on this machine")
    raise AssertionError("unreachable")
