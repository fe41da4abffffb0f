"""``scratchpack init``: detection, the files it writes, lint-clean output for every language
and runtime, pinning through a real registry, and real builds of the sample projects with
docker (legacy builder) and buildah: production and debug targets, run on docker and podman
as non-root with a read-only root file system, and a size within 10% of ``pack``; a default
build offline under the legacy builder (no debug install runs), and /tmp (1777) writable by
65532 on docker and podman, and under the generated compose.yaml itself, run with podman-compose
(the dev lock pins it): its read-only root, tmpfs /tmp, user and dropped capabilities."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import (
    ROOT,
    assert_clean_error,
    assert_init_files_lint_clean,
    node_project,
    run_cli,
)
from realtools import BUILDERS, Runner, debian_image, free_tcp_port, unavailable, wait_http
from scratchpack.dockerfile import generate
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.project import detect
from scratchpack.operations.init import init, mirror

SAMPLES = ROOT / "examples/init"
SAMPLE = {"go": "go-greeter", "c": "c-hello", "rust": "rust-hello", "python": "python-hello"}
EXPECTED = {
    "go": ("greeter", 8080, "1.19"),
    "c": ("hello", None, None),
    "rust": ("rust-hello", None, None),
    "python": ("python-hello", None, "3.11"),
}


def _copy_sample(language: str, tmp_path: Path) -> Path:
    project = tmp_path / SAMPLE[language]
    shutil.copytree(SAMPLES / SAMPLE[language], project)
    return project


@pytest.mark.parametrize("language", sorted(SAMPLE))
def test_detection_reads_the_project(language: str) -> None:
    project = detect(SAMPLES / SAMPLE[language])
    assert (project.language, (project.name, project.port, project.toolchain)) == (
        language,
        EXPECTED[language],
    )


def test_names_come_from_the_project(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text(
        '[package]\nname = "pkg"\nversion = "0.1.0"\n[[bin]]\nname = "tool"\npath = "src/t.rs"\n'
    )
    assert detect(tmp_path).name == "tool"
    go = tmp_path / "go"
    (go / "cmd/server").mkdir(parents=True)
    (go / "go.mod").write_text("module github.com/acme/platform\n\ngo 1.22\n")
    (go / "cmd/server/main.go").write_text('package main\nfunc main() { listen(":9090") }\n')
    project = detect(go)
    assert (project.name, project.details["package"], project.port) == (
        "server",
        "./cmd/server",
        9090,
    )
    cmake = tmp_path / "cm"
    cmake.mkdir()
    (cmake / "CMakeLists.txt").write_text("project(x C)\nadd_executable(worker main.c)\n")
    assert detect(cmake).name == "worker"


def _pinned(reference: str) -> str:
    return "sha256:" + "1" * 64  # any digest: lint only checks that one is there


@pytest.mark.parametrize("runtime", [None, "distroless", "alpine", "debian-slim"])
@pytest.mark.parametrize("language", ["go", "rust", "c", "python", "node"])
def test_generated_files_lint_clean(language: str, runtime: str | None, tmp_path: Path) -> None:
    if language == "node":
        project = node_project(
            tmp_path / "web",
            {"name": "@acme/web", "main": "server.js", "scripts": {"build": "tsc"}},
            "require('http').createServer().listen(3000)\n",
        )
    else:
        project = _copy_sample(language, tmp_path)
    options = generate.Options(runtime=runtime, rust_static="gnu" if runtime else "musl")
    result = init(project, None, options, _pinned)
    assert_init_files_lint_clean(project, result.files)
    dockerfile = parse(result.files["Dockerfile"])
    assert [s.name for s in dockerfile.stages][-2:] == ["debug", "production"]
    stages = {s.name for s in dockerfile.stages}
    external = [s for s in dockerfile.stages if s.base != "scratch" and s.base not in stages]
    assert all(f"@sha256:{'1' * 64}" in s.base for s in external)
    # the legacy builder builds every stage before the target: debug must install nothing
    debug = next(s for s in dockerfile.stages if s.name == "debug")
    assert debug.base == "build"
    assert not debug.of("RUN")
    assert "DEBUG_IMAGE" not in result.files["Dockerfile"]
    compose = result.files["compose.yaml"]
    for line in ("read_only: true", "- /tmp", "- ALL", "no-new-privileges:true", '"65532:65532"'):
        assert line in compose
    ignore = result.files[".dockerignore"].splitlines()
    assert ".git" in ignore
    assert {"rust": "target/", "node": "node_modules/", "python": ".venv/"}.get(
        language, ".git"
    ) in ignore


def test_cli_writes_refuses_to_overwrite_and_prints(tmp_path: Path) -> None:
    project = _copy_sample("go", tmp_path)
    result = run_cli("init", str(project), "--no-pin", "--format", "json")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert (summary["language"], summary["name"], summary["runtime"]) == (
        "go",
        "greeter",
        "scratch",
    )
    assert sorted(Path(p).name for p in summary["files"]) == [
        ".dockerignore",
        "Dockerfile",
        "compose.yaml",
    ]
    before = (project / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/greeter"]' in before and "EXPOSE 8080" in before
    again = run_cli("init", str(project), "--no-pin", "--runtime", "distroless")
    assert_clean_error(again, 2, "--force")
    assert (project / "Dockerfile").read_text() == before
    printed = run_cli("init", str(project), "--no-pin", "--stdout", "--runtime", "distroless")
    assert "FROM ${RUNTIME_IMAGE} AS production" in printed.stdout
    assert (project / "Dockerfile").read_text() == before
    forced = run_cli("init", str(project), "--no-pin", "--force", "--runtime", "distroless")
    assert forced.code == 0 and "distroless" in (project / "Dockerfile").read_text()


def test_bad_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(run_cli("init", str(empty), "--no-pin"), 2, "no project found")
    both = tmp_path / "both"
    both.mkdir()
    (both / "go.mod").write_text("module x\n")
    (both / "requirements.txt").write_text("")
    assert_clean_error(run_cli("init", str(both), "--no-pin"), 2, "--lang")
    assert run_cli("init", str(both), "--no-pin", "--lang", "go", "--stdout").code == 0
    assert_clean_error(run_cli("init", str(both), "--lang", "cobol"), 2, "invalid choice")
    java = tmp_path / "java"
    java.mkdir()
    (java / "pom.xml").write_text("<project/>")
    assert_clean_error(run_cli("init", str(java), "--no-pin"), 2, "does not support")
    python = _copy_sample("python", tmp_path)
    scratch = run_cli("init", str(python), "--no-pin", "--runtime", "scratch")
    assert_clean_error(scratch, 2, "interpreter")
    assert_clean_error(run_cli("init", str(tmp_path / "nope")), 2, "not a directory")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Cargo.toml").write_text("[package\nname=")
    assert_clean_error(run_cli("init", str(broken), "--no-pin"), 2, "Cargo.toml")
    assert not list(empty.iterdir())


def test_mirror_names() -> None:
    assert mirror("golang:1.23-bookworm", "reg:5000") == "reg:5000/library/golang:1.23-bookworm"
    assert mirror("gcr.io/distroless/static-debian12:nonroot", "reg:5000") == (
        "reg:5000/distroless/static-debian12:nonroot"
    )
    assert mirror("acme/tool:1", None) == "acme/tool:1"


# -- real builds ------------------------------------------------------------------------------


def _build_args(language: str, builder: str, debian: str) -> list[str]:
    args = ["--build-arg", f"BUILDER_IMAGE={builder}"]
    if language == "python":  # the distroless stand-in: Debian's python3, no pip needed
        args += ["--build-arg", f"RUNTIME_IMAGE={builder}"]
    return args


def _check_runs(run: Runner, image: str, language: str) -> None:
    """Production: non-root, read-only root, no capabilities, answers or prints."""
    hardened = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    if language == "go":
        port = free_tcp_port()
        container = run("run", "-d", *hardened, "-p", f"127.0.0.1:{port}:8080", image)
        name = container.stdout.decode().strip()
        try:
            body = wait_http(f"http://127.0.0.1:{port}/").decode()
        finally:
            run("rm", "-f", name, check=False)
        assert body == "hello from greeter uid=65532 zone=Europe/Paris\n"
        return
    out = run("run", "--rm", *hardened, image).stdout.decode()
    if language == "python":
        assert json.loads(out) == {"greeting": "hello from python-hello", "uid": 65532}
    else:
        assert out == f"hello from {SAMPLE[language]} uid=65532\n"


def _check_debug(run: Runner, image: str, language: str) -> None:
    """The build stage with the app: a shell, the same user, the binary on PATH."""
    app = {"python": "python3", "node": "node"}.get(language, EXPECTED[language][0])
    out = run("run", "--rm", "--entrypoint", "sh", image, "-c", f"command -v {app} && id -u")
    assert out.stdout.decode().split()[-1] == "65532"


def _check_size(run: Runner, image: str, language: str, tmp_path: Path) -> None:
    """Within 10% of `scratchpack pack` of the same binary (uncompressed sizes)."""
    if language not in ("go", "c", "rust"):
        return
    binary = f"/{EXPECTED[language][0]}"
    container = run("create", image).stdout.decode().strip()
    try:
        run("cp", f"{container}:{binary}", str(tmp_path / "binary"))
    finally:
        run("rm", container, check=False)
    packed = run_cli("pack", str(tmp_path / "binary"), "-o", f"oci:{tmp_path / 'packed'}:1",
                     "--format", "json").json()  # fmt: skip
    ours = packed["size"]["uncompressed"]
    theirs = int(run("image", "inspect", "-f", "{{.Size}}", image).stdout)
    assert theirs <= ours * 1.10, (theirs, ours)


@pytest.mark.parametrize("language", sorted(SAMPLE))
def test_init_builds_with_docker_and_runs(
    language: str, docker: Runner, debian_docker: str, tmp_path: Path, unique_name: str
) -> None:
    name, packages = BUILDERS[language]
    builder = debian_image(docker, "docker", packages, name)
    project = _copy_sample(language, tmp_path)
    init_result = run_cli("init", str(project), "--no-pin", "--rust-static", "gnu")
    assert init_result.code == 0, init_result.stderr
    args = _build_args(language, builder, debian_docker)
    tags = {target: f"{unique_name}-{language}:{target}" for target in ("production", "debug")}
    try:
        for target, tag in tags.items():
            docker("build", "-q", "--network", "host", *args, "--target", target, "-t", tag,
                   str(project), timeout=900)  # fmt: skip
        config = json.loads(docker("image", "inspect", tags["production"]).stdout)[0]["Config"]
        assert config["User"] == "65532:65532"
        _check_runs(docker, tags["production"], language)
        _check_debug(docker, tags["debug"], language)
        _check_size(docker, tags["production"], language, tmp_path)
    finally:
        docker("rmi", "-f", *tags.values(), check=False)


@pytest.mark.parametrize("language", sorted(SAMPLE))
def test_init_builds_with_buildah_and_runs_on_podman(
    language: str,
    buildah: Runner,
    podman: Runner,
    debian_podman: str,
    tmp_path: Path,
    unique_name: str,
) -> None:
    name, packages = BUILDERS[language]
    builder = debian_image(podman, "podman", packages, name)
    project = _copy_sample(language, tmp_path)
    assert run_cli("init", str(project), "--no-pin", "--rust-static", "gnu").code == 0
    args = _build_args(language, builder, debian_podman)
    tags = {t: f"localhost/{unique_name}-{language}:{t}" for t in ("production", "debug")}
    try:
        for target, tag in tags.items():
            buildah("bud", "-q", "--layers", "--network", "host", *args, "--target", target,
                    "-t", tag, str(project), timeout=900)  # fmt: skip
        _check_runs(podman, tags["production"], language)
        _check_debug(podman, tags["debug"], language)
        _check_size(podman, tags["production"], language, tmp_path)
    finally:
        podman("rmi", "-f", *tags.values(), check=False)


def test_images_pinned_through_a_mirror_build_without_build_args(
    docker: Runner, debian_docker: str, registry: str, tmp_path: Path, unique_name: str
) -> None:
    """--registry: every base image resolved on the mirror and pinned; lint finds nothing
    above info; the Dockerfile then builds as written, pulling by digest."""
    name, packages = BUILDERS["go"]
    builder = debian_image(docker, "docker", packages, name)
    mirror_host = f"{registry}"
    prefix = f"{mirror_host}/{unique_name}"
    pushed = {}
    for source, path in (
        (builder, "library/golang:1.19-bookworm"),
        (debian_docker, "library/debian:12-slim"),
    ):
        result = run_cli(
            "copy", f"docker-daemon:{source}", f"docker://{prefix}/{path}", "--format", "json"
        )
        assert result.code == 0, result.stderr
        pushed[path] = result.json()["digest"]
    project = _copy_sample("go", tmp_path)
    result = run_cli("init", str(project), "--registry", prefix, "--format", "json")
    assert result.code == 0, result.stderr
    images = result.json()["images"]
    assert images["BUILDER_IMAGE"] == {
        "reference": f"{prefix}/library/golang:1.19-bookworm",
        "digest": pushed["library/golang:1.19-bookworm"],
    }
    assert "DEBUG_IMAGE" not in images
    lint = run_cli("lint", "--format", "json", str(project / "Dockerfile"))
    assert lint.code == 0, lint.stdout
    assert {f["severity"] for f in lint.json()} <= {"info"}
    tag = f"{unique_name}-mirror:1"
    try:
        docker("build", "-q", "--network", "host", "-t", tag, str(project), timeout=900)
        _check_runs(docker, tag, "go")
    finally:
        docker("rmi", "-f", tag, check=False)
    # an unreachable mirror: a notice, unpinned references, files still written
    offline = run_cli(
        "init", str(project), "--force", "--registry", "127.0.0.1:1", "--timeout", "2"
    )
    assert offline.code == 0
    assert "not pinned" in offline.stderr
    assert (
        "ARG BUILDER_IMAGE=127.0.0.1:1/library/golang:1.19-bookworm\n"
        in (project / "Dockerfile").read_text()
    )


# -- /tmp, zoneinfo and the default build ---------------------------------------------------

PROBE_C = """#include <stdio.h>
int main(void) {
    FILE *f = fopen("/tmp/probe", "w");
    if (!f) { perror("/tmp/probe"); return 1; }
    fputs("x", f);
    return fclose(f) != 0;
}
"""


@pytest.fixture(scope="module")
def tmp_writer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static program that writes /tmp/probe: scratch has no shell to do it with."""
    need_tool = shutil.which("musl-gcc") or shutil.which("gcc")
    if need_tool is None:
        pytest.fail("a C compiler (musl-gcc or gcc) is needed to build the /tmp probe")
    work = tmp_path_factory.mktemp("probe")
    (work / "probe.c").write_text(PROBE_C)
    subprocess.run(
        [need_tool, "-static", "-Os", "-o", str(work / "probe"), str(work / "probe.c")],
        check=True,
        capture_output=True,
    )
    return work / "probe"


def _check_tmp(run: Runner, image: str, writer: Path) -> None:
    """As 65532: /tmp writable on the image's own /tmp and on a --tmpfs /tmp (which takes the
    mode of the directory under it) with a read-only root."""
    probe = ["-v", f"{writer}:/probe:ro", "--entrypoint", "/probe"]
    for extra in ([], ["--read-only", "--tmpfs", "/tmp"]):
        proc = run("run", "--rm", "--cap-drop", "ALL", "--user", "65532:65532", *extra,
                   *probe, image, check=False)  # fmt: skip
        assert proc.returncode == 0, (extra, proc.stderr.decode(errors="replace"))


def _check_modes(run: Runner, image: str, tmp_path: Path) -> None:
    """tmp/ is 1777; zoneinfo and config files are 0444 (read from the exported file system)."""
    container = run("create", image).stdout.decode().strip()
    try:
        run("export", "-o", str(tmp_path / "fs.tar"), container)
    finally:
        run("rm", container, check=False)
    with tarfile.open(tmp_path / "fs.tar") as tar:
        members = {m.name.strip("/").removeprefix("./"): m for m in tar.getmembers()}
    assert members["tmp"].isdir() and members["tmp"].mode & 0o7777 == 0o1777
    zones = [m for n, m in members.items() if n.startswith("usr/share/zoneinfo/") and m.isfile()]
    assert len(zones) > 100
    assert {m.mode & 0o7777 for m in zones} == {0o444}
    for name in ("etc/passwd", "etc/group", "etc/nsswitch.conf"):
        assert members[name].mode & 0o7777 == 0o444, name


def test_default_build_is_offline_and_tmp_is_writable_on_docker(
    docker: Runner, tmp_writer: Path, tmp_path: Path, unique_name: str
) -> None:
    """Plain `docker build` (legacy builder, --network none, no --target): it builds every
    stage up to the last, and none of them needs the network; the result is production."""
    name, packages = BUILDERS["c"]
    builder = debian_image(docker, "docker", packages, name)
    project = _copy_sample("c", tmp_path)
    assert run_cli("init", str(project), "--no-pin").code == 0
    compose = (project / "compose.yaml").read_text()
    assert "    tmpfs:\n      - /tmp\n" in compose and 'user: "65532:65532"' in compose
    tag = f"{unique_name}-default:1"
    try:
        build = docker("build", "--network", "none", "--build-arg", f"BUILDER_IMAGE={builder}",
                       "-t", tag, str(project), timeout=900)  # fmt: skip
        log = build.stdout.decode()
        assert "FROM build AS debug" in log  # the legacy builder did go through debug ...
        assert "apt-get" not in log  # ... and installed nothing there
        config = json.loads(docker("image", "inspect", tag).stdout)[0]["Config"]
        assert config["Entrypoint"] == ["/hello"]
        _check_runs(docker, tag, "c")
        _check_tmp(docker, tag, tmp_writer)
        _check_modes(docker, tag, tmp_path)
    finally:
        docker("rmi", "-f", tag, check=False)


def test_tmp_is_writable_on_podman(
    buildah: Runner,
    podman: Runner,
    tmp_writer: Path,
    tmp_path: Path,
    unique_name: str,
) -> None:
    name, packages = BUILDERS["c"]
    builder = debian_image(podman, "podman", packages, name)
    project = _copy_sample("c", tmp_path)
    assert run_cli("init", str(project), "--no-pin").code == 0
    tag = f"localhost/{unique_name}-tmp:1"
    try:
        buildah("bud", "-q", "--layers", "--network", "none", "--build-arg",
                f"BUILDER_IMAGE={builder}", "-t", tag, str(project), timeout=900)  # fmt: skip
        _check_runs(podman, tag, "c")
        _check_tmp(podman, tag, tmp_writer)
        _check_modes(podman, tag, tmp_path)
    finally:
        podman("rmi", "-f", tag, check=False)


# -- /tmp under the generated compose.yaml ---------------------------------------------------

COMPOSE_PROBE_C = r"""#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* Writes /tmp/probe and reads it back, tries to create a file at the root, and prints that
   with its uid and the CapEff/NoNewPrivs lines of /proc/self/status: what compose.yaml set. */
int main(void) {
    char text[64] = "", line[256];
    FILE *f = fopen("/tmp/probe", "w");
    if (!f || fprintf(f, "written by %d", (int)getuid()) < 0 || fclose(f) != 0) {
        perror("write /tmp/probe"); return 1;
    }
    f = fopen("/tmp/probe", "r");
    if (!f || !fgets(text, sizeof text, f)) { perror("read /tmp/probe"); return 1; }
    fclose(f);
    int fd = open("/root-probe", O_WRONLY | O_CREAT, 0644);
    printf("tmp=%s root=%s uid=%d", text, fd < 0 ? strerror(errno) : "writable", (int)getuid());
    f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "NoNewPrivs:", 11))
            printf(" %.*s", (int)strcspn(line, "\n"), line);
    printf("\n");
    return 0;
}
"""


@pytest.fixture(scope="module")
def compose_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """COMPOSE_PROBE_C, static (the image has no shell or libc to run a script with)."""
    compiler = shutil.which("musl-gcc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("a C compiler (musl-gcc or gcc) is needed to build the compose probe")
    work = tmp_path_factory.mktemp("compose-probe")
    (work / "probe.c").write_text(COMPOSE_PROBE_C)
    subprocess.run([compiler, "-static", "-Os", "-o", str(work / "probe"), str(work / "probe.c")],
                   check=True, capture_output=True)  # fmt: skip
    return work / "probe"


def test_tmp_is_writable_under_the_generated_compose_file(
    podman: Runner,
    compose_probe: Path,
    tool_env: dict[str, str],
    tmp_path: Path,
    unique_name: str,
) -> None:
    """The compose.yaml init writes, as written, run by podman-compose: `build` makes the
    production target from init's Dockerfile (podman build), `run` starts the service with
    the file's read_only, tmpfs /tmp, user and cap_drop/security_opt. As 65532 the probe
    writes /tmp (through the file's tmpfs line: podman's own /tmp tmpfs for --read-only is
    turned off) and reads it back, and cannot create a file at the root. The sample's
    program is renamed to the test's unique name, which init makes the service and image
    name, so that parallel runs do not share an image."""
    if importlib.util.find_spec("podman_compose") is None:
        unavailable("podman-compose is not installed (requirements-dev.lock pins it)")
    name, packages = BUILDERS["c"]
    builder = debian_image(podman, "podman", packages, name)
    project = _copy_sample("c", tmp_path)
    makefile = (project / "Makefile").read_text().replace("hello:", "$(BIN):")
    (project / "Makefile").write_text(f"BIN = {unique_name}\n{makefile}")
    assert run_cli("init", str(project), "--no-pin").code == 0
    compose_file = project / "compose.yaml"
    assert f"image: {unique_name}:latest" in compose_file.read_text()

    def compose(*args: str, timeout: float = 180, check: bool = True) -> str:
        cmd = [sys.executable, "-m", "podman_compose", "-f", str(compose_file), "-p",
               unique_name, *args]  # fmt: skip
        proc = subprocess.run(cmd, env=tool_env, capture_output=True, timeout=timeout,
                              check=False)  # fmt: skip
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        failed = f"{' '.join(args)} exited {proc.returncode}\n{out}\n{err}"
        assert proc.returncode == 0 or not check, failed
        return out

    try:
        compose("build", "--build-arg", f"BUILDER_IMAGE={builder}", timeout=900)
        assert "hello from c-hello uid=65532\n" in compose("run", "--rm", "-T", unique_name)
        # podman's --read-only mounts a tmpfs on /tmp by itself (--read-only-tmpfs, default
        # true; docker's does not): off, so that /tmp is writable through the file's tmpfs
        # line alone, as under docker compose (without that line the write fails: EROFS).
        no_implicit_tmp = "--podman-run-args=--read-only-tmpfs=false"  # before the command
        out = compose(no_implicit_tmp, "run", "--rm", "-T", "-v", f"{compose_probe}:/probe:ro",
                      "--entrypoint", "/probe", unique_name)  # fmt: skip
        assert (
            "tmp=written by 65532 root=Read-only file system uid=65532"
            " CapEff:\t0000000000000000 NoNewPrivs:\t1\n"
        ) in out
    finally:
        compose("down", timeout=120, check=False)
        podman("rmi", "-f", f"localhost/{unique_name}:latest", check=False)


@pytest.mark.parametrize("name", ["Dockerfile", ".dockerignore", "compose.yaml"])
def test_init_never_writes_through_a_symlink_out_of_the_project(tmp_path: Path, name: str) -> None:
    """A cloned project can link one of init's names to a file, FIFO or device elsewhere.
    Without --force that is an existing file; with --force the link is replaced by the file
    and nothing outside changes. A FIFO behind a link was written through (red team
    2026-12-03): a reader of it got the compose file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("keep\n")
    os.mkfifo(outside / "fifo")
    for target in ("target", "fifo", "absent"):
        project = _copy_sample("go", tmp_path / target)
        link = project / name
        link.symlink_to(outside / target)
        assert_clean_error(run_cli("init", str(project), "--no-pin"), 2, name, "--force")
        assert link.is_symlink()
        # a reader on the FIFO: a write through it would reach it and not block
        reader = os.open(outside / "fifo", os.O_RDONLY | os.O_NONBLOCK)
        try:
            forced = run_cli("init", str(project), "--no-pin", "--force")
            assert forced.code == 0, forced.stderr
            assert os.read(reader, 4096) == b""
        finally:
            os.close(reader)
        assert not link.is_symlink() and link.stat().st_size > 0
        assert (outside / "target").read_text() == "keep\n"
        assert not (outside / "absent").exists()
        assert sorted(p.name for p in outside.iterdir()) == ["fifo", "target"]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_init_refuses_a_directory_or_fifo_before_writing_anything(
    tmp_path: Path, kind: str
) -> None:
    """A directory (or FIFO) named .dockerignore: init wrote the Dockerfile over the old one,
    then failed on it with "Is a directory", leaving half a set of files (red team
    2026-12-03). It is refused first, --force or not, and nothing is written."""
    project = _copy_sample("go", tmp_path)
    (project / "Dockerfile").write_text("FROM scratch\n")
    blocker = project / ".dockerignore"
    if kind == "directory":
        blocker.mkdir()
    else:
        os.mkfifo(blocker)
    for force in ([], ["--force"]):
        result = run_cli("init", str(project), "--no-pin", *force)
        what = "a directory" if kind == "directory" else "not a regular file"
        assert_clean_error(result, 2, ".dockerignore", what)
        assert (project / "Dockerfile").read_text() == "FROM scratch\n"
        assert not (project / "compose.yaml").exists()
