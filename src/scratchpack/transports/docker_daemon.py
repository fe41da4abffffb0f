"""A running Docker daemon, reached over its HTTP API (``DOCKER_HOST``, unix socket by default).

Writing streams a ``docker save`` archive to ``POST /images/load``; reading fetches one from
``GET /images/get`` and opens it like any archive. Uses httpx, which speaks HTTP over a unix
socket, rather than shelling out to a ``docker`` CLI that may not match the daemon.
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


def _client() -> tuple[httpx.Client, str]:
    host = os.environ.get("DOCKER_HOST", "").strip() or f"unix://{DEFAULT_SOCKET}"
    timeout = httpx.Timeout(connect=10.0, read=None, write=None, pool=10.0)
    if host.startswith("unix://"):
        socket_path = host.removeprefix("unix://")
        transport = httpx.HTTPTransport(uds=socket_path)
        return httpx.Client(transport=transport, base_url="http://docker", timeout=timeout), host
    if host.startswith("tcp://"):
        # parsed here: httpx's InvalidURL (``tcp://[::1``, a port of 99999) is no HTTPError
        try:
            base = httpx.URL("http://" + host.removeprefix("tcp://"))
        except httpx.InvalidURL as exc:
            raise TransportError(f"bad DOCKER_HOST {host!r}: {exc}") from None
        if not base.host:
            raise TransportError(f"bad DOCKER_HOST {host!r}: no host; use tcp://HOST:PORT")
        return httpx.Client(base_url=base, timeout=timeout), host
    raise TransportError(f"unsupported DOCKER_HOST {host!r}: use unix://PATH or tcp://HOST:PORT")


def _request_error(host: str, exc: httpx.HTTPError) -> TransportError:
    """One sentence: the socket error's own words (``no such file or directory``,
    ``connection refused``), not Python's ``[Errno 111] Connection refused``."""
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
                    body = response.read().decode(errors="replace")
        except httpx.HTTPError as exc:
            raise _request_error(host, exc) from exc
    if response.status_code != 200:
        raise TransportError(f"docker daemon refused the image: {_message(body)}")
    messages = []
    for line in body.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if item.get("error") or item.get("errorDetail"):
            raise TransportError(f"docker daemon failed to load the image: {item.get('error')}")
        if item.get("stream"):
            messages.append(str(item["stream"]).strip())
    return "; ".join(messages), digest


def _message(body: str) -> str:
    try:
        return str(json.loads(body).get("message", body)).strip()
    except (json.JSONDecodeError, AttributeError):
        return body.strip()


def _image_size(client: httpx.Client, name: str) -> int | None:
    """The image's size as the daemon reports it (its layers' sum, within the archive's tar
    headers of the export's size), or None when it will not say."""
    response = client.get(f"/images/{name}/json")
    if response.status_code != 200:
        return None  # the export says why (no such image...)
    try:
        size = json.loads(response.content).get("Size")
    except (json.JSONDecodeError, AttributeError):
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
                        detail = _message(response.read().decode(errors="replace"))
                        raise TransportError(f"docker daemon could not export {name}: {detail}")
                    with archive.open("wb") as out:
                        for chunk in response.iter_bytes(1 << 20):
                            out.write(chunk)
                            task.advance(len(chunk))
        except httpx.HTTPError as exc:
            raise _request_error(host, exc) from exc
        with open_archive(archive, reference) as image:
            yield image
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
