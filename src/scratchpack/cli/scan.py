"""``scratchpack scan`` and ``scratchpack db``: parse, call vulns/, print.

Exit codes of ``scan``: 0 nothing reported at or above ``--fail-on`` (or no ``--fail-on``),
1 a finding at or above it, 2 an error (bad arguments, an unreadable image or SBOM, no or
an unreadable database). ``db import`` exits 1 when an input is malformed (the previous
database is kept), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.cli.flags import SharedFlags, days
from scratchpack.cli.helptext import examples, platform_option
from scratchpack.cli.output import Output
from scratchpack.errors import ScratchpackError, UsageError

if TYPE_CHECKING:
    from scratchpack.operations.sbom.packages import Package
    from scratchpack.vulns.db import Store
    from scratchpack.vulns.match import Result

FORMATS = ("text", "json", "sarif", "cyclonedx-vex")
FAIL_ON = ("low", "medium", "high", "critical")
MAX_DB_AGE = 7.0  # days
MIN_SUMMARY = 30  # a summary column narrower than this goes below the table instead


class ScanError(ScratchpackError):
    """What stops a scan before any finding: exit 2, never mistaken for "found" (1)."""

    exit_code = 2


def db_option(parser: argparse.ArgumentParser) -> None:
    """``--db`` as every command that reads the advisory database has it."""
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="the vulnerability database (default $XDG_DATA_HOME/scratchpack/vulns.db)",
    )


def database_path(args: argparse.Namespace) -> Path:
    from scratchpack.vulns.db import default_path

    return Path(args.db) if args.db is not None else default_path()


def add_scan(sub: Any, flags: SharedFlags) -> None:
    s = sub.add_parser(
        "scan",
        parents=[flags.registry, flags.quiet],
        help="find known vulnerabilities in an image's packages (offline, OSV)",
        description="Find known vulnerabilities in an image's packages, offline.",
        **examples(
            "scratchpack scan oci:./out/app:1.0",
            "scratchpack scan docker://127.0.0.1:5000/app:1.0 --fail-on high --ignore-unfixed",
            "scratchpack scan --sbom sbom.cdx.json --format sarif -o scan.sarif",
            "scratchpack scan docker-daemon:app:1 --ignore-file ignore.yaml --vex app.vex.json",
            notes="Every package sbom finds (dpkg, apk, Python, npm, Go, Rust) is matched "
            "against the advisories `scratchpack db import` loaded (OSV), with each "
            "ecosystem's own version ordering; Debian packages by their source package. Exit "
            "codes: 0 nothing at or above --fail-on, 1 a finding at or above it, 2 an error "
            "(bad arguments, unreadable image or SBOM, no database).",
        ),
    )
    s.add_argument(
        "image",
        nargs="?",
        metavar="IMAGE",
        help="oci:, docker-archive:, docker-daemon:, docker:// ... (or --sbom)",
    )
    s.add_argument(
        "--sbom",
        type=Path,
        metavar="FILE",
        help="scan the packages of an SBOM instead: CycloneDX, SPDX or syft JSON",
    )
    platform_option(s)
    db_option(s)
    s.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json, sarif or cyclonedx-vex (CycloneDX 1.6)",
    )
    s.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write the report to FILE (atomically) instead of standard output",
    )
    s.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        metavar="SEVERITY",
        help="exit 1 when a finding is at or above this severity: low, medium, high or critical",
    )
    s.add_argument(
        "--ignore-unfixed",
        action="store_true",
        help="leave out vulnerabilities with no fixed version yet",
    )
    s.add_argument(
        "--ignore-file",
        type=Path,
        metavar="FILE",
        help="YAML or TOML list 'ignore' of {id, package, reason, expires}",
    )
    s.add_argument(
        "--vex",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="OpenVEX or CycloneDX VEX: not_affected statements suppress; repeatable",
    )
    s.add_argument(
        "--max-db-age",
        type=days,
        default=MAX_DB_AGE,
        metavar="DAYS",
        help="warn when the newest advisory is older than this (default 7; 0: never)",
    )
    s.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also list suppressed findings with their justification, and the "
        "packages that could not be matched",
    )
    s.set_defaults(func=cmd_scan)


def add_db(sub: Any, flags: SharedFlags) -> None:
    d = sub.add_parser(
        "db",
        help="import OSV advisories for scan, or show the database's state",
        description="Import OSV advisories into the local database, or show its state.",
        **examples(
            "scratchpack db import Debian-all.zip PyPI-all.zip npm-all.zip",
            "scratchpack db import --add ./advisories/",
            "scratchpack db status",
            "scratchpack db status --db ./vulns.db --format json",
            notes="import reads osv.dev exports (an ecosystem's all.zip) or directories of OSV "
            "JSON files into a new database and replaces the old one only when every advisory "
            "was read (exit 1 naming the file otherwise; the old one still answers). --add "
            "keeps what the database had.",
        ),
    )
    actions = d.add_subparsers(dest="action", metavar="ACTION", required=True)
    i = actions.add_parser(
        "import",
        help="load OSV exports into the database",
        description="Load OSV exports into the vulnerability database.",
    )
    i.add_argument(
        "sources",
        nargs="+",
        type=Path,
        metavar="FILE.zip|DIR",
        help="OSV exports (an ecosystem's all.zip) or directories of OSV JSON",
    )
    db_option(i)
    i.add_argument("--add", action="store_true", help="add to the database instead of replacing it")
    st = actions.add_parser(
        "status",
        help="records per ecosystem and their age",
        description="Show the database's records per ecosystem and age.",
    )
    db_option(st)
    st.add_argument("--format", choices=("text", "json"), default="text")
    for nested in (i, st):  # --debug may follow the action too, as it may follow any command
        nested.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)  # fmt: skip
    d.set_defaults(func=cmd_db)


def cmd_db(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.vulns.db import Store, import_advisories, no_database

    db = database_path(args)
    if args.action == "import":
        stats = import_advisories(list(args.sources), db, add=args.add)
        out.status("Imported", f"{stats.advisories} advisories into {db}")
        if stats.withdrawn or stats.skipped:
            out.line(f"  left out: {stats.withdrawn} withdrawn, {stats.skipped} older duplicates")
        return 0
    if not db.is_file():
        raise no_database(db)
    with Store(db) as store:
        status = store.status()
    status["age_days"] = _age_days(status)
    if args.format == "json":
        print(json.dumps(status, indent=2))
        return 0
    age = status["age_days"]
    out.fields(
        [
            ("database", status["path"]),
            ("imported", status["imported_at"] or "unknown"),
            (
                "newest advisory",
                (status["newest_modified"] or "unknown")
                + (f" ({age:.0f} days old)" if age is not None else ""),
            ),
            ("advisories", str(status["advisories"])),
        ]
    )
    if status["ecosystems"]:
        from scratchpack.cli.tables import Column, fitted_table

        table = fitted_table(
            None,
            [Column("ecosystem", "left"), Column("advisories")],
            [[e, str(n)] for e, n in status["ecosystems"].items()],
            out.width,
        )
        out.renderable(table)
    return 0


def _parse_time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _age_days(status: dict[str, Any]) -> float | None:
    """How old the data is: from the newest advisory's ``modified`` (an old export imported
    today is still old), else from the import."""
    when = _parse_time(status.get("newest_modified") or "") or _parse_time(
        status.get("imported_at") or ""
    )
    if when is None:
        return None
    return (dt.datetime.now(dt.UTC) - when).total_seconds() / 86400


def _open_store(args: argparse.Namespace) -> Store:
    from scratchpack.vulns.db import DatabaseError, Store

    try:
        return Store(database_path(args))
    except DatabaseError as exc:
        raise ScanError(str(exc)) from exc


def cmd_scan(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.vulns import report
    from scratchpack.vulns.match import scan
    from scratchpack.vulns.suppress import apply, read_ignore, read_vex

    if (args.image is None) == (args.sbom is None):
        raise UsageError("scan needs an IMAGE or --sbom FILE (one of them)")
    if args.output is not None and args.format == "text":
        raise UsageError("-o/--output needs --format json, sarif or cyclonedx-vex")
    if args.max_db_age < 0:
        raise UsageError("--max-db-age must be 0 or more days")
    ignores = read_ignore(args.ignore_file) if args.ignore_file else []
    statements = [s for path in args.vex for s in read_vex(path)]
    store = _open_store(args)
    with store:
        status = {  # the meta table only: counting the records would cost a table scan
            "path": str(store.path),
            "newest_modified": store.meta.get("newest_modified", ""),
            "imported_at": store.meta.get("imported_at", ""),
        }
        age = _age_days(status)
        if age is not None and args.max_db_age and age > args.max_db_age:
            sys.stderr.write(
                f"scratchpack: warning: the vulnerability database is {age:.0f} days old "
                f"(newest advisory {status['newest_modified'] or status['imported_at']}); "
                "import a newer export with `scratchpack db import`\n"
            )
        name, digest, created, packages = _packages(args)
        result: Result = scan(packages, store)
    notes = apply(result.findings, ignores, statements)
    for note in notes:
        sys.stderr.write(f"scratchpack: warning: {note}\n")
    if args.ignore_unfixed:
        result.findings = [f for f in result.findings if f.fixed]
    database = status
    text = None
    if args.format == "json":
        text = json.dumps(report.as_json(result, name, database), indent=2)
    elif args.format == "sarif":
        text = json.dumps(report.sarif(result, name), indent=2)
    elif args.format == "cyclonedx-vex":
        text = report.cyclonedx_vex(result, name, digest, created)
    if text is not None:
        from scratchpack.cli.audit import write_report

        write_report(text + "\n", args.output)
    elif not args.quiet:
        _print_text(result, name, out, verbose=args.verbose)
    if args.fail_on is None:
        return 0
    from scratchpack.vulns.osv import RANK

    threshold = RANK[args.fail_on]
    failing = [f for f in result.findings if not f.suppressed and f.rank >= threshold]
    return 1 if failing else 0


def _packages(args: argparse.Namespace) -> tuple[str, str, str | None, list[Package]]:
    """(name, digest, created, packages): from the image's one scan, or the SBOM file."""
    if args.sbom is not None:
        from scratchpack.vulns.sbomfile import read_sbom

        return str(args.sbom), "", None, read_sbom(args.sbom)
    from scratchpack.cli.images import with_image
    from scratchpack.operations.sbom.collect import image_packages

    def work(image: Any, name: str) -> tuple[str, str, str | None, list[Package]]:
        return name, str(image.manifest_digest), image.config.created, image_packages(image, name)

    return with_image(args, args.image, work)


def _print_text(result: Result, name: str, out: Output, *, verbose: bool) -> None:
    from scratchpack.cli.tables import Column, fitted_table
    from scratchpack.vulns.report import counts, rows

    tally = counts(result.findings)
    summary = ", ".join(f"{n} {s}" for s, n in tally.items() if n) or "none"
    suppressed = sum(1 for f in result.findings if f.suppressed)
    out.fields(
        [
            ("image", name),
            ("packages", str(result.scanned)),
            ("vulnerabilities", summary + (f" ({suppressed} suppressed)" if suppressed else "")),
        ]
    )
    table_rows = rows(result.findings, verbose=verbose)
    if table_rows:
        from scratchpack.cli.tables import fit_start, table_width

        columns = [
            Column("package", "left"),
            Column("installed", "left"),
            Column("fixed in", "left"),
            Column("severity", "left"),
            Column("id", "left"),
        ]
        fixed = table_width(columns, [r[:5] for r in table_rows])
        room = out.width - fixed - 3
        if fixed > out.width:  # not even the fixed columns fit: one finding per paragraph
            for who, installed, fix, severity, ident, summary in table_rows:
                fixed_in = f"fixed in {fix}" if fix != "-" else "no fix yet"
                out.wrapped(f"{ident}  {severity}  {who} {installed}, {fixed_in}")
                out.line("  " + fit_start(summary, max(out.width - 2, 10)))
        elif room >= MIN_SUMMARY:
            columns.append(Column("summary", "left", flexible=True, keep_start=True))
            out.renderable(fitted_table(None, columns, table_rows, out.width))
        else:  # too narrow for a summary column: each id's summary below the table
            out.renderable(fitted_table(None, columns, [r[:5] for r in table_rows], out.width))
            pad = max(len(r[4]) for r in table_rows)
            for row in dict.fromkeys((r[4], r[5]) for r in table_rows):
                out.line(f"{row[0]:<{pad}}  {fit_start(row[1], max(out.width - pad - 2, 10))}")
    if verbose and result.unmatched:
        out.line(f"{len(result.unmatched)} packages not matched:")
        for package, why in result.unmatched:
            out.wrapped(f"  {package.type} {package.name} {package.version}: {why}")


def vulnerability_counts(store: Store | None, packages: list[Package]) -> dict[str, int] | None:
    """For ``compare``: reported findings by severity, None without a database."""
    if store is None:
        return None
    from scratchpack.vulns.match import scan
    from scratchpack.vulns.report import counts

    return counts(scan(packages, store).findings)


def optional_store(args: argparse.Namespace) -> Store | None:
    """The database when there is one (compare's row says n/a otherwise)."""
    from scratchpack.vulns.db import DatabaseError, Store

    path = database_path(args)
    if not path.is_file():
        return None
    try:
        return Store(path)
    except DatabaseError as exc:
        raise ScanError(str(exc)) from exc
