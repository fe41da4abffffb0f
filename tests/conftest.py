"""Fixtures for the real container tools (see tests/realtools.py and docs/testing.md)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import Examples, build_examples, generate_key_pair, run_cli
from realtools import (
    ROOT,
    Runner,
    debian_image,
    free_tcp_port,
    in_ci,
    make_runner,
    need,
    provisioned_env,
    unavailable,
)

# sample projects that pack builds carry their own tests, for the image, not for this suite
collect_ignore = ["data/apps"]

# Every `scratchpack lint` this suite starts runs in its own process: a lint server the user
# (or, as root, another session on the machine) left running must not answer for this tree's
# code. tests/test_lint_server.py starts its own, in private directories, with the switch on.
os.environ["SCRATCHPACK_LINT_SERVER"] = "0"
# ShellCheck's results cache (dockerfile/shellcheck_cache.py) starts empty for every run of the
# suite, in a directory of its own: no test depends on what an earlier run, or the user, cached.
_SHELLCHECK_CACHE = tempfile.mkdtemp(prefix="scratchpack-test-shellcheck-cache.")
os.environ["SCRATCHPACK_SHELLCHECK_CACHE"] = _SHELLCHECK_CACHE
atexit.register(shutil.rmtree, _SHELLCHECK_CACHE, ignore_errors=True)
# The same for the dpkg owner search's misses (debian/unowned.py).
_DPKG_CACHE = tempfile.mkdtemp(prefix="scratchpack-test-dpkg-cache.")
os.environ["SCRATCHPACK_DPKG_CACHE"] = os.path.join(_DPKG_CACHE, "dpkg-unowned.json")
atexit.register(shutil.rmtree, _DPKG_CACHE, ignore_errors=True)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    """The example programs (static and dynamic hellos...), compiled once per test module."""
    return build_examples(tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="module")
def layout(examples: Examples, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hello example packed once per module into an OCI layout, tag ``v1``: for the tests
    that only read an image (copy, push, audit it). A test that changes it makes its own."""
    path = tmp_path_factory.mktemp("layout") / "l"
    result = run_cli("pack", examples.hello, "-o", f"oci:{path}:v1")
    assert result.code == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A cosign key pair (cosign.key sealed with helpers.COSIGN_PASSWORD), once per module."""
    return generate_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def predicates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Predicate files for ``attest --predicate``, by ``--type``: a CycloneDX SBOM, SLSA v1
    provenance and a custom type's plain text; once per module."""
    out = tmp_path_factory.mktemp("predicates")
    files = {
        "cyclonedx": json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}),
        "slsaprovenance1": json.dumps({"buildDefinition": {"buildType": "https://example/t"}}),
        "custom": "any text at all\n",
    }
    for name, text in files.items():
        (out / name).write_text(text)
    return {name: out / name for name in files}


@pytest.fixture(scope="session")
def tool_env() -> Iterator[dict[str, str]]:
    env, started = provisioned_env()
    yield env
    if started:
        subprocess.run([str(ROOT / "scripts/provision-test-env"), "down"], check=False)


def _tool(name: str, env: dict[str, str]) -> Runner:
    need(name)
    return make_runner(name, env)


@pytest.fixture(scope="session")
def docker(tool_env: dict[str, str]) -> Runner:
    run = _tool("docker", tool_env)
    proc = run("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
    if proc.returncode != 0:
        unavailable(f"dockerd does not answer: {proc.stderr.decode(errors='replace').strip()}")
    return run


@pytest.fixture(scope="session")
def podman(tool_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """podman, and at the end of this worker's session the images its tests left in the test
    environment's storage: ``podman load``/``run`` of an ``oci:`` layout names the image after
    the layout's path (``localhost/tmp/pytest-of-root/pytest-N/...``), and every run of the
    suite would otherwise add a few hundred MB to the shared storage. Only names under this
    worker's own temporary directory go (another worker's or a parallel run's are theirs);
    untagged layers are left to podman (pruning could remove those of a build running now)."""
    run = _tool("podman", tool_env)
    yield run
    prefix = f"localhost{tmp_path_factory.getbasetemp()}/"
    listed = run("images", "--format", "{{.Repository}}:{{.Tag}}", check=False, timeout=60)
    ours = [
        name for name in listed.stdout.decode(errors="replace").split() if name.startswith(prefix)
    ]
    if ours:
        run("rmi", *ours, check=False, timeout=120)


@pytest.fixture(scope="session")
def buildah(tool_env: dict[str, str]) -> Runner:
    return _tool("buildah", tool_env)


@pytest.fixture(scope="session")
def skopeo(tool_env: dict[str, str]) -> Runner:
    return _tool("skopeo", tool_env)


@pytest.fixture(scope="session")
def umoci(tool_env: dict[str, str]) -> Runner:
    return _tool("umoci", tool_env)


@pytest.fixture(scope="session")
def registry(tool_env: dict[str, str]) -> str:
    address = tool_env.get("SCRATCHPACK_TEST_REGISTRY", "")
    if not address:
        unavailable("no test registry in the provisioned environment")
    return address


@pytest.fixture(scope="session")
def registry_access_log(tool_env: dict[str, str]) -> Path:
    return Path(tool_env["SCRATCHPACK_TEST_REGISTRY_LOG"])


@pytest.fixture
def free_port() -> int:
    return free_tcp_port()


@pytest.fixture
def unique_name() -> str:
    return f"sptest-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def debian_docker(docker: Runner) -> str:
    """A Debian bookworm minbase image in the test dockerd (see realtools.debian_rootfs)."""
    return debian_image(docker, "docker")


@pytest.fixture(scope="session")
def debian_podman(podman: Runner) -> str:
    """The same Debian image in podman/buildah storage."""
    return debian_image(podman, "podman")


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 300 kB tmpfs, so that a write fails half-way with ENOSPC."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        message = f"cannot mount a tmpfs to simulate a full disk: {proc.stderr.strip()}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
