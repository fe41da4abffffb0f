"""BuildKit's own checks (``docker build --check``, https://docs.docker.com/reference/build-checks/)
that no other family covers (SP341-SP355): each declares BuildKit's name, so that
``# check=skip=NAME``, ``# scratchpack ignore=NAME`` and ``--explain NAME`` find it, and follows
the semantics BuildKit documents and implements.

Where BuildKit knows what a static reading cannot (the environment of a base image pulled from
a registry), the rule says less rather than guess: see UndefinedVar below.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    RuleDoc,
    env_pairs,
    parent_stage,
    rule,
    unquote,
)
from scratchpack.dockerfile.rules.examples import PINNED, SAFE_TAIL
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity


def _at_keyword(
    meta: Rule, dockerfile: Dockerfile, instruction: Instruction, message: str
) -> Finding:
    """A finding at the instruction's keyword (its first non-blank character)."""
    text = (
        dockerfile.lines[instruction.line - 1] if instruction.line <= len(dockerfile.lines) else ""
    )
    column = len(text) - len(text.lstrip()) + 1
    return Finding(meta.code, meta.severity, message, instruction.line, column, instruction.line)


def _consistent(word: str) -> bool:
    return word in (word.lower(), word.upper())


def _sp341_doc() -> RuleDoc:
    return RuleDoc(
        why="Instructions are case-insensitive, but a file that mixes `RUN` and `run` (or writes "
        "`Run`) is harder to read and grep. BuildKit takes the casing most instructions use as "
        "the right one (upper on a tie).",
        bad=f"FROM {PINNED}\nrun touch /x\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN touch /x\n{SAFE_TAIL}",
        fix="Write every instruction in the same case, upper case by convention.",
    )


@rule("SP341", Severity.INFO, "maintainability", "Instructions in mixed case",
      buildkit="ConsistentInstructionCasing", doc=_sp341_doc)  # fmt: skip
def instruction_casing(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    """BuildKit counts the stages' instructions (not the ARGs before the first FROM) that are
    all lower or all upper case; the majority (upper on a tie) is the casing every one must
    have."""
    instructions = [i for stage in dockerfile.stages for i in stage.instructions]
    consistent = [i.keyword for i in instructions if i.keyword and _consistent(i.keyword)]
    lower = sum(1 for k in consistent if k == k.lower())
    majority_lower = lower > len(consistent) - lower
    for instruction in instructions:
        keyword = instruction.keyword
        expected = keyword.lower() if majority_lower else keyword.upper()
        if keyword and keyword != expected:
            casing = "lowercase" if majority_lower else "uppercase"
            yield _at_keyword(
                meta,
                dockerfile,
                instruction,
                f"{keyword} should match the case of the other instructions ({casing}): {expected}",
            )


# -- .dockerignore ----------------------------------------------------------------------------


def _ignore_file(dockerfile: Dockerfile) -> Path | None:
    """The .dockerignore BuildKit reads: ``<Dockerfile name>.dockerignore`` beside it first,
    then the context's ``.dockerignore``."""
    if dockerfile.context is None:
        return None
    for candidate in (
        dockerfile.context / f"{Path(dockerfile.path).name}.dockerignore",
        dockerfile.context / ".dockerignore",
    ):
        if candidate.is_file():
            return candidate
    return None


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match syntax and ``**`` for any number of
    directories, as Docker documents it) as a regular expression over a slash path."""
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("**", i):
            i += 2
            if text.startswith("/", i):  # **/: zero or more directories
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(text):
            i += 1
            out.append(re.escape(text[i]))
        elif char == "[":
            end = text.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = text[i + 1 : end]
                body = "^" + body[1:] if body.startswith("^") else body
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def _normalise(path: str) -> str:
    """A source path as BuildKit cleans it (Go's filepath.Clean), relative to the context."""
    return posixpath.normpath(path.replace("\\", "/")).lstrip("/") or "."


@lru_cache(maxsize=32)
def _ignore_patterns(text: str) -> tuple[tuple[re.Pattern[str], ...], tuple[str, ...]] | None:
    """The exclusion patterns and their text; None when any pattern re-includes (``!``):
    BuildKit does not judge those statically either."""
    compiled: list[re.Pattern[str]] = []
    written: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            return None
        cleaned = _normalise(line)
        if cleaned == ".":
            continue
        compiled.append(_pattern(cleaned))
        written.append(cleaned)
    return tuple(compiled), tuple(written)


def _ignored_by(path: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    """Whether the path or a directory above it matches a pattern."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    return any(p.fullmatch(c) for p in patterns for c in candidates)


def _sp342_doc() -> RuleDoc:
    return RuleDoc(
        why="A file the .dockerignore excludes never reaches the builder: COPY of it fails "
        "(`not found`) or, through a directory, silently copies less than it says. As BuildKit "
        "does, the check is skipped when the .dockerignore re-includes anything with `!`, since "
        "that cannot be judged without the files; `<Dockerfile>.dockerignore` is read before "
        "`.dockerignore`.",
        bad=f"FROM {PINNED}\nCOPY secrets.env /app/\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nCOPY app.conf /app/\n{SAFE_TAIL}",
        bad_context=((".dockerignore", ".git\n*.env\n"),),
        good_context=((".dockerignore", ".git\n*.env\n"),),
        fix="Copy something the context has, or stop excluding it in .dockerignore.",
    )


@rule("SP342", Severity.WARNING, "correctness", "COPY or ADD of a file .dockerignore excludes",
      buildkit="CopyIgnoredFile", doc=_sp342_doc)  # fmt: skip
def copy_ignored(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    ignore_file = _ignore_file(dockerfile)
    if ignore_file is None:
        return
    try:
        read = _ignore_patterns(ignore_file.read_text(errors="replace"))
    except OSError:
        return
    if read is None:
        return
    patterns, written = read
    whole = {"*", "**", "**/*"} & set(written)
    for stage in dockerfile.stages:
        for instruction in stage.of("COPY", "ADD"):
            if instruction.flag("from") or instruction.heredocs or len(instruction.args) < 2:
                continue
            for source in instruction.args[:-1]:
                path = unquote(source)
                if "$" in path or "://" in path or path.startswith("git@"):
                    continue
                cleaned = _normalise(path)
                if cleaned == "." and not whole:
                    continue  # the context root: only a pattern that excludes everything hits it
                if cleaned == "." or _ignored_by(cleaned, patterns):
                    verb = instruction.cmd.capitalize()
                    yield meta.at_word(
                        dockerfile,
                        instruction,
                        source,
                        f"{instruction.cmd} {path}: {ignore_file.name} excludes it from the "
                        f"build context, so the {verb.lower()} fails or copies nothing",
                    )


# -- EXPOSE -----------------------------------------------------------------------------------


def _expose_parts(port: str) -> tuple[str, str]:
    """The address-and-host-port part (empty when only a container port is given) and the
    protocol of an EXPOSE word (``[::1]:80:80/tcp``)."""
    spec, _, proto = port.partition("/")
    if spec.startswith("["):  # an IPv6 address
        close = spec.find("]")
        return (spec, proto) if close < 0 else (spec[: spec.rfind(":") + 1], proto)
    head, _, _ = spec.rpartition(":")
    return head, proto


def _ports(dockerfile: Dockerfile) -> Iterator[tuple[Instruction, str, tuple[str, str]]]:
    """Every EXPOSE word (a build argument aside), with its address part and protocol."""
    for stage in dockerfile.stages:
        for expose in stage.of("EXPOSE"):
            for port in expose.args:
                if "$" not in port:
                    yield expose, port, _expose_parts(port)


def _sp343_doc() -> RuleDoc:
    return RuleDoc(
        why="EXPOSE documents the container's port; an address or a host port "
        "(`EXPOSE 127.0.0.1:80:80`) belongs to `docker run -p`, is ignored here, and BuildKit "
        "means to refuse it.",
        bad=f"FROM {PINNED}\nEXPOSE 127.0.0.1:8080:8080\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nEXPOSE 8080\n{SAFE_TAIL}",
        fix="Keep the container port (and `/tcp` or `/udp`); publish with `docker run -p`.",
    )


@rule("SP343", Severity.WARNING, "correctness", "EXPOSE with an address or a host port",
      buildkit="ExposeInvalidFormat", doc=_sp343_doc)  # fmt: skip
def expose_format(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for expose, port, (address, _) in _ports(dockerfile):
        if address:
            yield meta.at_word(
                dockerfile,
                expose,
                port,
                f"EXPOSE {port}: an address or a host port is for `docker run -p`; EXPOSE takes "
                "the container's port (and protocol) only",
            )


def _sp344_doc() -> RuleDoc:
    return RuleDoc(
        why="The protocol of EXPOSE is `tcp`, `udp` or `sctp`, in lower case as Docker stores "
        "it; `8080/TCP` works but reads as a different thing to tools that compare.",
        bad=f"FROM {PINNED}\nEXPOSE 8080/TCP\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nEXPOSE 8080/tcp\n{SAFE_TAIL}",
        fix="Write the protocol in lower case.",
    )


@rule("SP344", Severity.INFO, "correctness", "EXPOSE protocol not in lower case",
      buildkit="ExposeProtoCasing", doc=_sp344_doc)  # fmt: skip
def expose_proto(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for expose, port, (_, proto) in _ports(dockerfile):
        if proto != proto.lower():
            yield meta.at_word(
                dockerfile,
                expose,
                port,
                f"EXPOSE {port}: the protocol should be lower case ({proto.lower()})",
            )


# -- FROM -------------------------------------------------------------------------------------


def _sp345_doc() -> RuleDoc:
    return RuleDoc(
        why="`FROM image as name` in an upper-case FROM (or `AS` in a lower-case one) mixes "
        "casings in one instruction.",
        bad=f"FROM {PINNED} as build\nFROM {PINNED}\n{SAFE_TAIL}",
        good=f"FROM {PINNED} AS build\nFROM {PINNED}\n{SAFE_TAIL}",
        fix="Write `AS` in the case of `FROM`.",
    )


@rule("SP345", Severity.INFO, "maintainability", "FROM and AS in different case",
      buildkit="FromAsCasing", doc=_sp345_doc)  # fmt: skip
def from_as_casing(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        if len(start.args) != 3 or not _consistent(start.keyword):
            continue  # a mixed-case FROM is ConsistentInstructionCasing's
        word = start.args[1]
        expected = word.lower() if start.keyword == start.keyword.lower() else word.upper()
        if word != expected:
            yield meta.at_word(
                dockerfile,
                start,
                word,
                f"'{word}' and '{start.keyword}' keywords' casing do not match: write {expected}",
            )


def _sp346_doc() -> RuleDoc:
    return RuleDoc(
        why="Stage names are lower-cased by BuildKit, so `AS Build` is the stage `build`: a "
        "mixed-case name suggests a distinction that does not exist.",
        bad=f"FROM {PINNED} AS Build\nFROM {PINNED}\n{SAFE_TAIL}",
        good=f"FROM {PINNED} AS build\nFROM {PINNED}\n{SAFE_TAIL}",
        fix="Name stages in lower case.",
    )


@rule("SP346", Severity.WARNING, "correctness", "Stage name not in lower case",
      buildkit="StageNameCasing", doc=_sp346_doc)  # fmt: skip
def stage_name_casing(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        if len(start.args) == 3 and start.args[2] != start.args[2].lower():
            yield meta.at_word(
                dockerfile,
                start,
                start.args[2],
                f"stage name '{start.args[2]}' should be lower case: BuildKit lower-cases it, "
                "so every reference to it matches whatever its case",
            )


_RESERVED_STAGES = ("context", "scratch")


def _sp347_doc() -> RuleDoc:
    return RuleDoc(
        why="`scratch` and `context` already mean something to FROM and COPY --from (the empty "
        "image, a named build context): a stage with that name is confusing at best.",
        bad=f"FROM {PINNED} AS context\nFROM {PINNED}\n{SAFE_TAIL}",
        good=f"FROM {PINNED} AS sources\nFROM {PINNED}\n{SAFE_TAIL}",
        fix="Rename the stage.",
    )


@rule("SP347", Severity.WARNING, "correctness", "A reserved word as a stage name",
      buildkit="ReservedStageName", doc=_sp347_doc)  # fmt: skip
def reserved_stage(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        if stage.name in _RESERVED_STAGES:
            start = stage.instructions[0]
            yield meta.at_word(
                dockerfile,
                start,
                start.args[2],
                f"stage name {stage.name} is reserved: FROM {stage.name} and COPY "
                f"--from={stage.name} already mean something else",
            )


# The build arguments BuildKit defines for FROM without an ARG (docs: "Automatic platform
# ARGs in the global scope"), plus the target's stage name.
PLATFORM_ARGS = (
    "BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT", "TARGETPLATFORM",
    "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT", "TARGETSTAGE",
)  # fmt: skip
# Sample values for them, to read what a FROM names with no --build-arg given
_PLATFORM_VALUES = {
    "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64",
    "TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64",
    "TARGETSTAGE": "default",
}  # fmt: skip
# BuildKit's own arguments that never enter the environment (SBOM scanning)
_NON_ENV_ARGS = ("BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE")
_REFERENCE = lazy(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


def variables(word: str) -> list[str]:
    """The variables a word refers to as BuildKit's lexer expands them (``$A``, ``${A}``,
    ``${A:-x}``...): not inside single quotes, not after a backslash."""
    found: list[str] = []
    quoted = False
    i = 0
    while i < len(word):
        char = word[i]
        if char == "\\" and not quoted:
            i += 2
            continue
        if char == "'":
            quoted = not quoted
        elif char == "$" and not quoted:
            match = _REFERENCE.match(word, i)
            if match:
                found.append(match.group(1) or match.group(2))
        i += 1
    return found


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, as BuildKit's suggestions measure it."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def suggestion(name: str, known: set[str] | list[str]) -> str | None:
    """The known name closest to ``name`` within two edits, as BuildKit suggests it."""
    best, distance = None, 3
    for option in sorted(known):
        if option == name:
            return None
        d = _distance(name, option)
        if d < distance:
            best, distance = option, d
    return best


def _from_words(start: Instruction) -> list[str]:
    """The words of a FROM that BuildKit expands with the global arguments: the image and the
    --platform value."""
    words = [start.args[0]] if start.args else []
    platform = start.flag("platform")
    return words + ([platform] if platform else [])


def _sp348_doc() -> RuleDoc:
    return RuleDoc(
        why="FROM sees only the ARGs declared before the first FROM (and BuildKit's platform "
        "arguments: BUILDPLATFORM, TARGETPLATFORM, TARGETOS, TARGETARCH...): any other variable "
        "is empty there, often a typo; the message suggests the declared name it is closest to.",
        bad=f"ARG VERSION=12-slim\nFROM debian:${{VERSOIN}}\n{SAFE_TAIL}",
        good=f"ARG VERSION=12-slim\nFROM debian:${{VERSION}}\n{SAFE_TAIL}",
        fix="Declare it with ARG before the first FROM, or fix its name.",
    )


@rule("SP348", Severity.WARNING, "correctness", "FROM uses an undeclared build argument",
      buildkit="UndefinedArgInFrom", doc=_sp348_doc)  # fmt: skip
def undefined_arg_in_from(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    known = set(dockerfile.global_args) | set(PLATFORM_ARGS)
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        for word in _from_words(start):
            for name in dict.fromkeys(variables(word)):
                if name in known:
                    continue
                near = suggestion(name, known)
                yield meta.at_word(
                    dockerfile,
                    start,
                    word,
                    f"FROM argument '{name}' is not declared (no ARG {name} before the first "
                    "FROM)" + (f" (did you mean {near}?)" if near else ""),
                    skip=max(0, word.find("$")),
                )


def _expand(word: str, values: dict[str, str]) -> str:
    from scratchpack.dockerfile.parser import substitute  # the parser's own expansion

    return substitute(word, values)


def _sp349_doc() -> RuleDoc:
    return RuleDoc(
        why="With no --build-arg, a FROM built from an ARG with no (or an empty) default names "
        "an invalid image (`busybox:`), and the build fails with an error far from the cause.",
        bad=f"ARG TAG\nFROM busybox:${{TAG}}\n{SAFE_TAIL}",
        good=f"ARG TAG=1.37\nFROM busybox:${{TAG}}\n{SAFE_TAIL}",
        fix="Give the ARG a default that makes a valid image name.",
    )


@rule("SP349", Severity.WARNING, "correctness",
      "An ARG default makes the FROM image name empty or invalid",
      buildkit="InvalidDefaultArgInFrom", doc=_sp349_doc)  # fmt: skip
def invalid_default_arg(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    # the defaults as written: an ARG with no default leaves its name unset (${A-x} is x)
    defaults = {
        name: unquote(value)
        for arg in dockerfile.global_arg_instructions
        for name, eq, value in (a.partition("=") for a in arg.args)
        if eq
    }
    values = _PLATFORM_VALUES | defaults
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        if not start.args or "$" not in start.args[0]:
            continue
        image = _expand(start.args[0], values)
        # only for a FROM with an argument: the reference parser (and hashlib) costs a file
        # linted per process several milliseconds
        from scratchpack.errors import ReferenceError_
        from scratchpack.model.reference import Reference

        try:
            if image != "scratch":
                Reference.parse(image)
        except ReferenceError_:
            yield meta.at_word(
                dockerfile,
                start,
                start.args[0],
                f"FROM {start.args[0]} is {image!r} with the ARG defaults (no --build-arg): "
                "give the ARG a default that names an image",
            )


def _sp350_doc() -> RuleDoc:
    return RuleDoc(
        why="A stage is built for the target platform unless told otherwise: "
        "`--platform=$TARGETPLATFORM` says nothing and suggests a cross-build where there is "
        "none.",
        bad=f"FROM --platform=$TARGETPLATFORM {PINNED}\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Remove the flag (use `--platform=$BUILDPLATFORM` for a stage that runs on the "
        "builder).",
    )


@rule("SP350", Severity.INFO, "correctness", "FROM --platform set to $TARGETPLATFORM",
      hadolint=("DL3065",), buildkit="RedundantTargetPlatform", doc=_sp350_doc)  # fmt: skip
def redundant_target_platform(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        platform = start.flag("platform")
        if platform is not None and unquote(platform) in ("$TARGETPLATFORM", "${TARGETPLATFORM}"):
            yield meta.at_word(
                dockerfile,
                start,
                f"--platform={platform}",
                f"--platform={platform} is redundant: a stage is built for the target platform "
                "by default",
                skip=len("--platform="),
            )


# containerd's names for the operating systems it knows, and the architectures' aliases
_OSES = ("aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
         "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows")  # fmt: skip
_ARCHES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
           "armel": "arm", "i386": "386", "i686": "386"}  # fmt: skip


def _platform(value: str) -> tuple[str, str] | None:
    """The OS and architecture of a platform string, normalised as containerd parses it."""
    parts = value.lower().split("/")
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"[a-z0-9_.-]+", p) for p in parts):
        return None
    if len(parts) == 1:
        if parts[0] in _OSES:
            return parts[0], "amd64"
        return "linux", _ARCHES.get(parts[0], parts[0])
    return parts[0], _ARCHES.get(parts[1], parts[1])


def _sp351_doc() -> RuleDoc:
    return RuleDoc(
        why="`FROM --platform=linux/amd64` forces one platform on every target of a "
        "multi-platform build: the arm64 image gets amd64 binaries. As BuildKit does, a stage "
        "named for its platform (`AS build-amd64`) is taken as meaning it.",
        bad=f"FROM --platform=linux/amd64 {PINNED}\n{SAFE_TAIL}",
        good=f"FROM --platform=$BUILDPLATFORM {PINNED}\n{SAFE_TAIL}",
        fix="Use `$BUILDPLATFORM` (tools that run on the builder) or drop the flag.",
    )


@rule("SP351", Severity.INFO, "correctness", "FROM --platform with a constant value",
      buildkit="FromPlatformFlagConstDisallowed", doc=_sp351_doc)  # fmt: skip
def const_platform(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        platform = start.flag("platform")
        if platform is None or "$" in platform:
            continue
        parsed = _platform(unquote(platform))
        name = stage.name or ""
        if parsed is None or parsed[0] in name or parsed[1] in name:
            continue  # a stage named for its platform (build-arm64) is meant to be one
        yield meta.at_word(
            dockerfile,
            start,
            f"--platform={platform}",
            f"FROM --platform={platform} pins one platform: multi-platform builds get it for "
            "every target; use $BUILDPLATFORM or $TARGETPLATFORM, or name the stage for it",
            skip=len("--platform="),
        )


# -- ENV and LABEL ----------------------------------------------------------------------------


def _legacy(instruction: Instruction) -> bool:
    """Whether an ENV or LABEL is written ``KEY value`` (no ``=``), as BuildKit reads it: the
    first word after the keyword has no ``=``."""
    words = instruction.original.split(None, 2)
    return len(words) >= 2 and "=" not in words[1]


def _sp352_doc() -> RuleDoc:
    return RuleDoc(
        why="`ENV KEY value` (no `=`) is the legacy form: it sets one key, takes the rest of the "
        "line as its value (spaces included), and is due to be removed.",
        bad=f"FROM {PINNED}\nENV LANG C.UTF-8\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nENV LANG=C.UTF-8\n{SAFE_TAIL}",
        fix="Write `KEY=value` (quote a value with spaces).",
    )


@rule("SP352", Severity.INFO, "maintainability", "ENV or LABEL in the legacy key value form",
      buildkit="LegacyKeyValueFormat", doc=_sp352_doc)  # fmt: skip
def legacy_key_value(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.of("ENV", "LABEL"):
            if instruction.args and _legacy(instruction):
                key, value = instruction.args[0], " ".join(instruction.args[1:2])
                yield meta.at_word(
                    dockerfile,
                    instruction,
                    key,
                    f'"{instruction.cmd} key=value" should be used instead of the legacy '
                    f'"{instruction.cmd} key value" form: {instruction.cmd} {key}={value!r} '
                    "(the legacy form cannot set two keys at once and is to be removed)",
                )


# -- continuation lines -----------------------------------------------------------------------


def _sp353_doc() -> RuleDoc:
    return RuleDoc(
        why="An empty line inside a continued instruction is skipped today, so it hides where "
        "the instruction really ends, and BuildKit will make it an error. A comment line there "
        "is fine.",
        bad=f"FROM {PINNED}\nRUN touch /a \\\n\n    /b\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN touch /a \\\n    /b\n{SAFE_TAIL}",
        fix="Remove the empty line (or put a `#` comment there).",
    )


@rule("SP353", Severity.WARNING, "correctness", "An empty line inside a continued instruction",
      buildkit="NoEmptyContinuation", doc=_sp353_doc)  # fmt: skip
def empty_continuation(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    escape = dockerfile.directives.get("escape", "\\")[:1] or "\\"
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            rows = dockerfile.lines[instruction.line - 1 : instruction.end_line]
            continuing = False
            for number, row in enumerate(rows, start=instruction.line):
                if continuing and not row.strip():
                    yield Finding(
                        meta.code,
                        meta.severity,
                        "empty line inside a continued instruction: BuildKit will refuse it in "
                        "a future release; remove it (or make it a comment)",
                        number,
                        1,
                        instruction.line,
                    )
                    break
                if continuing and row.lstrip().startswith("#"):
                    continue
                if number > instruction.line and not continuing:
                    break  # a heredoc's body
                continuing = row.rstrip(" \t").endswith(escape)


# -- variables --------------------------------------------------------------------------------

# The instructions whose words BuildKit expands itself; RUN, CMD and ENTRYPOINT leave it to the
# shell (so the check is not for them), FROM is UndefinedArgInFrom's.
_EXPANDED = ("ADD", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
# The flags of ADD and COPY whose values BuildKit expands with the stage's ARG and ENV (its
# instructions.CopyCommand and AddCommand: chown, chmod, from, ADD's checksum), and so checks
_EXPANDED_FLAGS = ("chown", "chmod", "from", "checksum")


def _declared(dockerfile: Dockerfile, stage: Stage) -> tuple[set[str], bool]:
    """The names the stages it is FROM declare (ENV, ARG), and whether that chain starts at an
    image whose environment this file cannot know (not scratch)."""
    parent = parent_stage(dockerfile, stage)
    if parent is None:
        return set(), stage.base != "scratch"
    names, open_ = _declared(dockerfile, parent)
    for instruction in parent.of("ENV", "ARG"):
        names |= {name for name, _ in env_pairs(instruction)}
    return names, open_


def _sp354_doc() -> RuleDoc:
    return RuleDoc(
        why="A variable nobody defined expands to nothing: `COPY $SRC .` copies the whole "
        "context, `ENV PATH=$PAHT:/app/bin` drops the system PATH. RUN, CMD and ENTRYPOINT in "
        "shell form are left to the shell; the flags BuildKit expands are checked too "
        "(`COPY --chown=$USER`, `--chmod`, `--from=$STAGE`, ADD's `--checksum`). BuildKit "
        "knows the base image's environment; a linter does not, so in a stage built FROM an "
        "image only a name within two edits of a known one is reported (with the suggestion); "
        "in a stage from scratch, all are.",
        bad="FROM scratch\nCOPY $SRC /app/\n" + SAFE_TAIL,
        good="FROM scratch\nARG SRC=dist\nCOPY $SRC /app/\n" + SAFE_TAIL,
        fix="Declare it (`ARG NAME`, and `--build-arg NAME=...`) or set it with ENV before "
        "the use; a platform argument (TARGETARCH...) needs an `ARG TARGETARCH` in the stage.",
    )


@rule("SP354", Severity.WARNING, "correctness", "A variable used before it is defined",
      buildkit="UndefinedVar", doc=_sp354_doc)  # fmt: skip
def undefined_var(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    """BuildKit knows the base image's environment; a linter does not. In a stage built from
    scratch (or from stages of this file that are), every undefined variable is reported, as
    BuildKit reports it; in a stage from an image, only a name within two edits of a known one
    (``$PAHT`` for ``$PATH``): the image may set any other."""
    for stage in dockerfile.stages:
        inherited, open_env = _declared(dockerfile, stage)
        known = inherited | {"PATH"}  # BuildKit sets a default PATH when the image has none
        for instruction in stage.instructions[1:]:
            words: list[tuple[str, int]] = []  # a word as written, where its value starts
            values: list[str] = []
            if instruction.cmd in ("ENV", "LABEL"):
                args = instruction.args
                # BuildKit gives them as names and values: the value follows NAME= (or a blank)
                words = [(k, len(k) + 1) for k in args[0::2]]
                values = list(args[1::2])
            elif instruction.cmd == "ARG":
                words = [(a, len(a.partition("=")[0]) + 1) for a in instruction.args if "=" in a]
                values = [a.partition("=")[2] for a in instruction.args if "=" in a]
            elif instruction.cmd in _EXPANDED and not instruction.heredocs:
                words = [(a, 0) for a in instruction.args]
                values = list(instruction.args)
            if instruction.cmd in ("ADD", "COPY"):
                # the flags BuildKit expands too (--chown=$USER, --from=$STAGE), at the value
                for name, value in instruction.flags:
                    if name in _EXPANDED_FLAGS:
                        words.append((f"--{name}={value}", len(name) + 3))
                        values.append(value)
            for (word, start), value in zip(words, values, strict=False):
                yield from _undefined(
                    dockerfile, meta, instruction, (word, start, value), known, open_env
                )
            if instruction.cmd in ("ENV", "ARG"):
                known |= {name for name, _ in env_pairs(instruction)}


def _undefined(
    dockerfile: Dockerfile,
    meta: Rule,
    instruction: Instruction,
    written: tuple[str, int, str],
    known: set[str],
    open_env: bool,
) -> Iterator[Finding]:
    """The undefined variables of one value, at the first ``$`` of each; ``written`` is the
    word to find in the instruction, where the value starts in it, and the value."""
    word, start, value = written
    said: set[str] = set()
    for name in variables(value):
        if name in known or name in said or name in _NON_ENV_ARGS:
            continue
        near = suggestion(name, known)
        if open_env and near is None:
            continue
        said.add(name)
        at = max(0, value.find(f"${name}"), value.find(f"${{{name}"))
        yield meta.at_word(
            dockerfile,
            instruction,
            word,
            f"usage of undefined variable '${name}'"
            + (f" (did you mean ${near}?)" if near else "")
            + f": declare it (ARG {name}) or set it (ENV {name}=...) before",
            skip=start + at,
        )


# -- descriptions -----------------------------------------------------------------------------

_PRAGMA = lazy(r"#\s*(scratchpack|hadolint|shellcheck)\b|#\s*(syntax|escape|check)\s*=")


def _description(dockerfile: Dockerfile, instruction: Instruction) -> str | None:
    """The comment directly above an instruction (the last line of the comment block that
    touches it), without its ``#``; None when there is none, or it is a pragma."""
    number = instruction.line - 1
    if number < 1 or not dockerfile.lines[number - 1].lstrip().startswith("#"):
        return None
    line = dockerfile.lines[number - 1].strip()
    if _PRAGMA.match(line):
        return None
    return line[1:].strip()


def _sp355_doc() -> RuleDoc:
    return RuleDoc(
        why="BuildKit reads the comment directly above a stage or an ARG as its description (in "
        "`docker build --call=outline`), when it starts with the stage's or the ARG's name. A "
        "comment that does not is shown as nothing. Off by default, as in BuildKit, where it is "
        "experimental; pragma comments are not read as descriptions.",
        bad="# check=experimental=InvalidDefinitionDescription\n\n"
        f"# the Debian release\nARG RELEASE=12\nFROM {PINNED}\n{SAFE_TAIL}",
        good="# check=experimental=InvalidDefinitionDescription\n\n"
        f"# RELEASE the Debian release\nARG RELEASE=12\nFROM {PINNED}\n{SAFE_TAIL}",
        fix="Start the comment with the name (`# RELEASE the Debian release`), or leave an "
        "empty line between it and the instruction.",
    )


@rule("SP355", Severity.INFO, "maintainability",
      "A comment above a stage or ARG that does not describe it",
      buildkit="InvalidDefinitionDescription", default=False, doc=_sp355_doc)  # fmt: skip
def definition_description(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    args = list(dockerfile.global_arg_instructions)
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        if len(start.args) == 3:
            yield from _described(dockerfile, meta, start, "FROM", [start.args[2]])
        args += stage.of("ARG")
    for arg in sorted(args, key=lambda i: i.line):
        yield from _described(dockerfile, meta, arg, "ARG", [n for n, _ in env_pairs(arg)])


def _described(
    dockerfile: Dockerfile, meta: Rule, instruction: Instruction, what: str, names: list[str]
) -> Iterator[Finding]:
    comment = _description(dockerfile, instruction)
    if comment is None or not names or comment.split(" ", 1)[0] in names:
        return
    example = names[0] if len(names) == 1 else "<arg_key>"
    yield Finding(
        meta.code,
        meta.severity,
        f"comment for {what} should follow the format `# {example} <description>` (or leave an "
        "empty line between them if it is not a description)",
        instruction.line - 1,
        1,
        instruction.line,
    )


# -- base image platforms ---------------------------------------------------------------------


def _platform_values(target: str, build: str) -> dict[str, str]:
    """BuildKit's automatic platform ARGs for one target platform, built on ``build``."""
    values: dict[str, str] = {}
    for prefix, platform in (("TARGET", target), ("BUILD", build)):
        os_, _, rest = platform.partition("/")
        arch, _, variant = rest.partition("/")
        values |= {f"{prefix}PLATFORM": platform, f"{prefix}OS": os_, f"{prefix}ARCH": arch,
                   f"{prefix}VARIANT": variant}  # fmt: skip
    return values


def _sp356_doc() -> RuleDoc:
    return RuleDoc(
        why="A FROM image that has no manifest for the platform the stage is built for either "
        "fails the pull (`no match for platform in manifest`) or, from a single-platform image "
        "or an index with a near match, gives the stage another architecture's binaries: an "
        "amd64 build of an arm64-only base runs under emulation or not at all. BuildKit warns "
        "once it has pulled the image; `lint --lookup-bases` asks the registry first: the "
        "entries of the image's index, or the os and architecture of a single manifest's "
        "config, against `--platform=` on the FROM (a constant, or BuildKit's platform "
        "arguments) or else the build's target, compared by OS and architecture as BuildKit "
        "compares them. The examples' images are taken as the registry offers them: the bad "
        "one for linux/arm64 only, debian for amd64 and arm64, linted for linux/amd64.",
        bad="FROM registry.example.com/arm/base:1@sha256:" + "b" * 64 + f"\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Use an image (or a tag) published for the target platform, or build the stage for "
        "the platform the image has (`FROM --platform=linux/arm64 ...`, for a stage whose "
        "output does not depend on it).",
        limits="Only with `scratchpack lint --lookup-bases` (and the digest-lookup flags "
        "`--tls-verify`, `--authfile`, `--timeout`; not `--creds`: the Dockerfile names the "
        "registries asked, so each gets only its own credentials, from `--authfile` or "
        "Docker's config.json): by default lint reads no network, and this rule reports "
        "nothing. A registry that cannot be reached, refuses "
        "the request or serves what does not read is no finding, silently. The target is "
        "`DOCKER_DEFAULT_PLATFORM` (a comma list: each), else this host's: a `docker build "
        "--platform=...` lint is not told of gets another answer, as BuildKit's own check "
        "depends on the builder. A `--build-arg` is not known: build arguments are read with "
        "their ARG defaults; a `--platform=` that still names another argument is not checked. "
        "Variants (arm/v6, arm/v7) are not compared, as in BuildKit; attestation entries "
        "(`unknown/unknown`) are no platform.",
    )


@rule("SP356", Severity.WARNING, "correctness",
      "A base image not offered for the build's platform",
      buildkit="InvalidBaseImagePlatform", doc=_sp356_doc)  # fmt: skip
def invalid_base_platform(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    """BuildKit reads the platform of the image it pulled for each FROM; here the registry is
    asked (``lint --lookup-bases``) which platforms the image is offered for, and a FROM whose
    expected platform (``--platform=`` expanded, else the build's target) is not among them,
    by OS and architecture as BuildKit compares them, is reported. No lookup: nothing."""
    lookup = dockerfile.base_lookup
    if lookup is None:
        return
    defaults = {
        name: unquote(value)
        for arg in dockerfile.global_arg_instructions
        for name, eq, value in (a.partition("=") for a in arg.args)
        if eq
    }
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        if not start.args:
            continue
        flag = start.flag("platform")
        said: set[tuple[str, str]] = set()
        for target in lookup.targets:
            values = defaults | _platform_values(target, lookup.build)
            if any(name not in values for name in variables(start.args[0])):
                continue  # a --build-arg's to give: which image it names is not known here
            image = _expand(start.args[0], values) if "$" in start.args[0] else start.args[0]
            wanted = _platform(_expand(unquote(flag), values)) if flag else _platform(target)
            earlier = {s.name for s in dockerfile.stages[: stage.index]}
            if wanted is None or wanted in said or image.lower() in earlier | {"scratch", ""}:
                continue
            offered = lookup.platforms(image)
            if not offered:  # no answer (None), or an index that names no platform
                continue
            if wanted not in {_platform(p) for p in offered}:
                said.add(wanted)
                expected = "/".join(wanted)
                yield meta.at_word(
                    dockerfile,
                    start,
                    start.args[0],
                    f"base image {image} has no image for {expected}, the platform this "
                    f"stage is built for (it has {', '.join(offered)}): the pull fails or the "
                    "stage gets another architecture's binaries",
                )
