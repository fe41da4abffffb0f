"""Structure-aware mutations for atheris' custom mutator: byte flips rarely keep JSON valid or
a tar header's checksum right, so most inputs would die at the first check. These mutate the
structure (a JSON value; a tar header field, checksum recomputed; a PAX record) and fall back
to libFuzzer's byte mutations when the input has no structure to work on."""

from __future__ import annotations

import json
import random
import tarfile
from collections.abc import Callable
from typing import Any

ByteMutator = Callable[[bytes, int], bytes]

JSON_KEYS = (
    "mediaType", "schemaVersion", "config", "layers", "manifests", "digest", "size", "urls",
    "annotations", "subject", "platform", "os", "architecture", "variant", "os.version",
    "os.features", "rootfs", "diff_ids", "type", "history", "created", "created_by", "comment",
    "empty_layer", "User", "Entrypoint", "Cmd", "Env", "WorkingDir", "Labels", "ExposedPorts",
    "artifactType", "data",
)  # fmt: skip
JSON_STRINGS = (
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.config.v1+json", "sha256:" + "0" * 64, "sha256:", "sha512:ab",
    "md5:x", "", "linux", "amd64", "arm64", "v8", "\x00", "\ud800", "a" * 300, "8080/tcp",
)  # fmt: skip
JSON_SCALARS: tuple[Any, ...] = (None, True, False, 0, -1, 2, 1 << 64, 1.5, float("inf"), "x")


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 3 else 3)
    if kind == 0:
        return rng.choice(JSON_SCALARS)
    if kind in (1, 2):
        return rng.choice(JSON_STRINGS)
    if kind == 3:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(JSON_KEYS): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def _containers(value: Any) -> list[Any]:
    found, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            found.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    return found


def mutate_json(data: bytes, max_size: int, seed: int, fallback: ByteMutator) -> bytes:
    rng = random.Random(seed)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return fallback(data, max_size)
    if rng.randrange(8) == 0 or not isinstance(doc, dict | list):
        return fallback(data, max_size)
    for _ in range(rng.randrange(1, 4)):
        node = rng.choice(_containers(doc))
        if isinstance(node, dict):
            key = rng.choice([*node, *JSON_KEYS]) if node else rng.choice(JSON_KEYS)
            if rng.randrange(4) == 0:
                node.pop(key, None)
            else:
                node[key] = random_json(rng)
        elif node and rng.randrange(3) == 0:
            del node[rng.randrange(len(node))]
        else:
            node.insert(rng.randrange(len(node) + 1), random_json(rng))
    out = json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")
    return out[:max_size]


BLOCK = tarfile.BLOCKSIZE
# ustar header fields: (offset, length)
_FIELDS = {
    "name": (0, 100), "mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12),
    "mtime": (136, 12), "type": (156, 1), "linkname": (157, 100), "magic": (257, 8),
    "uname": (265, 32), "devmajor": (329, 8), "prefix": (345, 155),
}  # fmt: skip
_NUMBERS = (
    b"0", b"7777777", b"77777777777", b"-1", b"8", b"999", b"\x80" + bytes(6) + b"\x01",
    b"\xff" * 8, b"", b" ", b"0x10", b"1e3",
)  # fmt: skip
_NAMES = (b"../../etc/passwd", b"/abs", b"a\x00b", b".wh..wh..opq", b"d/.wh.x", b"./", b"a" * 100,
          b"\xff\xfe", b"./etc/passwd", b".")  # fmt: skip
_TYPES = b"0123456789gxLKSAVMNDZ\x00"
_PAX = (
    b"path", b"linkpath", b"size", b"uid", b"gid", b"mtime", b"uname", b"hdrcharset",
    b"GNU.sparse.map", b"GNU.sparse.size", b"GNU.sparse.major", b"GNU.sparse.minor",
    b"GNU.sparse.name", b"GNU.sparse.realsize", b"GNU.sparse.offset", b"GNU.sparse.numblocks",
    b"SCHILY.xattr.user.x", b"comment",
)  # fmt: skip
_PAX_VALUES = (b"1", b"-1", b"99999999999999999999", b"nan", b"1e309", b"", b"x", b"0,1,2",
               b"BINARY", b"\xff", b"../x", b"1.5")  # fmt: skip


def _headers(data: bytes) -> list[int]:
    """Offsets of the blocks that are valid tar headers (their checksum holds)."""
    found = []
    for offset in range(0, len(data) - BLOCK + 1, BLOCK):
        block = data[offset : offset + BLOCK]
        if block.strip(b"\x00") and _checksum_ok(block):
            found.append(offset)
    return found


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].split(b"\x00", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    # the sum of the header with the checksum field read as spaces (unsigned, as POSIX says)
    return stored == sum(block[:148]) + 8 * 32 + sum(block[156:])


def _fix_checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)


def _pax_record(rng: random.Random) -> bytes:
    body = rng.choice(_PAX) + b"=" + rng.choice(_PAX_VALUES) + b"\n"
    length = len(body) + 3
    length += len(str(length)) - 2
    return str(length).encode() + b" " + body if rng.randrange(6) else b"9 x=\n"


def mutate_tar(data: bytes, max_size: int, seed: int, fallback: ByteMutator) -> bytes:
    rng = random.Random(seed)
    headers = _headers(data)
    if not headers or rng.randrange(6) == 0:
        return fallback(data, max_size)
    out = bytearray(data)
    for _ in range(rng.randrange(1, 3)):
        offset = rng.choice(headers)
        choice = rng.randrange(5)
        if choice == 4:  # a PAX header with an odd record, in front of this member
            record = _pax_record(rng)
            header = bytearray(out[offset : offset + BLOCK])
            header[156:157] = b"x"
            header[124:136] = b"%011o\x00" % len(record)
            _fix_checksum(header)
            padded = record + bytes(-len(record) % BLOCK)
            out[offset:offset] = bytes(header) + padded
            continue
        header = bytearray(out[offset : offset + BLOCK])
        field = rng.choice(list(_FIELDS))
        start, length = _FIELDS[field]
        if field == "type":
            value = bytes([rng.choice(_TYPES)])
        elif field in ("name", "linkname", "prefix", "uname"):
            value = rng.choice(_NAMES)
        else:
            value = rng.choice(_NUMBERS)
        header[start : start + length] = value[:length].ljust(length, b"\x00")
        _fix_checksum(header)
        out[offset : offset + BLOCK] = header
    if rng.randrange(4) == 0:  # truncate, or cut between blocks
        del out[rng.randrange(len(out) + 1) :]
    return bytes(out[:max_size])
