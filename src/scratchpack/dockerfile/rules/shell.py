"""Rules on the shell scripts of RUN instructions."""

from __future__ import annotations

from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Instruction
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    parent_stage,
    rule,
    runs,
    shell_of,
)
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.reports.severity import Severity


@rule("SP302", Severity.INFO, "maintainability", "cd in RUN instead of WORKDIR",
      hadolint=("DL3003",))  # fmt: skip
def cd_in_run(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        cd = next((cmd for cmd in shell_of(run) if cmd.name == "cd"), None)
        if cd is not None:
            yield meta.at_command(dockerfile, run, cd, "cd in RUN: use WORKDIR to change directory")


# Shells whose scripts are not POSIX: a pipe there means something else, and there is no
# pipefail option to ask for
_NON_POSIX = ("pwsh", "powershell", "cmd")
# POSIX shells where ``-o pipefail`` exists; plain sh (dash before 0.5.11) may refuse it
_PIPEFAIL_SHELLS = frozenset({"bash", "zsh", "ash", "ksh", "mksh"})


def _shell_mode(shell: Instruction) -> str:
    """What a SHELL instruction makes of later RUNs: ``pipefail``, ``non-posix`` or
    ``plain``."""
    if not shell.json or not shell.args:
        return "plain"
    name = shell.args[0].replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name.startswith(_NON_POSIX):
        return "non-posix"
    return "pipefail" if name in _PIPEFAIL_SHELLS and "pipefail" in shell.args[1:] else "plain"


def _sets_pipefail(cmd: ShellCommand) -> bool:
    """``set -o pipefail``, ``set -eo pipefail``, ``set -euxo pipefail``..."""
    return cmd.name == "set" and "pipefail" in cmd.args


@rule("SP307", Severity.WARNING, "correctness", "A pipe in RUN without pipefail",
      hadolint=("DL4006",))  # fmt: skip
def pipe_without_pipefail(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    at_end: dict[int, str] = {}  # each stage's SHELL mode at its end, for FROM <stage>
    for stage in dockerfile.stages:
        parent = parent_stage(dockerfile, stage)
        mode = at_end[parent.index] if parent is not None else "plain"
        for instruction in stage.instructions:
            if instruction.cmd == "SHELL":
                mode = _shell_mode(instruction)
            elif instruction.cmd == "RUN" and mode == "plain" and not instruction.json:
                piped = None
                for cmd in shell_of(instruction):
                    if _sets_pipefail(cmd):
                        break
                    if cmd.pipe_to is not None:
                        piped = cmd
                        break
                if piped is not None:
                    yield meta.at_command(
                        dockerfile,
                        instruction,
                        piped,
                        f"{piped.name} | {piped.pipe_to}: the RUN succeeds when {piped.name} "
                        "fails, because a pipeline's status is its last command's; start the "
                        'script with set -o pipefail, or use SHELL ["/bin/bash", "-o", '
                        '"pipefail", "-c"]',
                    )
        at_end[stage.index] = mode
