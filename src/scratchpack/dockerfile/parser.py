"""Parse a Dockerfile with BuildKit's own parser (the ``dockerfile`` bindings), then add what it
drops: parser directives, ignore pragmas, stages, and ``ARG``-before-``FROM`` substitution.

Why this parser: it is the reference implementation (heredocs, ``# escape=``, flags, JSON form
are exactly what ``docker build`` accepts) and it parsed all 711 files of a real corpus here;
the pure-Python alternative mis-parses heredocs. Its wheels cover Linux x86_64 (abi3).
"""

from __future__ import annotations

import re
from pathlib import Path

import dockerfile as buildkit

from scratchpack.dockerfile.model import Dockerfile, Heredoc, Instruction, Stage
from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.lazyre import lazy
from scratchpack.regularfile import open_named

INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip
_DIRECTIVE = lazy(r"^#\s*(syntax|escape|check)\s*=\s*(.*?)\s*$", re.IGNORECASE)
_PRAGMA = lazy(r"^\s*#\s*(scratchpack|hadolint)\s+(global\s+)?ignore\s*=\s*([A-Za-z0-9_,\s]+?)\s*$")
_VAR = lazy(r"\$(?:\{(\w+)(?:(:?[-+])([^}]*))?\}|(\w+))")
# BuildKit's ``# check=skip=A,B`` on the comment lines above an instruction skips those checks
# for it (at the top of the file, for the whole file: see operations/lint.py)
_CHECK_SKIP = lazy(r"^\s*#\s*check\s*=\s*(.*?)\s*$", re.IGNORECASE)


# Limits, each far above any real Dockerfile, that keep lint's time bounded on hostile input
# (measured in docs/fuzzing.md). BuildKit's parser copies strings in ways quadratic in a word's
# length, in the lines of a heredoc and in the lines continued into one instruction, so a
# 256 KiB file of 2-byte heredoc lines alone would take 11 s; within these limits any file
# parses and lints in a few seconds at most.
MAX_SIZE = 256 << 10
MAX_LINES = 5_000
MAX_WORD = 16 << 10  # one run of non-blank characters, continued lines joined
MAX_LINE = 65_535  # BuildKit's own limit for one physical line
MAX_STAGES = 500


class DockerfileError(FormatError):
    """Not a valid Dockerfile; the message names the file and line."""

    exit_code = 2


def read(path: Path) -> Dockerfile:
    try:
        # At most one byte past the limit: /dev/zero or a 50 GB file costs no more than this;
        # and no FIFO but the shell's (a FIFO named Dockerfile blocked the open for ever)
        with open_named(path) as stream:
            raw = stream.read(MAX_SIZE + 1)
    except FileNotFoundError:
        raise ScratchpackError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScratchpackError(f"{path}: is a directory") from None
    except OSError as exc:
        raise ScratchpackError(f"{path}: {exc.strerror}") from exc
    dockerfile = parse_bytes(raw, str(path))
    dockerfile.context = path.parent
    return dockerfile


def parse_bytes(raw: bytes, path: str = "Dockerfile") -> Dockerfile:
    """A Dockerfile's bytes as read from disk: refused when too large, binary or not UTF-8."""
    if len(raw) > MAX_SIZE:
        raise DockerfileError(f"{path}:1: larger than {MAX_SIZE >> 10} KiB: not a Dockerfile")
    if b"\x00" in raw:
        raise DockerfileError(f"{path}:1: not a Dockerfile (binary data)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DockerfileError(f"{path}:{line}: not valid UTF-8") from None
    return parse(text, path)


def substitute(text: str, variables: dict[str, str]) -> str:
    """``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:+alt}`` as BuildKit expands them, and
    ``${VAR-default}``, ``${VAR+alt}``, which test whether VAR is set rather than empty."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        value = variables.get(name, "")
        operator, word = match.group(2), match.group(3) or ""
        if operator == ":-":
            return value or word
        if operator == ":+":
            return word if value else ""
        if operator == "-":
            return value if name in variables else word
        if operator == "+":
            return word if name in variables else ""
        return value

    return _VAR.sub(replace, text)


def _pragmas(lines: list[str]) -> tuple[dict[int, frozenset[str]], frozenset[str]]:
    """Codes ignored per line (the pragma's line) and for the whole file."""
    per_line: dict[int, frozenset[str]] = {}
    global_codes: set[str] = set()
    for number, line in enumerate(lines, start=1):
        match = _PRAGMA.match(line)
        if not match:
            if (check := _CHECK_SKIP.match(line)) is not None:
                per_line[number] = _check_skips(check.group(1))
            continue
        codes = frozenset(c.strip().upper() for c in match.group(3).split(",") if c.strip())
        if match.group(2):
            global_codes |= codes
        else:
            per_line[number] = codes
    return per_line, frozenset(global_codes)


def _check_skips(value: str) -> frozenset[str]:
    """The check names a ``# check=skip=A,B;error=true`` comment skips, upper-cased as ignore
    codes are (``ALL`` stands for every BuildKit check)."""
    names: set[str] = set()
    for part in value.split(";"):
        key, _, listed = part.partition("=")
        words = listed.split()  # what follows a blank is a remark: skip=A,B // why
        if key.strip().lower() == "skip" and words:
            names |= {n.strip().upper() for n in words[0].split(",") if n.strip()}
    return frozenset(names)


def _ignored_for(
    line: int, lines: list[str], per_line: dict[int, frozenset[str]]
) -> frozenset[str]:
    """Pragmas on the comment lines directly above an instruction apply to it."""
    codes: set[str] = set()
    number = line - 1
    while number >= 1 and lines[number - 1].lstrip().startswith("#"):
        codes |= per_line.get(number, frozenset())
        number -= 1
    return frozenset(codes)


def _flags(raw: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for flag in raw:
        name, _, value = flag.lstrip("-").partition("=")
        pairs.append((name.lower(), value))
    return tuple(pairs)


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    # BuildKit counts lines at "\n" only (a \f or \u2028 is not a line break to it)
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()
    if lines and lines[0].startswith("\ufeff"):
        # A UTF-8 BOM (Windows editors write one) is not part of line 1, for BuildKit as for
        # editors: columns count from after it, and the line shown under a finding omits it
        # (the terminal draws it zero-width, which put the caret one column right)
        lines[0] = lines[0][1:]
    _check_limits(text, lines, path)
    try:
        commands = buildkit.parse_string(text)
    except buildkit.GoParseError as exc:
        raise DockerfileError(f"{path}:{_error_line(str(exc), lines)}: {exc}") from None
    except UnicodeDecodeError:
        # BuildKit cuts some words by byte (a flag or HEALTHCHECK's type that is not ASCII) and
        # the bindings cannot decode the half character it returns.
        raise DockerfileError(
            f"{path}:{_undecodable_line(lines)}: a flag or keyword that is not ASCII"
        ) from None
    directives: dict[str, str] = {}
    for line in lines:
        match = _DIRECTIVE.match(line)  # the BOM is off line 1 already, as BuildKit reads it
        if not match:
            break
        directives[match.group(1).lower()] = match.group(2)
    per_line, global_ignored = _pragmas(lines)
    global_args: dict[str, str] = {}
    global_arg_instructions: list[Instruction] = []
    stages: list[Stage] = []
    for command in commands:
        if command.cmd is None:
            # BuildKit's node for an escape character that continues into the end of the file
            escape = directives.get("escape", "\\")
            raise DockerfileError(
                f"{path}:{command.start_line}: line continuation ({escape}) "
                "with no instruction before the end of the file"
            )
        cmd = command.cmd.upper()
        if cmd not in INSTRUCTIONS:
            raise DockerfileError(f"{path}:{command.start_line}: unknown instruction {command.cmd}")
        instruction = _instruction(
            command,
            command.start_line,
            command.end_line,
            _ignored_for(command.start_line, lines, per_line),
        )
        if cmd == "ONBUILD" and command.sub_cmd:
            instruction = instruction._replace(onbuild=_onbuild(instruction))
        if cmd == "FROM":
            if len(stages) == MAX_STAGES:
                raise DockerfileError(f"{path}:{command.start_line}: more than {MAX_STAGES} stages")
            stages.append(_stage(instruction, len(stages), global_args, path))
        elif not stages:
            if cmd != "ARG":
                raise DockerfileError(
                    f"{path}:{instruction.line}: {cmd} before the first FROM (only ARG may be)"
                )
            global_arg_instructions.append(instruction)
            for item in instruction.args:
                name, _, default = item.partition("=")
                global_args[name] = default.strip('"')
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError(f"{path}:1: no FROM instruction")
    return Dockerfile(
        path,
        lines,
        directives,
        global_args,
        stages,
        global_ignored,
        source=text,
        global_arg_instructions=global_arg_instructions,
    )


def _onbuild(instruction: Instruction) -> Instruction | None:
    """The instruction an ONBUILD carries, parsed again from its text: BuildKit's bindings
    give its words but drop its flags (``ONBUILD RUN --mount=...``). It keeps the ONBUILD's
    lines and pragmas, so findings on it point into the ONBUILD line."""
    keyword = re.match(r"\s*\S+\s+", instruction.original)
    if keyword is None:
        return None
    try:
        inner = buildkit.parse_string(instruction.original[keyword.end() :] + "\n")
    except (buildkit.GoParseError, UnicodeDecodeError):
        return None
    if len(inner) != 1 or inner[0].cmd is None or inner[0].cmd.upper() not in INSTRUCTIONS:
        return None
    return _instruction(inner[0], instruction.line, instruction.end_line, instruction.ignored)


def _instruction(
    command: buildkit.Command, line: int, end_line: int, ignored: frozenset[str]
) -> Instruction:
    """Our instruction for one of BuildKit's commands, on the given lines."""
    return Instruction(
        cmd=command.cmd.upper(),
        args=tuple(command.value),
        flags=_flags(command.flags),
        original=command.original,
        line=line,
        end_line=end_line,
        json=command.json,
        heredocs=tuple(Heredoc(h.name, h.content) for h in command.heredocs),
        sub_cmd=command.sub_cmd.upper() if command.sub_cmd else None,
        ignored=ignored,
        keyword=command.cmd,
    )


def _check_limits(text: str, lines: list[str], path: str) -> None:
    """Refuse, naming the line, what BuildKit would take too long over (see MAX_SIZE)."""
    if len(lines) > MAX_LINES:
        raise DockerfileError(f"{path}:{MAX_LINES + 1}: more than {MAX_LINES} lines")
    for number, line in enumerate(lines, start=1):
        if len(line.encode()) > MAX_LINE:
            raise DockerfileError(f"{path}:{number}: line longer than {MAX_LINE} bytes")
    if len(text) <= MAX_WORD:
        return
    # Words continue across escaped newlines; whichever escape character is used, removing both
    # kinds can only join more, so the check errs on the safe side.
    for word in _WORD.finditer(_CONTINUATION.sub("", text)):
        if word.end() - word.start() > MAX_WORD:
            where = text.find(word.group()[:16])
            at = text.count("\n", 0, where) + 1 if where >= 0 else 1
            raise DockerfileError(f"{path}:{at}: a word longer than {MAX_WORD} characters")


_CONTINUATION = lazy(r"[\\`][ \t]*\r?\n")
_WORD = lazy(r"\S+")


def _stage(instruction: Instruction, index: int, args: dict[str, str], path: str) -> Stage:
    words = list(instruction.args)
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
        raise DockerfileError(
            f"{path}:{instruction.line}: FROM needs IMAGE [AS NAME], got {instruction.text!r}"
        )
    base = substitute(words[0], args)
    name = words[2].lower() if len(words) == 3 else None
    stage = Stage(index, base, name, instruction.line, instruction.flag("platform"))
    stage.instructions.append(instruction)
    return stage


def _undecodable_line(lines: list[str]) -> int:
    """The first line BuildKit's bindings cannot return on its own (error path only)."""
    for number, line in enumerate(lines, start=1):
        if line.isascii():
            continue
        try:
            buildkit.parse_string(line.lstrip("\ufeff"))
        except UnicodeDecodeError:
            return number
        except buildkit.GoParseError:
            continue
    return 1


def _error_line(message: str, lines: list[str]) -> int:
    """The line BuildKit's error is about (its messages name none): the shortest run of first
    lines that fails with the same message ends there. Bisection, on the error path only."""
    if "heredoc" in message:
        for number in range(len(lines), 0, -1):
            if "<<" in lines[number - 1]:
                return number
    low, high = 1, len(lines)  # the first `high` lines fail with this message
    while low < high:
        middle = (low + high) // 2
        try:
            buildkit.parse_string("\n".join(lines[:middle]) + "\n")
        except buildkit.GoParseError as exc:
            if str(exc) == message:
                high = middle
                continue
        except UnicodeDecodeError:
            pass
        low = middle + 1
    return high if lines else 1
