"""The pieces of argparse every command's parser is made of: the parser class (one-line usage
errors, the one help formatter), the flags several commands share (registry, ``--jobs``,
``-q``, ``--tls-verify``), and skopeo's bare ``--tls-verify`` spelling.

Kept apart from the command registry (``cli/commands.py``) and from ``main()`` so that each
command's module (``cli/pack.py``, ``cli/audit.py``...) builds its parser from these alone:
``scratchpack audit ...`` imports this module and ``cli/audit.py``, no other command's
(issue 17). argparse and the CLI's small modules only; nothing runs at import time.
"""

from __future__ import annotations

import argparse
import functools
import gettext
import math
import os
import sys
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from scratchpack.cli.helptext import Formatter

# What gettext reads to choose a language: a translation is looked up again when one changes
# (the lint server runs each request in its client's environment).
_LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@cache
def translation(message: str, language: tuple[str | None, ...]) -> str:
    """gettext's translation of one of argparse's messages, for one setting of the language
    variables."""
    return gettext.gettext(message)


def _argparse_gettext(message: str) -> str:
    return translation(message, tuple(os.environ.get(name) for name in _LANGUAGE_VARIABLES))


def cache_translations() -> None:
    """argparse translates its messages with ``gettext.gettext`` each time it makes a parser
    or an option's help ("usage: ", "show this help message and exit"...: 78 calls for the
    whole CLI, 6-12 for one command), and gettext searches the locale directories for a
    catalogue on every call, found or not (~70 µs each on this machine: 5 ms of ``--help``
    and of each shell completion, which builds the whole parser). Each message is looked up
    once per language setting instead; the answer is gettext's. argparse has no hook for
    this: its module-level ``_`` is replaced, only while it is still gettext's own."""
    if vars(argparse).get("_") is gettext.gettext:
        vars(argparse)["_"] = _argparse_gettext


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in the project's one-line style, exit code 2, and
    lays out help with the one formatter every command uses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"scratchpack: error: {message}\n")
        raise SystemExit(2)


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")

# The longest wait a flag may ask for: a year. float() takes ``inf``, ``1e400`` and
# ``99999999999999999999``, and a deadline that far away overflows the time_t and int
# arithmetic of sockets, poll() and subprocess waits (an OverflowError, not a usage error).
MAX_SECONDS = 366 * 24 * 3600


MAX_RETRIES = 100
MAX_JOBS = 256  # blobs in flight at once: far more than any registry serves to one client


def seconds(text: str) -> float:
    """A timeout flag's value: a positive, finite number of seconds up to ``MAX_SECONDS``
    (``nan``, ``inf``, ``0`` and ``-1`` are refused as the flag's usage error, at parse time)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_SECONDS:  # nan compares false too
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, at most {MAX_SECONDS}: {text!r}"
        )
    return value


def days(text: str) -> float:
    """A number of days, 0 or more and finite (``nan`` would silently turn a check off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be 0 or more days: {text!r}")
    return value


@functools.cache  # one function per range: a parser built alone equals the whole one's
def whole_number(low: int, high: int) -> Any:
    """An integer flag's type, ``low`` to ``high``: ``int()`` alone takes any size, and a
    ``--retries`` or ``--jobs`` of 10**20 is a mistake (hours of retrying, a thread per blob),
    not a wish."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}: {text!r}")
        return value

    return parse


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# Flags whose value is optional, as skopeo's: `--tls-verify`, `--tls-verify=false`, and also
# `--tls-verify false`; a following word that is not a boolean is never taken as the value.
_OPTIONAL_BOOLS = frozenset({"--tls-verify", "--src-tls-verify", "--dest-tls-verify"})


def bare_booleans(argv: Sequence[str]) -> list[str]:
    """``--tls-verify docker://h/r`` -> ``--tls-verify=true docker://h/r``: argparse's
    optional value (nargs='?') would otherwise swallow the image argument."""
    out = list(argv)
    for n, word in enumerate(out[:-1]):
        if word == "--":
            break
        if word in _OPTIONAL_BOOLS and out[n + 1].strip().lower() not in _TRUE + _FALSE:
            out[n] = f"{word}=true"
    return out


def tls_flag(group: Any, name: str = "--tls-verify", help: str | None = None) -> None:
    group.add_argument(
        name,
        type=_bool,
        nargs="?",
        const=True,
        default=None if name != "--tls-verify" else True,
        metavar="BOOL",
        help=help
        or "require HTTPS with verified certificates (default true; plain HTTP is "
        "always allowed for localhost and 127.0.0.1); --tls-verify=false or --tls-verify false",
    )


def digest_lookup_flags(group: Any, creds_help: str = "for digest lookups") -> None:
    """The registry flags of the two commands that only look digests up (lint --fix, init).

    They pin FROM lines by asking a registry for a tag's digest: TLS, credentials and a
    timeout, but none of the transfer flags (``--jobs``, ``--dest-*``) of ``registry_flags``.
    """
    tls_flag(
        group, help="for digest lookups: require verified HTTPS (default true; loopback may "
        "use HTTP)",
    )  # fmt: skip
    group.add_argument("--creds", metavar="USER:PASS", help=creds_help)
    group.add_argument(
        "--authfile", type=Path, metavar="FILE",
        help="for digest lookups: credentials file (default: $REGISTRY_AUTH_FILE)",
    )  # fmt: skip
    group.add_argument(
        "--timeout", type=seconds, default=10.0, metavar="SECONDS",
        help="for digest lookups: give up on a registry after this long (default 10)",
    )  # fmt: skip


def registry_flags() -> Parser:
    """What every command that reads a registry takes (skopeo's names where it has them)."""
    flags = Parser(add_help=False)
    group = flags.add_argument_group("registry options")
    tls_flag(group)
    group.add_argument("--creds", metavar="USER:PASS", help="credentials for the registry")
    group.add_argument(
        "--authfile", type=Path, metavar="FILE",
        help="credentials file, as skopeo's and podman's (default: $REGISTRY_AUTH_FILE); "
        "read before Docker's config.json",
    )  # fmt: skip
    group.add_argument(
        "--timeout",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="give up on a registry request that makes no progress for this long (default 60)",
    )
    group.add_argument(
        "--retries",
        type=whole_number(0, MAX_RETRIES),
        default=4,
        metavar="N",
        help="retries of a failed registry request (5xx, 429, resets, timeouts; default 4)",
    )
    return flags


def jobs_flag() -> Parser:
    """For the commands that move blobs (pack, copy, build): elsewhere it would do nothing."""
    flags = Parser(add_help=False)
    flags.add_argument(
        "--jobs",
        type=whole_number(1, MAX_JOBS),
        default=4,
        metavar="N",
        help="blobs transferred in parallel (default 4)",
    )
    return flags


def quiet_flag() -> Parser:
    """``-q`` means the same in every command that has it: no progress and no human summary
    on stdout; ``--format json`` output and errors (stderr) still come."""
    flags = Parser(add_help=False)
    flags.add_argument(
        "--quiet", "-q", action="store_true",
        help="no progress and no summary (as skopeo copy -q); --format json still prints, "
        "errors still go to stderr",
    )  # fmt: skip
    return flags


class SharedFlags:
    """The flag sets several commands take, each built once per parser and only when a command
    asks for it: the whole parser shares one registry set among its ten commands, as it always
    did, and `scratchpack lint` builds none (lint has its own few registry flags)."""

    @cached_property
    def registry(self) -> Parser:
        return registry_flags()

    @cached_property
    def jobs(self) -> Parser:
        return jobs_flag()

    @cached_property
    def quiet(self) -> Parser:
        return quiet_flag()
