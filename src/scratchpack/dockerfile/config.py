"""Lint configuration: ``.scratchpack.toml`` or ``[tool.scratchpack]`` in ``pyproject.toml``.

Looked up from the current directory upwards; the first file found wins. Keys (all optional)::

    ignore = ["SP206", "DL3059"]          # rule codes to skip (SP or hadolint codes)
    failure-threshold = "warning"          # error | warning | info | none (or style, ignore)
    trusted-registries = ["docker.io", "ghcr.io"]
    shellcheck = true                      # false: no ShellCheck on RUNs (as --no-shellcheck)
    strict-labels = false                  # true: a label outside label-schema is a finding
    [severity]
    SP103 = "warning"                      # change a rule's severity (turns on a rule that
                                           # is off by default, such as SP611)
    [label-schema]                         # labels every image must have, with their type:
    "org.opencontainers.image.source" = "url"  # text url rfc3339 spdx hash semver email

When no such file exists, hadolint's configuration is read instead, so a project switching from
hadolint keeps its settings: ``.hadolint.yaml`` (or ``.yml``) in the current directory, else
``$XDG_CONFIG_HOME/hadolint.yaml`` (``~/.config`` when unset). Its DL codes are mapped to the SP
rules that declare them (:func:`parse_hadolint`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from scratchpack.errors import UsageError
from scratchpack.regularfile import open_named, open_regular

if TYPE_CHECKING:
    from scratchpack.dockerfile.model import BaseLookup

# hadolint's severities on our scale: we have no "style" (our "info" is the lowest), and
# hadolint's "ignore", the lowest of its levels, as a threshold fails on any reported finding.
HADOLINT_LEVELS = {
    "error": "error", "warning": "warning", "info": "info", "style": "info", "ignore": "info",
    "none": "none",
}  # fmt: skip
# hadolint's --format names that have an equivalent here
HADOLINT_FORMATS = {"tty": "text", "json": "json", "sarif": "sarif"}
# the label types of hadolint's label-schema
LABEL_TYPES = ("text", "url", "rfc3339", "spdx", "hash", "semver", "email")


class LintConfig(NamedTuple):
    """The settings of one lint run (a NamedTuple, not a dataclass: see dockerfile/model.py;
    the dicts are read, never changed: the default ones are shared)."""

    ignore: frozenset[str] = frozenset()
    failure_threshold: str | None = None
    trusted_registries: frozenset[str] = frozenset()
    severity: dict[str, str] = {}  # noqa: RUF012
    source: Path | None = None
    # hadolint's label-schema (label name -> type: text, url, semver, ...) and strict-labels
    # (no label outside the schema), read by the label rules (rules/metadata.py)
    label_schema: dict[str, str] = {}  # noqa: RUF012
    strict_labels: bool = False
    no_fail: bool = False
    output_format: str | None = None  # text | json | sarif, when the configuration names one
    warnings: tuple[str, ...] = ()  # what was not understood, said once per run by the CLI
    shellcheck: bool = True  # ShellCheck on every RUN, when its binary is installed
    # ShellCheck's results reused for the scripts already checked (--no-cache: not)
    shellcheck_cache: bool = True
    # lint --lookup-bases: registry lookups of the FROM images (not from a file: a repository
    # linted in CI must not make its linter reach the network); None: no lookup
    base_lookup: BaseLookup | None = None


def find_config(start: Path) -> LintConfig:
    for directory in [start, *start.parents]:
        for name in (".scratchpack.toml", "pyproject.toml"):
            path = directory / name
            if not path.is_file():
                continue
            if name == "pyproject.toml" and not _mentions_scratchpack(path):
                continue  # most pyproject.toml files: no TOML parser loaded for them
            data = _load(path)
            if name == "pyproject.toml":
                data = data.get("tool", {}).get("scratchpack")
                if data is None:
                    continue
            return parse_config(data, path)
    for path in _hadolint_candidates(start):
        if path.is_file():
            return load_config(path)
    return LintConfig()


def _hadolint_candidates(start: Path) -> list[Path]:
    """Where hadolint looks, in its order: the current directory, then the XDG config home."""
    import os

    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [start / ".hadolint.yaml", start / ".hadolint.yml",
            Path(xdg) / "hadolint.yaml", Path(xdg) / "hadolint.yml"]  # fmt: skip


def load_config(path: Path) -> LintConfig:
    """One named configuration file (``--config``): YAML (hadolint's) by its suffix, else TOML."""
    if path.suffix in (".yaml", ".yml"):
        return parse_hadolint(_load_yaml(path), path)
    return parse_config(_load(path), path)


# A configuration is a page of settings; a file that is bigger is not one (a Dockerfile's
# repository can be hostile: a pull request linted in CI brings its own configuration).
MAX_CONFIG_BYTES = 1 << 20


def _mentions_scratchpack(path: Path) -> bool:
    """Whether the file can hold a [tool.scratchpack] table, in any TOML spelling of it (an
    unreadable or oversized file is left to _load to report)."""
    try:
        with open_regular(path) as stream:  # a FIFO blocked for ever
            head = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return True
    return len(head) > MAX_CONFIG_BYTES or b"scratchpack" in head


def _read_text(path: Path) -> str:
    """The file's text, read with a cap rather than whole (a configuration found by walking up
    is a regular file, ``is_file``; one named with ``-c`` may be ``/dev/null`` or ``<(...)``)."""
    try:
        with open_named(path) as stream:  # a FIFO elsewhere blocked for ever
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read configuration: {exc.strerror or exc}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"{path}: configuration larger than {MAX_CONFIG_BYTES >> 20} MiB")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: invalid configuration: not UTF-8") from None


def _load(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    if not text.strip():
        return {}  # an empty file (``--config /dev/null``) sets nothing: no TOML parser for it
    import tomllib  # only when a configuration file has something to say

    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: invalid configuration: {exc}") from exc


def _load_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping, or a one-line error naming the line (PyYAML's own messages span
    several lines, with a source excerpt)."""
    import yaml  # only when a YAML configuration is read: it is not on the common path

    text = _read_text(path)
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise UsageError(f"{path}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UsageError(f"{path}: invalid YAML: {where}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: invalid configuration: expected a mapping of keys")
    return data


# hadolint keys with no effect here that need no warning: colour is a terminal matter
_HADOLINT_QUIET = {"no-color"}


def parse_hadolint(data: dict[str, Any], path: Path) -> LintConfig:
    """hadolint's ``.hadolint.yaml`` as our configuration.

    ``ignored`` and ``override`` take DL codes (mapped to every SP rule that declares that
    hadolint code; DL codes without an SP equivalent have nothing to act on) or SP codes.
    Keys hadolint knows and we do not use, and unknown keys, are one warning, not an error:
    the same file still has to work for hadolint.
    """
    from scratchpack.dockerfile.rules import RULES

    warnings: list[str] = []
    ignored = _codes(data.get("ignored"), path, "ignored")
    unknown_codes = [c for c in ignored if not _known_code(c, RULES)]
    severity: dict[str, str] = {}
    override = data.get("override") or {}
    if not isinstance(override, dict):
        raise UsageError(f"{path}: override must map error/warning/info/style to rule lists")
    for level, codes in override.items():
        ours = HADOLINT_LEVELS.get(_shown(level).lower())
        if ours is None or ours == "none" or str(level).lower() == "ignore":
            raise UsageError(
                f"{path}: override.{_shown(level)}: expected error, warning, info or style"
            )
        for code in _codes(codes, path, f"override.{_shown(level)}"):
            matched = [rule.code for rule in RULES.values() if code in rule.names]
            if not matched and not _known_code(code, RULES):
                unknown_codes.append(code)
            severity.update(dict.fromkeys(matched, ours))
    if unknown_codes:
        shown = sorted({_shown(code) for code in unknown_codes})
        warnings.append(f"unknown rule code(s) {', '.join(shown)}")
    threshold = _hadolint_level(data.get("failure-threshold"), path)
    output_format = _scalar(data.get("format"), path, "format")
    if output_format is not None:
        mapped = HADOLINT_FORMATS.get(str(output_format))
        if mapped is None:
            named = _shown(output_format)
            warnings.append(f"format {named!r} not supported (text, json, sarif): ignored")
        output_format = mapped
    no_fail = _bool(data, "no-fail", path)
    known = {"ignored", "override", "trustedRegistries", "label-schema", "failure-threshold",
             "no-fail", "format", "strict-labels", *_HADOLINT_QUIET}  # fmt: skip
    unused = sorted(_shown(key) for key in data if key not in known)
    if unused:
        warnings.append(f"key(s) not used by scratchpack: {', '.join(unused)}")
    return LintConfig(
        ignore=frozenset(ignored),
        failure_threshold=threshold,
        trusted_registries=frozenset(_strings(data.get("trustedRegistries"), path,
                                              "trustedRegistries")),
        severity=severity,
        source=path,
        label_schema=_label_schema(data.get("label-schema"), path),
        strict_labels=_bool(data, "strict-labels", path),
        no_fail=no_fail,
        output_format=output_format,
        warnings=tuple(f"{path}: {w}" for w in warnings),
    )  # fmt: skip


def _bool(data: dict[str, Any], key: str, path: Path) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"{path}: {key} must be true or false")
    return value


def _label_schema(value: Any, path: Path) -> dict[str, str]:
    """label name -> type; an unknown type is an error, as in hadolint, since a schema that
    checks nothing would pass silently."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{path}: label-schema must map label names to types")
    schema = {}
    for name, kind in value.items():
        if not isinstance(kind, str) or kind.lower() not in LABEL_TYPES:
            raise UsageError(
                f"{path}: label-schema: {_shown(name)}: type must be one of "
                + ", ".join(LABEL_TYPES)
            )
        schema[str(name)] = kind.lower()
    return schema


def _known_code(code: str, rules: dict[str, Any]) -> bool:
    """SP codes must name a rule; DL and SC codes are hadolint's and ShellCheck's, whatever
    scratchpack implements of them today; a BuildKit check name must name a rule."""
    return (
        code in rules
        or code.startswith(("DL", "SC"))
        or any(code in rule.names for rule in rules.values())
    )


def _scalar(value: Any, path: Path, key: str) -> str | None:
    """A setting that must be one word: anything else is refused before it is ever turned into
    text (a YAML alias bomb as ``format: *bomb`` takes exponential time to print)."""
    if value is None:
        return None
    if not isinstance(value, str | int | float | bool):
        raise UsageError(f"{path}: {key} must be a single value, not a list or a mapping")
    return str(value)


def _shown(key: Any) -> str:
    """A key or code as a message names it: one line (blanks folded), at most 40 characters."""
    text = " ".join(str(key).split()) if isinstance(key, str | int | float | bool) else "?"
    return text if len(text) <= 40 else text[:37] + "..."


def _hadolint_level(value: Any, path: Path) -> str | None:
    text = _scalar(value, path, "failure-threshold")
    if text is None:
        return None
    level = HADOLINT_LEVELS.get(text.lower())
    if level is None:
        raise UsageError(f"{path}: failure-threshold must be one of {', '.join(HADOLINT_LEVELS)}")
    return level


def _strings(value: Any, path: Path, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise UsageError(f"{path}: {key} must be a list")
    return [str(v) for v in value]


def _codes(value: Any, path: Path, key: str) -> list[str]:
    return [code.strip().upper() for code in _strings(value, path, key)]


def parse_config(data: dict[str, Any], path: Path) -> LintConfig:
    from scratchpack.dockerfile.rules import RULES

    known = {"ignore", "failure-threshold", "trusted-registries", "severity", "shellcheck",
             "label-schema", "strict-labels"}  # fmt: skip
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(map(_shown, unknown)))}")
    threshold = _hadolint_level(data.get("failure-threshold"), path)  # ours, or hadolint's
    shellcheck = data.get("shellcheck", True)
    if not isinstance(shellcheck, bool):
        raise UsageError(f"{path}: shellcheck must be true or false")
    table = data.get("severity") or {}
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UsageError(f"{path}: [severity] must map rule codes to error, warning or info")
    severity = {str(k).upper(): v.lower() for k, v in table.items()}
    for code, level in severity.items():
        if code not in RULES and not (code.startswith("SC") and code[2:].isdigit()):
            raise UsageError(f"{path}: [severity] names an unknown rule {_shown(code)}")
        if level not in ("error", "warning", "info"):
            raise UsageError(f"{path}: [severity] {_shown(code)} must be error, warning or info")
    return LintConfig(
        ignore=frozenset(_codes(data.get("ignore"), path, "ignore")),
        failure_threshold=threshold,
        trusted_registries=frozenset(
            _strings(data.get("trusted-registries"), path, "trusted-registries")
        ),
        severity=severity,
        source=path,
        shellcheck=shellcheck,
        label_schema=_label_schema(data.get("label-schema"), path),
        strict_labels=_bool(data, "strict-labels", path),
    )
