"""A minimal token server for the registry's bearer-token auth (docker token spec), for tests.

It signs RS256 JWTs with a self-signed certificate carried in the ``x5c`` header; the registry
trusts that certificate through ``rootcertbundle``. Basic credentials alice/s3cret get every
action they ask for; anything else is refused with 401. Requests are counted so that tests can
check tokens are reused, and the credentials they carried are recorded (``authorizations``).
``bind`` picks the listening address (the realm names it); ``inflate`` pads every answer with
that many bytes of JSON whitespace (a hostile, huge but valid token response).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

USER, PASSWORD = "alice", "s3cret"
ISSUER, SERVICE = "scratchpack-test-issuer", "scratchpack-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, directory: Path, bind: str = "127.0.0.1") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scratchpack test tokens")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / "token-cert.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: Counter[str] = Counter()
        self.authorizations: list[str] = []
        self.inflate = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer((bind, 0), Handler)
        self.httpd.daemon_threads = True
        self.realm = f"http://{bind}:{self.httpd.server_address[1]}/token"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {
            "iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
            "iat": now, "jti": uuid.uuid4().hex, "access": access,
        }  # fmt: skip
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlparse(h.path).query)
        scopes = query.get("scope", [])
        self.requests[" ".join(sorted(scopes))] += 1
        if h.headers.get("Authorization"):
            self.authorizations.append(h.headers["Authorization"])
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if h.headers.get("Authorization") != expected or query.get("service") != [SERVICE]:
            h.send_response(401)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body = json.dumps({"token": self.token(scopes), "expires_in": 300}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body) + self.inflate))
        h.end_headers()
        h.wfile.write(body)
        left, padding = self.inflate, b" " * (1 << 20)
        try:
            while left > 0:
                h.wfile.write(padding[:left])
                left -= len(padding)
        except OSError:
            pass  # the client stopped reading

    def registry_auth_yaml(self) -> str:
        return (
            "auth:\n  token:\n"
            f"    realm: {self.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {self.cert_path}\n"
        )
