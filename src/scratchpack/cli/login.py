"""``login`` and ``logout``: registry credentials saved where Docker and podman look for them.

With a credential helper configured (``credsStore``, or ``credHelpers`` for the registry) the
password goes to the helper's ``store`` and never into config.json; otherwise into ``auths``,
as Docker does. The password comes from ``--password-stdin``, a terminal prompt, or ``-p``
(with Docker's warning: it shows in ``ps`` and the shell history).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scratchpack.cli.flags import SharedFlags, seconds, tls_flag
from scratchpack.cli.helptext import examples
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError

MAX_PASSWORD = 64 << 10  # a registry token is a few kB; 64 KiB is no password
_INSECURE = "Using --password via the CLI is insecure. Use --password-stdin."
_AUTHFILE = "credentials file, as skopeo's and podman's (default: $REGISTRY_AUTH_FILE)"


def add_login(sub: Any, flags: SharedFlags) -> None:
    """Its own small flag set, not the shared ones: the copy flags (``--jobs``, ``--quiet``...)
    would do nothing; ``--tls-verify`` as every other command has it."""
    lg = sub.add_parser(
        "login",
        help="check and save registry credentials",
        description="Check and save registry credentials.",
        **examples(
            'echo "$TOKEN" | scratchpack login ghcr.io -u me --password-stdin',
            "scratchpack login registry.example.com:5000 -u me   # prompts for the password",
            "scratchpack login 127.0.0.1:5000 -u me --authfile ./auth.json --password-stdin",
            notes="Checks USERNAME and the password against the registry, then saves them: "
            "through the credential helper when config.json names one, else in --authfile "
            "(default: $REGISTRY_AUTH_FILE, else Docker's config.json).",
        ),
    )
    lg.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT] (docker:// is accepted)")
    lg.add_argument("--username", "-u", metavar="USER", help="prompted for on a terminal")
    lg.add_argument(
        "--password", "-p", metavar="PASSWORD", help="insecure (ps, shell history): prefer "
        "--password-stdin or the prompt"
    )  # fmt: skip
    lg.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    tls_flag(lg)
    lg.add_argument("--authfile", type=Path, metavar="FILE", help=_AUTHFILE)
    lg.add_argument("--timeout", type=seconds, default=60.0, metavar="SECONDS",
                    help="give up on a request that makes no progress for this long")  # fmt: skip
    lg.set_defaults(func=cmd_login)


def add_logout(sub: Any, flags: SharedFlags) -> None:
    lo = sub.add_parser(
        "logout",
        help="forget saved registry credentials",
        description="Forget saved registry credentials.",
        **examples(
            "scratchpack logout registry.example.com:5000",
            "scratchpack logout ghcr.io --authfile ./auth.json",
            notes="Erases REGISTRY's credentials: from the credential helper, and any password "
            "the auth file holds for it.",
        ),
    )
    lo.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT] (docker:// is accepted)")
    lo.add_argument("--authfile", type=Path, metavar="FILE", help=_AUTHFILE)
    lo.set_defaults(func=cmd_logout)


def registry_host(text: str) -> str:
    """``HOST[:PORT]`` from what a user types: ``docker://HOST``, ``https://HOST/`` and a
    trailing slash are accepted (Docker accepts URLs too); ``http://`` is refused rather than
    silently upgraded, because it says the user expects plain HTTP."""
    host = text.strip()
    lowered = host.lower()
    if lowered.startswith("http://"):
        raise UsageError(
            f"{text!r}: give HOST[:PORT]; for a plain-HTTP registry add --tls-verify=false"
        )
    for scheme in ("docker://", "https://"):
        if lowered.startswith(scheme):
            host = host[len(scheme) :]
            break
    host = host.rstrip("/")
    if host in ("index.docker.io", "registry-1.docker.io", "index.docker.io/v1"):
        return "docker.io"
    if not host:
        raise UsageError("give the registry as HOST[:PORT]")
    return host


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin and args.password is not None:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    if args.password_stdin:
        if args.username is None:
            raise UsageError("--password-stdin needs --username")
        # one line, bounded: stdin from /dev/zero (no newline ever) read without end
        line = sys.stdin.readline(MAX_PASSWORD + 1)
        if len(line) > MAX_PASSWORD:
            raise UsageError(f"--password-stdin: a password longer than {MAX_PASSWORD} characters")
        return line.rstrip("\r\n")
    if args.password is not None:
        sys.stderr.write(f"scratchpack: warning: {_INSECURE}\n")
        return str(args.password)
    if not sys.stdin.isatty():
        raise UsageError(
            "no password: give --password-stdin (stdin is not a terminal to prompt on)"
        )
    import getpass  # (only a prompt needs it; every command's parser imports this module)

    return _ask(getpass.getpass, "Password: ")


def _ask(prompt: Any, text: str) -> str:
    """A terminal prompt; Ctrl-D (end of input) is "nothing given", not a traceback."""
    try:
        return str(prompt(text))
    except EOFError:
        sys.stderr.write("\n")
        raise UsageError(f"no {text.rstrip(': ').lower()} given") from None


def cmd_login(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.transports.registry.auth import Credentials, save_login
    from scratchpack.transports.registry.client import RegistryClient

    host = registry_host(args.registry)
    if not args.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.username is None and not args.password_stdin:
        if not sys.stdin.isatty():
            raise UsageError("give --username (stdin is not a terminal to prompt on)")
        args.username = _ask(input, "Username: ").strip()
    if not args.username:
        raise UsageError("a username is required")
    if ":" in args.username:  # Basic auth's USER:PASS cannot carry it (RFC 7617), nor "auth"
        raise UsageError("a username cannot contain ':'")
    password = _password(args)
    if not password:
        raise UsageError("the password is empty")
    creds = Credentials(args.username, password)
    with RegistryClient(host, args.tls_verify, creds, timeout=args.timeout) as client:
        client.check_login()
    where = save_login(host, creds, args.authfile)
    out.line(f"Login succeeded; credentials stored in {where}")
    return 0


def cmd_logout(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.transports.registry.auth import remove_login

    host = registry_host(args.registry)
    where = remove_login(host, args.authfile)
    if where is None:
        out.line(f"Not logged in to {host}")
    else:
        out.line(f"Removed login credentials for {host} from {where}")
    return 0
