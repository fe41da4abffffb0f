"""``scratchpack lint`` on hostile Dockerfiles, through the real CLI: no traceback ever, and a
file it will not read is one ``FILE:LINE: ...`` line with exit 2. Each case was a crash, a hang
or unbounded memory before (issue 12; found by hand or by tests/fuzz, see docs/fuzzing.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, CliResult, assert_clean_error, not_progress, run_cli
from scratchpack.dockerfile.parser import MAX_LINES, MAX_SIZE, MAX_STAGES, MAX_WORD
from scratchpack.dockerfile.shell import MAX_PIPES

NESTED = 1000


def lint(tmp_path: Path, content: str | bytes) -> tuple[Path, CliResult]:
    path = tmp_path / "Dockerfile"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path, run_cli("lint", "--format", "json", path)


def assert_linted(result: CliResult) -> None:
    """Linted without an error: findings as JSON, exit 0 or 1, nothing on stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in (0, 1), (result.code, result.stderr)
    assert result.stderr == "", result.stderr
    assert isinstance(result.json(), list)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("FROM alpine\n\\", ":2: line continuation (\\) with no instruction"),
        ("FROM alpine\n\\\n\n# a comment\n", ":2: line continuation"),
        ("# escape=`\nFROM alpine\n`", ":3: line continuation (`)"),
        ("\\", ":1: line continuation"),
        # BuildKit's messages name no line; each used to be reported at line 1
        ("FROM a\nRUN x\nENV a\nRUN y\n", ":3: ENV must have two arguments"),
        ("FROM a\nRUN x \\\n  y\n\n# c\nENV b\n", ":6: ENV must have two arguments"),
    ],
)
def test_parse_errors_name_their_line(tmp_path: Path, content: str, where: str) -> None:
    """A trailing escape at the end of the file was a traceback; BuildKit's errors said :1:."""
    path, result = lint(tmp_path, content)
    assert_clean_error(result, 2, f"{path}{where}")


@pytest.mark.parametrize(
    "run",
    [
        "(" * NESTED + "echo hi" + ")" * NESTED,
        "echo " + "$(" * NESTED + "x" + ")" * NESTED,
        "{ " * NESTED + "apt-get install x;" + " }" * NESTED,
        "sh -c '" + "(" * NESTED + "apt-get install x" + ")" * NESTED + "'",
    ],
)
def test_deep_nesting_in_run_is_linted(tmp_path: Path, run: str) -> None:
    _, result = lint(tmp_path, f"FROM alpine\nRUN {run}\n")
    assert_linted(result)


def test_nested_commands_are_still_found(tmp_path: Path) -> None:
    run = "( " * NESTED + "apt-get install -y curl" + " )" * NESTED  # "((" is arithmetic
    _, result = lint(tmp_path, f"FROM alpine\nRUN {run}\n")
    assert_linted(result)
    assert "SP200" in {f["code"] for f in result.json()}  # the install without the flag


def test_empty_exec_form_run(tmp_path: Path) -> None:
    _, result = lint(tmp_path, "FROM alpine\nRUN []\nRUN [ ]\n")
    assert_linted(result)


def _peak_rss_kib(*args: str | Path) -> tuple[int, CliResult]:
    """Run the CLI in a child of a fresh interpreter and return the CLI's own peak RSS."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stdout.write(f'{rss}\\n{p.returncode}\\n{p.stdout}'); sys.stderr.write(p.stderr)\n"
    )
    command = [sys.executable, "-c", probe, sys.executable, "-m", "scratchpack", *map(str, args)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    rss, code, stdout = proc.stdout.split("\n", 2)
    return int(rss), CliResult(int(code), stdout, proc.stderr)


def test_huge_file_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    with path.open("w") as out:
        out.write("FROM alpine\n")
        for _ in range(50):  # 50 MB
            out.write("RUN echo 0123456789012345678901234567890123456789012345678901234\n" * 16384)
    rss, result = _peak_rss_kib("lint", path)
    assert_clean_error(result, 2, f"{path}:1: larger than {MAX_SIZE >> 10} KiB")
    assert rss < 150 * 1024, f"peak RSS {rss} KiB for a refused file"


def test_endless_file_is_refused(tmp_path: Path) -> None:
    _, result = _peak_rss_kib("lint", "/dev/zero")
    assert_clean_error(result, 2, "/dev/zero:1: larger than")


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("FROM alpine\nRUN echo " + "a " * (1 << 19) + "\n", ":1: larger than"),  # 1 MB line
        ("FROM alpine\n" + "RUN echo 1\n" * 100_000, ":1: larger than"),  # 100k instructions
        ("FROM alpine\nRUN " + "a " * 40_000 + "\n", ":2: line longer than 65535 bytes"),
        ("FROM alpine\n" + "RUN a\n" * MAX_LINES, f":{MAX_LINES + 1}: more than {MAX_LINES}"),
        ("FROM alpine\nENV A=" + "x" * (MAX_WORD + 1) + "\n", ":2: a word longer than"),
        ("FROM alpine\nRUN echo " + ("x" * 100 + "\\\n") * (MAX_WORD // 100 + 1), ":2: a word"),
        ("FROM a AS s\n" * (MAX_STAGES + 1), f":{MAX_STAGES + 1}: more than {MAX_STAGES} stages"),
        (
            "FROM alpine\nRUN echo hi\nRUN " + "a | " * (MAX_PIPES + 1) + "a\n",
            f":3: shell script with more than {MAX_PIPES} '|'",
        ),
    ],
)
def test_absurd_sizes_are_refused(tmp_path: Path, content: str, where: str) -> None:
    path, result = lint(tmp_path, content)
    assert_clean_error(result, 2, f"{path}{where}")


def test_shell_the_grammar_cannot_read_in_time_is_refused(tmp_path: Path) -> None:
    """tree-sitter-bash's error recovery is quadratic on ``a) a) a) ...``: the file's parsing
    budget runs out at one of these RUNs (which one depends on the machine's speed)."""
    path, result = lint(tmp_path, "FROM alpine\nRUN echo ok\n" + ("RUN " + "a) " * 8000 + "\n") * 8)
    assert_clean_error(result, 2, "shell script too complex to read in")
    assert re.search(rf"{re.escape(str(path))}:([3-9]|10): shell", result.stderr)


def test_many_files_one_hostile(tmp_path: Path) -> None:
    """A hostile file is reported and the others are still linted."""
    good = tmp_path / "good.Dockerfile"
    good.write_text("FROM alpine\nRUN apt-get install curl\n")
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM alpine\nRUN " + "a|" * 2000 + "a\n")
    result = run_cli("lint", "--format", "json", bad, good)
    assert_clean_error(result, 2, f"{bad}:2: shell script")
    records = {(f["file"], f["code"], f["line"]) for f in json.loads(result.stdout)}
    assert {(name, line) for name, code, line in records if code == "SP000"} == {(str(bad), 2)}
    assert {name for name, code, _ in records if code != "SP000"} == {str(good)}


def test_fuzz_seed_corpus_lints_through_the_cli() -> None:
    """Every Dockerfile seed, hostile ones included, in one CLI run: findings or clean errors."""
    seeds = sorted((ROOT / "tests/fuzz/corpus/dockerfile").iterdir())
    result = run_cli("lint", "--format", "json", "--failure-threshold", "none", *seeds)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in (0, 2), result.stderr
    for line in not_progress(result.stderr):  # (a tree of files also reports its steps)
        assert line.startswith("scratchpack: error: ") and "/tests/fuzz/corpus/" in line, line


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("FROM a\nHEALTHCHECK \u981d x\n", 2),  # found by tests/test_fuzz.py (hypothesis)
        ("FROM a\nRUN echo\nCOPY --\u981d a b\n", 3),
    ],
)
def test_non_ascii_flags_are_a_parse_error(tmp_path: Path, content: str, line: int) -> None:
    path, result = lint(tmp_path, content)
    assert_clean_error(result, 2, f"{path}:{line}: a flag or keyword that is not ASCII")


def test_non_ascii_after_a_brace_does_not_crash_the_grammar(tmp_path: Path) -> None:
    """tree-sitter-bash 0.25.1 segfaulted on ``{\\U000692a1`` in about one process in three
    (found by tests/test_fuzz.py); eight runs in a row make a miss unlikely."""
    _, first = lint(tmp_path, "FROM alpine\nRUN a{\U000692a1 && echo caf\u00e9\n")
    assert_linted(first)
    for _ in range(7):
        assert_linted(run_cli("lint", "--format", "json", tmp_path / "Dockerfile"))


_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        (".hadolint.yaml", _BOMB + "format: *i\n", "format must be a single value"),
        (".hadolint.yaml", _BOMB + "failure-threshold: *i\n", "failure-threshold must be"),
        (".hadolint.yaml", _BOMB + "ignored: *i\n", "ignored must be a list"),
        (
            ".hadolint.yaml",
            "ignored: " + "[" * 5000 + "]" * 5000 + "\n",
            "invalid YAML: nested too deeply",
        ),
        (".hadolint.yaml", "ignored: DL3008\n", "ignored must be a list"),
        (".hadolint.yaml", 'override:\n  "err\\nor": [DL3008]\n', "override.err or: expected"),
        (".hadolint.yaml", "a: " + "x" * (1 << 20) + "\n", "configuration larger than 1 MiB"),
        (".scratchpack.toml", "ignore = 5\n", "ignore must be a list"),
        (".scratchpack.toml", 'ignore = "SP200"\n', "ignore must be a list"),
        (".scratchpack.toml", 'severity = "x"\n', "[severity] must map rule codes"),
        (
            ".scratchpack.toml",
            "trusted-registries = {a = 1}\n",
            "trusted-registries must be a list",
        ),
        (".scratchpack.toml", '"a\\nb" = 1\n', "unknown key(s) a b"),
    ],
)
def test_hostile_configuration_is_one_clear_error(
    tmp_path: Path, name: str, text: str, fragment: str
) -> None:
    """A repository's own configuration is input too (CI lints pull requests): an alias bomb,
    deep nesting, a huge file or a value of the wrong type is one line and exit 2, at once."""
    (tmp_path / name).write_text(text)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = run_cli("lint", "--no-shellcheck", cwd=tmp_path)
    assert_clean_error(result, 2, f"{name}: {fragment}")


FIXABLE_FILE = "FROM alpine:3.21@sha256:" + "a" * 64 + "\nRUN apk add curl\nUSER 1\n"


def test_fix_refuses_a_read_only_file_and_goes_on_with_the_others(tmp_path: Path) -> None:
    """A Dockerfile its owner made read-only (0444) was replaced by --fix (a rename needs
    only the directory writable, and root ignores modes): refused, as a file error, and
    the next file is fixed (red team 2026-12-03)."""
    locked, other = tmp_path / "locked", tmp_path / "other"
    for path in (locked, other):
        path.write_text(FIXABLE_FILE)
    locked.chmod(0o444)
    result = run_cli("lint", "--fix", "--no-pin", str(locked), str(other))
    assert_clean_error(result, 2, "locked: read-only (mode 0444)", "not fixed")
    assert locked.read_text() == FIXABLE_FILE and locked.stat().st_mode & 0o777 == 0o444
    assert "apk add --no-cache curl" in other.read_text()


def test_fix_of_a_pipe_is_refused_in_one_line(tmp_path: Path) -> None:
    """``lint --fix <(cat Dockerfile)``: the pipe's /proc link resolves to no path, and the
    error was "No such file or directory (/proc/N/fd/pipe:[M])" with exit 1 (red team
    2026-12-03). --diff of it still works."""
    script = (
        f"cd {tmp_path} && {sys.executable} -m scratchpack "
        "lint {mode} --no-pin <(printf '%s' \"$DOCKERFILE\")"
    )
    env = {**os.environ, "DOCKERFILE": FIXABLE_FILE}
    fixing = subprocess.run(
        ["bash", "-c", script.format(mode="--fix")], capture_output=True, text=True, env=env,
        check=False, timeout=120,
    )  # fmt: skip
    assert_clean_error(
        CliResult(fixing.returncode, fixing.stdout, fixing.stderr),
        2,
        "not a regular file: it can be linted, not fixed",
    )
    assert list(tmp_path.iterdir()) == []
    diff = subprocess.run(
        ["bash", "-c", script.format(mode="--diff")], capture_output=True, text=True, env=env,
        check=False, timeout=120,
    )  # fmt: skip
    assert diff.returncode == 1 and "+RUN apk add --no-cache curl" in diff.stdout, diff.stderr


def test_fix_keeps_what_an_editor_saved_meanwhile(tmp_path: Path) -> None:
    """The file changed between --fix reading it and replacing it (an editor saving, not
    excluded by the fix lock): the fixed old text replaced the new one. Now the new text
    stays and the file's error says why (red team 2026-12-03). The digest lookup is where
    the editor saves: it runs between the read and the write."""
    from scratchpack.operations.lint import fix_file

    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.21\nRUN apk add curl\nUSER 1\n")
    saved = "FROM alpine:3.21\nRUN apk add git\nUSER 1\n"

    def editor_saves(base: str) -> str:
        path.write_text(saved)
        return "sha256:" + "b" * 64

    report, result = fix_file(path, resolve=editor_saves, write=True)
    assert result is None and report.error is not None
    assert "changed while it was being fixed: not written" in report.error
    assert path.read_text() == saved
