"""``scratchpack audit``: argument parsing and printing; the work is in operations/audit."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.format import human_size
from scratchpack.cli.helptext import examples, platform_option
from scratchpack.cli.images import with_image
from scratchpack.cli.output import Output
from scratchpack.cli.probe import add_check_flags, probe_spec, show_failure
from scratchpack.errors import ScratchpackError, UsageError

if TYPE_CHECKING:
    from scratchpack.operations.probe import ProbeResult

SEVERITIES = ("critical", "error", "warning", "info", "none", "style", "ignore")
# lint's threshold names (hadolint's) mean the same here
_HADOLINT_NAMES = {"style": "info", "ignore": "info"}
_STYLES = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "dim"}


def _ratio(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (or 0% and 100%): {text!r}")
    return value


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}  # fmt: skip
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*")


def _size(text: str) -> int:
    """``20MB`` (dive's units: powers of 1000), ``5MiB``, or plain bytes; exact (a Fraction,
    not a float: 400 nines are a size, not an OverflowError)."""
    match = _SIZE.fullmatch(text.lower())
    if match is None or match.group(2) not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size (e.g. 20MB, 5MiB, 1000): {text!r}")
    return int(Fraction(match.group(1)) * _UNITS[match.group(2)])


def add_parser(sub: Any, flags: SharedFlags) -> None:
    a = sub.add_parser(
        "audit",
        parents=[flags.registry, flags.quiet],
        help="show where an image's bytes go, what is unsafe, and whether it can start",
        description="Show where an image's bytes go, what is unsafe, and whether it can start.",
        **examples(
            "scratchpack audit oci:./out/hello:latest",
            "scratchpack audit docker://127.0.0.1:5000/app:1.0 -t warning --format sarif",
            "scratchpack audit docker-daemon:app:dev -q --lowest-efficiency 95% "
            "--check '[\"--version\"]'",
            "scratchpack audit --explain SPI001",
            notes="Exit 0: passed; 1: a finding at or above the failure threshold, a "
            "dive-style threshold crossed, or a failed --check probe; 2: the image could not "
            "be read.",
        ),
    )
    a.add_argument(
        "image", nargs="?", metavar="IMAGE",
        help="oci:, docker-archive:, docker-daemon: or docker://",
    )  # fmt: skip
    platform_option(a)
    a.add_argument(
        "--format",
        choices=("text", "json", "sarif", "github", "html"),
        default="text",
        help="text (default), json, sarif (code scanning), github (workflow annotations), "
        "html (one self-contained page: treemap, layers, findings)",
    )
    a.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the report to FILE (atomically)"
    )
    a.add_argument(
        "-t", "--failure-threshold", "--fail-on",
        dest="fail_on",
        choices=SEVERITIES,
        default="error",
        help="lowest finding severity that makes the exit code 1 (default: error), as lint's "
        "flag; hadolint's style and ignore mean info; --fail-on is the same flag",
    )  # fmt: skip
    a.add_argument(
        "--lowest-efficiency",
        type=_ratio,
        metavar="RATIO",
        help="fail below this dive efficiency score (e.g. 0.9 or 90%%)",
    )
    a.add_argument(
        "--highest-wasted-bytes",
        type=_size,
        metavar="SIZE",
        help="fail above this many wasted bytes (e.g. 20MB)",
    )
    a.add_argument(
        "--highest-user-wasted-percent",
        type=_ratio,
        metavar="RATIO",
        help="fail above this share of wasted bytes in the non-base layers (e.g. 0.1 or 10%%)",
    )
    a.add_argument(
        "--top", type=int, default=10, metavar="N", help="largest files and directories shown"
    )
    a.add_argument(
        "--no-secrets",
        dest="secrets",
        action="store_false",
        help="do not search file contents for credentials (faster; ENV, history and .git "
        "directories are still checked)",
    )
    a.add_argument("--explain", metavar="CODE", help="print why a check matters and the fix")
    add_check_flags(a, "as the image's user: the will-it-start check, by starting it")
    a.set_defaults(func=cmd_audit)


def thresholds_crossed(report: dict[str, Any], args: argparse.Namespace) -> list[str]:
    eff = report["efficiency"]
    crossed = []
    if args.lowest_efficiency is not None and eff["score"] < args.lowest_efficiency:
        crossed.append(f"efficiency {eff['score']:.4f} < {args.lowest_efficiency}")
    if args.highest_wasted_bytes is not None and eff["wasted_bytes"] > args.highest_wasted_bytes:
        crossed.append(f"wasted bytes {eff['wasted_bytes']} > {args.highest_wasted_bytes}")
    ratio = eff["user_wasted_percent"] / 100
    if args.highest_user_wasted_percent is not None and ratio > args.highest_user_wasted_percent:
        crossed.append(
            f"user wasted {ratio:.4f} > {args.highest_user_wasted_percent} of the non-base layers"
        )
    return crossed


def cmd_audit(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.model.image import Image
    from scratchpack.operations.audit import AuditResult, audit_image
    from scratchpack.reports.severity import Severity

    if args.explain:
        from scratchpack.operations.audit.checks import CHECKS
        from scratchpack.operations.audit.docs import DOCS  # (the pages: only --explain)

        code = args.explain.upper()
        if code not in CHECKS:
            raise UsageError(f"unknown check {args.explain!r}; checks: {', '.join(CHECKS)}")
        meta, doc = CHECKS[code], DOCS[code]
        out.line(f"{code} ({meta.severity}, {meta.category}): {meta.title}", "bold")
        out.line(doc.why)
        out.line(f"Fix: {doc.fix}")
        return 0
    if not args.image:
        raise UsageError("audit needs an image, e.g. oci:./out/app:1.0 (or --explain CODE)")
    if args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.output is not None and args.format == "text":
        raise UsageError("-o/--output needs --format json, sarif, github or html")
    spec = probe_spec(args)
    probe_error: list[ScratchpackError] = []

    def work(image: Image, name: str) -> tuple[AuditResult, ProbeResult | None]:
        audited = audit_image(image, name, args.top, args.secrets)
        if spec is None:
            return audited, None
        # only with --check: tempfile loads random, probe shutil and subprocess (issue 17)
        from scratchpack.operations.probe import run_probe

        try:  # an engine that cannot run it is not an unreadable image (exit 2)
            import tempfile

            return audited, run_probe(image, spec, Path(tempfile.gettempdir()))
        except ScratchpackError as exc:
            probe_error.append(exc)
            return audited, None

    result, probed = with_image(args, args.image, work)
    if probe_error:
        raise probe_error[0]
    report = result.report
    crossed = thresholds_crossed(report, args)
    report["thresholds_crossed"] = crossed
    if probed is not None:
        report["check"] = probed.to_json()
    if args.format != "text":
        write_report(_formatted(args.format, result, crossed), args.output)
    elif not args.quiet:
        _print_text(report, out)
        for line in crossed:
            out.line(f"threshold crossed: {line}", "red")
    threshold = _HADOLINT_NAMES.get(args.fail_on, args.fail_on)
    failing = threshold != "none" and any(
        f.severity >= Severity.parse(threshold) for f in result.findings
    )
    if probed is not None and not probed.passed:
        from scratchpack.operations.probe import ProbeFailed

        failed = ProbeFailed(probed, "the image does not pass its probe")
        show_failure(failed)
        raise failed
    if probed is not None and args.format == "text" and not args.quiet:
        out.status("Checked", probed.summary())
    return 1 if failing or crossed else 0


def _formatted(kind: str, result: Any, crossed: list[str]) -> str:
    if kind == "json":
        return json.dumps(result.report, indent=2) + "\n"
    if kind == "sarif":
        from scratchpack.operations.audit.sarif import audit_sarif

        return json.dumps(audit_sarif(result), indent=2) + "\n"
    if kind == "github":
        from scratchpack.cli.visible import visible
        from scratchpack.operations.audit.github import audit_annotations

        # a runner's log (or a `cat` of the -o file) renders ANSI escapes: shown, never obeyed
        return visible("".join(line + "\n" for line in audit_annotations(result, crossed)))
    from scratchpack.reports.html import audit_page, image_data

    return audit_page(image_data(result))


def write_report(text: str, output: Path | None) -> None:
    """To stdout, or to ``output`` under a temporary name renamed into place (never half a file)."""
    if output is None:
        sys.stdout.write(text)
        return
    from scratchpack.fsutil import atomic_write

    atomic_write(output, text.encode("utf-8"))


def _print_text(report: dict[str, Any], out: Output) -> None:
    """Fields, then tables that fit ``out.width`` (cli/tables.py), then the findings folded at
    spaces. Sizes are written one way (units.human_size); exact bytes are in --format json."""
    from scratchpack.cli.tables import Column, command_table, created_by, fitted_table

    size, eff, start = report["size"], report["efficiency"], report["startup"]
    width = out.width
    out.fields(
        [
            ("image", report["image"]),
            ("manifest digest", report["digest"]),
            ("image id", report["image_id"]),
            ("platform", report["platform"]),
            ("size", f"{human_size(size['compressed'])} compressed, "
                     f"{human_size(size['uncompressed'])} uncompressed, {size['files']} files"),
            ("user", report["user"]["how"]),
            ("command", json.dumps(start["argv"]) + f" ({start['kind']})"),
            ("efficiency", f"{eff['score']:.2%}; wasted {human_size(eff['wasted_bytes'])} "
                           f"({eff['user_wasted_percent']:.1f}% of the non-base layers)"),
        ]
    )  # fmt: skip
    layer_columns = [Column("#"), Column("compressed"), Column("uncompressed"),
                     Column("+files"), Column("~files"), Column("-files")]  # fmt: skip
    layer_rows = [
        [str(layer["index"]), human_size(layer["compressed_size"]),
         human_size(layer["uncompressed_size"]), str(layer["added"]), str(layer["changed"]),
         str(layer["removed"])]
        for layer in report["layers"]
    ]  # fmt: skip
    commands = [created_by(layer["created_by"] or "") for layer in report["layers"]]
    table, below = command_table("layers", layer_columns, layer_rows, commands, width)
    out.renderable(table)
    if below:
        out.line("created by")
        for line in below:
            out.line(line)
    path = Column("path", "left", flexible=True)
    largest = [[human_size(item["size"]), str(item["layer"]), item["path"]]
               for item in report["largest_files"]]  # fmt: skip
    out.renderable(
        fitted_table("largest files", [Column("size"), Column("layer"), path], largest, width)
    )
    dirs = [[human_size(item["size"]), str(item["files"]), item["path"]]
            for item in report.get("largest_dirs", [])]  # fmt: skip
    if dirs:
        columns = [Column("size"), Column("files"), path]
        out.renderable(fitted_table("largest directories", columns, dirs, width))
    if eff["inefficiencies"]:
        waste = [[str(item["count"]), human_size(item["wasted_bytes"]), item["path"]]
                 for item in eff["inefficiencies"][:10]]  # fmt: skip
        columns = [Column("count"), Column("total"), path]
        out.renderable(fitted_table("wasted space (dive)", columns, waste, width))
    for finding in report["findings"]:
        out.wrapped(
            f"{finding['code']} {finding['severity']}: {finding['message']}",
            _STYLES.get(finding["severity"]),
        )
    summary = ", ".join(f"{n} {severity}" for severity, n in report["summary"].items())
    out.line(f"findings: {summary}")
