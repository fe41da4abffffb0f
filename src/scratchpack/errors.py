"""The project's error types.

Every error a user can cause derives from :class:`ScratchpackError`, which the CLI turns into
one line on stderr and an exit code. Anything else escaping is a bug (or memory or recursion
exhausted): the CLI still prints one line naming the input, exit 2, and the traceback only
with ``--debug``.
"""

from __future__ import annotations


class ScratchpackError(Exception):
    """A failure the user can understand and act on (exit code 1)."""

    exit_code = 1


class UsageError(ScratchpackError):
    """The command line asked for something impossible or malformed (exit code 2)."""

    exit_code = 2


class ReferenceError_(UsageError):
    """An image reference (``oci:DIR:TAG`` ...) does not parse."""


class DigestMismatchError(ScratchpackError):
    """Bytes read do not hash to the digest that names them: corrupt or tampered data."""


class FormatError(ScratchpackError):
    """An image, manifest, config or archive is malformed."""


class NotFoundError(ScratchpackError):
    """An image, tag or blob does not exist where the reference points."""


class ImageNotFoundError(NotFoundError):
    """The image a reference names does not exist: no such layout or archive, no such tag,
    manifest or repository, no such daemon image. Exit code 2 in every command, as skopeo's
    (and as ``audit`` has always said of an unreadable image): a script can tell "absent"
    from "failed" (1) without parsing the message. A missing *blob* of an image that exists
    is corruption, not absence, and stays :class:`NotFoundError` (exit 1)."""

    exit_code = 2


class PlatformNotFoundError(NotFoundError):
    """The image has no variant for the platform asked for (``--platform``, or this host's
    when none is given). Exit code 2, as a usage error: the message lists the platforms the
    image has, so the user can pick one; never a silent fallback to another platform."""

    exit_code = 2


class TransportError(ScratchpackError):
    """A daemon or registry could not be reached or refused the request."""


def some(names: list[str], none: str = "none", limit: int = 10) -> str:
    """``names`` for an error message, the first ``limit`` of them then how many more: an
    image's own lists (its tags, its platforms) can hold tens of thousands of entries, and
    an error is one line someone reads (a docker archive of 50,000 tags made a 430 KB line)."""
    if not names:
        return none
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
