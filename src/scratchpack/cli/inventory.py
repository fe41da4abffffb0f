"""``scratchpack sbom`` and ``scratchpack compare``: parse, call the operation, print."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.format import human_size
from scratchpack.cli.helptext import examples, platform_option
from scratchpack.cli.images import with_image
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError

# sbom's output formats, syft's names; the first is the default
FORMATS = ("cyclonedx-json", "spdx-json", "json", "text")
# the names sbom --format had, and syft's table
_ALIASES = {"cyclonedx": "cyclonedx-json", "spdx": "spdx-json", "table": "text"}


def add_sbom(sub: Any, flags: SharedFlags) -> None:
    s = sub.add_parser(
        "sbom",
        parents=[flags.registry, flags.quiet],
        help="list the packages an image holds (CycloneDX or SPDX)",
        description="List the packages an image holds, as CycloneDX or SPDX.",
        **examples(
            "scratchpack sbom oci:./out/hello:latest",
            "scratchpack sbom docker://127.0.0.1:5000/app:1.0 -o spdx-json",
            "scratchpack sbom oci:./out/app:1.0 -o cyclonedx-json=sbom.cdx.json "
            "-o spdx-json=sbom.spdx.json",
            "scratchpack sbom docker-archive:app.tar -o text",
            notes="Packages from dpkg, apk, Python, npm, Go and Rust (cargo-auditable) "
            "metadata, with purls. -o is syft's: -o FORMAT to standard output, -o "
            f"FORMAT=FILE to a file (atomically), repeatable. Formats: {', '.join(FORMATS)} "
            "(cyclonedx, spdx and table are accepted for cyclonedx-json, spdx-json and text). "
            "-o PATH (with a / or a dot) still writes --format's format to PATH.",
        ),
    )
    s.add_argument(
        "image", metavar="IMAGE", help="oci:, docker-archive:, docker-daemon: or docker://"
    )
    platform_option(s)
    s.add_argument(
        "--format", choices=(*FORMATS, *_ALIASES),
        help="format of standard output and of -o PATH (default cyclonedx-json)",
    )  # fmt: skip
    s.add_argument(
        "-o", "--output", action="append", default=[], metavar="FORMAT[=FILE]",
        help="an output, as syft's -o: FORMAT to standard output, FORMAT=FILE to a file; "
        "repeatable",
    )  # fmt: skip
    s.set_defaults(func=cmd_sbom)


def add_compare(sub: Any, flags: SharedFlags) -> None:
    c = sub.add_parser(
        "compare",
        parents=[flags.registry, flags.quiet],
        help="compare images side by side: sizes, contents, findings",
        description="Compare images side by side: sizes, contents, findings.",
        **examples(
            "scratchpack compare oci:./out/hello:latest docker-daemon:debian:bookworm-slim",
            "scratchpack compare docker://127.0.0.1:5000/a:1 docker://127.0.0.1:5000/b:1 "
            "--format markdown",
        ),
    )
    c.add_argument("images", nargs="+", metavar="IMAGE", help="two or more images, any transport")
    platform_option(c)
    c.add_argument(
        "--format",
        choices=("text", "json", "markdown", "html"),
        default="text",
        help="text (default), json, markdown, or html (one self-contained page: size bars, "
        "largest directories, each image's treemap)",
    )
    c.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the html page to FILE (atomically)"
    )
    from scratchpack.cli.scan import db_option

    db_option(c)  # the vulnerabilities row, when a database is there
    c.set_defaults(func=cmd_compare)


def _outputs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """``-o`` as syft reads it: each FORMAT (standard output) or FORMAT=FILE, checked before
    any work; a bare word that is no format is an error, not a file named after it."""
    default = _ALIASES.get(args.format, args.format) or FORMATS[0]
    known = f"formats: {', '.join(FORMATS)}"
    outputs: list[tuple[str, Path | None]] = []
    for item in args.output:
        name, sep, file = item.partition("=")
        chosen = _ALIASES.get(name, name)
        if sep:
            if chosen not in FORMATS:
                raise UsageError(f"-o {item}: unknown format {name!r} ({known})")
            if not file:
                raise UsageError(f"-o {item}: give the file after '=' (-o FORMAT=FILE)")
            outputs.append((chosen, Path(file)))
        elif chosen in FORMATS:
            if args.format:
                raise UsageError(f"-o {item} and --format {args.format}: give the format once")
            outputs.append((chosen, None))
        elif "/" in item or "." in item:
            outputs.append((default, Path(item)))  # the old spelling: -o FILE
        else:
            raise UsageError(
                f"-o {item}: not a format ({known}); to write a file say -o FORMAT=FILE"
            )
    if not outputs:
        outputs.append((default, None))
    if sum(file is None for _, file in outputs) > 1:
        raise UsageError("only one -o FORMAT can go to standard output: give the others =FILE")
    files = [file.resolve() for _, file in outputs if file is not None]
    if len(set(files)) != len(files):
        raise UsageError("-o names the same file twice")
    return outputs


def cmd_sbom(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.operations.sbom.collect import image_packages
    from scratchpack.operations.sbom.formats import cyclonedx_json, image_supplier, spdx_json

    outputs = _outputs(args)

    def render(image: Any, name: str) -> dict[str, str]:
        packages = image_packages(image, name)
        digest, created = str(image.manifest_digest), image.config.created
        texts = {}
        for kind in dict.fromkeys(kind for kind, _ in outputs):
            if kind == "cyclonedx-json":
                texts[kind] = cyclonedx_json(name, digest, created, packages)
            elif kind == "spdx-json":
                texts[kind] = spdx_json(
                    name, digest, created, packages, supplier=image_supplier(image.config.labels)
                )
            elif kind == "json":
                texts[kind] = json.dumps([p.as_dict() for p in packages], indent=2)
            else:  # a table for terminals, whether read now or `cat` from its -o file later
                rows = [[_one_line(f) for f in (p.type, p.name, p.version, p.path)]
                        for p in packages]  # fmt: skip
                width = max((len(row[1]) for row in rows), default=4)
                texts[kind] = "\n".join(
                    f"{ecosystem:7} {name:{width}} {version:20} {path}"
                    for ecosystem, name, version, path in rows
                )
        return texts

    texts = with_image(args, args.image, render)
    from scratchpack.fsutil import atomic_write

    for kind, file in outputs:
        text = texts[kind] + "\n"
        if file is None:
            sys.stdout.write(text)
        else:
            atomic_write(file, text.encode())
    return 0


def _one_line(field: str) -> str:
    """A package's field as one cell of the text table: an image's package manifests may hold
    line feeds (a log line starting ``::error::`` is a CI runner's command) and escapes."""
    from scratchpack.cli.visible import visible

    return visible(field).replace("\n", "\\n")


def cmd_compare(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.scan import optional_store, vulnerability_counts
    from scratchpack.operations.audit import audit_image
    from scratchpack.operations.compare import FOOTNOTE, ROWS, compare, registry_size

    if len(args.images) < 2:
        raise UsageError("compare needs at least two images")
    if args.output is not None and args.format != "html":
        raise UsageError("-o/--output needs --format html")
    html = args.format == "html"
    if html:
        from scratchpack.reports.html import MAX_FILES, MAX_GROUPS, compare_page, image_data

    pages: list[dict[str, Any]] = []  # each image's page data, made while its audit is in memory
    store = optional_store(args)
    vulnerabilities: list[dict[str, int] | None] = []

    def measure(image: Any, name: str) -> tuple[dict[str, Any], Any]:
        result = audit_image(image, name)
        if html:
            share = len(args.images)
            pages.append(image_data(result, MAX_FILES // share, MAX_GROUPS // share))
        vulnerabilities.append(vulnerability_counts(store, result.packages))
        return result.report, registry_size(image)

    try:
        measured = [with_image(args, text, measure) for text in args.images]
    finally:
        if store is not None:
            store.close()
    columns = compare([m[0] for m in measured], [m[1] for m in measured])
    for column, found in zip(columns, vulnerabilities, strict=True):
        column["vulnerabilities"] = found
    note = any(c["compressed_estimated"] for c in columns)
    if html:
        from scratchpack.cli.audit import write_report

        write_report(compare_page(pages, columns), args.output)
        return 0
    if args.format == "json":
        print(json.dumps(columns, indent=2))
        return 0
    header = ["", *(c["image"] for c in columns)]
    rows = [[label, *(_cell(key, c) for c in columns)] for key, label in ROWS]
    if args.format == "markdown":
        print("| " + " | ".join(map(_markdown_cell, header)) + " |")
        print("|---|" + "---:|" * len(columns))
        for row in rows:
            print("| " + " | ".join(map(_markdown_cell, row)) + " |")
        if note:
            print(f"\n{FOOTNOTE}")
        return 0
    _print_compare_text(header, rows, out)
    if note:
        out.wrapped(FOOTNOTE, "dim")
    return 0


# what makes cells, markup or links; emphasis (``*``, ``_``) can only restyle a cell, and our
# own cells use ``*`` (the estimate's mark)
_MARKDOWN = re.compile(r"[\\`<>|&\[\]]")


def _markdown_cell(text: str) -> str:
    """One cell of a GitHub-flavoured Markdown table, showing exactly ``text``: an image's
    strings (its ``User``) end up in PR comments, where a raw ``|`` or line feed adds cells
    and rows, and ``<img src=...>`` or ``[x](...)`` is markup (a tracking pixel, a link)."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(), text).replace("\n", "\\n")


def _print_compare_text(header: list[str], rows: list[list[str]], out: Output) -> None:
    """One column per image, named in its header when the table fits the width, else
    numbered (#1, #2...) under a key that gives each image's whole name (names are never cut
    or wrapped mid-word); a long value (a list of shells) folds at its spaces."""
    from rich.table import Table

    from scratchpack.cli.tables import Column, table_width

    titles = header[1:]
    if table_width([Column(title) for title in header], rows) > out.width:
        out.fields([(f"#{n}", title) for n, title in enumerate(titles, 1)])
        titles = [f"#{n}" for n in range(1, len(header))]
    table = Table()
    table.add_column(header[0], justify="left", no_wrap=True)
    for title in titles:
        table.add_column(title, justify="right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.renderable(table)


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
    if key == "vulnerabilities":
        if value is None:
            return "n/a (no database)"
        return ", ".join(f"{n} {severity}" for severity, n in value.items() if n) or "none"
    return str(value)
