"""``scratchpack lint`` outputs and hadolint habits: parse errors as findings (JSON, GitHub,
SARIF), escaping, SARIF URIs and categories, ``--explain DLxxxx``, ``--diff`` headers,
``--no-pin`` notices, hadolint's flags, standard input and ``.hadolint.yaml``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import ROOT, CliResult, assert_clean_error, run_cli
from scratchpack.dockerfile.config import LintConfig, find_config, parse_hadolint
from scratchpack.dockerfile.rules import RULES
from scratchpack.reports.github import annotation, escape_data, escape_property

PINNED = "debian:12-slim@sha256:" + "a" * 64
CLEAN = f'FROM {PINNED}\nUSER 65532:65532\nWORKDIR /app\nCMD ["/app/run"]\n'
# SP302 (info, hadolint DL3003) and SP206 (info, DL3059: two one-command RUNs) on lines 4 and 6
INFO_ONLY = (
    f"FROM {PINNED}\nUSER 65532:65532\nWORKDIR /app\nRUN cd /tmp && echo hi\nRUN echo two\n"
    "RUN echo three\n"
)
BROKEN = "FROM debian:12\n# a comment\nFROBNICATE now\n"


def lint(directory: Path, *args: str | Path, stdin: str | None = None) -> CliResult:
    """lint run in ``directory`` with no user-level hadolint configuration to find."""
    env = {"XDG_CONFIG_HOME": str(directory / "no-xdg"), "HOME": str(directory / "no-home")}
    return run_cli("lint", *args, cwd=directory, env=env, stdin=stdin)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".dockerignore").write_text(".git\n")
    return tmp_path


# -- parse errors as findings -----------------------------------------------------------------


def test_json_reports_parse_errors_as_findings_at_their_line(project: Path) -> None:
    (project / "broken.Dockerfile").write_text(BROKEN)
    (project / "ok.Dockerfile").write_text(INFO_ONLY)
    result = lint(project, "--format", "json", "broken.Dockerfile", "ok.Dockerfile", "missing")
    assert result.code == 2  # still: a file could not be linted
    records = json.loads(result.stdout)
    errors = [r for r in records if r["code"] == "SP000"]
    assert errors == [
        {"file": "broken.Dockerfile", "line": 3, "column": 1, "code": "SP000", "severity": "error",
         "category": "parse", "message": "unknown instruction FROBNICATE", "hadolint": ["DL1000"]},
        {"file": "missing", "line": 1, "column": 1, "code": "SP000", "severity": "error",
         "category": "parse", "message": "no such file", "hadolint": ["DL1000"]},
    ]  # fmt: skip
    assert {r["code"] for r in records if r["file"] == "ok.Dockerfile"} == {"SP206", "SP302"}


# -- GitHub workflow commands -----------------------------------------------------------------


def test_github_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_data("100% a\r\nb: c, d") == "100%25 a%0D%0Ab: c, d"
    assert escape_property("dir,x/a:b%\n") == "dir%2Cx/a%3Ab%25%0A"
    assert annotation("warning", "a,b", 3, 7, "SP200", "x\ny") == (
        "::warning file=a%2Cb,line=3,col=7,title=SP200::x%0Ay"
    )


def test_github_annotations_escape_file_names_and_report_parse_errors(project: Path) -> None:
    odd = "odd, name:1%.Dockerfile"
    (project / odd).write_text(INFO_ONLY)
    (project / "broken.Dockerfile").write_text(BROKEN)
    result = lint(project, "--format", "github", odd, "broken.Dockerfile")
    assert result.code == 2
    lines = result.stdout.splitlines()
    assert "::notice file=odd%2C name%3A1%25.Dockerfile,line=4,col=5,title=SP302::cd in RUN" in (
        "\n".join(lines)
    )
    assert (
        "::error file=broken.Dockerfile,line=3,col=1,title=SP000::unknown instruction FROBNICATE"
        in (lines)
    )
    assert all(",col=" in line for line in lines)


# -- SARIF -------------------------------------------------------------------------------------


def _sarif(project: Path, *files: str) -> dict[str, Any]:
    import jsonschema

    result = lint(project, "--format", "sarif", *files)
    log = json.loads(result.stdout)
    schema = json.loads((ROOT / "tests/data/schemas/sarif-2.1.0-rtm.5.json").read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    [run] = log["runs"]
    assert isinstance(run, dict)
    return run


def _uris(items: list[dict[str, Any]]) -> list[str]:
    return [i["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for i in items]


def test_sarif_uris_are_percent_encoded_relative_references(project: Path) -> None:
    names = ["with space.Dockerfile", "hash#1.Dockerfile", "50%.Dockerfile", "café:x.Dockerfile"]
    (project / "sub dir").mkdir()
    for name in names:
        (project / "sub dir" / name).write_text(INFO_ONLY)
    run = _sarif(project, *(f"sub dir/{name}" for name in names))
    uris = set(_uris(run["results"]))
    assert uris == {
        "sub%20dir/with%20space.Dockerfile", "sub%20dir/hash%231.Dockerfile",
        "sub%20dir/50%25.Dockerfile", "sub%20dir/caf%C3%A9%3Ax.Dockerfile",
    }  # fmt: skip
    assert run["automationDetails"] == {"id": "scratchpack/lint/"}


def test_sarif_parse_errors_are_at_their_line(project: Path) -> None:
    (project / "broken.Dockerfile").write_text(BROKEN)
    run = _sarif(project, "broken.Dockerfile")
    [notification] = run["invocations"][0]["toolExecutionNotifications"]
    location = notification["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "broken.Dockerfile"
    assert location["region"]["startLine"] == 3
    assert notification["message"]["text"] == "unknown instruction FROBNICATE"
    assert notification["descriptor"] == {"id": "SP000", "index": 0}
    assert run["tool"]["driver"]["notifications"][0]["id"] == "SP000"


# -- --explain, --diff, --no-pin ---------------------------------------------------------------


def test_explain_accepts_hadolint_codes(project: Path) -> None:
    sp200 = lint(project, "--explain", "dl3015")
    assert sp200.code == 0 and sp200.stdout.startswith("SP200 (warning, size)")
    many = [c for c, r in RULES.items() if "DL3006" in r.hadolint]
    shown = lint(project, "--explain", "DL3006")
    assert [line.split()[0] for line in shown.stdout.splitlines() if line[:2] == "SP"] == many
    assert lint(project, "--explain", "sp000").stdout.startswith("SP000 (error, parse)")
    assert lint(project, "--explain", "DL1000").stdout.startswith("SP000 (error, parse)")
    assert_clean_error(lint(project, "--explain", "DL9999"), 2, "DL9999", "no scratchpack")


def test_diff_headers_are_relative_to_the_current_directory(project: Path) -> None:
    (project / "svc").mkdir()
    dockerfile = project / "svc" / "Dockerfile"
    dockerfile.write_text(f"FROM {PINNED}\nRUN pip install flask\n")
    diff = lint(project, "--diff", "--no-pin", dockerfile)  # given as an absolute path
    assert diff.code == 1, diff.stderr
    assert diff.stdout.startswith("--- a/svc/Dockerfile\n+++ b/svc/Dockerfile\n")
    here = lint(project / "svc", "--diff", "--no-pin", "Dockerfile")
    assert here.stdout.startswith("--- a/Dockerfile\n+++ b/Dockerfile\n")


def test_no_pin_says_it_once_per_run(project: Path) -> None:
    stages = "FROM debian:12 AS a\nFROM debian:12 AS b\nFROM alpine:3\n"
    (project / "one.Dockerfile").write_text(stages)
    (project / "two.Dockerfile").write_text(stages)
    result = lint(project, "--diff", "--no-pin", "one.Dockerfile", "two.Dockerfile")
    pinning = [line for line in result.stderr.splitlines() if "pinned" in line]
    assert pinning == ["scratchpack: notice: 6 FROM line(s) not pinned (--no-pin)"]


# -- hadolint's flags and standard input -------------------------------------------------------


def test_hadolint_flags(project: Path) -> None:
    (project / "Dockerfile").write_text(INFO_ONLY)
    assert json.loads(lint(project, "-f", "json").stdout)[0]["code"] in {"SP206", "SP302"}
    assert lint(project, "-f", "tty").stdout.startswith("Dockerfile:4: SP302 info:")
    assert lint(project).code == 0  # info findings, threshold warning
    assert lint(project, "-t", "info").code == 1
    assert lint(project, "-t", "style").code == 1  # hadolint's lowest levels are our info
    assert lint(project, "--failure-threshold", "ignore").code == 1
    assert lint(project, "-t", "none").code == 0
    assert lint(project, "-t", "info", "--no-fail").code == 0
    (project / "broken.Dockerfile").write_text(BROKEN)
    assert lint(project, "--no-fail", "broken.Dockerfile").code == 2  # unreadable stays 2
    (project / "strict.toml").write_text('failure-threshold = "style"\n')  # hadolint's level
    assert lint(project, "-c", "strict.toml").code == 1
    assert_clean_error(lint(project, "-c", "nope.toml"), 2, "nope.toml: cannot read configuration")


def test_standard_input(project: Path) -> None:
    result = lint(project, "-", "-t", "info", stdin=INFO_ONLY)
    assert result.code == 1
    assert result.stdout.startswith("-:4: SP302 info:")
    records = json.loads(lint(project, "-f", "json", "-", stdin=INFO_ONLY).stdout)
    assert {r["file"] for r in records} == {"-"}
    assert {r["code"] for r in records} == {"SP206", "SP302"}  # no build context: no SP208
    broken = lint(project, "-", stdin=BROKEN)
    assert_clean_error(broken, 2, "-:3: unknown instruction FROBNICATE")
    assert_clean_error(lint(project, "--fix", "-", stdin=INFO_ONLY), 2, "standard input")


# -- .hadolint.yaml ---------------------------------------------------------------------------


def test_hadolint_yaml_is_read_when_there_is_no_scratchpack_config(project: Path) -> None:
    (project / "Dockerfile").write_text(INFO_ONLY)
    (project / ".hadolint.yaml").write_text(
        "ignored:\n  - DL3059\n"  # SP206's hadolint code
        "override:\n  warning:\n    - DL3003\n"  # SP302, info -> warning
        "failure-threshold: warning\n"
    )
    result = lint(project, "-f", "json")
    assert [(r["code"], r["severity"]) for r in json.loads(result.stdout)] == [("SP302", "warning")]
    assert result.code == 1
    # a scratchpack configuration, even in a parent directory, wins
    (project / "sub").mkdir()
    (project / "sub" / ".dockerignore").write_text(".git\n")
    (project / "sub" / "Dockerfile").write_text(INFO_ONLY)
    (project / "sub" / ".hadolint.yml").write_text("ignored: [SP302, DL3059]\n")
    assert {r["code"] for r in json.loads(lint(project / "sub", "-f", "json").stdout)} == set()
    (project / ".scratchpack.toml").write_text("ignore = []\n")
    codes = {r["code"] for r in json.loads(lint(project / "sub", "-f", "json").stdout)}
    assert codes == {"SP206", "SP302"}


def test_hadolint_yaml_in_the_xdg_config_home_and_by_flag(project: Path) -> None:
    (project / "Dockerfile").write_text(INFO_ONLY)
    (project / "no-xdg").mkdir()
    (project / "no-xdg" / "hadolint.yaml").write_text("no-fail: true\nformat: json\n")
    result = lint(project, "-t", "info")
    assert result.code == 0 and json.loads(result.stdout)  # no-fail and the format applied
    (project / "mine.yaml").write_text("failure-threshold: style\n")
    assert lint(project, "-c", "mine.yaml", "-f", "text").code == 1  # --config replaces XDG's


def test_hadolint_yaml_keys_map_to_our_configuration(tmp_path: Path) -> None:
    path = tmp_path / ".hadolint.yaml"
    config = parse_hadolint(
        {
            "ignored": ["DL3015", "sp103", "SC2086"],
            "trustedRegistries": ["docker.io", "my-company.com:5000"],
            "label-schema": {"author": "text", "version": "semver"},
            "override": {"error": ["DL3059"], "style": ["SP100"], "info": ["DL3006"]},
            "failure-threshold": "style",
            "no-fail": True,
            "format": "sarif",
        },
        path,
    )
    assert config.ignore == {"DL3015", "SP103", "SC2086"}
    assert config.trusted_registries == {"docker.io", "my-company.com:5000"}
    assert config.label_schema == {"author": "text", "version": "semver"}
    dl3006 = {c: "info" for c, r in RULES.items() if "DL3006" in r.hadolint}
    assert dl3006 and config.severity == {"SP206": "error", "SP100": "info", **dl3006}
    assert (config.failure_threshold, config.no_fail, config.output_format) == (
        "info",
        True,
        "sarif",
    )
    assert config.warnings == ()
    assert isinstance(config, LintConfig) and config.source == path


def test_hadolint_yaml_unknown_keys_warn_once(project: Path) -> None:
    (project / "Dockerfile").write_text(CLEAN)
    (project / ".hadolint.yaml").write_text(
        "strict-labels: true\nbogus: 1\nno-color: true\nformat: checkstyle\nignored: [SP999]\n"
    )
    result = lint(project)
    assert result.code == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3 and all(w.startswith("scratchpack: warning: ") for w in warnings)
    assert warnings[2].endswith(": bogus") and "no-color" not in result.stderr
    assert "checkstyle" in warnings[1] and "SP999" in warnings[0]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("ignored: [DL3000\n", "invalid YAML: line 2"),
        ("- DL3000\n", "expected a mapping"),
        ("ignored: DL3000\n", "ignored must be a list"),
        ("override:\n  fatal: [DL3000]\n", "override.fatal"),
        ("failure-threshold: severe\n", "failure-threshold must be one of"),
        ("\tignored: x\n", "invalid YAML: line 1"),
        ("no-fail: 'false'\n", "no-fail must be true or false"),  # a string is not a boolean
    ],
)
def test_malformed_hadolint_yaml_is_one_line_and_exit_2(
    project: Path, content: str, fragment: str
) -> None:
    (project / "Dockerfile").write_text(CLEAN)
    (project / ".hadolint.yaml").write_text(content)
    assert_clean_error(lint(project), 2, ".hadolint.yaml", fragment)


def test_find_config_prefers_yaml_over_yml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / ".hadolint.yml").write_text("ignored: [DL3015]\n")
    assert find_config(tmp_path).ignore == {"DL3015"}
    (tmp_path / ".hadolint.yaml").write_text("ignored: [DL3059]\n")
    assert find_config(tmp_path).ignore == {"DL3059"}
    assert find_config(tmp_path / "nowhere").ignore == frozenset()


# -- hostile configuration files (a linted repository brings its own) -------------------------


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        (".hadolint.yaml", "ignored: [" * 50_000, "nested too deeply"),
        (".hadolint.yaml", "# pad\n" * 200_000, "larger than 1 MiB"),
        (".scratchpack.toml", "x = " + "[" * 50_000, "invalid configuration"),
        (".scratchpack.toml", "#" * (1 << 20) + "\n", "larger than 1 MiB"),
        (".hadolint.yaml", "ignored: [\xff]", "not UTF-8"),
    ],
)
def test_hostile_configuration_is_one_line_and_exit_2(
    project: Path, name: str, content: str, fragment: str
) -> None:
    (project / "Dockerfile").write_text(CLEAN)
    path = project / name
    if "\xff" in content:
        path.write_bytes(content.encode("latin-1"))
    else:
        path.write_text(content)
    assert_clean_error(lint(project), 2, name, fragment)


def test_a_yaml_alias_bomb_is_read_in_linear_time(tmp_path: Path) -> None:
    """Aliases are references in PyYAML, and the mapping reads each list once: nine levels of
    nine-fold aliases would be 387M codes if anything expanded them."""
    levels = ["a0: &a0 [DL3000]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        levels.append(f"a{i}: &a{i} [{refs}]")
    path = tmp_path / ".hadolint.yaml"
    path.write_text("\n".join(levels) + "\nignored: *a9\n")
    from scratchpack.errors import UsageError

    with pytest.raises(UsageError):  # a list of lists is not a list of codes
        find_config(tmp_path)


_YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_HADOLINT_KEYS = st.sampled_from(
    [
        "ignored",
        "trustedRegistries",
        "override",
        "failure-threshold",
        "no-fail",
        "format",
        "label-schema",
        "strict-labels",
        "no-color",
        "unknown",
    ]
)


@given(st.dictionaries(_HADOLINT_KEYS | st.text(max_size=8), _YAML_VALUES, max_size=6))
@settings(max_examples=300, deadline=None)
def test_any_yaml_mapping_is_a_configuration_or_a_usage_error(document: dict[str, Any]) -> None:
    """Whatever values a YAML file holds under hadolint's keys: a configuration, or the one
    error a user sees (never another exception)."""
    from scratchpack.errors import UsageError

    with contextlib.suppress(UsageError):
        assert isinstance(parse_hadolint(document, Path(".hadolint.yaml")), LintConfig)
