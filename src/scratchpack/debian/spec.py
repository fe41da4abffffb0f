"""The image spec ``scratchpack build`` reads: a short TOML file (documented key by key in
docs/build.md). Every key is checked here, so a typo is an error naming the key, not a
silently ignored setting.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scratchpack.debian.sources import Source
from scratchpack.errors import UsageError
from scratchpack.fsutil import read_regular
from scratchpack.operations.essentials import RunUser

_IMAGE_KEYS = {
    "suite", "architecture", "packages", "exclude", "essential", "keep-docs", "drop", "user",
    "workdir", "entrypoint", "cmd", "env", "labels", "output",
}  # fmt: skip
_SOURCE_KEYS = {"uri", "suites", "components", "signed-by"}
_FILE_KEYS = {"src", "dest", "mode"}


@dataclass(frozen=True)
class FileSpec:
    src: Path
    dest: str
    mode: int | None = None


@dataclass(frozen=True)
class ImageSpec:
    packages: tuple[str, ...]
    suite: str | None = None  # default: the first suite of the sources
    architecture: str | None = None  # default: the host's
    exclude: tuple[str, ...] = ()
    essential: str = "skip"
    keep_docs: bool = False
    drop: tuple[str, ...] = ()
    user: str = "nonroot:65532:65532"
    workdir: str | None = None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()  # empty: the machine's apt sources
    files: tuple[FileSpec, ...] = ()
    output: str | None = None
    path: Path | None = None  # the spec file, for messages and relative paths


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {key} must be a string or a list of strings")
    return tuple(value)


def _table(value: Any, key: str, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"{where}: {key} must be a table of strings")
    return {str(k): v for k, v in value.items()}


def _unknown(keys: set[str], allowed: set[str], what: str, where: str) -> None:
    extra = sorted(keys - allowed)
    if extra:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(extra)} in {what}; known: "
            f"{', '.join(sorted(allowed))}"
        )


def parse_spec(text: str, path: Path | None = None) -> ImageSpec:
    where = str(path or "spec")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    _unknown(set(data), {"image", "source", "file"}, "the file", where)
    image = data.get("image")
    if not isinstance(image, dict):
        raise UsageError(f"{where}: an [image] table is required")
    _unknown(set(image), _IMAGE_KEYS, "[image]", where)
    packages = _strings(image.get("packages", []), "packages", where)
    if not packages:
        raise UsageError(f"{where}: [image] packages lists nothing to install")
    essential = image.get("essential", "skip")
    if essential not in ("skip", "include"):
        raise UsageError(f'{where}: essential must be "skip" or "include"')
    keep_docs = image.get("keep-docs", False)
    if not isinstance(keep_docs, bool):
        raise UsageError(f"{where}: keep-docs must be true or false")
    base = path.parent if path else Path.cwd()
    sources = []
    for n, item in enumerate(data.get("source", []), 1):
        if not isinstance(item, dict):
            raise UsageError(f"{where}: [[source]] {n} must be a table")
        _unknown(set(item), _SOURCE_KEYS, f"[[source]] {n}", where)
        uri = item.get("uri")
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://", "file:")):
            raise UsageError(f"{where}: [[source]] {n} needs a uri (http, https or file:)")
        suites = _strings(item.get("suites", []), "suites", where)
        if not suites:
            raise UsageError(f"{where}: [[source]] {n} needs suites")
        components = _strings(item.get("components", ["main"]), "components", where)
        signed_by = item.get("signed-by")
        if signed_by is not None and not isinstance(signed_by, str):
            raise UsageError(f"{where}: [[source]] {n} signed-by must be a keyring path")
        for suite in suites:
            sources.append(Source(uri.rstrip("/"), suite, components, signed_by))
    files = []
    for n, item in enumerate(data.get("file", []), 1):
        if not isinstance(item, dict):
            raise UsageError(f"{where}: [[file]] {n} must be a table")
        _unknown(set(item), _FILE_KEYS, f"[[file]] {n}", where)
        src, dest, mode = item.get("src"), item.get("dest"), item.get("mode")
        if not isinstance(src, str) or not isinstance(dest, str) or not dest.startswith("/"):
            raise UsageError(f"{where}: [[file]] {n} needs src and an absolute dest")
        if mode is not None:
            try:
                mode = int(str(mode), 8)
            except ValueError:
                raise UsageError(f'{where}: [[file]] {n} mode must be octal, e.g. "0555"') from None
        files.append(FileSpec(base / src, dest, mode))
    user = image.get("user", "nonroot:65532:65532")
    if not isinstance(user, str):
        raise UsageError(f"{where}: user must be NAME:UID[:GID] or root")
    try:
        RunUser.parse(user)
    except UsageError as exc:
        raise UsageError(f"{where}: user: {exc}") from None
    for key in ("suite", "architecture", "workdir", "output"):
        if key in image and not isinstance(image[key], str):
            raise UsageError(f"{where}: {key} must be a string")
    return ImageSpec(
        packages=packages,
        suite=image.get("suite"),
        architecture=image.get("architecture"),
        exclude=_strings(image.get("exclude", []), "exclude", where),
        essential=essential,
        keep_docs=keep_docs,
        drop=_strings(image.get("drop", []), "drop", where),
        user=user,
        workdir=image.get("workdir"),
        entrypoint=_strings(image.get("entrypoint", []), "entrypoint", where),
        cmd=_strings(image.get("cmd", []), "cmd", where),
        env=_table(image.get("env", {}), "env", where),
        labels=_table(image.get("labels", {}), "labels", where),
        sources=tuple(sources),
        files=tuple(files),
        output=image.get("output"),
        path=path,
    )


MAX_SPEC = 16 << 20  # a spec is a few lines of TOML


def read_spec(path: Path) -> ImageSpec:
    try:
        text = read_regular(path, MAX_SPEC).decode()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such spec file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    return parse_spec(text, path)
