"""``scratchpack audit`` start-up (issue 17): dive answers on a small image in 0.16 s, of which
our interpreter's start and imports were 0.2 s. The import set is asserted (not the time,
which moves with the machine's load), read from a real ``python -X importtime`` process as
``test_startup.py`` reads it: a new import on the audit path fails here, naming it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_cli
from test_audit import D, T, write_layout
from test_startup import scratchpack_imports, third_party

# Third-party packages an audit of a local image may load: msgspec (the model's decoding,
# which loads typing_extensions), packageurl (package identifiers), the secret search's
# automaton (also the executables' marker search), argcomplete's parser hook.
AUDIT = frozenset({"msgspec", "typing_extensions", "packageurl", "ahocorasick_rs", "argcomplete"})
# Standard-library and project modules an audit without Python packages, Rust binaries or a
# registry does not need: each was milliseconds of start-up (concurrent.futures loads logging,
# email.parser loads socket and calendar, tempfile loads random, shutil loads bz2 and lzma;
# probe, for --check only, loads shutil and subprocess).
NOT_ON_THE_AUDIT_PATH = (
    "concurrent.futures", "logging", "email", "tempfile", "random", "tarfile", "zstandard",
    "shutil", "bz2", "lzma", "subprocess", "scratchpack.operations.probe",
    "debian", "httpx", "rich", "elftools", "cryptography", "scratchpack.transports.registry",
    "scratchpack.reports.html", "scratchpack.operations.audit.docs",
)  # fmt: skip


# two installed packages and one only configured-away (not counted)
STATUS = (
    b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\n"
    b"Version: 2.36-9+deb12u10\nMaintainer: GNU Libc Maintainers\n <x@example.org>\n\n"
    b"Package: base-files\nStatus: install ok installed\nVersion: 12.4+deb12u11\n\n"
    b"Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
)


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules for h in NOT_ON_THE_AUDIT_PATH if m == h or m.startswith(h + ".")}


@pytest.mark.parametrize(("secrets", "transport"),
                         [(True, "oci"), (False, "oci"), (True, "docker-archive")])  # fmt: skip
def test_audit_imports_only_what_it_uses(tmp_path: Path, secrets: bool, transport: str) -> None:
    """Of an OCI layout and of a ``docker save`` archive (issue 17's audit row reads one),
    with a dpkg database: read by debian/control.py, not python-debian (whose import, with
    charset_normalizer and email, and its parse were 0.07-0.09 s of CPU of the 600 MB Debian
    image's audit)."""
    image = write_layout(
        tmp_path / "img",
        [[D("app"), T("app/run", b"#!/bin/sh\nexec echo hi\n", 0o755),
          T("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
          T("var/lib/dpkg/status", STATUS)]],
        {"Entrypoint": ["/app/run"]},
    )  # fmt: skip
    if transport == "docker-archive":
        archive = f"docker-archive:{tmp_path / 'img.tar'}"
        assert run_cli("copy", "-q", image, f"{archive}:app:1").code == 0
        image = archive
    flags = [] if secrets else ["--no-secrets"]
    modules = scratchpack_imports("audit", image, "--format", "json", "--fail-on", "none", *flags)
    assert "scratchpack.operations.audit" in modules  # (the audit did run)
    assert third_party(modules) - AUDIT == set()
    assert heavy(modules) == set()
    report = run_cli("audit", image, "--format", "json", "--fail-on", "none").json()
    assert report["packages"]["count"] == 2  # (the database was read: its two installed ones)


def test_the_guard_sees_a_heavy_import(tmp_path: Path) -> None:
    """The same reading of a process that does load one of them (the check can fail)."""
    modules = scratchpack_imports("audit", "--explain", "SPI105", cwd=tmp_path)
    assert "scratchpack.operations.audit.docs" in heavy(modules)
