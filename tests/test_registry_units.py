"""Registry pieces that need no server: challenges, credentials, schemes, retries, progress."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from scratchpack.cli.progress import RichProgress
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.transports.registry import auth
from scratchpack.transports.registry.client import RegistryClient, RetryPolicy, plain_http_allowed


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
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    blob = Descriptor(mt.OCI_LAYER_GZIP, Digest.of(b"x"), 2_000_000)
    with RichProgress(console) as progress:
        progress.blob_started(blob)
        progress.blob_advanced(blob, 1_000_000)
        progress.blob_finished(blob, "uploaded")
    text = out.getvalue()
    assert blob.digest.short() in text
    assert "uploaded" in text
    assert "2.0 MB" in text
