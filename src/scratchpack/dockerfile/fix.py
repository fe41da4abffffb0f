"""``lint --fix``: rewrites of a Dockerfile that keep its meaning and everything else byte for byte.

A fix is a set of byte-range edits on the source as read, never a re-rendering of the parsed
file: comments, continuations, indentation, the escape character and line endings all stay.
Every edit is placed with the shell grammar (tree-sitter-bash byte ranges of words and
statements, mapped back to the source), never by appending text to a line: an option goes
right after its subcommand's word, a cleanup after the last word of the script's last
statement (before a trailing ``;`` or comment), also inside ``sh -c '...'`` and heredoc bodies.

Two tiers, as ruff has them. A safe fix keeps what the build runs, in which context and order,
and what it installs, except for the fix's documented purpose (``FIXES``); it is made only
where that can be shown from the file (no later install needs the apt lists a cleanup
removes, an update is merged only into the RUN right after it with the same flags and a script
it can guard with ``&&``...). An unsafe fix may change what gets installed or run
(``--no-install-recommends`` drops Recommends; exec form hands a base image's unseen
ENTRYPOINT other arguments): it is made only with ``unsafe=True`` (``--unsafe-fixes``), and
its reason is a notice either way. Every finding that is left alone gets a notice saying why.

Fixing is idempotent: the rewritten file no longer triggers the fixed rules, or triggers them
where they were left alone for the same reason, so a second run changes nothing. The result is
parsed again before it is returned; a rewrite that would not parse is dropped with a notice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.parser import DockerfileError, parse
from scratchpack.dockerfile.rules import Finding, shell_of
from scratchpack.dockerfile.shell import (
    ShellCommand,
    SpannedCommand,
    Statement,
    Word,
    comments_continued,
    literal_argv,
    rebinds,
    spanned_commands,
    statements,
)
from scratchpack.errors import ScratchpackError

APT_LISTS_CLEANUP = "rm -rf /var/lib/apt/lists/*"


@dataclass(frozen=True)
class FixKind:
    """What a rule's automatic fix does and its tier: ``unsafe`` is why it may change the
    build (empty: safe), ``unsafe_when`` the case it is unsafe in (empty: always)."""

    does: str
    unsafe: str = ""
    unsafe_when: str = ""


UNSAFE_RECOMMENDS = (
    "--no-install-recommends changes which packages are installed: whatever came only as a "
    "Recommends is dropped (ca-certificates with curl, git or wget; dirmngr with gnupg; build "
    "tools with python3-pip), and a later step that needs it fails"
)
UNSAFE_ENTRYPOINT = (
    "{base} may have an ENTRYPOINT (not visible in this file), which would get these words as "
    "arguments instead of /bin/sh -c '...'"
)
FIXES: dict[str, FixKind] = {
    "SP101": FixKind("pins FROM to the digest the registry serves now, keeping the tag"),
    "SP200": FixKind(
        "adds --no-install-recommends after apt-get install, and names ca-certificates when a "
        "later step of the stage (or of a stage built on it, or a COPY of /etc/ssl) uses TLS "
        "and nothing names it",
        UNSAFE_RECOMMENDS,
    ),
    "SP201": FixKind(
        f"appends `&& {APT_LISTS_CLEANUP}` to the RUN's last statement, unless a later RUN of "
        "the stage (or of a stage built on it) reads the lists without an apt-get update of its "
        "own, or the RUN runs as a USER other than root"
    ),
    "SP202": FixKind(
        "moves a lone apt-get update into the RUN right after it (`apt-get update && ...`), "
        "when that RUN installs, has the same flags, and is one &&-chain"
    ),
    "SP204": FixKind("adds --no-cache after apk add"),
    "SP205": FixKind("adds --no-cache-dir after pip install"),
    "SP303": FixKind(
        "writes CMD/ENTRYPOINT in exec form when it is one program with literal words, the "
        "argv /bin/sh -c would exec (no builtin, variable, glob, redirection or operator)",
        UNSAFE_ENTRYPOINT.format(base="the base image"),
        "for a CMD on an image from a registry",
    ),
}
FIXABLE = frozenset(FIXES)
_OPTION_FIXES = {"SP200": ("install", "--no-install-recommends"), "SP204": ("add", "--no-cache"),
                 "SP205": ("install", "--no-cache-dir")}  # fmt: skip
# apt subcommands that read the package lists in /var/lib/apt/lists
_LIST_READERS = frozenset(
    {"install", "upgrade", "dist-upgrade", "full-upgrade", "build-dep", "source", "download",
     "reinstall", "satisfy", "search", "show", "showsrc", "policy", "madison", "depends",
     "rdepends", "showpkg", "dump", "dumpavail", "pkgnames"}
)  # fmt: skip
_APT = frozenset({"apt-get", "apt", "apt-cache", "aptitude"})
_POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ash"})
DEFAULT_SHELL = ("/bin/sh", "-c")

DigestResolver = Callable[[str], str]


@dataclass(frozen=True)
class Edit:
    start: int  # byte offsets into the source
    end: int
    text: bytes
    code: str
    line: int = 0  # the finding's line, stamped by plan()
    unsafe: str = ""  # why this edit may change the build; empty: a safe fix
    note: str = ""  # what else the edit does, for the notice


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


_BOM = "\ufeff".encode()


class _Source:
    """The file's bytes with line offsets, and the instruction regions the fixes rewrite."""

    def __init__(self, dockerfile: Dockerfile) -> None:
        self.data = dockerfile.source.encode()
        self.escape = dockerfile.directives.get("escape", "\\").encode()[:1] or b"\\"
        # BuildKit's continuation: the escape character, then blanks, at the end of a line
        self.continuation = re.compile(re.escape(self.escape) + rb"[ \t]*$")
        # Line 1 starts after a UTF-8 BOM, as BuildKit reads it: else `FROM` behind a BOM is
        # not seen as the keyword and the fixes of line 1 (pinning the base) are skipped.
        first = len(_BOM) if self.data.startswith(_BOM) else 0
        self.starts = [first] + [m.end() for m in re.finditer(rb"\n", self.data)]

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
                if self.continuation.match(data, pos, self.line_end_at(pos)):
                    break
                pos += 1

    def _skip_blank(self, pos: int) -> int:
        """Past blanks and continuations (with the comment and empty lines BuildKit drops
        after one): ``FROM \\`` then the image on the next line."""
        data = self.data
        while pos < len(data):
            if data[pos : pos + 1] in (b" ", b"\t"):
                pos += 1
                continue
            end = self.line_end_at(pos)
            if self.continuation.match(data, pos, end) is None:
                return pos
            pos = data.find(b"\n", end)
            while pos >= 0 and _dropped(data[pos + 1 : self.line_end_at(pos + 1)]):
                pos = data.find(b"\n", pos + 1)
            if pos < 0:
                return len(data)
            pos += 1
        return pos

    def line_end_at(self, pos: int) -> int:
        """The end of the line ``pos`` is on, before its ``\\r\\n`` or ``\\n``."""
        end = self.data.find(b"\n", pos)
        end = len(self.data) if end < 0 else end
        return end - 1 if end > pos and self.data[end - 1 : end] == b"\r" else end

    def script(self, start: int, end: int, heredoc: bool = False) -> tuple[bytes, list[int]]:
        """``[start, end)`` as bash reads it, and where each of its bytes is in the source.

        The Dockerfile's continuations (the escape character, maybe followed by blanks)
        become backslash-newlines, and the comment and empty lines BuildKit drops inside a
        continued instruction are left out, so that the shell grammar sees one command where
        BuildKit does. A ``heredoc`` body reaches the shell as written: none of that applies.
        """
        out = bytearray()
        where: list[int] = []
        continuing = False
        pos = start
        for raw in self.data[start:end].split(b"\n"):
            line = raw.removesuffix(b"\r")
            skip = continuing and _dropped(line)
            if not skip:
                found = None if heredoc else self.continuation.search(line)
                continues = found is not None
                body = line[: found.start()] if found else line
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


# -- where things are: scripts, stages and shells ---------------------------------------------

Region = tuple[bytes, list[int]]  # a script as the shell reads it, and each byte's source offset
# What Go's unicode.IsSpace is (BuildKit trims lines with it): ASCII blanks, NEL, NBSP, Zs
_GO_SPACE = "".join(
    map(chr, (9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
              0x202F, 0x205F, 0x3000))
)  # fmt: skip


def _dropped(line: bytes) -> bool:
    """Whether BuildKit drops this line inside a continued instruction: empty or a comment
    once its leading white space (Unicode's, as Go trims it) is gone."""
    rest = line.decode("utf-8", "replace").lstrip(_GO_SPACE)
    return not rest or rest.startswith("#")


def _heredoc_body(source: _Source, instruction: Instruction) -> tuple[int, int] | None:
    """Byte range of the heredoc's body when it is the RUN's script (``RUN <<EOF``, or
    ``RUN <<EOF bash -e``), not data for a command and not a script for another interpreter."""
    if len(instruction.heredocs) != 1 or not instruction.text.startswith("<<"):
        return None
    words = instruction.text.split()
    if len(words) > 1 and words[1].rsplit("/", 1)[-1] not in _POSIX_SHELLS:
        return None  # RUN <<EOF python3: the body is python
    heredoc = instruction.heredocs[0]
    if heredoc.content.startswith("#!") and not re.match(
        r"#!\s*\S*/(?:env\s+)?(?:sh|bash|dash|ash)\b", heredoc.content
    ):
        return None  # a shebang BuildKit runs the body with
    # BuildKit ends the instruction at the terminator, and the body is the lines before it
    # (a RUN line continued onto the next one comes before). Only ``<<-`` strips tabs: a
    # ``\tEOF`` line in the body of ``<<EOF`` is a command, not its end.
    last = instruction.end_line
    first = last - heredoc.content.count("\n")
    terminator = source.data[source.line_start(last) : source.line_end(last)]
    if instruction.text.startswith("<<-"):
        terminator = terminator.lstrip(b"\t")
    if first <= instruction.line or terminator != heredoc.name.encode():
        return None
    return source.line_start(first), source.line_start(last)


def _script(source: _Source, instruction: Instruction) -> Region | str:
    """The RUN's script (heredoc body, or the shell-form text) with source offsets, or why
    the RUN has none a fix can edit."""
    if instruction.json:
        return "the RUN is in exec (JSON) form: no shell reads it"
    if instruction.heredocs:
        body = _heredoc_body(source, instruction)
        if body is None:
            return "the RUN has a here-document that is not its shell script"
        return source.script(*body, heredoc=True)
    region = source.script(source.after_keyword(instruction), source.line_end(instruction.end_line))
    if comments_continued(region[0]):
        return (
            "a comment in it ends with a continuation: BuildKit joins the next line into the "
            "comment, so an edit there would never run"
        )
    return region


def _at(region: Region, offset: int) -> int:
    """The source offset just after script byte ``offset - 1`` (an end offset)."""
    return region[1][offset - 1] + 1


def _commands(source: _Source, instruction: Instruction) -> list[SpannedCommand]:
    """The RUN's commands with source offsets (heredoc body, or the shell-form script)."""
    region = _script(source, instruction)
    if isinstance(region, str):
        return []
    script, where = region

    def mapped(word: Word) -> Word:
        return Word(word.text, where[word.start], where[word.end - 1] + 1)

    return [
        SpannedCommand(
            mapped(c.name), tuple(mapped(a) for a in c.args), where[c.start], where[c.end - 1] + 1
        )
        for c in spanned_commands(script)
    ]


def _one_chain(source: _Source, run: Instruction, label: str) -> tuple[Region, Statement] | str:
    """The RUN's script and its only statement, when that is a plain ``a && b && c`` chain
    (what ``update && ...`` guards as a whole), or why not."""
    region = _script(source, run)
    if isinstance(region, str):
        return f"{label}: {region}"
    found = statements(region[0])
    if not found:
        why = "the shell grammar cannot read its script"
    elif len(found) > 1:
        why = "its script is more than one statement (joined by ; or newlines)"
    elif found[0].operators - {"&&"} or found[0].background:
        why = "its script uses || or & (an update chained with && would change what runs)"
    elif found[0].heredoc:
        why = "its script has a here-document"
    else:
        return region, found[0]
    return f"{label}: {why}"


def _parent(dockerfile: Dockerfile, stage: Stage) -> Stage | None:
    """The earlier stage this one is built FROM, if any."""
    return next((s for s in dockerfile.stages[: stage.index] if s.name == stage.base.lower()), None)


def _children(dockerfile: Dockerfile, stage: Stage) -> list[Stage]:
    return [s for s in dockerfile.stages if _parent(dockerfile, s) is stage]


def _in_effect(dockerfile: Dockerfile, cmd: str) -> dict[int, Instruction | None]:
    """For each instruction (by line), the last ``cmd`` (SHELL, USER) in effect there: set
    earlier in its stage, or inherited from the stage it is built on; None: the default."""
    found: dict[int, Instruction | None] = {}
    at_end: dict[int, Instruction | None] = {}
    for stage in dockerfile.stages:
        parent = _parent(dockerfile, stage)
        current = at_end[parent.index] if parent else None
        for instruction in stage.instructions:
            if instruction.cmd == cmd and (cmd != "SHELL" or instruction.json):
                current = instruction
            found[instruction.line] = current
        at_end[stage.index] = current
    return found


def _posix(shell: tuple[str, ...]) -> bool:
    """``sh -c``, ``/bin/bash -o pipefail -c``, ``bash -eux -c``...: a shell that reads the
    script with the grammar the fixes edit it with."""
    if len(shell) < 2 or shell[0].rsplit("/", 1)[-1] not in _POSIX_SHELLS:
        return False
    options = shell[1:-1]
    return re.fullmatch(r"-[euxv]*c", shell[-1]) is not None and all(
        re.fullmatch(r"[-+][euxv]*o?|pipefail|errexit|nounset|xtrace", o) for o in options
    )


def _apt_subcommands(instruction: Instruction) -> Iterator[str]:
    """apt-get/apt/apt-cache subcommands the RUN runs, in order."""
    for cmd in shell_of(instruction):
        if cmd.name in _APT:
            sub = next((a for a in cmd.args if not a.startswith("-")), None)
            if sub is not None:
                yield sub


# -- the fixes --------------------------------------------------------------------------------

Outcome = list[Edit] | str  # the edits, or why the finding is left alone


def _option_edits(
    source: _Source, dockerfile: Dockerfile, stage: Stage, instruction: Instruction, code: str
) -> Outcome:
    """An option right after the subcommand's word, in every command the rule is about; with
    ``--no-install-recommends``, also ``ca-certificates`` when a later step needs it."""
    subcommand, option = _OPTION_FIXES[code]
    edits: list[Edit] = []
    tls = _tls_needed(dockerfile, stage, instruction) if code == "SP200" else None
    for cmd in _commands(source, instruction):
        name = cmd.name.text
        if code == "SP200":
            wanted = name in ("apt-get", "apt") and _operand(cmd, "install")
        elif code == "SP204":
            wanted = name == "apk" and _operand(cmd, "add")
        else:
            wanted = _is_pip(cmd) and any(a.text == "install" for a in cmd.args)
        if wanted and not cmd.has(option):
            word = next((a for a in cmd.args if a.text == subcommand), None)
            if word is None:
                continue
            unsafe = FIXES[code].unsafe
            edits.append(Edit(word.end, word.end, f" {option}".encode(), code, unsafe=unsafe))
            if tls and not any(a.text == "ca-certificates" for a in cmd.args):
                end = cmd.args[-1].end
                note = f"ca-certificates added: {tls} needs the CA bundle, often only a Recommends"
                edits.append(Edit(end, end, b" ca-certificates", code, unsafe=unsafe, note=note))
    return edits or "no command the grammar can edit was found for it"


# What makes TLS connections (so needs the CA bundle of ca-certificates): these programs,
# with these subcommands (None: any use), and any URL or remote an argument names.
_TLS_PROGRAMS: dict[str, frozenset[str] | None] = {
    "curl": None, "wget": None, "git": frozenset({"clone", "fetch", "pull", "push",
    "submodule", "ls-remote", "remote"}), "pip": frozenset({"install", "download", "wheel"}),
    "pip3": frozenset({"install", "download", "wheel"}), "npm": frozenset({"install", "i",
    "ci", "add", "update"}), "yarn": None, "pnpm": None, "go": frozenset({"get", "install",
    "mod", "build"}), "gem": frozenset({"install"}), "cargo": frozenset({"install", "build",
    "fetch"}), "composer": None, "bundle": None,
}  # fmt: skip
_TLS_WORD = re.compile(r"https://|ssh://|^git@|^[\w.-]+@[\w.-]+:")


def _uses_tls(cmd: ShellCommand) -> bool:
    args = (
        cmd.args[2:]
        if cmd.name.startswith("python") and cmd.args[:2] == ("-m", "pip")
        else cmd.args
    )
    name = "pip" if args is not cmd.args else cmd.name.rsplit("/", 1)[-1]
    if any(_TLS_WORD.search(a) for a in args):
        return True
    if name not in _TLS_PROGRAMS:
        return False
    subcommands = _TLS_PROGRAMS[name]
    operand = next((a for a in args if not a.startswith("-")), None)
    return subcommands is None or operand in subcommands


def _tls_needed(dockerfile: Dockerfile, stage: Stage, run: Instruction) -> str:
    """What needs the CA bundle from this RUN on (``curl`` at line 7...), in the stage, the
    stages built on it, or a COPY --from of /etc/ssl; '' when nothing does, or when
    ca-certificates is installed by name already (here, before, or in a parent stage)."""
    chain: list[Stage] = []
    current: Stage | None = stage
    while current is not None:
        chain.append(current)
        current = _parent(dockerfile, current)
    upto = stage.instructions.index(run)
    earlier = [*stage.instructions[: upto + 1], *(i for s in chain[1:] for i in s.instructions)]
    named = any(
        cmd.name in ("apt-get", "apt") and "ca-certificates" in cmd.args
        for instruction in earlier
        for cmd in shell_of(instruction)
    )
    return "" if named else _tls_user(dockerfile, stage, upto)


def _tls_user(dockerfile: Dockerfile, stage: Stage, start: int) -> str:
    for instruction in _onwards(dockerfile, stage, start):
        cmd = next((c for c in shell_of(instruction) if _uses_tls(c)), None)
        if cmd is not None:
            return f"{cmd.name} at line {instruction.line}"
    copy = _copy_of(dockerfile, stage, "/etc/ssl")
    return f"the COPY at line {copy.line}" if copy else ""


def _onwards(dockerfile: Dockerfile, stage: Stage, start: int) -> Iterator[Instruction]:
    """The stage's instructions from ``start``, then those of every stage built on it."""
    yield from stage.instructions[start:]
    for child in _children(dockerfile, stage):
        yield from _onwards(dockerfile, child, 0)


def _copy_of(dockerfile: Dockerfile, stage: Stage, path: str) -> Instruction | None:
    """A ``COPY --from`` of this stage whose source is ``path``, is in it, or holds it."""
    names = {stage.label, str(stage.index)}
    for other in dockerfile.stages:
        for copy in other.of("COPY"):
            if copy.flag("from") not in names:
                continue
            for source in copy.args[:-1]:
                source = source.rstrip("/") or "/"  # noqa: PLW2901
                if source.startswith(path) or path.startswith(source.rstrip("/") + "/"):
                    return copy
    return None


def _operand(cmd: SpannedCommand, *names: str) -> bool:
    first = cmd.first_operand()
    return first is not None and first.text in names


def _is_pip(cmd: SpannedCommand) -> bool:
    texts = [a.text for a in cmd.args]
    return cmd.name.text in ("pip", "pip3") or (
        cmd.name.text.startswith("python") and texts[:2] == ["-m", "pip"]
    )


def _lists_needed_after(dockerfile: Dockerfile, stage: Stage, position: int) -> str | None:
    """The first later instruction that reads the apt lists left by the instruction at
    ``position`` without refreshing them first: later in the stage, in stages built on it,
    or a COPY --from of the lists. None when every later reader updates first."""
    for instruction in stage.instructions[position + 1 :]:
        if instruction.cmd != "RUN":
            continue
        for sub in _apt_subcommands(instruction):
            if sub == "update":
                return None
            if sub in _LIST_READERS:
                return f"the RUN at line {instruction.line} (apt-get {sub}, no update first)"
    for child in _children(dockerfile, stage):
        reader = _lists_needed_after(dockerfile, child, 0)
        if reader:
            return reader
    copy = _copy_of(dockerfile, stage, "/var/lib/apt/lists")
    return f"the COPY at line {copy.line} (it copies the lists)" if copy else None


def _apt_lists_edit(
    source: _Source,
    dockerfile: Dockerfile,
    stage: Stage,
    run: Instruction,
    user: Instruction | None,
) -> Outcome:
    """``&& rm -rf /var/lib/apt/lists/*`` after the last word of the script's last statement.

    At the very end, chained with ``&&``: the RUN's exit status is the same with or without
    errexit (a cleanup between two statements would hide a failed install under ``set -e``,
    a cleanup on its own line would make a failed last install exit 0)."""
    if user is not None and user.text.split(":")[0].strip() not in ("root", "0"):
        return (
            f"the RUN runs as USER {user.text} (line {user.line}): rm could not remove the "
            "lists root owns, and the build would fail"
        )
    reader = _lists_needed_after(dockerfile, stage, stage.instructions.index(run))
    if reader:
        return f"{reader} still needs the package lists this RUN leaves"
    if any(name == "mount" and "/var/lib/apt" in value for name, value in run.flags):
        return "the RUN mounts something at /var/lib/apt: the lists there are not the layer's"
    region = _script(source, run)
    if isinstance(region, str):
        return region
    found = statements(region[0])
    if not found:
        return "the shell grammar cannot read its script"
    last = found[-1]
    if last.background:
        return "its last statement runs in the background (&)"
    if last.heredoc:
        return "its last statement has a here-document"
    spanned = spanned_commands(region[0])
    script = region[0]
    if any(
        c.start >= last.start and script[c.start : c.end].split()[:1] in ([b"exit"], [b"exec"])
        for c in spanned
    ):
        return "its last statement leaves the shell (exit or exec): a cleanup would not run"
    if any(script[c.start : c.end].split()[:1] in ([b"sudo"], [b"doas"]) for c in spanned):
        return (
            "it runs commands through sudo: the RUN's user (from the base image) is not root, "
            "and a plain rm could not remove the lists root owns"
        )
    if any(c.name.text == "set" and _sets_noglob(c) for c in spanned):
        return "the script turns globbing off (set -f): lists/* would not match"
    rebound = rebinds(script, "rm") or next((why for c in spanned if (why := _rebinds_rm(c))), "")
    if rebound:
        return f"{rebound}: the rm appended could fail or do nothing"
    at = _at(region, last.end)
    return [Edit(at, at, f" && {APT_LISTS_CLEANUP}".encode(), "SP201")]


def _rebinds_rm(cmd: SpannedCommand) -> str:
    """Why a command makes a later ``rm -rf .../lists/*`` fail or do nothing: an alias of
    rm, PATH unset or read, bash's failglob (an error when lists/* matches nothing), a
    process limit (``ulimit -u``); '' when it does not."""
    name, words = cmd.name.text, [a.text for a in cmd.args]
    if name == "alias" and any(w.startswith("rm=") for w in words):
        return "it makes rm an alias"
    if name in ("unset", "read", "readonly", "export", "declare", "typeset", "local") and (
        "PATH" in words
    ):
        return "it sets PATH"
    if name == "shopt" and "failglob" in words:
        return "it sets failglob"
    if name == "ulimit":
        return "it sets a ulimit"
    return ""


def _sets_noglob(cmd: SpannedCommand) -> bool:
    words = [a.text for a in cmd.args]
    return "noglob" in words or any(re.fullmatch(r"-[a-z]*f[a-z]*", w) for w in words)


def _merge_update_edits(source: _Source, stage: Stage, update: Instruction) -> Outcome:
    """Move a RUN that only runs ``apt-get update`` into the RUN right after it that
    installs, as ``apt-get update && <its chain>``: only where that runs the same commands in
    the same context, and an update that fails still stops the build."""
    if update.json or update.heredocs:
        return "the update RUN is in exec form or has a here-document"
    if any(c.name not in ("apt-get", "apt") for c in shell_of(update)):
        return "the update RUN runs other commands too"
    position = stage.instructions.index(update)
    following = stage.instructions[position + 1 : position + 2]
    if not following:
        return "no instruction follows it in the stage"
    install = following[0]
    if install.cmd != "RUN":
        return (
            f"it is followed by {install.cmd} (line {install.line}): merging would move the "
            "update across it"
        )
    if install.json:
        return f"the RUN at line {install.line} is in exec form"
    if install.flags != update.flags:
        return f"the RUN at line {install.line} has other flags: the update would run with them"
    subs = list(_apt_subcommands(install))
    if "install" not in subs:
        return f"the RUN at line {install.line} does not install"
    update_chain = _one_chain(source, update, "the update RUN")
    if isinstance(update_chain, str):
        return update_chain
    # The update's own line(s), with their line break, go; comments above them stay.
    start = source.line_start(update.line)
    end = (
        source.line_start(update.end_line + 1)
        if update.end_line < len(source.starts)
        else len(source.data)
    )
    edits = [Edit(start, end, b"", "SP202")]
    if subs[0] == "update":
        return edits  # the install RUN updates first already: the lone update was redundant
    if install.heredocs:
        return f"the RUN at line {install.line} has a here-document: no chain to guard"
    install_chain = _one_chain(source, install, f"the RUN at line {install.line}")
    if isinstance(install_chain, str):
        return install_chain
    (update_region, chain), (install_region, first) = update_chain, install_chain
    text = source.data[update_region[1][chain.start] : _at(update_region, chain.end)]
    at = install_region[1][first.start]
    edits.append(Edit(at, at, text + b" && ", "SP202"))
    return edits


def _entrypoint_of(dockerfile: Dockerfile, stage: Stage) -> tuple[str, Instruction | None]:
    """The ENTRYPOINT a CMD of ``stage`` is given to: one in the stage or a parent stage, or
    the base image's name when the chain starts from an image this file cannot see into."""
    current: Stage | None = stage
    root = stage
    while current is not None:
        entrypoints = current.of("ENTRYPOINT")
        if entrypoints:
            return "", entrypoints[-1]
        root = current
        current = _parent(dockerfile, current)
    return ("" if root.base == "scratch" else root.base), None


def _exec_form_edit(
    source: _Source, dockerfile: Dockerfile, stage: Stage, instruction: Instruction
) -> Outcome:
    """``CMD app --flag`` -> ``CMD ["app", "--flag"]`` when that is the argv the shell would
    exec, and nothing else (an ENTRYPOINT) would receive other arguments because of it."""
    # the text BuildKit hands to /bin/sh -c: continuations joined, comment lines dropped
    argv = literal_argv(instruction.text.encode())
    if argv is None:
        return (
            "it needs the shell (a builtin such as exec or cd, an assignment, a variable, a "
            "glob, a redirection, an operator or a comment)"
        )
    start = source.after_keyword(instruction)
    end = source.line_end(instruction.end_line)
    continued = range(instruction.line + 1, instruction.end_line + 1)
    if any(source.data[source.line_start(n) : end].lstrip().startswith(b"#") for n in continued):
        return "it spans lines with comments between them, which exec form on one line would lose"
    unsafe = ""
    if instruction.cmd == "ENTRYPOINT":
        cmd = next(iter(stage.of("CMD")), None)
        if cmd is not None:
            return f"exec form would pass the stage's CMD (line {cmd.line}) to it as arguments"
    else:
        base, entrypoint = _entrypoint_of(dockerfile, stage)
        if entrypoint is not None:
            return (
                f"the ENTRYPOINT at line {entrypoint.line} would get these words as arguments "
                "instead of /bin/sh -c '...'"
            )
        unsafe = UNSAFE_ENTRYPOINT.format(base=f"the base image {base}") if base else ""
    text = json.dumps(list(argv), ensure_ascii=False).encode()
    return [Edit(start, end, text, "SP303", unsafe=unsafe)]


def _pin_edit(
    source: _Source,
    dockerfile: Dockerfile,
    stage: Stage,
    resolve: DigestResolver | None,
    cache: dict[str | int, str | Exception],
    notices: list[str],
) -> Edit | None:
    base = stage.base
    if "@" in base:
        # a digest docker refuses (SHA256:, upper-case hex): another @digest after it would be
        # a second error, not a pin
        notices.append(
            f"line {stage.line}: FROM {base} not pinned: it has a digest already, one that is "
            "not sha256: and 64 lower-case hex digits: correct it by hand"
        )
        return None
    from_line = stage.instructions[0]
    start = source.after_keyword(from_line)
    word = re.compile(rb"[^\s\\`]+").match(source.data, start)
    if word is None:
        notices.append(f"line {stage.line}: FROM {base} not pinned: its image word was not found")
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
        name = variable.group(1).decode() if variable else ""
        other = _other_use(dockerfile, name)
        if other:
            notices.append(
                f"line {stage.line}: FROM {base} not pinned: its build argument {name} is used "
                f"at line {other} too, where a digest in its default would change what it means"
            )
            return None
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


def _other_use(dockerfile: Dockerfile, name: str, seen: frozenset[str] = frozenset()) -> int:
    """The line of a use of build argument ``name`` that a digest in its default would
    change (0: none): anything but a FROM whose image is the variable alone, or a global ARG
    defaulting to it alone and used only so itself. ``FROM ${BASE}-slim`` became
    ``debian:12@sha256:...-slim``, a reference docker refuses; ``RUN echo $BASE`` and a
    LABEL would get other text."""
    used = re.compile(r"\$\{?" + re.escape(name) + r"(?!\w)")
    alone = re.compile(r"\$(?:\{" + re.escape(name) + r"\}|" + re.escape(name) + r")")
    globals_ = {id(i) for i in dockerfile.global_arg_instructions}
    everything = [
        *dockerfile.global_arg_instructions,
        *(i for stage in dockerfile.stages for i in stage.instructions),
    ]
    for instruction in everything:
        texts = [instruction.original, *(h.content for h in instruction.heredocs)]
        uses = sum(len(used.findall(text)) for text in texts)
        if not uses:
            continue
        if instruction.cmd == "FROM" and uses == 1 and alone.fullmatch(instruction.args[0]):
            continue
        if id(instruction) in globals_ and all(
            not used.search(value)
            or (alone.fullmatch(value.strip('"')) and arg not in seen | {name}
                and not _other_use(dockerfile, arg, seen | {name}))
            for arg, _, value in (item.partition("=") for item in instruction.args)
        ):  # fmt: skip
            continue
        return instruction.line
    return 0


def _arg_default(source: _Source, name: bytes) -> tuple[int, bytes] | None:
    """Where the default of ``ARG name=...`` before the first FROM ends, and the default."""
    bom = re.escape(_BOM)
    pattern = re.compile(
        rb"^(?:" + bom + rb")?[ \t]*ARG[ \t]+" + re.escape(name) + rb"=([^\s\\`]+)", re.I | re.M
    )
    first_from = re.search(rb"^(?:" + bom + rb")?[ \t]*FROM[ \t]", source.data, re.I | re.M)
    limit = first_from.start() if first_from else len(source.data)
    match = pattern.search(source.data, 0, limit)
    if match is None:
        return None
    raw = match.group(1)
    end = match.end(1) - (1 if raw[-1:] in (b'"', b"'") else 0)
    return end, raw.strip(b"\"'")


def plan(
    dockerfile: Dockerfile,
    findings: list[Finding],
    resolve: DigestResolver | None = None,
    unsafe: bool = False,
) -> tuple[list[Edit], list[str]]:
    """The edits that fix ``findings`` (the unsafe ones only with ``unsafe``), and a notice
    for every finding left alone, and for every unsafe fix, with the reason."""
    source = _Source(dockerfile)
    by_line: dict[int, set[str]] = {}
    for finding in findings:
        if finding.code in FIXABLE:
            by_line.setdefault(finding.instruction_start, set()).add(finding.code)
    edits: list[Edit] = []
    notices: list[str] = []
    digests: dict[str | int, str | Exception] = {}
    shells, users = _in_effect(dockerfile, "SHELL"), _in_effect(dockerfile, "USER")
    explained: set[str] = set()
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            codes = by_line.get(instruction.line, set())
            if not codes:
                continue
            outcomes: list[tuple[str, Outcome]] = []
            if instruction.cmd == "FROM" and "SP101" in codes:
                edit = _pin_edit(source, dockerfile, stage, resolve, digests, notices)
                edits += [replace(edit, line=instruction.line)] if edit else []
            shell_instruction = shells[instruction.line]
            shell = shell_instruction.args if shell_instruction else DEFAULT_SHELL
            foreign = (
                f"the {instruction.cmd} runs under SHELL {json.dumps(list(shell))} "
                f"(line {shell_instruction.line if shell_instruction else 0}), not a POSIX "
                "shell: its script is not edited"
            )
            wanted = sorted(codes - {"SP101"})
            if wanted and not _posix(shell):
                outcomes += [(code, foreign) for code in wanted]
            elif instruction.cmd == "RUN":
                outcomes += [
                    (c, _option_edits(source, dockerfile, stage, instruction, c))
                    for c in wanted
                    if c in _OPTION_FIXES
                ]
                if "SP201" in codes:
                    user = users[instruction.line]
                    outcomes.append(
                        ("SP201", _apt_lists_edit(source, dockerfile, stage, instruction, user))
                    )
                if "SP202" in codes:
                    outcomes.append(("SP202", _merge_update_edits(source, stage, instruction)))
            elif instruction.cmd in ("CMD", "ENTRYPOINT") and "SP303" in codes:
                outcomes.append(("SP303", _exec_form_edit(source, dockerfile, stage, instruction)))
            else:
                # ONBUILD RUN apk add ...: found by the rules, never edited
                outcomes += [
                    (code, f"the fixes do not edit {instruction.cmd} instructions")
                    for code in wanted
                ]
            for code, outcome in outcomes:
                made, notice = _settle(code, instruction.line, outcome, unsafe, explained)
                edits += made
                notices += [notice] if notice else []
    return edits, list(dict.fromkeys(notices))


def _settle(
    code: str, line: int, outcome: Outcome, unsafe: bool, explained: set[str]
) -> tuple[list[Edit], str]:
    """The edits to make for one finding, and its notice ('' for none): an unsafe fix is
    made only with ``unsafe``, and its reason is given the first time it comes up."""
    where = f"line {line}: {code}"
    if isinstance(outcome, str):
        return [], f"{where} not fixed: {outcome}"
    edits = [replace(e, line=line) for e in outcome]
    reason = next((e.unsafe for e in edits if e.unsafe), "")
    if not reason:
        return edits, ""
    text = "as above" if reason in explained else reason
    explained.add(reason)
    if not unsafe:
        return [], f"{where} not fixed: unsafe fix, made with --unsafe-fixes: {text}"
    text += "".join(f"; {e.note}" for e in edits if e.note)
    return edits, f"{where} fixed with --unsafe-fixes: {text}"


def apply(data: bytes, edits: list[Edit]) -> tuple[bytes, list[Edit]]:
    """Apply non-overlapping edits, last first; an edit inside a range another one replaces
    is skipped. Insertions at one offset land in the order they were planned (the package
    added to an install, then the cleanup after it). Returns the result and the edits
    applied."""
    result = data
    taken: list[tuple[int, int]] = []
    applied: list[Edit] = []
    order = sorted(range(len(edits)), key=lambda n: (edits[n].start, edits[n].end, n))
    for edit in (edits[n] for n in reversed(order)):
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
    dockerfile: Dockerfile,
    findings: list[Finding],
    resolve: DigestResolver | None = None,
    unsafe: bool = False,
) -> FixResult:
    edits, notices = plan(dockerfile, findings, resolve, unsafe)
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
