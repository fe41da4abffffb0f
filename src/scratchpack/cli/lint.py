"""``scratchpack lint``: its parser, and the handler that lints, fixes or explains and prints
the findings (text, JSON, SARIF, GitHub annotations). Run once per file by pre-commit hooks
and editors, so it imports no other command's module (tests/test_startup.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.cli.flags import SharedFlags, digest_lookup_flags
from scratchpack.cli.helptext import examples
from scratchpack.cli.options import digest_resolver
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError

if TYPE_CHECKING:
    import argparse
    from contextlib import AbstractContextManager

    from scratchpack.dockerfile.config import LintConfig
    from scratchpack.operations.lint import FileReport


def add_parser(sub: Any, flags: SharedFlags) -> None:
    """lint's own few registry flags (for --fix's digest lookups and --lookup-bases), not the
    shared set."""
    li = sub.add_parser(
        "lint",
        help="find what makes Dockerfiles big or unsafe",
        description="Find what makes Dockerfiles big, slow or unsafe.",
        **examples(
            "scratchpack lint Dockerfile",
            "scratchpack lint -t error -f sarif '**/Dockerfile*'",
            "scratchpack lint --diff Dockerfile",
            "scratchpack lint --explain DL3008",
            notes="Exit 0: clean; 1: a finding at or above the failure threshold; 2: a file "
            "could not be read or parsed. hadolint's flags (-f, -t, -c, --ignore) and codes "
            "are accepted.",
        ),
    )
    li.add_argument(
        "files", nargs="*", type=Path,
        help="Dockerfiles, or - for standard input (default: ./Dockerfile)",
    )  # fmt: skip
    # hadolint's short flags and level names are accepted too, so its invocations carry over
    li.add_argument(
        "-f", "--format", choices=("text", "json", "sarif", "github", "tty"),
        help="output format (tty: text, as hadolint names it; default: the config's, else text)",
    )  # fmt: skip
    li.add_argument(
        "-t", "--failure-threshold", "--fail-on",
        choices=("error", "warning", "info", "none", "style", "ignore"),
        help="lowest severity that makes the exit code 1 (default: the config's, else warning); "
        "hadolint's style and ignore mean info; --fail-on is the same flag (audit's old name)",
    )  # fmt: skip
    li.add_argument(
        "--no-fail",
        action="store_true",
        help="exit 0 whatever the findings (a file that cannot be read is still exit 2)",
    )
    li.add_argument(
        "-c", "--config", type=Path, metavar="FILE",
        help="configuration file, TOML or hadolint's YAML (default: .scratchpack.toml or "
        "[tool.scratchpack] in pyproject.toml, from the current directory up; else "
        ".hadolint.yaml, then $XDG_CONFIG_HOME/hadolint.yaml)",
    )  # fmt: skip
    li.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODE",
        help="rule code to skip (SPxxx, a hadolint DLxxxx code or a BuildKit check name); "
        "repeatable",
    )
    li.add_argument(
        "--explain", metavar="CODE",
        help="print what a rule checks and why (an SP code, a hadolint DL code or a BuildKit "
        "check name such as FromAsCasing)",
    )  # fmt: skip
    li.add_argument(
        "--no-shellcheck",
        action="store_true",
        help="do not run ShellCheck on RUNs (default: run it when installed: the shellcheck extra)",
    )
    li.add_argument(
        "--no-cache",
        action="store_true",
        help="run ShellCheck on every RUN, not reusing the results of scripts already checked",
    )
    li.add_argument(
        "--lookup-bases",
        action="store_true",
        help="ask the registries of the FROM images which platforms they are offered for "
        "(SP356, BuildKit's InvalidBaseImagePlatform), with the digest-lookup flags below "
        "but --creds (each registry gets its own credentials from --authfile or Docker's "
        "config.json only); the target is DOCKER_DEFAULT_PLATFORM, else this host's "
        "(default: no lookup, lint reads no network)",
    )
    li.add_argument("--verbose", action="store_true", help="print notes (e.g. ShellCheck missing)")
    li.add_argument(
        "--daemon", choices=("start", "stop", "status"),
        help="a resident lint server for this user, which later lint commands (but --fix) go "
        "through when their output is not a terminal: one file per process in a few ms "
        "(SCRATCHPACK_LINT_SERVER=0: never use it; =auto: a lint that finds none starts one "
        "in the background, not when CI is set, which exits after "
        "SCRATCHPACK_LINT_SERVER_IDLE seconds without a request, 900 by default)",
    )  # fmt: skip
    fixing = li.add_argument_group("fixing")
    fixing.add_argument(
        "--fix",
        action="store_true",
        help="rewrite the files in place with the safe fixes, then report what is left",
    )
    fixing.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix or --diff: also make the fixes that may change what the build "
        "installs or runs (--no-install-recommends...); each says why it is unsafe",
    )
    fixing.add_argument(
        "--diff",
        action="store_true",
        help="print the fixes as a unified diff and change nothing (exit 1 if there are any)",
    )
    fixing.add_argument(
        "--no-pin",
        action="store_true",
        help="do not look up digests to pin FROM lines (no network)",
    )
    digest_lookup_flags(
        fixing,
        creds_help="accepted for skopeo's habit, never sent: the Dockerfile names the registries "
        "asked, so each gets only its own entry of --authfile or Docker's config.json",
    )
    li.set_defaults(func=cmd_lint)


def cmd_lint(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.dockerfile.config import HADOLINT_LEVELS, find_config, load_config
    from scratchpack.operations.lint import exit_code, github_annotations, sarif
    from scratchpack.reports.severity import Severity

    if args.explain:
        return _explain(args.explain, out)
    if args.daemon:
        from scratchpack.cli.lintserver import control

        if args.files:
            raise UsageError(f"--daemon {args.daemon} takes no files: it manages the server")

        return control(args.daemon, out)
    config = load_config(args.config) if args.config else find_config(Path.cwd())
    for warning in config.warnings:
        sys.stderr.write(f"scratchpack: warning: {warning}\n")
    if args.no_shellcheck:
        config = config._replace(shellcheck=False)
    if args.no_cache:
        config = config._replace(shellcheck_cache=False)
    files = _expand_globs(args.files) if args.files else [Path("Dockerfile")]
    ignore = frozenset(code.upper() for item in args.ignore for code in item.split(","))
    if args.fix and args.diff:
        raise UsageError("--fix and --diff do not go together: --diff only shows")
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise UsageError("--unsafe-fixes goes with --fix or --diff")
    if (args.fix or args.diff) and Path("-") in files:
        raise UsageError("- (standard input) can be linted, not fixed: give the file")
    looks_up = args.lookup_bases or ((args.fix or args.diff) and not args.no_pin)
    if args.creds and looks_up:
        # The Dockerfile names the registries asked (a pull request's, in CI): one password
        # must not go to whichever host it names. The auth files hold credentials per host.
        sys.stderr.write(
            "scratchpack: warning: --creds is not sent by lint (the Dockerfile names the "
            "registries asked): give them per registry in --authfile or Docker's config.json\n"
        )
    lookups = None
    if args.lookup_bases:
        from scratchpack.cli.options import base_lookup, lookup_options

        lookups = lookup_options(args, explicit_creds=False)
        config = config._replace(base_lookup=base_lookup(lookups))
    # lint loads no progress renderer (cli/main.py: its start-up is the point); a tree of
    # files, which takes seconds, gets one (operations.lint.MANY_FILES)
    from contextlib import nullcontext

    from scratchpack.operations.lint import MANY_FILES

    rendering: AbstractContextManager[None] = nullcontext()
    if len(files) >= MANY_FILES:
        from scratchpack.cli.progress import reporting

        rendering = reporting(quiet=False)
    try:
        with rendering:
            if args.fix or args.diff:
                reports, changed = _lint_fix(args, files, ignore, config)
            else:
                reports = _lint_all(files, ignore, config)
    finally:
        if lookups is not None:
            lookups.close()
    if args.diff:
        for report in reports:
            if report.error:
                sys.stderr.write(f"scratchpack: error: {report.error}\n")
        _print_notices(reports, args.verbose)  # ShellCheck failing is said here too
        return 2 if any(r.error for r in reports) else int(changed)
    output_format = args.format or config.output_format or "text"
    if output_format == "json":
        print(json.dumps([item for r in reports for item in r.to_json()], indent=2))
    elif output_format == "sarif":
        print(json.dumps(sarif(reports), indent=2))
    elif output_format == "github":
        for line in github_annotations(reports):
            print(line)
    else:
        for report in reports:
            for finding in report.findings:
                out.line(
                    f"{report.path}:{finding.line}: {finding.code} {finding.severity}: "
                    f"{finding.message}",
                    {"error": "red", "warning": "yellow"}.get(str(finding.severity)),
                )
                if 0 < finding.line <= len(report.source):
                    text = report.source[finding.line - 1].rstrip()
                    out.line(f"    {text}", "dim")
                    out.line(f"    {_caret_indent(text, finding.column)}^", "dim")
    for report in reports:
        if report.error:
            sys.stderr.write(f"scratchpack: error: {report.error}\n")
    flag = HADOLINT_LEVELS[args.failure_threshold] if args.failure_threshold else None
    chosen = flag or config.failure_threshold or "warning"
    threshold = (
        None if chosen == "none" or args.no_fail or config.no_fail else Severity.parse(chosen)
    )
    _print_notices(reports, args.verbose)
    return exit_code(reports, threshold)


def _caret_indent(text: str, column: int) -> str:
    """What goes before the caret so that it sits under ``column`` (1-based) of ``text``: tabs
    kept as tabs, so that the terminal lines them up the same way."""
    before = text[: max(column, 1) - 1]
    return "".join(c if c == "\t" else " " for c in before)


def _lint_all(files: list[Path], ignore: frozenset[str], config: LintConfig) -> list[FileReport]:
    """Every file in one batch (ShellCheck started once per batch of scripts, not per file),
    and standard input for ``-`` (shown as ``-``, as hadolint shows it), in the order given."""
    from scratchpack.operations.lint import lint_files, lint_source

    if Path("-") not in files:
        return lint_files(files, ignore, config)
    from scratchpack.dockerfile.parser import MAX_SIZE

    reports: list[FileReport] = []
    for path in files:
        if str(path) == "-":
            # one byte past the limit at most, as for a file: the parser refuses what is larger
            raw = sys.stdin.buffer.read(MAX_SIZE + 1)
            reports.append(lint_source(raw, "-", ignore, config))
        else:
            reports += lint_files([path], ignore, config)
    return reports


def _explain(text: str, out: Output) -> int:
    """``--explain SP200``, ``--explain DL3015`` or ``--explain FromAsCasing`` (BuildKit's
    name): every SP rule declaring that code or name."""
    from scratchpack.dockerfile.ruledocs import DOCS
    from scratchpack.dockerfile.rules import RULES
    from scratchpack.operations.lint import PARSE_ERROR

    code = text.strip().upper()
    if code.startswith("SC") and code[2:].isdigit():
        return _explain_shellcheck(code, out)
    if code in (PARSE_ERROR, "DL1000"):
        out.line(f"{PARSE_ERROR} (error, parse): The file could not be read or parsed", "bold")
        out.line("Nothing else is checked in a file that cannot be read; exit code 2.")
        return 0
    codes = [code] if code in RULES else [c for c, r in RULES.items() if code in r.names]
    if not codes:
        if code.startswith("DL"):
            from scratchpack.dockerfile.ruledocs import HADOLINT

            why = HADOLINT.get(code, ("", "not a hadolint code scratchpack knows"))[1]
            raise UsageError(f"hadolint's {code} has no scratchpack equivalent: {why}")
        raise UsageError(f"unknown rule {text!r}; rules: {', '.join(RULES)}")
    for number, sp in enumerate(codes):
        rule, doc = RULES[sp], DOCS[sp]
        if number:
            out.line("")
        hadolint = f" [hadolint {', '.join(rule.hadolint)}]" if rule.hadolint else ""
        buildkit = f" [BuildKit {rule.buildkit}]" if rule.buildkit else ""
        off = "" if rule.default else " (off by default: give it a severity in the config)"
        out.line(
            f"{sp} ({rule.severity}, {rule.category}): {rule.title}{hadolint}{buildkit}{off}",
            "bold",
        )
        out.line(doc.why)
        out.line(f"Fix: {doc.fix}")
    return 0


def _explain_shellcheck(code: str, out: Output) -> int:
    from scratchpack.dockerfile import shellcheck

    out.line(f"{code}: a ShellCheck check, run on every RUN", "bold")
    out.line(f"See {shellcheck.wiki(code)}")
    if shellcheck.binary() is None:
        out.line("Note: shellcheck is not installed (pip install 'scratchpack[shellcheck]')")
    return 0


def _print_notices(reports: list[FileReport], verbose: bool) -> None:
    """ShellCheck failing is said once whatever happens; it missing (the extra is optional,
    lint works without it) or a RUN left out, only with --verbose."""
    said: set[str] = set()
    for report in reports:
        for notice in report.notices:
            if notice.text in said or (notice.verbose and not verbose):
                continue
            said.add(notice.text)
            sys.stderr.write(f"scratchpack: note: {notice}\n")


def _expand_globs(patterns: list[Path]) -> list[Path]:
    """``'**/Dockerfile*'`` as the shell would have expanded it (quoted, or on Windows shells);
    a pattern that matches nothing stays, to be reported as a missing file."""
    import glob

    files: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if pattern.exists() or not glob.has_magic(text):
            files.append(pattern)
            continue
        # glob.glob, not Path.glob: the pattern may be absolute or start with ../
        found = glob.glob(text, recursive=True)  # noqa: PTH207
        matches = sorted(Path(m) for m in found if Path(m).is_file())
        files += matches or [pattern]
    return list(dict.fromkeys(files))


def _lint_fix(
    args: argparse.Namespace, files: list[Path], ignore: frozenset[str], config: LintConfig
) -> tuple[list[FileReport], bool]:
    """Fix or show fixes for each file; notices and a summary go to stderr."""
    from scratchpack.operations.lint import fix_file, unified_diff

    resolve, options = digest_resolver(args, explicit_creds=False)
    reports: list[FileReport] = []
    changed = False
    unpinned = 0
    try:
        for path in files:
            report, result = fix_file(
                path, ignore, config, resolve, write=args.fix, unsafe=args.unsafe_fixes
            )
            reports.append(report)
            if result is None:
                continue
            for notice in result.notices:
                if args.no_pin and notice.endswith(_OFFLINE_NOTICE):
                    unpinned += 1  # asked for: said once for the run, below
                    continue
                sys.stderr.write(f"{path}: {notice}\n")
            if not result.changed:
                continue
            changed = True
            if args.diff:
                sys.stdout.write(unified_diff(result))
            else:
                summary = ", ".join(
                    f"{code}" + (f" x{n}" if n > 1 else "")
                    for code, n in sorted(result.applied.items())
                )
                sys.stderr.write(f"{path}: fixed {summary}\n")
    finally:
        if options is not None:
            options.close()
    if unpinned:
        sys.stderr.write(f"scratchpack: notice: {unpinned} FROM line(s) not pinned (--no-pin)\n")
    return reports, changed


# fix.py's notice for a FROM left unpinned because there is no digest resolver (--no-pin)
_OFFLINE_NOTICE = "not pinned: digest lookup is off"
