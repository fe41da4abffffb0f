"""The command registry: which module of ``cli/`` adds each command's parser, and the parser
of one command or of all of them.

``scratchpack CMD ...`` builds CMD's parser alone and imports CMD's module alone: pre-commit
hooks and editors run one ``lint FILE`` per file, scripts one ``copy`` per image, CI one
``pack`` or ``audit`` per image, and importing every command's module and building every
parser (about 20 ms of CPU on this machine class, docs/benchmarks.md "start-up") was a large
part of their start-up (issue 17). ``--help``, a bare ``scratchpack``, an unknown command and
shell completion build the whole parser, in the order below, so that what they print (the
command list, argparse's "choose from ...") is what it always was.

A command's module exposes one function per command it holds, ``(sub, flags) -> None``,
which adds that command and nothing else (tests/test_cli_help.py holds every one to it).
"""

from __future__ import annotations

import argparse
from functools import cache

from scratchpack import __version__
from scratchpack.cli.flags import Parser, SharedFlags, cache_translations
from scratchpack.cli.helptext import Formatter, command_list

# name -> (module under scratchpack.cli, function adding its parser), in the order argparse
# lists the choices in its "invalid choice" error; `--help` groups them (helptext.GROUPS).
# A family whose commands share their helpers lives in one module (login and logout, the
# five signature commands, scan and db, sbom and compare), each command still added alone.
COMMANDS: dict[str, tuple[str, str]] = {
    "pack": ("pack", "add_parser"),
    "inspect": ("inspect", "add_parser"),
    "copy": ("copy", "add_parser"),
    "digest": ("digest", "add_parser"),
    "tags": ("tags", "add_parser"),
    "lint": ("lint", "add_parser"),
    "init": ("init", "add_parser"),
    "audit": ("audit", "add_parser"),
    "build": ("build", "add_parser"),
    "sbom": ("inventory", "add_sbom"),
    "compare": ("inventory", "add_compare"),
    "scan": ("scan", "add_scan"),
    "db": ("scan", "add_db"),
    "login": ("login", "add_login"),
    "logout": ("login", "add_logout"),
    "generate-key-pair": ("signing", "add_generate_key_pair"),
    "sign": ("signing", "add_sign"),
    "verify": ("signing", "add_verify"),
    "attest": ("signing", "add_attest"),
    "verify-attestation": ("signing", "add_verify_attestation"),
    "completion": ("completion", "add_parser"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with ``only`` (a name in COMMANDS) that command alone under
    the same top-level parser: the same usage, the same global flags, the same help and
    errors for that command."""
    cache_translations()
    parser = Parser(
        prog="scratchpack",
        usage="%(prog)s [-h] [--version] [--debug] COMMAND ...",
        description="Small, secure, reproducible container images without a Docker daemon.",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"scratchpack {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an unexpected error (also SCRATCHPACK_DEBUG=1); may "
        "also follow the command",
    )
    # listed by task in the epilog (helptext.GROUPS) instead of argparse's one flat list
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=Parser,
        help=argparse.SUPPRESS,
        prog="scratchpack",
    )
    sub.required = True
    flags = SharedFlags()
    for name in COMMANDS if only is None else (only,):
        module, function = COMMANDS[name]
        # the import statement's machinery (__import__), not importlib.import_module's pure
        # Python path, which `python -X importtime` does not report: tests/test_startup.py
        # reads that report to hold each command to its modules
        adder = getattr(__import__(f"scratchpack.cli.{module}", fromlist=[function]), function)
        adder(sub, flags)
    if only is None:
        parser.epilog = command_list(sub.choices)
    for command in set(sub.choices.values()):
        # --debug after the command too; SUPPRESS: when absent there, the global one stays
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


@cache
def command_parser(name: str) -> argparse.ArgumentParser:
    """One command's parser, built once per process: the lint server (cli/lintserver.py)
    answers many requests in one process, and building the parser again for each cost about
    10 ms of its ~30."""
    return build_parser(name)
