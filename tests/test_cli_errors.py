"""Bad input: one clear line on stderr, exit 2 for usage and 1 for failures, nothing left."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import Examples, assert_clean_error, run_cli


def _listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture
def out_dir(tmp_path: Path) -> Iterator[Path]:
    """An output directory that must hold nothing but what a test puts there itself."""
    directory = tmp_path / "outputs"
    directory.mkdir()
    yield directory


def test_missing_binary(out_dir: Path) -> None:
    r = run_cli("pack", out_dir / "nope", "-o", f"oci:{out_dir / 'img'}")
    assert_clean_error(r, 2, "no such file")
    assert _listing(out_dir) == []


def test_directory_instead_of_binary(out_dir: Path) -> None:
    r = run_cli("pack", out_dir, "-o", f"oci:{out_dir / 'img'}")
    assert_clean_error(r, 2, "is a directory")
    assert _listing(out_dir) == []


def test_kind_binary_on_a_directory(out_dir: Path, tmp_path: Path) -> None:
    """``--kind binary`` says what is wrong with a directory, even a project's: not the ELF
    reader's error about a file it could not read."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "package.json").write_text("{}")
    for directory in (project, tmp_path / "empty"):
        directory.mkdir(exist_ok=True)
        r = run_cli("pack", directory, "--kind", "binary", "-o", f"oci:{out_dir / 'img'}")
        assert_clean_error(r, 2, f"--kind binary needs a file; {directory} is a directory")
    assert _listing(out_dir) == []


def test_not_an_elf(out_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "app.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    r = run_cli("pack", script, "-o", f"oci:{out_dir / 'img'}")
    assert_clean_error(r, 2, "not an ELF")
    damaged = tmp_path / "damaged"
    damaged.write_bytes(b"\x7fELF" + b"\xff" * 20)
    assert_clean_error(run_cli("pack", damaged, "-o", f"oci:{out_dir / 'img'}"), 2, "ELF")
    assert _listing(out_dir) == []


def test_dynamic_binary_whose_root_lacks_its_libraries_is_refused_naming_them(
    examples: Examples, out_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-root"
    empty.mkdir()
    r = run_cli("pack", examples.dynamic, "-o", f"oci:{out_dir / 'img'}", "--root", empty)
    assert_clean_error(r, 1, "dynamically linked", "ld-linux", "libc.so.6", "--root")
    assert _listing(out_dir) == []


@pytest.mark.parametrize(
    ("dest", "fragment"),
    [
        ("oci:{d}/img:bad tag", "bad tag"),
        ("oci:{d}/img:-x", "bad tag"),
        ("docker-archive:{d}/x.tar:Bad/Name", "lowercase"),
        ("docker-daemon:app:", "bad tag"),
        ("docker-daemon:", "needs NAME"),
        ("foo:{d}/img", "unknown transport 'foo'"),
        ("{d}/img", "no transport given"),
    ],
)
def test_invalid_destinations(examples: Examples, out_dir: Path, dest: str, fragment: str) -> None:
    r = run_cli("pack", examples.hello, "-o", dest.format(d=out_dir))
    assert_clean_error(r, 2, fragment)
    assert _listing(out_dir) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--user", "0:0"], "--user"),
        (["--user", "admin:0"], "UID 0 is root"),
        (["--user", "x:y"], "numbers"),
        (["--platform", "linux/arm64"], "does not match the binary"),
        (["--platform", "arm64"], "invalid platform"),
        (["--tz", "Mars/Olympus"], "unknown time zone"),
        (["--add", "/definitely/missing:/x"], "no such file"),
        (["--add", "/etc/hostname:relative"], "absolute"),
        (["--add", "/etc/hostname:/etc/passwd"], "essential"),
        (["--add", "/etc/hostname:/x:999"], "octal"),
        (["--env", "NOEQUALS"], "KEY=VALUE"),
        (["--expose", "http"], "--expose"),
        (["--entrypoint", '["unterminated'], "--entrypoint"),
        (["--compression", "zstd", "-o", "docker-archive:{d}/x.tar"], "uncompressed"),
        (["--compression-level", "10"], "gzip levels are 1-9"),
        (["--compression-level", "0"], "gzip levels are 1-9"),
        (["--compression", "zstd", "--compression-level", "20"], "zstd levels are 1-19"),
    ],
)
def test_invalid_options(examples: Examples, out_dir: Path, args: list[str], fragment: str) -> None:
    args = [a.format(d=out_dir) for a in args]
    dest = [] if "-o" in args else ["-o", f"oci:{out_dir / 'img'}"]
    r = run_cli("pack", examples.hello, *dest, *args)
    assert_clean_error(r, 2, fragment)
    assert _listing(out_dir) == []


def test_argparse_usage_errors_exit_2(examples: Examples) -> None:
    r = run_cli("pack", examples.hello)
    assert r.code == 2 and "required" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("pack", examples.hello, "-o", "oci:x", "--compression", "lz4")
    assert r.code == 2 and "invalid choice" in r.stderr
    r = run_cli("frobnicate")
    assert r.code == 2


def test_existing_outputs_are_not_overwritten(examples: Examples, out_dir: Path) -> None:
    archive = out_dir / "x.tar"
    archive.write_bytes(b"precious")
    r = run_cli("pack", examples.hello, "-o", f"docker-archive:{archive}")
    assert_clean_error(r, 1, "already exists", "--force")
    assert archive.read_bytes() == b"precious"
    assert run_cli("pack", examples.hello, "-o", f"docker-archive:{archive}", "--force").code == 0
    assert archive.read_bytes() != b"precious"

    layout = out_dir / "layout"
    assert run_cli("pack", examples.hello, "-o", f"oci:{layout}:v1").code == 0
    index = (layout / "index.json").read_bytes()
    r = run_cli("pack", examples.httpd, "-o", f"oci:{layout}:v1")
    assert_clean_error(r, 1, "already exists", "--force")
    assert (layout / "index.json").read_bytes() == index

    other = out_dir / "not-a-layout"
    other.mkdir()
    (other / "file.txt").write_text("mine")
    r = run_cli("pack", examples.hello, "-o", f"oci:{other}")
    assert_clean_error(r, 1, "not an OCI layout")
    assert _listing(other) == ["file.txt"]


def test_unwritable_destinations(examples: Examples, out_dir: Path) -> None:
    r = run_cli("pack", examples.hello, "-o", f"docker-archive:{out_dir}/missing/x.tar")
    assert_clean_error(r, 1, "does not exist")
    r = run_cli("pack", examples.hello, "-o", "docker-archive:/proc/scratchpack.tar")
    assert r.code == 1 and "Traceback" not in r.stderr
    r = run_cli("pack", examples.hello, "-o", "oci:/proc/scratchpack-layout")
    assert r.code == 1 and "Traceback" not in r.stderr
    file_parent = out_dir / "afile"
    file_parent.write_text("x")
    r = run_cli("pack", examples.hello, "-o", f"docker-archive:{file_parent}/x.tar")
    assert_clean_error(r, 1, "not a directory")
    assert _listing(out_dir) == ["afile"]


@pytest.mark.parametrize("dest", ["oci:{d}/img", "docker-archive:{d}/img.tar"])
def test_disk_full_half_way_leaves_nothing(examples: Examples, tiny_fs: Path, dest: str) -> None:
    r = run_cli("pack", examples.hello, "-o", dest.format(d=tiny_fs), "--tz", "all")
    assert_clean_error(r, 1, "No space left")
    assert _listing(tiny_fs) == []


def test_existing_layout_keeps_its_index_when_a_write_fails(
    examples: Examples, tiny_fs: Path
) -> None:
    layout = tiny_fs / "img"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{layout}:small", "--tz", "none", "--no-certs")
    assert ok.code == 0, ok.stderr
    index = (layout / "index.json").read_bytes()
    r = run_cli("pack", examples.hello, "-o", f"oci:{layout}:big", "--tz", "all")
    assert_clean_error(r, 1, "No space left")
    assert (layout / "index.json").read_bytes() == index
    leftovers = [p for p in _listing(tiny_fs) if p.endswith(".tmp") or "/." in p]
    assert leftovers == []


def test_unreachable_daemon(examples: Examples, tmp_path: Path) -> None:
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no.sock", "TMPDIR": str(tmp_path)}
    r = run_cli("pack", examples.hello, "-o", "docker-daemon:hello:x", env=env)
    assert_clean_error(r, 1, "cannot reach the Docker daemon")
    assert os.listdir(tmp_path) == []
    r = run_cli("inspect", "docker-daemon:hello:x", env=env)
    assert_clean_error(r, 1, "cannot reach the Docker daemon")


def test_inspect_errors(tmp_path: Path) -> None:
    assert_clean_error(run_cli("inspect", f"oci:{tmp_path}/nothing"), 2, "no such directory")
    (tmp_path / "empty").mkdir()
    assert_clean_error(run_cli("inspect", f"oci:{tmp_path}/empty"), 1, "not an OCI image layout")
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tar at all" * 100)
    assert_clean_error(run_cli("inspect", f"docker-archive:{garbage}"), 1, "tar")


def test_missing_essentials_name_the_package(examples: Examples, out_dir: Path) -> None:
    dest = f"oci:{out_dir / 'img'}"
    r = run_cli("pack", examples.hello, "-o", dest, "--ca-bundle", "/nonexistent/ca.crt")
    assert_clean_error(r, 1, "CA bundle", "ca-certificates", "--no-certs")
    r = run_cli("pack", examples.hello, "-o", dest, "--zoneinfo", "/nonexistent/zoneinfo")
    assert_clean_error(r, 1, "zoneinfo", "tzdata", "--tz none")
    assert _listing(out_dir) == []
    # asking for neither needs neither
    r = run_cli(
        "pack", examples.hello, "-o", dest, "--no-certs", "--tz", "none",
        "--ca-bundle", "/nonexistent/ca.crt", "--zoneinfo", "/nonexistent/zoneinfo",
    )  # fmt: skip
    assert r.code == 0, r.stderr
