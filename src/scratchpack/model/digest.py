"""Content digests and digest-verifying streams."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO

from scratchpack.errors import DigestMismatchError, FormatError

_DIGEST_RE = re.compile(r"^(?P<alg>sha256|sha512):(?P<hex>[a-f0-9]+)$")
_HEX_LEN = {"sha256": 64, "sha512": 128}


@dataclass(frozen=True, order=True)
class Digest:
    """An OCI content digest such as ``sha256:ab12...``; validated on construction."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        match = _DIGEST_RE.match(text)
        if not match or len(match["hex"]) != _HEX_LEN[match["alg"]]:
            raise FormatError(f"invalid digest {text!r}")
        return cls(match["alg"], match["hex"])

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls("sha256", hashlib.sha256(data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    def short(self) -> str:
        return self.hex[:12]


def sha256_digest(hasher: hashlib._Hash) -> Digest:
    return Digest("sha256", hasher.hexdigest())


class VerifyingReader:
    """Wraps a stream so that reading it to the end proves it matches ``digest`` and ``size``.

    The check happens on the read that returns EOF, so a consumer that reads everything can
    never act on unverified bytes as if they were complete.
    """

    def __init__(self, stream: BinaryIO, digest: Digest, size: int | None, what: str) -> None:
        self._stream = stream
        self._digest = digest
        self._size = size
        self._what = what
        self._hasher = digest.hasher()
        self._count = 0
        self._done = False

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._hasher.update(data)
            self._count += len(data)
            if self._size is not None and self._count > self._size:
                raise DigestMismatchError(
                    f"{self._what}: more than the declared {self._size} bytes"
                )
        if (not data or n < 0) and not self._done:
            self._finish()
        return data

    def _finish(self) -> None:
        self._done = True
        if self._size is not None and self._count != self._size:
            raise DigestMismatchError(
                f"{self._what}: size {self._count} does not match the declared {self._size}"
            )
        actual = self._hasher.hexdigest()
        if actual != self._digest.hex:
            raise DigestMismatchError(
                f"{self._what}: digest mismatch, expected {self._digest}, "
                f"got {self._digest.algorithm}:{actual}"
            )

    def readable(self) -> bool:
        return True

    def proves(self, digest: Digest, size: int | None) -> bool:
        """Whether reading this stream to its end checks exactly ``digest`` and ``size``: a
        sink handed such a stream need not hash the same bytes a second time."""
        return self._digest == digest and self._size == size and self._count == 0

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def verify_bytes(data: bytes, digest: Digest, size: int | None, what: str) -> bytes:
    """Return ``data`` if it matches ``digest`` (and ``size``), else raise."""
    if size is not None and len(data) != size:
        raise DigestMismatchError(f"{what}: size {len(data)} does not match the declared {size}")
    hasher = digest.hasher()
    hasher.update(data)
    actual = hasher.hexdigest()
    if actual != digest.hex:
        raise DigestMismatchError(
            f"{what}: digest mismatch, expected {digest}, got {digest.algorithm}:{actual}"
        )
    return data
