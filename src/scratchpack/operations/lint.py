"""``lint``: run every rule over Dockerfiles and honour ignores.

Ignores come from ``--ignore``, from ``# scratchpack ignore=SP200,SP201`` (or
``# hadolint ignore=DL3015``, for rules with a hadolint equivalent) on the comment lines above
an instruction, and from the file-level ``# scratchpack global ignore=...``.

ShellCheck's findings (codes ``SCxxxx``, see ``dockerfile/shellcheck.py``) join the rules' when
a ``shellcheck`` binary is there (the ``shellcheck`` extra) and the config or ``--no-shellcheck``
does not turn it off; the same ignores apply to them, ``# shellcheck disable=`` too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from scratchpack.dockerfile.config import LintConfig
from scratchpack.dockerfile.model import Dockerfile
from scratchpack.dockerfile.parser import parse_bytes, read
from scratchpack.dockerfile.rules import RULES, Finding, Rule
from scratchpack.dockerfile.shell import ScriptTooComplex, time_budget
from scratchpack.errors import ScratchpackError
from scratchpack.reports.severity import Severity

# A file that cannot be read or parsed, as a finding in the JSON, GitHub and SARIF outputs
# (hadolint's DL1000): a job reading only those still sees why the file has no other finding.
PARSE_ERROR = "SP000"

if TYPE_CHECKING:
    # Fixing (and its file writing) is imported by the functions that fix: lint alone, one
    # process per file in pre-commit hooks and editors, does not pay for it.
    from contextlib import AbstractContextManager

    from scratchpack.dockerfile.fix import DigestResolver, FixResult
    from scratchpack.dockerfile.shellcheck import Notice
    from scratchpack.progress import Task


class FileReport:
    """One file's findings, or why it could not be linted (a plain class, not a dataclass:
    see dockerfile/model.py)."""

    __slots__ = ("error", "findings", "notices", "path", "source")

    def __init__(
        self,
        path: str,
        findings: list[Finding] | None = None,
        error: str | None = None,
        source: list[str] | None = None,
        notices: list[Notice] | None = None,
    ) -> None:
        self.path = path
        self.findings: list[Finding] = [] if findings is None else findings
        self.error = error
        self.source: list[str] = [] if source is None else source
        self.notices: list[Notice] = [] if notices is None else notices  # e.g. no ShellCheck

    def __repr__(self) -> str:
        return f"FileReport({self.path!r}, {len(self.findings)} findings, error={self.error!r})"

    def error_at(self) -> tuple[int, str] | None:
        """The error's line (1 when it names none, as for a missing file) and its message
        without the ``FILE:LINE:`` prefix every read and parse error starts with."""
        if self.error is None:
            return None
        import re

        rest = self.error.removeprefix(f"{self.path}:")
        if rest == self.error:
            return 1, self.error
        match = re.match(r"(\d+): (.*)", rest, re.DOTALL)
        return (int(match[1]), match[2]) if match else (1, rest.strip())

    def to_json(self) -> list[dict[str, Any]]:
        failed = self.error_at()
        errors = [] if failed is None else [{
            "file": self.path, "line": failed[0], "column": 1, "code": PARSE_ERROR,
            "severity": "error", "category": "parse", "message": failed[1], "hadolint": ["DL1000"],
        }]  # fmt: skip
        return errors + [
            {
                "file": self.path,
                "line": f.line,
                "column": f.column,
                "code": f.code,
                "severity": str(f.severity),
                "category": _category(f.code),
                "message": f.message,
                "hadolint": _hadolint_codes(f.code),
            }
            for f in self.findings
        ]


def _category(code: str) -> str:
    return RULES[code].category if code in RULES else "shellcheck"


def _hadolint_codes(code: str) -> list[str]:
    """The hadolint code(s) of a finding: a rule's declared ones; ShellCheck's codes are the
    same in hadolint's output."""
    return list(RULES[code].hadolint) if code in RULES else [code]


def _ignored(rule: Rule, codes: frozenset[str]) -> bool:
    """Whether the codes name the rule: its SP code, a hadolint code or its BuildKit name
    (``ALL``, from ``# check=skip=all``, names every BuildKit check)."""
    if rule.buildkit is not None and "ALL" in codes:
        return True
    return any(name in codes for name in rule.names)


# Go's strconv.ParseBool, which BuildKit reads ``error=`` with
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


class Checks(NamedTuple):
    """BuildKit's ``# check=skip=A,B;error=true;experimental=C`` directive: the rules it skips,
    the off-by-default ones it turns on (BuildKit names upper-cased, ``ALL`` for every rule),
    and whether BuildKit's checks fail the build (``error=true``: their findings are errors,
    so lint exits 1 on them as ``docker build`` fails)."""

    skip: frozenset[str] = frozenset()
    experimental: frozenset[str] = frozenset()
    error: bool = False


def _checks(dockerfile: Dockerfile) -> Checks:
    skip: set[str] = set()
    experimental: set[str] = set()
    error = False
    for part in dockerfile.directives.get("check", "").split(";"):
        key, _, value = part.partition("=")
        names = {n.strip().upper() for n in value.split(",") if n.strip()}
        if key.strip().lower() == "skip":
            skip |= names
        elif key.strip().lower() == "experimental":
            experimental |= names
        elif key.strip().lower() == "error":
            error = value.strip() in _GO_TRUE
    return Checks(frozenset(skip), frozenset(experimental), error)


def _enabled(rule: Rule, config: LintConfig, experimental: frozenset[str]) -> bool:
    """Rules off by default run when the config gives them a severity or the file asks for
    them as BuildKit's experimental rules are asked for."""
    if rule.default:
        return True
    return rule.code in config.severity or (
        rule.buildkit is not None and bool({"ALL", rule.buildkit.upper()} & experimental)
    )


def lint_dockerfile(
    dockerfile: Dockerfile,
    ignore: frozenset[str] = frozenset(),
    config: LintConfig | None = None,
    notices: list[Notice] | None = None,
) -> list[Finding]:
    """Every rule's findings, and ShellCheck's unless the config turns it off; why ShellCheck's
    are missing (no binary, a crash) is appended to ``notices``, never raised."""
    config = config or LintConfig()
    dockerfile.trusted_registries = config.trusted_registries
    dockerfile.label_schema = config.label_schema
    dockerfile.strict_labels = config.strict_labels
    dockerfile.base_lookup = config.base_lookup
    ignore = ignore | config.ignore
    checks = _checks(dockerfile)
    skip, experimental = checks.skip, checks.experimental
    by_line = {
        i.line: i.ignored for stage in dockerfile.stages for i in stage.instructions
    }  # fmt: skip
    findings: list[Finding] = []
    with time_budget():  # shell parsing of the whole file is bounded, not each RUN's
        for rule in RULES.values():
            if _ignored(rule, ignore | dockerfile.global_ignored) or not _enabled(
                rule, config, experimental
            ):
                continue
            if rule.buildkit is not None and {"ALL", rule.buildkit.upper()} & skip:
                continue
            for finding in rule.check(dockerfile):
                # the pragmas above the instruction, wherever in it the finding is
                if not _ignored(rule, by_line.get(finding.instruction_start, frozenset())):
                    found = _with_severity(finding, config)
                    if checks.error and rule.buildkit is not None:
                        found = found._replace(severity=Severity.ERROR)
                    findings.append(found)
    if config.shellcheck:
        from scratchpack.dockerfile import shellcheck

        result = shellcheck.check(
            dockerfile, ignore | dockerfile.global_ignored, cache=config.shellcheck_cache
        )
        findings += [_with_severity(f, config) for f in result.findings]
        if notices is not None:
            notices += result.notices
    return sorted(findings, key=_order)


def _with_severity(finding: Finding, config: LintConfig) -> Finding:
    """The finding at the severity the configuration gives its code, if it gives one."""
    override = config.severity.get(finding.code)
    return finding._replace(severity=Severity.parse(override)) if override else finding


def _order(finding: Finding) -> tuple[int, str]:
    return finding.line, finding.code


def _lint_or_error(
    dockerfile: Dockerfile,
    path: Path,
    ignore: frozenset[str],
    config: LintConfig | None,
    notices: list[Notice] | None = None,
) -> list[Finding] | str:
    """The findings, or the one-line error for a RUN too complex to read (FILE:LINE: ...)."""
    try:
        return lint_dockerfile(dockerfile, ignore, config, notices)
    except ScriptTooComplex as exc:
        return f"{path}:{exc.line}: {exc}"


def lint_file(
    path: Path, ignore: frozenset[str] = frozenset(), config: LintConfig | None = None
) -> FileReport:
    return lint_files([path], ignore, config)[0]


def lint_source(
    raw: bytes, name: str, ignore: frozenset[str] = frozenset(), config: LintConfig | None = None
) -> FileReport:
    """A Dockerfile that is not a file (``-``: standard input), reported under ``name``. It has
    no build context, so the rules about the context (.dockerignore) have nothing to look at."""
    config = config or LintConfig()
    try:
        dockerfile = parse_bytes(raw, name)
    except ScratchpackError as exc:
        return FileReport(name, error=str(exc))
    report = _report(dockerfile, name, ignore, config._replace(shellcheck=False))
    _add_shellcheck([(report, dockerfile)] if report.error is None else [], ignore, config)
    return report


def lint_files(
    paths: Sequence[Path], ignore: frozenset[str] = frozenset(), config: LintConfig | None = None
) -> list[FileReport]:
    """``lint_file`` for each path, with ShellCheck run over all of them together: its
    start-up is paid per process, so a run over a tree starts one per BATCH scripts, not one
    per file."""
    config = config or LintConfig()
    rules_only = config._replace(shellcheck=False)
    reports: list[FileReport] = []
    parsed: list[tuple[FileReport, Dockerfile]] = []
    # A tree of Dockerfiles takes seconds: progress then (a bar after a second on a terminal,
    # one line in a log); the one file of an editor or a pre-commit hook reports nothing.
    steps: AbstractContextManager[Task | None] = contextlib.nullcontext()
    if len(paths) >= MANY_FILES:  # (progress is not even imported for the one file of a hook)
        from scratchpack import progress

        steps = progress.step(f"linting {len(paths)} Dockerfiles", len(paths), unit="files")
    with steps as task:
        for path in paths:
            if task is not None:
                task.advance(1)
            try:
                dockerfile = read(path)
            except ScratchpackError as exc:
                reports.append(FileReport(str(path), error=str(exc)))
                continue
            reports.append(_report(dockerfile, str(path), ignore, rules_only))
            if reports[-1].error is None:
                parsed.append((reports[-1], dockerfile))
    _add_shellcheck(parsed, ignore, config)
    return reports


MANY_FILES = 20  # files in one lint from which it reports progress


def _report(
    dockerfile: Dockerfile, name: str, ignore: frozenset[str], config: LintConfig | None
) -> FileReport:
    findings = _lint_or_error(dockerfile, Path(name), ignore, config)
    if isinstance(findings, str):
        return FileReport(name, error=findings)
    return FileReport(name, findings, source=dockerfile.lines)


def _add_shellcheck(
    parsed: list[tuple[FileReport, Dockerfile]], ignore: frozenset[str], config: LintConfig
) -> None:
    """ShellCheck's findings and notices added to the reports of the files that parsed."""
    if not (config.shellcheck and parsed):
        return
    from scratchpack.dockerfile import shellcheck

    skip = ignore | config.ignore
    results = shellcheck.check_many(
        [(d, skip | d.global_ignored) for _, d in parsed], cache=config.shellcheck_cache
    )
    for (report, _), result in zip(parsed, results, strict=True):
        found = report.findings + [_with_severity(f, config) for f in result.findings]
        report.findings = sorted(found, key=_order)
        report.notices += result.notices


def github_annotations(reports: list[FileReport]) -> list[str]:
    """GitHub Actions workflow commands: one annotation per finding, and one per file that
    could not be read, escaped as the runner unescapes them (a "," or ":" in a file name would
    end the property, a newline the command)."""
    from scratchpack.reports.github import annotation

    kinds = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    lines = []
    for report in reports:
        failed = report.error_at()
        if failed is not None:
            lines.append(annotation("error", report.path, failed[0], 1, PARSE_ERROR, failed[1]))
        lines += [
            annotation(kinds[f.severity], report.path, f.line, f.column, f.code, f.message)
            for f in report.findings
        ]
    return lines


def exit_code(reports: list[FileReport], threshold: Severity | None) -> int:
    """2 when a file could not be linted, 1 when a finding reaches the threshold, else 0."""
    if any(r.error for r in reports):
        return 2
    if threshold is not None and any(f.severity >= threshold for r in reports for f in r.findings):
        return 1
    return 0


def sarif(reports: list[FileReport]) -> dict[str, Any]:
    """One SARIF run over every file, with every rule described (help text and page)."""
    from scratchpack import __version__
    from scratchpack.dockerfile.ruledocs import DOCS, render_page
    from scratchpack.reports.sarif import (
        SarifResult,
        SarifRule,
        SarifRun,
        documented_rule,
        sarif_log,
    )

    rules = [
        documented_rule(code, rule.title, DOCS[code].why, render_page(code), str(rule.severity),
                        (rule.category, *rule.hadolint, *([rule.dockle] if rule.dockle else []),
                         *([rule.buildkit] if rule.buildkit else [])))
        for code, rule in sorted(RULES.items())
    ]  # fmt: skip
    # ShellCheck's codes are described by ShellCheck's wiki, one page per code.
    seen = {f.code: f for r in reports for f in r.findings if f.code not in RULES}
    for code, first in sorted(seen.items()):
        uri = f"https://www.shellcheck.net/wiki/{code}"
        title = f"ShellCheck {code}"
        rules.append(
            SarifRule(code, code, title, first.message, f"[{code}]({uri})", uri,
                      str(first.severity), ("shellcheck",))
        )  # fmt: skip
    run = SarifRun("scratchpack", __version__, rules, "scratchpack/lint/")
    run.error_descriptor = (PARSE_ERROR, "The file could not be read or parsed (hadolint DL1000)")
    for report in reports:
        run.results += [
            SarifResult(f.code, str(f.severity), f.message, report.path, f.line, f.column)
            for f in report.findings
        ]
        failed = report.error_at()
        if failed is not None:
            run.errors.append((report.path, failed[1], failed[0]))
    return sarif_log(run)


def fix_file(
    path: Path,
    ignore: frozenset[str] = frozenset(),
    config: LintConfig | None = None,
    resolve: DigestResolver | None = None,
    write: bool = False,
    unsafe: bool = False,
) -> tuple[FileReport, FixResult | None]:
    """Fix what can be fixed safely (and the unsafe fixes too with ``unsafe``); with ``write``
    the file is replaced atomically (mode kept, through a symlink to its target) and the
    report is of the fixed file. A write reads, fixes and replaces the file under
    :func:`scratchpack.cachefiles.path_lock`."""
    if not write:
        return _fix_file(path, ignore, config, resolve, write, unsafe)
    from scratchpack.cachefiles import path_lock

    with path_lock("fix", path):
        return _fix_file(path, ignore, config, resolve, write, unsafe)


def _fix_file(
    path: Path,
    ignore: frozenset[str],
    config: LintConfig | None,
    resolve: DigestResolver | None,
    write: bool,
    unsafe: bool,
) -> tuple[FileReport, FixResult | None]:
    from scratchpack.dockerfile.fix import fix

    try:
        dockerfile = read(path)
    except ScratchpackError as exc:
        return FileReport(str(path), error=str(exc)), None
    notices: list[Notice] = []
    findings = _lint_or_error(dockerfile, path, ignore, config, notices)
    if isinstance(findings, str):
        return FileReport(str(path), error=findings), None
    result = fix(dockerfile, findings, resolve, unsafe)
    if write and result.changed:
        try:
            _replace_fixed(path, result)
        except ScratchpackError as exc:
            return FileReport(str(path), error=str(exc)), None
        dockerfile = read(path)
        notices = []
        findings = lint_dockerfile(dockerfile, ignore, config, notices)
    report = FileReport(str(path), findings, source=dockerfile.lines, notices=notices)
    return report, result


def _replace_fixed(path: Path, result: FixResult) -> None:
    """Replace the file (through a symlink, its target) with the fixed text, mode kept;
    refused, with why, for what is not a regular file (``<(...)``, a device), a read-only
    file, and a file that changed since it was read (an editor saving meanwhile: its text,
    not the fixed old one, is kept)."""
    import stat

    from scratchpack.fsutil import atomic_write, open_regular

    try:
        # what the name leads to first: a pipe's /proc link resolves to no path at all
        if not stat.S_ISREG(path.stat().st_mode):
            raise ScratchpackError(f"{path}: not a regular file: it can be linted, not fixed")
        target = path.resolve(strict=True)
        info = target.stat()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ScratchpackError(f"{path}: cannot fix: {why}") from None
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o222 or not os.access(target, os.W_OK):
        why = f"read-only (mode {mode:04o})" if not mode & 0o222 else "not writable by this user"
        raise ScratchpackError(f"{path}: {why}: not fixed; make it writable to fix it")
    original = result.original.encode()
    try:
        with open_regular(target) as stream:
            current = stream.read(len(original) + 1)
    except OSError as exc:
        raise ScratchpackError(f"{path}: cannot fix: {exc.strerror or exc}") from None
    if current != original:
        raise ScratchpackError(
            f"{path}: changed while it was being fixed: not written; run lint --fix again"
        )
    atomic_write(target, result.fixed.encode(), mode=mode)


def unified_diff(result: FixResult) -> str:
    """The fix as ``git diff`` shows it: ``a/`` and ``b/`` and the path from the current
    directory, so ``git apply`` (or ``patch -p1``) run there applies it."""

    try:
        shown = Path(os.path.relpath(result.path)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        shown = Path(result.path).as_posix()
    import difflib

    return "".join(
        difflib.unified_diff(
            result.original.splitlines(keepends=True),
            result.fixed.splitlines(keepends=True),
            fromfile=f"a/{shown}",
            tofile=f"b/{shown}",
        )
    )
