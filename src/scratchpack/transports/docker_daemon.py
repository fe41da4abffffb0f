"""A running Docker daemon, reached over its HTTP API (``DOCKER_HOST``, unix socket by default).

Writing streams a ``docker save`` archive to ``POST /images/load``; reading fetches one from
``GET /images/get`` and opens it like any archive. Uses httpx, which speaks HTTP over a unix
socket, rather than shelling out to a ``docker`` CLI that may not match the daemon.

Whatever listens on ``DOCKER_HOST`` may be hostile or broken (red team, 2026-12-03): every
answer but the export is read raw (``Accept-Encoding: identity``: a small gzip answer cannot
expand) with a cap, and every read has an idle timeout, so an endless error document, a gzip
bomb or a daemon that accepts and never answers ends with one error line, not a process that
grows without end or waits for ever.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from scratchpack import progress
from scratchpack.errors import ImageNotFoundError, TransportError
from scratchpack.httpclient import httpx
from scratchpack.model.digest import Digest
from scratchpack.model.image import Image
from scratchpack.model.reference import Reference
from scratchpack.transports.docker_archive import open_archive, write_archive_stream

DEFAULT_SOCKET = "/var/run/docker.sock"
# The longest silence between two pieces of an answer. A load answers only once the whole
# image is in (quiet=1 sends no progress), and an export of a large image may pause while a
# layer is diffed: minutes, not hours. A daemon silent for longer is not coming back.
IDLE_TIMEOUT = 600.0
ANSWER_LIMIT = 1 << 20  # a load's messages, an image's JSON: a few kB from a real daemon
ERROR_LIMIT = 64 << 10  # the part of an error document worth reading


def _client() -> tuple[httpx.Client, str]:
    host = os.environ.get("DOCKER_HOST", "").strip() or f"unix://{DEFAULT_SOCKET}"
    timeout = httpx.Timeout(connect=10.0, read=IDLE_TIMEOUT, write=IDLE_TIMEOUT, pool=10.0)
    headers = {"Accept-Encoding": "identity"}
    if host.startswith("unix://"):
        socket_path = host.removeprefix("unix://")
        transport = httpx.HTTPTransport(uds=socket_path)
        client = httpx.Client(
            transport=transport, base_url="http://docker", timeout=timeout, headers=headers
        )
        return client, host
    if host.startswith("tcp://"):
        # parsed here: httpx's InvalidURL (``tcp://[::1``, a port of 99999) is no HTTPError
        try:
            base = httpx.URL("http://" + host.removeprefix("tcp://"))
        except httpx.InvalidURL as exc:
            raise TransportError(f"bad DOCKER_HOST {host!r}: {exc}") from None
        if not base.host:
            raise TransportError(f"bad DOCKER_HOST {host!r}: no host; use tcp://HOST:PORT")
        return httpx.Client(base_url=base, timeout=timeout, headers=headers), host
    raise TransportError(f"unsupported DOCKER_HOST {host!r}: use unix://PATH or tcp://HOST:PORT")


def _read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    """The raw body of a streamed ``response``, refused past ``limit`` bytes (on its
    ``Content-Length`` first, else at ``limit + 1``): ``response.read()`` kept reading an
    endless error document, and decoded a gzip bomb into 2 GB, before anything was checked."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TransportError(f"{what}: {int(declared)} bytes, more than the {limit} allowed")
    parts: list[bytes] = []
    total = 0
    for piece in response.iter_raw(1 << 16):
        total += len(piece)
        if total > limit:
            raise TransportError(f"{what}: more than the {limit} bytes allowed")
        parts.append(piece)
    return b"".join(parts)


def _request_error(host: str, exc: httpx.HTTPError) -> TransportError:
    """One sentence: the socket error's own words (``no such file or directory``,
    ``connection refused``), not Python's ``[Errno 111] Connection refused``; a daemon that
    stopped mid-answer or fell silent is said to, not asked whether it runs."""
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return TransportError(f"the Docker daemon at {host} stopped answering (timed out)")
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError(
            f"the Docker daemon at {host} closed the connection without a complete answer"
        )
    reason = str(exc) or type(exc).__name__
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
            break
        current = current.__cause__ or current.__context__
    reason = re.sub(r"^\[Errno -?\d+\]\s*", "", reason)
    reason = reason[:1].lower() + reason[1:]
    return TransportError(
        f"cannot reach the Docker daemon at {host}: {reason} (is dockerd running? set DOCKER_HOST)"
    )


def load_image(image: Image, reference: Reference) -> tuple[str, Digest]:
    """Load ``image`` into the daemon as ``reference``; returns the daemon's message and the
    manifest digest the loaded image has (that of its ``docker save`` archive)."""
    client, host = _client()
    with client, tempfile.TemporaryFile() as spool:
        # The archive is spooled first: the daemon needs a complete tar, and a failure while
        # building it must not leave a half-loaded image behind.
        digest = write_archive_stream(spool, image, reference)
        size = spool.tell()
        spool.seek(0)
        try:
            with progress.step(f"loading into the daemon at {host}", size) as task:
                counted = progress.Counted(cast(IO[bytes], spool), task.advance)

                def chunks() -> Iterator[bytes]:
                    while chunk := counted.read(1 << 20):
                        yield chunk

                with client.stream(
                    "POST",
                    "/images/load",
                    params={"quiet": "1"},
                    content=chunks(),
                    headers={"Content-Type": "application/x-tar", "Content-Length": str(size)},
                ) as response:
                    body = _read_capped(
                        response, ANSWER_LIMIT, f"the Docker daemon at {host}: its answer"
                    ).decode(errors="replace")
        except httpx.HTTPError as exc:
            raise _request_error(host, exc) from exc
    if response.status_code != 200:
        raise TransportError(f"docker daemon refused the image: {_message(body)}")
    messages = []
    for line in body.splitlines():
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(item, dict):
            continue
        if item.get("error") or item.get("errorDetail"):
            error = _one_line(str(item.get("error")))
            raise TransportError(f"docker daemon failed to load the image: {error}")
        if item.get("stream"):
            messages.append(_one_line(str(item["stream"])))
    return "; ".join(messages), digest


def _one_line(text: str) -> str:
    """``text`` on one line, at most 300 characters: a daemon's words go into one error line."""
    return " ".join(text.split())[:300]


def _message(body: str) -> str:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return _one_line(body)
    message = document.get("message", body) if isinstance(document, dict) else body
    return _one_line(str(message))


def _image_size(client: httpx.Client, name: str) -> int | None:
    """The image's size as the daemon reports it (its layers' sum, within the archive's tar
    headers of the export's size), or None when it will not say."""
    with client.stream("GET", f"/images/{name}/json") as response:
        if response.status_code != 200:
            return None  # the export says why (no such image...)
        try:
            size = json.loads(_read_capped(response, ANSWER_LIMIT, "image")).get("Size")
        except (ValueError, AttributeError, RecursionError, TransportError):
            return None
    return size if isinstance(size, int) and size > 0 else None


@contextmanager
def open_daemon_image(reference: Reference) -> Iterator[Image]:
    """Export ``reference`` from the daemon (``docker save``) and open it."""
    client, host = _client()
    name = reference.familiar()
    workdir = Path(tempfile.mkdtemp(prefix="scratchpack-daemon."))
    try:
        archive = workdir / "image.tar"
        try:
            with client:
                # the export's size is not announced: the image's, asked first, is the total
                size = _image_size(client, name) if progress.active() else None
                with (
                    progress.step(f"exporting {name} from the daemon", size) as task,
                    client.stream("GET", "/images/get", params={"names": name}) as response,
                ):
                    if response.status_code == 404:
                        raise ImageNotFoundError(
                            f"docker-daemon:{name}: no such image in the daemon"
                        )
                    if response.status_code != 200:
                        body = _read_capped(
                            response, ERROR_LIMIT, f"the Docker daemon at {host}: its error"
                        )
                        detail = _message(body.decode(errors="replace"))
                        raise TransportError(f"docker daemon could not export {name}: {detail}")
                    with archive.open("wb") as out:
                        for chunk in response.iter_raw(1 << 20):
                            out.write(chunk)
                            task.advance(len(chunk))
        except httpx.HTTPError as exc:
            raise _request_error(host, exc) from exc
        with open_archive(archive, reference) as image:
            yield image
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
