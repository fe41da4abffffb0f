"""The ``--check`` flags that ``pack`` and ``audit`` share, and how a failed probe is shown:
its output's tail on stderr, then the one error line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from scratchpack.cli.flags import seconds
from scratchpack.errors import UsageError

if TYPE_CHECKING:
    from scratchpack.operations.probe import ProbeFailed, ProbeSpec


def add_check_flags(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("--check: run a probe in the image (podman, else docker)")
    group.add_argument(
        "--check",
        metavar="JSON|WORDS",
        help=f"run the image with these arguments, {what}, read-only, with no capabilities, "
        "no network and a tmpfs /tmp, as the run user; exit 1 if it exits non-zero or times out",
    )
    group.add_argument(
        "--check-entrypoint",
        metavar="JSON|WORDS",
        help="probe with this program instead of the image's entrypoint",
    )
    group.add_argument(
        "--check-timeout",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="kill the probe after this long, a failure (default 60)",
    )


def probe_spec(args: argparse.Namespace) -> ProbeSpec | None:
    if args.check is None:
        if args.check_entrypoint is not None:
            raise UsageError("--check-entrypoint goes with --check CMD")
        return None
    # only with --check: the pack package is not on audit's import path (issue 17)
    from scratchpack.operations.pack.core import parse_command
    from scratchpack.operations.probe import ProbeSpec

    command = parse_command(args.check, "--check")
    entrypoint = (
        parse_command(args.check_entrypoint, "--check-entrypoint")
        if args.check_entrypoint is not None
        else None
    )
    if not command and entrypoint is None:
        raise UsageError("--check needs a command (its arguments for the entrypoint)")
    return ProbeSpec(command, entrypoint, args.check_timeout)


def show_failure(error: ProbeFailed) -> None:
    """The probe's last lines, so the reason is on screen; the error line follows."""
    for line in error.result.tail():
        sys.stderr.write(f"  {line}\n")
