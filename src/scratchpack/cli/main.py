"""``scratchpack`` entry point: the boundary every command runs inside.

``main()`` picks the parser (the named command's alone, else the whole one: cli/commands.py),
parses, installs the progress renderer and maps whatever escapes the command to one stderr
line and an exit code. The commands themselves are in their own modules (cli/pack.py,
cli/lint.py, cli/audit.py...), imported only when named.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from scratchpack.cli.commands import COMMANDS, build_parser, command_parser
from scratchpack.cli.flags import bare_booleans
from scratchpack.cli.output import Output
from scratchpack.errors import ScratchpackError

__all__ = ["build_parser", "main"]


_INPUT_ARGUMENTS = ("image", "source", "images", "binary", "files", "directory", "repository")


def _subject(args: argparse.Namespace) -> str:
    """The command and what it was given, to name the input an unexpected error came from."""
    for name in _INPUT_ARGUMENTS:
        value = getattr(args, name, None)
        if value:
            shown = " ".join(map(str, value)) if isinstance(value, list) else str(value)
            return f"{args.command} {shown}"
    return str(args.command)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """An error message as one line: a file name with a newline or an escape sequence in it
    (someone else's archive or repository picks the names) is shown escaped, ``\\n`` and
    ``\\x1b``, not as a second line or a command to the terminal."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _unexpected(exc: Exception) -> str:
    detail = " ".join(str(exc).split())
    if len(detail) > 200:
        detail = detail[:197] + "..."
    kind = type(exc).__name__
    if isinstance(exc, MemoryError):
        return f"ran out of memory ({kind})"
    return f"unexpected {kind}: {detail}" if detail else f"unexpected {kind}"


def _debugging(args: argparse.Namespace) -> bool:
    env = os.environ.get("SCRATCHPACK_DEBUG", "").strip().lower()
    return bool(getattr(args, "debug", False)) or env in ("1", "true", "yes")


def _print_traceback() -> None:
    import traceback  # only with --debug: not part of every command's start-up

    traceback.print_exc()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. This is the boundary: whatever escapes a command ends as one line on
    stderr and an exit code, and a traceback only when --debug asks for one."""
    words = sys.argv[1:] if argv is None else list(argv)
    completing = "_ARGCOMPLETE" in os.environ  # the shell asks for completions
    # lint loads no renderer here (a tree of files gets one in cli/lint.py)
    lint = words[:1] == ["lint"] and not completing
    # a command named first needs only its own parser and module (`--help` alone, an unknown
    # command and completion show every command): the other commands' parsers and the modules
    # they import were a tenth of a 5 MB static pack and a fifth of a no-op re-push (issue 17)
    if words[:1] and words[0] in COMMANDS and not completing:
        parser = command_parser(words[0])
    else:
        parser = build_parser()
    if completing:  # argcomplete only then
        from scratchpack.cli.completion import autocomplete

        autocomplete(parser)
    try:
        args = parser.parse_args(bare_booleans(words))
    except Exception as exc:
        # a flag's type that raised what argparse does not catch (it takes only ValueError,
        # TypeError and ArgumentTypeError): a bug, but still one line, never a traceback
        if "--debug" in words or _debugging(argparse.Namespace()):
            _print_traceback()
        sys.stderr.write(f"scratchpack: error: the command line: {_unexpected(exc)}\n")
        return 2
    debug = _debugging(args)
    out = Output()
    if lint or getattr(args, "quiet", False):  # nothing to render: no renderer to import
        from contextlib import nullcontext as reporting
    else:
        from scratchpack.cli.progress import reporting  # type: ignore[assignment]

    try:
        # inside the try: the bars stop before an error line is written
        with reporting(bool(getattr(args, "quiet", False))):
            return int(args.func(args, out))
    except BrokenPipeError:
        return 1  # the reader went away (`| head`): nothing to say
    except KeyboardInterrupt:
        sys.stderr.write("scratchpack: interrupted\n")
        return 130
    except ScratchpackError as exc:
        if debug:
            _print_traceback()
        sys.stderr.write(f"scratchpack: error: {_one_line(str(exc))}\n")
        return exc.exit_code
    except OSError as exc:
        # Environmental failures (disk full, permissions) that escaped a more specific message.
        if debug:
            _print_traceback()
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(f"scratchpack: error: {_one_line(f'{exc.strerror or exc}{where}')}\n")
        return 1
    except Exception as exc:
        # A bug, or memory or recursion exhausted: still one line, naming the input.
        if debug:
            _print_traceback()
        hint = "" if debug else " (run with --debug for the traceback)"
        what = _one_line(f"{_subject(args)}: {_unexpected(exc)}")
        sys.stderr.write(f"scratchpack: error: {what}{hint}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
