"""``lint --fix``: safe rewrites of a Dockerfile that keep everything else byte for byte.

A fix is a set of byte-range edits on the source as read, never a re-rendering of the parsed
file: comments, continuations, indentation, the escape character and line endings all stay.
Each rewrite is made only where it cannot change what the build does beyond the finding
(an option added to one command, a cleanup appended to the same RUN, a shell-form command
turned into the exact argv ``sh -c`` would have run). Words are located with the same shell
grammar the rules use (tree-sitter-bash), with byte offsets, so an edit lands on the word the
rule saw, also inside ``sh -c '...'`` and heredoc bodies.

Fixing is idempotent: the rewritten file no longer triggers the fixed rules, so a second run
finds nothing to change. The result is parsed again before it is returned; a rewrite that
would not parse is dropped with a notice instead of written.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.parser import DockerfileError, parse
from scratchpack.dockerfile.rules import Finding, shell_of
from scratchpack.dockerfile.shell import SpannedCommand, Word, spanned_commands
from scratchpack.errors import ScratchpackError

FIXABLE = frozenset({"SP101", "SP200", "SP201", "SP202", "SP204", "SP205", "SP303"})
APT_LISTS_CLEANUP = "rm -rf /var/lib/apt/lists/*"
# Characters that make a shell-form command mean more than its words: left to the shell.
_SHELL_SYNTAX = re.compile(r"[$`\\|&;<>(){}*?\[\]~#!\n]")

DigestResolver = Callable[[str], str]


@dataclass(frozen=True)
class Edit:
    start: int  # byte offsets into the source
    end: int
    text: bytes
    code: str
    line: int = 0  # the finding's line, stamped by plan()


@dataclass
class FixResult:
    path: str
    original: str
    fixed: str
    applied: dict[str, int] = field(default_factory=dict)  # rule code -> edits made
    notices: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


class _Source:
    """The file's bytes with line offsets, and the instruction regions the fixes rewrite."""

    def __init__(self, dockerfile: Dockerfile) -> None:
        self.data = dockerfile.source.encode()
        self.escape = dockerfile.directives.get("escape", "\\").encode()[:1] or b"\\"
        self.starts = [0] + [m.end() for m in re.finditer(rb"\n", self.data)]

    def line_start(self, line: int) -> int:
        return self.starts[line - 1]

    def line_end(self, line: int) -> int:
        """Offset of the line's end, before ``\\r\\n`` or ``\\n``."""
        end = self.starts[line] - 1 if line < len(self.starts) else len(self.data)
        if end > 0 and self.data[end - 1 : end] == b"\r":
            end -= 1
        return end

    def after_keyword(self, instruction: Instruction) -> int:
        """Where the instruction's arguments begin, past its keyword and ``--flags``."""
        data, pos = self.data, self.line_start(instruction.line)
        match = re.compile(rb"[ \t]*[A-Za-z]+").match(data, pos)
        pos = match.end() if match else pos
        while True:
            pos = self._skip_blank(pos)
            if data[pos : pos + 2] != b"--":
                return pos
            while pos < len(data) and data[pos : pos + 1] not in (b" ", b"\t", b"\n", b"\r"):
                if data[pos : pos + 1] == self.escape and data[pos + 1 : pos + 2] in (b"\n", b"\r"):
                    break
                pos += 1

    def _skip_blank(self, pos: int) -> int:
        data, esc = self.data, self.escape
        while pos < len(data):
            if data[pos : pos + 1] in (b" ", b"\t"):
                pos += 1
            elif data[pos : pos + 1] == esc and data[pos + 1 : pos + 3] in (b"\n", b"\r\n"):
                pos += 2 if data[pos + 1 : pos + 2] == b"\n" else 3
            else:
                return pos
        return pos

    def script(self, start: int, end: int) -> tuple[bytes, list[int]]:
        """``[start, end)`` as bash reads it, and where each of its bytes is in the source.

        The Dockerfile's continuations become backslash-newlines, and the comment and empty
        lines BuildKit drops inside a continued instruction are left out, so that the shell
        grammar sees one command where BuildKit does.
        """
        out = bytearray()
        where: list[int] = []
        continuing = False
        pos = start
        for raw in self.data[start:end].split(b"\n"):
            line = raw.removesuffix(b"\r")
            skip = continuing and (not line.strip() or line.lstrip().startswith(b"#"))
            if not skip:
                continues = line.endswith(self.escape)
                body = line[:-1] if continues else line
                out += body
                where += range(pos, pos + len(body))
                if continues:
                    out += b"\\\n"
                    where += [pos + len(body), pos + len(body)]
                else:
                    out += b"\n"
                    where.append(pos + len(raw))
                continuing = continues
            pos += len(raw) + 1
        out = out[:-1]  # the newline after the last line is not part of the range
        where = where[: len(out)]
        where.append(end)
        return bytes(out), where


def _heredoc_body(source: _Source, instruction: Instruction) -> tuple[int, int] | None:
    """Byte range of the first heredoc's body when it is the RUN's script (``RUN <<EOF``)."""
    if not instruction.heredocs or not instruction.text.startswith("<<"):
        return None
    name = instruction.heredocs[0].name.encode()
    start = (
        source.line_start(instruction.line + 1) if instruction.line < instruction.end_line else None
    )
    if start is None:
        return None
    for line in range(instruction.line + 1, instruction.end_line + 1):
        text = source.data[source.line_start(line) : source.line_end(line)]
        if text.lstrip(b"\t") == name:
            return start, source.line_start(line)
    return None


def _commands(source: _Source, instruction: Instruction) -> list[SpannedCommand]:
    """The RUN's commands with source offsets (heredoc body, or the shell-form script)."""
    body = _heredoc_body(source, instruction)
    if body is not None:
        start, end = body
    elif instruction.heredocs:
        return []  # a heredoc that is data (cat <<EOF > file): leave the RUN alone
    else:
        start, end = source.after_keyword(instruction), source.line_end(instruction.end_line)
    script, where = source.script(start, end)

    def mapped(word: Word) -> Word:
        return Word(word.text, where[word.start], where[word.end - 1] + 1)

    return [
        SpannedCommand(
            mapped(c.name), tuple(mapped(a) for a in c.args), where[c.start], where[c.end - 1] + 1
        )
        for c in spanned_commands(script)
    ]


def _operand(cmd: SpannedCommand, *names: str) -> bool:
    first = cmd.first_operand()
    return first is not None and first.text in names


def _is_pip(cmd: SpannedCommand) -> bool:
    texts = [a.text for a in cmd.args]
    return cmd.name.text in ("pip", "pip3") or (
        cmd.name.text.startswith("python") and texts[:2] == ["-m", "pip"]
    )


def _insert_after_subcommand(
    cmd: SpannedCommand, subcommand: str, option: str, code: str
) -> Edit | None:
    if cmd.has(option):
        return None
    word = next((a for a in cmd.args if a.text == subcommand), None)
    if word is None:
        return None
    return Edit(word.end, word.end, f" {option}".encode(), code)


def _option_edits(source: _Source, instruction: Instruction, codes: set[str]) -> list[Edit]:
    edits: list[Edit] = []
    for cmd in _commands(source, instruction):
        name = cmd.name.text
        edit = None
        if "SP200" in codes and name in ("apt-get", "apt") and _operand(cmd, "install"):
            edit = _insert_after_subcommand(cmd, "install", "--no-install-recommends", "SP200")
        elif "SP204" in codes and name == "apk" and _operand(cmd, "add"):
            edit = _insert_after_subcommand(cmd, "add", "--no-cache", "SP204")
        elif "SP205" in codes and _is_pip(cmd) and any(a.text == "install" for a in cmd.args):
            edit = _insert_after_subcommand(cmd, "install", "--no-cache-dir", "SP205")
        if edit is not None:
            edits.append(edit)
    return edits


def _apt_lists_edit(source: _Source, instruction: Instruction) -> Edit | None:
    """Append the cleanup to the same RUN: after the script, or as the heredoc's last line."""
    if instruction.json:
        return None
    body = _heredoc_body(source, instruction)
    if body is not None:
        newline = b"\r\n" if source.data[body[0] - 2 : body[0]] == b"\r\n" else b"\n"
        return Edit(body[1], body[1], APT_LISTS_CLEANUP.encode() + newline, "SP201")
    if instruction.heredocs or not _commands(source, instruction):
        return None
    end = source.line_end(instruction.end_line)
    while end > 0 and source.data[end - 1 : end] in (b" ", b"\t"):
        end -= 1
    return Edit(end, end, f" && {APT_LISTS_CLEANUP}".encode(), "SP201")


def _merge_update_edits(source: _Source, stage: Stage, update: Instruction) -> list[Edit]:
    """Fold a RUN that only runs ``apt-get update`` into the RUN right after it that installs."""
    if update.flags or update.json or update.heredocs:
        return []
    position = stage.instructions.index(update)
    following = stage.instructions[position + 1 : position + 2]
    if not following or following[0].cmd != "RUN" or following[0].json:
        return []
    install = following[0]
    subcommands = [
        next((a for a in c.args if not a.startswith("-")), None)
        for c in shell_of(install)
        if c.name in ("apt-get", "apt")
    ]
    if "install" not in subcommands:
        return []
    # The update's own line(s), with their line break, go; comments above them stay.
    start = source.line_start(update.line)
    end = (
        source.line_start(update.end_line + 1)
        if update.end_line < len(source.starts)
        else len(source.data)
    )
    edits = [Edit(start, end, b"", "SP202")]
    if "update" in subcommands:
        return edits  # the install RUN already updates: the lone update was redundant
    body = _heredoc_body(source, install)
    if body is not None:
        edits.append(Edit(body[0], body[0], b"apt-get update\n", "SP202"))
        return edits
    commands = _commands(source, install)
    if install.heredocs or not commands:
        return []
    first = min(c.start for c in commands)
    update_text = " ".join(update.args) if update.args else "apt-get update"
    edits.append(Edit(first, first, f"{update_text} && ".encode(), "SP202"))
    return edits


def _exec_form_edit(source: _Source, stage: Stage, instruction: Instruction) -> Edit | None:
    """``CMD app --flag`` -> ``CMD ["app", "--flag"]`` when the shell would add nothing."""
    if instruction.json or stage.of("SHELL"):
        return None
    if instruction.cmd == "ENTRYPOINT" and any(
        i.cmd == "CMD" for i in stage.instructions if i.line > instruction.line
    ):
        return None  # exec form would start passing that CMD as arguments
    start = source.after_keyword(instruction)
    end = source.line_end(instruction.end_line)
    text = source.data[start:end].decode(errors="replace")
    if instruction.line != instruction.end_line or _SHELL_SYNTAX.search(text):
        return None
    try:
        argv = shlex.split(text)
    except ValueError:
        return None
    if not argv or "=" in argv[0]:
        return None  # VAR=value cmd is shell syntax too
    return Edit(start, end, json.dumps(argv).encode(), "SP303")


def _pin_edit(
    source: _Source,
    stage: Stage,
    resolve: DigestResolver | None,
    cache: dict[str | int, str | Exception],
    notices: list[str],
) -> Edit | None:
    base = stage.base
    from_line = stage.instructions[0]
    start = source.after_keyword(from_line)
    word = re.compile(rb"[^\s\\`]+").match(source.data, start)
    if word is None:
        return None
    at = word.end()
    if word.group().decode() != base:
        # FROM ${IMAGE}: pin the default of the ARG before the first FROM instead
        variable = re.fullmatch(rb"\$\{?(\w+)\}?", word.group())
        argument = _arg_default(source, variable.group(1)) if variable else None
        if argument is None or argument[1].decode() != base or "$" in base:
            notices.append(f"line {stage.line}: FROM {base} not pinned: it uses build arguments")
            return None
        at = argument[0]
        if at in cache:
            return None  # the same ARG, pinned for an earlier stage
    if "$" in base:
        notices.append(f"line {stage.line}: FROM {base} not pinned: it uses build arguments")
        return None
    if resolve is None:
        notices.append(f"line {stage.line}: FROM {base} not pinned: digest lookup is off")
        return None
    if base not in cache:
        try:
            cache[base] = resolve(base)
        except ScratchpackError as exc:
            cache[base] = exc
    digest = cache[base]
    if isinstance(digest, Exception):
        notices.append(f"line {stage.line}: FROM {base} not pinned: {digest}")
        return None
    if at != word.end():
        cache[at] = digest
    return Edit(at, at, f"@{digest}".encode(), "SP101")


def _arg_default(source: _Source, name: bytes) -> tuple[int, bytes] | None:
    """Where the default of ``ARG name=...`` before the first FROM ends, and the default."""
    pattern = re.compile(rb"^[ \t]*ARG[ \t]+" + re.escape(name) + rb"=([^\s\\`]+)", re.I | re.M)
    first_from = re.search(rb"^[ \t]*FROM[ \t]", source.data, re.I | re.M)
    limit = first_from.start() if first_from else len(source.data)
    match = pattern.search(source.data, 0, limit)
    if match is None:
        return None
    raw = match.group(1)
    end = match.end(1) - (1 if raw[-1:] in (b'"', b"'") else 0)
    return end, raw.strip(b"\"'")


def plan(
    dockerfile: Dockerfile, findings: list[Finding], resolve: DigestResolver | None = None
) -> tuple[list[Edit], list[str]]:
    """The edits that fix ``findings`` (those that can be fixed safely), and notices for the
    ones that could not be."""
    source = _Source(dockerfile)
    by_line: dict[int, set[str]] = {}
    for finding in findings:
        if finding.code in FIXABLE:
            by_line.setdefault(finding.line, set()).add(finding.code)
    edits: list[Edit] = []
    notices: list[str] = []
    digests: dict[str | int, str | Exception] = {}
    for stage in dockerfile.stages:
        foreign_shell = bool(stage.of("SHELL"))
        for instruction in stage.instructions:
            codes = by_line.get(instruction.line, set())
            if not codes:
                continue
            first = len(edits)
            if instruction.cmd == "FROM" and "SP101" in codes:
                edit = _pin_edit(source, stage, resolve, digests, notices)
                edits += [edit] if edit else []
            if instruction.cmd == "RUN" and not foreign_shell:
                edits += _option_edits(source, instruction, codes)
                if "SP201" in codes and (edit := _apt_lists_edit(source, instruction)):
                    edits.append(edit)
                if "SP202" in codes:
                    edits += _merge_update_edits(source, stage, instruction)
            if instruction.cmd in ("CMD", "ENTRYPOINT") and "SP303" in codes:
                edit = _exec_form_edit(source, stage, instruction)
                if edit is None:
                    notices.append(
                        f"line {instruction.line}: {instruction.cmd} left in shell form: it uses "
                        "shell syntax (variables, operators, globs) or spans lines"
                    )
                edits += [edit] if edit else []
            edits[first:] = [replace(e, line=instruction.line) for e in edits[first:]]
    return edits, notices


def apply(data: bytes, edits: list[Edit]) -> tuple[bytes, list[Edit]]:
    """Apply non-overlapping edits, last first; an edit inside a range another one replaces
    is skipped. Returns the result and the edits applied."""
    result = data
    taken: list[tuple[int, int]] = []
    applied: list[Edit] = []
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        if any(edit.start < end and start < edit.end for start, end in taken) or any(
            start < edit.start < end for start, end in taken
        ):
            continue
        if edit.start != edit.end:
            taken.append((edit.start, edit.end))
        result = result[: edit.start] + edit.text + result[edit.end :]
        applied.append(edit)
    return result, applied


def fix(
    dockerfile: Dockerfile, findings: list[Finding], resolve: DigestResolver | None = None
) -> FixResult:
    edits, notices = plan(dockerfile, findings, resolve)
    original = dockerfile.source
    data, edits = apply(original.encode(), edits)
    fixed = data.decode()
    result = FixResult(dockerfile.path, original, fixed, notices=notices)
    if not edits:
        return result
    try:
        parse(fixed, dockerfile.path)
    except DockerfileError as exc:  # never write what we cannot read back
        result.fixed = original
        result.notices.append(f"fixes not applied: the result would not parse ({exc})")
        return result
    for code, _ in sorted({(edit.code, edit.line) for edit in edits}):
        result.applied[code] = result.applied.get(code, 0) + 1
    return result
