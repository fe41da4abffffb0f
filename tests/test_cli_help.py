"""Help that teaches (issue 14, item 8): every command has a one-line description and 2-4
examples that parse, the top-level help groups commands by task, no option is dead, and
shell completion works in real bash, zsh and fish."""

from __future__ import annotations

import argparse
import ast
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT, run_cli
from realtools import need
from scratchpack.cli.main import build_parser

CLI = ROOT / "src" / "scratchpack" / "cli"


def _commands() -> list[str]:
    """The commands `scratchpack --help` lists, under its group headings."""
    result = run_cli("--help")
    assert result.code == 0, result.stderr
    groups = re.findall(r"^(\S[^\n:]*):\n((?:  \S.*\n)+)", result.stdout, re.MULTILINE)
    names = [line.split()[0] for title, block in groups if title != "options"
             for line in block.splitlines()]  # fmt: skip
    return names


COMMANDS = _commands()


def test_top_level_help_lists_every_command_once_grouped_by_task() -> None:
    result = run_cli("--help")
    headings = re.findall(r"^(\S[^\n:]*):$", result.stdout, re.MULTILINE)
    for group in ("build images", "inspect images", "Dockerfiles", "registry"):
        assert group in headings, headings
    assert "other" not in headings  # every command belongs to a task
    assert sorted(COMMANDS) == sorted(name for name, _ in _subcommands())
    assert len(COMMANDS) == len(set(COMMANDS))
    assert result.stdout.startswith("usage: scratchpack [-h] [--version] [--debug] COMMAND ...")


def _examples(help_text: str) -> list[str]:
    _, _, tail = help_text.partition("\nexamples:\n")
    return [line.strip() for line in tail.splitlines() if line.startswith("  ")]


def _argv(example: str) -> list[str]:
    """The scratchpack words of an example as a shell would pass them: inside ``eval
    "$(...)"``, after a pipe, before a redirect or comment."""
    match = re.search(r'"\$\((scratchpack [^)]*)\)"', example)
    line = match.group(1) if match else example.rsplit("|", maxsplit=1)[-1]
    words = shlex.split(line, comments=True)
    if ">" in words:
        words = words[: words.index(">")]
    return words


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_examples_that_parse(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0, result.stderr
    # the description: one line, right after the usage block
    after_usage = result.stdout.split("\n\n", 2)[1]
    assert "\n" not in after_usage.strip(), after_usage
    assert after_usage.strip().endswith("."), after_usage
    examples = _examples(result.stdout)
    assert 2 <= len(examples) <= 4, examples
    parser = build_parser()
    for example in examples:
        words = _argv(example)
        assert words[:2] == ["scratchpack", command], example
        try:
            parser.parse_args(words[1:])
        except SystemExit as exc:  # pragma: no cover - the message is on stderr
            raise AssertionError(f"example does not parse: {example}") from exc


@pytest.mark.parametrize("command", COMMANDS)
def test_options_have_clear_metavars(command: str) -> None:
    """An option that takes a value names what it takes (FILE, N, OS/ARCH...), not
    argparse's upper-cased dest (``--digestfile DIGESTFILE``, ``--binary-path BINARY_PATH``)
    unless that is itself the one plain word (``--port PORT``)."""
    text = run_cli(command, "--help").stdout
    plain = {"PORT", "PASSWORD"}
    for flag, metavar in re.findall(r"--([a-z-]+) ([A-Z_]{3,})\b", text):
        if metavar == flag.replace("-", "_").upper():
            assert metavar in plain, (command, flag, metavar)


# -- no dead options -----------------------------------------------------------------------


def _cli_functions() -> dict[str, list[ast.FunctionDef]]:
    found: dict[str, list[ast.FunctionDef]] = {}
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, []).append(node)
    return found


def _reads(entry: str, functions: dict[str, list[ast.FunctionDef]]) -> set[str]:
    """Every ``args.NAME`` (or ``getattr(args, "NAME", ...)``) read by ``entry`` and by the
    functions it hands ``args`` to, transitively."""
    reads: set[str] = set()
    todo, seen = [entry], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for function in functions.get(name, []):
            for node in ast.walk(function):
                is_name = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                if is_name and node.value.id == "args":  # type: ignore[attr-defined]
                    reads.add(node.attr)  # type: ignore[attr-defined]
                if not isinstance(node, ast.Call):
                    continue
                passes_args = any(isinstance(a, ast.Name) and a.id == "args" for a in node.args)
                callee = node.func
                called = (
                    callee.id if isinstance(callee, ast.Name)
                    else callee.attr if isinstance(callee, ast.Attribute) else None
                )  # fmt: skip
                if called == "getattr" and passes_args and isinstance(node.args[1], ast.Constant):
                    reads.add(str(node.args[1].value))
                elif called and passes_args:
                    todo.append(called)
    return reads


def _subcommands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """argparse has no public way to list a parser's subcommands: its action holds them."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_no_option_is_dead() -> None:
    functions = _cli_functions()
    dead = []
    for name, parser in _subcommands():
        reads = _reads(parser.get_default("func").__name__, functions)
        for action in parser._actions:
            # quiet: main() reads it for every command, to install no progress renderer
            if action.dest in ("help", "debug", "func", "quiet"):
                continue
            if action.dest not in reads:
                dead.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert dead == []
    # the check sees through helpers, and can fail: inspect reads no --digestfile
    inspect_reads = _reads("cmd_inspect", functions)
    assert {"tls_verify", "authfile", "platform"} <= inspect_reads
    assert "digestfile" not in inspect_reads


def test_options_that_did_nothing_are_gone() -> None:
    useless = (("login", "--jobs"), ("login", "--quiet"), ("inspect", "--jobs"),
               ("digest", "--quiet"), ("tags", "--jobs"), ("logout", "--quiet"))  # fmt: skip
    for command, flag in useless:
        result = run_cli(command, "x", flag)
        assert result.code == 2, (command, flag)
        assert "unrecognized arguments" in result.stderr


# -- shell completion ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``scratchpack`` on PATH, as an installed console script is, running this source."""
    directory = tmp_path_factory.mktemp("bin")
    script = directory / "scratchpack"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m scratchpack "$@"\n')
    script.chmod(0o755)
    return directory


def _env(bin_dir: Path) -> dict[str, str]:
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": f"{src}:{path}" if path else src,
    }


def _bash_complete(bin_dir: Path, line: str) -> list[str]:
    script = (
        "source <(scratchpack completion bash)\n"
        'COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; COMP_TYPE=9\n'
        "_python_argcomplete scratchpack\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(["bash", "-c", script, "bash", line], capture_output=True,
                          text=True, env=_env(bin_dir), timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [word.strip() for word in proc.stdout.splitlines() if word.strip()]


def test_bash_completion(bin_dir: Path) -> None:
    assert _bash_complete(bin_dir, "scratchpack co") == ["copy", "compare", "completion"]
    assert set(_bash_complete(bin_dir, "scratchpack ")) >= set(COMMANDS)
    assert _bash_complete(bin_dir, "scratchpack copy --src-") == ["--src-creds", "--src-tls-verify"]
    assert "--digestfile" in _bash_complete(bin_dir, "scratchpack pack ./hello --d")
    shells = _bash_complete(bin_dir, "scratchpack completion ")
    assert shells == ["-h", "--help", "bash", "zsh", "fish"]
    assert set(_bash_complete(bin_dir, "scratchpack sbom x --format cy")) == {
        "cyclonedx-json", "cyclonedx",
    }  # fmt: skip
    assert "--debug" not in _bash_complete(bin_dir, "scratchpack lint --d")  # hidden stays hidden


def test_fish_completion(bin_dir: Path) -> None:
    need("fish", "shell completion is tested in fish")
    script = "scratchpack completion fish | source; complete -C 'scratchpack copy --dest-'"
    proc = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True,
                          env=_env(bin_dir), timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    offered = {line.split("\t")[0] for line in proc.stdout.splitlines()}
    assert offered == {"--dest-creds", "--dest-tls-verify"}, proc.stdout


def test_zsh_completion(bin_dir: Path) -> None:
    """zsh checks the script's syntax; then what the script asks scratchpack, in zsh's form
    (``name:description``), comes back for command names."""
    need("zsh", "shell completion is tested in zsh")
    generated = subprocess.run(["scratchpack", "completion", "zsh"], capture_output=True,
                               text=True, env=_env(bin_dir), check=True).stdout  # fmt: skip
    assert "compdef _python_argcomplete scratchpack" in generated
    syntax = subprocess.run(["zsh", "-n"], input=generated, capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert syntax.returncode == 0, syntax.stderr
    line = "scratchpack lo"
    ask = ('COMP_LINE="$1" COMP_POINT=${#1} _ARGCOMPLETE=1 _ARGCOMPLETE_SHELL=zsh '
           "_ARGCOMPLETE_SUPPRESS_SPACE=1 scratchpack 8>&1 9>&2 1>/dev/null 2>&1")  # fmt: skip
    proc = subprocess.run(["zsh", "-fc", ask, "zsh", line], capture_output=True, text=True,
                          env=_env(bin_dir), timeout=60, check=False)  # fmt: skip
    entries = proc.stdout.split("\v")
    names = {entry.split(":", 1)[0] for entry in entries if entry}
    assert names == {"login", "logout"}, proc.stdout
    assert any("credentials" in entry for entry in entries), entries


def test_completion_is_not_imported_on_the_normal_path(tmp_path: Path) -> None:
    """argcomplete only when the shell asks (_ARGCOMPLETE): --version and lint stay lean."""
    probe = (
        "import sys\nfrom scratchpack.cli.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print('argcomplete' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("_ARGCOMPLETE", None)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stdout + proc.stderr


def test_completion_needs_a_known_shell() -> None:
    result = run_cli("completion", "tcsh")
    assert result.code == 2
    assert "invalid choice: 'tcsh'" in result.stderr
