"""A parsed Dockerfile: instructions with exact lines, grouped into stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str


@dataclass(frozen=True)
class Instruction:
    """One instruction; ``args`` are the words after the flags (JSON form: the array)."""

    cmd: str
    args: tuple[str, ...]
    flags: tuple[tuple[str, str], ...]
    original: str
    line: int
    end_line: int
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    sub_cmd: str | None = None
    ignored: frozenset[str] = frozenset()
    keyword: str = ""  # the instruction's name as written (``from``, ``Run``): casing rules
    # ONBUILD's instruction (``ONBUILD RUN ...``: the RUN, flags included), on the ONBUILD's
    # lines, so that the rules on RUN read it as they read any RUN
    onbuild: Instruction | None = None

    @property
    def text(self) -> str:
        """The instruction's argument text (shell form), as one string."""
        return " ".join(self.args)

    def flag(self, name: str) -> str | None:
        for key, value in self.flags:
            if key == name:
                return value
        return None


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    line: int
    platform: str | None = None
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or str(self.index)

    def of(self, *cmds: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd in cmds]


@dataclass
class Dockerfile:
    path: str
    lines: list[str]
    directives: dict[str, str]
    global_args: dict[str, str]
    stages: list[Stage]
    global_ignored: frozenset[str] = frozenset()
    context: Path | None = None  # the build context (the Dockerfile's directory), when on disk
    trusted_registries: frozenset[str] = frozenset()  # from the config; empty: any registry
    source: str = ""  # the text as read, for rewrites that must keep everything else
    # from the config: hadolint's label-schema (label name -> text, url, rfc3339, spdx, hash,
    # semver, email) and strict-labels (no label outside the schema)
    label_schema: dict[str, str] = field(default_factory=dict)
    strict_labels: bool = False
    # the ARG instructions before the first FROM (``global_args`` holds their defaults)
    global_arg_instructions: list[Instruction] = field(default_factory=list)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage_named(self, name: str) -> Stage | None:
        for stage in self.stages:
            if stage.name == name.lower():
                return stage
        if name.isdigit() and int(name) < len(self.stages):
            return self.stages[int(name)]
        return None
