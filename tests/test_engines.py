"""What we write, the real tools read, load and run: skopeo, umoci, dockerd, podman."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import Examples, run_cli
from realtools import wait_http

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
HARDENED = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


def _pack(*args: str | Path, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    result = run_cli("pack", *args, "--format", "json", env=env)
    assert result.code == 0, result.stderr
    return dict(result.json())


def test_skopeo_reads_oci_and_archive(examples: Examples, skopeo: Run, tmp_path: Path) -> None:
    summary = _pack(examples.hello, "-o", f"oci:{tmp_path / 'layout'}:v1")
    info = json.loads(skopeo("inspect", f"oci:{tmp_path / 'layout'}:v1").stdout)
    assert info["Digest"] == summary["digest"]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Layers"] == [layer["digest"] for layer in summary["layers"]]
    raw = skopeo("inspect", "--raw", f"oci:{tmp_path / 'layout'}:v1").stdout
    assert (tmp_path / "layout/blobs/sha256" / summary["digest"][7:]).read_bytes() == raw
    config = json.loads(skopeo("inspect", "--config", f"oci:{tmp_path / 'layout'}:v1").stdout)
    assert config["config"]["User"] == "65532:65532"

    archive = tmp_path / "hello.tar"
    _pack(examples.hello, "-o", f"docker-archive:{archive}:hello:v1")
    info = json.loads(skopeo("inspect", f"docker-archive:{archive}").stdout)
    assert len(info["Layers"]) == 2
    config = json.loads(skopeo("inspect", "--config", f"docker-archive:{archive}").stdout)
    assert config["rootfs"]["diff_ids"] == [layer["diff_id"] for layer in summary["layers"]]


def test_skopeo_copy_of_our_layout_is_readable_by_us(
    examples: Examples, skopeo: Run, tmp_path: Path
) -> None:
    summary = _pack(examples.hello, "-o", f"oci:{tmp_path / 'ours'}:v1")
    skopeo("copy", f"oci:{tmp_path / 'ours'}:v1", f"oci:{tmp_path / 'theirs'}:copied")
    report = run_cli("inspect", f"oci:{tmp_path / 'theirs'}:copied", "--format", "json")
    assert report.code == 0, report.stderr
    assert report.json()["digest"] == summary["digest"]  # skopeo kept our manifest byte for byte
    skopeo("copy", f"oci:{tmp_path / 'ours'}:v1", f"docker-archive:{tmp_path / 's.tar'}:s:1")
    report = run_cli("inspect", f"docker-archive:{tmp_path / 's.tar'}", "--format", "json")
    assert report.code == 0, report.stderr
    assert report.json()["config_digest"] == summary["config_digest"]


def test_umoci_unpacks_the_layout(examples: Examples, umoci: Run, tmp_path: Path) -> None:
    _pack(examples.hello, "-o", f"oci:{tmp_path / 'layout'}:v1")
    bundle = tmp_path / "bundle"
    umoci("unpack", "--image", f"{tmp_path / 'layout'}:v1", str(bundle))
    rootfs = bundle / "rootfs"
    binary = rootfs / "usr/local/bin/hello"
    assert binary.read_bytes() == examples.hello.read_bytes()
    assert binary.stat().st_mode & 0o7777 == 0o555
    assert (rootfs / "etc/passwd").stat().st_mode & 0o7777 == 0o444
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (rootfs / "home/nonroot").stat().st_uid == 65532
    assert (rootfs / "usr/share/zoneinfo/Europe/Paris").read_bytes()[:4] == b"TZif"
    runtime = json.loads((bundle / "config.json").read_text())
    assert runtime["process"]["user"]["uid"] == 65532
    assert runtime["process"]["args"] == ["/usr/local/bin/hello"]


@pytest.fixture
def docker_image(docker: Run, unique_name: str) -> Iterator[str]:
    name = f"{unique_name}:v1"
    yield name
    docker("rmi", "-f", name, check=False)


@pytest.fixture
def podman_image(podman: Run, unique_name: str) -> Iterator[str]:
    name = f"localhost/{unique_name}:v1"
    yield name
    podman("rmi", "-f", name, check=False)


def test_docker_load_and_run(
    examples: Examples, docker: Run, docker_image: str, tmp_path: Path
) -> None:
    archive = tmp_path / "hello.tar"
    summary = _pack(examples.hello, "-o", f"docker-archive:{archive}:{docker_image}")
    docker("load", "-i", str(archive))
    image_id = docker("image", "inspect", "-f", "{{.Id}}", docker_image).stdout.decode().strip()
    assert image_id == summary["config_digest"]
    out = docker("run", "--rm", "--network", "none", docker_image).stdout.decode()
    assert "Hello from scratchpack! uid=65532 gid=65532" in out
    assert "ca-certificates: yes" in out and "zoneinfo UTC: yes" in out


def test_podman_load_and_run(
    examples: Examples, podman: Run, podman_image: str, tmp_path: Path
) -> None:
    archive = tmp_path / "hello.tar"
    _pack(examples.hello, "-o", f"docker-archive:{archive}:{podman_image}")
    podman("load", "-i", str(archive))
    out = podman("run", "--rm", "--network", "none", podman_image).stdout.decode()
    assert "Hello from scratchpack! uid=65532 gid=65532" in out
    _pack(examples.hello, "-o", f"oci:{tmp_path / 'layout'}:v1")
    from_layout = podman("run", "--rm", "--network", "none", f"oci:{tmp_path / 'layout'}:v1")
    assert b"uid=65532 gid=65532" in from_layout.stdout


def test_docker_daemon_transport_round_trip(
    examples: Examples, docker: Run, docker_image: str, tool_env: dict[str, str], tmp_path: Path
) -> None:
    env = {"DOCKER_HOST": tool_env["DOCKER_HOST"]}
    summary = _pack(examples.hello, "-o", f"docker-daemon:{docker_image}", env=env)
    out = docker("run", "--rm", "--network", "none", docker_image).stdout.decode()
    assert "uid=65532 gid=65532" in out
    report = run_cli("inspect", f"docker-daemon:{docker_image}", "--format", "json", env=env)
    assert report.code == 0, report.stderr
    assert report.json()["config_digest"] == summary["config_digest"]
    assert report.json()["user"] == "65532:65532"
    # what `docker save` writes (legacy layout) reads back too, with the same layers
    saved = tmp_path / "saved.tar"
    docker("save", "-o", str(saved), docker_image)
    report = run_cli("inspect", f"docker-archive:{saved}", "--format", "json")
    assert report.code == 0, report.stderr
    assert [la["diff_id"] for la in report.json()["layers"]] == [
        la["diff_id"] for la in summary["layers"]
    ]
    missing = run_cli("inspect", "docker-daemon:scratchpack-no-such-image:v9", env=env)
    assert missing.code == 2 and "no such image" in missing.stderr  # absent: exit 2


def test_http_server_runs_hardened_on_docker(
    examples: Examples, docker: Run, docker_image: str, free_port: int, tmp_path: Path
) -> None:
    archive = tmp_path / "httpd.tar"
    _pack(examples.httpd, "-o", f"docker-archive:{archive}:{docker_image}", "--expose", "8080")
    docker("load", "-i", str(archive))
    container = (
        docker("run", "-d", "--rm", *HARDENED, "-p", f"127.0.0.1:{free_port}:8080", docker_image)
        .stdout.decode()
        .strip()
    )
    try:
        body = wait_http(f"http://127.0.0.1:{free_port}/")
        assert body == b"ok uid=65532\n"
        state = json.loads(docker("inspect", container).stdout)[0]
        assert state["HostConfig"]["ReadonlyRootfs"] is True
        assert state["HostConfig"]["CapDrop"] == ["ALL"]
    finally:
        docker("rm", "-f", container, check=False)


def test_http_server_runs_hardened_on_podman(
    examples: Examples, podman: Run, free_port: int, tmp_path: Path
) -> None:
    image = f"oci:{tmp_path / 'layout'}:v1"
    _pack(examples.httpd, "-o", image, "--expose", "8080")
    published = ["-p", f"127.0.0.1:{free_port}:8080"]
    container = podman("run", "-d", "--rm", *HARDENED, *published, image).stdout.decode().strip()
    try:
        assert wait_http(f"http://127.0.0.1:{free_port}/") == b"ok uid=65532\n"
    finally:
        podman("rm", "-f", container, check=False)


def test_dynamic_binary_packed_anyway_does_not_start(
    examples: Examples, podman: Run, tmp_path: Path
) -> None:
    """Why pack refuses dynamic binaries: the engine cannot start them in an empty image."""
    _pack(examples.dynamic, "-o", f"oci:{tmp_path / 'layout'}:v1", "--allow-dynamic")
    proc = podman("run", "--rm", "--network", "none", f"oci:{tmp_path / 'layout'}:v1", check=False)
    assert proc.returncode != 0
    assert b"Hello" not in proc.stdout
