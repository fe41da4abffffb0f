"""The fuzz targets: one function per parser, each taking arbitrary bytes and asserting that
parser's contract. A target returns normally when the contract held and raises otherwise; the
exception that escapes is the crash (atheris saves the input, hypothesis shrinks it).

The same functions run under atheris for long runs (tests/fuzz/fuzz_*.py) and under hypothesis
inside pytest (tests/test_fuzz.py), so a crash found by either is replayed by both.

Contracts:

- ``dockerfile``: the bytes of a file given to ``scratchpack lint``. Parsing either succeeds or
  raises :class:`DockerfileError` whose message is one line ``Dockerfile:LINE: ...``; linting a
  parsed file raises nothing but :class:`ScriptTooComplex` (whose line is the RUN's).
- ``shell``: a RUN's script. :func:`commands` and :func:`spanned_commands` raise nothing but
  :class:`ScriptTooComplex`, and every span lies inside the script.
- ``fix``: a Dockerfile given to ``scratchpack lint --fix`` (unsafe fixes too, no digest
  lookups). The fixed text parses; fixing it again changes nothing; and when every shell-form
  RUN of the input passes ``bash -n``, so does every RUN of the result.
- ``config``: the bytes of a ``.hadolint.yaml`` and of a ``.scratchpack.toml``. Loading either
  returns a configuration or raises :class:`UsageError` with a one-line message (warnings one
  line each), within a few seconds: a YAML alias bomb, a huge file or a value of the wrong type
  is a clear error, never a traceback or a hang.
- ``model``: a manifest, index or image config as read from a registry or a layout.
  ``Manifest.parse``, ``Index.parse``, ``ImageConfig.parse`` and every accessor of what they
  return either succeed or raise :class:`ScratchpackError` (``FormatError``).
- ``layer``: an uncompressed layer tar. Reading every entry and its content with
  :func:`read_layer` either succeeds or raises :class:`ScratchpackError`.
- ``osv``: one advisory file of an OSV export (``db import``). :func:`decode` returns an
  :class:`Advisory` or raises :class:`DatabaseError` naming the file in one line; matching a
  decoded advisory against versions of every ecosystem raises nothing but :class:`BadVersion`.
- ``ignore``: a ``scan --ignore-file`` (YAML or TOML) or ``--vex`` document. The parsers return
  their entries or raise :class:`SuppressionError`.
- ``elf``: an executable or library, from a local path (``pack``) or an image (``audit``'s
  will-it-start check, ``pack --from``'s closure, ``sbom``'s Rust and Go binaries). The
  start-up probe returns what the loader needs (strings, bounded) or raises
  :class:`DamagedElf`; ``read_elf`` returns an :class:`ElfInfo` or raises
  :class:`ScratchpackError`; the sbom's binary readers return a list.
- ``debian``: what a Debian mirror serves ``build`` (the kind, a line feed, its bytes): a
  ``Packages`` index, parsed streamed, gives the same columns however its bytes are cut into
  chunks, or raises :class:`FormatError`; a release file's SHA256 list gives ``name ->
  (sha256, size)`` or raises :class:`FormatError` (a repository's own ``Signed-By`` key proves
  who wrote it, not that it is well formed); a ``.deb`` is read whole or raises
  :class:`ScratchpackError`.
- ``documents``: the JSON and TOML documents a user or a registry hands scratchpack (the
  kind, a line feed, the bytes): ``scan --sbom``'s SBOM (CycloneDX, SPDX, syft, our own list),
  ``build``'s spec, a DSSE envelope, the in-toto statement inside a bundle that verifies (signed
  here with a key of the run's own, so the statement's reader is reached), and a Docker
  ``config.json``. Each gives its result or raises :class:`ScratchpackError` with a one-line
  message; no credential helper is ever run from a name that is a path.
- ``packages``: a package database of an image (the path it was found at, a line feed, its
  bytes: dpkg ``status``, apk ``installed``, Python ``METADATA``, a ``package.json``). The sbom's
  reader for it returns a list of packages and raises nothing.
"""

from __future__ import annotations

import io
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from scratchpack.dockerfile.config import load_config
from scratchpack.dockerfile.fix import fix as fix_dockerfile
from scratchpack.dockerfile.model import Dockerfile
from scratchpack.dockerfile.parser import DockerfileError, parse, parse_bytes
from scratchpack.dockerfile.shell import ScriptTooComplex, commands, spanned_commands, time_budget
from scratchpack.errors import FormatError, ScratchpackError, UsageError
from scratchpack.layers.reader import LayerEntry, read_layer
from scratchpack.model.config import ImageConfig
from scratchpack.model.descriptor import Platform
from scratchpack.model.manifest import Index, Manifest
from scratchpack.operations.lint import lint_dockerfile
from scratchpack.vulns.db import DatabaseError
from scratchpack.vulns.db import decode as decode_advisory
from scratchpack.vulns.osv import affects
from scratchpack.vulns.suppress import SuppressionError, parse_ignore, parse_vex
from scratchpack.vulns.versions import BadVersion

_PARSE_ERROR = re.compile(r"Dockerfile:[1-9][0-9]*: \S")


class ContractViolation(AssertionError):
    """A target's contract did not hold in a way no exception of the parser shows."""


def dockerfile(data: bytes) -> None:
    try:
        parsed = parse_bytes(data, "Dockerfile")
    except DockerfileError as exc:
        message = str(exc)
        if "\n" in message or "\r" in message or not _PARSE_ERROR.match(message):
            raise ContractViolation(
                f"parse error is not one 'FILE:LINE: ...' line: {message!r}"
            ) from exc
        return
    try:
        lint_dockerfile(parsed)
    except ScriptTooComplex as exc:
        if exc.line < 1:
            raise ContractViolation(f"script too complex, but where? {exc}") from exc


# Scripts tree-sitter is slow on are what the deadline is for; a short one keeps the fuzzer
# busy with new inputs instead of waiting 2 s on each of those.
SHELL_SECONDS = 0.1


def shell(data: bytes) -> None:
    try:
        with time_budget(SHELL_SECONDS):
            _shell(data)
    except ScriptTooComplex:
        return


def _shell(data: bytes) -> None:
    for command in commands(data.decode("utf-8", "replace")):
        if not isinstance(command.name, str) or not all(isinstance(a, str) for a in command.args):
            raise ContractViolation(f"command with non-text words: {command!r}")
    for spanned in spanned_commands(data):
        if not 0 <= spanned.start <= spanned.end <= len(data):
            raise ContractViolation(f"command span outside the script: {spanned!r}")
        for word in (spanned.name, *spanned.args):
            if not spanned.start <= word.start <= word.end <= spanned.end:
                raise ContractViolation(f"word span outside its command: {word!r} {spanned!r}")


def _run_scripts(parsed: Dockerfile) -> list[str]:
    """What the shell runs for each shell-form RUN (ONBUILD's too): its text, or the script of
    a ``RUN <<EOF`` heredoc."""
    found = []
    for stage in parsed.stages:
        for instruction in stage.instructions:
            run = instruction.onbuild if instruction.cmd == "ONBUILD" else instruction
            if run is None or run.cmd != "RUN" or run.json:
                continue
            if run.heredocs and run.text.startswith("<<"):
                found.append(run.heredocs[0].content)
            else:
                found.append(run.text)
    return found


def _bash_rejects(scripts: list[str]) -> list[str]:
    """The scripts ``bash -n`` does not read (each in its own bash: one's error must not hide
    another's)."""
    rejected = []
    for script in dict.fromkeys(scripts):
        done = subprocess.run(
            ["bash", "-n"], input=script.encode(), capture_output=True, check=False, timeout=30
        )
        if done.returncode:
            rejected.append(script)
    return rejected


def fix(data: bytes) -> None:
    try:
        with time_budget():
            _fix(data)
    except ScriptTooComplex:
        return


def _fix(data: bytes) -> None:
    try:
        parsed = parse_bytes(data, "Dockerfile")
    except DockerfileError:
        return  # the dockerfile target's contract
    once = fix_dockerfile(parsed, lint_dockerfile(parsed), None, unsafe=True)
    if not once.changed:
        return
    try:
        again_parsed = parse(once.fixed, "Dockerfile")
    except DockerfileError as exc:
        raise ContractViolation(f"the fixed file does not parse: {exc}") from exc
    twice = fix_dockerfile(again_parsed, lint_dockerfile(again_parsed), None, unsafe=True)
    if twice.changed:
        raise ContractViolation(f"a second fix changed the file again: {twice.fixed!r}")
    before = _run_scripts(parsed)
    after = [s for s in _run_scripts(again_parsed) if s not in before]
    if after and not _bash_rejects(before):
        broken = _bash_rejects(after)
        if broken:
            raise ContractViolation(f"bash -n rejects a fixed RUN: {broken[0]!r}")


# Loading a configuration of at most MAX_CONFIG_BYTES takes milliseconds; this much is a hang.
CONFIG_SECONDS = 5.0
_CONFIG_DIR = Path(tempfile.mkdtemp(prefix="scratchpack-fuzz-config."))


class _Hang(Exception):
    """Raised by the alarm: loading a configuration took longer than CONFIG_SECONDS."""


def _alarm(signum: int, frame: object) -> None:
    raise _Hang


def config(data: bytes) -> None:
    # The alarm turns a hang into a failure under pytest; under libFuzzer, whose own SIGALRM
    # handler (installed in C: Python sees None) is its -timeout, that one is left alone.
    alarm = signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, _alarm)
    for name in (".hadolint.yaml", ".scratchpack.toml"):
        path = _CONFIG_DIR / name
        path.write_bytes(data)
        started = time.monotonic()
        if alarm:
            signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, CONFIG_SECONDS)
        try:
            loaded = load_config(path)
        except UsageError as exc:
            if "\n" in str(exc) or "\r" in str(exc) or not str(exc).startswith(f"{path}: "):
                raise ContractViolation(f"config error is not one line: {exc!r}") from exc
            continue
        except _Hang as exc:
            raise ContractViolation(f"{name}: took more than {CONFIG_SECONDS} s") from exc
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
        if time.monotonic() - started > CONFIG_SECONDS:
            raise ContractViolation(f"{name}: took more than {CONFIG_SECONDS} s")
        for warning in loaded.warnings:
            if "\n" in warning or "\r" in warning:
                raise ContractViolation(f"a warning of several lines: {warning!r}")


_HOST = Platform("linux", "amd64")


def _manifest(data: bytes) -> None:
    manifest = Manifest.parse(data)
    manifest.to_bytes()
    _ = (manifest.config.digest, manifest.config.size, [d.digest for d in manifest.layers])


def _index(data: bytes) -> None:
    index = Index.parse(data)
    index.to_bytes()
    index.select_platform(_HOST)
    index.choose(_HOST, "fuzz")


def _config(data: bytes) -> None:
    config = ImageConfig.parse(data)
    config.to_bytes()
    _ = (
        config.platform, config.diff_ids, config.created, config.user, config.entrypoint,
        config.cmd, config.env, config.workdir, config.labels, config.exposed_ports,
        config.history,
    )  # fmt: skip


def model(data: bytes) -> None:
    for decode in (_manifest, _index, _config):
        try:
            decode(data)
        except ScratchpackError:
            continue


# Content is read in chunks to its end, as the audit's sink does for executables. More content
# than EXPANSION times the layer's own size is a contract violation: a tar member's bytes are in
# the tar, so only a hostile header (a GNU sparse map of holes, a lying PAX size) gets there,
# and a reader must refuse it rather than hand out terabytes of zeros.
_CHUNK = 1 << 16
EXPANSION = 1024


class _EndOfLayer(io.BytesIO):
    """The layer's bytes; reading on and on past their end is a hang in the making (tarfile
    in stream mode skips a member by reading ``size / bufsize`` times, however much is left),
    so the hundredth read at the end is reported instead of waited for."""

    reads_at_end = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if not chunk and size != 0:
            self.reads_at_end += 1
            if self.reads_at_end > 100:
                raise ContractViolation("reads on and on at the end of the layer (a hang)")
        return chunk


def layer(data: bytes) -> None:
    budget = EXPANSION * len(data) + (1 << 20)

    def drain(entry: LayerEntry, content: IO[bytes]) -> None:
        nonlocal budget
        while chunk := content.read(_CHUNK):
            budget -= len(chunk)
            if budget < 0:
                raise ContractViolation(
                    f"{entry.path}: more than {EXPANSION}x the layer's size in content"
                )

    try:
        for entry in read_layer(_EndOfLayer(data), wants=lambda entry: True, sink=drain):
            if not isinstance(entry.path, str) or entry.path.startswith("/"):
                raise ContractViolation(f"entry path not normalised: {entry!r}")
    except ScratchpackError:
        return


_PROBES = ("0", "1.0", "1.0.0", "2.36-9+deb12u3", "1:1.2.11.dfsg-2", "1.0~rc1", "v0.17.0",
           "v0.0.0-20230101120000-abcdef123456", "go1.21rc2", "9.16.48-r0", "2.0_rc1")  # fmt: skip


def osv(data: bytes) -> None:
    try:
        advisory = decode_advisory(data, "fuzz.json")
    except DatabaseError as exc:
        if "\n" in str(exc) or not str(exc).startswith("fuzz.json: "):
            raise ContractViolation(f"import error is not one line naming the file: {exc}") from exc
        return
    for entry in advisory.affected:
        for ecosystem in (entry.ecosystem, "Debian:12", "PyPI", "npm", "Go", "Alpine:v3.19"):
            for version in _PROBES:
                try:
                    hit, fixed = affects(entry, ecosystem, version)
                except BadVersion:
                    continue
                if not isinstance(hit, bool) or not isinstance(fixed, str):
                    raise ContractViolation(f"affects() gave {hit!r}, {fixed!r}")


def ignore(data: bytes) -> None:
    for where in ("fuzz.yaml", "fuzz.toml"):
        try:
            entries = parse_ignore(data, where)
        except SuppressionError:
            continue
        if not all(isinstance(e.id, str) and e.id for e in entries):
            raise ContractViolation(f"an ignore entry without an id: {entries!r}")
    try:
        parse_vex(data, "fuzz.json")
    except SuppressionError:
        return


def elf(data: bytes) -> None:
    import struct

    from scratchpack.operations.elf import DamagedElf, probe_file, read_elf
    from scratchpack.operations.sbom.packages import go_build_info, rust_packages

    try:
        needs = probe_file(io.BytesIO(data))
    except (DamagedElf, struct.error):
        pass
    else:
        strings = [*needs.needed, *needs.runpath, needs.interpreter or ""]
        if not all(isinstance(s, str) and len(s) <= len(data) for s in strings):
            raise ContractViolation(f"start-up needs not strings within the file: {needs!r}")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "binary"
        path.write_bytes(data)
        try:
            info = read_elf(path)
        except ScratchpackError:
            pass
        else:
            if not all(isinstance(n, str) for n in info.needed):
                raise ContractViolation(f"read_elf gave {info!r}")
    if not isinstance(rust_packages(io.BytesIO(data), "binary"), list):
        raise ContractViolation("rust_packages gave no list")
    go_build_info(data)


def packages(data: bytes) -> None:
    from scratchpack.operations.sbom.packages import (
        apk_packages,
        dpkg_packages,
        npm_package,
        python_package,
    )

    path_bytes, _, content = data.partition(b"\n")
    path = path_bytes.decode("utf-8", "replace")
    os_release = b'ID=debian\nVERSION_ID="12"\n'
    if path.startswith("var/lib/dpkg/"):
        found = dpkg_packages(content, path, os_release)
    elif path == "lib/apk/db/installed":
        found = apk_packages(content, path, os_release)
    elif path.endswith(("METADATA", "PKG-INFO")):
        found = python_package(content, path)
    else:
        found = npm_package(content, path)
    if not isinstance(found, list):
        raise ContractViolation(f"{path}: the reader gave {found!r}")


def debian(data: bytes) -> None:
    import msgspec

    from scratchpack.debian.deb import read_deb
    from scratchpack.debian.index import release_checksums
    from scratchpack.debian.packages import parse as parse_packages

    kind, _, content = data.partition(b"\n")
    if kind == b"Release":
        try:
            checksums = release_checksums(content, "fuzz")
        except FormatError as exc:
            if "\n" in str(exc):
                raise ContractViolation(f"release error is not one line: {exc}") from exc
            return
        for name, (sha256, size) in checksums.items():
            if not (name and len(sha256) == 64 and isinstance(size, int) and size >= 0):
                raise ContractViolation(f"release checksum {name!r}: {sha256!r} {size!r}")
    elif kind == b"deb":
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "fuzz.deb"
            path.write_bytes(content)
            try:
                read_deb(path)
            except ScratchpackError:
                return
    else:
        results: list[tuple[str, object]] = []
        for size in (len(content) or 1, 1, 7, 4096):
            chunks = [content[i : i + size] for i in range(0, len(content), size)]
            try:
                columns = parse_packages(iter(chunks), "fuzz Packages")
            except FormatError as exc:
                results.append(("error", str(exc)))
            else:
                results.append(("columns", msgspec.structs.astuple(columns)))
        if len({repr(r) for r in results}) != 1:
            raise ContractViolation(f"the index parses differently by chunk size: {results!r}")


_SIGNING_KEY: list[object] = []  # one key for the run: generating one per input is slow


def documents(data: bytes) -> None:
    import os

    from cryptography.hazmat.primitives.asymmetric import ec

    from scratchpack.debian.spec import parse_spec
    from scratchpack.signing import bundle, dsse
    from scratchpack.transports.registry import auth
    from scratchpack.vulns.sbomfile import read_sbom

    kind, _, content = data.partition(b"\n")
    try:
        if kind == b"spec":
            parse_spec(content.decode("utf-8", "replace"))
        elif kind == b"dsse":
            dsse.parse(content, "fuzz")
        elif kind == b"statement":
            if not _SIGNING_KEY:
                _SIGNING_KEY.append(ec.generate_private_key(ec.SECP256R1()))
            key = _SIGNING_KEY[0]
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            claims = bundle.verify(bundle.make(key, content), key.public_key(), "fuzz")
            if not all(str(d).startswith("sha256:") for d in claims.digests):
                raise ContractViolation(f"claimed digests: {claims.digests!r}")
        else:
            with tempfile.TemporaryDirectory() as directory:
                path = Path(directory) / ("config.json" if kind == b"auth" else "sbom.json")
                path.write_bytes(content)
                if kind != b"auth":
                    if not isinstance(read_sbom(path), list):
                        raise ContractViolation("read_sbom gave no list")
                    return
                saved = {name: os.environ.get(name) for name in ("DOCKER_CONFIG", "PATH",
                                                                 "REGISTRY_AUTH_FILE")}  # fmt: skip
                os.environ.update(DOCKER_CONFIG=directory, PATH=directory)
                os.environ.pop("REGISTRY_AUTH_FILE", None)
                try:
                    for host in ("reg.example.com", "docker.io", "localhost:5000"):
                        found = auth.lookup(host)
                        if found is not None and not isinstance(found, auth.Credentials):
                            raise ContractViolation(f"lookup gave {found!r}")
                finally:
                    for name, value in saved.items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value
    except ScratchpackError as exc:
        if "\n" in str(exc):
            raise ContractViolation(f"{kind!r}: error is not one line: {exc}") from exc


TARGETS: dict[str, Callable[[bytes], None]] = {
    "dockerfile": dockerfile,
    "shell": shell,
    "fix": fix,
    "config": config,
    "model": model,
    "layer": layer,
    "osv": osv,
    "ignore": ignore,
    "elf": elf,
    "packages": packages,
    "debian": debian,
    "documents": documents,
}
