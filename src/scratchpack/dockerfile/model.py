"""A parsed Dockerfile: instructions with exact lines, grouped into stages.

Why no ``dataclasses``: this module is on the path of every ``scratchpack lint`` process
(pre-commit and editors start one per file), and ``dataclasses`` imports ``inspect`` and writes
each class's methods through ``exec``: 15-30 ms of a run hadolint finishes in 30. The immutable
records are ``NamedTuple`` (the same fields and types, ``_replace`` for ``replace``), the
mutable ones plain classes with ``__slots__``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable


class Heredoc(NamedTuple):
    name: str
    content: str


class Instruction(NamedTuple):
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


class BaseLookup(NamedTuple):
    """What ``lint --lookup-bases`` lets the rules ask registries, and the platforms a build
    would have: the rules import nothing that talks to a network, the CLI hands this in.

    ``platforms`` gives the ``os/arch[/variant]`` an image reference is offered for (an
    index's entries, a single manifest's config), or None when the registry could not say
    (unreachable, no such image, a document that does not read): a lookup that fails is no
    finding. ``targets`` are the build's target platforms (``DOCKER_DEFAULT_PLATFORM``, as
    ``docker build`` reads it, else the host's), ``build`` the builder's (the host's)."""

    platforms: Callable[[str], tuple[str, ...] | None]
    targets: tuple[str, ...]
    build: str


class _ByValue:
    """Equality by the values of the slots, as a dataclass's (mutable: not hashable)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        names: tuple[str, ...] = self.__slots__  # the subclass's
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in names
        )

    __hash__ = None  # type: ignore[assignment]


class Stage(_ByValue):
    """One ``FROM`` and its instructions (filled in as the parser reads them)."""

    __slots__ = ("base", "index", "instructions", "line", "name", "platform")

    def __init__(
        self,
        index: int,
        base: str,
        name: str | None,
        line: int,
        platform: str | None = None,
        instructions: list[Instruction] | None = None,
    ) -> None:
        self.index = index
        self.base = base
        self.name = name
        self.line = line
        self.platform = platform
        self.instructions: list[Instruction] = [] if instructions is None else instructions

    def __repr__(self) -> str:
        return f"Stage({self.index}, {self.base!r}, {self.name!r}, line {self.line})"

    @property
    def label(self) -> str:
        return self.name or str(self.index)

    def of(self, *cmds: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd in cmds]


class Dockerfile(_ByValue):
    """The whole file: its lines, parser directives, global ARGs and stages, and what the
    config adds for the rules."""

    __slots__ = ("base_lookup", "context", "directives", "global_arg_instructions",
                 "global_args", "global_ignored", "label_schema", "lines", "path", "source",
                 "stages", "strict_labels", "trusted_registries")  # fmt: skip

    def __init__(
        self,
        path: str,
        lines: list[str],
        directives: dict[str, str],
        global_args: dict[str, str],
        stages: list[Stage],
        global_ignored: frozenset[str] = frozenset(),
        context: Path | None = None,
        trusted_registries: frozenset[str] = frozenset(),
        source: str = "",
        label_schema: dict[str, str] | None = None,
        strict_labels: bool = False,
        global_arg_instructions: list[Instruction] | None = None,
        base_lookup: BaseLookup | None = None,
    ) -> None:
        self.path = path
        self.lines = lines
        self.directives = directives
        self.global_args = global_args
        self.stages = stages
        self.global_ignored = global_ignored
        # the build context (the Dockerfile's directory), when on disk
        self.context = context
        self.trusted_registries = trusted_registries  # from the config; empty: any registry
        self.source = source  # the text as read, for rewrites that must keep everything else
        # from the config: hadolint's label-schema (label name -> text, url, rfc3339, spdx,
        # hash, semver, email) and strict-labels (no label outside the schema)
        self.label_schema: dict[str, str] = {} if label_schema is None else label_schema
        self.strict_labels = strict_labels
        # the ARG instructions before the first FROM (``global_args`` holds their defaults)
        self.global_arg_instructions: list[Instruction] = (
            [] if global_arg_instructions is None else global_arg_instructions
        )
        # from lint --lookup-bases: the registries' answers about the FROM images (None: off)
        self.base_lookup = base_lookup

    def __repr__(self) -> str:
        return f"Dockerfile({self.path!r}, {len(self.stages)} stages)"

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
