"""A client for the OCI distribution API: auth negotiation, retries, and the endpoints we use.

One :class:`RegistryClient` per registry host; it is thread-safe (httpx clients are) so blobs
can move in parallel. Every request goes through :meth:`RegistryClient.request`, which answers
401 challenges (basic or bearer, tokens cached per scope) and retries what may succeed on a
second try: connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``), with
exponential backoff and jitter, a bounded number of times.

Trust rules (the registry, or someone on the network, may be hostile):

- Credentials (a bearer token or the Basic password) go only to the registry's own origin
  (scheme, host and port). Absolute URLs the registry hands out (upload ``Location``, tags
  ``Link``, redirects to a storage host) are followed without them.
- Redirects are followed here, not by httpx, a bounded number of times, with the same rule;
  nothing is ever sent from an HTTPS registry down to plain HTTP (unless to loopback or with
  ``--tls-verify=false``).
- Every response body is read with a cap: a body the caller only needs the headers of, an
  error document, a manifest, a token; ``Accept-Encoding: identity`` so a small compressed
  answer cannot expand into a large one.
"""

from __future__ import annotations

import contextlib
import errno
import http.cookiejar
import ipaddress
import json
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore

from scratchpack import __version__, progress
from scratchpack.errors import (
    FormatError,
    ImageNotFoundError,
    NotFoundError,
    ScratchpackError,
    TransportError,
    UsageError,
)
from scratchpack.httpclient import httpx
from scratchpack.transports.names import redact_userinfo
from scratchpack.transports.registry.auth import Challenge, Credentials, lookup, parse_challenge

USER_AGENT = f"scratchpack/{__version__}"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
BODY_LIMIT = 1 << 20  # a response whose body we do not need (or an error document)
ERROR_LIMIT = 64 << 10  # the part of an error document worth reading
TOKEN_LIMIT = 1 << 20  # Docker Hub's tokens are a few kB
# TLS failures a retry may fix (the peer went away mid-handshake); any other SSL error (a
# plain-HTTP server, an untrusted certificate) fails at once.
_TRANSIENT_TLS = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


class AuthError(ScratchpackError):
    """The registry refused our credentials (or wants some and we have none)."""


def split_host(host: str) -> str:
    """The name or address part of ``HOST[:PORT]`` (an IPv6 address without its brackets)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(name: str) -> bool:
    """``localhost`` or a loopback address, parsed (``127.attacker.example`` is a name, not an
    address); an IPv4-mapped IPv6 address counts as the IPv4 address it maps."""
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def plain_http_allowed(host: str) -> bool:
    """Plain HTTP is used without ``--tls-verify=false`` only on loopback, where nothing can
    intercept the traffic."""
    return is_loopback(split_host(host))


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host.lower(), port


def _permanent_tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` behind a connection failure, when retrying cannot help."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) and not isinstance(current, _TRANSIENT_TLS):
            return current
        current = current.__cause__ or current.__context__
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (httpx wraps httpcore, which wraps the socket error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _netloc(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{port}"


_ERRNO_TEXT = re.compile(r"^\[Errno -?\d+\]\s*")


def describe_transport_error(exc: BaseException, url: httpx.URL) -> tuple[str, bool]:
    """A sentence for a failed connection or exchange with ``url``, and whether a retry may
    help. A refused connection or a name that does not exist fails at once: nothing listens
    there, and five silent retries would only make the user wait for the same answer.
    ``url`` names the peer unless httpx knows the request that failed (a redirect target)."""
    with contextlib.suppress(RuntimeError):  # httpx raises it when the error has no request
        url = exc.request.url if isinstance(exc, httpx.RequestError) else url
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return f"cannot connect to {_netloc(url)}: connection refused", False
        if isinstance(cause, socket.gaierror):
            if cause.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
                return f"cannot resolve {url.host}: no such host", False
            reason = (cause.strerror or "name resolution failed").lower()
            return f"cannot resolve {url.host}: {reason}", True
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"cannot connect to {_netloc(url)}: {os.strerror(cause.errno).lower()}", False
    if isinstance(exc, httpx.ConnectTimeout):
        return f"cannot connect to {_netloc(url)}: no answer (timed out)", True
    if isinstance(exc, httpx.TimeoutException):
        return f"{_netloc(url)} stopped answering (timed out)", True
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{_netloc(url)} closed the connection without a complete answer", True
    for cause in _causes(exc):
        if isinstance(cause, ConnectionResetError):
            return f"{_netloc(url)} reset the connection", True
    text = _ERRNO_TEXT.sub("", str(exc)).strip() or type(exc).__name__
    return f"connection to {_netloc(url)} failed: {text[:1].lower()}{text[1:]}", True


# A bearer token as it may go in a header: printable ASCII, no spaces (RFC 6750's b64token
# is narrower; Docker Hub's and distribution's are JWTs).
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # a scheme: the URL is taken as given
_IMAGE_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests/(?P<ref>[^/]+)|tags/list)$")


def attempts(n: int) -> str:
    """``1 attempt``, ``5 attempts``."""
    return f"{n} attempt" if n == 1 else f"{n} attempts"


SLOWEST_BODY = 64 << 10  # bytes per second a capped answer is allowed beyond its timeout


def read_capped(
    response: httpx.Response, limit: int, what: str, timeout: float | None = None
) -> bytes:
    """The body of a streamed ``response``, refused when larger than ``limit`` bytes: on its
    ``Content-Length`` before reading anything, else as soon as ``limit + 1`` bytes arrived.

    With ``timeout``, the whole body must also arrive within ``timeout`` seconds plus one
    second per ``SLOWEST_BODY`` bytes received: the read timeout bounds only the silence
    between two pieces, and a registry dripping a byte a second kept a manifest read going
    for days (red team 2026-12-03). Blobs are not read here: their time is their size's."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise FormatError(f"{what}: {int(declared)} bytes, more than the {_size(limit)} allowed")
    parts: list[bytes] = []
    total = 0
    started = time.monotonic()
    for piece in response.iter_raw():  # pieces as they arrive (a size would buffer them)
        total += len(piece)
        if total > limit:
            response.close()
            raise FormatError(f"{what}: more than the {_size(limit)} allowed")
        parts.append(piece)
        if timeout is not None and time.monotonic() - started > timeout + total / SLOWEST_BODY:
            response.close()
            raise TransportError(
                f"{what}: the answer came too slowly ({total} bytes in more than {timeout:g} s)"
            )
    return b"".join(parts)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def _buffered(response: httpx.Response, data: bytes) -> httpx.Response:
    """A copy of ``response`` holding ``data`` (read raw: no content decoding)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
    return httpx.Response(
        response.status_code, headers=headers, content=data, request=response.request
    )


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """The registry's ``Retry-After`` seconds (at most 60) when it is a number of them,
        else exponential backoff: ``-1`` or ``nan`` reached ``time.sleep`` as given and
        ended the command with ``unexpected ValueError`` (red team 2026-12-03)."""
        if retry_after:
            try:
                asked = float(retry_after)
            except ValueError:
                asked = -1.0
            if asked >= 0.0:  # False for nan
                return min(asked, 60.0)
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        return float(backoff * (0.5 + random.random()))


SOCKET_READ = 256 * 1024


def _larger_socket_reads() -> None:
    """Read HTTP/1.1 bodies off the socket in 256 KiB pieces instead of httpcore's 64 KiB.

    httpcore has no option for it, only this class constant; a blob pull spends its Python
    time per piece (h11 events, buffer slicing), and 4x fewer pieces cut about 0.1 s of CPU
    from a 300 MB pull here (docs/benchmarks.md). Guarded so that a httpcore without the
    constant keeps working as before.
    """
    connection = getattr(getattr(httpcore, "_sync", None), "http11", None)
    cls = getattr(connection, "HTTP11Connection", None)
    if cls is not None and getattr(cls, "READ_NUM_BYTES", SOCKET_READ) < SOCKET_READ:
        cls.READ_NUM_BYTES = SOCKET_READ


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing: no registry protocol uses cookies, skopeo (Go's
    client, no jar) sends none, and a cookie one host sets is one more thing that could
    follow a request elsewhere. httpx offers no switch, but it hands every response to the
    jar it is given; parsing the ``Set-Cookie`` headers that nobody reads (an ``email``
    message and a ``urllib`` request per response) was 9% of a pull's per-blob CPU in
    the transfer threads (50 small layers, issue 17)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


@dataclass
class RegistryClient:
    host: str
    tls_verify: bool = True
    credentials: Credentials | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0
    auth_file: Path | None = None  # --authfile: read before Docker's config.json

    def __post_init__(self) -> None:
        if "@" in self.host or "/" in self.host:
            raise UsageError(
                f"invalid registry {redact_userinfo(self.host)!r}: give HOST[:PORT] (credentials "
                "go in --creds or `scratchpack login`, never in a name)"
            )
        self.registry_host = "registry-1.docker.io" if self.host == "docker.io" else self.host
        self._scheme: str | None = None
        self._origin: tuple[str, str, int] | None = None
        self._clients: dict[str, httpx.Client] = {}
        self._client_lock = threading.Lock()
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._challenge: Challenge | None = None
        self._creds_loaded = False
        self.stats: dict[str, int] = {"requests": 0, "retries": 0}

    @property
    def base(self) -> str:
        """``https://HOST``; ``http://HOST`` only on loopback or with ``--tls-verify=false``."""
        with self._lock:
            if self._scheme is None:
                self._scheme = self._probe_scheme()
            return f"{self._scheme}://{self.registry_host}"

    def _client_for(self, url: httpx.URL) -> httpx.Client:
        """The HTTP client for ``url``'s scheme, made when first needed: a verifying TLS
        context costs ~40 ms to build (the CA bundle is parsed), which a plain-HTTP loopback
        registry never needs; any HTTPS URL (a token realm, a storage host) gets one that
        verifies unless ``--tls-verify=false``."""
        scheme = "https" if url.scheme == "https" else "http"
        with self._client_lock:
            if scheme not in self._clients:
                self._clients[scheme] = self._make_client(
                    verify=self.tls_verify and scheme == "https"
                )
            return self._clients[scheme]

    def _make_client(self, verify: bool) -> httpx.Client:
        _larger_socket_reads()
        return httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(self.timeout, connect=min(15.0, self.timeout)),
            follow_redirects=False,  # followed by request(), which decides on credentials
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            cookies=_NoCookies(),
        )

    def _probe_scheme(self) -> str:
        """HTTPS for remote registries; loopback ones are asked over plain HTTP first (nothing
        can intercept loopback traffic), and ``--tls-verify=false`` allows a fallback to HTTP."""
        if self.tls_verify and not plain_http_allowed(self.host):
            return "https"
        if plain_http_allowed(self.host):
            probe = self._make_client(verify=False)
            try:
                response = probe.get(f"http://{self.registry_host}/v2/", timeout=5.0)
                if response.status_code in (200, 401) or "Docker-Distribution-API-Version" in (
                    response.headers
                ):
                    with self._client_lock:
                        self._clients.setdefault("http", probe)
                    return "http"
            except httpx.HTTPError:
                pass
            probe.close()
            return "https"
        try:
            self._client_for(httpx.URL(f"https://{self.registry_host}/")).get(
                f"https://{self.registry_host}/v2/", timeout=5.0
            )
            return "https"
        except httpx.HTTPError:
            return "http"

    def close(self) -> None:
        with self._client_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- trust -----------------------------------------------------------------------------

    def owns(self, url: httpx.URL) -> bool:
        """Whether ``url`` is on the registry itself (same scheme, host and port): the only
        place its credentials may go."""
        if self._origin is None:
            self._origin = _origin(httpx.URL(self.base))
        return _origin(url) == self._origin

    def check_scheme(self, url: httpx.URL, what: str) -> None:
        """Refuse anything but HTTP(S), and plain HTTP to a non-loopback host unless the
        registry itself is plain HTTP by choice (``--tls-verify=false``)."""
        if url.scheme not in ("http", "https"):
            raise TransportError(f"{self.host}: {what} is not an HTTP(S) URL: {url.scheme}:")
        if url.scheme == "http" and self.tls_verify and not is_loopback(url.host):
            raise TransportError(
                f"{self.host}: refusing plain HTTP to {url.netloc.decode()} ({what}): use "
                "--tls-verify=false only if you trust the network"
            )

    # -- auth ------------------------------------------------------------------------------

    def _creds(self) -> Credentials | None:
        if not self._creds_loaded:
            self.credentials = lookup(self.host, self.credentials, self.auth_file)
            self._creds_loaded = True
        return self.credentials

    def _auth_header(self, scope: str, url: httpx.URL) -> dict[str, str]:
        if not self.owns(url):
            return {}
        with self._lock:
            if scope in self._tokens:
                return {"Authorization": f"Bearer {self._tokens[scope]}"}
            if self._basic and self.credentials:
                return {"Authorization": self.credentials.basic_header()}
        return {}

    def _authenticate(self, response: httpx.Response, scope: str, sent: str) -> None:
        """Answer a 401: enable basic auth, or get a bearer token for ``scope``.

        ``sent`` is the Authorization header the refused request carried: if another thread
        got a token for this scope since, it is reused instead of asking the server again.
        """
        sent_basic = sent.startswith("Basic ")
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        creds = self._creds()
        if challenge is None:
            raise AuthError(f"{self.host}: access denied (HTTP 401 without a challenge)")
        if challenge.scheme == "basic":
            if creds is None:
                raise AuthError(
                    f"{self.host} requires authentication: use `scratchpack login {self.host}` "
                    "or --creds USER:PASS"
                )
            if sent_basic:  # our credentials went with the request and were refused
                raise AuthError(f"{self.host}: invalid username or password")
            with self._lock:
                self._basic = True
            return
        if challenge.scheme == "bearer" and "realm" not in challenge.params:
            raise AuthError(f"{self.host}: its Bearer challenge names no token realm")
        if challenge.scheme != "bearer":
            raise AuthError(f"{self.host}: unsupported authentication scheme {challenge.scheme!r}")
        with self._token_lock:
            current = self._tokens.get(scope)
            if current is not None and sent != f"Bearer {current}":
                return
            self._tokens[scope] = self._fetch_token(challenge, scope, creds)

    def _fetch_token(self, challenge: Challenge, scope: str, creds: Credentials | None) -> str:
        """A bearer token from the challenge's realm (Docker's token spec): the registry's
        credentials go to the realm as Basic auth, as the spec says, but only over HTTPS or to
        loopback (or with ``--tls-verify=false``), and never on to where it redirects."""
        try:
            realm = httpx.URL(challenge.params["realm"])
        except httpx.InvalidURL as exc:
            raise AuthError(f"{self.host}: the token realm is not a URL") from exc
        try:
            self.check_scheme(realm, "its token server")
        except TransportError as exc:
            raise AuthError(str(exc)) from None
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("service", challenge.params.get("service", ""))
        ]
        wanted = scope or challenge.params.get("scope", "")
        params.extend(("scope", item) for item in wanted.split() if item)
        url = realm.copy_merge_params(params)
        basic = {"Authorization": creds.basic_header()} if creds else {}
        realm_origin = _origin(realm)
        try:
            response = self._send_following(
                "GET", url, {}, None, lambda u: basic if _origin(u) == realm_origin else {}
            )
            try:
                status = response.status_code
                data = read_capped(
                    response, TOKEN_LIMIT, f"{self.host}: token server answer", self.timeout
                )
            finally:
                response.close()
        except httpx.TransportError as exc:
            reason, _ = describe_transport_error(exc, url)
            raise TransportError(f"{self.host}: token server unreachable: {reason}") from exc
        if status in (401, 403):
            raise AuthError(f"{self.host}: invalid username or password (token server refused)")
        if status != 200:
            raise AuthError(f"{self.host}: token server answered HTTP {status}")
        try:
            answer = json.loads(data)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError, RecursionError):
            token = None
        if not token or not isinstance(token, str):
            raise AuthError(f"{self.host}: token server sent no token")
        if not _TOKEN_TEXT.fullmatch(token):
            # a CR/LF made httpx refuse the header and the error line quote it (the token,
            # a credential, in a CI log); a non-ASCII one was ``unexpected UnicodeEncodeError``
            raise AuthError(f"{self.host}: token server sent a token that is not printable ASCII")
        return token

    def check_login(self) -> None:
        """Prove the credentials work: ``GET /v2/`` through the full auth flow."""
        self.request("GET", "/v2/", ok=(200,))

    # -- requests --------------------------------------------------------------------------

    def url(self, path: str, params: dict[str, str] | None = None) -> httpx.URL:
        """``path`` on the registry, or an absolute URL it gave us, with ``params`` merged in
        (httpx would replace the query; upload locations carry state there)."""
        absolute = _ABSOLUTE_URL.match(path) is not None
        try:
            # any scheme is taken as given, for check_scheme to refuse (an ``ftp://`` upload
            # location, glued after the base, was ``unexpected InvalidURL``)
            url = httpx.URL(path if absolute else self.base + path)
        except httpx.InvalidURL:
            raise TransportError(f"{self.host}: not a valid URL: {path[:100]!r}") from None
        return url.copy_merge_params(params) if params else url

    def _send_following(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: Callable[[], Any] | None,
        auth_for: Callable[[httpx.URL], dict[str, str]],
    ) -> httpx.Response:
        """Send (streamed) and follow redirects ourselves, asking ``auth_for`` at each hop which
        credentials that URL may have; a 303 (and a 301/302 of a POST) turns into a GET."""
        for _ in range(MAX_REDIRECTS + 1):
            client = self._client_for(url)
            request = client.build_request(
                method, url, headers={**headers, **auth_for(url)},
                content=content() if content else None,
            )  # fmt: skip
            response = client.send(request, stream=True)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUS or not location:
                return response
            _discard(response)
            try:
                url = url.join(location)
            except httpx.InvalidURL as exc:
                raise TransportError(f"{self.host}: redirected to an invalid URL") from exc
            self.check_scheme(url, "a redirect")
            if (response.status_code == 303 and method != "HEAD") or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, content = "GET", None
        raise TransportError(f"{self.host}: more than {MAX_REDIRECTS} redirects")

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str = "",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: Callable[[], Any] | None = None,
        ok: tuple[int, ...] = (200,),
        stream: bool = False,
        retry: bool = True,
        limit: int = BODY_LIMIT,
    ) -> httpx.Response:
        """Send with auth and retries; ``content`` is a factory so a retry can resend the body.

        Unless ``stream``, the body is read here, at most ``limit`` bytes (else FormatError);
        a streamed response is the caller's to read and close.
        """
        url = self.url(path, params)
        if not self.owns(url):
            self.check_scheme(url, "a location it gave")
        where = f"{method} {path.split('?', 1)[0]}"
        auth_tries = 0
        attempt = 0
        while True:
            self.stats["requests"] += 1
            response = None
            try:
                response = self._send_following(
                    method, url, headers or {}, content, lambda u: self._auth_header(scope, u)
                )
                status = response.status_code
                if status in ok and not stream:
                    data = b""
                    if method != "HEAD":
                        data = read_capped(response, limit, f"{self.host}: {where}", self.timeout)
                    response.close()
                    return _buffered(response, data)
            except httpx.TransportError as exc:
                if response is not None:
                    response.close()
                tls = _permanent_tls_failure(exc)
                if tls is not None:
                    raise self._tls_error(tls) from exc
                reason, transient = describe_transport_error(exc, url)
                if not transient:
                    raise TransportError(f"{self.host}: {where}: {reason}") from exc
                if not retry or attempt + 1 >= self.retry.attempts:
                    raise TransportError(
                        f"{self.host}: {where} failed after {attempts(attempt + 1)}: {reason}"
                    ) from exc
                self.backoff(attempt, None, reason, where)
                attempt += 1
                continue
            if status == 401 and auth_tries < 2 and self.owns(response.url):
                auth_tries += 1
                _discard(response)
                sent = response.request.headers.get("Authorization", "")
                self._authenticate(response, scope, sent)
                continue
            if retry and status in RETRY_STATUS and attempt + 1 < self.retry.attempts:
                retry_after = response.headers.get("Retry-After")
                _discard(response)
                self.backoff(attempt, retry_after, f"HTTP {status}", where)
                attempt += 1
                continue
            if status in ok:
                return response
            raise self._error(method, path, response)

    def _tls_error(self, exc: ssl.SSLError) -> TransportError:
        reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TransportError(
                f"{self.host}: TLS certificate not trusted ({reason}); use --tls-verify=false "
                "only for a registry you trust"
            )
        return TransportError(
            f"{self.host}: TLS handshake failed ({reason}): if {self.host} is a plain-HTTP "
            "registry, use --tls-verify=false"
        )

    def backoff(
        self,
        attempt: int,
        retry_after: str | None,
        reason: str,
        where: str,
        numbering: tuple[int, int] | None = None,
    ) -> None:
        """Wait before retry number ``attempt`` (counted in ``stats``), and say so on the
        progress channel, so a slow registry does not look like a hung command:
        ``HOST: retrying (2/5) after connection reset (GET /v2/...), in 1.2 s`` (attempt 2
        of 5 comes next; ``numbering`` gives them for a caller with its own budget)."""
        self.stats["retries"] += 1
        delay = self.retry.delay(attempt, retry_after)
        number, total = numbering or (attempt + 2, self.retry.attempts)
        progress.note(
            f"{self.host}: retrying ({number}/{total}) after {reason} ({where}), in {delay:.1f} s"
        )
        self.retry.sleep(delay)

    def _error(self, method: str, path: str, response: httpx.Response) -> ScratchpackError:
        detail = ""
        try:
            body = read_capped(response, ERROR_LIMIT, "error", self.timeout)
            errors = json.loads(body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError, TypeError, RecursionError, httpx.HTTPError,
                ScratchpackError):  # fmt: skip
            detail = ""
        finally:
            response.close()
        detail = " ".join(detail.split())[:300]  # the registry's words: one line of ours
        status = response.status_code
        shown = path if len(path) <= 200 else path[:200] + "..."  # a registry's Link may be huge
        where = f"{self.host}: {method} {shown}"
        if status == 401:
            if not self.owns(response.url):
                return AuthError(
                    f"{where}: {response.url.netloc.decode()} asked for credentials; they are "
                    f"only ever sent to {self.registry_host}"
                )
            return AuthError(f"{self.host}: authentication failed ({detail or 'HTTP 401'})")
        if status == 403:
            return AuthError(f"{where}: access denied ({detail or 'HTTP 403'})")
        if status == 404:
            bare = httpx.URL(path).path if "://" in path else path.split("?", 1)[0]
            image = _IMAGE_PATH.match(bare)
            if image:
                # the image (or its repository) is absent, not a part of it: one exit code
                sep = "@" if image["ref"] and ":" in image["ref"] else ":"
                name = f"{self.host}/{image['name']}" + (sep + image["ref"] if image["ref"] else "")
                return ImageNotFoundError(f"{name}: no such image ({detail or 'HTTP 404'})")
            return NotFoundError(f"{where}: not found ({detail or 'HTTP 404'})")
        return TransportError(f"{where}: HTTP {status} {detail}".rstrip())

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        response = self.request(method, path, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()


def _discard(response: httpx.Response) -> None:
    """Close a response we will not use, reading a small body first so that the connection
    can be reused. Raw: ``read()`` decoded a gzip body, and 60 kB of one on a redirect or a
    401 took 120 MB (red team 2026-12-03)."""
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) <= ERROR_LIMIT:
            for _ in response.iter_raw():
                pass
    except httpx.HTTPError:
        pass
    finally:
        response.close()


def scope_for(repository: str, actions: str) -> str:
    return f"repository:{repository}:{actions}"
