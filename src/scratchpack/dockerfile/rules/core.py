"""What every lint rule shares: the finding, the rule and its registry, and the readings of a
Dockerfile that rules of several families need (the commands of a RUN, a stage's ENV).

Kept apart from the rules so that a family module imports only this one: no family imports
another, and nothing here imports a family, so the package has no import cycle. The records
are ``NamedTuple``, not dataclasses: see ``dockerfile/model.py`` for why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

from scratchpack.dockerfile.locations import (
    Position,
    in_element,
    in_heredoc,
    in_original,
    in_text,
    of_word,
)
from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.shell import ScriptTooComplex, ShellCommand, commands
from scratchpack.reports.severity import Severity


class Finding(NamedTuple):
    """What a rule found, at the line and column of what it is about (a command inside a
    RUN, a flag, a word). ``instruction_line`` is the first line of the instruction it is in,
    when that is another line (0: ``line`` is it): ignore pragmas sit above the instruction,
    and ``--fix`` edits the instruction, so both find it by that line."""

    code: str
    severity: Severity
    message: str
    line: int
    column: int = 1
    instruction_line: int = 0

    @property
    def instruction_start(self) -> int:
        """The first line of the instruction the finding is in."""
        return self.instruction_line or self.line


Check = Callable[[Dockerfile], Iterable[Finding]]


class RuleDoc:
    """Why a rule matters, a Dockerfile that breaks it and one that does not, and the fix:
    ``docs/rules/SPxxx.md``, ``lint --explain`` and SARIF help are rendered from it
    (``dockerfile/ruledocs.py``), and the tests lint every bad example (the rule must fire)
    and every good one (it must not). Each family writes it beside the rule; ``rule()`` takes
    a function returning it, so a lint builds none.

    A class with slots, not a NamedTuple: this module is on the lint path, and a NamedTuple
    class costs a lint process about 1M instructions (0.3 ms: it compiles its ``__new__``
    from source), a third of what the docs beside the rules cost it; this class a seventh."""

    __slots__ = ("bad", "bad_context", "config", "fix", "good", "good_context", "limits", "why")

    def __init__(
        self,
        why: str,
        bad: str,
        good: str,
        fix: str,
        # files beside the Dockerfile (the build context) for rules that look at it
        bad_context: tuple[tuple[str, str], ...] = (),
        good_context: tuple[tuple[str, str], ...] = (),
        # the .scratchpack.toml both examples are linted with (rules that read the config)
        config: str = "",
        # what the rule cannot tell from a Dockerfile: its false positives and negatives
        limits: str = "",
    ) -> None:
        self.why = why
        self.bad = bad
        self.good = good
        self.fix = fix
        self.bad_context = bad_context
        self.good_context = good_context
        self.config = config
        self.limits = limits


class Rule(NamedTuple):
    code: str
    severity: Severity
    category: str
    title: str
    check: Check
    hadolint: tuple[str, ...] = ()
    dockle: str | None = None
    buildkit: str | None = None  # the name of BuildKit's ``docker build --check`` rule
    # False: off unless asked for (a severity for it in the config, or BuildKit's
    # ``# check=experimental=NAME``), as hadolint's DL3057 and BuildKit's experimental rules
    default: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the rule answers to in ignores, pragmas and ``--explain``, upper-cased
        as they are read: its code, its hadolint codes and its BuildKit name."""
        return (self.code, *self.hadolint, *([self.buildkit.upper()] if self.buildkit else []))

    def finding(self, message: str, line: int) -> Finding:
        """A finding about a whole instruction (or stage), at its first line."""
        return Finding(self.code, self.severity, message, line)

    def at_command(
        self, dockerfile: Dockerfile, instruction: Instruction, cmd: ShellCommand, message: str
    ) -> Finding:
        """A finding about one command of a RUN, at its name (past ``sudo``, ``env`` and
        inline assignments); at the RUN's first line when its place is not known."""
        where = None
        if cmd.offset >= 0 and instruction.json:
            where = in_element(dockerfile, instruction, -2 - cmd.part, cmd.offset)
        elif cmd.offset >= 0 and cmd.part >= 0:
            where = in_heredoc(dockerfile, instruction, cmd.part, cmd.offset)
        elif cmd.offset >= 0:
            where = in_text(dockerfile, instruction, cmd.offset)
        return self._at(instruction, where, message)

    def at_word(
        self,
        dockerfile: Dockerfile,
        instruction: Instruction,
        word: str,
        message: str,
        skip: int = 0,
    ) -> Finding:
        """A finding about a word or flag of an instruction (``skip`` characters into it: a
        flag's value), where it is first written; at the instruction's line if not found."""
        return self._at(instruction, of_word(dockerfile, instruction, word, skip), message)

    def at_match(
        self,
        dockerfile: Dockerfile,
        instruction: Instruction,
        pattern: re.Pattern[str],
        message: str,
    ) -> Finding:
        """A finding about text the pattern matches (a credential), where it first matches:
        on the instruction's own lines, else in its first heredoc body that has it."""
        where = None
        head = instruction.original.split("\n", 1)[0]
        found = pattern.search(head)
        if found is not None:
            where = in_original(dockerfile, instruction, found.start())
        else:
            for part, heredoc in enumerate(instruction.heredocs):
                if (match := pattern.search(heredoc.content)) is not None:
                    offset = len(heredoc.content[: match.start()].encode())
                    where = in_heredoc(dockerfile, instruction, part, offset)
                    break
        return self._at(instruction, where, message)

    def _at(self, instruction: Instruction, where: Position | None, message: str) -> Finding:
        line, column = where or (instruction.line, 1)
        return Finding(self.code, self.severity, message, line, column, instruction.line)


RULES: dict[str, Rule] = {}
# each rule's RuleDoc, built on demand (docs, --explain, SARIF), never by a lint
DOC_SOURCES: dict[str, Callable[[], RuleDoc]] = {}


def at_image(meta: Rule, dockerfile: Dockerfile, stage: Stage, message: str) -> Finding:
    """A finding about a stage's base image, at the image's word in its FROM (the stage's
    first instruction), not at the ``FROM`` keyword."""
    start = stage.instructions[0]
    return meta.at_word(dockerfile, start, start.args[0] if start.args else "", message)


def rule(
    code: str,
    severity: Severity,
    category: str,
    title: str,
    hadolint: tuple[str, ...] = (),
    dockle: str | None = None,
    buildkit: str | None = None,
    default: bool = True,
    *,
    doc: Callable[[], RuleDoc],
) -> Callable[[Callable[[Dockerfile, Rule], Iterator[Finding]]], None]:
    """Register the decorated check as rule ``code``. ``doc`` returns the rule's RuleDoc,
    written beside the rule: a function, so that the text is built only when the docs are
    rendered (``--explain``, SARIF, ``docs/rules``), never by a lint."""

    def register(fn: Callable[[Dockerfile, Rule], Iterator[Finding]]) -> None:
        meta: list[Rule] = []

        def check(dockerfile: Dockerfile) -> Iterable[Finding]:
            return fn(dockerfile, meta[0])

        meta.append(
            Rule(code, severity, category, title, check, hadolint, dockle, buildkit, default)
        )
        RULES[code] = meta[0]
        DOC_SOURCES[code] = doc

    return register


def shell_of(instruction: Instruction) -> list[ShellCommand]:
    """The simple commands of a RUN (its heredocs and ``sh -c`` strings included), parsed once
    per instruction however many rules ask; a script too complex to read names its line."""
    try:
        return _shell(instruction)
    except ScriptTooComplex as exc:
        exc.line = instruction.line
        raise


@lru_cache(maxsize=16384)  # above MAX_LINES: each RUN is parsed once per file
def _shell(instruction: Instruction) -> list[ShellCommand]:
    if instruction.cmd != "RUN":
        return []
    if instruction.json:
        args = instruction.args
        if not args:  # RUN []: no command (BuildKit refuses it when building)
            return []
        # parts -2 - n: the n-th element (the program, then the -c script's commands)
        return [ShellCommand(args[0], tuple(args[1:]), offset=0, part=-2)] + (
            [cmd._replace(part=-4) for cmd in commands(args[2])]
            if len(args) > 2 and args[1] == "-c"
            else []
        )
    found = (
        []
        if instruction.heredocs and instruction.text.startswith("<<")
        else commands(instruction.text)
    )
    for part, heredoc in enumerate(instruction.heredocs):
        found.extend(cmd._replace(part=part) for cmd in commands(heredoc.content))
    return found


def runs(dockerfile: Dockerfile) -> Iterator[tuple[Stage, Instruction]]:
    """Every RUN of every stage, with its stage, and the RUN of every ``ONBUILD RUN``: it runs
    in the builds FROM this image, where the same mistakes cost the same."""
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            run = run_of(instruction)
            if run is not None:
                yield stage, run


def run_of(instruction: Instruction) -> Instruction | None:
    """The RUN an instruction is, or the RUN its ONBUILD carries; None for any other."""
    if instruction.cmd == "RUN":
        return instruction
    inner = instruction.onbuild
    return inner if inner is not None and inner.cmd == "RUN" else None


def run_commands(dockerfile: Dockerfile) -> Iterator[tuple[Instruction, ShellCommand]]:
    """Every simple command of every RUN, with its RUN: what most command rules walk."""
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            yield run, cmd


def mounts(instruction: Instruction) -> list[dict[str, str]]:
    """The options of every ``--mount`` of a RUN (a RUN may have several), as key=value."""
    return [
        {key.strip(): value for key, _, value in (o.partition("=") for o in flag.split(","))}
        for name, flag in instruction.flags
        if name == "mount"
    ]


def cache_mount(instruction: Instruction, path_fragment: str) -> bool:
    """Whether the RUN mounts a build cache or a tmpfs over a path containing
    ``path_fragment``: what either holds never reaches the layer, so cache rules do not apply."""
    return any(
        mount.get("type") in ("cache", "tmpfs")
        and path_fragment
        in (mount.get("target") or mount.get("dst") or mount.get("destination") or "")
        for mount in mounts(instruction)
    )


def unquote(word: str) -> str:
    """A word without one pair of enclosing quotes: BuildKit keeps them in the arguments of
    WORKDIR, ADD and COPY (``WORKDIR '/usr/local'`` is absolute, and the shell never sees it)."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def pip_args(cmd: ShellCommand) -> tuple[str, ...] | None:
    """The arguments pip gets (``install ...``) from ``pip``, ``pip2``, ``pip3.12`` or
    ``python3 -m pip``; None when the command is not pip (pipx and pipenv are not)."""
    if re.fullmatch(r"pip[0-9.]*", cmd.name):
        return cmd.args
    if re.fullmatch(r"python[0-9.]*", cmd.name) and cmd.args[:2] == ("-m", "pip"):
        return cmd.args[2:]
    return None


def exported(cmd: ShellCommand) -> dict[str, str]:
    """What an ``export NAME=value`` puts into the environment of the commands after it."""
    if cmd.name != "export":
        return {}
    return {k: unquote(v) for k, eq, v in (a.partition("=") for a in cmd.args) if eq and k}


APT = ("apt-get", "apt")
# aptitude reads and writes the same lists as apt-get, but takes other options
# (--without-recommends), so only the rules about the lists count it
APT_LISTS_USERS = (*APT, "aptitude")


def apt_command(cmd: ShellCommand, frontends: tuple[str, ...] = APT) -> str | None:
    """The apt-get/apt subcommand (install, update...) or None."""
    if cmd.name not in frontends:
        return None
    words = [a for a in cmd.args if not a.startswith("-")]
    return words[0] if words else None


def image_parts(base: str) -> tuple[str, str | None, str | None]:
    """Repository, tag and digest of an image reference (a registry port is not a tag)."""
    name, _, digest = base.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    repo = name[: len(name) - len(tag) - 1] if tag else name
    return repo, tag, digest or None


def is_stage_reference(dockerfile: Dockerfile, stage: Stage) -> bool:
    """Whether the stage starts FROM an earlier stage of the file rather than an image."""
    return any(s.name == stage.base.lower() for s in dockerfile.stages[: stage.index])


def env_pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """Name/value pairs of ENV (BuildKit gives alternating names and values, quotes kept) and
    ARG (``NAME=default`` or ``NAME``)."""
    if instruction.cmd == "ENV":
        args = instruction.args
        return [(k, v.strip("\"'")) for k, v in zip(args[0::2], args[1::2], strict=False)]
    pairs = []
    for arg in instruction.args:
        name, _, default = arg.partition("=")
        pairs.append((name, default.strip("\"'")))
    return pairs


def stage_env(dockerfile: Dockerfile, stage: Stage) -> dict[str, str]:
    """ENV (and ARG defaults) of a stage, including what it inherits through FROM <stage>."""
    parent = parent_stage(dockerfile, stage)
    env = stage_env(dockerfile, parent) if parent is not None else {}
    for instruction in stage.of("ENV", "ARG"):
        env.update(env_pairs(instruction))
    return env


def parent_stage(dockerfile: Dockerfile, stage: Stage) -> Stage | None:
    """The earlier stage this one starts FROM, if it starts from a stage and not an image."""
    return next((s for s in dockerfile.stages[: stage.index] if s.name == stage.base.lower()), None)


def shipped_stages(dockerfile: Dockerfile) -> list[Stage]:
    """The stages whose layers the image ships: the final stage, then the stages it is built
    FROM one after the other (not those it only copies files out of)."""
    shipped = [dockerfile.final]
    while (parent := parent_stage(dockerfile, shipped[-1])) is not None and parent not in shipped:
        shipped.append(parent)
    return shipped


def from_image(dockerfile: Dockerfile, stage: Stage) -> bool:
    """Whether the stage starts from a named image, the one rules on pinning and provenance
    judge: not scratch, not an earlier stage, and not a reference that build arguments with no
    default leave empty (``FROM ${BASE}``, set with --build-arg when building)."""
    return stage.base not in ("scratch", "") and not is_stage_reference(dockerfile, stage)


def has_flag(cmd: ShellCommand, short: str = "", *long: str) -> bool:
    """Whether the command has a flag: ``--long`` or ``--long=value``, or the one-letter
    ``short`` alone or among grouped letters (``-yq`` has ``y``), as getopt reads them."""
    for arg in cmd.args:
        if arg == "--":
            return False  # what follows is operands
        if arg.startswith("--"):
            if any(arg == f"--{name}" or arg.startswith(f"--{name}=") for name in long):
                return True
        elif short and arg.startswith("-") and len(arg) > 1 and short in arg[1:].split("=")[0]:
            return True
    return False


def subcommand(cmd: ShellCommand, valued: frozenset[str] = frozenset()) -> str | None:
    """The first word of a command line that is neither an option nor the value of one of the
    options in ``valued``: ``install`` in ``yum -y --setopt x=1 install curl``."""
    value_next = False
    for arg in cmd.args:
        if value_next:
            value_next = False
        elif arg.startswith("-"):
            value_next = arg in valued
        else:
            return arg
    return None
