"""cosign key files: generate-key-pair, and both directions against an independent Go
implementation of the format (tests/data/signing/keytool.go on golang.org/x/crypto's scrypt and
nacl/secretbox, the packages cosign builds on), plus the ways a key file is refused."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, assert_clean_error, run_cli
from realtools import need, unavailable
from scratchpack.signing import keys

KEYTOOL = ROOT / "tests" / "data" / "signing" / "keytool.go"
NO_LAYOUT = "oci:/nonexistent/scratchpack-signing:v1"  # the key is read before the image


@pytest.fixture(scope="module")
def keytool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """keytool.go built offline in GOPATH mode against Debian's golang-golang-x-crypto-dev."""
    need("go", "apt-get install golang-go golang-golang-x-crypto-dev")
    gopath = Path("/usr/share/gocode")
    if not (gopath / "src/golang.org/x/crypto/nacl/secretbox").is_dir():
        unavailable(
            "golang.org/x/crypto is not installed: apt-get install golang-golang-x-crypto-dev"
        )
    out = tmp_path_factory.mktemp("keytool")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(gopath), "GOFLAGS": "",
           "GOCACHE": str(out / "cache"), "CGO_ENABLED": "0"}  # fmt: skip
    subprocess.run(["go", "build", "-o", str(out / "keytool"), str(KEYTOOL)], env=env,
                   check=True, capture_output=True)  # fmt: skip
    return out / "keytool"


def go(tool: Path, *args: str | Path, password: str = "", pem_type: str = "") -> str:
    env = {**os.environ, "PASSWORD": password, "PEM_TYPE": pem_type}
    proc = subprocess.run([str(tool), *map(str, args)], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def generate(tmp_path: Path, password: str = "s3cret", prefix: str = "cosign") -> tuple[Path, Path]:
    result = run_cli("generate-key-pair", "--output-key-prefix", tmp_path / prefix,
                     env={"COSIGN_PASSWORD": password})  # fmt: skip
    assert result.code == 0, result.stderr
    return tmp_path / f"{prefix}.key", tmp_path / f"{prefix}.pub"


def test_generated_pair_is_cosigns_format_and_go_opens_it(tmp_path: Path, keytool: Path) -> None:
    key, pub = generate(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = key.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    _, body = keys.pem_decode(key.read_bytes(), "key")
    doc = json.loads(body)
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    assert doc["kdf"]["name"] == "scrypt"
    assert doc["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert doc["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    # Go decrypts it, parses the PKCS#8 inside and derives the very public key we wrote
    opened = go(keytool, "open", key, password="s3cret")
    assert opened.startswith(pub.read_text())
    assert "params N=65536 r=8 p=1 salt=32 nonce=24" in opened


def test_second_pair_differs_and_existing_files_are_kept(tmp_path: Path) -> None:
    key, pub = generate(tmp_path)
    before = key.read_bytes(), pub.read_bytes()
    again = run_cli("generate-key-pair", "--output-key-prefix", tmp_path / "cosign",
                    env={"COSIGN_PASSWORD": "x"})  # fmt: skip
    assert_clean_error(again, 1, "already exists", "--force")
    assert (key.read_bytes(), pub.read_bytes()) == before
    forced = run_cli("generate-key-pair", "--output-key-prefix", tmp_path / "cosign", "--force",
                     env={"COSIGN_PASSWORD": "x"})  # fmt: skip
    assert forced.code == 0, forced.stderr
    assert key.read_bytes() != before[0] and pub.read_bytes() != before[1]


@pytest.mark.parametrize(
    ("n", "pem_type"),
    [
        (65536, keys.SIGSTORE_PEM_TYPE),
        (32768, keys.COSIGN_PEM_TYPE),  # the older PEM type and go-securesystemslib's legacy N
        (131072, keys.SIGSTORE_PEM_TYPE),  # its OWASP strength
    ],
)
def test_go_sealed_key_signs_and_go_verifies(
    tmp_path: Path, keytool: Path, n: int, pem_type: str
) -> None:
    key, pub = tmp_path / "go.key", tmp_path / "go.pub"
    go(keytool, "seal", str(n), key, pub, password="pässword", pem_type=pem_type)
    private = keys.load_private_key(key.read_bytes(), "pässword".encode(), str(key))
    assert keys.public_pem(private.public_key()) == pub.read_bytes()
    message = tmp_path / "payload"
    message.write_bytes(b'{"critical":{}}')
    signature = base64.b64encode(keys.sign(private, message.read_bytes())).decode()
    assert go(keytool, "verify", pub, message, signature).strip() == "verified"
    public = keys.load_public_key(pub.read_bytes(), str(pub))
    assert keys.verifies(public, message.read_bytes(), base64.b64decode(signature))
    assert not keys.verifies(public, b"other", base64.b64decode(signature))


def test_wrong_password_is_one_clear_line(tmp_path: Path) -> None:
    key, _ = generate(tmp_path)
    result = run_cli("sign", NO_LAYOUT, "--key", key, env={"COSIGN_PASSWORD": "wrong"})
    assert_clean_error(result, 1, str(key), "wrong password")


def _rewrite(key: Path, change: object) -> None:
    kind, body = keys.pem_decode(key.read_bytes(), "key")
    doc = json.loads(body)
    change(doc)  # type: ignore[operator]
    key.write_bytes(keys.pem_encode(kind, json.dumps(doc).encode()))


def test_tampered_ciphertext_is_refused(tmp_path: Path) -> None:
    key, _ = generate(tmp_path)

    def flip(doc: dict) -> None:  # type: ignore[type-arg]
        sealed = bytearray(base64.b64decode(doc["ciphertext"]))
        sealed[40] ^= 1
        doc["ciphertext"] = base64.b64encode(bytes(sealed)).decode()

    _rewrite(key, flip)
    result = run_cli("sign", NO_LAYOUT, "--key", key, env={"COSIGN_PASSWORD": "s3cret"})
    assert_clean_error(result, 1, "cannot decrypt", "altered")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["kdf"]["params"].update(N=16384), "unsupported scrypt parameters N=16384"),
        (lambda d: d["kdf"]["params"].update(N=1 << 20), "unsupported scrypt parameters"),
        (lambda d: d["kdf"]["params"].update(r=1), "unsupported scrypt parameters"),
        (lambda d: d["kdf"]["params"].update(p=2), "unsupported scrypt parameters"),
        (lambda d: d["kdf"]["params"].update(N=True), "unsupported scrypt parameters"),
        (lambda d: d["kdf"].update(name="argon2"), "unknown kdf 'argon2'"),
        (lambda d: d["cipher"].update(name="aes-gcm"), "unknown cipher 'aes-gcm'"),
        (lambda d: d["cipher"].update(nonce="AAAA"), "nonce is 3 bytes"),
        (lambda d: d.update(ciphertext="%%%"), "ciphertext is not base64"),
        (lambda d: d.pop("kdf"), "no 'kdf' object"),
    ],
)
def test_unknown_or_broken_parameters_are_refused(
    tmp_path: Path, edit: object, message: str
) -> None:
    key, _ = generate(tmp_path)
    _rewrite(key, edit)
    result = run_cli("sign", NO_LAYOUT, "--key", key, env={"COSIGN_PASSWORD": "s3cret"})
    assert_clean_error(result, 1, message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no PEM block"),
        (keys.pem_encode("EC PRIVATE KEY", b"\0" * 8), "not a cosign private key"),
        (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n", "no end line"),
        (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"x").replace(b"eA==", b"!!"), "not base64"),
        (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"[1,2]"), "no 'kdf' object"),
        (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"\xff\xfe"), "not JSON"),
        (b"A" * (keys.MAX_KEY_FILE + 10), "too large"),
    ],
)  # fmt: skip
def test_hostile_private_key_files(tmp_path: Path, content: bytes, message: str) -> None:
    key = tmp_path / "bad.key"
    key.write_bytes(content)
    result = run_cli("sign", NO_LAYOUT, "--key", key, env={"COSIGN_PASSWORD": "x"})
    assert_clean_error(result, 1, message)


def test_public_key_must_be_p256(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    pub = tmp_path / "p384.pub"
    pub.write_bytes(keys.public_pem(other))
    result = run_cli("verify", NO_LAYOUT, "--key", pub)
    assert_clean_error(result, 1, "only ECDSA P-256")
    missing = run_cli("verify", NO_LAYOUT, "--key", tmp_path / "absent.pub")
    assert_clean_error(missing, 1, "cannot read public key")


def test_no_password_and_no_terminal_is_an_error(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("COSIGN_PASSWORD", None)
    proc = subprocess.run(
        [sys.executable,
         "-m", "scratchpack", "generate-key-pair", "--output-key-prefix", str(tmp_path / "k")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "COSIGN_PASSWORD" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "k.key").exists() and not (tmp_path / "k.pub").exists()


def test_empty_password_is_a_password(tmp_path: Path, keytool: Path) -> None:
    """COSIGN_PASSWORD set to nothing is used as is, as cosign does (not a prompt)."""
    key, pub = generate(tmp_path, password="")
    assert go(keytool, "open", key, password="").startswith(pub.read_text())


def _on_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run scratchpack on a real pseudo-terminal, answering each password prompt in turn (after
    it shows: getpass flushes what was typed before)."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: scratchpack on the terminal
        os.execve(sys.executable, [sys.executable, "-m", "scratchpack", *args], env)
    seen, pending = b"", list(answers)
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if pending and seen.count(b"password for private key") > len(answers) - len(pending):
            os.write(fd, pending.pop(0).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_password_prompts_on_a_terminal(tmp_path: Path, keytool: Path) -> None:
    prefix = str(tmp_path / "tty")
    code, shown = _on_terminal(["generate-key-pair", "--output-key-prefix", prefix],
                               ["typed", "typed"])  # fmt: skip
    assert code == 0, shown
    assert "Enter password for private key again" in shown and "typed" not in shown  # no echo
    assert go(keytool, "open", prefix + ".key", password="typed").startswith(
        Path(prefix + ".pub").read_text()
    )
    code, shown = _on_terminal(["generate-key-pair", "--output-key-prefix", str(tmp_path / "x")],
                               ["one", "two"])  # fmt: skip
    assert code == 2 and "do not match" in shown, shown
    assert not (tmp_path / "x.key").exists()


def test_a_sealed_sec1_key_is_refused_as_cosign_refuses_it(tmp_path: Path) -> None:
    """Go's x509.ParsePKCS8PrivateKey (cosign) rejects an "EC PRIVATE KEY" in the envelope;
    so do we, though cryptography alone would read it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    sec1 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    key = tmp_path / "sec1.key"
    key.write_bytes(keys.pem_encode(keys.COSIGN_PEM_TYPE, keys.encrypt(sec1, b"pw", 32768)))
    result = run_cli("sign", NO_LAYOUT, "--key", key, env={"COSIGN_PASSWORD": "pw"})
    assert_clean_error(result, 1, "not PKCS#8")
