"""``pack BINARY --from IMAGE``: a dynamic program's loader, libraries and package records come
from an image (any transport), unpacked in the pack's scratch directory and removed after it,
whatever happens; a hostile image gives one clear error and writes nothing outside."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import Examples, assert_clean_error, run_cli
from hostile import iter_tree, oci_with_canary
from realtools import Runner

LIBC_MARK = "2.36-9+fromimage1"


@pytest.fixture(scope="module")
def marked_image(
    docker: Runner, debian_docker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The Debian image with one more layer: libc6's recorded version changed (so its status.d
    record can only come from this image, not the host) and libgcc_s deleted (a whiteout)."""
    name = f"scratchpack-test/debian-marked:{uuid.uuid4().hex[:12]}"
    context = tmp_path_factory.mktemp("marked")
    (context / "Dockerfile").write_text(
        f"FROM {debian_docker}\n"
        "RUN sed -i '/^Package: libc6$/,/^$/ s/^Version: .*/Version: "
        f"{LIBC_MARK}/' /var/lib/dpkg/status && rm /usr/lib/x86_64-linux-gnu/libgcc_s.so.1\n"
    )
    docker("build", "--network", "none", "-q", "--no-cache", "-t", name, str(context), timeout=600)
    yield name
    docker("rmi", "-f", name, check=False)


def _pack(binary: Path, dest: str, *extra: str) -> dict[str, Any]:
    result = run_cli("pack", binary, "-o", dest, "--format", "json", *extra)
    assert result.code == 0, result.stderr
    return dict(result.json())


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".scratchpack"))


def _image_version(docker: Runner, image: str, package: str) -> str:
    proc = docker("run", "--rm", "--network", "none", image, "dpkg-query", "-W", "-f",
                  "${Version}", package)  # fmt: skip
    return proc.stdout.decode()


def test_a_dynamic_program_packed_from_the_daemons_debian_image_runs(
    examples: Examples, tmp_path: Path, podman: Runner, docker: Runner, debian_docker: str
) -> None:
    image = f"docker-daemon:{debian_docker}"
    summary = _pack(examples.dynamic, f"oci:{tmp_path / 'out'}:v1", "--from", image)
    libraries = summary["libraries"]
    # named as the image, not the scratch directory it was unpacked in
    assert libraries["root"] == "docker-daemon:scratchpack-test/debian:bookworm"
    assert libraries["loader"] == "/lib64/ld-linux-x86-64.so.2"
    assert {"libc.so.6", "libgcc_s.so.1"} <= set(libraries["sonames"])
    assert _leftovers(tmp_path) == []
    ran = podman("run", "--rm", "--network", "none", "--read-only", f"oci:{tmp_path / 'out'}:v1",
                 check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stderr.decode()
    assert b"Hello from scratchpack! uid=65532 gid=65532" in ran.stdout
    listed = run_cli("sbom", f"oci:{tmp_path / 'out'}:v1", "-o", "json")
    assert listed.code == 0, listed.stderr
    versions = {p["name"]: p["version"] for p in listed.json()}
    assert versions["libc6"] == _image_version(docker, debian_docker, "libc6")


def test_the_records_and_whiteouts_are_the_images_through_containers_storage(
    examples: Examples, tmp_path: Path, podman: Runner, docker: Runner, marked_image: str
) -> None:
    archive = tmp_path / "marked.tar"
    docker("save", "-o", str(archive), marked_image)
    podman("load", "-i", str(archive))
    try:
        for source in (f"docker-archive:{archive}", f"containers-storage:localhost/{marked_image}"):
            dest = f"oci:{tmp_path / 'out'}:{source.split(':')[0]}"
            summary = _pack(examples.dynamic, dest, "--from", source, "--tz", "UTC")
            # libgcc_s was deleted by the top layer: not in the image, so not in ours
            assert summary["libraries"]["unavailable"] == ["libgcc_s.so.1"]
            assert "libgcc_s.so.1" not in summary["libraries"]["sonames"]
            listed = run_cli("sbom", dest, "-o", "json")
            assert listed.code == 0, listed.stderr
            versions = {p["name"]: p["version"] for p in listed.json()}
            assert versions["libc6"] == LIBC_MARK  # the image's dpkg database, not the host's
            assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "out") == []
        ran = podman("run", "--rm", "--network", "none", "--read-only",
                     f"oci:{tmp_path / 'out'}:containers-storage", check=False)  # fmt: skip
        assert ran.returncode == 0, ran.stderr.decode()
    finally:
        podman("rmi", "-f", f"localhost/{marked_image}", check=False)


@pytest.mark.parametrize(
    ("case_name", "fragment"),
    [("traversal", "climbs out of the image root"), ("symlink-escape", "lacks what it needs"),
     ("absolute", "lacks what it needs"), ("devices", "lacks what it needs"),
     ("hardlink-missing", "hard link"), ("sparse-gnu-0.1", "sparse"),
     ("huge-size", "truncated"), ("whiteout-parent", "names no entry of its directory")],
)  # fmt: skip
def test_a_hostile_image_gives_one_error_and_writes_nothing_outside(
    examples: Examples, tmp_path: Path, case_name: str, fragment: str
) -> None:
    image, _ = oci_with_canary(case_name, tmp_path)
    before = list(iter_tree(tmp_path))
    result = run_cli("pack", examples.dynamic, "-o", f"oci:{tmp_path / 'out'}:v1", "--from", image)
    assert_clean_error(result, 1, fragment)
    assert list(iter_tree(tmp_path)) == before  # no output, no scratch dir, canary untouched


def test_from_goes_with_a_dynamic_binary_into_scratch_only(
    examples: Examples, tmp_path: Path
) -> None:
    image = f"oci:{tmp_path / 'nowhere'}:t"
    out = f"oci:{tmp_path / 'out'}:v1"
    both = run_cli("pack", examples.dynamic, "-o", out, "--from", image, "--root", "/")
    assert_clean_error(both, 2, "--from and --root exclude each other")
    static = run_cli("pack", examples.hello, "-o", out, "--from", image)
    assert_clean_error(static, 2, "only a dynamic binary takes its loader and libraries")
    alone = run_cli("pack", examples.dynamic, "-o", out, "--from", image, "--allow-dynamic")
    assert_clean_error(alone, 2, "--from and --allow-dynamic exclude each other")
    base = run_cli("pack", examples.dynamic, "-o", out, "--from", image, "--base", image)
    assert_clean_error(base, 2, "on --base, the libraries are the base's")
    missing = run_cli("pack", examples.dynamic, "-o", out, "--from", image)
    assert_clean_error(missing, 2, "nowhere")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_platform_asked_for_is_the_binarys(examples: Examples, tmp_path: Path) -> None:
    wrong = run_cli("pack", examples.dynamic, "-o", f"oci:{tmp_path / 'out'}:v1",
                    "--from", "oci:/nonexistent:t", "--platform", "linux/arm64")  # fmt: skip
    assert_clean_error(wrong, 2, "--platform linux/arm64 does not match the binary")


def test_from_a_registry_and_an_oci_layout(
    examples: Examples,
    tmp_path: Path,
    skopeo: Runner,
    registry: str,
    debian_docker: str,
    unique_name: str,
) -> None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    pushed = f"{registry}/{unique_name}/debian:bookworm"
    skopeo("copy", "--src-daemon-host", host, "--dest-tls-verify=false",
           f"docker-daemon:{debian_docker}", f"docker://{pushed}", timeout=600)  # fmt: skip
    skopeo("copy", "--src-tls-verify=false", f"docker://{pushed}", f"oci:{tmp_path / 'deb'}:t")
    digests = set()
    for n, source in enumerate((f"docker://{pushed}", f"oci:{tmp_path / 'deb'}:t")):
        summary = _pack(examples.dynamic, f"oci:{tmp_path / 'out'}:{n}", "--from", source)
        assert summary["libraries"]["root"] == source
        assert summary["libraries"]["loader"] == "/lib64/ld-linux-x86-64.so.2"
        digests.add(summary["layers"][1]["digest"])
    assert len(digests) == 1  # the same libraries layer, whichever transport carried the image
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "out") == []
