"""Registry pieces that need no server: challenges, credentials, schemes, retries, progress,
the trust rules (loopback, origins, upload offsets, private credential files, no password
echoed)."""

from __future__ import annotations

import base64
import io
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from helpers import assert_clean_error, run_cli
from scratchpack import progress
from scratchpack.cli.progress import RichReporter
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.transports.registry import auth
from scratchpack.transports.registry.client import RegistryClient, RetryPolicy, plain_http_allowed
from scratchpack.transports.registry.repository import resume_offset


def test_parse_challenge() -> None:
    c = auth.parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push"'
    )
    assert c is not None and c.scheme == "bearer"
    assert c.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:a/b:pull,push",
    }
    basic = auth.parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
    assert auth.parse_challenge("") is None


def test_credentials_from_config_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    token = base64.b64encode(b"bob:pw:with:colons").decode()
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:x").decode()},
                    "reg.example.com:5000": {"auth": token},
                    "https://other.example.com": {"username": "u", "password": "p"},
                }
            }
        )
    )
    assert auth.lookup("reg.example.com:5000") == auth.Credentials("bob", "pw:with:colons")
    assert auth.lookup("docker.io") == auth.Credentials("hub", "x")
    assert auth.lookup("other.example.com") == auth.Credentials("u", "p")
    assert auth.lookup("unknown.example.com") is None
    explicit = auth.Credentials("me", "mine")
    assert auth.lookup("reg.example.com:5000", explicit) is explicit


def test_registry_auth_file_wins_and_login_stores_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    path = auth.store("reg.example.com", auth.Credentials("a", "b"))
    assert path == tmp_path / "auth.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert auth.lookup("reg.example.com") == auth.Credentials("a", "b")


def test_missing_credential_helper_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "nonexistent-helper"}))
    with pytest.raises(ScratchpackError, match="docker-credential-nonexistent-helper"):
        auth.lookup("reg.example.com")
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ScratchpackError, match="cannot read credentials"):
        auth.lookup("reg.example.com")


@pytest.mark.parametrize("name", ["x/../evil", "x/../../work/evil", "a\\b", "nul\0"])
def test_a_credential_helper_name_that_is_a_path_never_runs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # shutil.which takes a name with a slash as a path from the working directory: the
    # "helper" would be a checkout's own file (here ./evil, through ./docker-credential-x/..)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    work = tmp_path / "work"
    (work / "docker-credential-x").mkdir(parents=True)
    (work / "evil").write_text(f"#!/bin/sh\ntouch {work / 'ran'}\n")
    (work / "evil").chmod(0o755)
    monkeypatch.chdir(work)
    (tmp_path / "docker" / "config.json").write_text(
        json.dumps({"credHelpers": {"reg.example.com": name}, "credsStore": name})
    )
    for host in ("reg.example.com", "other.example.com"):
        with pytest.raises(ScratchpackError, match="is not a program name"):
            auth.lookup(host)
    assert not (work / "ran").exists()


def test_an_empty_credential_helper_means_the_files_own_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    entry = base64.b64encode(b"u:p").decode()
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "credHelpers": {"reg.example.com": ""},
                "credsStore": "nonexistent-helper",
                "auths": {"reg.example.com": {"auth": entry}},
            }
        )
    )
    assert auth.lookup("reg.example.com") == auth.Credentials("u", "p")


def test_bad_creds_flag() -> None:
    with pytest.raises(UsageError):
        auth.Credentials.parse("no-colon")


def test_plain_http_only_for_loopback_unless_asked() -> None:
    assert plain_http_allowed("localhost:5000")
    assert plain_http_allowed("127.0.0.1:5000")
    assert plain_http_allowed("[::1]:5000")
    assert not plain_http_allowed("registry.example.com")
    assert not plain_http_allowed("10.0.0.1:5000")
    # a remote registry is never probed over plain HTTP while TLS verification is on
    with RegistryClient("registry.example.com") as client:
        assert client.base == "https://registry.example.com"
    with RegistryClient("docker.io") as client:
        assert client.base == "https://registry-1.docker.io"


def test_retry_delay_honours_retry_after_and_backs_off() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert policy.delay(0, "3") == 3.0
    assert policy.delay(0, "1000") == 60.0
    for attempt in range(6):
        delay = policy.delay(attempt, None)
        expected = min(4.0, 0.5 * 2**attempt)
        assert expected * 0.5 <= delay <= expected * 1.5


def test_progress_bars_render_on_a_terminal() -> None:
    """A bar with bytes, rate and ETA; a minor (per-blob) bar goes when its blob is done;
    a note (a retry) is printed above the bars, not through them."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    reporter = RichReporter(console, delay=0)
    previous = progress.install(reporter)
    try:
        with progress.step("uploading 2 blobs", 4_000_000) as overall:
            with progress.step("uploading sha256:abc", 2_000_000, minor=True) as blob:
                blob.advance(1_000_000)
                overall.advance(1_000_000)
                progress.note("retrying (2/5) after a reset connection")
            overall.advance(3_000_000)
    finally:
        progress.install(previous)
        reporter.close()
    text = out.getvalue()
    assert "uploading 2 blobs" in text
    assert "4.0 MB/4.0 MB" in text
    assert "ETA" in text
    assert "scratchpack: retrying (2/5) after a reset connection" in text


def test_bars_wait_for_a_second_of_work_and_then_show_what_was_counted() -> None:
    """A step that ends within the delay draws nothing (rich is not even imported for it);
    a step still open when the delay ends joins the bars with its count so far."""
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, force_terminal=True, width=120), delay=0.4)
    previous = progress.install(reporter)
    try:
        with progress.step("quick step", 1000) as quick:
            quick.advance(1000)
        assert out.getvalue() == ""
        with progress.step("slow step", 2_000_000) as slow:
            slow.advance(1_500_000)
            time.sleep(1.0)  # the timer shows the bars meanwhile
            slow.advance(500_000)
    finally:
        progress.install(previous)
        reporter.close()
    text = out.getvalue()
    assert "slow step" in text and "2.0 MB/2.0 MB" in text
    assert "quick step" not in text


def test_plain_http_only_for_parsed_loopback_addresses() -> None:
    for host in ("localhost", "LOCALHOST:5000", "127.0.0.1", "127.0.0.2:5000", "[::1]:5000",
                 "[::ffff:127.0.0.1]:5000", "[::1]"):  # fmt: skip
        assert plain_http_allowed(host), host
    for host in ("127.attacker.example", "127.attacker.example:5000", "localhost.attacker.example",
                 "[::ffff:10.0.0.1]:5000", "0.0.0.0:5000", "10.0.0.1", "[2001:db8::1]:443",
                 "1270.0.0.1", "127.0.0.1.nip.io:5000"):  # fmt: skip
        assert not plain_http_allowed(host), host


def test_credentials_belong_to_the_registry_origin_only() -> None:
    with RegistryClient("registry.example.com") as client:
        assert client.owns(httpx.URL("https://registry.example.com/v2/x/blobs/uploads/1"))
        assert client.owns(httpx.URL("https://REGISTRY.example.com:443/v2/"))
        for other in ("http://registry.example.com/v2/", "https://registry.example.com:5000/",
                      "https://storage.example.com/blob", "https://registry.example.com.evil/",
                      "https://[::ffff:127.0.0.1]/v2/"):  # fmt: skip
            assert not client.owns(httpx.URL(other)), other
    with RegistryClient("docker.io") as hub:  # the credentials for docker.io go to its API host
        assert hub.owns(httpx.URL("https://registry-1.docker.io/v2/"))
        assert not hub.owns(httpx.URL("https://docker.io/v2/"))


def test_upload_resume_offset_reads_distribution_ranges() -> None:
    mib = 1 << 20
    # distribution 2.8 answers "0-0" for an upload that holds nothing: resume at 0, not 1
    assert resume_offset(0, 0, 16 * mib) == 0
    assert resume_offset(None, 0, 16 * mib) == 0
    assert resume_offset(16 * mib - 1, 0, 16 * mib) == 16 * mib  # the chunk was applied
    assert resume_offset(16 * mib - 1, 16 * mib, 32 * mib) == 16 * mib  # it was lost
    assert resume_offset(32 * mib - 1, 16 * mib, 32 * mib) == 32 * mib
    # anything else is not trusted: start again
    assert resume_offset(5, 16 * mib, 32 * mib) is None
    assert resume_offset(40 * mib, 16 * mib, 32 * mib) is None
    assert resume_offset(None, 16 * mib, 32 * mib) is None


def test_login_store_is_private_under_umask_000(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    config_dir = tmp_path / "home" / ".docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    previous = os.umask(0)
    try:
        path = auth.store("reg.example.com", auth.Credentials("a", "b"))
        os.umask(0)
        existing = tmp_path / "shared"
        existing.mkdir(mode=0o755)
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(existing / "auth.json"))
        other = auth.store("reg.example.com", auth.Credentials("a", "b"))
    finally:
        os.umask(previous)
    assert config_dir.stat().st_mode & 0o777 == 0o700
    assert config_dir.parent.stat().st_mode & 0o777 == 0o700  # created for it, so private too
    assert path.stat().st_mode & 0o777 == 0o600
    assert existing.stat().st_mode & 0o777 == 0o755  # an existing directory is left alone
    assert other.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "args",
    [
        ("copy", "docker://alice:s3cret@127.0.0.1:5000/x:1", "oci:out"),
        ("copy", "alice:s3cret@127.0.0.1:5000/x:1", "oci:out"),
        ("copy", "oci:in", "docker://alice:s3cret@registry.example.com/x:1"),
        ("digest", "alice:s3cret@registry.example.com/x:1"),
        ("inspect", "docker://alice:s3cret@registry.example.com:5000/x"),
        ("tags", "docker://alice:s3cret@registry.example.com"),
        ("login", "alice:s3cret@registry.example.com", "-u", "alice", "--password-stdin"),
    ],
)
def test_a_password_in_an_image_name_is_never_echoed(args: tuple[str, ...], tmp_path: Path) -> None:
    result = run_cli(*args, cwd=tmp_path, stdin="x\n")
    assert "s3cret" not in result.stdout + result.stderr
    assert_clean_error(result, 2, "alice:***@", "credentials")
    assert list(tmp_path.iterdir()) == []


def test_nothing_goes_from_https_down_to_plain_http() -> None:
    with RegistryClient("registry.example.com") as client:
        with pytest.raises(ScratchpackError, match=r"refusing plain HTTP to storage\.example\.com"):
            client.check_scheme(httpx.URL("http://storage.example.com/blob"), "a redirect")
        with pytest.raises(ScratchpackError, match="not an HTTP"):
            client.check_scheme(httpx.URL("file:///etc/passwd"), "a redirect")
        client.check_scheme(httpx.URL("https://storage.example.com/blob"), "a redirect")
        client.check_scheme(httpx.URL("http://127.0.0.1:5000/blob"), "a redirect")  # loopback
    with RegistryClient("registry.example.com", tls_verify=False) as insecure:
        insecure.check_scheme(httpx.URL("http://storage.example.com/blob"), "a redirect")
