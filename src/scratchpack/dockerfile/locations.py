"""Where in the Dockerfile a part of an instruction is: the line and column of a command inside
a RUN, or of a word or flag of any instruction, so a finding points at what it is about.

Why a mapping and not a re-parse of the lines: the rules read the text BuildKit gives
(continuations joined, the comment and blank lines inside them dropped, the flags taken out),
and judging that text is what keeps them in step with what ``docker build`` runs. A position
in that text is mapped back by walking the instruction's own lines the way BuildKit joined
them; when the two do not agree byte for byte, the answer is None and the finding stays on the
instruction's first line: an approximate position would be a wrong one.

Columns are 1-based characters, as ShellCheck's and the text output's caret count them.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from scratchpack.dockerfile.model import Dockerfile, Instruction
from scratchpack.lazyre import lazy

Position = tuple[int, int]  # line, column (both 1-based)

_KEYWORD = lazy(r"[ \t]*[A-Za-z]+")
_FLAG = lazy(r"\s+--\S*")


def _continues(line: str, escape: str) -> str | None:
    """The line without its continuation (the escape and the blanks after it), or None when
    it does not continue."""
    stripped = line.rstrip(" \t")
    return stripped[: -len(escape)] if stripped.endswith(escape) else None


Joined = tuple[str, tuple[Position, ...]]  # the text, and where each of its characters is


def joined(dockerfile: Dockerfile, instruction: Instruction) -> Joined:
    """The instruction's command part as BuildKit joins it, with each character's position.
    It ends at the first line that does not continue (a heredoc's body, which follows, is not
    part of it)."""
    return _joined(*_key(dockerfile, instruction))


def _key(dockerfile: Dockerfile, instruction: Instruction) -> tuple[tuple[str, ...], int, str]:
    """The instruction's own lines (heredoc bodies included), its first line and the escape
    character: all a position depends on, and hashable, so the mappings below are cached."""
    escape = dockerfile.directives.get("escape", "\\")[:1] or "\\"
    return (
        tuple(dockerfile.lines[instruction.line - 1 : instruction.end_line]),
        instruction.line,
        escape,
    )


# Cached, as are the maps below: a RUN of thousands of continued lines may have as many
# findings, and each would otherwise walk the whole RUN again.
@lru_cache(maxsize=64)
def _joined(rows: tuple[str, ...], first: int, escape: str) -> Joined:
    chars: list[str] = []
    where: list[Position] = []
    for n, line in enumerate(rows):
        if n and (not line.strip() or line.lstrip().startswith("#")):
            continue  # dropped by BuildKit inside a continuation
        body = _continues(line, escape)
        part = line if body is None else body
        chars.append(part)
        where += [(first + n, col + 1) for col in range(len(part))]
        if body is None:
            break
    return "".join(chars), tuple(where)


def _by_byte(text: str, where: tuple[Position, ...]) -> tuple[Position, ...]:
    """``where`` (one position per character of ``text``) for each byte of its UTF-8."""
    return tuple(p for char, p in zip(text, where, strict=True) for _ in char.encode())


@lru_cache(maxsize=64)
def _text_map(rows: tuple[str, ...], first: int, escape: str, text: str) -> tuple[Position, ...]:
    chars, where = _joined(rows, first, escape)
    chars = chars.rstrip()
    start = len(chars) - len(text)
    if start < 0 or chars[start:] != text:
        return ()
    return _by_byte(text, where[start : start + len(text)])


def in_text(dockerfile: Dockerfile, instruction: Instruction, offset: int) -> Position | None:
    """Where byte ``offset`` of ``instruction.text`` (the shell form's script) is."""
    found = _text_map(*_key(dockerfile, instruction), instruction.text)
    return found[offset] if 0 <= offset < len(found) else None


@lru_cache(maxsize=64)
def _heredoc_maps(
    rows: tuple[str, ...], first: int, escape: str, contents: tuple[str, ...]
) -> tuple[tuple[Position, ...], ...]:
    command = _joined(rows, first, escape)[1]
    if not command:
        return ()
    number = command[-1][0] + 1  # the first line after the command's
    maps: list[tuple[Position, ...]] = []
    for content in contents:
        lines = content.split("\n")
        lines = lines[:-1] if content.endswith("\n") else lines
        source = rows[number - first : number - first + len(lines)]
        if len(source) != len(lines) or not all(
            s.endswith(r) for s, r in zip(source, lines, strict=True)
        ):
            break
        where: list[Position] = []
        for n, (row, line) in enumerate(zip(source, lines, strict=True)):
            lead = len(row) - len(line)  # the tabs <<- strips, when BuildKit strips them
            where += [(number + n, lead + col + 1) for col in range(len(line) + 1)]  # and \n
        text = "\n".join(lines) + ("\n" if content.endswith("\n") else "")
        maps.append(_by_byte(text, tuple(where[: len(text)])))
        number += len(lines) + 1  # and its terminator
    return tuple(maps)


def in_heredoc(
    dockerfile: Dockerfile, instruction: Instruction, part: int, offset: int
) -> Position | None:
    """Where byte ``offset`` of the ``part``-th heredoc's content is. The bodies follow the
    command's lines in order, each ended by its name; a body whose lines are not found there
    (tabs stripped by ``<<-`` allowed) has no position, nor has any after it."""
    contents = tuple(h.content for h in instruction.heredocs)
    maps = _heredoc_maps(*_key(dockerfile, instruction), contents)
    found = maps[part] if 0 <= part < len(maps) else ()
    return found[offset] if 0 <= offset < len(found) else None


def of_word(
    dockerfile: Dockerfile, instruction: Instruction, word: str, skip: int = 0
) -> Position | None:
    """Where ``word`` is first written as a whole word after the instruction's keyword and,
    unless it is itself a flag, after its flags (an image, a path, an ENV key before its
    ``=``), ``skip`` characters into it (the value of a flag such as ``--from=build``); None
    when it is not written as such (a continuation inside it, say)."""
    chars, where = joined(dockerfile, instruction)
    after = _KEYWORD.match(chars)
    start = after.end() if after else 0
    if not word.startswith("--"):
        while flag := _FLAG.match(chars, start):
            start = flag.end()
    found = re.compile(r"(?<!\S)" + re.escape(word) + r"(?![^\s=])").search(chars, start)
    if not word or found is None or found.start() + skip >= len(where):
        return None
    return where[found.start() + skip]


def in_original(dockerfile: Dockerfile, instruction: Instruction, index: int) -> Position | None:
    """Where character ``index`` of ``instruction.original`` (BuildKit's text of the whole
    instruction, keyword and flags included) is, when it is in the command's lines and not in
    a heredoc's body."""
    chars, where = joined(dockerfile, instruction)
    lead = len(chars) - len(chars.lstrip())
    head = instruction.original.split("\n", 1)[0]
    if chars[lead:].rstrip() != head.rstrip() or not 0 <= index < len(head):
        return None
    return where[lead + index]


def in_element(
    dockerfile: Dockerfile, instruction: Instruction, element: int, offset: int
) -> Position | None:
    """Where byte ``offset`` of an exec form's ``element``-th string is (``RUN ["sh", "-c",
    "..."]``): each element is looked for as JSON writes it, in order; inside one that JSON
    escapes (a quote, a backslash), at its opening quote."""
    chars, where = joined(dockerfile, instruction)
    start = chars.find("[")
    if start < 0 or not 0 <= element < len(instruction.args):
        return None
    for n, value in enumerate(instruction.args[: element + 1]):
        written = json.dumps(value, ensure_ascii=False)
        start = chars.find(written, start)
        if start < 0:
            return None
        if n < element:
            start += len(written)
    value = instruction.args[element]
    if json.dumps(value, ensure_ascii=False)[1:-1] != value:
        return where[start]
    inside = _by_byte(value, where[start + 1 : start + 1 + len(value)])
    return inside[offset] if 0 <= offset < len(inside) else where[start]
