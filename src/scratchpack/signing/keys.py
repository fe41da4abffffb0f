"""cosign's key files: ECDSA P-256 keys, the private one sealed with a password.

``cosign.key`` is a PEM block ``ENCRYPTED SIGSTORE PRIVATE KEY`` (older cosign wrote
``ENCRYPTED COSIGN PRIVATE KEY``, same body) whose body is go-securesystemslib's "encrypted"
JSON: scrypt (N 2^15, 2^16 or 2^17, r 8, p 1, a random salt) derives a 32-byte key that
seals the PKCS#8 DER of the private key with NaCl secretbox (XSalsa20-Poly1305, a random
24-byte nonce); byte strings are standard base64, as Go's encoding/json writes them.
``cosign.pub`` is a PEM ``PUBLIC KEY`` (PKIX SubjectPublicKeyInfo). Anything else is refused
with a message naming the file: a wrong password and a tampered file fail alike (secretbox's
MAC), which is all that format can tell.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from scratchpack.errors import FormatError, ScratchpackError

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
PUBLIC_PEM_TYPE = "PUBLIC KEY"
# go-securesystemslib's legacy, standard (its default, cosign's) and OWASP strengths
SCRYPT_N_ACCEPTED = (32768, 65536, 131072)
SCRYPT_N_DEFAULT = 65536
SCRYPT_R, SCRYPT_P = 8, 1
SALT_BYTES, NONCE_BYTES, BOX_KEY_BYTES = 32, 24, 32
MAX_KEY_FILE = 64 * 1024  # a key file is ~0.5 kB: anything this large is not one


class KeyError_(ScratchpackError):
    """A key file cannot be read, decrypted or used (exit code 1)."""


@dataclass(frozen=True)
class KeyPair:
    """The two files ``generate-key-pair`` writes, as bytes."""

    private_pem: bytes
    public_pem: bytes


def generate(password: bytes, scrypt_n: int = SCRYPT_N_DEFAULT) -> KeyPair:
    """A new P-256 key pair; the private key sealed with ``password`` as cosign seals it."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    body = encrypt(der, password, scrypt_n)
    return KeyPair(pem_encode(SIGSTORE_PEM_TYPE, body), public_pem(key.public_key()))


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def encrypt(plaintext: bytes, password: bytes, scrypt_n: int = SCRYPT_N_DEFAULT) -> bytes:
    """go-securesystemslib's ``encrypted.Encrypt``: the JSON document, compact, fields in
    Go's order (what cosign writes; any order reads)."""
    from nacl.secret import SecretBox  # libsodium: loaded by the commands that seal keys

    if scrypt_n not in SCRYPT_N_ACCEPTED:
        raise KeyError_(f"scrypt N must be one of {SCRYPT_N_ACCEPTED}, not {scrypt_n}")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    box_key = _derive(password, salt, scrypt_n)
    sealed = SecretBox(box_key).encrypt(plaintext, nonce).ciphertext  # MAC || ciphertext
    doc = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": _b64(salt),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def decrypt(document: bytes, password: bytes, where: str) -> bytes:
    """go-securesystemslib's ``encrypted.Decrypt``: the same checks, in the same order (kdf
    name, cipher name, scrypt parameters, then the MAC)."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        doc = json.loads(document)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise KeyError_(f"{where}: the encrypted key is not JSON ({exc})") from None
    kdf = _object(doc, "kdf", where)
    cipher = _object(doc, "cipher", where)
    if kdf.get("name") != "scrypt":
        raise KeyError_(f"{where}: unknown kdf {kdf.get('name')!r} (only scrypt is known)")
    if cipher.get("name") != "nacl/secretbox":
        raise KeyError_(
            f"{where}: unknown cipher {cipher.get('name')!r} (only nacl/secretbox is known)"
        )
    params = _object(kdf, "params", where)
    n, r, p = params.get("N"), params.get("r"), params.get("p")
    if n not in SCRYPT_N_ACCEPTED or r != SCRYPT_R or p != SCRYPT_P or isinstance(n, bool):
        raise KeyError_(
            f"{where}: unsupported scrypt parameters N={n!r} r={r!r} p={p!r} "
            f"(accepted: N in {SCRYPT_N_ACCEPTED}, r={SCRYPT_R}, p={SCRYPT_P})"
        )
    assert isinstance(n, int)
    salt = _unb64(kdf.get("salt"), "kdf salt", where)
    nonce = _unb64(cipher.get("nonce"), "cipher nonce", where)
    sealed = _unb64(doc.get("ciphertext"), "ciphertext", where)
    if len(nonce) != NONCE_BYTES:
        raise KeyError_(f"{where}: the nonce is {len(nonce)} bytes, not {NONCE_BYTES}")
    try:
        return bytes(SecretBox(_derive(password, salt, n)).decrypt(sealed, nonce))
    except CryptoError:
        raise KeyError_(
            f"{where}: cannot decrypt the private key: wrong password, or the file was altered"
        ) from None


def load_private_key(pem: bytes, password: bytes, where: str) -> ec.EllipticCurvePrivateKey:
    """An ``ENCRYPTED SIGSTORE PRIVATE KEY`` or ``ENCRYPTED COSIGN PRIVATE KEY`` file."""
    kind, body = pem_decode(pem, where)
    if kind not in (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE):
        raise KeyError_(
            f"{where}: a {kind!r} PEM block is not a cosign private key (expected "
            f"{SIGSTORE_PEM_TYPE!r} or {COSIGN_PEM_TYPE!r})"
        )
    der = decrypt(body, password, where)
    if not _is_pkcs8(der):
        # cosign (Go's x509.ParsePKCS8PrivateKey) refuses a SEC1 "EC PRIVATE KEY" sealed in
        # the same envelope; cryptography would read it: refused too, so both agree
        raise KeyError_(f"{where}: the decrypted key is not PKCS#8 (a SEC1 or other encoding)")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError as exc:
        raise KeyError_(f"{where}: the decrypted key is not PKCS#8 ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyError_(f"{where}: only ECDSA P-256 keys are supported")
    return key


def load_public_key(pem: bytes, where: str) -> ec.EllipticCurvePublicKey:
    kind, _ = pem_decode(pem, where)
    if kind != PUBLIC_PEM_TYPE:
        raise KeyError_(f"{where}: a {kind!r} PEM block is not a public key")
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise KeyError_(f"{where}: not a PKIX public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise KeyError_(f"{where}: only ECDSA P-256 public keys are supported")
    return key


def sign(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """ECDSA P-256 over SHA-256 of ``payload``; the ASN.1 DER signature cosign stores."""
    return key.sign(payload, ec.ECDSA(hashes.SHA256()))


def verifies(key: ec.EllipticCurvePublicKey, payload: bytes, signature: bytes) -> bool:
    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def pem_encode(kind: str, body: bytes) -> bytes:
    """One PEM block, 64 base64 characters a line, as Go's ``pem.Encode`` writes it."""
    text = base64.b64encode(body).decode()
    lines = "".join(f"{text[i : i + 64]}\n" for i in range(0, len(text), 64))
    return f"-----BEGIN {kind}-----\n{lines}-----END {kind}-----\n".encode()


def pem_decode(pem: bytes, where: str) -> tuple[str, bytes]:
    """The first PEM block's type and body (text before it is ignored, as Go's ``pem.Decode``)."""
    if len(pem) > MAX_KEY_FILE:
        raise KeyError_(f"{where}: {len(pem)} bytes is too large for a key file")
    text = pem.decode("ascii", errors="replace")
    start = text.find("-----BEGIN ")
    if start < 0:
        raise KeyError_(f"{where}: no PEM block found")
    head_end = text.find("-----", start + 11)
    if head_end < 0:
        raise KeyError_(f"{where}: a PEM header is not closed")
    kind = text[start + 11 : head_end]
    footer = f"-----END {kind}-----"
    stop = text.find(footer, head_end)
    if stop < 0:
        raise KeyError_(f"{where}: the {kind!r} PEM block has no end line")
    body = "".join(text[head_end + 5 : stop].split())
    try:
        return kind, base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyError_(f"{where}: the {kind!r} PEM block is not base64") from None


def _is_pkcs8(der: bytes) -> bool:
    """PKCS#8 (RFC 5958): SEQUENCE { INTEGER version, SEQUENCE algorithm, ... }; SEC1 has an
    OCTET STRING where the algorithm SEQUENCE is. Only the header is looked at; the parse
    that follows checks the rest."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    length = der[1]
    start = 2 + (length & 0x7F if length & 0x80 else 0)
    version = der[start : start + 3]
    return version in (b"\x02\x01\x00", b"\x02\x01\x01") and der[start + 3 : start + 4] == b"\x30"


def _derive(password: bytes, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=BOX_KEY_BYTES, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(password)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, what: str, where: str) -> bytes:
    if not isinstance(value, str):
        raise KeyError_(f"{where}: the {what} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyError_(f"{where}: the {what} is not base64") from None


def _object(doc: Any, key: str, where: str) -> dict[str, Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, dict):
        raise FormatError(f"{where}: the encrypted key has no {key!r} object")
    return value
