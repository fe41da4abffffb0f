"""What every lint rule shares: the finding, the rule and its registry, and the readings of a
Dockerfile that rules of several families need (the commands of a RUN, a stage's ENV).

Kept apart from the rules so that a family module imports only this one: no family imports
another, and nothing here imports a family, so the package has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.shell import ScriptTooComplex, ShellCommand, commands
from scratchpack.reports.severity import Severity


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    line: int
    column: int = 1


Check = Callable[[Dockerfile], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    category: str
    title: str
    check: Check
    hadolint: tuple[str, ...] = ()
    dockle: str | None = None

    def finding(self, message: str, line: int) -> Finding:
        return Finding(self.code, self.severity, message, line)


RULES: dict[str, Rule] = {}


def rule(
    code: str,
    severity: Severity,
    category: str,
    title: str,
    hadolint: tuple[str, ...] = (),
    dockle: str | None = None,
) -> Callable[[Callable[[Dockerfile, Rule], Iterator[Finding]]], None]:
    def register(fn: Callable[[Dockerfile, Rule], Iterator[Finding]]) -> None:
        meta: list[Rule] = []

        def check(dockerfile: Dockerfile) -> Iterable[Finding]:
            return fn(dockerfile, meta[0])

        meta.append(Rule(code, severity, category, title, check, hadolint, dockle))
        RULES[code] = meta[0]

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
        return [ShellCommand(args[0], tuple(args[1:]))] + (
            commands(args[2]) if len(args) > 2 and args[1] == "-c" else []
        )
    found = (
        []
        if instruction.heredocs and instruction.text.startswith("<<")
        else commands(instruction.text)
    )
    for heredoc in instruction.heredocs:
        found.extend(commands(heredoc.content))
    return found


def runs(dockerfile: Dockerfile) -> Iterator[tuple[Stage, Instruction]]:
    """Every RUN of every stage, with its stage."""
    for stage in dockerfile.stages:
        for instruction in stage.of("RUN"):
            yield stage, instruction


def cache_mount(instruction: Instruction, path_fragment: str) -> bool:
    """Whether the RUN mounts a build cache over a path containing ``path_fragment``: what a
    cache mount holds never reaches the layer, so cache rules do not apply."""
    mount = instruction.flag("mount") or ""
    return "type=cache" in mount and path_fragment in mount


def apt_command(cmd: ShellCommand) -> str | None:
    """The apt-get/apt subcommand (install, update...) or None."""
    if cmd.name not in ("apt-get", "apt"):
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
    env: dict[str, str] = {}
    parent = next(
        (s for s in dockerfile.stages[: stage.index] if s.name == stage.base.lower()), None
    )
    if parent is not None:
        env.update(stage_env(dockerfile, parent))
    for instruction in stage.of("ENV", "ARG"):
        env.update(env_pairs(instruction))
    return env
