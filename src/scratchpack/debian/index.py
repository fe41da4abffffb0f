"""Debian archive indexes: ``InRelease`` (signature checked with gpgv), ``Packages`` (its
sha256 checked against the release file), and ``.deb`` downloads (checked against the index).

Everything fetched is cached by its sha256 under ``$XDG_CACHE_HOME/scratchpack/debian`` (or
``~/.cache/...``), so a warm cache builds without the network and a changed index is a new
file, never an overwritten one. The signature check uses ``gpgv`` (the verifier apt itself
uses, present on every Debian system): no Python library verifies OpenPGP signatures as apt
does, and hand-writing one would be worse.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scratchpack import progress
from scratchpack.debian.sources import Source
from scratchpack.errors import DigestMismatchError, FormatError, ScratchpackError, UsageError
from scratchpack.fsutil import atomic_write
from scratchpack.httpclient import httpx

TRUSTED_KEYRINGS = (Path("/etc/apt/trusted.gpg.d"), Path("/etc/apt/trusted.gpg"))
_INDEX_NAMES = ("Packages.xz", "Packages.gz", "Packages")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scratchpack" / "debian"


class SourceUnreachable(ScratchpackError):
    pass


@dataclass(frozen=True)
class PackageRecord:
    """One package of an index: what the resolver needs and where to download it."""

    name: str
    version: str
    architecture: str
    depends: str
    pre_depends: str
    provides: str
    essential: bool
    priority: str
    filename: str
    size: int
    sha256: str
    source: Source = field(compare=False)

    @property
    def url(self) -> str:
        return f"{self.source.uri}/{self.filename}"


@dataclass
class Fetcher:
    """HTTP(S) and file: reads with a timeout and a few retries on connection errors."""

    timeout: float = 30.0
    retries: int = 2
    _client: httpx.Client | None = None

    def get(self, url: str, count: Callable[[int], None] | None = None) -> bytes:
        """The body at ``url``; ``count`` is told the bytes as they arrive (progress)."""
        if url.startswith("file:"):
            path = Path(url.removeprefix("file://").removeprefix("file:"))
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SourceUnreachable(f"cannot read {url}: {exc.strerror}") from exc
            if count is not None:
                count(len(data))
            return data
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=True)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                progress.note(f"retrying ({attempt + 1}/{self.retries + 1}) after {last} ({url})")
            received = bytearray()
            try:
                with self._client.stream("GET", url) as response:
                    if response.status_code == 404:
                        raise FileNotFoundError(url)
                    if response.status_code >= 400:
                        raise SourceUnreachable(f"{url}: HTTP {response.status_code}")
                    for chunk in response.iter_bytes(1 << 16):
                        received += chunk
                        if count is not None:
                            count(len(chunk))
            except httpx.HTTPError as exc:
                last = exc
                continue
            return bytes(received)
        raise SourceUnreachable(f"cannot reach {url}: {last}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _keyrings(source: Source) -> list[Path]:
    if source.signed_by:
        return [Path(source.signed_by)]
    found: list[Path] = []
    for place in TRUSTED_KEYRINGS:
        if place.is_dir():
            found += sorted(p for p in place.iterdir() if p.suffix in (".gpg", ".asc"))
        elif place.is_file():
            found.append(place)
    return found


def verify_inrelease(data: bytes, source: Source) -> bytes:
    """The signed text of an ``InRelease`` file, or an error if no trusted key signed it."""
    keyrings = _keyrings(source)
    if not keyrings:
        raise UsageError(f"{source}: no keyring to check its signature (Signed-By)")
    with tempfile.TemporaryDirectory(prefix="scratchpack-gpgv-") as tmp:
        signed = Path(tmp) / "InRelease"
        signed.write_bytes(data)
        args = ["gpgv", "--quiet", "--output", "-"]
        for keyring in keyrings:
            args += ["--keyring", str(keyring)]
        try:
            proc = subprocess.run(
                [*args, str(signed)], capture_output=True, timeout=60, check=False,
                env={**os.environ, "GNUPGHOME": tmp},
            )  # fmt: skip
        except FileNotFoundError:
            raise UsageError("gpgv is needed to check Debian release signatures") from None
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip().splitlines()
        raise DigestMismatchError(
            f"{source}: InRelease signature does not verify: {why[-1] if why else 'no message'}"
        )
    return proc.stdout


def release_checksums(text: bytes) -> dict[str, tuple[str, int]]:
    """name -> (sha256, size) from a release file's SHA256 list."""
    from debian.deb822 import Release

    release = Release(text.decode("utf-8", "replace"))
    return {entry["name"]: (entry["sha256"], int(entry["size"])) for entry in release["SHA256"]}


def _cached(sha256: str) -> Path:
    return cache_dir() / "by-hash" / sha256[:2] / sha256


def is_cached(sha256: str) -> bool:
    return _cached(sha256).is_file()


def fetch_verified(
    fetcher: Fetcher,
    url: str,
    sha256: str,
    size: int,
    what: str,
    count: Callable[[int], None] | None = None,
) -> Path:
    """The cached file with this sha256, downloaded and checked first if needed."""
    path = _cached(sha256)
    if path.is_file():
        return path
    data = fetcher.get(url, count)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256 or len(data) != size:
        raise DigestMismatchError(
            f"{what}: {url} has sha256 {actual} ({len(data)} bytes), the index says {sha256} "
            f"({size} bytes): refusing it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return path


def _decompress(name: str, data: bytes) -> bytes:
    try:
        if name.endswith(".xz"):
            return lzma.decompress(data)
        if name.endswith(".gz"):
            return gzip.decompress(data)
    except (lzma.LZMAError, OSError, EOFError) as exc:
        raise FormatError(f"{name}: cannot decompress: {exc}") from exc
    return data


def read_index(fetcher: Fetcher, source: Source, arch: str) -> Iterator[PackageRecord]:
    """Every package of a source's components for ``arch`` (and ``all``)."""
    base = f"{source.uri}/dists/{source.suite}"
    try:
        inrelease = fetcher.get(f"{base}/InRelease")
    except FileNotFoundError:
        raise SourceUnreachable(f"{source}: no InRelease at {base}/InRelease") from None
    checksums = release_checksums(verify_inrelease(inrelease, source))
    for component in source.components or ("main",):
        for name in _INDEX_NAMES:
            key = f"{component}/binary-{arch}/{name}"
            if key in checksums:
                sha256, size = checksums[key]
                if is_cached(sha256):
                    path = _cached(sha256)
                else:
                    with progress.step(
                        f"downloading the index {source.uri} {source.suite} {key}", size
                    ) as task:
                        path = fetch_verified(fetcher, f"{base}/{key}", sha256, size,
                                              f"{source} {key}", task.advance)  # fmt: skip
                yield from _parsed_index(path, name, sha256, source)
                break
        else:
            raise SourceUnreachable(f"{source}: the release lists no {component}/binary-{arch}")


# The fields of a PackageRecord kept in the parsed-index cache, in order.
_CACHED_FIELDS = ("name", "version", "architecture", "depends", "pre_depends", "provides",
                  "essential", "priority", "filename", "size", "sha256")  # fmt: skip


def _parsed_index(path: Path, name: str, sha256: str, source: Source) -> list[PackageRecord]:
    """The records of an index, parsed once per index content: python-debian takes ~10 s for
    bookworm's 64,000 packages, the cached JSON a fraction of a second."""
    cached = cache_dir() / "parsed" / f"{sha256}.json"
    if cached.is_file():
        try:
            rows = json.loads(cached.read_bytes())
            return [
                PackageRecord(**dict(zip(_CACHED_FIELDS, row, strict=True)), source=source)
                for row in rows
            ]
        except (ValueError, TypeError):
            pass  # a damaged cache entry: parse again
    records = list(parse_packages(_decompress(name, path.read_bytes()), source))
    cached.parent.mkdir(parents=True, exist_ok=True)
    rows = [[getattr(r, f) for f in _CACHED_FIELDS] for r in records]
    atomic_write(cached, json.dumps(rows, separators=(",", ":")).encode())
    return records


def parse_packages(text: bytes, source: Source) -> Iterator[PackageRecord]:
    from debian.deb822 import Packages

    for para in Packages.iter_paragraphs(
        text.decode("utf-8", "replace").splitlines(), use_apt_pkg=False
    ):
        try:
            yield PackageRecord(
                name=para["Package"],
                version=para["Version"],
                architecture=para.get("Architecture", ""),
                depends=para.get("Depends", ""),
                pre_depends=para.get("Pre-Depends", ""),
                provides=para.get("Provides", ""),
                essential=para.get("Essential", "no").strip() == "yes",
                priority=para.get("Priority", ""),
                filename=para["Filename"],
                size=int(para["Size"]),
                sha256=para["SHA256"],
                source=source,
            )
        except (KeyError, ValueError):
            continue  # an entry without what a download needs is not installable


def download(
    fetcher: Fetcher, record: PackageRecord, count: Callable[[int], None] | None = None
) -> Path:
    return fetch_verified(
        fetcher, record.url, record.sha256, record.size, f"{record.name} {record.version}", count
    )
