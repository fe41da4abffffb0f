"""Parse transport-qualified image names into typed locations."""

from __future__ import annotations

import re
from pathlib import Path

from scratchpack.errors import ReferenceError_, UsageError
from scratchpack.model.reference import Reference, valid_tag

TRANSPORTS = ("oci", "docker-archive", "docker-daemon", "docker", "containers-storage")
# USER[:PASS]@ before the first "/" (NAME@sha256:... is a digest, not credentials)
_USERINFO = re.compile(r"^((?:[a-z-]+:)?//)?([^/@]*)@(?!sha(?:256|384|512):)")


def redact_userinfo(text: str) -> str:
    """``[docker://]USER:PASSWORD@HOST...`` as it may be shown: ``USER:***@HOST...``."""
    match = _USERINFO.match(text)
    if not match:
        return text
    user = match.group(2).split(":", 1)[0]
    return f"{match.group(1) or ''}{user}:***@{text[match.end() :]}"


def parse_registry_reference(text: str, shown: str | None = None) -> Reference:
    """``[HOST/]REPO[:TAG|@DIGEST]``; credentials written into it are refused without ever
    being echoed (``shown`` is how the whole name may be quoted)."""
    if _USERINFO.match(text):
        raise UsageError(
            f"invalid image name {redact_userinfo(shown or text)!r}: credentials do not belong "
            "in an image name; use --creds USER:PASS or `scratchpack login`"
        )
    return Reference.parse(text)


class _Name:
    """The equality, hash and repr a frozen dataclass would give, for the names below.

    Plain classes, not dataclasses: every ``pack`` and ``copy`` parses a name, and building
    five dataclasses (plus importing ``dataclasses`` and ``inspect``) was part of the
    start-up issue 17 measures. Two names are equal when they are of the same transport and
    every field is."""

    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Name)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self._fields()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({shown})"


class OciName(_Name):
    __slots__ = ("directory", "tag")

    def __init__(self, directory: Path, tag: str | None) -> None:
        self.directory = directory
        self.tag = tag

    def __str__(self) -> str:
        return f"oci:{self.directory}" + (f":{self.tag}" if self.tag else "")


class ArchiveName(_Name):
    __slots__ = ("file", "reference")

    def __init__(self, file: Path, reference: Reference | None) -> None:
        self.file = file
        self.reference = reference

    def __str__(self) -> str:
        return f"docker-archive:{self.file}" + (
            f":{self.reference.familiar()}" if self.reference else ""
        )


class DaemonName(_Name):
    __slots__ = ("reference",)

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    def __str__(self) -> str:
        return f"docker-daemon:{self.reference.familiar()}"


class RegistryName(_Name):
    __slots__ = ("reference",)

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    def __str__(self) -> str:
        return f"docker://{self.reference}"


class StorageName(_Name):
    """An image in podman's local storage: a name, a short name or an image ID, as podman
    takes it."""

    __slots__ = ("reference",)

    def __init__(self, reference: str) -> None:
        self.reference = reference

    def __str__(self) -> str:
        return f"containers-storage:{self.reference}"


ImageName = OciName | ArchiveName | DaemonName | RegistryName | StorageName


def parse_image_name(text: str) -> ImageName:
    """Parse ``TRANSPORT:DETAILS``; every malformed name is a :class:`UsageError`."""
    transport, sep, rest = text.partition(":")
    if not sep or transport not in TRANSPORTS:
        hint = f"unknown transport {transport!r}" if sep else "no transport given"
        if _USERINFO.match(text):
            hint = "credentials do not belong in an image name"
        raise UsageError(
            f"invalid image name {redact_userinfo(text)!r}: {hint}; use oci:DIR[:TAG], "
            "docker-archive:FILE[:NAME[:TAG]], docker-daemon:NAME[:TAG], "
            "docker://HOST/REPO[:TAG|@DIGEST] or containers-storage:NAME[:TAG]"
        )
    if transport == "docker":
        if not rest.startswith("//") or len(rest) == 2:
            raise UsageError(f"invalid image name {text!r}: expected docker://[HOST/]REPO[:TAG]")
        return RegistryName(parse_registry_reference(rest[2:], text))
    if transport == "containers-storage":
        if not rest or rest.startswith("["):
            raise UsageError(
                f"invalid image name {text!r}: containers-storage: needs NAME[:TAG] or an image "
                "ID (storage specifiers like [overlay@/path] are not supported)"
            )
        return StorageName(rest)
    if transport == "oci":
        directory, _, tag = rest.partition(":")
        if not directory:
            raise UsageError(f"invalid image name {text!r}: oci: needs a directory")
        if tag and not valid_tag(tag):
            raise ReferenceError_(
                f"invalid image name {text!r}: bad tag {tag!r} "
                "(letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"
            )
        return OciName(Path(directory), tag or None)
    if transport == "docker-archive":
        file, _, ref = rest.partition(":")
        if not file:
            raise UsageError(f"invalid image name {text!r}: docker-archive: needs a file")
        return ArchiveName(Path(file), Reference.parse(ref) if ref else None)
    if not rest:
        raise UsageError(f"invalid image name {text!r}: docker-daemon: needs NAME[:TAG]")
    return DaemonName(Reference.parse(rest))
