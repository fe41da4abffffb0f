"""Access to the real container tools provisioned by ``scripts/provision-test-env``.

In CI (``CI=true``) a missing tool or daemon fails the test; elsewhere it skips with the reason,
so a developer without root can still run the engine-free tests.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("SCRATCHPACK_TEST_ENV", "/tmp/scratchpack-test-env"))
Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: real tools are required)")
    pytest.skip(reason)


def need(tool: str, reason: str = "") -> None:
    if shutil.which(tool) is None:
        unavailable(f"{tool} is not installed{': ' + reason if reason else ''}")


def parse_env_file(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            values[key] = value
    return values


@contextmanager
def _flocked(directory: Path, name: str = ".lock") -> Iterator[None]:
    """An exclusive lock across processes (pytest-xdist workers, parallel runs)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / name).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def provisioned_env() -> tuple[dict[str, str], bool]:
    """The tool environment, provisioning it when absent; True if this call started it."""
    env_file = STATE / "env"
    started = False
    with _flocked(STATE, ".pytest-lock"):
        if not env_file.exists():
            proc = subprocess.run(
                [str(ROOT / "scripts/provision-test-env"), "up"],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                unavailable(f"scripts/provision-test-env up failed: {proc.stderr.strip()[-2000:]}")
            started = True
    return {**os.environ, **parse_env_file(env_file)}, started


def make_runner(tool: str, env: dict[str, str]) -> Runner:
    def run(
        *args: str, check: bool = True, input: bytes | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [tool, *args]
        if tool == "docker" and args[:1] == ("rmi",) and "--no-prune" not in args:
            # Tests build in parallel on one dockerd, and the legacy builder's cache shares
            # the intermediate images of matching steps between them: removing a test's image
            # must not prune those untagged parents under another test's running build.
            cmd = [tool, "rmi", "--no-prune", *args[1:]]
        proc = subprocess.run(
            cmd, env=env, input=input, capture_output=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout.decode(errors='replace')[-3000:]}\n"
                f"stderr: {proc.stderr.decode(errors='replace')[-3000:]}"
            )
        return proc

    return run


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20) -> bytes:
    """Poll ``url`` until it answers 2xx; return the body."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if 200 <= response.status_code < 300:
                return response.content
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s (last: {last})")


CACHE = Path(os.environ.get("SCRATCHPACK_TEST_CACHE", "/var/tmp/scratchpack-test-cache"))
DEBIAN_IMAGE = "docker.io/scratchpack-test/debian:bookworm"


def _cache_lock() -> AbstractContextManager[None]:
    return _flocked(CACHE)


def debian_rootfs(packages: tuple[str, ...] = ()) -> Path:
    """A Debian bookworm minbase root filesystem (tar) made with mmdebstrap from the machine's
    apt sources, built once and kept in CACHE across runs (no registry has base images here).

    The image's apt is configured as the host's is (no Valid-Until check: the mirror may be
    a snapshot), so ``apt-get install`` works inside builds that use the host network."""
    need("mmdebstrap", "it makes the Debian base image")
    suffix = "-" + "-".join(sorted(packages)) if packages else ""
    path = CACHE / f"debian-bookworm-minbase{suffix}.tar"
    with _cache_lock():
        if path.exists():
            return path
        archives = CACHE / "apt-archives"
        archives.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        proc = subprocess.run(
            [
                "mmdebstrap", "--variant=minbase", "--format=tar", "--quiet",
                "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                "--aptopt=Acquire::Check-Valid-Until \"false\"",
                "--aptopt=APT::Install-Recommends \"false\"",
                *([f"--include={','.join(packages)}"] if packages else []),
                '--setup-hook=mkdir -p "$1"/var/cache/apt/archives',
                f"--setup-hook=sync-in {archives} /var/cache/apt/archives/",
                f"--customize-hook=sync-out /var/cache/apt/archives/ {archives}",
                "--customize-hook=rm -f \"$1\"/var/cache/apt/archives/*.deb",
                "bookworm", str(tmp),
            ],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            unavailable(f"mmdebstrap failed: {proc.stderr.strip()[-2000:]}")
        tmp.rename(path)
    return path


def debian_image(
    run: Runner, engine: str, packages: tuple[str, ...] = (), name: str = DEBIAN_IMAGE
) -> str:
    """A Debian image (minbase plus ``packages``) imported into docker's or podman/buildah's
    storage once, under ``name``."""
    rootfs = debian_rootfs(packages)
    with _cache_lock():
        if run("image", "inspect", name, check=False).returncode != 0:
            change = ["--change", 'CMD ["bash"]'] if engine == "podman" else ["-c", 'CMD ["bash"]']
            run("import", *change, str(rootfs), name, timeout=600)
    return name


# Stand-ins for the official builder images `scratchpack init` writes into Dockerfiles, made
# from Debian packages (no public registry here): the tests pass them with --build-arg.
BUILDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "go": ("docker.io/scratchpack-test/golang:1.19", ("ca-certificates", "golang-go")),
    "rust": (
        "docker.io/scratchpack-test/rust:1.63",
        ("ca-certificates", "cargo", "rustc", "libc6-dev", "gcc"),
    ),
    "c": ("docker.io/scratchpack-test/gcc:12", ("ca-certificates", "gcc", "libc6-dev", "make")),
    "python": (
        "docker.io/scratchpack-test/python:3.11",
        ("ca-certificates", "python3", "python3-pip"),
    ),
}


def node_official_module() -> ModuleType:
    """bench/node_official.py, which rebuilds the official Node images (not a package)."""
    need("mmdebstrap", "it makes the debian:bookworm-slim layer")
    need("npm", "it downloads the official node build from the npm registry")
    module = sys.modules.get("node_official")
    if module is None:
        path = ROOT / "bench/node_official.py"
        spec = importlib.util.spec_from_file_location("node_official", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


def node_stand_ins(run: Runner, major: str = "18") -> tuple[str, str]:
    """``node:MAJOR-bookworm-slim`` and ``gcr.io/distroless/nodejsMAJOR-debian12:nonroot`` in
    the test dockerd, under the names ``init`` writes: the official images rebuilt from their
    parts (Debian's packages, the official node build and npm, yarn and corepack from the npm
    registry) by bench/node_official.py, once per daemon (the downloads are cached in CACHE)."""
    module = node_official_module()
    builder = f"docker.io/library/node:{major}-bookworm-slim"
    runtime = f"gcr.io/distroless/nodejs{major}-debian12:nonroot"
    work = CACHE / "node-official" / f"layers-{major}"
    with _cache_lock():
        try:
            if run("image", "inspect", builder, check=False).returncode != 0:
                layers = module.slim_layers(major, work / "slim")
                module.docker_import(layers, builder, module.slim_config(major))
            if run("image", "inspect", runtime, check=False).returncode != 0:
                layers = module.distroless_layers(major, work / "distroless")
                module.docker_import(layers, runtime, module.distroless_config())
        except module.BuildError as exc:
            unavailable(f"the Node stand-in images: {exc}")
    return builder, runtime


def built_and_run(
    docker: Runner, name: str, context: Path, dockerfiles: tuple[Path, ...]
) -> dict[Path, str]:
    """Each Dockerfile built by ``docker`` offline in ``context`` (tagged ``name:STEM``, STEM
    its name up to the first dot) and run once: what each printed. The images are removed
    after, built or not: the lint --fix tests compare a file's build before and after a fix."""
    outputs: dict[Path, str] = {}
    tags = [f"{name}:{path.stem.split('.')[0]}" for path in dockerfiles]
    try:
        for path, tag in zip(dockerfiles, tags, strict=True):
            docker("build", "-q", "--network", "none", "-f", str(path), "-t", tag, str(context),
                   timeout=600)  # fmt: skip
            outputs[path] = docker("run", "--rm", "--network", "none", tag).stdout.decode()
    finally:
        docker("rmi", "-f", *tags, check=False)
    return outputs
