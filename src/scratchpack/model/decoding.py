"""Typed decoding of manifests, indexes, configs and ``docker save`` manifests.

Every document is decoded here into the structs below before anything reads a field, so a
wrong type becomes one line naming the document and the field (``image config:
config.Entrypoint must be an array of strings, got "sh"``) instead of a traceback wherever the
field happens to be used. The bytes as read are kept by the callers: digests never change
because we re-serialise.

What is strict and what is lenient:

- Descriptors are strict: ``digest`` must be ``sha256:``/``sha512:`` with the right number of
  lowercase hex digits, ``size`` an integer from 0 to 2^63-1 (not a bool, float or string),
  ``mediaType`` a string, ``urls`` strings, ``annotations`` string to string, ``platform`` an
  object with string ``os`` and ``architecture``. These decide what bytes we trust.
- Unknown fields are kept (in the raw document) and otherwise ignored, as the image spec says
  consumers must.
- ``null`` means "absent" for every optional field: Docker writes ``"Env": null``,
  ``"Entrypoint": null``, ``"Labels": null`` (the Debian image saved by dockerd 20.10 does),
  and Go's encoding/json, which every engine uses, treats ``null`` that way.
- Fields of the container config that no engine reads as anything but their documented type
  (``User`` a string, ``Env``/``Entrypoint``/``Cmd`` arrays of strings, ``ExposedPorts`` an
  object...) must have that type; Docker-only tuning fields we never read (``Memory``,
  ``Healthcheck.Interval``...) are not checked.

Why msgspec and not pydantic (both on PyPI here): measured with the same schema (pydantic in
strict mode), minimum of 15 runs, microseconds per document, on a dockerd-built image (4
layers, a 4260-byte config with history, labels, healthcheck), `scratchpack pack` output and
an imported image, on the shared 2-core machine (load ~10, so only the ratios count):

    document (bytes)          json.loads  msgspec  msgspec raw+typed  pydantic  pydantic+raw
    docker-built config 4260        75.9     20.3               36.5      72.7         123.2
    docker-built manifest 910       27.5      6.7               13.9      39.5          65.3
    layout index.json 360            9.2      0.8                5.7      11.5          31.3
    pack config 722                 12.8      3.0                7.5      12.2          14.8
    pack manifest 633                9.7      1.1                3.8      13.5          23.6

We keep the raw document and the typed one (msgspec raw+typed: decode, then convert), 2-4x
faster than pydantic doing the same; importing msgspec adds ~45 ms to a command, pydantic
~250-400 ms. On 100,000 levels of nesting msgspec raises RecursionError at the interpreter's
recursion limit (caught below); pydantic refuses past 200 levels. Neither crashes.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import msgspec.inspect as mi

from scratchpack.errors import FormatError

T = TypeVar("T")

DIGEST_PATTERN = r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$"
MAX_SIZE = 2**63 - 1  # a Go int64, which is what every other tool decodes sizes into

DigestText = Annotated[str, msgspec.Meta(pattern=DIGEST_PATTERN)]
Size = Annotated[int, msgspec.Meta(ge=0, le=MAX_SIZE)]

_PLATFORM_NAMES = {"os_version": "os.version", "os_features": "os.features"}


class PlatformDoc(msgspec.Struct, rename=_PLATFORM_NAMES):
    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = None
    os_features: list[str] | None = None
    features: list[str] | None = None


class DescriptorDoc(msgspec.Struct, rename="camel"):
    digest: DigestText
    size: Size
    media_type: str = ""
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    platform: PlatformDoc | None = None
    artifact_type: str | None = None
    data: str | None = None


class _TopLevelDoc(msgspec.Struct, rename="camel", kw_only=True):
    """The fields image manifests and indexes share."""

    schema_version: Literal[2]
    media_type: str | None = None
    subject: DescriptorDoc | None = None
    annotations: dict[str, str] | None = None
    artifact_type: str | None = None


class ManifestDoc(_TopLevelDoc, kw_only=True):
    config: DescriptorDoc
    layers: list[DescriptorDoc]


class IndexDoc(_TopLevelDoc, kw_only=True):
    manifests: list[DescriptorDoc]


class HealthcheckDoc(msgspec.Struct, rename="pascal"):
    test: list[str] | None = None


class ContainerConfigDoc(msgspec.Struct, rename="pascal"):
    user: str | None = None
    exposed_ports: dict[str, Any] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    volumes: dict[str, Any] | None = None
    working_dir: str | None = None
    labels: dict[str, str] | None = None
    stop_signal: str | None = None
    args_escaped: bool | None = None
    healthcheck: HealthcheckDoc | None = None
    on_build: list[str] | None = None
    shell: list[str] | None = None


class RootFSDoc(msgspec.Struct):
    type: str | None = None
    diff_ids: list[DigestText] | None = None


class HistoryDoc(msgspec.Struct):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class ConfigDoc(msgspec.Struct, rename=_PLATFORM_NAMES):
    rootfs: RootFSDoc
    architecture: str | None = None
    os: str | None = None
    variant: str | None = None
    os_version: str | None = None
    os_features: list[str] | None = None
    created: str | None = None
    author: str | None = None
    config: ContainerConfigDoc | None = None
    history: list[HistoryDoc] | None = None


class ArchiveEntryDoc(msgspec.Struct, rename="pascal"):
    """One image of a ``docker save`` archive's ``manifest.json``."""

    config: str
    repo_tags: list[str] | None = None
    layers: list[str] | None = None


def decode_json(data: bytes, what: str) -> Any:
    """Any JSON document, as plain dicts and lists; malformed or too deep is a FormatError."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:  # also ValidationError: numbers out of range
        raise FormatError(f"{what} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise FormatError(f"{what} is not valid JSON: nested too deeply") from exc


def decode_object(data: bytes, what: str) -> dict[str, Any]:
    obj = decode_json(data, what)
    if not isinstance(obj, dict):
        raise FormatError(field_error(what, "", "a JSON object", obj))
    return obj


def convert(raw: Any, schema: type[T], what: str) -> T:
    """``raw`` (decoded JSON) as ``schema``, or a FormatError naming the first bad field."""
    try:
        return msgspec.convert(raw, schema)
    except msgspec.ValidationError as exc:
        raise FormatError(explain(exc, raw, schema, what)) from exc
    except RecursionError as exc:
        raise FormatError(f"{what} is nested too deeply") from exc


def field_error(what: str, path: str, expected: str, value: Any) -> str:
    where = f"{what}: {path}" if path else what
    return f"{where} must be {expected}, got {show(value)}"


def show(value: Any, width: int = 60) -> str:
    """A value as JSON, cut to ``width`` characters for an error line."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (RecursionError, TypeError, ValueError):
        text = "a deeply nested value"
    return text if len(text) <= width else text[: width - 3] + "..."


# -- turning msgspec's "Expected `array | null`, got `str` - at `$.config.Entrypoint`" into a
# sentence: walk the schema and the document along the path to say what was expected (in
# words, from the schema) and what was there (from the document).

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>.*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>.*)`$")
_INDEX = re.compile(r"\[(\d+)\]")


def explain(exc: msgspec.ValidationError, raw: Any, schema: type[Any], what: str) -> str:
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    try:
        kind, value, path = _walk(mi.type_info(schema), raw, match["path"] or "")
    except (LookupError, TypeError, ValueError, AttributeError):
        return f"{what}: {exc}"  # a path this walker does not follow: msgspec's own words
    missing = _MISSING.match(match["message"])
    if missing:
        return f"{what}: {_join(path, missing['field'])} is missing"
    return field_error(what, path, describe(kind), value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(kind: mi.Type, value: Any, path: str) -> tuple[mi.Type, Any, str]:
    shown, pos = "", 0
    while pos < len(path):
        kind = _unwrap(kind)
        if path.startswith("[...]", pos) and isinstance(kind, mi.DictType):
            # msgspec does not name the key of a bad dict value: find it
            key = next((k for k, v in value.items() if not _fits(v, kind.value_type)), None)
            if key is None:
                raise ValueError(path)
            kind, value, shown, pos = kind.value_type, value[key], f"{shown}[{show(key)}]", pos + 5
        elif (index := _INDEX.match(path, pos)) and isinstance(kind, mi.ListType):
            n = int(index[1])
            kind, value, shown, pos = kind.item_type, value[n], f"{shown}[{n}]", index.end()
        elif path[pos] == "." and isinstance(kind, mi.StructType):
            field = _field_at(kind, path, pos + 1)
            value = value.get(field.encode_name)
            kind, shown = field.type, _join(shown, field.encode_name)
            pos += 1 + len(field.encode_name)
        else:
            raise ValueError(path)
    return kind, value, shown


def _field_at(kind: mi.StructType, path: str, pos: int) -> mi.Field:
    """The field named at ``pos`` (the longest match: ``os.version`` is one field)."""
    fits = [
        f
        for f in kind.fields
        if path.startswith(f.encode_name, pos)
        and path[pos + len(f.encode_name) : pos + len(f.encode_name) + 1] in ("", ".", "[")
    ]
    return max(fits, key=lambda f: len(f.encode_name))


def _unwrap(kind: mi.Type) -> mi.Type:
    if isinstance(kind, mi.UnionType):
        others = [t for t in kind.types if not isinstance(t, mi.NoneType)]
        if len(others) == 1:
            return others[0]
    return kind


def _fits(value: Any, kind: mi.Type) -> bool:
    if isinstance(kind, mi.StrType):
        return isinstance(value, str)
    return True


def describe(kind: mi.Type) -> str:
    """What a schema type accepts, in words (``null`` is always accepted and not said)."""
    kind = _unwrap(kind)
    if isinstance(kind, mi.UnionType):
        return " or ".join(describe(t) for t in kind.types if not isinstance(t, mi.NoneType))
    if isinstance(kind, mi.StrType):
        if kind.pattern == DIGEST_PATTERN:
            return "a digest (sha256: and 64 lowercase hex digits)"
        return "a string"
    if isinstance(kind, mi.BoolType):
        return "true or false"
    if isinstance(kind, mi.IntType):
        if kind.ge == 0 and kind.le == MAX_SIZE:
            return "an integer from 0 to 2^63-1"
        return "an integer"
    if isinstance(kind, mi.LiteralType):
        return " or ".join(show(v) for v in kind.values)
    if isinstance(kind, mi.ListType):
        return f"an array of {_plural(kind.item_type)}"
    if isinstance(kind, mi.DictType):
        if isinstance(kind.value_type, mi.AnyType):
            return "an object"
        return f"an object whose values are {_plural(kind.value_type)}"
    if isinstance(kind, mi.StructType):
        return "an object"
    return "any JSON value"


def _plural(kind: mi.Type) -> str:
    kind = _unwrap(kind)
    if isinstance(kind, mi.StrType):
        return "digests" if kind.pattern == DIGEST_PATTERN else "strings"
    if isinstance(kind, mi.StructType | mi.DictType):
        return "objects"
    return describe(kind)
