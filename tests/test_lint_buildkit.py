"""BuildKit's ``docker build --check`` rules (rules/buildkit.py, and the SP rules that declare a
BuildKit name): each fires on the cases BuildKit's documentation gives and not on its good
ones, at the exact place, and answers to its BuildKit name in pragmas, ``--ignore``,
``# check=skip=`` and ``--explain``. No buildx or buildkitd runs on this machine (the test
dockerd is the legacy builder), so the semantics are those BuildKit documents and implements."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import assert_clean_error, run_cli
from scratchpack.dockerfile.config import LintConfig, parse_config
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.rules import RULES, Finding
from scratchpack.dockerfile.rules.buildkit import suggestion, variables
from scratchpack.operations.lint import lint_dockerfile, lint_file
from scratchpack.reports.severity import Severity

PINNED = "debian:12-slim@sha256:" + "a" * 64
BASE = f"FROM {PINNED}\n"


def findings(text: str, code: str, config: LintConfig | None = None) -> list[Finding]:
    return [f for f in lint_dockerfile(parse(text), config=config) if f.code == code]


def places(text: str, code: str) -> list[tuple[int, int]]:
    return [(f.line, f.column) for f in findings(text, code)]


def fires(text: str, code: str, config: LintConfig | None = None) -> bool:
    return bool(findings(text, code, config))


def test_every_buildkit_rule_is_declared_once() -> None:
    names = [r.buildkit for r in RULES.values() if r.buildkit]
    assert len(names) == len(set(names))
    assert set(names) >= {
        "ConsistentInstructionCasing", "CopyIgnoredFile", "DuplicateStageName",
        "ExposeInvalidFormat", "ExposeProtoCasing", "FromAsCasing",
        "FromPlatformFlagConstDisallowed", "InvalidDefaultArgInFrom",
        "InvalidDefinitionDescription", "JSONArgsRecommended", "LegacyKeyValueFormat",
        "MaintainerDeprecated", "MultipleInstructionsDisallowed", "NoEmptyContinuation",
        "RedundantTargetPlatform", "ReservedStageName", "SecretsUsedInArgOrEnv",
        "StageNameCasing", "UndefinedArgInFrom", "UndefinedVar", "WorkdirRelativePath",
    }  # fmt: skip
    assert {RULES[c].buildkit for c in ("SP301", "SP303", "SP304", "SP305", "SP306")} == {
        "WorkdirRelativePath", "JSONArgsRecommended", "DuplicateStageName",
        "MultipleInstructionsDisallowed", "MaintainerDeprecated",
    }  # fmt: skip


# -- casing -----------------------------------------------------------------------------------


def test_consistent_instruction_casing_follows_the_majority() -> None:
    text = f"FROM {PINNED}\nRUN a\nrun b\nCOPY x /x\n"
    assert places(text, "SP341") == [(3, 1)]
    lower = f"from {PINNED}\nrun a\nRUN b\ncopy x /x\n"
    assert places(lower, "SP341") == [(3, 1)]
    mixed = f"FROM {PINNED}\n  Run a\n"  # not self-consistent: wrong whatever the majority
    assert places(mixed, "SP341") == [(2, 3)]
    assert not fires(f"FROM {PINNED}\nRUN a\nONBUILD RUN b\n", "SP341")
    # a tie is upper case, as BuildKit counts it (lower must be the strict majority)
    assert places(f"from {PINNED}\nRUN a\n", "SP341") == [(1, 1)]


def test_from_as_casing_and_stage_name_casing() -> None:
    assert places(f"FROM {PINNED} as build\n", "SP345") == [(1, len(f"FROM {PINNED} ") + 1)]
    assert places(f"from {PINNED} AS build\n", "SP345") == [(1, len(f"from {PINNED} ") + 1)]
    assert not fires(f"FROM {PINNED} AS build\nfrom {PINNED} as b2\n", "SP345")
    assert not fires(f"From {PINNED} as build\n", "SP345")  # ConsistentInstructionCasing's
    assert places(f"FROM {PINNED} AS Build\n", "SP346") == [(1, len(f"FROM {PINNED} AS ") + 1)]
    assert not fires(f"FROM {PINNED} AS build-2\n", "SP346")


def test_reserved_and_duplicate_stage_names() -> None:
    name_at = len(f"FROM {PINNED} AS ") + 1
    assert places(f"FROM {PINNED} AS scratch\nFROM {PINNED}\n", "SP347") == [(1, name_at)]
    assert fires(f"FROM {PINNED} AS Context\nFROM {PINNED}\n", "SP347")
    assert not fires(f"FROM {PINNED} AS contexts\n", "SP347")
    assert places(f"FROM {PINNED} AS a\nFROM {PINNED} AS A\n", "SP304") == [(2, name_at)]


# -- EXPOSE -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "invalid", "casing"),
    [
        ("80", False, False),
        ("80/tcp", False, False),
        ("8000-8010/udp", False, False),
        ("80/TCP", False, True),
        ("80:80", True, False),
        ("127.0.0.1:80:80", True, False),
        ("[::1]:8080:80/Udp", True, True),
        ("$PORT", False, False),
    ],
)
def test_expose_format_and_protocol_casing(port: str, invalid: bool, casing: bool) -> None:
    text = f"{BASE}EXPOSE 22/tcp {port}\n"
    column = len("EXPOSE 22/tcp ") + 1
    assert places(text, "SP343") == ([(2, column)] if invalid else [])
    assert places(text, "SP344") == ([(2, column)] if casing else [])


# -- FROM and its arguments -------------------------------------------------------------------


def test_undefined_arg_in_from_with_did_you_mean() -> None:
    text = "ARG VERSION=12\nFROM debian:${VERSOIN}\n"
    found = findings(text, "SP348")
    assert [(f.line, f.column) for f in found] == [(2, 13)]
    assert "did you mean VERSION?" in found[0].message
    assert not fires("ARG VERSION=12\nFROM debian:${VERSION}\n", "SP348")
    # BuildKit's platform arguments need no ARG in FROM, including in --platform
    assert not fires("FROM --platform=$BUILDPLATFORM debian:$TARGETARCH\n", "SP348")
    assert fires("FROM --platform=$BUILDPLATFROM debian\n", "SP348")
    assert "did you mean" not in findings("FROM debian:$ZZZZZZZZ\n", "SP348")[0].message


def test_invalid_default_arg_in_from() -> None:
    assert places("ARG TAG\nFROM busybox:${TAG}\n", "SP349") == [(2, 6)]
    assert fires("ARG IMAGE\nFROM $IMAGE\n", "SP349")
    assert fires('ARG IMAGE=""\nFROM $IMAGE\n', "SP349")
    assert fires("ARG IMAGE=Alpine\nFROM $IMAGE\n", "SP349")  # upper case: not a name
    assert not fires("ARG TAG=1.37\nFROM busybox:${TAG}\n", "SP349")
    assert not fires("ARG TAG\nFROM busybox:${TAG:-1.37}\n", "SP349")
    assert not fires("FROM busybox:$TARGETARCH\n", "SP349")  # set by BuildKit when building
    assert not fires("ARG BASE=scratch\nFROM $BASE\n", "SP349")
    # ${VAR-word} takes the word only when VAR is unset; an empty default is set
    assert not fires('ARG DEBUG=""\nFROM scratch${DEBUG-@bogus}\n', "SP349")
    assert fires("FROM scratch${DEBUG-@bogus}\n", "SP349")
    assert fires("ARG DEBUG\nFROM scratch${DEBUG-@bogus}\n", "SP349")  # declared, unset
    assert not fires("ARG DEBUG\nFROM scra${DEBUG:-tch}\n", "SP349")


def test_redundant_and_constant_platforms() -> None:
    for flag in ("$TARGETPLATFORM", "${TARGETPLATFORM}"):
        assert places(f"FROM --platform={flag} {PINNED}\n", "SP350") == [(1, 17)]
    assert not fires(f"FROM --platform=$BUILDPLATFORM {PINNED}\n", "SP350")
    assert not fires(f"FROM --platform=${{TARGETPLATFORM}}-x {PINNED}\n", "SP350")
    assert places(f"FROM --platform=linux/amd64 {PINNED}\n", "SP351") == [(1, 17)]
    assert fires(f"FROM --platform=linux/arm64/v8 {PINNED} AS build\n", "SP351")
    assert not fires(f"FROM --platform=linux/amd64 {PINNED} AS build-amd64\n", "SP351")
    assert not fires(f"FROM --platform=linux/arm64 {PINNED} AS linux-tools\n", "SP351")
    assert not fires(f"FROM --platform=$BUILDPLATFORM {PINNED}\n", "SP351")
    assert not fires(f"FROM --platform=not/a/real/platform {PINNED}\n", "SP351")


# -- ENV, LABEL, continuation lines -----------------------------------------------------------


def test_legacy_key_value_format() -> None:
    assert places(f"{BASE}ENV LANG C.UTF-8\n", "SP352") == [(2, 5)]
    assert places(f"{BASE}LABEL maintainer jane\n", "SP352") == [(2, 7)]
    assert not fires(f"{BASE}ENV LANG=C.UTF-8 A=b\nLABEL a=b\n", "SP352")
    assert not fires(f'{BASE}ENV A="b c"\n', "SP352")


def test_no_empty_continuation_points_at_the_empty_line() -> None:
    text = f"{BASE}RUN apt-get update && \\\n\n    apt-get install -y curl\n"
    assert places(text, "SP353") == [(3, 1)]
    spaces = f"{BASE}EXPOSE \\\n   \n80\n"
    assert places(spaces, "SP353") == [(3, 1)]
    # a comment line inside the continuation is fine, and so is a heredoc's empty line
    assert not fires(f"{BASE}RUN a \\\n# why\n    b\n", "SP353")
    assert not fires(f"{BASE}RUN <<EOF\necho a\n\necho b\nEOF\n", "SP353")
    assert places("# escape=`\n" + f"{BASE}RUN a `\n\n  b\n", "SP353") == [(4, 1)]


def test_secrets_used_in_arg_or_env_by_name() -> None:
    for line in ("ARG GITHUB_TOKEN", "ENV AUTH=1", "ARG api_key", "ENV DB_PASSWORD=", "ARG apikey"):
        assert places(f"{BASE}{line}\n", "SP430") == [(2, 5)], line
    for line in ("ARG PUBLIC_KEY", "ARG TOKEN_FILE=/x", "ARG KEYBOARD=us", "ARG MONKEY=x",
                 "ENV SECRET_VERSION=1", "ARG AUTHOR=jane"):  # fmt: skip
        assert not fires(f"{BASE}{line}\n", "SP430"), line
    # a secret value is SP400's error; the name finding does not repeat it
    both = f"{BASE}ENV API_TOKEN=abc123\n"
    assert fires(both, "SP400") and not fires(both, "SP430")
    # KEY alone: a warning whatever the value (GPG_KEY fingerprints are public), never SP400
    for line in ("ENV LICENSE_KEY lgNvGyhnUKpa5PJi", "ENV GPG_KEY=A035C8C19219BA82"):
        assert places(f"{BASE}{line}\n", "SP430") == [(2, 5)], line
        assert not fires(f"{BASE}{line}\n", "SP400"), line


# -- variables --------------------------------------------------------------------------------


def test_variables_as_buildkit_expands_them() -> None:
    assert variables("$A ${B} ${C:-x} ${D:+y} $$") == ["A", "B", "C", "D"]
    assert variables("'$A' \\$B \"$C\"") == ["C"]
    assert suggestion("PAHT", {"PATH", "HOME"}) == "PATH"
    assert suggestion("PATH", {"PATH"}) is None
    assert suggestion("XYZZY", {"PATH"}) is None


def test_undefined_var_from_scratch_reports_every_unknown_name() -> None:
    text = "FROM scratch\nCOPY $foo /\n"
    found = findings(text, "SP354")
    assert [(f.line, f.column) for f in found] == [(2, 6)]
    assert "'$foo'" in found[0].message
    assert not fires("FROM scratch\nARG foo\nCOPY $foo /\n", "SP354")
    assert not fires("FROM scratch\nENV foo=x\nCOPY ${foo} /\n", "SP354")
    assert places("FROM scratch\nARG VERSION=$foo\n", "SP354") == [(2, 13)]
    # shell form is the shell's business, and global ARGs are not seen in a stage
    assert not fires("FROM scratch\nRUN echo $foo\nCMD echo $bar\n", "SP354")
    assert fires("ARG foo=1\nFROM scratch\nCOPY $foo /\n", "SP354")
    assert fires("FROM scratch\nCOPY $TARGETARCH /\n", "SP354")  # needs ARG TARGETARCH
    assert not fires("FROM scratch\nARG TARGETARCH\nCOPY $TARGETARCH /\n", "SP354")
    # used before it is defined
    assert fires("FROM scratch\nCOPY $foo /\nARG foo\n", "SP354")


def test_undefined_var_from_an_image_reports_only_near_misses() -> None:
    typo = f"{BASE}ENV PATH=$PAHT:/app/bin\n"
    found = findings(typo, "SP354")
    assert [(f.line, f.column) for f in found] == [(2, 10)]
    assert "did you mean $PATH?" in found[0].message
    # the image may set PYTHON_VERSION: BuildKit knows, a linter does not
    assert not fires("FROM python:3.13\nARG VERSION=$PYTHON_VERSION\n", "SP354")
    near = f"{BASE}ARG APP_VERSION=1\nLABEL v=$APP_VERSOIN\n"
    assert places(near, "SP354") == [(3, 9)]


def test_undefined_var_follows_stages() -> None:
    text = "FROM scratch AS base\nENV DIR=/app\nFROM base\nWORKDIR $DIR\nCOPY $OTHER /\n"
    assert places(text, "SP354") == [(5, 6)]


# -- .dockerignore ----------------------------------------------------------------------------


def _copy_ignored(tmp_path: Path, ignore: str, copy: str, name: str = ".dockerignore") -> bool:
    (tmp_path / name).write_text(ignore)
    (tmp_path / "Dockerfile").write_text(f"{BASE}{copy}\n")
    return "SP342" in {f.code for f in lint_file(tmp_path / "Dockerfile").findings}


@pytest.mark.parametrize(
    ("ignore", "copy", "flagged"),
    [
        ("*.env\n", "COPY prod.env /app/", True),
        ("*.env\n", "COPY ./prod.env /app/", True),
        ("*.env\n", "COPY conf/prod.env /app/", False),  # * does not cross /
        ("**/*.env\n", "COPY conf/prod.env /app/", True),
        ("secrets\n", "COPY secrets/key.pem /app/", True),  # its directory is excluded
        ("/build\n", "ADD build/app.tar /app/", True),
        ("build?\n", "COPY build1 /app/", True),
        ("# *.env\n", "COPY prod.env /app/", False),
        ("*.env\n!keep.env\n", "COPY prod.env /app/", False),  # BuildKit does not judge those
        ("node_modules\n", "COPY . /app/", False),
        ("*\n", "COPY . /app/", True),
        ("*.env\n", "COPY --from=build prod.env /app/", False),
        ("*.env\n", "COPY $FILE /app/", False),
        ("*.env\n", "ADD https://example.com/a.env /app/", False),
    ],
)
def test_copy_ignored_file(tmp_path: Path, ignore: str, copy: str, flagged: bool) -> None:
    assert _copy_ignored(tmp_path, ignore, copy) is flagged


def test_copy_ignored_file_reads_the_dockerfile_own_ignore_file_first(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dockerignore").write_text("app.conf\n")
    assert _copy_ignored(tmp_path, "other\n", "COPY app.conf /app/")
    report = lint_file(tmp_path / "Dockerfile")
    found = [f for f in report.findings if f.code == "SP342"]
    assert [(f.line, f.column) for f in found] == [(2, 6)]
    assert "Dockerfile.dockerignore" in found[0].message


def test_copy_ignored_file_survives_a_hostile_ignore_file(tmp_path: Path) -> None:
    hostile = "[\n\\\n**/**/**/**/**/**/**/**\n" + "a*" * 2000 + "\n\udcff\n"
    (tmp_path / ".dockerignore").write_text(hostile, errors="surrogateescape")
    (tmp_path / "Dockerfile").write_text(f"{BASE}COPY {'a' * 3000}b /x\n")
    assert lint_file(tmp_path / "Dockerfile").error is None


# -- names: pragmas, ignores, # check=, --explain ---------------------------------------------


def test_buildkit_names_in_pragmas_ignores_and_config() -> None:
    text = f"FROM {PINNED} as build\n"
    assert fires(text, "SP345")
    assert not fires(f"# scratchpack ignore=FromAsCasing\n{text}", "SP345")
    assert not fires(f"# hadolint ignore=fromascasing\n{text}", "SP345")
    assert not fires(f"# scratchpack global ignore=FromAsCasing\n{text}", "SP345")
    found = lint_dockerfile(parse(text), ignore=frozenset({"FROMASCASING"}))
    assert "SP345" not in {f.code for f in found}
    config = parse_config({"ignore": ["FromAsCasing"]}, Path(".scratchpack.toml"))
    assert not fires(text, "SP345", config)


def test_check_directive_skips_and_turns_on_rules() -> None:
    text = f"FROM {PINNED} as build\nENV A b\n"
    assert fires(text, "SP345") and fires(text, "SP352")
    skip = "# check=skip=FromAsCasing\n" + text
    assert not fires(skip, "SP345") and fires(skip, "SP352")
    everything = "# check=skip=all\n" + text
    assert not fires(everything, "SP345") and not fires(everything, "SP352")
    assert fires(everything + "USER root\n", "SP100")  # not a BuildKit rule: still run
    described = f"# not a description\nARG RELEASE=12\nFROM {PINNED}\n"
    assert not fires(described, "SP355")  # experimental in BuildKit: off by default
    for on in ("# check=experimental=InvalidDefinitionDescription\n\n",
               "# check=skip=FromAsCasing;experimental=all\n\n"):  # fmt: skip
        assert places(on + described, "SP355") == [(3, 1)]
    config = parse_config({"severity": {"SP355": "info"}}, Path(".scratchpack.toml"))
    assert fires(described, "SP355", config)


def test_check_error_true_makes_buildkit_findings_errors(tmp_path: Path) -> None:
    """``# check=error=true``: BuildKit fails the build on any check it reports, so those
    findings are errors and lint exits 1 even with ``-t error``; skipped checks stay silent,
    scratchpack's own rules keep their severity, and error=false or junk changes nothing."""
    text = f"FROM {PINNED} as build\nENV A b\nUSER 1\n"
    assert {f.severity for f in findings(text, "SP345")} == {Severity.INFO}
    strict = "# check=error=true\n" + text
    assert {f.severity for f in findings(strict, "SP345")} == {Severity.ERROR}
    assert {f.severity for f in findings(strict, "SP352")} == {Severity.ERROR}
    assert {f.severity for f in findings(strict, "SP103")} == {Severity.INFO}  # not BuildKit's
    both = "# check=skip=FromAsCasing;error=true\n" + text
    assert not fires(both, "SP345")
    assert {f.severity for f in findings(both, "SP352")} == {Severity.ERROR}
    for off in ("# check=error=false\n", "# check=error=maybe\n"):
        assert {f.severity for f in findings(off + text, "SP352")} == {Severity.INFO}
    config = tmp_path / "empty.toml"
    config.write_text("")
    skipped = "# check=skip=all;error=true\n" + text
    for name, body, code in (("plain", text, 0), ("strict", strict, 1), ("skipped", skipped, 0)):
        (tmp_path / name).write_text(body)
        result = run_cli("lint", "-c", config, "-t", "error", "--no-shellcheck", tmp_path / name)
        assert result.code == code, (name, result.stdout)
    assert "SP345 error:" in run_cli("lint", "-c", config, tmp_path / "strict").stdout


def test_undefined_var_in_copy_and_add_flags() -> None:
    """BuildKit expands --chown, --chmod, --from and ADD's --checksum with the stage's ARG and
    ENV, so an undefined name there is reported, at the ``$`` inside the flag."""
    text = (
        "FROM scratch\nARG USR=1\n"
        "COPY --chown=$USR:$GRP --from=$STAGE a /b\n"
        "COPY --chmod=${MODE} a /c\n"
        "ADD --checksum=$SUM https://example.com/y /z\n"
    )
    found = findings(text, "SP354")
    assert [(f.line, f.column) for f in found] == [(3, 19), (3, 31), (4, 14), (5, 16)]
    assert ["$GRP" in found[0].message, "$STAGE" in found[1].message] == [True, True]
    declared = "FROM scratch\nARG USR=1 GRP=2 STAGE=b\nCOPY --chown=$USR:$GRP --from=$STAGE a /b\n"
    assert not fires(declared, "SP354")
    # from an image: only a near miss of a known name
    assert places(f"{BASE}ARG OWNER=1\nCOPY --chown=$OWNR a /b\n", "SP354") == [(3, 14)]
    assert not fires(f"{BASE}COPY --chown=$APP_USER a /b\n", "SP354")


def test_check_skip_comment_above_one_instruction() -> None:
    """As BuildKit reads it: a ``# check=skip=`` comment above an instruction, a remark after a
    blank allowed, skips the named checks (or all) for that instruction only."""
    text = (
        f"{BASE}# check=skip=SecretsUsedInArgOrEnv // allowed here\nARG password\n"
        "ARG token\n# check=skip=all // local\nARG api_key\nENV LANG C.UTF-8\n"
    )
    assert [f.line for f in findings(text, "SP430")] == [4]
    assert fires(text, "SP352")  # the ENV after the skipped ARG is judged
    assert not fires(f"{BASE}# check=skip=LegacyKeyValueFormat\nENV A b\n", "SP352")
    # SP400, scratchpack's error for a secret value, is not BuildKit's check
    assert fires(f"{BASE}# check=skip=SecretsUsedInArgOrEnv\nENV API_TOKEN=abc123\n", "SP400")


def test_definition_descriptions() -> None:
    on = "# check=experimental=InvalidDefinitionDescription\n\n"
    assert not fires(on + f"# RELEASE the release\nARG RELEASE=12\nFROM {PINNED}\n", "SP355")
    assert not fires(on + f"# note\n\nARG RELEASE=12\nFROM {PINNED}\n", "SP355")
    assert fires(on + f"FROM {PINNED}\n# the build\nFROM {PINNED} AS build\n", "SP355")
    assert not fires(on + f"FROM {PINNED}\n# build the app\nFROM {PINNED} AS build\n", "SP355")
    assert not fires(on + f"FROM {PINNED}\n# hadolint ignore=DL3006\nARG X=1\n", "SP355")


def test_explain_takes_buildkit_names(tmp_path: Path) -> None:
    for name in ("FromAsCasing", "fromascasing", "UndefinedVar", "WorkdirRelativePath"):
        result = run_cli("lint", "--explain", name, cwd=tmp_path)
        assert result.code == 0, result.stderr
        assert "[BuildKit " in result.stdout
    result = run_cli("lint", "--explain", "MultipleInstructionsDisallowed", cwd=tmp_path)
    assert result.stdout.startswith("SP305") and "DL3012" in result.stdout
    result = run_cli("lint", "--explain", "InvalidDefinitionDescription", cwd=tmp_path)
    assert "off by default" in result.stdout
    assert_clean_error(run_cli("lint", "--explain", "NoSuchCheck", cwd=tmp_path), 2, "unknown")


def test_cli_ignore_takes_a_buildkit_name(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "Dockerfile").write_text(f"FROM {PINNED} as build\nUSER 1\nWORKDIR /a\n")
    shown = run_cli("lint", "--no-shellcheck", "-f", "json", cwd=tmp_path)
    assert '"SP345"' in shown.stdout
    hidden = run_cli(
        "lint", "--no-shellcheck", "-f", "json", "--ignore", "FromAsCasing", cwd=tmp_path
    )
    assert '"SP345"' not in hidden.stdout and hidden.code == 0


# -- rules that declare a BuildKit name -------------------------------------------------------


def test_workdir_relative_path_only_before_any_workdir_of_the_build() -> None:
    assert places(f"{BASE}WORKDIR app\n", "SP301") == [(2, 9)]
    assert not fires(f"{BASE}WORKDIR /app\nWORKDIR bin\n", "SP301")
    assert places(f"{BASE}WORKDIR app\nWORKDIR bin\n", "SP301") == [(2, 9)]  # the first only
    inherited = f"FROM {PINNED} AS base\nWORKDIR /app\nFROM base\nWORKDIR bin\n"
    assert not fires(inherited, "SP301")
    other = f"FROM {PINNED} AS base\nWORKDIR /app\nFROM {PINNED}\nWORKDIR bin\n"
    assert places(other, "SP301") == [(4, 9)]


def test_json_args_recommended_not_under_a_shell() -> None:
    assert fires(f"{BASE}CMD run --now\n", "SP303")
    assert not fires(f'{BASE}SHELL ["/bin/bash", "-c"]\nCMD run --now\n', "SP303")
    inherited = f'FROM {PINNED} AS base\nSHELL ["/bin/bash", "-c"]\nFROM base\nCMD run\n'
    assert not fires(inherited, "SP303")


def test_multiple_healthchecks_in_a_stage() -> None:
    text = f"{BASE}HEALTHCHECK CMD a\nHEALTHCHECK NONE\nFROM {PINNED}\nHEALTHCHECK CMD b\n"
    found = findings(text, "SP305")
    assert [f.line for f in found] == [3]
    assert "first at line 2" in found[0].message


def test_sarif_tags_carry_the_buildkit_name(tmp_path: Path) -> None:
    from scratchpack.operations.lint import sarif

    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "Dockerfile").write_text(f"FROM {PINNED} as build\n")
    log = sarif([lint_file(tmp_path / "Dockerfile", config=LintConfig(shellcheck=False))])
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert "FromAsCasing" in rules["SP345"]["properties"]["tags"]
    assert "DL3012" in rules["SP305"]["properties"]["tags"]
