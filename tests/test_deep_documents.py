"""Documents nested deeper than a decoder's stack, in every file a user or an attacker hands us.

Python's JSON decoder and ``tomllib`` raise ``RecursionError`` on input nested ~1000 deep (100
KB of ``[``): not a ``ValueError``, so each reader that caught only its decoder's error let it
through to the CLI's last-resort handler ("unexpected RecursionError ... run with --debug"), as
if scratchpack had a bug. Project files (``init``, ``pack DIR``, ``lint``'s context), build
specs and --check arguments are the user's; package manifests in images and signature documents
from registries are anyone's (the image cases are ``hostile.py``'s "deep-documents"). Each must
give its one clear line, or be skipped as unreadable where the file only refines a report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import assert_clean_error, run_cli
from hostile import DEEP_JSON
from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.operations.lint import lint_file
from scratchpack.signing import dsse, payload, statement

DEEP_TOML = b'[package]\nname = "x"\nversion = "1"\n[x]\ny = ' + DEEP_JSON + b"\n"


def _node(root: Path) -> None:
    (root / "package.json").write_bytes(DEEP_JSON)
    (root / "package-lock.json").write_text("{}")


def _python(root: Path) -> None:
    (root / "pyproject.toml").write_bytes(DEEP_TOML.replace(b"[package]", b"[project]"))
    (root / "main.py").write_text("print(1)\n")


def _rust(root: Path) -> None:
    (root / "Cargo.toml").write_bytes(DEEP_TOML)


@pytest.mark.parametrize(
    ("make", "name", "what"),
    [(_node, "package.json", "JSON"), (_python, "pyproject.toml", "TOML"),
     (_rust, "Cargo.toml", "TOML")],
)  # fmt: skip
def test_init_and_pack_refuse_a_deep_project_file_in_one_line(
    tmp_path: Path, make: Callable[[Path], None], name: str, what: str
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    make(project)
    result = run_cli("init", project, "--no-pin")
    assert_clean_error(result, 2, f"{project / name}", "recursion")
    assert not (project / "Dockerfile").exists()
    if name != "Cargo.toml":  # pack DIR reads Python and Node projects
        out = tmp_path / "out"
        result = run_cli("pack", project, "-o", f"oci:{out}:1")
        assert_clean_error(result, 2, f"{project / name}: not valid {what}")
        assert not out.exists()


def test_lint_reads_past_a_deep_cargo_toml_in_the_context(tmp_path: Path) -> None:
    """SP503 reads the context's Cargo.toml to judge the release profile: unreadable, it
    judges nothing (as for a file that is not TOML), and the other rules still run."""
    _rust(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM rust:1.83\nRUN cargo build --release\n")
    report = lint_file(tmp_path / "Dockerfile")
    codes = {finding.code for finding in report.findings}
    assert "SP503" not in codes and "SP100" in codes, codes


def test_a_deep_check_argument_is_a_usage_error(tmp_path: Path) -> None:
    binary = tmp_path / "app"
    binary.write_bytes(b"\x7fELF")
    deep = "[" * 50_000 + "]" * 50_000  # one argument holds at most 128 KiB
    result = run_cli("pack", binary, "-o", f"oci:{tmp_path / 'o'}:1", "--check", deep)
    assert_clean_error(result, 2, "--check")


def test_a_deep_build_spec_is_a_usage_error(tmp_path: Path) -> None:
    spec = tmp_path / "image.toml"
    spec.write_bytes(b'[image]\npackages = ["a"]\nx = ' + DEEP_JSON + b"\n")
    result = run_cli("build", spec, "-o", f"oci:{tmp_path / 'o'}:1")
    assert_clean_error(result, 2, f"{spec}: not valid TOML")


@pytest.mark.parametrize("parse", [statement.parse, dsse.parse, payload.parse])
def test_signature_documents_from_a_registry_are_format_errors(
    parse: Callable[[bytes, str], object],
) -> None:
    """An attestation, envelope or payload is anyone's document (a registry serves it)."""
    with pytest.raises(FormatError, match="not JSON") as caught:
        parse(DEEP_JSON, "the registry's document")
    assert isinstance(caught.value, ScratchpackError)
