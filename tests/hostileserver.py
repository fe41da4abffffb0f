"""A hostile HTTP/1.1 server for attack tests: raw sockets (TCP on 127.0.0.1, or a unix socket
standing in for a Docker daemon), so that every byte of an answer is the test's to choose:
lying lengths, endless or gzip-bomb bodies, answers that never come, drops mid-body.

``HostileServer(answer)`` calls ``answer(request, conn)`` for each request, on its own thread;
``request`` is the parsed request line and headers (the body is not read), ``conn`` the raw
socket to write whatever the test wants. Every request is recorded in ``requests`` (the
credential tests look at the ``Authorization`` each one carried).
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


Answer = Callable[[Request, socket.socket], None]


def response_head(status: int, headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send(conn: socket.socket, status: int, body: bytes = b"", **headers: str) -> None:
    """One complete answer with a true ``Content-Length``."""
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    named.setdefault("Content-Length", str(len(body)))
    conn.sendall(response_head(status, named) + body)


def send_endless(conn: socket.socket, status: int, piece: bytes, **headers: str) -> None:
    """An answer without a length whose body never ends (until the client goes away)."""
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    conn.sendall(response_head(status, {**named, "Connection": "close"}))
    with contextlib.suppress(OSError):
        while True:
            conn.sendall(piece)


def gzip_bomb(inflated: int) -> bytes:
    """``inflated`` zero bytes, gzip-compressed (about 1000:1)."""
    return gzip.compress(b"\0" * inflated, compresslevel=6, mtime=0)


def never_answer(request: Request, conn: socket.socket) -> None:
    time.sleep(3600)


class HostileServer:
    def __init__(self, answer: Answer, unix: Path | None = None) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        if unix is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(str(unix))
            self.sock.listen(16)
            self.address = f"unix://{unix}"
        else:
            self.sock = socket.create_server(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while True:  # keep-alive: one request after another on this connection
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        piece = conn.recv(65536)
                        if not piece:
                            return
                        data += piece
                if b"\r\n\r\n" not in data:
                    return
                head, _, data = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                request = Request(method, target, headers)
                self.requests.append(request)
                length = int(headers.get("content-length", "0") or 0)
                with contextlib.suppress(OSError):
                    while len(data) < length:
                        piece = conn.recv(1 << 20)
                        if not piece:
                            return
                        data += piece
                data = data[length:]
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    return  # not needed by the tests: answer once, then close
                try:
                    self.answer(request, conn)
                except OSError:
                    return
