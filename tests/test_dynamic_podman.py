"""Dynamic glibc programs packed into scratch do at run time, in podman, what glibc and OpenSSL
load behind their backs: TLS verified against pack's CA bundle (curl, from the host), and
getpwnam of the run user plus getaddrinfo from /etc/hosts (a C program packed ``--from`` the
Debian image) — in images with no shell and no package manager. ``test_glibc_runtime.py``
proves the same lookups in a chroot; here the container engine runs them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from helpers import run_cli
from realtools import Runner

BODY = b"hello over TLS from a scratch image\n"

LOOKUPS = r"""
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
int main(void) {
    struct passwd *pw = getpwnam("nonroot");
    struct passwd *me = getpwuid(getuid());
    if (!pw || !me) { puts("getpwnam failed"); return 1; }
    printf("user %s %d home %s; uid %d is %s\n", pw->pw_name, (int)pw->pw_uid, pw->pw_dir,
           (int)getuid(), me->pw_name);
    const char *names[] = {"localhost", "db.internal"};  /* db.internal: --add-host only */
    for (int i = 0; i < 2; i++) {
        struct addrinfo hints, *res;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_INET;
        int rc = getaddrinfo(names[i], NULL, &hints, &res);
        if (rc != 0) { printf("getaddrinfo %s: %s\n", names[i], gai_strerror(rc)); return 1; }
        char text[64];
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, text, sizeof text);
        printf("%s is %s\n", names[i], text);
        freeaddrinfo(res);
    }
    return 0;
}
"""


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (its PEM: the bundle to pack) and a server certificate for localhost/127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scratchpack test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_pem = directory / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert = directory / "server.pem"
    cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    private = directory / "server.key"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return ca_pem, cert, private


class _Hello(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 (a thread of this process, stopped after the test) and
    the CA that signed its certificate."""
    ca, cert, key = _certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ca
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _pack(binary: Path, dest: str, *extra: str | Path) -> None:
    result = run_cli("pack", binary, "-o", dest, "--tz", "none", *extra)
    assert result.code == 0, result.stderr


def test_curl_from_the_host_verifies_tls_with_packs_ca_bundle(
    tmp_path: Path, podman: Runner, https_server: tuple[int, Path]
) -> None:
    port, ca = https_server
    _pack(Path("/usr/bin/curl"), f"oci:{tmp_path / 'out'}:ca", "--ca-bundle", ca)
    _pack(Path("/usr/bin/curl"), f"oci:{tmp_path / 'out'}:public")  # the host's CAs only
    url = f"https://localhost:{port}/"
    trusted = podman("run", "--rm", "--network", "host", "--read-only",
                     f"oci:{tmp_path / 'out'}:ca", "-sS", url, check=False)  # fmt: skip
    assert trusted.returncode == 0, trusted.stderr.decode()
    assert trusted.stdout == BODY
    untrusted = podman("run", "--rm", "--network", "host", "--read-only",
                       f"oci:{tmp_path / 'out'}:public", "-sS", url, check=False)  # fmt: skip
    assert untrusted.returncode == 60, untrusted.stderr.decode()  # CURLE_PEER_FAILED_VERIFICATION
    assert b"certificate" in untrusted.stderr


def test_getpwnam_and_getaddrinfo_in_podman_from_a_program_packed_from_an_image(
    tmp_path: Path, podman: Runner, debian_docker: str
) -> None:
    program = tmp_path / "lookups"
    subprocess.run(["gcc", "-O1", "-o", str(program), "-x", "c", "-"], input=LOOKUPS.encode(),
                   check=True)  # fmt: skip
    _pack(program, f"oci:{tmp_path / 'out'}:v1", "--from", f"docker-daemon:{debian_docker}")
    # a name only the container's /etc/hosts knows (the engine writes it from --add-host)
    ran = podman("run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
                 "--add-host", "db.internal:10.1.2.3", f"oci:{tmp_path / 'out'}:v1",
                 check=False)  # fmt: skip
    assert ran.returncode == 0, (ran.stdout.decode(), ran.stderr.decode())
    assert ran.stdout.decode() == (
        "user nonroot 65532 home /home/nonroot; uid 65532 is nonroot\nlocalhost is 127.0.0.1\n"
        "db.internal is 10.1.2.3\n"
    )
