"""Rules on the shell scripts of RUN instructions."""

from __future__ import annotations

from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Instruction
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    RuleDoc,
    has_flag,
    parent_stage,
    rule,
    run_commands,
    runs,
    shell_of,
)
from scratchpack.dockerfile.rules.examples import PINNED, SAFE_TAIL
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.reports.severity import Severity


def _sp302_doc() -> RuleDoc:
    return RuleDoc(
        why="`cd` in RUN lasts for that RUN only; later instructions silently run elsewhere.",
        bad=f"FROM {PINNED}\nRUN cd /tmp && touch x\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nWORKDIR /tmp\nRUN touch x\n{SAFE_TAIL}",
        fix="Use WORKDIR.",
    )


@rule("SP302", Severity.INFO, "maintainability", "cd in RUN instead of WORKDIR",
      hadolint=("DL3003",), doc=_sp302_doc)  # fmt: skip
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


def _sp307_doc() -> RuleDoc:
    return RuleDoc(
        why="A pipeline's exit status is that of its last command, so in "
        "`RUN curl -fsSL https://example.com/key | gpg --dearmor -o key.gpg` a failed download "
        "still builds, with an empty key, and the failure shows up much later. `pipefail` makes "
        "the pipeline fail when any command in it fails. scratchpack also accepts `set -o "
        "pipefail` at the start of the RUN (hadolint asks for SHELL only), and it does not "
        "judge RUNs under a SHELL that is not POSIX (pwsh, powershell, cmd), where a pipe "
        "means something else.",
        bad=f"FROM {PINNED}\nRUN curl -fsSL https://example.com/key | gpg --dearmor -o "
        f"/usr/share/keyrings/example.gpg\n{SAFE_TAIL}",
        good=f'FROM {PINNED}\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN curl -fsSL '
        f"https://example.com/key | gpg --dearmor -o /usr/share/keyrings/example.gpg\n"
        f"{SAFE_TAIL}",
        fix='Add `SHELL ["/bin/bash", "-o", "pipefail", "-c"]` before the RUN (on Alpine, '
        "`/bin/ash`), or start the script with `set -o pipefail &&`. A SHELL applies to the "
        "rest of its stage and to the stages built FROM it.",
    )


@rule("SP307", Severity.WARNING, "correctness", "A pipe in RUN without pipefail",
      hadolint=("DL4006",), doc=_sp307_doc)  # fmt: skip
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


# Commands for a running system, not an image build: there is no init to ask (service,
# shutdown), nothing else running to look at or signal (ps, top, free, kill), no privilege to
# mount, nobody at the editor, and ssh from a build is a credential in the image history.
_INTERACTIVE = frozenset(
    {"ssh", "vim", "shutdown", "service", "ps", "free", "top", "kill", "mount", "ifconfig"}
)


def _sp308_doc() -> RuleDoc:
    return RuleDoc(
        why="A build step runs one script in a fresh container: there is no init to ask "
        "(`service`, `shutdown`), no other process to look at or signal (`ps`, `top`, `free`, "
        "`kill`), no privilege to `mount`, no network to configure (`ifconfig`), no one at "
        "`vim`, and `ssh` from a build puts a host's credentials into its history. The command "
        "does nothing useful, or fails.",
        bad=f"FROM {PINNED}\nRUN service nginx start\n{SAFE_TAIL}",
        good=f'FROM {PINNED}\n{SAFE_TAIL}CMD ["nginx", "-g", "daemon off;"]\n',
        fix="Start the service in CMD or ENTRYPOINT; fetch sources with `RUN --mount=type=ssh` "
        "and git, not ssh; edit files with sed or a COPY. (hadolint's documentation lists "
        "ifconfig too, its code does not: scratchpack follows the documentation.)",
    )


@rule("SP308", Severity.INFO, "maintainability", "A command that makes no sense in a build",
      hadolint=("DL3001",), doc=_sp308_doc)  # fmt: skip
def pointless_command(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for run, cmd in run_commands(dockerfile):
        if cmd.name in _INTERACTIVE:
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                f"{cmd.name} in a RUN: a build step has no running system to manage, no "
                "other process to look at and no one at a terminal",
            )


def _wget_quiet(cmd: ShellCommand) -> bool:
    """wget with its progress output set or turned off: --progress, -q, -nv, or a log file."""
    if has_flag(cmd, "", "progress", "no-verbose", "output-file", "append-output"):
        return True
    return (
        "-nv" in cmd.args
        or has_flag(cmd, "q", "quiet")
        or has_flag(cmd, "o")
        or (has_flag(cmd, "a"))
    )


def _sp309_doc() -> RuleDoc:
    return RuleDoc(
        why="wget prints a progress line per few kilobytes when its output is not a terminal: "
        "a large download writes megabytes into the build log, which CI systems truncate or "
        "refuse.",
        bad=f"FROM {PINNED}\nRUN wget https://example.com/app.tar.gz\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN wget --progress=dot:giga https://example.com/app.tar.gz\n"
        f"{SAFE_TAIL}",
        fix="Add `--progress=dot:giga`, or `-nv` / `-q`, or log to a file (`-o`, `-a`). "
        "BusyBox's wget (Alpine) takes only `-q`.",
    )


@rule("SP309", Severity.INFO, "maintainability", "wget without --progress",
      hadolint=("DL3047",), doc=_sp309_doc)  # fmt: skip
def wget_progress(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for run, cmd in run_commands(dockerfile):
        if cmd.name == "wget" and not _wget_quiet(cmd):
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                "wget without --progress prints a progress line per few kilobytes into the "
                "build log (megabytes for a large file): use --progress=dot:giga, or -nv "
                "or -q (busybox wget takes only -q)",
            )


def _sp310_doc() -> RuleDoc:
    return RuleDoc(
        why="Two download tools in one image are two packages to install, patch and scan, "
        "where one does the job; and a reader has to know both tools' flags.",
        bad=f"FROM {PINNED}\nRUN wget -q https://example.com/a.tar.gz\n"
        f"RUN curl -fsSLO https://example.com/b.tar.gz\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN curl -fsSLO https://example.com/a.tar.gz\n"
        f"RUN curl -fsSLO https://example.com/b.tar.gz\n{SAFE_TAIL}",
        fix="Use one of them in the stage (once both are seen, each RUN that uses either is "
        "reported, as hadolint does).",
    )


@rule("SP310", Severity.WARNING, "maintainability", "Both wget and curl in one stage",
      hadolint=("DL4001",), doc=_sp310_doc)  # fmt: skip
def wget_and_curl(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        seen: set[str] = set()
        for run in stage.of("RUN"):
            used = [c for c in shell_of(run) if c.name in ("wget", "curl")]
            seen.update(c.name for c in used)
            if len(seen) == 2 and used:
                yield meta.at_command(
                    dockerfile,
                    run,
                    used[-1],
                    "this stage downloads with both wget and curl: two tools to install, patch "
                    "and learn the flags of, where one does; pick one",
                )


def _sp311_doc() -> RuleDoc:
    return RuleDoc(
        why="`ln -sf /bin/bash /bin/sh` changes the shell of every later RUN silently, and of "
        "every script in the image that says `#!/bin/sh`, and of every image built on it.",
        bad=f"FROM {PINNED}\nRUN ln -sf /bin/bash /bin/sh\n{SAFE_TAIL}",
        good=f'FROM {PINNED}\nSHELL ["/bin/bash", "-c"]\n{SAFE_TAIL}',
        fix='Use `SHELL ["/bin/bash", "-c"]` for the RUNs that need bash.',
    )


@rule("SP311", Severity.WARNING, "correctness", "/bin/sh replaced with a link instead of SHELL",
      hadolint=("DL4005",), doc=_sp311_doc)  # fmt: skip
def relinked_sh(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for run, cmd in run_commands(dockerfile):
        operands = [a for a in cmd.args if not a.startswith("-")]
        relinks = len(operands) >= 2 and operands[-1] in ("/bin/sh", "/usr/bin/sh")
        if cmd.name == "ln" and relinks:
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                f"ln over {operands[-1]} changes the shell of every later RUN, of every "
                "script in the image and of images built on it, silently: use SHELL "
                '["/bin/bash", "-c"] for the RUNs that need another shell',
            )
