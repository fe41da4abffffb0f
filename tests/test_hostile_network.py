"""Red team, 2026-12-03: the network side attacked with hostile servers of our own.

A fake Docker daemon on a unix socket (``DOCKER_HOST``) and hostile HTTP servers on
127.0.0.1 (``tests/hostileserver.py``) answer with endless or gzip-bomb bodies, drops
mid-stream, silence and malformed documents. Each attack must end in one error line, a
non-zero exit, bounded memory and time, and nothing half-written. The attacks that held are
listed in docs/security.md ("2026-12-03 red team: network").
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import assert_clean_error, run_cli
from hostileserver import (
    HostileServer,
    Request,
    gzip_bomb,
    never_answer,
    response_head,
    send,
    send_endless,
)
from realtools import Runner
from scratchpack.debian.index import Fetcher, fetch_verified
from scratchpack.errors import FormatError, TransportError
from scratchpack.model.reference import Reference
from scratchpack.transports import docker_daemon

MIB = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


CONFIG = json.dumps(
    {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
).encode()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(CONFIG),
            "size": len(CONFIG),
        },
        "layers": [],
    }
).encode()


def _daemon_env(server: HostileServer, tmp_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": server.address, "TMPDIR": str(tmp_path)}


def _no_leftovers(tmp_path: Path) -> None:
    """The export's temporary directory is gone (TMPDIR is the test's own)."""
    assert not list(tmp_path.glob("scratchpack-daemon.*"))


# -- a hostile Docker daemon ----------------------------------------------------------------


def test_a_daemon_error_that_never_ends_is_cut_short(tmp_path: Path) -> None:
    """``response.read()`` read an endless error document from /images/get until memory ran
    out (killed by the test's timeout)."""

    def answer(request: Request, conn: socket.socket) -> None:
        send_endless(conn, 500, b"x" * MIB, Content_Type="application/json")

    with HostileServer(answer, unix=tmp_path / "d.sock") as daemon:
        result = run_cli("inspect", "docker-daemon:x:1", env=_daemon_env(daemon, tmp_path),
                         timeout=60)  # fmt: skip
    assert_clean_error(result, 1, "Docker daemon", "more than the 65536 bytes allowed")
    _no_leftovers(tmp_path)


def test_a_daemon_gzip_error_is_not_inflated(tmp_path: Path) -> None:
    """A gzip-encoded error was decoded whole (256 MiB of NULs from 250 KB) and printed as
    the error line."""
    bomb = gzip_bomb(256 * MIB)

    def answer(request: Request, conn: socket.socket) -> None:
        send(conn, 500, bomb, Content_Encoding="gzip", Content_Type="application/json")

    with HostileServer(answer, unix=tmp_path / "d.sock") as daemon:
        result = run_cli("inspect", "docker-daemon:x:1", env=_daemon_env(daemon, tmp_path),
                         timeout=60)  # fmt: skip
    assert_clean_error(result, 1, "Docker daemon", "more than the 65536 allowed")
    assert len(result.stderr) < 1000
    _no_leftovers(tmp_path)


def test_a_daemon_error_message_is_one_line(tmp_path: Path) -> None:
    def answer(request: Request, conn: socket.socket) -> None:
        message = "no such image\nscratchpack: error: forged second line\n" + "y" * 5000
        send(conn, 500, json.dumps({"message": message}).encode())

    with HostileServer(answer, unix=tmp_path / "d.sock") as daemon:
        result = run_cli("inspect", "docker-daemon:x:1", env=_daemon_env(daemon, tmp_path),
                         timeout=60)  # fmt: skip
    assert_clean_error(result, 1, "could not export x:1: no such image scratchpack: error: forged")
    assert len(result.stderr) < 600


def test_a_daemon_that_closes_mid_export_says_so(tmp_path: Path) -> None:
    """It was reported as ``cannot reach the Docker daemon ... (is dockerd running?)``."""

    def answer(request: Request, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"\0" * 1000)
        conn.shutdown(socket.SHUT_RDWR)

    with HostileServer(answer, unix=tmp_path / "d.sock") as daemon:
        result = run_cli("inspect", "docker-daemon:x:1", env=_daemon_env(daemon, tmp_path),
                         timeout=60)  # fmt: skip
    assert_clean_error(result, 1, "closed the connection without a complete answer")
    assert "is dockerd running" not in result.stderr
    _no_leftovers(tmp_path)


def test_a_daemon_that_never_answers_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read timeout was None: a daemon that accepted and never answered hung the command
    for ever. In-process, with the idle timeout shortened (it is 10 minutes)."""
    monkeypatch.setattr(docker_daemon, "IDLE_TIMEOUT", 1.0)
    with HostileServer(never_answer, unix=tmp_path / "d.sock") as daemon:
        monkeypatch.setenv("DOCKER_HOST", daemon.address)
        with (
            pytest.raises(TransportError, match="stopped answering"),
            docker_daemon.open_daemon_image(Reference.parse("x:1")),
        ):
            pass


@pytest.mark.parametrize(
    "answer_body",
    [b"[1]\n", b"[" * 100_000 + b"\n", b'"just a string"\n'],
    ids=["list", "deep", "string"],
)
def test_hostile_load_answers_are_one_line(
    layout: Path, tmp_path: Path, answer_body: bytes
) -> None:
    """``copy ... docker-daemon:``: a JSON line that is no object was ``unexpected
    AttributeError`` (exit 2); an endless answer is cut at 1 MiB (next test)."""

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/images/load":
            send(conn, 200, answer_body)
        else:
            send(conn, 404, b"{}")

    with HostileServer(answer, unix=tmp_path / "d.sock") as daemon:
        result = run_cli("copy", f"oci:{layout}:v1", "docker-daemon:x:1",
                         env=_daemon_env(daemon, tmp_path), timeout=60)  # fmt: skip
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_an_endless_load_answer_is_cut_short(layout: Path, tmp_path: Path) -> None:
    def answer(request: Request, conn: socket.socket) -> None:
        send_endless(conn, 200, b'{"stream":"x"}\n' * 65536)

    with HostileServer(answer, unix=tmp_path / "d.sock") as daemon:
        result = run_cli("copy", f"oci:{layout}:v1", "docker-daemon:x:1",
                         env=_daemon_env(daemon, tmp_path), timeout=60)  # fmt: skip
    assert_clean_error(result, 1, "Docker daemon", "more than the 1048576 bytes allowed")


# -- a hostile registry -----------------------------------------------------------------------


def test_a_huge_challenge_is_parsed_in_linear_time() -> None:
    """A 401 whose ``WWW-Authenticate`` holds 90 KB of one word took minutes (the parameter
    expression was tried from every character of it); now one error line at once."""

    def answer(request: Request, conn: socket.socket) -> None:
        send(conn, 401, b"{}", WWW_Authenticate="Bearer " + "a" * 90_000)

    with HostileServer(answer) as registry:
        result = run_cli("digest", f"docker://{registry.address}/x/y:1", "--creds", "u:p",
                         timeout=60)  # fmt: skip
    assert_clean_error(result, 1, "Bearer challenge names no token realm")


def test_a_manifest_dripped_byte_by_byte_times_out(tmp_path: Path) -> None:
    """The read timeout bounds only the silence between two pieces: a manifest sent one byte
    every 0.3 s (300 bytes: 90 s; a 4 MiB one, two weeks) kept ``inspect --timeout 1`` going.
    A capped answer must now be whole within its timeout (plus 1 s per 64 KiB)."""

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif "/manifests/" in request.path:
            conn.sendall(response_head(200, {"Content-Type": OCI_MANIFEST,
                                             "Content-Length": str(len(MANIFEST))}))  # fmt: skip
            for byte in MANIFEST:
                conn.sendall(bytes([byte]))
                time.sleep(0.3)
        else:
            send(conn, 200, CONFIG)

    with HostileServer(answer) as registry:
        started = time.monotonic()
        result = run_cli("inspect", f"docker://{registry.address}/x/y:1", "--timeout", "1",
                         timeout=60)  # fmt: skip
    assert_clean_error(result, 1, "GET /v2/x/y/manifests/1: the answer came too slowly")
    assert time.monotonic() - started < 30


def _chained_indexes(depth: int) -> list[bytes]:
    """The manifest, then ``depth`` indexes each naming the one before (the last is the tag)."""
    chain = [MANIFEST]
    media_type = OCI_MANIFEST
    for _ in range(depth):
        child = chain[-1]
        entry = {"mediaType": media_type, "digest": _digest(child), "size": len(child),
                 "platform": {"architecture": "amd64", "os": "linux"}}  # fmt: skip
        chain.append(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                 "manifests": [entry]}).encode())  # fmt: skip
        media_type = OCI_INDEX
    return chain


def _serving(documents: list[bytes]) -> Callable[[Request, socket.socket], None]:
    """A registry holding ``documents`` (by digest; the last one is every tag) and CONFIG."""
    by_digest = {_digest(d): d for d in [*documents, CONFIG]}

    def answer(request: Request, conn: socket.socket) -> None:
        reference = request.path.rsplit("/", 1)[-1]
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif "/manifests/" in request.path:
            data = by_digest.get(reference, documents[-1])
            send(conn, 200, data, Content_Type=json.loads(data)["mediaType"])
        elif "/blobs/" in request.path and reference in by_digest:
            send(conn, 200, by_digest[reference])
        else:
            send(conn, 404, b'{"errors": []}')

    return answer


@pytest.mark.parametrize("everything", [[], ["--all"]], ids=["picked", "all"])
def test_indexes_chained_without_end_are_refused_by_copy(
    tmp_path: Path, everything: list[str]
) -> None:
    """``copy`` followed nested indexes by recursion without a bound: 1500 of them were
    ``unexpected RecursionError`` (exit 2); ``inspect`` and ``audit`` stopped at 4."""
    with HostileServer(_serving(_chained_indexes(1500))) as registry:
        result = run_cli("copy", f"docker://{registry.address}/x/y:1", f"oci:{tmp_path}/out:v1",
                         *everything, timeout=120)  # fmt: skip
        assert_clean_error(result, 1, "indexes nested too deep")
        assert not (tmp_path / "out").exists()
    with HostileServer(_serving(_chained_indexes(4))) as registry:
        fine = run_cli("copy", f"docker://{registry.address}/x/y:1", f"oci:{tmp_path}/ok:v1",
                       *everything)  # fmt: skip
    assert fine.code == 0, fine.stderr


# -- a hostile Debian mirror ------------------------------------------------------------------


def test_a_mirror_cannot_fill_memory_with_its_release_or_inflate_an_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The InRelease was read whole, unbounded, before its signature was checked (40 MB
    here; endless there), and a ``Content-Encoding: gzip`` index was inflated (100 MiB from
    100 kB) before its size was compared: both now stop at the size expected."""
    bomb = gzip_bomb(100 * MIB)

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path.endswith("/InRelease"):
            send(conn, 200, b"x" * (40 * MIB))
        else:
            send(conn, 200, bomb, Content_Encoding="gzip")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fetcher = Fetcher(timeout=10)
    with HostileServer(answer) as mirror:
        base = f"http://{mirror.address}/debian/dists/bookworm"
        with pytest.raises(FormatError, match="more than the 16777216 bytes expected"):
            fetcher.get(f"{base}/InRelease")
        with pytest.raises(FormatError, match="more than the 4096 bytes expected"):
            fetch_verified(fetcher, f"{base}/main/binary-amd64/Packages.xz", "0" * 64, 4096, "x")
    fetcher.close()
    assert not (tmp_path / "cache" / "scratchpack" / "debian" / "by-hash").exists()


def test_a_manifest_named_by_sha512_is_verified(tmp_path: Path) -> None:
    """Only ``sha256:`` references were checked: an index naming its image by a sha512
    digest let the registry answer any manifest for it (here one with another config)."""
    sha512 = "sha512:" + hashlib.sha512(MANIFEST).hexdigest()
    other_config = CONFIG.replace(b'"amd64"', b'"arm64"')
    forged = MANIFEST.replace(_digest(CONFIG).encode(), _digest(other_config).encode())
    entry = {"mediaType": OCI_MANIFEST, "digest": sha512, "size": len(MANIFEST),
             "platform": {"architecture": "amd64", "os": "linux"}}  # fmt: skip
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]})

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif request.path.endswith("/manifests/1"):
            send(conn, 200, index.encode(), Content_Type=OCI_INDEX)
        elif request.path.endswith(f"/manifests/{sha512}"):
            send(conn, 200, forged, Content_Type=OCI_MANIFEST)
        elif request.path.endswith(_digest(other_config)):
            send(conn, 200, other_config)
        else:
            send(conn, 404, b'{"errors": []}')

    with HostileServer(answer) as registry:
        for args in (["inspect", f"docker://{registry.address}/x/y:1"],
                     ["copy", f"docker://{registry.address}/x/y:1", f"oci:{tmp_path}/out:v1",
                      "--all"]):  # fmt: skip
            result = run_cli(*args, "--platform", "linux/amd64", timeout=60)
            assert_clean_error(result, 1, "digest mismatch", sha512)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("retry_after", ["-1", "nan", "-inf"])
def test_a_retry_after_that_is_no_delay_falls_back_to_backoff(retry_after: str) -> None:
    """``Retry-After: -1`` or ``nan`` went to ``time.sleep`` as given: ``unexpected
    ValueError`` (exit 2) instead of a retry."""

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        else:
            send(conn, 503, b"{}", Retry_After=retry_after)

    with HostileServer(answer) as registry:
        result = run_cli("inspect", f"docker://{registry.address}/x/y:1", "--retries", "1",
                         timeout=60)  # fmt: skip
        assert len([r for r in registry.requests if "/manifests/" in r.path]) == 2
    assert_clean_error(result, 1, "HTTP 503")


def _pushing_to(location: str) -> Callable[[Request, socket.socket], None]:
    """A registry that has no blob and starts every upload at ``location``."""

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif request.method == "POST":
            send(conn, 202, b"", Location=location)
        else:
            send(conn, 404, b'{"errors": []}')

    return answer


@pytest.mark.parametrize(
    ("location", "message"),
    [("http://[::1", "its upload location is not a valid URL"),
     ("ftp://x/y", "is not an HTTP(S) URL: ftp:")],
    ids=["invalid", "ftp"],
)  # fmt: skip
def test_an_upload_location_that_is_no_http_url_is_one_line(
    layout: Path, location: str, message: str
) -> None:
    """``unexpected ValueError: Invalid IPv6 URL`` and ``unexpected InvalidURL: Invalid port``
    (the ftp URL glued after the registry's base), exit 2."""
    with HostileServer(_pushing_to(location)) as registry:
        result = run_cli("copy", f"oci:{layout}:v1", f"docker://{registry.address}/x/y:1",
                         "--retries", "1", timeout=60)  # fmt: skip
    assert_clean_error(result, 1, message)


@pytest.mark.parametrize(
    ("link", "message"),
    [('<http://[::1>; rel="next"', "its tags Link is not a valid URL"),
     ("<" + "/a" * 30_000 + '>; rel="next"', "GET http://")],
    ids=["invalid", "huge"],
)  # fmt: skip
def test_a_hostile_tags_link_is_one_short_line(link: str, message: str) -> None:
    """An invalid ``Link`` was ``unexpected ValueError``; a 60 kB one (404) was quoted whole
    in the error line."""

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif request.path.endswith("/tags/list"):
            send(conn, 200, b'{"tags": ["a"]}', Link=link)
        else:
            send(conn, 404, b'{"errors": []}')

    with HostileServer(answer) as registry:
        result = run_cli("tags", f"docker://{registry.address}/x/y", timeout=60)
    assert_clean_error(result, 1, message)
    assert len(result.stderr) < 600


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream"])
def test_a_content_type_that_is_no_manifest_type_is_not_written_into_a_layout(
    tmp_path: Path, umoci: Runner, content_type: str
) -> None:
    """The registry's ``Content-Type`` went into the layout's ``index.json`` as given
    (``"mediaType": "text/html"``); the document's own media type is used instead, and umoci
    reads the result."""

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif "/manifests/" in request.path:
            send(conn, 200, MANIFEST, Content_Type=content_type)
        elif request.path.endswith(_digest(CONFIG)):
            send(conn, 200, CONFIG)
        else:
            send(conn, 404, b'{"errors": []}')

    with HostileServer(answer) as registry:
        result = run_cli("copy", f"docker://{registry.address}/x/y:1", f"oci:{tmp_path}/out:v1",
                         timeout=60)  # fmt: skip
    assert result.code == 0, result.stderr
    index = json.loads((tmp_path / "out/index.json").read_text())
    assert [m["mediaType"] for m in index["manifests"]] == [OCI_MANIFEST]
    umoci("stat", "--image", f"{tmp_path}/out:v1")


_PEAK_RSS_MAIN = """
import sys
from scratchpack.cli.main import main
try:
    code = main(sys.argv[1:])
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write(f"\\npeak-kb {peak}\\n")
sys.exit(code)
"""


@pytest.mark.parametrize("status", [302, 401])
def test_a_gzip_body_on_a_redirect_or_401_is_not_inflated(status: int) -> None:
    """The body of an answer we throw away (a redirect, a 401) was read with ``read()``,
    which decodes: 60 kB of gzip took 120 MB. Peak RSS of the real process, as
    ``tests/test_registry_trust.py`` measures it."""
    bomb = gzip_bomb(60 * MIB)

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif request.path.endswith("/manifests/1"):
            send(conn, status, bomb, Content_Encoding="gzip", Location="/v2/x/y/manifests/2",
                 WWW_Authenticate='Basic realm="r"')  # fmt: skip
        else:
            send(conn, 404, b"{}")

    with HostileServer(answer) as registry:
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS_MAIN, "inspect",
             f"docker://{registry.address}/x/y:1", "--creds", "u:p"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    peak_kb = int(proc.stderr.rsplit("peak-kb ", 1)[1])
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert peak_kb < 90 << 10, f"peak RSS {peak_kb} KiB"


def test_a_tags_page_nested_too_deep_is_malformed() -> None:
    """``{"tags": [[[...]]]}`` 100,000 deep was ``unexpected RecursionError`` (exit 2)."""
    deep = b'{"tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        else:
            send(conn, 200, deep)

    with HostileServer(answer) as registry:
        result = run_cli("tags", f"docker://{registry.address}/x/y", timeout=60)
    assert_clean_error(result, 1, "malformed tags list")


def test_a_registry_error_message_cannot_forge_a_second_line() -> None:
    """The registry's error ``message`` went into the error line with its newlines: a
    second ``scratchpack: error:`` line of the registry's choosing."""
    message = "denied\nscratchpack: error: forged\r\nthird"
    body = json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode()

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        else:
            send(conn, 403, body)

    with HostileServer(answer) as registry:
        result = run_cli("inspect", f"docker://{registry.address}/x/y:1", timeout=60)
    assert_clean_error(result, 1, "DENIED: denied scratchpack: error: forged third")


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "caf\u00e9"], ids=["crlf", "non-ascii"])
def test_a_token_that_cannot_be_a_header_is_refused_unquoted(token: str) -> None:
    """A token with CR/LF was sent on, refused by httpx, retried, and quoted in the error line
    (a credential in the log); a non-ASCII one was ``unexpected UnicodeEncodeError``."""
    realm: list[str] = []

    def answer(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            send(conn, 200, b"{}")
        elif request.path == "/token":
            send(conn, 200, json.dumps({"token": token}).encode())
        else:
            send(conn, 401, b"{}", WWW_Authenticate=f'Bearer realm="http://{realm[0]}/token"')

    with HostileServer(answer) as registry:
        realm.append(registry.address)
        result = run_cli("inspect", f"docker://{registry.address}/x/y:1", timeout=60)
        assert not [r for r in registry.requests if "x-injected" in r.headers]
    assert_clean_error(result, 1, "token server sent a token that is not printable ASCII")
    assert "abc" not in result.stderr and "caf" not in result.stderr
