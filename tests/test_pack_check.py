"""``--check CMD`` on real podman: every kind of pack runs the probe in the new image before
writing it (static, dynamic with its libraries, on --base), locked down (read-only, no
capabilities, no network, as the run user, a tmpfs /tmp); a failing or hanging probe writes
nothing and shows its output; ``audit IMAGE --check`` runs the same probe on an image."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from helpers import assert_clean_error, run_cli, static_cc
from realtools import Runner

PROBE = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "ok";
    if (!strcmp(mode, "ok")) {
        printf("probe ok as uid %d gid %d\n", (int)getuid(), (int)getgid());
        return 0;
    }
    if (!strcmp(mode, "fail")) {
        for (int i = 0; i < 40; i++) printf("line %d of the probe's stdout\n", i);
        fprintf(stderr, "the probe says why it failed\n");
        return 3;
    }
    if (!strcmp(mode, "sleep")) { sleep(120); return 0; }
    if (!strcmp(mode, "locked")) {  /* capabilities, privileges and network interfaces */
        char line[512];
        FILE *f = fopen("/proc/self/status", "r");
        if (!f) { perror("/proc/self/status"); return 5; }
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "CapBnd:", 7) || !strncmp(line, "CapEff:", 7) ||
                !strncmp(line, "NoNewPrivs:", 11)) fputs(line, stdout);
        fclose(f);
        f = fopen("/proc/net/dev", "r");
        if (!f) { perror("/proc/net/dev"); return 6; }
        for (int n = 0; fgets(line, sizeof line, f); n++) {
            char *colon = strchr(line, ':'), *name = line;
            if (n < 2 || !colon) continue;  /* two header lines */
            *colon = 0;
            while (*name == ' ') name++;
            printf("interface %s\n", name);
        }
        fclose(f);
        return 0;
    }
    if (!strcmp(mode, "write")) {
        FILE *f = fopen(argv[2], "w");
        if (!f) { perror(argv[2]); return 4; }
        fputs("x", f); fclose(f); puts("wrote"); return 0;
    }
    return 9;
}
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("probe")
    static = directory / "probe"
    subprocess.run([*static_cc(), "-o", str(static), "-x", "c", "-"], input=PROBE.encode(),
                   check=True)  # fmt: skip
    dynamic = directory / "dynprobe"
    subprocess.run(["gcc", "-O1", "-o", str(dynamic), "-x", "c", "-"], input=PROBE.encode(),
                   check=True)  # fmt: skip
    return {"static": static, "dynamic": dynamic}


def _pack(binary: Path, dest: str, *extra: str) -> tuple[int, dict[str, object] | None, str]:
    result = run_cli("pack", binary, "-o", dest, "--tz", "none", "--format", "json", *extra)
    return result.code, (json.loads(result.stdout) if result.code == 0 else None), result.stderr


def _left_in_podman(podman: Runner, image_id: str) -> bool:
    return podman("image", "exists", image_id.removeprefix("sha256:"), check=False).returncode == 0


def test_a_passing_probe_writes_the_image_and_reports_the_run(
    tmp_path: Path, podman: Runner, programs: dict[str, Path]
) -> None:
    out = tmp_path / "out"
    code, plain, stderr = _pack(programs["static"], f"oci:{tmp_path / 'plain'}:v1")
    assert code == 0 and plain is not None, stderr
    podman("rmi", "--force", str(plain["image_id"]).removeprefix("sha256:"), check=False)
    code, report, stderr = _pack(programs["static"], f"oci:{out}:v1", "--check", '["ok"]')
    assert code == 0, stderr
    assert report is not None
    check = report["check"]
    assert isinstance(check, dict)
    assert check["passed"] is True and check["engine"] == "podman"
    assert check["argv"] == ["/usr/local/bin/probe", "ok"]
    assert "probe ok as uid 65532 gid 65532" in str(check["stdout_tail"])
    assert (out / "index.json").is_file()
    # the engine's copy is gone again; the written image runs the same
    assert not _left_in_podman(podman, str(report["image_id"]))
    assert report["image_id"] == plain["image_id"]  # the probe changes nothing in the image
    ran = podman("run", "--rm", f"oci:{out}:v1", "ok")
    assert ran.stdout.startswith(b"probe ok")
    podman("rmi", "--force", str(report["image_id"]).removeprefix("sha256:"), check=False)
    text = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'text'}:v1", "--tz",
                   "none", "--check", "ok")  # fmt: skip
    assert text.code == 0, text.stderr
    checked = [line for line in text.stdout.splitlines() if line.startswith("Checked")]
    assert len(checked) == 1 and "exited 0" in checked[0], text.stdout


def test_a_failing_probe_writes_nothing_and_shows_its_output(
    tmp_path: Path, podman: Runner, programs: dict[str, Path]
) -> None:
    for dest in (f"oci:{tmp_path / 'out'}:v1", f"docker-archive:{tmp_path / 'app.tar'}"):
        result = run_cli("pack", programs["static"], "-o", dest, "--tz", "none", "--check", "fail")
        assert_clean_error(result, 1, "--check failed", "exited 3", "was not written")
        assert "stdout| line 39 of the probe's stdout" in result.stderr
        assert "stdout| line 0 of" not in result.stderr  # only the tail
        assert "stderr| the probe says why it failed" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, no scratch left


def test_the_probe_runs_read_only_with_a_writable_tmp_as_the_run_user(
    tmp_path: Path, podman: Runner, programs: dict[str, Path]
) -> None:
    ok, _, stderr = _pack(programs["static"], f"oci:{tmp_path / 'a'}:v1",
                          "--check", "write /tmp/x")  # fmt: skip
    assert ok == 0, stderr
    home = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'b'}:v1", "--tz", "none",
                   "--check", "write /home/nonroot/x")  # fmt: skip
    assert_clean_error(home, 1, "exited 4")
    assert "Read-only file system" in home.stderr
    root = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'c'}:v1", "--tz", "none",
                   "--user", "root", "--check", "ok")  # fmt: skip
    assert root.code == 0, root.stderr
    assert not (tmp_path / "b").exists()


def test_the_probe_has_no_capabilities_no_new_privileges_and_no_network(
    tmp_path: Path, podman: Runner, programs: dict[str, Path]
) -> None:
    """As root in the image, so that capabilities would show if the probe kept any: the
    bounding and effective sets are empty, no-new-privileges is set, and loopback is the only
    interface. The same image run without the lock-down shows all three differ."""
    code, report, stderr = _pack(programs["static"], f"oci:{tmp_path / 'out'}:v1",
                                 "--user", "root", "--check", "locked")  # fmt: skip
    assert code == 0 and report is not None, stderr
    check = report["check"]
    assert isinstance(check, dict)
    lines = str(check["stdout_tail"]).splitlines()
    assert "CapBnd:\t0000000000000000" in lines and "CapEff:\t0000000000000000" in lines, lines
    assert "NoNewPrivs:\t1" in lines, lines
    assert [line for line in lines if line.startswith("interface ")] == ["interface lo"], lines
    plain = podman("run", "--rm", f"oci:{tmp_path / 'out'}:v1", "locked").stdout.decode()
    assert "CapBnd:\t0000000000000000" not in plain.splitlines(), plain
    assert "NoNewPrivs:\t0" in plain.splitlines(), plain
    assert len([line for line in plain.splitlines() if line.startswith("interface ")]) > 1, plain
    podman("rmi", "--force", str(report["image_id"]).removeprefix("sha256:"), check=False)


def test_a_dynamic_program_is_probed_with_its_library_closure(
    tmp_path: Path, podman: Runner, programs: dict[str, Path]
) -> None:
    code, report, stderr = _pack(programs["dynamic"], f"oci:{tmp_path / 'dyn'}:v1",
                                 "--check", "ok")  # fmt: skip
    assert code == 0, stderr
    assert report is not None and report["libraries"] is not None
    # without its libraries the same program cannot start: the probe catches it
    alone = run_cli("pack", programs["dynamic"], "-o", f"oci:{tmp_path / 'alone'}:v1", "--tz",
                    "none", "--allow-dynamic", "--check", "ok")  # fmt: skip
    assert_clean_error(alone, 1, "--check failed", "was not written")
    assert not (tmp_path / "alone").exists()


def test_on_a_base_the_probe_runs_on_top_of_it(
    tmp_path: Path, podman: Runner, programs: dict[str, Path], debian_docker: str
) -> None:
    code, report, stderr = _pack(programs["dynamic"], f"oci:{tmp_path / 'b'}:v1", "--base",
                                 f"docker-daemon:{debian_docker}", "--check", "ok")  # fmt: skip
    assert code == 0, stderr
    assert report is not None and report["base"]
    check = report["check"]
    assert isinstance(check, dict) and "uid 65532" in str(check["stdout_tail"])
    probed_other = run_cli("pack", programs["dynamic"], "-o", f"oci:{tmp_path / 'c'}:v1",
                           "--base", f"docker-daemon:{debian_docker}", "--check", "/etc",
                           "--check-entrypoint", '["/bin/ls", "-d"]',
                           "--format", "json")  # fmt: skip
    assert probed_other.code == 0, probed_other.stderr
    assert json.loads(probed_other.stdout)["check"]["stdout_tail"] == "/etc\n"


def test_a_probe_that_hangs_is_killed_at_the_timeout(
    tmp_path: Path, podman: Runner, programs: dict[str, Path]
) -> None:
    started = time.monotonic()
    result = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'out'}:v1", "--tz",
                     "none", "--check", "sleep", "--check-timeout", "3")  # fmt: skip
    assert time.monotonic() - started < 60
    assert_clean_error(result, 1, "timed out after 3 s", "was not written")
    assert not (tmp_path / "out").exists()
    left = podman("ps", "-a", "--filter", "name=scratchpack-probe-", "--format", "{{.Names}}")
    assert left.stdout.strip() == b""


def test_audit_runs_the_probe_on_an_existing_image(
    tmp_path: Path, podman: Runner, programs: dict[str, Path]
) -> None:
    image = f"oci:{tmp_path / 'out'}:v1"
    assert run_cli("pack", programs["static"], "-o", image, "--tz", "none").code == 0
    passed = run_cli("audit", image, "--check", "ok", "--format", "json")
    assert passed.code == 0, passed.stderr
    assert json.loads(passed.stdout)["check"]["passed"] is True
    failed = run_cli("audit", image, "--check", "fail")
    assert_clean_error(failed, 1, "--check failed", "exited 3")
    assert "stderr| the probe says why it failed" in failed.stderr


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--check-entrypoint", "/bin/x"], "--check-entrypoint goes with --check"),
        (["--check", "[1, 2]"], "invalid --check"),
        (["--check", '["unclosed'], "invalid --check"),
        (["--check", "ok", "--check-timeout", "0"], "--check-timeout: must be a positive number"),
        (["--check", ""], "--check needs a command"),
    ],
)
def test_bad_check_flags_are_usage_errors(
    tmp_path: Path, programs: dict[str, Path], flags: list[str], fragment: str
) -> None:
    result = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'o'}:v1", *flags)
    assert_clean_error(result, 2, fragment)
    assert not (tmp_path / "o").exists()


def test_without_podman_the_probe_runs_under_dockerd(
    tmp_path: Path, docker: Runner, programs: dict[str, Path], tool_env: dict[str, str]
) -> None:
    """Only docker on PATH: the image is loaded into the daemon, probed, and removed again."""
    import shutil

    tools = tmp_path / "bin"
    tools.mkdir()
    found = shutil.which("docker", path=tool_env.get("PATH"))
    assert found is not None
    (tools / "docker").symlink_to(found)
    env = {**tool_env, "PATH": str(tools)}
    out = tmp_path / "out"
    passed = run_cli("pack", programs["static"], "-o", f"oci:{out}:v1", "--tz", "none",
                     "--format", "json", "--check", "ok", env=env)  # fmt: skip
    assert passed.code == 0, passed.stderr
    report = json.loads(passed.stdout)
    assert report["check"]["engine"] == "docker"
    assert "probe ok as uid 65532" in report["check"]["stdout_tail"]
    assert docker("image", "inspect", report["image_id"], check=False).returncode != 0
    locked = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'l'}:v1", "--tz",
                     "none", "--user", "root", "--format", "json", "--check", "locked",
                     env=env)  # fmt: skip
    assert locked.code == 0, locked.stderr
    lines = json.loads(locked.stdout)["check"]["stdout_tail"].splitlines()
    assert "CapBnd:\t0000000000000000" in lines and "NoNewPrivs:\t1" in lines, lines
    assert [line for line in lines if line.startswith("interface ")] == ["interface lo"], lines
    failed = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'f'}:v1", "--tz",
                     "none", "--check", "write /etc/x", env=env)  # fmt: skip
    assert_clean_error(failed, 1, "under docker", "exited 4")
    assert "Read-only file system" in failed.stderr
    assert not (tmp_path / "f").exists()
    none = run_cli("pack", programs["static"], "-o", f"oci:{tmp_path / 'n'}:v1", "--check", "ok",
                   env={**tool_env, "PATH": str(tmp_path / "empty")})  # fmt: skip
    assert_clean_error(none, 1, "neither is installed")
