"""``scratchpack sbom`` and ``scratchpack compare``: parse, call the operation, print."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scratchpack.cli.format import human_size
from scratchpack.cli.images import with_image
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError


def add_parsers(sub: Any, registry_flags: argparse.ArgumentParser) -> None:
    s = sub.add_parser(
        "sbom",
        parents=[registry_flags],
        help="list the packages an image holds (CycloneDX or SPDX)",
        description="Packages from dpkg, apk, Python, npm, Go and Rust (cargo-auditable) "
        "metadata, with purls.",
    )
    s.add_argument("image", help="oci:, docker-archive:, docker-daemon: or docker://")
    s.add_argument("--platform", help="platform to pick from a multi-platform index")
    s.add_argument("--format", choices=("cyclonedx", "spdx", "json", "text"), default="cyclonedx")
    s.add_argument("-o", "--output", type=Path, help="write to this file (atomically)")
    s.set_defaults(func=cmd_sbom)

    c = sub.add_parser(
        "compare",
        parents=[registry_flags],
        help="compare images side by side: sizes, contents, findings",
    )
    c.add_argument("images", nargs="+", help="two or more images, any transport")
    c.add_argument("--platform", help="platform to pick from a multi-platform index")
    c.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    c.set_defaults(func=cmd_compare)


def cmd_sbom(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.operations.sbom.collect import image_packages
    from scratchpack.operations.sbom.formats import cyclonedx_json, spdx_json

    def work(image: Any, name: str) -> str:
        packages = image_packages(image, name)
        digest, created = str(image.manifest_digest), image.config.created
        if args.format == "cyclonedx":
            return cyclonedx_json(name, digest, created, packages)
        if args.format == "spdx":
            return spdx_json(name, digest, created, packages)
        if args.format == "json":
            return json.dumps([p.as_dict() for p in packages], indent=2)
        width = max((len(p.name) for p in packages), default=4)
        return "\n".join(f"{p.type:7} {p.name:{width}} {p.version:20} {p.path}" for p in packages)

    text = with_image(args, args.image, work) + "\n"
    if args.output:
        from scratchpack.fsutil import atomic_write

        atomic_write(args.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0


def cmd_compare(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.operations.audit import audit_image
    from scratchpack.operations.compare import FOOTNOTE, ROWS, compare, registry_size

    if len(args.images) < 2:
        raise UsageError("compare needs at least two images")
    measured = [with_image(args, text, lambda image, name: (audit_image(image, name).report,
                                                            registry_size(image)))
                for text in args.images]  # fmt: skip
    columns = compare([m[0] for m in measured], [m[1] for m in measured])
    note = any(c["compressed_estimated"] for c in columns)
    if args.format == "json":
        print(json.dumps(columns, indent=2))
        return 0
    header = ["", *(c["image"] for c in columns)]
    rows = [[label, *(_cell(key, c) for c in columns)] for key, label in ROWS]
    if args.format == "markdown":
        print("| " + " | ".join(header) + " |")
        print("|---|" + "---:|" * len(columns))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        if note:
            print(f"\n{FOOTNOTE}")
        return 0
    from rich.table import Table

    table = Table()
    for n, title in enumerate(header):
        table.add_column(title, justify="left" if n == 0 else "right")
    for row in rows:
        table.add_row(*row)
    out.renderable(table)
    if note:
        out.line(FOOTNOTE, "dim")
    return 0


def _cell(key: str, column: dict[str, Any]) -> str:
    value = column[key]
    if key == "compressed":
        return human_size(value) + (" *" if column["compressed_estimated"] else "")
    if key == "uncompressed":
        return human_size(value)
    if key == "ratio":
        return f"{value:.1f}x"
    if key == "efficiency":
        return f"{value:.1%}"
    return str(value)
