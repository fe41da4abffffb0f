"""``scratchpack lint`` over a corpus of Dockerfiles written for the test suite.

``tests/data/lint-corpus/`` holds over a hundred Dockerfiles: every language, single and
multi-stage, scratch/distroless/alpine/debian/ubuntu/Windows bases, and odd syntax (parser
directives, heredocs, continuation comments, CRLF, a BOM, lowercase instructions, JSON and
shell forms...). Each begins, after its parser directives, with ``# corpus-expect: CODES`` (the
rules that must fire; others may) or ``# corpus-expect: none-above-info`` (no warning or
error). ``invalid/`` holds files that must be refused with a clean error and a position.

The whole corpus is linted in one process per format; the output must be byte-identical when
run again and must not depend on the order of the arguments.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, CliResult, assert_clean_error, not_progress, run_cli
from scratchpack.dockerfile.rules import RULES
from scratchpack.operations.lint import PARSE_ERROR

CORPUS = ROOT / "tests/data/lint-corpus"
EXPECT = re.compile(r"# corpus-expect: (.*?)\s*$")
DIRECTIVE = re.compile(r"#\s*(syntax|escape|check)\s*=", re.IGNORECASE)
CLEAN = "none-above-info"

# invalid/ file -> what its one error line must say, position included
INVALID = {
    "empty.Dockerfile": ":1: file with no instructions",
    "comments-only.Dockerfile": ":1: file with no instructions",
    "binary-garbage.Dockerfile": ":1: not a Dockerfile (binary data)",
    "latin1-bytes.Dockerfile": ":3: not valid UTF-8",
    "unknown-instruction.Dockerfile": ":4: unknown instruction COPYY",
    "unterminated-heredoc.Dockerfile": ":4: unterminated heredoc",
    "run-before-from.Dockerfile": ":3: RUN before the first FROM",
}


def corpus_files() -> list[str]:
    """The valid Dockerfiles, relative to the corpus (the lint runs there: short paths)."""
    return sorted(
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*.Dockerfile")
        if p.parent.name != "invalid"
    )


def invalid_files() -> list[str]:
    return sorted(f"invalid/{name}" for name in INVALID)


def expectation(name: str) -> list[str]:
    """The codes a file must report, or [CLEAN]; the header must follow the directives."""
    lines = (CORPUS / name).read_bytes().decode("utf-8-sig").splitlines()
    for line in lines:
        if DIRECTIVE.match(line) and not EXPECT.match(line):
            continue
        match = EXPECT.match(line)
        assert match, f"{name}: the first line after the directives must be # corpus-expect:"
        words = match.group(1).split()
        assert words, f"{name}: # corpus-expect: lists nothing"
        return words
    raise AssertionError(f"{name}: no # corpus-expect: header")


def rule_findings(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON records of rules, without those of files that could not be parsed."""
    return [r for r in records if r["code"] != PARSE_ERROR]


def by_file(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        grouped.setdefault(finding["file"], []).append(finding)
    return grouped


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty configuration: no .scratchpack.toml or pyproject.toml above may change it."""
    path = tmp_path_factory.mktemp("config") / "empty.toml"
    path.write_text("")
    return path


def lint(config: Path, *args: str) -> CliResult:
    return run_cli("lint", "--config", config, *args, cwd=CORPUS)


@pytest.fixture(scope="module")
def json_run(config: Path) -> CliResult:
    return lint(config, "--format", "json", *corpus_files(), *invalid_files())


def assert_errors_reported(result: CliResult) -> None:
    """No traceback, and exactly one positioned error line per invalid file."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = not_progress(result.stderr)  # a tree of files reports its steps too
    assert all(line.startswith("scratchpack: error: invalid/") for line in errors), errors
    for name, fragment in INVALID.items():
        [line] = [e for e in errors if e.startswith(f"scratchpack: error: invalid/{name}:")]
        assert f"invalid/{name}{fragment}" in line, line


def test_the_corpus_is_large_and_varied() -> None:
    files = corpus_files()
    assert len(files) >= 110, len(files)
    data = {name: (CORPUS / name).read_bytes() for name in files}
    assert sum(b"\r\n" in d for d in data.values()) >= 2  # CRLF line endings
    assert any(d.startswith(b"\xef\xbb\xbf") for d in data.values())  # a byte-order mark
    texts = [d.decode("utf-8-sig") for d in data.values()]
    syntax = ("# escape=`", "# syntax=", "# check=", "RUN <<", "COPY <<", "<<-", "ONBUILD",
              "--mount=type=cache", "--link", "--chmod", 'SHELL ["pwsh"', "HEALTHCHECK NONE",
              ":-", ":+", "FROM scratch", "distroless", "sh -c '", "\nrun ", "C:\\")  # fmt: skip
    for needle in syntax:
        assert any(needle in text for text in texts), needle
    clean = [name for name in files if expectation(name) == [CLEAN]]
    assert len(clean) >= 20, clean
    for name in files:
        codes = expectation(name)
        if codes != [CLEAN]:
            assert set(codes) <= set(RULES), (name, set(codes) - set(RULES))
    assert {p.name for p in (CORPUS / "invalid").iterdir()} == set(INVALID)


def test_one_process_lints_the_whole_corpus(json_run: CliResult) -> None:
    # a file that cannot be parsed makes the exit code 2; the others are still reported
    assert json_run.code == 2, json_run.stderr
    assert_errors_reported(json_run)
    # each invalid file is also one parse-error record, at the line its error names
    parse_errors = {f["file"]: f"{f['file']}:{f['line']}: {f['message']}"
                    for f in json_run.json() if f["code"] == PARSE_ERROR}  # fmt: skip
    assert set(parse_errors) == set(invalid_files())
    for name, fragment in INVALID.items():
        assert f"invalid/{name}{fragment}" in parse_errors[f"invalid/{name}"]
    findings = by_file(rule_findings(json_run.json()))
    files = corpus_files()
    assert set(findings) <= set(files), set(findings) - set(files)
    problems = []
    for name in files:
        expected, found = expectation(name), findings.get(name, [])
        if expected == [CLEAN]:
            loud = [f"{f['code']}:{f['line']} {f['severity']}" for f in found]
            if [f for f in found if f["severity"] != "info"]:
                problems.append(f"{name}: expected no warning or error, got {loud}")
        else:
            missing = set(expected) - {f["code"] for f in found}
            if missing:
                problems.append(f"{name}: {sorted(missing)} not reported")
        for f in found:
            known = f["code"] in RULES or re.fullmatch(r"SC\d{4}", f["code"])  # ShellCheck's
            assert known and f["severity"] in ("info", "warning", "error"), f
            assert 1 <= f["line"] <= len((CORPUS / name).read_bytes().splitlines()), f
        assert found == sorted(found, key=lambda f: (f["line"], f["code"])), name
    assert not problems, "\n".join(problems)
    # every file that must report something is in the output
    assert {n for n in files if expectation(n) != [CLEAN]} <= set(findings)


def test_output_is_stable_across_runs_and_argument_order(config: Path, json_run: CliResult) -> None:
    again = lint(config, "--format", "json", *corpus_files(), *invalid_files())
    # (the progress lines are left out: ShellCheck's step is there only when its cache misses)
    assert (again.code, again.stdout, not_progress(again.stderr)) == (
        json_run.code,
        json_run.stdout,
        not_progress(json_run.stderr),
    )
    reordered = [*reversed(invalid_files()), *reversed(corpus_files())]
    backwards = lint(config, "--format", "json", *reordered)
    assert backwards.code == json_run.code
    assert by_file(backwards.json()) == by_file(json_run.json())
    assert sorted(not_progress(backwards.stderr)) == sorted(not_progress(json_run.stderr))


def test_exit_codes(config: Path) -> None:
    clean = [name for name in corpus_files() if expectation(name) == [CLEAN]]
    assert lint(config, *clean).code == 0  # only info findings: below the default threshold
    assert lint(config, "--failure-threshold", "info", *corpus_files()).code == 1
    assert lint(config, "--failure-threshold", "none", *corpus_files()).code == 0


@pytest.mark.parametrize("fmt", ["text", "sarif", "github"])
def test_other_formats_do_not_crash(config: Path, json_run: CliResult, fmt: str) -> None:
    result = lint(config, "--format", fmt, *corpus_files(), *invalid_files())
    assert result.code == 2, result.stderr
    assert_errors_reported(result)
    findings = rule_findings(json_run.json())
    if fmt == "sarif":
        [run] = json.loads(result.stdout)["runs"]
        assert len(run["results"]) == len(findings)
        notifications = run["invocations"][0]["toolExecutionNotifications"]
        assert len(notifications) == len(INVALID)
    elif fmt == "github":
        lines = result.stdout.splitlines()
        assert len(lines) == len(findings) + len(INVALID)
        assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    else:
        headers = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
        assert len(headers) == len(findings)
        assert {h.split(":", 1)[0] for h in headers} == {f["file"] for f in findings}
    assert lint(config, "--format", fmt, *corpus_files(), *invalid_files()).stdout == result.stdout


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_file_alone_is_a_clean_error(config: Path, name: str) -> None:
    result = lint(config, f"invalid/{name}")
    assert_clean_error(result, 2, f"invalid/{name}{INVALID[name]}")
    assert result.stdout == ""
