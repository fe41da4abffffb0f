"""Rules on what an image says about itself (SP6xx): its labels, checked against the label
schema of the configuration (hadolint's ``label-schema``), and its HEALTHCHECK.

Labels are what registries, scanners and ``docker inspect`` users read to find an image's
source, licence and version; a schema makes a team's required labels a checked contract
rather than a convention. Every value type is judged by a reading of its standard (RFC 3986
URLs, RFC 3339 times, SPDX licence expressions from the SPDX list the ``license-expression``
package ships, SemVer 2.0.0, RFC 5322 addresses), not by a loose pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.rules.core import Finding, Rule, RuleDoc, parent_stage, rule, unquote
from scratchpack.dockerfile.rules.examples import PINNED, SAFE_TAIL
from scratchpack.reports.severity import Severity


def label_pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """A LABEL's keys and values without their quotes (BuildKit gives them alternating, quotes
    kept, whether written ``key=value`` or in the legacy ``key value`` form)."""
    args = instruction.args
    return [(unquote(k), unquote(v)) for k, v in zip(args[0::2], args[1::2], strict=False)]


def _labels(stage: Stage) -> Iterator[tuple[Instruction, str, str, str]]:
    """Each label of the stage: its instruction, key, value and key as written."""
    for instruction in stage.of("LABEL"):
        for (key, value), written in zip(label_pairs(instruction), instruction.args[0::2],
                                         strict=False):  # fmt: skip
            yield instruction, key, value, written


# -- label keys -------------------------------------------------------------------------------

# Docker's recommendation for label keys: lower-case alphanumerics, dots and dashes (hadolint
# also allows _ and /), starting with a letter, ending with a letter or digit, no doubled
# separator, and none of the namespaces Docker reserves for itself.
# Patterns are kept as text and compiled by `re` at their first use (its cache), not at import:
# label schemas are rare and lint starts once per file from pre-commit and editors (issue 13).
_KEY = r"[a-z](?:[a-z0-9._/-]*[a-z0-9])?"
_RESERVED = ("com.docker.", "io.docker.", "org.dockerproject.")


def _key_problem(key: str) -> str | None:
    if key.startswith(_RESERVED):
        return f"uses the namespace {key.split('.', 2)[0]}.{key.split('.', 2)[1]}. Docker reserves"
    if not re.fullmatch(_KEY, key):
        return (
            "must be lower-case letters, digits, '.', '-', '_' or '/', start with a letter and "
            "end with a letter or digit"
        )
    if ".." in key or "--" in key:
        return "has a doubled separator"
    return None


def _sp600_doc() -> RuleDoc:
    return RuleDoc(
        why="Docker recommends label keys in reverse-DNS form, lower case letters, digits, `.` "
        "and `-`, starting with a letter and ending with a letter or digit; `com.docker.*`, "
        "`io.docker.*` and `org.dockerproject.*` are reserved for Docker. Tools that filter on "
        "labels match them exactly.",
        bad=f"FROM {PINNED}\nLABEL Maintainer=jane\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.authors=jane\n{SAFE_TAIL}",
        fix="Use a lower-case, reverse-DNS key (the OCI ones: `org.opencontainers.image.*`).",
    )


@rule("SP600", Severity.INFO, "metadata", "Invalid label key", hadolint=("DL3048",), doc=_sp600_doc)
def label_key(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction, key, _, written in _labels(stage):
            problem = _key_problem(key)
            if problem is not None:
                yield meta.at_word(dockerfile, instruction, written, f"label key {key!r} {problem}")


# -- the schema -------------------------------------------------------------------------------


def _copy_sources(dockerfile: Dockerfile) -> set[str]:
    """Stages something copies from (``COPY --from``): parts of another stage's image, not
    images of their own."""
    sources: set[str] = set()
    for stage in dockerfile.stages:
        for copy in stage.of("COPY"):
            source = copy.flag("from")
            found = dockerfile.stage_named(source) if source else None
            if found is not None:
                sources.add(found.label)
    return sources


def _missing(dockerfile: Dockerfile, has: Callable[[Stage], bool]) -> list[Stage]:
    """The stages an image built from would lack something in, as hadolint judges it: a stage
    has it when it sets it, inherits it from the stage it is FROM, or a stage built FROM it
    sets it (then the stage is only a step toward that one)."""
    good = set()
    for stage in dockerfile.stages:
        parent = parent_stage(dockerfile, stage)
        if has(stage) or (parent is not None and parent.index in good):
            good.add(stage.index)
    for stage in reversed(dockerfile.stages):
        parent = parent_stage(dockerfile, stage)
        if stage.index in good and parent is not None:
            good.add(parent.index)
    return [s for s in dockerfile.stages if s.index not in good]


def _sp601_doc() -> RuleDoc:
    return RuleDoc(
        why="A label the team's schema requires (source, licence, revision) is what registries "
        "and scanners show; an image without it is anonymous. A stage has it if it sets it, "
        "inherits it from the stage it is FROM, or a stage FROM it sets it; stages only copied "
        "from are not images of their own.",
        bad=f"FROM {PINNED}\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.source="
        f"https://github.com/example/app\n{SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.source" = "url"\n',
        fix="Add the label with `LABEL name=value` in the stage (or one it is FROM).",
    )


@rule("SP601", Severity.INFO, "metadata", "A label the schema requires is missing",
      hadolint=("DL3049",), doc=_sp601_doc)  # fmt: skip
def label_missing(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    copied = _copy_sources(dockerfile)
    for name in dockerfile.label_schema:

        def has(stage: Stage, name: str = name) -> bool:
            return any(key == name for _, key, _, _ in _labels(stage))

        for stage in _missing(dockerfile, has):
            if stage.label not in copied:
                yield meta.finding(
                    f"label {name} is missing (the configuration's label-schema requires it)",
                    stage.line,
                )


def _sp602_doc() -> RuleDoc:
    return RuleDoc(
        why="With `strict-labels = true`, the schema lists every label the images may carry: "
        "anything else is a typo of a required one or metadata nobody agreed on.",
        bad=f"FROM {PINNED}\nLABEL org.opencontainers.image.source=https://example.com/app "
        f"maintainer=jane\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.source=https://example.com/app"
        f"\n{SAFE_TAIL}",
        config='strict-labels = true\n[label-schema]\n"org.opencontainers.image.source" = "url"\n',
        fix="Remove the label, or add it to `label-schema`.",
    )


@rule("SP602", Severity.INFO, "metadata", "A label outside the schema (strict-labels)",
      hadolint=("DL3050",), doc=_sp602_doc)  # fmt: skip
def label_superfluous(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    if not dockerfile.strict_labels:
        return
    for stage in dockerfile.stages:
        for instruction, key, _, written in _labels(stage):
            if key not in dockerfile.label_schema:
                yield meta.at_word(
                    dockerfile,
                    instruction,
                    written,
                    f"label {key} is not in the label-schema, and strict-labels allows no other",
                )


def _sp603_doc() -> RuleDoc:
    return RuleDoc(
        why="An empty value satisfies the letter of a required label and none of its purpose.",
        bad=f'FROM {PINNED}\nLABEL org.opencontainers.image.title=""\n{SAFE_TAIL}',
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.title=app\n{SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.title" = "text"\n',
        fix="Give it a value (a build argument works: `LABEL name=$VALUE`).",
    )


@rule("SP603", Severity.WARNING, "metadata", "A label the schema requires is empty",
      hadolint=("DL3051",), doc=_sp603_doc)  # fmt: skip
def label_empty(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction, key, value, written in _labels(stage):
            if key in dockerfile.label_schema and not value:
                yield meta.at_word(dockerfile, instruction, written, f"label {key} is empty")


# SemVer 2.0.0: MAJOR.MINOR.PATCH, no leading zeros, optional pre-release and build metadata
_NUMBER = r"(?:0|[1-9][0-9]*)"
_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = (
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-{_IDENT}(?:\.{_IDENT})*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
# RFC 3339 section 5.6: full-date "T" full-time, with a time offset (Z or +hh:mm)
_RFC3339 = r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
# RFC 5322 addr-spec in its dot-atom form (the quoted local parts of section 3.4.1 aside)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"


# the characters RFC 3986 allows in a URI (unreserved, reserved and percent-encoding)
_URI_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"


_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"


def _url(value: str) -> bool:
    """An absolute URI (RFC 3986: a scheme, a hier-part, only the characters the grammar
    allows, ``%`` only as a percent-encoding, brackets only around an IP literal host)."""
    from urllib.parse import urlsplit  # only when a schema asks for a URL

    if re.fullmatch(_URI_CHARS, value) is None or re.search(r"%(?![0-9A-Fa-f]{2})", value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return False
    return (
        re.fullmatch(_SCHEME, parts.scheme) is not None
        and bool(parts.netloc or parts.path)
        and "[" not in parts.path + parts.query + parts.fragment
    )


def _rfc3339(value: str) -> bool:
    match = re.fullmatch(_RFC3339, value)
    if match is None:
        return False
    from datetime import datetime  # only when a schema asks for a time: not on lint's path

    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:  # a leap second (:60) is valid RFC 3339; datetime does not know it
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    offset = match.group(8)
    return second <= 60 and (len(offset) == 1 or (int(offset[1:3]) < 24 and int(offset[4:]) < 60))


@lru_cache(maxsize=1)
def _spdx() -> Any:
    from license_expression import get_spdx_licensing  # its SPDX list loads in ~0.1 s

    return get_spdx_licensing()


def _spdx_expression(value: str) -> bool:
    """An SPDX licence expression of licences on the SPDX list (``MIT``, ``Apache-2.0 OR
    MIT``): what ``org.opencontainers.image.licenses`` holds."""
    if not value.strip():
        return False
    try:
        return not _spdx().validate(value).errors
    # license-expression 30.4 raises on some invalid expressions ("MIT OR"), and fails while
    # raising (an AttributeError): any failure means the value is not a valid expression
    except Exception:
        return False


def _git_hash(value: str) -> bool:
    """A full SHA-1 (40) or SHA-256 (64) commit id, or the 7-character short form."""
    return len(value) in (7, 40, 64) and all(c in "0123456789abcdef" for c in value)


def _matches(pattern: str) -> Callable[[str], bool]:
    return lambda value: re.fullmatch(pattern, value) is not None


_TYPES: dict[str, tuple[Callable[[str], bool], str]] = {
    "url": (_url, "is not a valid URL (an absolute URI, RFC 3986)"),
    "rfc3339": (_rfc3339, "is not an RFC 3339 time (such as 2024-05-01T12:00:00Z)"),
    "spdx": (_spdx_expression, "is not an SPDX licence expression (such as MIT or Apache-2.0)"),
    "hash": (_git_hash, "is not a git commit hash (7 or 40 lower-case hex digits)"),
    "semver": (_matches(_SEMVER), "does not follow semantic versioning (such as 1.2.3)"),
    "email": (_matches(_EMAIL), "is not an email address (RFC 5322)"),
}


def _typed(kind: str) -> Callable[[Dockerfile, Rule], Iterator[Finding]]:
    valid, problem = _TYPES[kind]

    def check(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
        wanted = {name for name, k in dockerfile.label_schema.items() if k == kind}
        if not wanted:
            return
        for stage in dockerfile.stages:
            for instruction, key, value, written in _labels(stage):
                # an empty value is SP603's; a build argument is known only when building
                if key in wanted and value and "$" not in value and not valid(value):
                    yield meta.at_word(
                        dockerfile, instruction, written, f"label {key}={value!r} {problem}"
                    )

    return check


def _sp604_doc() -> RuleDoc:
    return RuleDoc(
        why="A label typed `url` is followed by tools (the source link a registry shows): it "
        "must be an absolute URI (RFC 3986), scheme included.",
        bad=f"FROM {PINNED}\nLABEL org.opencontainers.image.source=github.com/example/app"
        f"\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.source="
        f"https://github.com/example/app\n{SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.source" = "url"\n',
        fix="Write the full URL, `https://` included.",
    )


rule("SP604", Severity.WARNING, "metadata", "A label the schema types as a URL is not one",
     hadolint=("DL3052",), doc=_sp604_doc)(_typed("url"))  # fmt: skip


def _sp605_doc() -> RuleDoc:
    return RuleDoc(
        why="`org.opencontainers.image.created` and other time labels are RFC 3339 date-times "
        "(`2024-05-01T12:00:00Z`): anything else does not sort or compare.",
        bad=f"FROM {PINNED}\nLABEL org.opencontainers.image.created=2024-05-01\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.created=2024-05-01T12:00:00Z"
        f"\n{SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.created" = "rfc3339"\n',
        fix="Write a date, `T`, a time and an offset (`Z` or `+02:00`); a build argument "
        "(`LABEL ...created=$CREATED`) is taken as given.",
    )


rule("SP605", Severity.WARNING, "metadata", "A label the schema types as a time is not RFC 3339",
     hadolint=("DL3053",), doc=_sp605_doc)(_typed("rfc3339"))  # fmt: skip


def _sp606_doc() -> RuleDoc:
    return RuleDoc(
        why="`org.opencontainers.image.licenses` is an SPDX licence expression; scanners and SBOM "
        "tools read it as one. Checked against the SPDX list the `license-expression` package "
        "ships, expressions (`MIT OR Apache-2.0`) included; hadolint accepts one identifier "
        "only.",
        bad=f"FROM {PINNED}\nLABEL org.opencontainers.image.licenses=Apache2\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.licenses=Apache-2.0\n{SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.licenses" = "spdx"\n',
        fix="Use the SPDX identifier (https://spdx.org/licenses/).",
    )


rule("SP606", Severity.WARNING, "metadata", "A label the schema types as a licence is not SPDX",
     hadolint=("DL3054",), doc=_sp606_doc)(_typed("spdx"))  # fmt: skip


def _sp607_doc() -> RuleDoc:
    return RuleDoc(
        why="`org.opencontainers.image.revision` names the commit the image was built from: a "
        "branch name or a tag moves. A git hash is 40 (or, in SHA-256 repositories, 64) "
        "lower-case hex digits, or the 7-digit short form.",
        bad=f"FROM {PINNED}\nLABEL org.opencontainers.image.revision=main\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.revision={'0a1b2c3' * 5}0a1b2"
        f"\n{SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.revision" = "hash"\n',
        fix="Pass the commit: `--build-arg REVISION=$(git rev-parse HEAD)` and "
        "`LABEL org.opencontainers.image.revision=$REVISION`.",
    )


rule("SP607", Severity.WARNING, "metadata", "A label the schema types as a git hash is not one",
     hadolint=("DL3055",), doc=_sp607_doc)(_typed("hash"))  # fmt: skip


def _sp608_doc() -> RuleDoc:
    return RuleDoc(
        why="A label typed `semver` is compared as a version (SemVer 2.0.0: `1.2.3`, "
        "`1.2.3-rc.1`); `v1.2` does not compare.",
        bad=f"FROM {PINNED}\nLABEL org.opencontainers.image.version=v1.2\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL org.opencontainers.image.version=1.2.0\n{SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.version" = "semver"\n',
        fix="Write MAJOR.MINOR.PATCH, without a `v`.",
    )


rule("SP608", Severity.WARNING, "metadata", "A label the schema types as a version is not SemVer",
     hadolint=("DL3056",), doc=_sp608_doc)(_typed("semver"))  # fmt: skip


def _sp609_doc() -> RuleDoc:
    return RuleDoc(
        why="A label typed `email` is where people and tools write to: it must be an address "
        "(RFC 5322 `local@domain`).",
        bad=f"FROM {PINNED}\nLABEL com.example.contact=jane.example.com\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nLABEL com.example.contact=jane@example.com\n{SAFE_TAIL}",
        config='[label-schema]\n"com.example.contact" = "email"\n',
        fix="Write the address.",
    )


rule("SP609", Severity.WARNING, "metadata", "A label the schema types as an email is not one",
     hadolint=("DL3058",), doc=_sp609_doc)(_typed("email"))  # fmt: skip


# -- HEALTHCHECK ------------------------------------------------------------------------------


def _sp610_doc() -> RuleDoc:
    return RuleDoc(
        why="Without a HEALTHCHECK, Docker and Swarm know only whether the process runs, not "
        "whether it answers. Off by default, as in hadolint (Kubernetes ignores HEALTHCHECK and "
        "uses its own probes); `HEALTHCHECK NONE` says there is none on purpose. The image-side "
        "check is `scratchpack audit`'s SPI300. As in hadolint, a stage has one if it, a stage "
        "it is FROM, or a stage FROM it sets one.",
        bad=f'FROM {PINNED}\n{SAFE_TAIL}CMD ["/app/server"]\n',
        good=f'FROM {PINNED}\n{SAFE_TAIL}HEALTHCHECK CMD ["/app/server", "--check"]\n'
        'CMD ["/app/server"]\n',
        config='[severity]\nSP610 = "info"\n',
        fix="Add `HEALTHCHECK CMD [...]` running a check the app answers (or `HEALTHCHECK NONE`).",
    )


@rule("SP610", Severity.INFO, "metadata", "No HEALTHCHECK", hadolint=("DL3057",),
      dockle="CIS-DI-0006", default=False, doc=_sp610_doc)  # fmt: skip
def healthcheck_missing(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in _missing(dockerfile, lambda s: bool(s.of("HEALTHCHECK"))):
        yield meta.finding(
            f"stage {stage.label} has no HEALTHCHECK (HEALTHCHECK NONE says there is none on "
            "purpose): an orchestrator cannot tell a hung container from a working one",
            stage.line,
        )
