"""``scratchpack`` entry point."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scratchpack import __version__
from scratchpack.cli.format import human_size, percent
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.layers.compress import COMPRESSIONS
from scratchpack.model.descriptor import Platform
from scratchpack.operations.essentials import DEFAULT_CA_BUNDLE, DEFAULT_ZONEINFO, RunUser
from scratchpack.operations.inspect import inspect_image
from scratchpack.operations.pack import AddSpec, PackOptions, PackResult, pack, parse_command
from scratchpack.transports.dispatch import open_image
from scratchpack.transports.names import parse_image_name


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in the project's one-line style, exit code 2."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"scratchpack: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scratchpack",
        description="Small, secure, reproducible container images without a Docker daemon.",
    )
    parser.add_argument("--version", action="version", version=f"scratchpack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "pack",
        help="pack a static binary into a FROM-scratch image",
        description="Pack one static binary and its run-time essentials (CA certificates, "
        "zoneinfo, passwd/group, nsswitch.conf, /tmp) into a minimal image.",
    )
    p.add_argument("binary", type=Path, help="the static ELF binary to pack")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DEST",
        help="oci:DIR[:TAG], docker-archive:FILE[:NAME[:TAG]] or docker-daemon:NAME[:TAG]",
    )
    p.add_argument("--entrypoint", help='exec form as JSON (\'["/app","-v"]\') or words')
    p.add_argument("--cmd", help="default arguments, JSON array or words")
    p.add_argument(
        "--user",
        default="nonroot:65532:65532",
        metavar="NAME:UID[:GID]",
        help="run user (default nonroot:65532:65532; say 'root' to run as root)",
    )
    p.add_argument("--workdir", help="working directory (default the user's home)")
    p.add_argument("--binary-path", help="where the binary goes (default /usr/local/bin/NAME)")
    p.add_argument("--env", action="append", default=[], metavar="K=V")
    p.add_argument("--label", action="append", default=[], metavar="K=V")
    p.add_argument("--annotation", action="append", default=[], metavar="K=V")
    p.add_argument("--source", help="org.opencontainers.image.source annotation (URL)")
    p.add_argument("--revision", help="org.opencontainers.image.revision annotation")
    p.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]")
    p.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="SRC:DEST[:MODE]",
        help="extra file or directory (root-owned; files 0444, or 0555 when executable)",
    )
    p.add_argument(
        "--tz", default="all", metavar="all|none|ZONE,...", help="zoneinfo to include (default all)"
    )
    p.add_argument("--no-certs", action="store_true", help="leave out the CA bundle")
    p.add_argument("--ca-bundle", type=Path, default=DEFAULT_CA_BUNDLE, help=argparse.SUPPRESS)
    p.add_argument("--zoneinfo", type=Path, default=DEFAULT_ZONEINFO, help=argparse.SUPPRESS)
    p.add_argument("--platform", help="OS/ARCH[/VARIANT]; must match the binary")
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        help="layer compression for oci: (default gzip; archives are always uncompressed)",
    )
    p.add_argument("--compression-level", type=int, help="gzip 1-9, zstd 1-19")
    p.add_argument(
        "--allow-dynamic", action="store_true", help="pack a dynamically linked binary anyway"
    )
    p.add_argument("--strip", action="store_true", help="strip symbols with strip(1) first")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_pack)

    i = sub.add_parser("inspect", help="show an image's digest, config, layers and history")
    i.add_argument(
        "image", help="oci:DIR[:TAG], docker-archive:FILE[:NAME:TAG], docker-daemon:NAME:TAG"
    )
    i.add_argument("--platform", help="platform to pick from a multi-platform index")
    i.add_argument("--format", choices=("text", "json"), default="text")
    i.set_defaults(func=cmd_inspect)
    return parser


def _key_values(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _ports(items: list[str]) -> list[str]:
    out = []
    for item in items:
        port, _, proto = item.partition("/")
        proto = proto or "tcp"
        if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("tcp", "udp", "sctp"):
            raise UsageError(f"invalid --expose {item!r}: expected PORT[/tcp|udp|sctp]")
        out.append(f"{int(port)}/{proto}")
    return out


def cmd_pack(args: argparse.Namespace, console: Console) -> int:
    env = [f"{k}={v}" for k, v in _key_values(args.env, "--env").items()]
    annotations = _key_values(args.annotation, "--annotation")
    if args.source:
        annotations["org.opencontainers.image.source"] = args.source
    if args.revision:
        annotations["org.opencontainers.image.revision"] = args.revision
    options = PackOptions(
        binary=args.binary,
        destination=parse_image_name(args.output),
        entrypoint=parse_command(args.entrypoint, "--entrypoint") if args.entrypoint else None,
        cmd=parse_command(args.cmd, "--cmd") if args.cmd else None,
        user=RunUser.parse(args.user),
        workdir=args.workdir,
        binary_dest=args.binary_path,
        env=env,
        labels=_key_values(args.label, "--label"),
        expose=_ports(args.expose),
        adds=[AddSpec.parse(a) for a in args.add],
        tz=args.tz,
        certs=not args.no_certs,
        ca_bundle=args.ca_bundle,
        zoneinfo=args.zoneinfo,
        platform=Platform.parse(args.platform) if args.platform else None,
        compression=args.compression,
        level=args.compression_level,
        allow_dynamic=args.allow_dynamic,
        strip=args.strip,
        annotations=annotations,
        force=args.force,
    )
    if args.binary_path and not args.binary_path.startswith("/"):
        raise UsageError("--binary-path must be absolute")
    result = pack(options)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_pack(result, console)
    return 0


def _print_pack(result: PackResult, console: Console) -> None:
    stored = "uncompressed" if result.compression == "none" else result.compression
    ess = result.essentials_layer
    app = result.app_layer
    table: list[tuple[str, str]] = []
    table.append(("digest", str(result.digest)))
    table.append(("image id", str(result.config_digest)))
    table.append(("platform", result.platform))
    table.append(
        (
            "size",
            f"{human_size(result.stored_size)} stored ({stored}), "
            f"{human_size(result.uncompressed_size)} uncompressed",
        )
    )
    table.append(
        (
            "binary",
            f"{Path(result.binary).name} ({result.linkage}, {human_size(result.binary_size)}): "
            f"{percent(app.size, result.stored_size)} of the image",
        )
    )
    parts = []
    if result.essentials.ca_bundle:
        parts.append("CA bundle")
    if result.essentials.zones:
        parts.append(f"{result.essentials.zones} zones")
    parts.append("passwd, group, nsswitch.conf, /tmp")
    table.append(
        (
            "essentials",
            f"{human_size(ess.size)} stored, {human_size(ess.uncompressed_size)} uncompressed "
            f"({', '.join(parts)})",
        )
    )
    console.print(f"[green]Packed[/green] {escape(result.destination)}")
    print_fields(console, table)
    if result.daemon_message:
        console.print(result.daemon_message)


def print_fields(console: Console, rows: list[tuple[str, str]]) -> None:
    """Aligned ``key  value`` lines that never truncate (digests must stay copyable)."""
    width = max((len(key) for key, _ in rows), default=0)
    for key, value in rows:
        console.print(f"[bold]{key.ljust(width)}[/bold]  {escape(value)}")


def cmd_inspect(args: argparse.Namespace, console: Console) -> int:
    name = parse_image_name(args.image)
    platform = Platform.parse(args.platform) if args.platform else None
    with open_image(name, platform) as image:
        report = inspect_image(image, str(name))
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    table: list[tuple[str, str]] = []
    for key in ("name", "digest", "config_digest", "media_type", "platform", "created", "user"):
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
    print_fields(console, table)
    layers = Table(title="layers", title_justify="left")
    layers.add_column("#", justify="right")
    layers.add_column("digest")
    layers.add_column("size", justify="right")
    layers.add_column("compression")
    layers.add_column("created by")
    history = [h for h in report["history"] if not h["empty_layer"]]
    for n, layer in enumerate(report["layers"]):
        created_by = history[n]["created_by"] if n < len(history) else ""
        layers.add_row(
            str(n + 1),
            layer["digest"][:19],
            human_size(layer["size"]),
            layer["compression"],
            created_by,
        )
    console.print(layers)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        return int(args.func(args, console))
    except BrokenPipeError:
        return 1
    except ScratchpackError as exc:
        sys.stderr.write(f"scratchpack: error: {exc}\n")
        return exc.exit_code
    except OSError as exc:
        # Environmental failures (disk full, permissions) that escaped a more specific message.
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(f"scratchpack: error: {exc.strerror or exc}{where}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("scratchpack: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
