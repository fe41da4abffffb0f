"""Labels against the configuration's label schema (rules/metadata.py, hadolint's DL3048-DL3058),
HEALTHCHECK (SP610, off by default as hadolint's DL3057) and ONBUILD (SP340, and the RUN an
ONBUILD carries linted as any RUN), through the configuration files a user writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CliResult, assert_clean_error, run_cli
from scratchpack.dockerfile.config import LintConfig, parse_config, parse_hadolint
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.rules import Finding
from scratchpack.errors import UsageError
from scratchpack.operations.lint import lint_dockerfile

PINNED = "debian:12-slim@sha256:" + "a" * 64
BASE = f"FROM {PINNED}\n"


def schema(types: dict[str, str], strict: bool = False) -> LintConfig:
    return parse_config({"label-schema": types, "strict-labels": strict}, Path(".scratchpack.toml"))


def findings(text: str, code: str, config: LintConfig | None = None) -> list[Finding]:
    return [f for f in lint_dockerfile(parse(text), config=config) if f.code == code]


def places(text: str, code: str, config: LintConfig | None = None) -> list[tuple[int, int]]:
    return [(f.line, f.column) for f in findings(text, code, config)]


def lint(directory: Path, *args: str) -> CliResult:
    env = {"XDG_CONFIG_HOME": str(directory / "no-xdg"), "HOME": str(directory / "no-home")}
    return run_cli("lint", "--no-shellcheck", *args, cwd=directory, env=env)


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("org.opencontainers.image.source", True),
        ("com.example.some-label", True),
        ("a", True),
        ("vendor_name/x1", True),
        ('"org.label-schema.name"', True),  # quotes are not part of the key
        ("Maintainer", False),
        ("1abc", False),
        ("abc.", False),
        ("a..b", False),
        ("a--b", False),
        ("com.docker.extension", False),
        ("io.docker.x", False),
        ("org.dockerproject.x", False),
        ("a@b", False),
    ],
)
def test_label_keys(key: str, valid: bool) -> None:
    text = f"{BASE}LABEL {key}=x\n"
    assert places(text, "SP600") == ([] if valid else [(2, 7)])


# -- the schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "good", "bad"),
    [
        ("url", "SP604", ["https://example.com/app", "git+ssh://git@example.com/a.git"],
         ["example.com/app", "not a url", "http://exa mple.com"]),
        ("rfc3339", "SP605", ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123+02:00",
                              "2016-12-31T23:59:60Z"],
         ["2024-05-01", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-05-01T12:00:00",
          "2024-05-01T25:00:00Z", "2024-05-01T12:00:00+24:00"]),
        ("spdx", "SP606", ["MIT", "Apache-2.0", "MIT OR Apache-2.0", "GPL-2.0-only WITH "
                           "Classpath-exception-2.0", "(MIT AND BSD-3-Clause)"],
         ["Apache2", "MIT OR", "Foo-License", " "]),
        ("hash", "SP607", ["0a1b2c3", "a" * 40, "f" * 64],
         ["main", "0A1B2C3", "a" * 39, "g" * 40]),
        ("semver", "SP608", ["1.2.3", "0.0.1-rc.1", "1.0.0+build.5", "1.0.0-alpha-1"],
         ["v1.2.3", "1.2", "01.2.3", "1.2.3-", "1.2.3-01"]),
        ("email", "SP609", ["jane@example.com", "jane.doe+x@mail.example.org"],
         ["jane.example.com", "jane@", "@example.com", "jane doe@example.com", "a..b@x.org"]),
    ],
)  # fmt: skip
def test_typed_labels(kind: str, code: str, good: list[str], bad: list[str]) -> None:
    config = schema({"x.label": kind})
    for value in good:
        assert not findings(f'{BASE}LABEL x.label="{value}"\n', code, config), value
    for value in bad:
        assert places(f'{BASE}LABEL other=1 x.label="{value}"\n', code, config) == [(2, 15)], value
    # not in the schema, or a build argument: nothing to judge
    assert not findings(f"{BASE}LABEL y.label=nope\n", code, config)
    assert not findings(f"{BASE}ARG V\nLABEL x.label=$V\n", code, config)
    assert not findings(f"{BASE}LABEL x.label=nope\n", code)  # no schema at all


def test_missing_and_empty_labels() -> None:
    config = schema({"org.opencontainers.image.source": "url", "team": "text"})
    text = f"{BASE}LABEL team=core\n"
    found = findings(text, "SP601", config)
    assert [(f.line, f.column) for f in found] == [(1, 1)]
    assert "org.opencontainers.image.source" in found[0].message
    assert places(f'{BASE}LABEL team=""\n', "SP603", config) == [(2, 7)]
    assert not findings(f"{BASE}LABEL team=core other=\n", "SP603", config)  # other: no schema


def test_missing_labels_follow_stages_as_hadolint_does() -> None:
    config = schema({"team": "text"})
    inherited = f"FROM {PINNED} AS base\nLABEL team=core\nFROM base\n"
    assert not findings(inherited, "SP601", config)
    # a stage only copied from is not an image of its own
    copied = f"FROM {PINNED} AS build\nRUN touch /x\nFROM {PINNED}\nLABEL team=a\n"
    copied += "COPY --from=build /x /x\n"
    assert not findings(copied, "SP601", config)
    # a base that a later stage completes is only a step toward it
    completed = f"FROM {PINNED} AS base\nFROM base\nLABEL team=core\n"
    assert not findings(completed, "SP601", config)
    separate = f"FROM {PINNED} AS one\nLABEL team=core\nFROM {PINNED} AS two\n"
    assert [f.line for f in findings(separate, "SP601", config)] == [3]


def test_strict_labels() -> None:
    text = f"{BASE}LABEL team=core maintainer=jane\n"
    assert places(text, "SP602", schema({"team": "text"}, strict=True)) == [(2, 17)]
    assert not findings(text, "SP602", schema({"team": "text"}))
    assert not findings(f"{BASE}LABEL team=core\n", "SP602", schema({"team": "text"}, True))


def test_hadolint_yaml_label_schema_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / ".hadolint.yaml").write_text(
        "label-schema:\n  org.opencontainers.image.version: semver\n  team: text\n"
        "strict-labels: true\n"
    )
    (tmp_path / "Dockerfile").write_text(
        f"{BASE}USER 1\nWORKDIR /a\nLABEL org.opencontainers.image.version=v1 extra=1\n"
    )
    result = lint(tmp_path, "-f", "json")
    codes = {f["code"]: f for f in __import__("json").loads(result.stdout)}
    assert {"SP608", "SP602", "SP601"} <= set(codes), result.stdout
    assert codes["SP608"]["hadolint"] == ["DL3056"] and codes["SP608"]["column"] == 7
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("yaml", "fragment"),
    [
        ("label-schema:\n  a: number\n", "label-schema: a: type must be one of"),
        ("label-schema: [a]\n", "label-schema must map label names to types"),
        ("strict-labels: yes-please\n", "strict-labels must be true or false"),
    ],
)
def test_bad_label_configuration_is_one_clear_error(
    tmp_path: Path, yaml: str, fragment: str
) -> None:
    (tmp_path / ".hadolint.yaml").write_text(yaml)
    (tmp_path / "Dockerfile").write_text(BASE)
    assert_clean_error(lint(tmp_path), 2, fragment)


def test_toml_label_schema_and_its_errors(tmp_path: Path) -> None:
    config = parse_config({"label-schema": {"Team": "TEXT"}, "strict-labels": True}, Path("x.toml"))
    assert config.label_schema == {"Team": "text"} and config.strict_labels
    with pytest.raises(UsageError, match="strict-labels must be true or false"):
        parse_config({"strict-labels": "no"}, Path("x.toml"))
    with pytest.raises(UsageError, match="type must be one of"):
        parse_hadolint({"label-schema": {"a": 3}}, Path("x.yaml"))


# -- HEALTHCHECK ------------------------------------------------------------------------------


def test_healthcheck_missing_is_off_by_default_and_on_by_override(tmp_path: Path) -> None:
    text = f'{BASE}CMD ["a"]\n'
    assert not findings(text, "SP610")
    on = parse_config({"severity": {"SP610": "warning"}}, Path("x.toml"))
    found = findings(text, "SP610", on)
    assert [(f.line, str(f.severity)) for f in found] == [(1, "warning")]
    assert not findings(f"{BASE}HEALTHCHECK NONE\n", "SP610", on)
    assert not findings(f"FROM {PINNED} AS b\nHEALTHCHECK CMD x\nFROM b\n", "SP610", on)
    fork = f"FROM {PINNED} AS b\nFROM b AS one\nHEALTHCHECK NONE\nFROM b AS two\n"
    assert [f.line for f in findings(fork, "SP610", on)] == [4]
    # hadolint's override turns DL3057 on, as it does in hadolint
    (tmp_path / ".hadolint.yaml").write_text("override:\n  info: [DL3057]\n")
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "Dockerfile").write_text(text)
    assert '"SP610"' in lint(tmp_path, "-f", "json").stdout


# -- ONBUILD ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("ONBUILD FROM debian", True),
        ("ONBUILD MAINTAINER jane", True),
        ("ONBUILD ONBUILD RUN x", True),
        ("onbuild from debian", True),
        ("ONBUILD RUN make", False),
        ("ONBUILD COPY . /src", False),
    ],
)
def test_onbuild_forbidden_instructions(line: str, flagged: bool) -> None:
    assert places(f"{BASE}{line}\n", "SP340") == ([(2, 9)] if flagged else [])


def test_onbuild_run_gets_the_findings_of_a_run_at_the_same_place() -> None:
    plain = findings(f"{BASE}RUN apt-get install -y curl\n", "SP200")
    inside = findings(f"{BASE}ONBUILD RUN apt-get install -y curl\n", "SP200")
    assert [(f.line, f.column) for f in plain] == [(2, 5)]
    assert [(f.line, f.column) for f in inside] == [(2, 13)]
    continued = f"{BASE}ONBUILD RUN echo start && \\\n    apt-get install -y curl\n"
    assert places(continued, "SP200") == [(3, 5)]
    # its flags are read: a cache mount keeps the apt lists out of the layer
    mounted = (
        f"{BASE}ONBUILD RUN --mount=type=cache,target=/var/lib/apt apt-get update && "
        "apt-get install -y --no-install-recommends curl\n"
    )
    assert not findings(mounted, "SP201") and not findings(mounted, "SP200")
    ignored = f"{BASE}# hadolint ignore=DL3015\nONBUILD RUN apt-get install -y curl\n"
    assert not findings(ignored, "SP200")
    assert findings(f"{BASE}ONBUILD RUN pip install flask\n", "SP205")


def test_onbuild_run_is_not_fixed(tmp_path: Path) -> None:
    """--fix edits RUN instructions; the RUN inside an ONBUILD is reported, not rewritten."""
    (tmp_path / ".dockerignore").write_text(".git\n")
    path = tmp_path / "Dockerfile"
    text = f"{BASE}USER 1\nWORKDIR /a\nONBUILD RUN apt-get install -y curl\n"
    path.write_text(text)
    result = lint(tmp_path, "--fix")
    assert path.read_text() == text and "SP200" in result.stdout
