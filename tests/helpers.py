"""Shared helpers for scratchpack's own tests: example binaries, CLI runs, layer reading."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard
from cryptography.hazmat.primitives.asymmetric import ec

from scratchpack.operations.closure import Closure
from scratchpack.signing import keys

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Examples:
    hello: Path
    httpd: Path
    dynamic: Path


def static_cc() -> list[str]:
    if shutil.which("musl-gcc"):
        return ["musl-gcc", "-static", "-Os", "-s"]
    return ["gcc", "-static", "-Os", "-s"]


def build_examples(dest: Path) -> Examples:
    """Compile the example programs into ``dest`` (statically, plus one dynamic build)."""
    dest.mkdir(parents=True, exist_ok=True)
    hello = dest / "hello"
    httpd = dest / "httpd"
    dynamic = dest / "hello-dynamic"
    subprocess.run([*static_cc(), "-o", str(hello), str(EXAMPLES / "hello/hello.c")], check=True)
    subprocess.run([*static_cc(), "-o", str(httpd), str(EXAMPLES / "httpd/httpd.c")], check=True)
    subprocess.run(["gcc", "-Os", "-o", str(dynamic), str(EXAMPLES / "hello/hello.c")], check=True)
    return Examples(hello, httpd, dynamic)


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 300,
) -> CliResult:
    """Run ``python -m scratchpack`` as a real process (so tracebacks would show); ``timeout``
    bounds a hung run (raise it for packs that run an app's tests inside the image)."""
    full_env = dict(os.environ)
    full_env.pop("SOURCE_DATE_EPOCH", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "scratchpack", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        input=stdin,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: CliResult, code: int, *fragments: str) -> None:
    """One line on stderr naming the problem, the right exit code, no traceback."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    error_lines = [line for line in lines if line.startswith("scratchpack: error:")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], (fragment, error_lines[0])


def not_progress(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are not progress lines (``scratchpack: scanning ...``,
    printed off a terminal): errors, warnings and anything else, which a clean run has none of."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip()
        and (not line.startswith("scratchpack: ") or line.startswith(
            ("scratchpack: error:", "scratchpack: warning:")))
    ]  # fmt: skip


def decompress(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data), read_across_frames=True
        )
        return reader.read()
    return data


def layout_manifest(layout: Path, tag: str = "latest") -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return dict(json.loads(blob(layout, entry["digest"])))
    raise AssertionError(f"no tag {tag} in {layout}")


def blob(layout: Path, digest: str) -> bytes:
    algorithm, hexdigest = digest.split(":")
    return (layout / "blobs" / algorithm / hexdigest).read_bytes()


def layer_members(layout: Path, digest: str) -> list[tarfile.TarInfo]:
    data = decompress(blob(layout, digest))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def materialize(closure: Closure, root: Path, dest: Path) -> None:
    """Copy a closure's files and recreate its symlinks under ``dest``, as pack would."""
    for path, target in closure.entries():
        where = dest / path.lstrip("/")
        where.parent.mkdir(parents=True, exist_ok=True)
        if where.exists() or where.is_symlink():
            continue
        if target is not None:
            where.symlink_to(target)
        else:
            shutil.copy2(root / path.lstrip("/"), where)


COSIGN_PASSWORD = {"COSIGN_PASSWORD": "test-password"}


def generate_key_pair(directory: Path) -> tuple[Path, Path]:
    """``scratchpack generate-key-pair`` in ``directory``: (cosign.key, cosign.pub), the key
    sealed with COSIGN_PASSWORD's password."""
    result = run_cli(
        "generate-key-pair", "--output-key-prefix", directory / "cosign", env=COSIGN_PASSWORD
    )
    assert result.code == 0, result.stderr
    return directory / "cosign.key", directory / "cosign.pub"


def private_key(key: Path) -> ec.EllipticCurvePrivateKey:
    """The private key of :func:`generate_key_pair`'s ``cosign.key``, opened with its password:
    for the tests that sign by hand what scratchpack would refuse to make."""
    password = COSIGN_PASSWORD["COSIGN_PASSWORD"].encode()
    return keys.load_private_key(key.read_bytes(), password, str(key))


NO_TLS = "--tls-verify=false"  # the test registry on 127.0.0.1 speaks plain HTTP


def cli_ok(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """``run_cli`` that must succeed, with COSIGN_PASSWORD's password (plus ``env``) so that
    the keys of :func:`generate_key_pair` open: its stdout."""
    result = run_cli(*args, env={**COSIGN_PASSWORD, **(env or {})})
    assert result.code == 0, result.stderr
    return result.stdout


def push_example(examples: Examples, target: str, binary: str = "hello") -> str:
    """Pack one of the examples to ``target`` (any transport; a registry without TLS): the
    manifest digest it was written as, what a signature or attestation is for."""
    out = cli_ok("pack", getattr(examples, binary), "-o", target, NO_TLS, "--format", "json")
    return str(json.loads(out)["digest"])


def raw_manifest(
    skopeo: Callable[..., subprocess.CompletedProcess[bytes]], image: str
) -> dict[str, Any]:
    """What ``skopeo inspect --raw`` reads at ``image``: the stored manifest as a peer sees it."""
    return dict(json.loads(skopeo("inspect", NO_TLS, "--raw", image).stdout))


def sign_at_once(image: str, key: Path, count: int, *extra: str) -> None:
    """``count`` ``scratchpack sign`` processes started together on ``image``, the Nth with
    the annotation ``signer=N``: every one must succeed (none may lose another's signature)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "scratchpack", "sign", image, "--key", str(key), "-q",
             *extra, "-a", f"signer={n}"],
            env={**os.environ, **COSIGN_PASSWORD}, stderr=subprocess.PIPE, text=True,
        )
        for n in range(count)
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err


def assert_init_files_lint_clean(project: Path, files: dict[str, str]) -> None:
    """Write what ``init`` generated into ``project`` and require no lint finding above info:
    init and lint must not drift apart."""
    from scratchpack.operations.lint import lint_file

    for name, content in files.items():
        (project / name).write_text(content)
    report = lint_file(project / "Dockerfile")
    assert report.error is None
    loud = [f for f in report.findings if f.severity >= 2]
    assert not loud, "\n".join(f"{f.code} {f.line}: {f.message}" for f in loud)


def node_project(directory: Path, package: dict[str, Any], server: str) -> Path:
    """The tiny Node project the init tests detect and generate for: ``package.json`` (as
    given), an empty lock and ``server.js``; the directory, made here."""
    directory.mkdir()
    (directory / "package.json").write_text(json.dumps(package))
    (directory / "package-lock.json").write_text("{}")
    (directory / "server.js").write_text(server)
    return directory


def dpkg_ownership(layout: Path, tag: str = "latest") -> tuple[dict[str, str], dict[str, str]]:
    """What the image's ``status.d/<package>.md5sums`` say (Syft's file ownership), checked:
    (path -> the md5sums file that lists it, path -> md5 of each regular file, later layers
    winning). Every listed path is a file of the image with that md5, listed once, and every
    ``.md5sums`` has its package's paragraph beside it."""
    sums: dict[str, str] = {}
    records: dict[str, bytes] = {}
    for layer in layout_manifest(layout, tag)["layers"]:
        data = decompress(blob(layout, layer["digest"]))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if member.islnk():
                    sums[name] = sums[member.linkname.removeprefix("./")]
                elif member.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    body = handle.read()
                    sums[name] = hashlib.md5(body, usedforsecurity=False).hexdigest()
                    if name.startswith("var/lib/dpkg/status.d/"):
                        records[name.rpartition("/")[2]] = body
    owners: dict[str, str] = {}
    for record, text in sorted(records.items()):
        if not record.endswith(".md5sums"):
            continue
        assert record.removesuffix(".md5sums") in records, record
        for line in text.decode().splitlines():
            md5, _, path = line.partition("  ")
            assert path not in owners, (path, record, owners.get(path))
            assert sums.get(path) == md5, (path, record)
            owners[path] = record
    return owners, sums
