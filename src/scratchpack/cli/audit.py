"""``scratchpack audit``: argument parsing and printing; the work is in operations/audit."""

from __future__ import annotations

import argparse
import json
import math
import re
from typing import Any

from scratchpack.cli.format import human_size
from scratchpack.cli.images import with_image
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError

SEVERITIES = ("critical", "error", "warning", "info", "none")
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
    """``20MB`` (dive's units: powers of 1000), ``5MiB``, or plain bytes."""
    match = _SIZE.fullmatch(text.lower())
    if match is None or match.group(2) not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size (e.g. 20MB, 5MiB, 1000): {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def add_parser(sub: Any, registry_flags: argparse.ArgumentParser) -> None:
    a = sub.add_parser(
        "audit",
        parents=[registry_flags],
        help="show where an image's bytes go, what is unsafe, and whether it can start",
        description="Audit an image from any transport. Exit 0: passed; 1: a finding at or "
        "above --fail-on, or a dive-style threshold crossed; 2: the image could not be read.",
    )
    a.add_argument("image", nargs="?", help="oci:, docker-archive:, docker-daemon: or docker://")
    a.add_argument("--platform", help="platform to pick from a multi-platform index")
    a.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    a.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="error",
        help="lowest finding severity that makes the exit code 1 (default: error)",
    )
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
    a.add_argument("--top", type=int, default=10, help="largest files and directories shown")
    a.add_argument(
        "--no-secrets",
        dest="secrets",
        action="store_false",
        help="do not search file contents for credentials (faster; ENV, history and .git "
        "directories are still checked)",
    )
    a.add_argument("--explain", metavar="CODE", help="print why a check matters and the fix")
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
    from scratchpack.operations.audit import audit_image
    from scratchpack.operations.audit.checks import CHECKS
    from scratchpack.operations.audit.docs import DOCS
    from scratchpack.reports.severity import Severity

    if args.explain:
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
    result = with_image(
        args, args.image, lambda image, name: audit_image(image, name, args.top, args.secrets)
    )
    report = result.report
    crossed = thresholds_crossed(report, args)
    report["thresholds_crossed"] = crossed
    if args.format == "json":
        print(json.dumps(report, indent=2))
    elif args.format == "sarif":
        from scratchpack.operations.audit.sarif import audit_sarif

        print(json.dumps(audit_sarif(result), indent=2))
    else:
        _print_text(report, out)
        for line in crossed:
            out.line(f"threshold crossed: {line}", "red")
    failing = args.fail_on != "none" and any(
        f.severity >= Severity.parse(args.fail_on) for f in result.findings
    )
    return 1 if failing or crossed else 0


def _print_text(report: dict[str, Any], out: Output) -> None:
    from rich.table import Table

    size, eff, start = report["size"], report["efficiency"], report["startup"]
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
    layers = Table(title="layers", title_justify="left")
    for column in ("#", "compressed", "uncompressed", "+files", "~files", "-files", "created by"):
        layers.add_column(column, justify="left" if column == "created by" else "right")
    for layer in report["layers"]:
        layers.add_row(
            str(layer["index"]),
            human_size(layer["compressed_size"]),
            human_size(layer["uncompressed_size"]),
            str(layer["added"]),
            str(layer["changed"]),
            str(layer["removed"]),
            (layer["created_by"] or "")[:80],
        )
    out.renderable(layers)
    largest = Table(title="largest files", title_justify="left")
    largest.add_column("size", justify="right")
    largest.add_column("layer", justify="right")
    largest.add_column("path")
    for item in report["largest_files"]:
        largest.add_row(human_size(item["size"]), str(item["layer"]), item["path"])
    out.renderable(largest)
    if eff["inefficiencies"]:
        waste = Table(title="wasted space (dive)", title_justify="left")
        waste.add_column("count", justify="right")
        waste.add_column("total", justify="right")
        waste.add_column("path")
        for item in eff["inefficiencies"][:10]:
            waste.add_row(str(item["count"]), human_size(item["wasted_bytes"]), item["path"])
        out.renderable(waste)
    for finding in report["findings"]:
        out.line(
            f"{finding['code']} {finding['severity']}: {finding['message']}",
            _STYLES.get(finding["severity"]),
        )
    summary = ", ".join(f"{n} {severity}" for severity, n in report["summary"].items())
    out.line(f"findings: {summary}")
