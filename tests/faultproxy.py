"""A loopback reverse proxy in front of the test registry that injects faults on demand.

Each :class:`Fault` matches requests by method and path fragment and applies an action a
limited number of times: ``status`` (answer with an HTTP error, e.g. 500 or 429 with
Retry-After), ``drop`` (send the headers and half the body, then cut the connection),
``swallow`` (forward the request, then cut the connection without answering: the upstream
applied it, the client cannot know), ``reset`` (cut the connection without forwarding),
``corrupt`` (flip bytes in the body), or ``stall`` (send the headers and half the body, then
go silent for ``delay`` seconds before cutting). ``after`` skips that many matching requests
first.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


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
    hits: int = 0
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        if method != self.method or self.path_contains not in path or self.hits >= self.times:
            return False
        self.seen += 1
        return self.seen > self.after


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.requests: Counter[str] = Counter()
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
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

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests[f"{method} {path.split('?', 1)[0]}"] += 1
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        fault = self._fault_for(h.command, h.path)
        if fault is not None and fault.action == "reset":
            self._cut(h)
            return
        if fault is not None and fault.action == "status":
            payload = b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}'
            h.send_response(fault.status)
            for key, value in fault.headers.items():
                h.send_header(key, value)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        headers = {
            k: v for k, v in h.headers.items() if k.lower() not in ("host", "content-length")
        }
        headers["Host"] = self.address
        upstream = self._client.request(
            h.command, f"http://{self.upstream}{h.path}", headers=headers, content=body
        )
        data = upstream.content
        if fault is not None and fault.action == "swallow":
            self._cut(h)
            return
        if fault is not None and fault.action == "corrupt" and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        h.send_response(upstream.status_code)
        for key, value in upstream.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date"):
                h.send_header(key, value.replace(self.upstream, self.address))
        if h.command == "HEAD":
            h.send_header("Content-Length", upstream.headers.get("Content-Length", "0"))
        else:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if fault is not None and fault.action in ("drop", "stall"):
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            if fault.action == "stall":
                time.sleep(fault.delay)
            self._cut(h)
            return
        h.wfile.write(data)

    @staticmethod
    def _cut(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)
