"""SLSA v1 provenance (``https://slsa.dev/provenance/v1``) of an image scratchpack wrote.

The predicate says who built it (``runDetails.builder``: scratchpack and its version), how
(``buildDefinition.buildType``, a scratchpack URI per command, and ``externalParameters``: the
options the command was given, never credentials) and from what (``resolvedDependencies``: the
inputs with their sha256 digests: the binary and every file packed, the base or ``--from``
image's manifest digest, each Debian package of a build with the sha256 of its ``.deb``).
``runDetails.metadata`` has ``startedOn``/``finishedOn`` only when ``SOURCE_DATE_EPOCH`` is not
set: with it, the document, like the image, is the same bytes on every rebuild.

The inputs are collected by the operations that read them (``pack``, ``build``, ``copy``), as
``Input`` records; this module only hashes files and lays the document out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scratchpack import __version__
from scratchpack.errors import ScratchpackError
from scratchpack.fsutil import describe_os_error
from scratchpack.layers.tarwriter import LayerContents
from scratchpack.model.digest import Digest

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# .invalid (RFC 2606): scratchpack has no web site to resolve these; they are names
BUILDER_ID = f"https://scratchpack.invalid/builder/scratchpack@{__version__}"


def build_type(command: str) -> str:
    return f"https://scratchpack.invalid/buildtypes/{command}/v1"


@dataclass(frozen=True)
class Input:
    """One resolved dependency, as an in-toto ResourceDescriptor."""

    name: str
    digest: Digest | None = None
    uri: str = ""
    download_location: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name}
        if self.uri:
            doc["uri"] = self.uri
        if self.digest is not None:
            doc["digest"] = {self.digest.algorithm: self.digest.hex}
        if self.download_location:
            doc["downloadLocation"] = self.download_location
        return doc


def file_digest(path: Path) -> Digest:
    try:
        with path.open("rb") as handle:
            return Digest("sha256", hashlib.file_digest(handle, "sha256").hexdigest())
    except OSError as exc:
        raise ScratchpackError(f"cannot read {path}: {describe_os_error(exc)}") from exc


def file_input(path: Path, name: str) -> Input:
    """A host file packed at ``name`` in the image."""
    return Input(name, file_digest(path), uri=path.resolve().as_uri())


def layer_inputs(layer: LayerContents, *, host_files: bool = True, skip: str = "") -> list[Input]:
    """Every regular file of ``layer`` copied from a file (``skip``: a path listed otherwise),
    named by its path in the image; ``host_files`` False for files from an unpacked image,
    whose scratch path means nothing to a reader."""
    found = []
    for entry in layer.entries():
        if entry.kind != "file" or entry.source is None or entry.path == skip:
            continue
        name = "/" + entry.path
        if host_files:
            found.append(file_input(entry.source, name))
        else:
            found.append(Input(name, file_digest(entry.source)))
    return found


def image_input(name: str, digest: Digest) -> Input:
    return Input(name, digest, uri=name)


def deb_input(name: str, version: str, arch: str, sha256: str, url: str) -> Input:
    purl = f"pkg:deb/debian/{name}@{version}?arch={arch}"
    return Input(name, Digest("sha256", sha256), uri=purl, download_location=url)


def host_package(name: str, version: str) -> Input:
    """A package of this machine's dpkg whose files were packed (recorded in status.d): by
    version alone, as dpkg keeps no digest of the .deb it installed."""
    return Input(name, uri=f"pkg:deb/debian/{name}@{version}")


def predicate(
    command: str,
    parameters: dict[str, Any],
    inputs: list[Input],
    started: dt.datetime | None,
    finished: dt.datetime | None,
) -> dict[str, Any]:
    """The predicate; ``started``/``finished`` None (SOURCE_DATE_EPOCH set) leaves them out."""
    run: dict[str, Any] = {
        "builder": {"id": BUILDER_ID, "version": {"scratchpack": __version__}},
    }
    if started is not None and finished is not None:
        run["metadata"] = {"startedOn": _rfc3339(started), "finishedOn": _rfc3339(finished)}
    return {
        "buildDefinition": {
            "buildType": build_type(command),
            "externalParameters": dict(sorted(parameters.items())),
            "resolvedDependencies": [i.to_json() for i in inputs],
        },
        "runDetails": run,
    }


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
