"""``scratchpack inspect``: its parser, and the handler that prints operations/inspect's
report (digests, config, layers, history) as fields and a layer table, or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.format import human_size
from scratchpack.cli.helptext import examples, platform_option
from scratchpack.cli.options import registry_options
from scratchpack.cli.output import Output

if TYPE_CHECKING:
    import argparse


def add_parser(sub: Any, flags: SharedFlags) -> None:
    i = sub.add_parser(
        "inspect",
        parents=[flags.registry],
        help="show an image's digest, config, layers, history",
        description="Show an image's digests, config, layers and history.",
        **examples(
            "scratchpack inspect oci:./out/hello:latest",
            "scratchpack inspect docker://127.0.0.1:5000/app:1.0 --platform linux/arm64",
            "scratchpack inspect docker-archive:app.tar --format json",
        ),
    )
    i.add_argument(
        "image", metavar="IMAGE",
        help="oci:DIR[:TAG], docker-archive:FILE[:NAME:TAG], docker-daemon:NAME:TAG, docker://...",
    )  # fmt: skip
    platform_option(i)
    i.add_argument("--format", choices=("text", "json"), default="text")
    i.set_defaults(func=cmd_inspect)


def cmd_inspect(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.model.descriptor import Platform
    from scratchpack.operations.inspect import inspect_image
    from scratchpack.transports.names import parse_image_name

    name = parse_image_name(args.image)
    platform = Platform.parse(args.platform) if args.platform else None
    from scratchpack.transports.dispatch import open_image

    options = registry_options(args)
    try:
        with open_image(name, platform, options) as image:
            report = inspect_image(image, str(name))
    finally:
        options.close()
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    table: list[tuple[str, str]] = [
        ("name", report["name"]),
        ("manifest digest", report["manifest_digest"]),
    ]
    if report["platform_manifest_digest"] != report["manifest_digest"]:
        table.append(("platform manifest", report["platform_manifest_digest"]))
    table.append(("image id", report["image_id"]))
    for key in ("media_type", "platform", "created", "user"):
        table.append((key.replace("_", " "), str(report[key] or "-")))
    table.append(("entrypoint", json.dumps(report["entrypoint"])))
    table.append(("cmd", json.dumps(report["cmd"])))
    table.append(("workdir", report["workdir"] or "-"))
    table.extend(("env", e) for e in report["env"])
    if report["exposed_ports"]:
        table.append(("ports", ", ".join(report["exposed_ports"])))
    table.extend(("label", f"{k}={v}") for k, v in report["labels"].items())
    table.extend(("annotation", f"{k}={v}") for k, v in report["annotations"].items())
    table.append(("size", human_size(report["size"])))
    out.fields(table)
    _print_layers(report, out)
    return 0


def _print_layers(report: dict[str, Any], out: Output) -> None:
    """inspect's layers: a table with whole digests when the width allows one and a readable
    created-by column, else two lines per layer (the digest alone on the first, whole)."""
    from scratchpack.cli.tables import Column, command_table, created_by, fit_end, table_width

    history = [h for h in report["history"] if not h["empty_layer"]]
    columns = [Column("#"), Column("digest", "left"), Column("size"), Column("compression", "left")]
    rows = [
        [str(n + 1), layer["digest"], human_size(layer["size"]), layer["compression"]]
        for n, layer in enumerate(report["layers"])
    ]
    commands = [
        created_by(history[n]["created_by"]) if n < len(history) else "" for n in range(len(rows))
    ]
    width = out.width
    if table_width(columns, rows) <= width:
        table, below = command_table("layers", columns, rows, commands, width)
        if not below:
            out.renderable(table)
            return
    out.line("layers")
    pad = max((len(row[0]) for row in rows), default=1)
    for row, command in zip(rows, commands, strict=True):
        out.line(f"{row[0]:>{pad}}  {row[1]}")
        detail = f"{' ' * pad}  {row[2]}, {row[3]}"
        if command:
            detail += "  " + fit_end(command, max(width - len(detail) - 2, 8))
        out.line(detail)
