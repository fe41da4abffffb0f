"""A client for the OCI distribution API: auth negotiation, retries, and the endpoints we use.

One :class:`RegistryClient` per registry host; it is thread-safe (httpx clients are) so blobs
can move in parallel. Every request goes through :meth:`RegistryClient.request`, which answers
401 challenges (basic or bearer, tokens cached per scope) and retries what may succeed on a
second try: connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``), with
exponential backoff and jitter, a bounded number of times.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from scratchpack import __version__
from scratchpack.errors import NotFoundError, ScratchpackError, TransportError
from scratchpack.transports.registry.auth import Challenge, Credentials, lookup, parse_challenge

USER_AGENT = f"scratchpack/{__version__}"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class AuthError(ScratchpackError):
    """The registry refused our credentials (or wants some and we have none)."""


def plain_http_allowed(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"
    return name in ("localhost", "127.0.0.1", "[::1]") or name.startswith("127.")


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
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


@dataclass
class RegistryClient:
    host: str
    tls_verify: bool = True
    credentials: Credentials | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0

    def __post_init__(self) -> None:
        self.registry_host = "registry-1.docker.io" if self.host == "docker.io" else self.host
        self._scheme: str | None = None
        self._client: httpx.Client | None = None
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

    @property
    def _http(self) -> httpx.Client:
        """The HTTP client, made once the scheme is known: a verifying TLS context costs ~40 ms
        to build (the CA bundle is parsed), which a plain-HTTP loopback registry never needs."""
        with self._client_lock:
            if self._client is None:
                scheme = self._scheme or "https"
                self._client = self._make_client(verify=self.tls_verify and scheme == "https")
            return self._client

    def _make_client(self, verify: bool) -> httpx.Client:
        _larger_socket_reads()
        return httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(self.timeout, connect=min(15.0, self.timeout)),
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
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
                    self._client = probe
                    return "http"
            except httpx.HTTPError:
                pass
            probe.close()
            return "https"
        try:
            self._make_client(verify=False).get(f"https://{self.registry_host}/v2/", timeout=5.0)
            return "https"
        except httpx.HTTPError:
            return "http"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- auth ------------------------------------------------------------------------------

    def _creds(self) -> Credentials | None:
        if not self._creds_loaded:
            self.credentials = lookup(self.host, self.credentials)
            self._creds_loaded = True
        return self.credentials

    def _auth_header(self, scope: str) -> dict[str, str]:
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
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise AuthError(f"{self.host}: unsupported authentication scheme {challenge.scheme!r}")
        with self._token_lock:
            current = self._tokens.get(scope)
            if current is not None and sent != f"Bearer {current}":
                return
            self._tokens[scope] = self._fetch_token(challenge, scope, creds)

    def _fetch_token(self, challenge: Challenge, scope: str, creds: Credentials | None) -> str:
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("service", challenge.params.get("service", ""))
        ]
        wanted = scope or challenge.params.get("scope", "")
        params.extend(("scope", item) for item in wanted.split() if item)
        headers = {"Authorization": creds.basic_header()} if creds else {}
        try:
            response = self._http.get(challenge.params["realm"], params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"{self.host}: token server unreachable: {exc}") from exc
        if response.status_code in (401, 403):
            raise AuthError(f"{self.host}: invalid username or password (token server refused)")
        if response.status_code != 200:
            raise AuthError(f"{self.host}: token server answered HTTP {response.status_code}")
        try:
            data = response.json()
            token = data.get("token") or data.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise AuthError(f"{self.host}: token server sent no token")
        return str(token)

    def check_login(self) -> None:
        """Prove the credentials work: ``GET /v2/`` through the full auth flow."""
        self.request("GET", "/v2/", ok=(200,))

    # -- requests --------------------------------------------------------------------------

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
    ) -> httpx.Response:
        """Send with auth and retries; ``content`` is a factory so a retry can resend the body."""
        url = path if path.startswith("http") else f"{self.base}{path}"
        if params:
            # httpx replaces a URL's query with ``params``; upload locations carry state there.
            url = str(httpx.URL(url).copy_merge_params(params))
        auth_tries = 0
        attempt = 0
        while True:
            all_headers = {**(headers or {}), **self._auth_header(scope)}
            self.stats["requests"] += 1
            try:
                req = self._http.build_request(
                    method, url, headers=all_headers, content=content() if content else None
                )
                response = self._http.send(req, stream=stream)
            except httpx.TransportError as exc:
                if not retry or attempt + 1 >= self.retry.attempts:
                    raise TransportError(
                        f"{self.host}: {method} {path} failed after {attempt + 1} attempts: "
                        f"{exc or type(exc).__name__}"
                    ) from exc
                self._wait(attempt, None)
                attempt += 1
                continue
            if response.status_code == 401 and auth_tries < 2:
                auth_tries += 1
                response.close()
                self._authenticate(response, scope, all_headers.get("Authorization", ""))
                continue
            if retry and response.status_code in RETRY_STATUS and attempt + 1 < self.retry.attempts:
                retry_after = response.headers.get("Retry-After")
                response.close()
                self._wait(attempt, retry_after)
                attempt += 1
                continue
            if response.status_code in ok:
                return response
            raise self._error(method, path, response)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        self.stats["retries"] += 1
        self.retry.sleep(self.retry.delay(attempt, retry_after))

    def _error(self, method: str, path: str, response: httpx.Response) -> ScratchpackError:
        try:
            response.read()
            errors = response.json().get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError, httpx.HTTPError):
            detail = response.text[:200] if not response.is_stream_consumed else ""
        finally:
            response.close()
        status = response.status_code
        where = f"{self.host}: {method} {path}"
        if status == 401:
            return AuthError(f"{self.host}: authentication failed ({detail or 'HTTP 401'})")
        if status == 403:
            return AuthError(f"{where}: access denied ({detail or 'HTTP 403'})")
        if status == 404:
            return NotFoundError(f"{where}: not found ({detail or 'HTTP 404'})")
        return TransportError(f"{where}: HTTP {status} {detail}".rstrip())

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        response = self.request(method, path, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()


def scope_for(repository: str, actions: str) -> str:
    return f"repository:{repository}:{actions}"
