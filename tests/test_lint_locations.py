"""Findings at the exact line and column of what they are about (issue 13, "locations"): the
command inside a RUN (continued, after ``--mount``, in a heredoc, in an ``&&`` chain, inside
``sh -c``), the word or flag of an instruction, while the ignore pragmas above the
instruction and ``--fix`` still find the instruction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli
from scratchpack.dockerfile.fix import fix
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.rules import RULES, Finding
from scratchpack.dockerfile.shell import ShellCommand, commands
from scratchpack.operations.lint import lint_dockerfile

PINNED = "debian:12-slim@sha256:" + "a" * 64


def at(text: str, code: str) -> list[tuple[int, int]]:
    """(line, column) of every finding of ``code``."""
    return [(f.line, f.column) for f in lint_dockerfile(parse(text)) if f.code == code]


def found(text: str, code: str) -> list[Finding]:
    return [f for f in lint_dockerfile(parse(text)) if f.code == code]


FOUR_LINES = (
    f"FROM {PINNED}\n"
    "RUN apt-get update && \\\n"
    "    echo 'set up' && \\\n"
    "    apt-get install -y make && \\\n"
    "    rm -rf /var/lib/apt/lists/*\n"
)


def test_a_command_on_a_continuation_line() -> None:
    """The RUN starts on line 2; its apt-get install is on the RUN's 3rd line (line 4)."""
    assert at(FOUR_LINES, "SP200") == [(4, 5)]
    assert at(FOUR_LINES, "SP214") == [(4, 5)]
    (finding,) = found(FOUR_LINES, "SP200")
    assert finding.instruction_line == 2 and finding.instruction_start == 2


def test_a_command_after_a_mount_flag_and_a_dropped_comment_line() -> None:
    text = (
        f"FROM {PINNED}\n"
        "RUN --mount=type=cache,target=/x \\\n"
        "# BuildKit drops this line\n"
        "\n"
        "\tpip install flask\n"
    )
    assert at(text, "SP215") == [(5, 2)]  # a tab is one character


def test_commands_in_a_heredoc() -> None:
    text = (
        f"FROM {PINNED}\n"
        "RUN <<EOF\n"
        "set -e\n"
        "apt-get update\n"
        "  apt-get install -y git\n"
        "EOF\n"
        "RUN <<-EOT bash\n"
        "\tapk add curl\n"
        "EOT\n"
    )
    assert at(text, "SP200") == [(5, 3)]
    assert at(text, "SP204") == [(8, 2)]


def test_the_second_command_of_an_and_chain() -> None:
    text = f"FROM {PINNED}\nRUN apt-get update && apt-get install -y git\n"
    assert at(text, "SP200") == [(2, 23)]


def test_inside_sh_c_when_the_string_is_literal_and_at_it_when_not() -> None:
    literal = f"FROM {PINNED}\nRUN sh -c 'cd /x && apt-get install -y git'\n"
    assert at(literal, "SP200") == [(2, 21)]
    assert at(literal, "SP302") == [(2, 12)]
    expanded = f'FROM {PINNED}\nRUN bash -c "cd $HOME && apt-get install -y git"\n'
    assert at(expanded, "SP200") == [(2, 13)]  # the string: its words moved when expanded


def test_past_wrappers_and_inline_assignments() -> None:
    text = f"FROM {PINNED}\nRUN DEBIAN_FRONTEND=noninteractive sudo apt-get install -y git\n"
    assert at(text, "SP402") == [(2, 36)]
    assert at(text, "SP200") == [(2, 41)]


def test_escape_directive_and_crlf() -> None:
    text = f"# escape=`\r\nFROM {PINNED}\r\nRUN apt-get update && `\r\n  apt-get install -y git\r\n"
    assert at(text, "SP200") == [(4, 3)]


def test_a_byte_order_mark_is_no_column_of_line_1(tmp_path: Path) -> None:
    """Windows editors start a file with a BOM; BuildKit and the editor's own column count
    skip it, so the FROM's image is at column 6 as without it, the text caret sits under it
    and a pragma on line 1 is read."""
    text = "FROM debian:12\nUSER 65532\n"
    assert at("\ufeff" + text, "SP101") == at(text, "SP101") == [(1, 6)]
    pragma = "\ufeff# scratchpack ignore=SP101\n" + text
    assert at(pragma, "SP101") == []
    (tmp_path / "Dockerfile").write_text("\ufeff" + text, encoding="utf-8")
    result = run_cli("lint", "--no-shellcheck", "Dockerfile", cwd=tmp_path)
    lines = result.stdout.splitlines()
    [n] = [n for n, line in enumerate(lines) if " SP101 " in line]
    assert lines[n + 1 : n + 3] == ["    FROM debian:12", "    " + " " * 5 + "^"], lines


def test_words_and_flags_of_instructions() -> None:
    text = (
        "FROM --platform=linux/amd64   debian:latest AS build\n"
        "FROM scratch\n"
        "COPY --from=buidl /a /a\n"
        "WORKDIR   app\n"
        "ENV HOME=/x PASSWORD=hunter2\n"
    )
    assert at(text, "SP102") == [(1, 31)]
    assert at(text, "SP300") == [(3, 13)]
    assert at(text, "SP301") == [(4, 11)]
    assert at(text, "SP400") == [(5, 13)]


def test_a_pipe_and_a_download_into_a_shell() -> None:
    text = f"FROM {PINNED}\nRUN set -e; \\\n  wget -qO- https://x.sh | sh\n"
    assert at(text, "SP307") == [(3, 3)]
    assert at(text, "SP401") == [(3, 3)]


def test_a_credential_in_a_heredoc() -> None:
    text = f"FROM {PINNED}\nRUN <<EOF\necho hi\n  export T=AKIA{'A' * 16}\nEOF\n"
    (finding,) = found(text, "SP407")
    assert (finding.line, finding.column, finding.instruction_line) == (4, 12, 2)


def test_exec_form_elements() -> None:
    text = (
        f"FROM {PINNED}\n"
        'RUN ["sh", "-c", \\\n'
        '  "apt-get update && apt-get install -y git"]\n'
        'RUN ["apt-get", "install", "x"]\n'
        'RUN ["sh", "-c", "echo \\"a\\" && apt-get install y"]\n'
    )
    # in a string JSON escapes, the command is pointed at by the string's opening quote
    assert at(text, "SP200") == [(3, 22), (4, 7), (5, 18)]


def test_the_instruction_line_when_the_place_is_not_known() -> None:
    dockerfile = parse(f"FROM {PINNED}\nRUN apt-get update && \\\n  apt-get install -y git\n")
    run = dockerfile.stages[0].instructions[1]
    unknown = ShellCommand("apt-get", ("install",))  # no offset: not from a parse
    finding = RULES["SP200"].at_command(dockerfile, run, unknown, "m")
    assert (finding.line, finding.column, finding.instruction_line) == (2, 1, 2)
    word = RULES["SP102"].at_word(dockerfile, run, "not-there", "m")
    assert (word.line, word.column) == (2, 1)


@pytest.mark.parametrize(
    ("pragma", "text", "code"),
    [
        ("scratchpack ignore=SP200", FOUR_LINES, "SP200"),
        ("hadolint ignore=DL3015", FOUR_LINES, "SP200"),
        ("scratchpack ignore=SP102", "FROM debian:latest\n", "SP102"),
        ("hadolint ignore=DL3008", FOUR_LINES, "SP214"),
    ],
)
def test_the_pragma_above_the_instruction_still_ignores(pragma: str, text: str, code: str) -> None:
    lines = text.splitlines(keepends=True)
    assert found(text, code)
    at_line = 1 if text.startswith("FROM debian:latest") else 2
    silenced = "".join([*lines[: at_line - 1], f"# {pragma}\n", *lines[at_line - 1 :]])
    assert not found(silenced, code)
    # a pragma for another code, or one not above the instruction, silences nothing
    other = "".join([*lines[: at_line - 1], "# scratchpack ignore=SP999\n", *lines[at_line - 1 :]])
    assert found(other, code)


def test_a_pragma_inside_the_continuation_is_not_above_the_instruction() -> None:
    lines = FOUR_LINES.splitlines(keepends=True)
    inside = "".join([*lines[:3], "# scratchpack ignore=SP200\n", *lines[3:]])
    assert at(inside, "SP200") == [(5, 5)]


def test_fix_still_finds_the_instruction() -> None:
    dockerfile = parse(FOUR_LINES)
    result = fix(dockerfile, lint_dockerfile(dockerfile), unsafe=True)  # SP200's fix is unsafe
    assert "apt-get install --no-install-recommends -y make" in result.fixed
    assert result.applied.get("SP200") == 1


def test_every_output_carries_the_position(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    path = tmp_path / "Dockerfile"
    path.write_text(FOUR_LINES)
    records = json.loads(run_cli("lint", "--format", "json", path).stdout)
    assert {(r["line"], r["column"]) for r in records if r["code"] == "SP200"} == {(4, 5)}
    sarif = json.loads(run_cli("lint", "--format", "sarif", path).stdout)
    regions = [
        r["locations"][0]["physicalLocation"]["region"]
        for r in sarif["runs"][0]["results"]
        if r["ruleId"] == "SP200"
    ]
    assert [(r["startLine"], r["startColumn"]) for r in regions] == [(4, 5)]
    github = run_cli("lint", "--format", "github", path).stdout
    assert f"file={path},line=4,col=5,title=SP200::" in github
    text = run_cli("lint", path).stdout.splitlines()
    where = text.index(next(t for t in text if ":4: SP200" in t))
    assert text[where + 1 : where + 3] == [
        "    " + FOUR_LINES.splitlines()[3].rstrip(),
        "    " + " " * 4 + "^",
    ]


def test_shell_commands_know_their_offsets() -> None:
    script = "a && env X=1 b | c; sh -c 'd'"
    assert [(c.name, c.offset) for c in commands(script)] == [
        ("a", 0), ("b", 13), ("c", 17), ("sh", 20), ("d", 27),
    ]  # fmt: skip


def test_more_words_and_commands() -> None:
    text = (
        "FROM debian:12 AS build\n"
        "RUN true && \\\n"
        "    apt-get update\n"
        "FROM alpine:3.20 AS Build\n"
        "ADD  'notes.txt' /srv/\n"
        "EXPOSE 80   22/tcp\n"
        "RUN wget https://x/y.tgz\n"
        "RUN echo 1 && rm y.tgz\n"
        "USER   root\n"
    )
    assert at(text, "SP202") == [(3, 5)]
    assert at(text, "SP304") == [(4, 21)]
    assert at(text, "SP212") == [(5, 6)]
    assert at(text, "SP403") == [(6, 13)]
    assert at(text, "SP211") == [(8, 15)]
    assert at(text, "SP100") == [(9, 8)]


def test_final_stage_image_rules_point_at_the_image() -> None:
    toolchain = "FROM  golang:1.23\nUSER 1000\n"
    assert at(toolchain, "SP104") == [(1, 7)]
    scratch = (
        "FROM golang:1.23 AS build\nRUN go build -o /app .\n"
        "FROM scratch\nCOPY --from=build /app /app\n"
    )
    assert at(scratch, "SP106") == [(3, 6)]
    assert at(scratch, "SP107") == [(3, 6)]


def test_columns_on_line_one_count_from_after_a_byte_order_mark(tmp_path: Path) -> None:
    """A UTF-8 BOM is not part of line 1 (BuildKit and editors skip it): the column of the
    base's name is the same with and without one, the shown line omits it and the caret sits
    under the name."""
    text = "FROM debian:bookworm\nUSER 65532\n"
    assert at("\ufeff" + text, "SP101") == at(text, "SP101") == [(1, 6)]
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    shown = run_cli("lint", "--no-shellcheck", str(path)).stdout.splitlines()
    where = shown.index("    FROM debian:bookworm")
    assert shown[where + 1] == "         ^"
    records = json.loads(run_cli("lint", "-f", "json", str(path)).stdout)
    assert [r["column"] for r in records if r["code"] == "SP101"] == [6]
