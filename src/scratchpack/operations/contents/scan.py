"""One pass over every layer: the file system, the small files the checks read, secrets found
in file contents, and the bytes of the entrypoint candidates.

Each layer is streamed once (decompressed on the fly, digest-checked at its end). Contents are
kept only for what the checks need: small configuration files (``/etc/passwd``, ``os-release``,
``ld.so.conf``...), and the files whose name is the entrypoint's, spooled to memory (to a
temporary file past 32 MiB: the only bytes that may touch the disk, deleted at the end).
"""

from __future__ import annotations

import posixpath
import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, cast

from scratchpack.layers.reader import LayerEntry, layer_entries, read_layer
from scratchpack.model.image import Image
from scratchpack.operations.contents.filesystem import FileSystem
from scratchpack.operations.sbom.packages import find_go_build_info, is_package_file
from scratchpack.secrets import secret_in_bytes

SPOOL_IN_MEMORY = 32 << 20
SMALL_FILE_LIMIT = 4 << 20
SECRET_SCAN_LIMIT = 1 << 20
PACKAGE_DB_LIMIT = 64 << 20  # a dpkg status of a large distribution is a few MB

# Files the checks read, by exact path.
CONFIG_FILES = frozenset(
    {
        "etc/passwd",
        "etc/group",
        "etc/os-release",
        "usr/lib/os-release",
        "etc/ld.so.conf",
        "etc/nsswitch.conf",
    }
)
# Files whose presence with credentials inside is a finding, by name.
_CREDENTIAL_FILES = re.compile(
    r"(^|/)(\.npmrc|\.pypirc|\.netrc|\.git-credentials|\.dockercfg|\.docker/config\.json|"
    r"\.aws/credentials|\.env(\.[\w-]+)?|id_(rsa|dsa|ecdsa|ed25519)|[^/]+\.(pem|key|p12|pfx))$"
)
_CREDENTIAL_CONTENT = re.compile(
    rb"(_authToken\s*=|_auth\s*=|password\s*[=:]|\bpassword\s+\S|aws_secret_access_key|"
    rb"\"auth\"\s*:|[A-Z0-9_]*(TOKEN|SECRET|PASSWORD|API_KEY)[A-Z0-9_]*\s*=\s*\S)",
    re.IGNORECASE,
)
# Public certificates and trust stores match *.pem but hold nothing secret.
_PUBLIC_PLACES = ("etc/ssl/certs/", "usr/share/ca-certificates/", "etc/pki/ca-trust/")


@dataclass(frozen=True)
class SecretHit:
    path: str
    layer: int
    what: str


@dataclass
class Scan:
    filesystem: FileSystem
    uncompressed_sizes: list[int]
    config_files: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    secrets: list[SecretHit] = field(default_factory=list)
    # (path, layer) -> spooled content of an entrypoint candidate
    binaries: dict[tuple[str, int], IO[bytes]] = field(default_factory=dict)
    # package databases and metadata files (dpkg, apk, dist-info, package.json), by (path, layer)
    package_files: dict[tuple[str, int], bytes] = field(default_factory=dict)
    # Go build info (version, modinfo) of executables, and executables that may carry a
    # cargo-auditable section, by (path, layer)
    go_binaries: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    rust_candidates: set[tuple[str, int]] = field(default_factory=set)

    def present(self, path: str, layer: int) -> bool:
        """Whether what a layer held at ``path`` is what the final file system holds."""
        node = self.filesystem.nodes.get(path)
        return node is not None and node.layer == layer

    def config_file(self, path: str) -> bytes | None:
        """A small file's content if it is in the final file system as it was captured."""
        captured = self.config_files.get(path)
        node = self.filesystem.nodes.get(path)
        if captured is None or node is None or node.layer != captured[0]:
            return None
        return captured[1]

    def binary(self, path: str) -> IO[bytes] | None:
        node = self.filesystem.nodes.get(path)
        if node is None:
            return None
        handle = self.binaries.get((path, node.layer))
        if handle is not None:
            handle.seek(0)
        return handle


def _credential_file(path: str) -> bool:
    return _CREDENTIAL_FILES.search(path) is not None and not path.startswith(_PUBLIC_PLACES)


def _secret_in(entry: LayerEntry, data: bytes) -> str | None:
    what = secret_in_bytes(data)
    if what is not None:
        return what
    name = posixpath.basename(entry.path)
    if _credential_file(entry.path) and _CREDENTIAL_CONTENT.search(data):
        return f"credentials in a {name} file"
    return None


@dataclass
class _Collector:
    layer: int
    names: frozenset[str]
    scan: Scan
    stack: ExitStack

    def wants(self, entry: LayerEntry) -> bool:
        return True  # every regular file up to the scan limit is searched for secrets

    def sink(self, entry: LayerEntry, content: IO[bytes]) -> None:
        path = entry.path
        if posixpath.basename(path) in self.names:
            spool = self.stack.enter_context(
                tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed with the stack)
                    max_size=SPOOL_IN_MEMORY, prefix="scratchpack-"
                )
            )
            head = b""
            while chunk := content.read(1 << 20):
                if len(head) < SECRET_SCAN_LIMIT:
                    head += chunk[: SECRET_SCAN_LIMIT - len(head)]
                spool.write(chunk)
            self.scan.binaries[(path, self.layer)] = spool
            if head.startswith(b"\x7fELF"):
                spool.seek(0)
                self._executable(path, spool.read(SECRET_SCAN_LIMIT), spool)
        elif path in CONFIG_FILES or path.startswith("etc/ld.so.conf.d/"):
            head = content.read(SMALL_FILE_LIMIT)
            self.scan.config_files[path] = (self.layer, head)
        elif is_package_file(path):
            data = content.read(PACKAGE_DB_LIMIT)
            self.scan.package_files[(path, self.layer)] = data
            head = data[:SECRET_SCAN_LIMIT]
        else:
            head = content.read(SECRET_SCAN_LIMIT)
            if head.startswith(b"\x7fELF"):
                self._executable(path, head, content)
        if path.startswith(_PUBLIC_PLACES):
            return
        if entry.size > SECRET_SCAN_LIMIT and not _credential_file(path):
            head = head[:SECRET_SCAN_LIMIT]
        what = _secret_in(entry, head)
        if what is not None:
            self.scan.secrets.append(SecretHit(path, self.layer, what))

    def _executable(self, path: str, head: bytes, rest: IO[bytes]) -> None:
        """Go build info and the cargo-auditable marker, streamed (the rest is not kept)."""

        class _Watch:
            """Passes chunks through, noting whether the Rust section name went by."""

            def __init__(self) -> None:
                self.rust = b".dep-v0" in head

            def read(self, n: int = -1) -> bytes:
                chunk = rest.read(n)
                self.rust = self.rust or b".dep-v0" in chunk
                return chunk

        watch = _Watch()
        info = find_go_build_info(head, cast(IO[bytes], watch))
        while not watch.rust and watch.read(1 << 20):
            pass  # the section names sit near the end of the file
        if info is not None:
            self.scan.go_binaries[(path, self.layer)] = info
        if watch.rust:
            self.scan.rust_candidates.add((path, self.layer))


def scan_image(image: Image, entrypoint_names: frozenset[str], stack: ExitStack) -> Scan:
    """Read every layer once. Spooled binaries live until ``stack`` closes."""
    scan = Scan(FileSystem(), [])
    for index, layer in enumerate(image.layers):
        collector = _Collector(index, entrypoint_names, scan, stack)
        with layer.open_uncompressed() as stream:
            entries, size = layer_entries(stream, collector.wants, collector.sink)
        for entry in entries:
            if entry.kind == "dir" and posixpath.basename(entry.path) == ".git":
                scan.secrets.append(SecretHit(entry.path, index, "a .git directory"))
        scan.filesystem.apply(entries)
        scan.uncompressed_sizes.append(size)
    return scan


def iter_user_records(passwd: bytes) -> Iterator[tuple[str, int, int, str]]:
    """(name, uid, gid, shell) of each well-formed ``/etc/passwd`` line."""
    for raw in passwd.decode("utf-8", "replace").splitlines():
        fields = raw.split(":")
        if len(fields) < 7 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        yield fields[0], int(fields[2]), int(fields[3]), fields[6]


def fetch_file(image: Image, scan: Scan, path: str, stack: ExitStack) -> None:
    """Read one more time the one layer that holds ``path`` in the final file system, to get
    a file the first pass could not know it needed (reached through a link of another name)."""
    node = scan.filesystem.nodes.get(path)
    if node is None or node.kind != "file":
        return
    collector = _Collector(node.layer, frozenset({posixpath.basename(path)}), scan, stack)
    known = len(scan.secrets)
    with image.layers[node.layer].open_uncompressed() as stream:
        for _ in read_layer(stream, lambda e: e.path == path, collector.sink):
            pass
    del scan.secrets[known:]  # the first pass already searched this file
