"""Turning the command line's image and registry arguments into the model's terms, for every
command module: the one place that knows the flags' names (``--tls-verify``, ``--creds``,
``--jobs``, ``--timeout``, ``--retries``, ``--authfile``) and the bare-reference shorthand."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from scratchpack.errors import UsageError

if TYPE_CHECKING:
    from scratchpack.dockerfile.model import BaseLookup
    from scratchpack.transports.names import ImageName
    from scratchpack.transports.registry.transport import RegistryOptions


def registry_options(
    args: argparse.Namespace, tls_verify: bool | None = None, creds: str | None = None
) -> RegistryOptions:
    """The registry flags as options; ``tls_verify`` and ``creds`` override ``--tls-verify``
    and ``--creds`` for one side of a copy (skopeo's ``--src-*`` and ``--dest-*``)."""
    from scratchpack.transports.registry.auth import Credentials
    from scratchpack.transports.registry.transport import DEFAULT_JOBS, RegistryOptions

    check_registry_flags(args)
    jobs = getattr(args, "jobs", DEFAULT_JOBS)
    creds = creds or args.creds
    return RegistryOptions(
        tls_verify=args.tls_verify if tls_verify is None else tls_verify,
        credentials=Credentials.parse(creds) if creds else None,
        jobs=jobs,
        timeout=args.timeout,
        retries=args.retries,
        auth_file=args.authfile,
    )


def check_registry_flags(args: argparse.Namespace) -> None:
    """The usage errors of the registry flags, for a command that may not build the options
    (``pack`` to a local destination): the same flags are refused the same way everywhere."""
    if getattr(args, "jobs", 1) < 1:
        raise UsageError("--jobs must be at least 1")
    if not args.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")
    if args.creds:
        from scratchpack.transports.registry.auth import Credentials

        Credentials.parse(args.creds)  # a malformed USER:PASS is refused, used or not


def image_name(text: str) -> ImageName:
    """A transport-qualified name, or a bare registry reference (``host/repo:tag``)."""
    from scratchpack.transports.names import (
        TRANSPORTS,
        RegistryName,
        parse_image_name,
        parse_registry_reference,
    )

    if text.split(":", 1)[0] in TRANSPORTS:
        return parse_image_name(text)
    return RegistryName(parse_registry_reference(text))


def digest_resolver(
    args: argparse.Namespace, explicit_creds: bool = True
) -> tuple[Callable[[str], str] | None, RegistryOptions | None]:
    """``lint --fix`` and ``init`` pin FROM lines by digest: their ``--no-pin``, ``--tls-verify``,
    ``--creds``, ``--authfile`` and ``--timeout`` as a lookup (one retry: a slow registry must
    not hold up a fix), and the options to close after; nothing with ``--no-pin``. ``lint``
    passes ``explicit_creds=False``: there the Dockerfile names the hosts (see
    :func:`lookup_options`)."""
    if args.no_pin:
        return None, None
    from scratchpack.model.reference import Reference
    from scratchpack.operations.digest import registry_digest

    options = lookup_options(args, explicit_creds)

    def resolve(base: str) -> str:
        return str(registry_digest(Reference.parse(base), options))

    return resolve, options


def lookup_options(args: argparse.Namespace, explicit_creds: bool = True) -> RegistryOptions:
    """The options of the lookups ``lint`` and ``init`` make (digests to pin, the platforms of
    base images): ``--tls-verify``, ``--creds``, ``--authfile`` and ``--timeout``, and one
    retry: a slow registry must not hold up a lint. Without ``explicit_creds``, ``--creds``
    (checked all the same) is not used: only the per-host credentials of the auth files."""
    from scratchpack.transports.registry.auth import Credentials
    from scratchpack.transports.registry.transport import RegistryOptions

    if not args.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    creds = Credentials.parse(args.creds) if args.creds else None
    if not explicit_creds:
        creds = None
    return RegistryOptions(
        tls_verify=args.tls_verify,
        credentials=creds,
        timeout=args.timeout,
        retries=1,
        auth_file=args.authfile,
    )


def base_lookup(options: RegistryOptions) -> BaseLookup:
    """``lint --lookup-bases``: the platforms each FROM image is offered for, asked once per
    image and run; a registry that does not answer, or answers what does not read, is no
    answer (None), never an error: a lint must not fail on a network. The target platforms
    are ``DOCKER_DEFAULT_PLATFORM``'s (``docker build``'s default ``--platform``, a comma list
    for several), else the host's. ``options`` should carry no ``--creds``: the Dockerfile
    picks the hosts asked (a pull request's, in CI), and one user's password must not go to
    whichever registry it names; the auth files' credentials are each for their own host."""
    import os

    from scratchpack.dockerfile.model import BaseLookup
    from scratchpack.errors import ScratchpackError
    from scratchpack.model.descriptor import Platform
    from scratchpack.model.reference import Reference
    from scratchpack.operations.digest import registry_platforms

    host = str(Platform.host())
    setting = os.environ.get("DOCKER_DEFAULT_PLATFORM", "")
    targets = []
    for text in filter(None, (part.strip() for part in setting.split(","))):
        try:
            targets.append(str(Platform.parse(text)))
        except UsageError as exc:
            raise UsageError(f"DOCKER_DEFAULT_PLATFORM: {exc}") from None
    answers: dict[str, tuple[str, ...] | None] = {}

    def platforms(image: str) -> tuple[str, ...] | None:
        if image not in answers:
            try:
                offered = registry_platforms(Reference.parse(image), options)
                answers[image] = tuple(dict.fromkeys(str(p) for p in offered))
            except (ScratchpackError, OSError):
                answers[image] = None
        return answers[image]

    return BaseLookup(platforms, tuple(targets) or (host,), host)
