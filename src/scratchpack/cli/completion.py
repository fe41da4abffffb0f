"""Shell completion (bash, zsh, fish) through argcomplete.

``scratchpack completion SHELL`` prints the script the shell sources; the script runs
``scratchpack`` again with ``_ARGCOMPLETE`` set, and only then is argcomplete imported (by
``main``, through :func:`autocomplete`): every other run pays nothing for completion.
"""

from __future__ import annotations

import argparse
from typing import Any

from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.helptext import examples
from scratchpack.cli.output import Output

SHELLS = ("bash", "zsh", "fish")


def add_parser(sub: Any, flags: SharedFlags) -> None:
    c = sub.add_parser(
        "completion",
        help="print the shell completion script for bash, zsh or fish",
        description="Print the shell completion script for bash, zsh or fish.",
        **examples(
            'eval "$(scratchpack completion bash)"        # in ~/.bashrc',
            'eval "$(scratchpack completion zsh)"         # in ~/.zshrc',
            "scratchpack completion fish > ~/.config/fish/completions/scratchpack.fish",
        ),
    )
    c.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    c.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace, out: Output) -> int:
    from argcomplete.shell_integration import shellcode

    print(shellcode(["scratchpack"], shell=args.shell), end="")
    return 0


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit (argcomplete's protocol); returns
    without doing anything when the request is not for us."""
    import argcomplete

    argcomplete.autocomplete(parser)
