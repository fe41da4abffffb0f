"""``scratchpack lint`` through a resident server, opt-in (``scratchpack lint --daemon start``).

Why: pre-commit and editors start one ``scratchpack lint FILE`` per file, and a Python process
pays the interpreter, ``re``, ``typing``, tree-sitter and ~90 regular expressions before it
reads a byte: 5-7x hadolint's whole run (docs/benchmarks.md, issue 13). The server loads all
of that once and answers the requests one after the other in its own process (not in forked
children: the Dockerfile parser's Go runtime has threads, which a fork does not carry over);
each request runs with the client's directory, environment, argv and standard input, and this
process's own are put back after it. The client in :mod:`scratchpack.cli.entry` costs an
``lstat`` when no server runs, and a connect and a few syscalls when one does. The same design
as ``dmypy``: one socket per user, the client runs in-process whenever the server does not
answer (absent, stale socket, killed mid-request).

The request runs the very ``main()`` a process would; what it writes to stdout and stderr is
recorded in the order the writes reach the OS (with the client's buffering) and replayed by
the client, so a pipe that merges both streams sees the same bytes. Only output that is not a
terminal is served (a capture cannot be a terminal: the width, colours and rich's styling
would differ); ``--fix`` always runs in-process (it writes files: a request lost mid-way must
not be replayed half-done).

Security: the socket lives in ``$XDG_RUNTIME_DIR`` (else ``/tmp/scratchpack-UID``, created
0700), mode 0600; the client refuses a directory or socket that is not the user's or is open
to others, and a server whose peer credentials (``SO_PEERCRED``) are not the user's; the
server refuses a peer of another uid (root aside).

The framing is by hand (a count, then length-prefixed fields) because the client must stay
as light as the in-process start it replaces: ``json`` imports ``re`` (~5 ms here), ``pickle``
would let a peer run code.
"""

# os.path, not pathlib (PTH off for this file in pyproject.toml): pathlib costs ~4 ms to
# import, a large part of what the client costs when a server answers
from __future__ import annotations

import io
import math
import os
import stat
import sys

from scratchpack import __version__

TYPE_CHECKING = False  # as typing's, without importing typing (~3 ms) on the client's path
if TYPE_CHECKING:
    import socket
    from _socket import socket as Socket
    from collections.abc import Callable
    from threading import BoundedSemaphore, Lock
    from typing import TextIO

    from scratchpack.cli.output import Output

# SCRATCHPACK_LINT_SERVER=0: never use a server (always in-process); =auto: a client that
# finds none starts one in the background (not under CI) and lints in-process meanwhile
ENV_SWITCH = "SCRATCHPACK_LINT_SERVER"
AUTO = "auto"
# seconds without a request after which a server exits: an auto-started one after 15 minutes
# unless this says otherwise; one of `--daemon start` only when this is set
IDLE_SWITCH = "SCRATCHPACK_LINT_SERVER_IDLE"
_AUTO_IDLE = 900.0
# beside the socket: held (flock) by the server for its whole life, from before it looks for
# a stale socket, so two servers never run nor bind at once; the log of an auto-started one
LOCK_NAME = "scratchpack-lint.lock"
LOG_NAME = "scratchpack-lint.log"
PROTOCOL = f"scratchpack-lint/1 {__version__}".encode()
_MAX_FIELDS = 1 << 16
_MAX_REPLY = 64 << 20  # what a served lint printed (JSON over many files can be large)
# a request: stdin (256 KiB at most: parser.MAX_SIZE), argv and the environment (the kernel's
# ARG_MAX bounds both together, 2 MiB on Linux by default), with room to spare
_MAX_REQUEST = 8 << 20
_MAX_CONNECTIONS = 16  # answered at once; one more is closed unanswered (it lints in-process)
_STDIN_LIMIT = (256 << 10) + 1  # parser.MAX_SIZE + 1, as lint reads it (not imported: light)
_CONNECT_TIMEOUT = 2.0
_READ_TIMEOUT = 10.0  # a client that stops sending mid-request holds the server this long
_STOP_WAIT = 30.0  # `--daemon stop` returns once the socket is gone (a loaded machine is slow)
# the exit status of a server that found another holding the lock (EX_TEMPFAIL): the
# `--daemon start` that started it then waits (up to _STOP_WAIT) for that one to answer
_BUSY = 75
# a lint request: protocol, kind, cwd, encoding, errors, stdout's mode, stderr's, stdin, argc,
# then argv (argv[0] included) and the environment, one KEY=value a field
_ARGV = 9


class NotServed(Exception):
    """The server cannot take this request (wrong version, refused): run in-process."""


def runtime_dir() -> str:
    return os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/scratchpack-{os.getuid()}"


def socket_path() -> str:
    return os.path.join(runtime_dir(), "scratchpack-lint.sock")


def idle_timeout(default: float | None) -> float | None:
    """``SCRATCHPACK_LINT_SERVER_IDLE`` in seconds (0 or less: never), else ``default``. A
    value that is no finite number is an error, not the default: a typo must not leave a server
    running for a time the user did not ask for."""
    from scratchpack.errors import UsageError

    value = os.environ.get(IDLE_SWITCH)
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):  # "inf" too: 0 already says never
        raise UsageError(f"{IDLE_SWITCH} must be a number of seconds, got {value!r}")
    return seconds if seconds > 0 else None


def under_ci() -> bool:
    """Whether this runs in CI (``CI`` set, as GitHub, GitLab and most runners do): there
    ``auto`` starts no server, which would outlive the step that started it; a job that wants
    one runs ``scratchpack lint --daemon start`` itself."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unsafe(path: str, socket_too: bool = True) -> str | None:
    """Why the socket at ``path`` (and its directory) must not be trusted, or None: another
    user could otherwise answer our lint requests, or read them."""
    uid = os.getuid()
    checks = [(os.path.dirname(path), False)] + ([(path, True)] if socket_too else [])
    for where, want_socket in checks:
        st = os.lstat(where)
        if st.st_uid != uid:
            return f"{where} is owned by uid {st.st_uid}, not {uid}"
        if want_socket and not stat.S_ISSOCK(st.st_mode):
            return f"{where} is not a socket"
        if not want_socket and not stat.S_ISDIR(st.st_mode):
            return f"{where} is not a directory"
        if st.st_mode & (0o077 if want_socket else 0o022):
            return f"{where} is open to other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def pack(fields: list[bytes]) -> bytes:
    return b"".join([_count(len(fields)), *(_count(len(f)) + f for f in fields)])


def _count(n: int) -> bytes:
    """A count or a length: 4 bytes, big-endian (``int.to_bytes``: no ``struct`` to import)."""
    return n.to_bytes(4, "big")


class _Reader:
    """A connection's bytes, read in large ``recv`` calls rather than two per field: a served
    reply holds one field per write of the command, which is one per ``print`` under
    ``PYTHONUNBUFFERED`` (set on these machines), and reading them field by field cost ~150
    ``recv`` calls, a few ms of the client's time, for a short report (``strace -c``). Each
    side sends one message and then waits or closes, so nothing past it is read."""

    def __init__(self, conn: Socket) -> None:
        self._conn, self._data = conn, bytearray()

    def take(self, size: int) -> bytes:
        while len(self._data) < size:
            chunk = self._conn.recv(max(size - len(self._data), 1 << 16))
            if not chunk:
                raise ConnectionError("the peer closed the connection mid-message")
            self._data += chunk
        taken = bytes(self._data[:size])
        del self._data[:size]
        return taken


def receive(conn: Socket, limit: int = _MAX_REPLY) -> list[bytes]:
    """One message: its fields, refused (ConnectionError) past ``limit`` bytes in all, before
    the field that would cross it is read."""
    reader = _Reader(conn)
    count = int.from_bytes(reader.take(4), "big")
    if count > _MAX_FIELDS:
        raise ConnectionError(f"{count} fields: not a lint message")
    fields, total = [], 0
    for _ in range(count):
        size = int.from_bytes(reader.take(4), "big")
        total += size
        if total > limit:
            raise ConnectionError(f"a lint message larger than {limit >> 20} MiB")
        fields.append(reader.take(size))
    return fields


def _peer_uid(conn: Socket) -> int:
    import _socket

    # struct ucred: pid, uid, gid, three 32-bit integers in the machine's byte order
    creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    if len(creds) != 12:
        raise OSError(f"SO_PEERCRED gave {len(creds)} bytes, not 12")
    return int.from_bytes(creds[4:8], sys.byteorder)


def _connect(path: str) -> Socket:
    """A connection to the server at ``path``, after checking that it is ours. ``_socket``,
    not ``socket``: the wrapper module imports ``selectors`` and ``enum`` (~8-10 ms here) for
    nothing this client uses."""
    import _socket

    problem = unsafe(path)
    if problem:
        raise NotServed(f"not using the lint server: {problem}")
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.settimeout(_CONNECT_TIMEOUT)
        conn.connect(path)
        if _peer_uid(conn) != os.getuid():
            raise NotServed(f"not using the lint server: {path} is served by another user")
        conn.settimeout(None)
    except BaseException:
        conn.close()
        raise
    return conn


def _forwardable(args: list[str]) -> bool:
    """Whether this ``lint`` command line may be served: not ``--fix`` (it writes files),
    ``--daemon`` (it manages the server) nor ``--lookup-bases`` (it waits on registries, and
    the server answers one request at a time), in any abbreviation argparse accepts."""
    for word in args:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        if (
            len(name) > 2
            and name.startswith("--")
            and any(f.startswith(name) for f in ("--fix", "--daemon", "--lookup-bases"))
        ):
            return False
    return True


def forward(args: list[str]) -> int | None:
    """Run ``scratchpack lint ARGS`` on the server and return its exit code, after writing its
    output; None when this process should lint itself (no server, not ours, stale, killed)."""
    switch = os.environ.get(ENV_SWITCH, "").strip()
    if switch == "0" or not _forwardable(args):
        return None
    path = socket_path()
    try:
        os.lstat(path)
    except OSError:  # no server: the common case costs this one lstat
        if switch == AUTO and _servable(args):
            start_detached(path)
        return None
    if not _servable(args):
        return None
    reading = "-" in args
    stdin: bytes | None = None  # not read yet
    try:
        conn = _connect(path)  # before standard input is read: a stale socket consumes none
        try:
            if reading:
                stdin = sys.stdin.buffer.read(_STDIN_LIMIT)
            conn.sendall(pack(_request(stdin or b"")))
            reply = receive(conn)
        finally:
            conn.close()
    except NotServed as exc:
        sys.stderr.write(f"scratchpack: warning: {exc}\n")
        return None
    except (OSError, ValueError):
        reply = []  # server gone or killed mid-request: lint here
        if switch == AUTO:
            start_detached(path)  # a stale socket; no start while a server holds the lock
    if len(reply) % 2 == 0 or not reply[0].isdigit():
        if stdin is not None:  # what was read is linted here as it would have been there
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), sys.stdin.encoding)
        return None
    for tag, data in zip(reply[1::2], reply[2::2], strict=True):
        stream = sys.stderr if tag == b"2" else sys.stdout
        stream.buffer.write(data)
        stream.buffer.flush()
    return int(reply[0])


def _servable(args: list[str]) -> bool:
    """Whether the streams let a server answer: none closed (None), none a terminal."""
    if sys.stdout is None or sys.stderr is None or sys.stdout.isatty() or sys.stderr.isatty():
        return False
    return "-" not in args or not (sys.stdin is None or sys.stdin.isatty())


def start_detached(path: str) -> None:
    """Start a server for ``path`` in the background and return at once (``auto``): in its own
    session, standard input /dev/null, its output to the log beside the socket, exiting after
    ``idle_timeout`` without a request. Nothing is started under CI, in a directory that is
    not safe, or while another server holds the lock (running, or starting: its warm-up takes
    about a second, during which the clients lint in-process). Two clients that both find the
    lock free each start one; the second to take the lock exits at once (:func:`serve`)."""
    if under_ci():
        return
    import fcntl

    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if unsafe(path, socket_too=False):
            return  # the warning comes when a socket is found there
        lock = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        finally:
            os.close(lock)  # the server takes it, for its life
        from scratchpack.errors import UsageError

        try:
            idle = idle_timeout(_AUTO_IDLE)
        except UsageError as exc:  # this process lints on; the typo is said, not obeyed
            sys.stderr.write(f"scratchpack: warning: {exc}: no lint server started\n")
            return
        log = os.path.join(directory, LOG_NAME)
        appending = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        os.posix_spawn(
            sys.executable,
            [*_server_command(path), "--detached", "--idle", str(idle or 0)],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, log, appending, 0o600),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
    except (OSError, ValueError):  # ValueError: no sys.executable (an embedded interpreter)
        return  # no server then: this lint runs in-process all the same


def _server_command(path: str) -> list[str]:
    # -P: the client's directory (a checkout being linted) is not put on the server's sys.path
    return [sys.executable, "-P", "-m", "scratchpack.cli.lintserver", path]


def _request(stdin: bytes) -> list[bytes]:
    return [
        PROTOCOL, b"lint", os.getcwd().encode(), *_encoding(), _mode(sys.stdout),
        _mode(sys.stderr), stdin,
        str(len(sys.argv)).encode(), *(os.fsencode(a) for a in sys.argv),
        *(k + b"=" + v for k, v in os.environb.items()),
    ]  # fmt: skip


def _exchange(path: str, request: list[bytes]) -> list[bytes]:
    conn = _connect(path)
    try:
        conn.sendall(pack(request))
        return receive(conn)
    finally:
        conn.close()


def _encoding() -> tuple[bytes, bytes]:
    return sys.stdout.encoding.encode(), (sys.stdout.errors or "strict").encode()


def _mode(stream: TextIO) -> bytes:
    """How this stream buffers (``-u``/``PYTHONUNBUFFERED``, line buffering, the buffer's
    size), so that the served streams interleave as this process's own would."""
    unbuffered = not isinstance(stream.buffer, io.BufferedWriter)
    size = os.fstat(stream.fileno()).st_blksize
    flags = (unbuffered, getattr(stream, "write_through", False), stream.line_buffering)
    return "".join(str(int(f)) for f in flags).encode() + str(size).encode()


def ask(kind: str, path: str | None = None) -> list[bytes] | None:
    """A ``status`` or ``stop`` request; None when no server answers."""
    try:
        return _exchange(path or socket_path(), [PROTOCOL, kind.encode()])
    except (OSError, ValueError, NotServed):
        return None


# --- the server ----------------------------------------------------------------------------


class _Sink(io.RawIOBase):
    """One stream's writes, appended in the order they reach the OS to the shared list."""

    def __init__(self, tag: bytes, chunks: list[tuple[bytes, bytes]]) -> None:
        self._tag, self._chunks = tag, chunks

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self._chunks.append((self._tag, chunk))
        return len(chunk)


def _run(fields: list[bytes]) -> list[bytes]:
    """One ``scratchpack lint`` as the client would have run it: in its directory, with its
    environment, argv and standard input; this process's own are put back after."""
    cwd, encoding, errors, out_mode, err_mode, stdin, argc = fields[2:_ARGV]
    argv = [os.fsdecode(a) for a in fields[_ARGV : _ARGV + int(argc)]]
    environment = dict(os.environb)
    streams = sys.stdin, sys.stdout, sys.stderr, sys.argv
    chunks: list[tuple[bytes, bytes]] = []
    try:
        os.environb.clear()
        for item in fields[_ARGV + int(argc) :]:
            key, _, value = item.partition(b"=")
            os.environb[key] = value
        os.chdir(cwd)
        enc, err = encoding.decode(), errors.decode()
        from scratchpack.cli.visible import VisibleStream  # as entry wraps a command's own

        sys.stdout = VisibleStream(_stream(b"1", chunks, out_mode, enc, err))
        errors_out = _stream(b"2", chunks, err_mode, enc, "backslashreplace")
        sys.stderr = VisibleStream(errors_out)
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), enc, err)
        sys.argv = argv
        from scratchpack.cli.main import main  # not entry's: it would forward to us again

        try:
            code = main(argv[1:])
        except SystemExit as exc:  # argparse: usage errors, --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        for stream in (sys.stdout, sys.stderr):
            if not stream.closed:
                stream.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr, sys.argv = streams
        os.environb.clear()
        os.environb.update(environment)
        os.chdir("/")
    return [str(code).encode(), *_runs(chunks)]


def _runs(chunks: list[tuple[bytes, bytes]]) -> list[bytes]:
    """The recorded writes as (tag, bytes) fields, adjacent writes to the same stream joined:
    the same bytes in the same order on each stream and across the two, in a few fields (one
    ``write`` each for the client) instead of one per ``print``."""
    fields: list[bytes] = []
    stream, pending = b"", list[bytes]()
    for tag, data in chunks:
        if tag != stream:
            if pending:
                fields += [stream, b"".join(pending)]
            stream, pending = tag, []
        pending.append(data)
    if pending:
        fields += [stream, b"".join(pending)]
    return fields


def _stream(
    tag: bytes, chunks: list[tuple[bytes, bytes]], mode: bytes, encoding: str, errors: str
) -> TextIO:
    """A stream that buffers as the client's (see :func:`_mode`) and records into ``chunks``."""
    unbuffered, write_through, line_buffering = (c == ord("1") for c in mode[:3])
    sink = _Sink(tag, chunks)
    # unbuffered, Python's own text stream sits right on the raw file, as this one on the sink
    target = sink if unbuffered else io.BufferedWriter(sink, max(int(mode[3:] or 0), 1))
    return io.TextIOWrapper(
        target,  # type: ignore[type-var]
        encoding, errors, line_buffering=line_buffering, write_through=write_through,
    )  # fmt: skip


def _answer(conn: Socket, lints: Lock, last: list[float]) -> bool:
    """Answer one request; False when it was ``stop``. ``status`` and ``stop`` are answered at
    once; a lint waits for ``lints``: it runs in this process's directory, environment and
    standard streams, which are the client's for as long as it runs, so two at once would see
    each other's. A request of this protocol sets ``last`` (the idle timeout counts from it);
    one of another version does not, so that after an upgrade the old server, which refuses
    every new client, still times out and the next ``auto`` client starts a current one."""
    import time

    conn.settimeout(_READ_TIMEOUT)
    fields = receive(conn, _MAX_REQUEST)
    if len(fields) < 2 or fields[0] != PROTOCOL:
        conn.sendall(pack([b"version", PROTOCOL]))
        return True
    last[0] = time.monotonic()
    if fields[1] in (b"status", b"stop"):
        conn.sendall(pack([b"0", str(os.getpid()).encode()]))
        if fields[1] == b"stop":
            lints.acquire()  # the lint under way ends first; no other starts (held to the exit)
        return fields[1] == b"status"
    elif fields[1] == b"lint" and len(fields) >= _ARGV:
        with lints:
            reply = _run(fields)
        last[0] = time.monotonic()  # from the lint's end
        conn.settimeout(None)
        conn.sendall(pack(reply))
    return True


def _connection(
    conn: socket.socket,
    me: int,
    lints: Lock,
    slots: BoundedSemaphore,
    leave: Callable[[], None],
    last: list[float],
) -> None:
    """One client's connection, on a thread of its own (so that ``--daemon status`` and the
    peers' credential checks never wait behind a long lint)."""
    try:
        with conn:
            if _peer_uid(conn) not in (me, 0):
                return  # another user's request is not ours to run (the mode keeps them out)
            try:
                going_on = _answer(conn, lints, last)
            except (OSError, ValueError):
                return  # that client went away or sent garbage: the next one
        if not going_on:
            leave()
    finally:
        slots.release()


def _warm_up() -> None:
    """Load and compile, once, what every request would: the CLI, every rule, tree-sitter's
    bash grammar, ShellCheck's runner (subprocess, tempfile, json) and the regular expressions
    a lint of a small file compiles; every request then finds them loaded."""
    import tempfile

    from scratchpack.cli.main import main

    with tempfile.TemporaryDirectory(prefix="scratchpack-lint-warm.") as tmp:
        sample = os.path.join(tmp, "Dockerfile")
        with open(sample, "w") as f:
            f.write(
                "FROM debian:12 AS build\nARG V=1\nENV A=b\nWORKDIR /src\nCOPY . .\n"
                "RUN apt-get update && apt-get install -y curl && pip install x\n"
                'LABEL a="b"\nFROM scratch\nCOPY --from=build /src /app\nUSER 1\n'
                'HEALTHCHECK CMD ["/app"]\nENTRYPOINT ["/app"]\n'
            )
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = io.StringIO()
        try:
            main(["lint", "-f", "json", "-c", os.devnull, sample])  # ShellCheck's runner too
        finally:
            sys.stdout, sys.stderr = saved


def _close_inherited() -> None:
    """Close the descriptors a detached server inherited past 0-2 (a pre-commit pipe, say):
    held open for the server's life, they would keep its starter's reader waiting for an end
    of file (docs/testing.md). Python's own descriptors are not inheritable."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                os.close(fd)
        except OSError:
            pass  # listdir's own, closed already


def serve(path: str, idle: float | None = None, detached: bool = False) -> None:
    """Listen on ``path`` until SIGTERM, a ``stop`` request or ``idle`` seconds without a
    request. Started by ``--daemon start``, which reads this process's stderr until it is ready
    (it then points at /dev/null), or ``detached`` by a client (``auto``), with its output in
    the log beside the socket."""
    import fcntl
    import select
    import signal
    import socket
    import threading
    import time

    path = os.path.abspath(path)  # before any chdir
    if detached:
        _close_inherited()
        os.chdir("/")  # not the starting client's directory, even while warming up
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    problem = unsafe(path, socket_too=False)
    if problem:
        raise SystemExit(f"scratchpack: error: {problem}")
    lock = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until this process ends
    except BlockingIOError:
        if detached:
            raise SystemExit(0) from None  # another client's server got there first
        sys.stderr.write(
            f"scratchpack: error: a lint server is already running or starting at {path}\n"
        )
        raise SystemExit(_BUSY) from None
    if detached:
        os.ftruncate(1, 0)  # the log is this server's
    if os.path.lexists(path):
        if ask("status", path) is not None:
            sys.stderr.write(f"scratchpack: error: a lint server already answers at {path}\n")
            raise SystemExit(1)
        if unsafe(path) is None:
            os.unlink(path)  # stale: its server was killed
    _warm_up()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    identity = os.stat(path).st_ino
    problem = unsafe(path)
    if problem:
        raise SystemExit(f"scratchpack: error: {problem}")
    listener.listen(64)

    lints = threading.Lock()
    last = [time.monotonic()]  # of the latest request

    def leave(signum: int = 0, frame: object = None) -> None:
        if signum:  # SIGTERM, SIGINT: the lint under way may end first (a stop already did)
            lints.acquire(timeout=_READ_TIMEOUT)
        try:
            if os.stat(path).st_ino == identity:  # not a newer server's socket
                os.unlink(path)
        except OSError:
            pass
        os._exit(0)

    # The Dockerfile parser's Go runtime runs threads of its own, so a signal may land on one
    # of them while this thread waits in accept(): the wakeup pipe makes the select below
    # return, and the handler runs then. For the same reason requests are served here, on
    # threads of this process (one per connection, at most _MAX_CONNECTIONS, lints one at a
    # time), not in forked children: a fork keeps only the forking thread, and the Go
    # runtime of a child would wait for threads it no longer has.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0,) if detached else (0, 1, 2):
        os.dup2(devnull, fd)  # ready: the starter's read of our stderr ends here
    os.close(devnull)
    if detached:
        idle_text = f"{idle:g} s without a request" if idle else "no idle timeout"
        sys.stderr.write(f"lint server (pid {os.getpid()}) at {path}: {idle_text}\n")
        sys.stderr.flush()
    os.chdir("/")  # holds no directory; each request runs in its client's
    me = os.getuid()
    slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
    while True:
        wait = None if idle is None else max(last[0] + idle - time.monotonic(), 0.0)
        ready, _, _ = select.select([listener.fileno(), wake_read], [], [], wait)
        if wake_read in ready:
            os.read(wake_read, 512)  # the handler itself runs as this returns
        if not ready and idle is not None and time.monotonic() - last[0] >= idle:
            if not lints.acquire(blocking=False):  # a lint longer than the timeout: busy
                last[0] = time.monotonic()
                continue
            # no lint under way, and none starts after this
            if detached:
                sys.stderr.write(f"lint server (pid {os.getpid()}): idle, exiting\n")
                sys.stderr.flush()
            leave()
        if listener.fileno() not in ready:
            continue
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        if not slots.acquire(blocking=False):
            conn.close()  # too many at once: that client lints in-process
            continue
        threading.Thread(
            target=_connection, args=(conn, me, lints, slots, leave, last), daemon=True
        ).start()


# --- scratchpack lint --daemon start|stop|status ----------------------------------------------


def control(action: str, out: Output) -> int:
    path = socket_path()
    running = ask("status", path)
    if action == "status":
        if running is None:
            out.line(f"no lint server at {path}")
            return 1
        out.line(f"lint server running (pid {running[1].decode()}) at {path}")
        return 0
    if action == "stop":
        if running is None:
            out.line(f"no lint server at {path}")
            return 0
        ask("stop", path)
        import time

        deadline = time.monotonic() + _STOP_WAIT
        while os.path.lexists(path):  # it removes its socket on the way out
            if time.monotonic() > deadline:
                from scratchpack.errors import ScratchpackError

                raise ScratchpackError(
                    f"the lint server (pid {running[1].decode()}) did not stop within "
                    f"{_STOP_WAIT:.0f} s"
                )
            time.sleep(0.02)
        out.line(f"lint server stopped (pid {running[1].decode()})")
        return 0
    if running is not None:
        out.line(f"lint server already running (pid {running[1].decode()}) at {path}")
        return 0
    return _start(path, out)


def _start(path: str, out: Output) -> int:
    import subprocess

    from scratchpack.errors import ScratchpackError

    if os.path.lexists(path):
        problem = unsafe(path)
        if problem:
            raise ScratchpackError(f"cannot start the lint server: {problem}")
    idle = idle_timeout(None)
    proc = subprocess.Popen(
        [*_server_command(path), *(("--idle", str(idle)) if idle else ())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    with proc.stderr:
        said = proc.stderr.read()  # until the server is ready (or has failed)
    status = ask("status", path)
    if status is None and proc.wait() == _BUSY:
        # Another start got the lock first (eight `--daemon start` at once): its server is
        # warming up. Waiting for it to answer makes this start succeed as if it had come a
        # moment later, instead of failing with the loser's "already running or starting".
        status = _answer_within(path, _STOP_WAIT)
        if status is not None:
            out.line(f"lint server already running (pid {status[1].decode()}) at {path}")
            return 0
    if status is None:
        detail = " ".join(said.decode(errors="replace").split())[-300:]
        raise ScratchpackError(f"the lint server did not start: {detail or 'no reason given'}")
    out.line(f"lint server started (pid {status[1].decode()}) at {path}")
    return 0


def _answer_within(path: str, seconds: float) -> list[bytes] | None:
    """The status answer of the server at ``path``, asked until it comes or ``seconds``
    pass."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        status = ask("status", path)
        if status is not None or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _main(argv: list[str]) -> None:
    """``python -m scratchpack.cli.lintserver PATH [--idle SECONDS] [--detached]``."""
    idle = float(argv[argv.index("--idle") + 1]) if "--idle" in argv else 0.0
    serve(argv[0], idle if idle > 0 else None, "--detached" in argv)


if __name__ == "__main__":
    _main(sys.argv[1:])
