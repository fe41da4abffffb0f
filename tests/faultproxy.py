"""A loopback reverse proxy in front of the test registry that injects faults on demand.

Each :class:`Fault` matches requests by method and path fragment and applies an action a
limited number of times (``after`` skips that many matching requests first; ``max_body``
matches only requests with at most that many body bytes, e.g. 0 for a chunked upload's final
PUT):

- ``status``: answer with an HTTP error (e.g. 500, or 429 with ``Retry-After`` in ``headers``);
- ``reset``: cut the connection without forwarding;
- ``hang``: read the request, forward nothing, stay silent ``delay`` seconds, then cut;
- ``delay``: wait ``delay`` seconds, then forward and answer normally;
- ``swallow``: forward the request, then cut without answering (the upstream applied it, the
  client cannot know);
- ``drop``: send the headers and half the body, then cut;
- ``stall``: send the headers and half the body, go silent ``delay`` seconds, then cut;
- ``corrupt``: flip a byte of the request body (PUT/PATCH/POST with one) or else of the
  response body;
- ``length``: send the whole body under a ``Content-Length`` off by ``extra`` bytes, then cut
  (or, with ``keep_alive``, leave the connection open: a short length leaves the rest of the
  body on it, where the client's next request would find it);
- ``append``: send ``extra`` bytes more than the upstream did (and a matching length);
- ``inflate``: answer 200 with ``extra`` bytes of padding, with a ``Content-Length`` if
  ``declare`` else delimited by closing the connection (a hostile huge response);
- ``redirect``: answer 307 to the same path on ``target`` (``HOST:PORT``);
- ``relocate``: forward, then point the response's ``Location`` at ``target``;
- ``header``: forward, then set ``headers`` on the response, in place of the upstream's
  headers of the same names (``{n}`` is the hit count).

Every request's ``Authorization`` header is recorded in ``authorizations`` (with the path), so
a test can prove which credentials reached this address. ``upstream_headers`` replace the
client's headers towards the upstream: a proxy on another address can stand in for a storage
service that needs no credentials from the client (it brings its own).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import httpx

BODY_METHODS = ("PUT", "PATCH", "POST")


@dataclass
class Fault:
    method: str
    path_contains: str
    action: str
    times: int = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0
    delay: float = 5.0
    target: str = ""
    extra: int = 0
    declare: bool = True
    max_body: int | None = None
    keep_alive: bool = False
    hits: int = 0
    seen: int = 0

    def matches(self, method: str, path: str, body: int) -> bool:
        if method != self.method or self.path_contains not in path or self.hits >= self.times:
            return False
        if self.max_body is not None and body > self.max_body:
            return False
        self.seen += 1
        return self.seen > self.after


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        bind: str = "127.0.0.1",
        upstream_headers: dict[str, str] | None = None,
    ) -> None:
        self.upstream = upstream
        self.upstream_headers = dict(upstream_headers or {})
        self.faults: list[Fault] = []
        self.requests: Counter[str] = Counter()
        self.authorizations: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=60, follow_redirects=False)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                proxy.handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer((bind, 0), Handler)
        self.server.daemon_threads = True
        self.address = f"{bind}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def _fault_for(self, method: str, path: str, body: int) -> Fault | None:
        with self._lock:
            self.requests[f"{method} {path.split('?', 1)[0]}"] += 1
            for fault in self.faults:
                if fault.matches(method, path, body):
                    fault.hits += 1
                    return fault
        return None

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if h.headers.get("Authorization"):
            with self._lock:
                self.authorizations.append((h.path, h.headers["Authorization"]))
        fault = self._fault_for(h.command, h.path, len(body)) or Fault(h.command, "", "none")
        action = fault.action
        if self._answer_without_upstream(h, fault):
            return
        if action == "delay":
            time.sleep(fault.delay)
        headers = {
            k: v for k, v in h.headers.items() if k.lower() not in ("host", "content-length")
        }
        headers["Host"] = self.address
        headers.update(self.upstream_headers)
        if action == "corrupt" and h.command in BODY_METHODS and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        upstream = self._client.request(
            h.command, f"http://{self.upstream}{h.path}", headers=headers, content=body
        )
        data = upstream.content
        if action == "swallow":
            self._cut(h)
            return
        if action == "corrupt" and h.command not in BODY_METHODS and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if action == "append":
            data += b"\0" * fault.extra
        if action == "inflate":
            self._inflate(h, upstream, fault)
            return
        h.send_response(upstream.status_code)
        replaced = {key.lower() for key in fault.headers} if action == "header" else set()
        for key, raw in upstream.headers.items():
            if key.lower() in ("content-length", "transfer-encoding", "connection", "date"):
                continue
            if key.lower() in replaced:
                continue
            value = raw.replace(self.upstream, self.address)
            if action == "relocate" and key.lower() == "location":
                value = _with_netloc(value, fault.target)
            h.send_header(key, value)
        if action == "header":
            for key, value in fault.headers.items():
                h.send_header(key, value.replace("{n}", str(fault.hits)))
        if h.command == "HEAD":
            h.send_header("Content-Length", upstream.headers.get("Content-Length", "0"))
        elif action == "length":
            h.send_header("Content-Length", str(len(data) + fault.extra))
        else:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if action in ("drop", "stall"):
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            if action == "stall":
                time.sleep(fault.delay)
            self._cut(h)
            return
        with contextlib.suppress(OSError):
            h.wfile.write(data)
        if action == "length" and not fault.keep_alive:
            self._cut(h)

    def _answer_without_upstream(self, h: BaseHTTPRequestHandler, fault: Fault) -> bool:
        if fault.action == "reset":
            self._cut(h)
        elif fault.action == "hang":
            time.sleep(fault.delay)
            self._cut(h)
        elif fault.action == "status":
            payload = b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}'
            h.send_response(fault.status)
            for key, value in fault.headers.items():
                h.send_header(key, value)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        elif fault.action == "redirect":
            h.send_response(307)
            h.send_header("Location", f"http://{fault.target}{h.path}")
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            return False
        return True

    def _inflate(self, h: BaseHTTPRequestHandler, upstream: httpx.Response, fault: Fault) -> None:
        h.send_response(200)
        h.send_header("Content-Type", upstream.headers.get("Content-Type", "application/json"))
        if fault.declare:
            h.send_header("Content-Length", str(fault.extra))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        piece = b"{" + b" " * ((1 << 20) - 1)
        left = fault.extra
        try:
            while left > 0:
                h.wfile.write(piece[:left])
                left -= len(piece)
        except OSError:
            pass  # the client stopped reading: what it should do
        self._cut(h)

    @staticmethod
    def _cut(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)


def _with_netloc(url: str, netloc: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme or "http", netloc, parts.path, parts.query, parts.fragment))
