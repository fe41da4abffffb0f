"""SLSA v1 provenance (``https://slsa.dev/provenance/v1``) of an image scratchpack wrote.

The predicate says who built it (``runDetails.builder``: scratchpack and its version), how
(``buildDefinition.buildType``, a scratchpack URI per command, and ``externalParameters``: the
options the command was given, never credentials) and from what (``resolvedDependencies``: the
inputs with their sha256 digests: the binary and every file packed, the base or ``--from``
image's manifest digest, each Debian package of a build with the sha256 of its ``.deb``; for
``pack DIR``, the runtime's Debian packages by the sha256 of their ``.deb``, each wheel pip
installed by its sha256 (from pip's installation report), each npm package by its
``package-lock.json`` integrity, and the project's lock file by its digest).
``runDetails.metadata`` has ``startedOn``/``finishedOn`` only when ``SOURCE_DATE_EPOCH`` is not
set: with it, the document, like the image, is the same bytes on every rebuild.

The inputs are collected by the operations that read them (``pack``, ``build``, ``copy``), as
``Input`` records; this module only hashes files and lays the document out.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

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


class PlannedDeb(Protocol):
    """A resolved Debian package as a plan or lock pins it (``operations.build.Locked``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def architecture(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def url(self) -> str: ...


def deb_inputs(packages: Iterable[PlannedDeb]) -> list[Input]:
    """Every package of a resolved plan, by the sha256 of its ``.deb``, as the lock pins it."""
    return [deb_input(p.name, p.version, p.architecture, p.sha256, p.url) for p in packages]


def wheel_inputs(reports: Iterable[Path]) -> list[Input]:
    """The wheels pip installed, from its installation reports (``pip install --report``,
    pip's own record of what it resolved: name, version, where from and the archive's
    hash); a wheel pip built here (the project's own) is hashed from its file. Named by
    file, with a ``pkg:pypi`` purl; sorted by name."""
    found: dict[str, Input] = {}
    for path in reports:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ScratchpackError(f"cannot read pip's report {path}: {exc}") from exc
        for item in report.get("install", []) if isinstance(report, dict) else []:
            wheel = _wheel_input(item)
            if wheel is not None:
                found[wheel.name] = wheel
    return [found[name] for name in sorted(found)]


def _wheel_input(item: Any) -> Input | None:
    meta = item.get("metadata") if isinstance(item, dict) else None
    info = item.get("download_info") if isinstance(item, dict) else None
    if not isinstance(meta, dict) or not isinstance(info, dict):
        return None
    name, version, url = meta.get("name"), meta.get("version"), info.get("url")
    if not (isinstance(name, str) and isinstance(version, str) and isinstance(url, str)):
        return None
    parts = urlsplit(url)
    filename = unquote(parts.path.rsplit("/", 1)[-1]) or f"{name}-{version}"
    archive = info.get("archive_info")
    hashes = archive.get("hashes") if isinstance(archive, dict) else None
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    local = parts.scheme == "file"
    digest = None
    if isinstance(sha256, str) and len(sha256) == 64:
        digest = Digest("sha256", sha256.lower())
    elif local and Path(unquote(parts.path)).is_file():
        digest = file_digest(Path(unquote(parts.path)))  # built here: no index hash exists
    purl = f"pkg:pypi/{_pypi_name(name)}@{version}"
    # a file:// location is this run's scratch directory: meaningless to a reader
    return Input(filename, digest, uri=purl, download_location="" if local else url)


def _pypi_name(name: str) -> str:
    """The purl spec's PyPI name: lower case, ``_`` as ``-``."""
    return name.lower().replace("_", "-")


def npm_inputs(lock: Path) -> list[Input]:
    """The packages a ``package-lock.json`` (v2/v3 ``packages``) pins that ``npm ci
    --omit=dev`` installs, as ``name@version`` with the lock's integrity (SRI: sha512, else
    sha256, as hex) and ``resolved`` URL; dev-only and linked entries are left out."""
    try:
        doc = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ScratchpackError(f"cannot read {lock}: {exc}") from exc
    packages = doc.get("packages") if isinstance(doc, dict) else None
    found: dict[str, Input] = {}
    for key, entry in (packages or {}).items() if isinstance(packages, dict) else ():
        if not key or "node_modules/" not in key or not isinstance(entry, dict):
            continue  # "" is the project itself
        if entry.get("dev") is True or entry.get("link") is True:
            continue
        name = entry.get("name") or key.rsplit("node_modules/", 1)[-1]
        version = entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        resolved = entry.get("resolved")
        label = f"{name}@{version}"
        found[label] = Input(
            label,
            _sri_digest(entry.get("integrity")),
            uri=f"pkg:npm/{quote(name, safe='/')}@{version}",
            download_location=resolved if isinstance(resolved, str) else "",
        )
    return [found[label] for label in sorted(found)]


def _sri_digest(integrity: Any) -> Digest | None:
    """The strongest sha512/sha256 of a Subresource Integrity string, as a hex digest."""
    if not isinstance(integrity, str):
        return None
    by_algorithm: dict[str, str] = {}
    for token in integrity.split():
        algorithm, _, value = token.partition("-")
        if algorithm in ("sha512", "sha256") and algorithm not in by_algorithm:
            try:
                by_algorithm[algorithm] = base64.b64decode(value, validate=True).hex()
            except (binascii.Error, ValueError):
                continue
    for algorithm, size in (("sha512", 128), ("sha256", 64)):
        value = by_algorithm.get(algorithm, "")
        if len(value) == size:
            return Digest(algorithm, value)
    return None  # sha1 only (very old locks): named by version alone


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
