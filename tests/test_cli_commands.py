"""The command registry (cli/commands.py, issue 17): a command built alone is the very parser it
is inside the whole one, the whole one still answers what only it can (unknown commands, no
command, the command list), and the CLI's modules import one another without cycles or
private names."""

from __future__ import annotations

import argparse
import ast
import gettext
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT, run_cli
from scratchpack.cli.commands import COMMANDS, build_parser, command_parser
from scratchpack.cli.flags import translation
from scratchpack.cli.main import main

CLI = ROOT / "src" / "scratchpack" / "cli"

# argparse's "choose from" order before the split (main.py built them in this order): an
# unknown command's error must not change
ORDER = ("pack", "inspect", "copy", "digest", "tags", "lint", "init", "audit", "build", "sbom",
         "compare", "scan", "db", "login", "logout", "generate-key-pair", "sign", "verify",
         "attest", "verify-attestation", "completion")  # fmt: skip


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """argparse has no public way to list a parser's subcommands: its action holds them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _shape(parser: argparse.ArgumentParser) -> Iterator[tuple[object, ...]]:
    """What parsing depends on, action by action (nested subcommands too: db's)."""
    for action in parser._actions:
        yield (type(action).__name__, tuple(action.option_strings), action.dest, action.nargs,
               repr(action.default), action.type, action.choices and tuple(action.choices),
               action.required, action.const, action.metavar)  # fmt: skip
        if isinstance(action, argparse._SubParsersAction):
            for name, nested in action.choices.items():
                yield (name, *_shape(nested))
    yield ("defaults", tuple(sorted((k, repr(v)) for k, v in parser._defaults.items())))


def test_the_registry_keeps_the_order_and_every_command() -> None:
    assert tuple(COMMANDS) == ORDER
    assert tuple(_choices(build_parser())) == ORDER


@pytest.mark.parametrize("command", ORDER)
def test_a_command_alone_is_the_parser_it_is_in_the_whole_one(command: str) -> None:
    """Same actions, defaults, handler, help and usage, and nothing else added: the adder of
    each command adds that command alone."""
    alone = build_parser(command)
    whole = build_parser()
    assert list(_choices(alone)) == [command]
    mine, theirs = _choices(alone)[command], _choices(whole)[command]
    assert list(_shape(mine)) == list(_shape(theirs))
    assert mine.format_help() == theirs.format_help()
    assert mine.get_default("func") is theirs.get_default("func")
    assert alone.format_usage() == whole.format_usage()


def test_command_parser_is_built_once_per_process() -> None:
    """The lint server answers many lints in one process: the parser is not rebuilt."""
    assert command_parser("lint") is command_parser("lint")
    assert command_parser("copy") is not command_parser("lint")


def test_an_unknown_command_lists_every_command_in_the_old_order() -> None:
    result = run_cli("lnt", "Dockerfile")
    assert result.code == 2
    listed = ", ".join(repr(name) for name in ORDER)
    assert f"invalid choice: 'lnt' (choose from {listed})" in result.stderr
    assert result.stderr.startswith("usage: scratchpack [-h] [--version] [--debug] COMMAND ...")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "words",
    [["LINT"], ["lin"], ["lint-"], ["-x"], ["--", "lint"], ["pack "]],
)
def test_what_is_not_a_command_name_goes_to_the_whole_parser(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No prefix, case or spacing is taken for a command (argparse never did); each is the
    whole parser's one-line error, exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(words)
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("scratchpack: error: "), err
    assert len([line for line in err if line.startswith("scratchpack: error")]) == 1


def test_no_command_and_global_flags_before_the_command() -> None:
    result = run_cli()
    assert (result.code, result.stderr.splitlines()[-1]) == (
        2, "scratchpack: error: the following arguments are required: COMMAND",
    )  # fmt: skip
    # a global flag first: the whole parser, and the command's own options still apply
    result = run_cli("--debug", "tags", "oci:/nonexistent-layout")
    assert result.code == 2, result.stderr
    assert "Traceback" in result.stderr  # --debug reached the command
    result = run_cli("--debug", "lint", "--no-such-flag")
    assert result.code == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_a_command_alone_refuses_another_commands_options() -> None:
    """Built alone, a command's parser takes no option of another command's."""
    result = run_cli("lint", "--jobs", "2", "Dockerfile")
    assert result.code == 2
    assert "unrecognized arguments: --jobs" in result.stderr
    result = run_cli("digest", "oci:x:1", "--entrypoint", "/app")
    assert result.code == 2
    assert "unrecognized arguments: --entrypoint" in result.stderr


@pytest.fixture
def fake_gettext(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """gettext replaced by a translator that names the language; the messages it was asked."""
    build_parser("lint")  # argparse's lookups go through the cache from now on
    asked: list[str] = []

    def translate(message: str) -> str:
        asked.append(message)
        return f"[{os.environ.get('LANGUAGE')}] {message}"

    monkeypatch.setattr(gettext, "gettext", translate)
    translation.cache_clear()
    yield asked
    translation.cache_clear()  # no fake translation outlives the test


def test_argparse_messages_are_translated_once_per_language(
    fake_gettext: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still gettext's answer, asked once per message while the language stays the same,
    asked again when it changes (the lint server runs each client's environment)."""
    monkeypatch.setenv("LANGUAGE", "xx")
    text = build_parser().format_help() + build_parser("copy").format_help()
    assert "[xx] usage: " in text
    assert "[xx] options:" in text
    assert fake_gettext, "argparse no longer asks gettext: the cache does nothing"
    assert len(fake_gettext) == len(set(fake_gettext))  # 78 lookups before
    monkeypatch.setenv("LANGUAGE", "yy")
    asked = len(fake_gettext)
    assert "[yy] usage: " in build_parser("copy").format_help()
    assert len(fake_gettext) > asked


# -- how the CLI's modules import one another --------------------------------------------------


def _imports(path: Path, *, top_level: bool) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every ``from scratchpack... import`` (or ``import scratchpack...``)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scratchpack"):
            yield str(node.module), [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("scratchpack"):
                    yield alias.name, []


def _cli_modules() -> dict[str, Path]:
    return {f"scratchpack.cli.{p.stem}": p for p in CLI.glob("*.py") if p.stem != "__init__"}


def test_the_cli_modules_import_no_private_name() -> None:
    found = [
        f"{path.name}: from {module} import {name}"
        for path in CLI.glob("*.py")
        for module, names in _imports(path, top_level=False)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert found == []


def test_the_cli_modules_import_one_another_without_a_cycle() -> None:
    """At import time (module level): command modules never import the registry or main()."""
    modules = _cli_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for module, names in _imports(path, top_level=True):
            targets |= {module} | {f"{module}.{n}" for n in names}
        graph[name] = targets & set(modules)
    commands = {f"scratchpack.cli.{module}" for module, _ in COMMANDS.values()}
    for name in commands:
        assert not graph[name] & {"scratchpack.cli.commands", "scratchpack.cli.main"}, name
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for target in graph[name]:
            visit(target, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())
    # the check can fail: it sees the edges there are
    assert "scratchpack.cli.flags" in graph["scratchpack.cli.commands"]
