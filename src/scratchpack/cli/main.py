"""``scratchpack`` entry point."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack import __version__
from scratchpack.cli.format import human_size, key_values, percent
from scratchpack.cli.helptext import Formatter, command_list, examples, platform_option
from scratchpack.cli.options import check_registry_flags, image_name, registry_options
from scratchpack.cli.output import Output

if TYPE_CHECKING:
    from scratchpack.dockerfile.config import LintConfig
    from scratchpack.model.digest import Digest
    from scratchpack.operations.copy import CopyOptions
    from scratchpack.operations.lint import FileReport
    from scratchpack.operations.pack import PackResult
    from scratchpack.signing.carry import Carried
    from scratchpack.transports.registry.transport import RegistryOptions

# Only what building the parser needs is imported here: each command imports its own modules
# (the image model, transports, registry client), so `lint` on one file, run once per file by
# pre-commit and editors, pays for none of them.
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.model.mediatypes import COMPRESSIONS


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in the project's one-line style, exit code 2, and
    lays out help with the one formatter every command uses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"scratchpack: error: {message}\n")
        raise SystemExit(2)


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# Flags whose value is optional, as skopeo's: `--tls-verify`, `--tls-verify=false`, and also
# `--tls-verify false`; a following word that is not a boolean is never taken as the value.
_OPTIONAL_BOOLS = frozenset({"--tls-verify", "--src-tls-verify", "--dest-tls-verify"})


def _bare_booleans(argv: Sequence[str]) -> list[str]:
    """``--tls-verify docker://h/r`` -> ``--tls-verify=true docker://h/r``: argparse's
    optional value (nargs='?') would otherwise swallow the image argument."""
    out = list(argv)
    for n, word in enumerate(out[:-1]):
        if word == "--":
            break
        if word in _OPTIONAL_BOOLS and out[n + 1].strip().lower() not in _TRUE + _FALSE:
            out[n] = f"{word}=true"
    return out


def _tls_flag(group: Any, name: str = "--tls-verify", help: str | None = None) -> None:
    group.add_argument(
        name,
        type=_bool,
        nargs="?",
        const=True,
        default=None if name != "--tls-verify" else True,
        metavar="BOOL",
        help=help
        or "require HTTPS with verified certificates (default true; plain HTTP is "
        "always allowed for localhost and 127.0.0.1); --tls-verify=false or --tls-verify false",
    )


def _registry_flags() -> _Parser:
    """What every command that reads a registry takes (skopeo's names where it has them)."""
    flags = _Parser(add_help=False)
    group = flags.add_argument_group("registry options")
    _tls_flag(group)
    group.add_argument("--creds", metavar="USER:PASS", help="credentials for the registry")
    group.add_argument(
        "--authfile", type=Path, metavar="FILE",
        help="credentials file, as skopeo's and podman's (default: $REGISTRY_AUTH_FILE); "
        "read before Docker's config.json",
    )  # fmt: skip
    group.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up on a registry request that makes no progress for this long (default 60)",
    )
    group.add_argument(
        "--retries",
        type=int,
        default=4,
        metavar="N",
        help="retries of a failed registry request (5xx, 429, resets, timeouts; default 4)",
    )
    return flags


def _jobs_flag() -> _Parser:
    """For the commands that move blobs (pack, copy, build): elsewhere it would do nothing."""
    flags = _Parser(add_help=False)
    flags.add_argument(
        "--jobs", type=int, default=4, metavar="N", help="blobs transferred in parallel (default 4)"
    )
    return flags


def _quiet_flag() -> _Parser:
    """``-q`` means the same in every command that has it: no progress and no human summary
    on stdout; ``--format json`` output and errors (stderr) still come."""
    flags = _Parser(add_help=False)
    flags.add_argument(
        "--quiet", "-q", action="store_true",
        help="no progress and no summary (as skopeo copy -q); --format json still prints, "
        "errors still go to stderr",
    )  # fmt: skip
    return flags


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` = "lint", "copy" or "pack", that command alone:
    pre-commit hooks and editors run one `scratchpack lint FILE` per file, scripts one `copy`
    per image, CI one `pack` per image, and building (and importing the modules of) every
    other command's parser was a large part of their start-up (issue 17)."""
    parser = _Parser(
        prog="scratchpack",
        usage="%(prog)s [-h] [--version] [--debug] COMMAND ...",
        description="Small, secure, reproducible container images without a Docker daemon.",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"scratchpack {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an unexpected error (also SCRATCHPACK_DEBUG=1); may "
        "also follow the command",
    )
    # listed by task in the epilog (helptext.GROUPS) instead of argparse's one flat list
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=_Parser,
        help=argparse.SUPPRESS,
        prog="scratchpack",
    )
    if only is not None:
        sub.required = True
        if only == "lint":
            _add_lint(sub)
        elif only == "pack":
            _add_pack(sub, [_registry_flags(), _jobs_flag(), _quiet_flag()])
        else:
            _add_copy(sub, [_registry_flags(), _jobs_flag(), _quiet_flag()])
        for command in sub.choices.values():  # --debug after the command, as below
            command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                 help=argparse.SUPPRESS)  # fmt: skip
        return parser
    sub.required = True

    from scratchpack.cli import audit, build, completion, inventory, login, signing

    registry_flags = _registry_flags()
    quiet, jobs = _quiet_flag(), _jobs_flag()
    _add_pack(sub, [registry_flags, jobs, quiet])

    i = sub.add_parser(
        "inspect",
        parents=[registry_flags],
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

    _add_copy(sub, [registry_flags, jobs, quiet])

    d = sub.add_parser(
        "digest",
        parents=[registry_flags],
        help="print the manifest digest a reference points at (or, --image-id, the image id)",
        description="Print the manifest digest a reference points at (or the image id).",
        **examples(
            "scratchpack digest docker://127.0.0.1:5000/app:1.0",
            "scratchpack digest oci:./out/hello:latest --image-id",
            "scratchpack digest docker.io/library/debian:bookworm-slim",
            notes="The manifest digest is what a registry and @sha256: pinning use (an "
            "index's, for a multi-platform image), as `skopeo inspect --format '{{.Digest}}'` "
            "prints it; the image id is the config digest `docker images` shows.",
        ),
    )
    d.add_argument(
        "image", metavar="IMAGE", help="docker://HOST/REPO:TAG (or HOST/REPO:TAG), oci:DIR:TAG ..."
    )
    d.add_argument(
        "--image-id",
        action="store_true",
        help="print the image id (config digest) instead of the manifest digest",
    )
    d.add_argument(
        "--platform", metavar="OS/ARCH[/VARIANT]",
        help="with --image-id: the platform to pick from an index",
    )  # fmt: skip
    d.set_defaults(func=cmd_digest)

    t = sub.add_parser(
        "tags",
        parents=[registry_flags],
        help="list a repository's tags",
        description="List a repository's tags (or an OCI layout's).",
        **examples(
            "scratchpack tags docker://127.0.0.1:5000/app",
            "scratchpack tags oci:./out/hello --format json",
        ),
    )
    t.add_argument(
        "repository", metavar="REPOSITORY", help="docker://HOST/REPO (or HOST/REPO), or oci:DIR"
    )
    t.add_argument("--format", choices=("text", "json"), default="text")
    t.set_defaults(func=cmd_tags)

    _add_lint(sub)

    it = sub.add_parser(
        "init",
        help="write the Dockerfile, .dockerignore and compose.yaml a project should have",
        description="Write the Dockerfile, .dockerignore and compose.yaml a project should have.",
        **examples(
            "scratchpack init",
            "scratchpack init ./service --lang go --runtime distroless --stdout",
            "scratchpack init --registry 127.0.0.1:5000 --no-pin",
            "scratchpack init ./api --runtime minimal --test 'python3 -m pytest -q'",
            notes="Detects the project in DIR and writes a multi-stage Dockerfile (build, "
            "essentials, debug, production FROM scratch or distroless), a .dockerignore and a "
            "hardened compose.yaml (and pack.sh with --runtime minimal). Base images are "
            "pinned by digest when their registry answers.",
        ),
    )
    it.add_argument(
        "directory", nargs="?", type=Path, default=Path(), metavar="DIR",
        help="the project (default: the current directory)",
    )  # fmt: skip
    it.add_argument("--lang", choices=("go", "rust", "c", "python", "node"),
                    help="the language, when detection is ambiguous")  # fmt: skip
    it.add_argument(
        "--runtime",
        choices=("scratch", "distroless", "alpine", "debian-slim", "minimal"),
        help="production base (default: scratch for Go/Rust/C, distroless for Python/Node; "
        "minimal: Python/Node on scratchpack's own runtime, made by the pack.sh it writes)",
    )
    it.add_argument("--rust-static", choices=("musl", "gnu"), default="musl",
                    help="Rust: musl target (default) or a static glibc build")  # fmt: skip
    linking = it.add_mutually_exclusive_group()
    linking.add_argument(
        "--dynamic", dest="link", action="store_const", const="dynamic", default="auto",
        help="C/C++, Rust: link against glibc and ship the ELF closure (loader, libraries, NSS "
        "modules) on scratch (default for C whose sources call getaddrinfo, getpwnam...)",
    )  # fmt: skip
    linking.add_argument("--static", dest="link", action="store_const", const="static",
                         help="C/C++: link statically even when the sources call NSS")  # fmt: skip
    it.add_argument("--jemalloc", action="store_true",
                    help="Rust: tikv-jemallocator as the allocator (musl's is slow)")  # fmt: skip
    it.add_argument("--linker", choices=("lld", "mold"),
                    help="Rust: link with lld or mold when the builder has it")  # fmt: skip
    it.add_argument("--locale", metavar="NAME",
                    help="a dynamic build: this locale's data in the image, and LANG "
                    "(C.UTF-8, en_US.UTF-8...)")  # fmt: skip
    it.add_argument(
        "--test", metavar="CMD",
        help="Python/Node: the app's tests, run in the build (default: pytest when there are "
        "tests, npm test when package.json has a test script)",
    )  # fmt: skip
    it.add_argument(
        "--platform", default="linux/amd64", metavar="OS/ARCH", help="linux/amd64 or linux/arm64"
    )
    it.add_argument(
        "--port", type=int, metavar="PORT", help="the port to EXPOSE (default: from the sources)"
    )
    it.add_argument("--buildkit", action="store_true",
                    help="declare the BuildKit syntax and use cache mounts")  # fmt: skip
    it.add_argument("--registry", metavar="HOST[:PORT]",
                    help="take base images from this mirror (HOST/library/golang:...)")  # fmt: skip
    it.add_argument("--no-pin", action="store_true", help="do not look up digests (no network)")
    it.add_argument("--stdout", action="store_true", help="print the files instead of writing")
    it.add_argument("--force", action="store_true", help="overwrite existing files")
    _tls_flag(
        it, help="for digest lookups: require verified HTTPS (default true; loopback may use "
        "HTTP)",
    )  # fmt: skip
    it.add_argument("--creds", metavar="USER:PASS", help="for digest lookups")
    it.add_argument(
        "--authfile", type=Path, metavar="FILE",
        help="for digest lookups: credentials file (default: $REGISTRY_AUTH_FILE)",
    )  # fmt: skip
    it.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                    help="for digest lookups: give up on a registry after this long")  # fmt: skip
    it.add_argument("--format", choices=("text", "json"), default="text")
    it.set_defaults(func=cmd_init)

    audit.add_parser(sub, [registry_flags, quiet])
    build.add_parser(sub, [registry_flags, jobs, quiet])
    inventory.add_parsers(sub, [registry_flags, quiet])
    from scratchpack.cli import scan

    scan.add_parsers(sub, [registry_flags, quiet])

    login.add_parsers(sub, _tls_flag)
    signing.add_parsers(sub, [registry_flags, quiet])
    completion.add_parser(sub)
    parser.epilog = command_list(sub.choices)
    for command in set(sub.choices.values()):
        # --debug after the command too; SUPPRESS: when absent there, the global one stays
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _icu_locales(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    from scratchpack.operations.pack.icudata import parse_languages

    return parse_languages(text)


def _ports(items: list[str]) -> list[str]:
    out = []
    for item in items:
        port, _, proto = item.partition("/")
        proto = proto or "tcp"
        if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("tcp", "udp", "sctp"):
            raise UsageError(f"invalid --expose {item!r}: expected PORT[/tcp|udp|sctp]")
        out.append(f"{int(port)}/{proto}")
    return out


def cmd_pack(args: argparse.Namespace, out: Output) -> int:
    # Imported here: pyelftools and the layer writer are only needed to pack.
    import dataclasses

    from scratchpack.cli.probe import probe_spec, show_failure
    from scratchpack.cli.signing import attach_after_write, build_signing, print_attached
    from scratchpack.layers.compress import check_level
    from scratchpack.model.descriptor import Platform
    from scratchpack.operations.essentials import RunUser
    from scratchpack.operations.pack import (
        AddSpec,
        PackOptions,
        PythonOptions,
        pack,
        parse_command,
    )
    from scratchpack.transports.names import RegistryName, parse_image_name

    check_level(args.compression or "gzip", args.compression_level)
    destination = parse_image_name(args.output)
    from_image = image_name(args.from_image) if args.from_image else None
    base = image_name(args.base) if args.base else None
    # The registry client's options (and modules) only for a registry on either side or for
    # signing, which may push: a pack to a local destination imports none of it (issue 17).
    remote = any(isinstance(n, RegistryName) for n in (destination, from_image, base))
    if remote or args.sign is not None or args.sbom or args.provenance:
        registry = registry_options(args)
    else:
        check_registry_flags(args)
        registry = None
    test = None
    if args.test:
        from scratchpack.operations.probe import ProbeSpec

        test = ProbeSpec(parse_command(args.test, "--test"), None, args.check_timeout)
    env = [f"{k}={v}" for k, v in key_values(args.env, "--env").items()]
    annotations = key_values(args.annotation, "--annotation")
    if args.source:
        annotations["org.opencontainers.image.source"] = args.source
    if args.revision:
        annotations["org.opencontainers.image.revision"] = args.revision
    options = PackOptions(
        binary=args.binary,
        destination=destination,
        entrypoint=parse_command(args.entrypoint, "--entrypoint") if args.entrypoint else None,
        cmd=parse_command(args.cmd, "--cmd") if args.cmd else None,
        user=RunUser.parse(args.user),
        workdir=args.workdir,
        binary_dest=args.binary_path,
        env=env,
        labels=key_values(args.label, "--label"),
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
        root=args.root or Path("/"),
        from_image=from_image,
        add_libs=args.add_lib,
        gconv=args.gconv,
        locales=args.locale,
        strip=args.strip,
        annotations=annotations,
        force=args.force,
        registry=registry,
        base=base,
        check=probe_spec(args),
        kind=args.kind,
        test=test,
        allow_scripts=args.allow_scripts,
        icu_locales=_icu_locales(args.icu_locales),
    )
    if args.binary_path and not args.binary_path.startswith("/"):
        raise UsageError("--binary-path must be absolute")
    if args.from_image and args.root is not None:
        raise UsageError("--from and --root exclude each other: the libraries come from one")
    python = PythonOptions(
        keep_modules=tuple(args.keep_module),
        no_sources=args.no_sources,
        trace=args.trace,
    )
    if (python.keep_modules or python.no_sources or python.trace) and not args.binary.is_dir():
        raise UsageError("--keep-module, --no-sources and --trace go with a Python project")
    signing = build_signing(args, options.destination)
    if signing is not None and signing.provenance:
        options = dataclasses.replace(options, record_inputs=True)
    try:
        result = pack(options, python)
    except ScratchpackError as exc:
        if options.check is not None or options.test is not None:
            from scratchpack.operations.probe import ProbeFailed  # only a probe raises it

            if isinstance(exc, ProbeFailed):
                show_failure(exc)
        raise
    attached = None
    if signing is not None:
        assert options.registry is not None
        inputs = list(result.inputs)
        attached = attach_after_write(args, signing, "pack", options.destination,
                                      result.digest, options.registry, inputs)  # fmt: skip
    if args.digestfile:
        _write_digest(args.digestfile, str(result.digest))
    if args.format == "json":
        print(json.dumps({**result.to_json(), **({"signing": attached} if attached else {})},
                         indent=2))  # fmt: skip
    elif not args.quiet:
        _print_pack(result, out)
        if attached:
            print_attached(out, attached)
        if result.check is not None:
            out.status("Checked", result.check.summary())
    return 0


def _write_digest(path: Path, digest: str) -> None:
    """``--digestfile``: the manifest digest alone, no newline, as skopeo writes it; atomic,
    so a script waiting for the file never reads half of it."""
    from scratchpack.fsutil import atomic_write

    atomic_write(path, digest.encode())


def _print_pack(result: PackResult, out: Output) -> None:
    stored = "uncompressed" if result.compression == "none" else result.compression
    ess = result.essentials_layer
    app = result.app_layer
    table: list[tuple[str, str]] = []
    table.append(("manifest digest", str(result.digest)))
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
    if result.app is not None and "python" in result.app:
        info = result.app
        table.append(("python", f"{info['python']}, {len(info['stdlib_modules'])} of "
                      f"{info['stdlib_available']} standard library modules kept"))  # fmt: skip
        table.append(("packages", ", ".join(f"{n} {v}" for n, v in info["packages"].items())))
        table.append(("entrypoint", " ".join(info["entrypoint"])))
        if info["tested"]:
            table.append(("tested", f"{info['tested']}: passed inside the image"))
    if result.libraries is not None:
        libs = result.libraries
        layer = result.layers[1]
        note = f"; not in the root: {', '.join(libs.unavailable)}" if libs.unavailable else ""
        if libs.gconv_modules:
            note += f"; {libs.gconv_modules} gconv modules"
        if libs.locales:
            note += f"; locales {', '.join(libs.locales)}"
        table.append(
            (
                "libraries",
                f"{len(libs.libraries)} from {libs.root} ({libs.files} files, "
                f"{human_size(layer.uncompressed_size)}), loader {libs.loader}{note}",
            )
        )
    if result.base:
        base = result.essentials_layer  # the base's layers, summed
        table.append(
            (
                "base",
                f"{result.base}: {human_size(base.size)} stored, {base.files} files, kept as is",
            )
        )
        _packages_row(result, table)
        out.status("Packed", result.destination)
        out.fields(table)
        if result.daemon_message:
            out.line(result.daemon_message)
        return
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
    _packages_row(result, table)
    out.status("Packed", result.destination)
    out.fields(table)
    if result.daemon_message:
        out.line(result.daemon_message)


def _packages_row(result: PackResult, table: list[tuple[str, str]]) -> None:
    if result.essentials.packages:
        recorded = ", ".join(f"{n} {v}" for n, v in result.essentials.packages.items())
        table.append(("packages", f"{recorded} (from the host's dpkg, in status.d)"))


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


def cmd_copy(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.signing import attach_after_write, build_signing, print_attached
    from scratchpack.model.descriptor import Platform
    from scratchpack.operations.copy import CopyOptions, copy
    from scratchpack.transports.names import parse_image_name

    source, destination = parse_image_name(args.source), parse_image_name(args.destination)
    if args.with_signatures:
        from scratchpack.signing import carry

        carry.check(source, destination)
    if args.sbom and args.all:
        raise UsageError("--sbom describes one image: copy one platform (--platform), not --all")
    signing = build_signing(args, destination)
    options = registry_options(args, args.dest_tls_verify, args.dest_creds)
    # one side's flags must not reach the other: its own options (and clients) then
    sided = (args.src_creds, args.dest_creds, args.src_tls_verify, args.dest_tls_verify)
    source_options = None
    if any(flag is not None for flag in sided):
        source_options = registry_options(args, args.src_tls_verify, args.src_creds)
    copy_options = CopyOptions(
        source=source,
        destination=destination,
        all_platforms=args.all,
        platform=Platform.parse(args.platform) if args.platform else None,
        force=args.force,
        registry=options,
        source_registry=source_options,
    )
    carried = None
    attached = None
    try:
        result = copy(copy_options)
        if args.with_signatures:
            carried = _carry_signatures(copy_options, result.digest, result.preserved)
        if signing is not None:  # after the carried ones: this signature is added to them
            attached = attach_after_write(args, signing, "copy", destination, result.digest,
                                          options, _copy_inputs(result))  # fmt: skip
    finally:
        options.close()
        if source_options is not None:
            source_options.close()
    if args.digestfile:
        _write_digest(args.digestfile, str(result.digest))
    if args.format == "json":
        print(json.dumps({
            "source": result.source,
            "destination": result.destination,
            "manifest_digest": str(result.digest),
            "image_id": str(result.image_id) if result.image_id else None,
            "digest": str(result.digest),  # the name before manifest_digest
            "media_type": result.media_type,
            "manifests": result.manifests,
            "digest_preserved": result.preserved,
            "blobs": result.outcomes,
            **({"signatures": {"tags": carried.tags,
                               "referrers": [str(d) for d in carried.referrers]}}
               if carried is not None else {}),
            **({"signing": attached} if attached else {}),
        }, indent=2))  # fmt: skip
        return 0
    if args.quiet:
        return 0
    blobs = ", ".join(f"{n} {k}" for k, n in sorted(result.outcomes.items())) or "none"
    out.status("Copied", f"{result.source} -> {result.destination}")
    out.fields(
        [
            ("manifest digest", str(result.digest) + ("" if result.preserved else " (converted)")),
            *([("image id", str(result.image_id))] if result.image_id else []),
            ("manifests", str(result.manifests)),
            ("blobs", blobs),
            *(
                [("signatures", f"{len(carried.tags)} tags, {len(carried.referrers)} referrers")]
                if carried is not None
                else []
            ),
        ],
    )
    if attached:
        print_attached(out, attached)
    return 0


def _carry_signatures(options: CopyOptions, digest: Digest, preserved: bool) -> Carried:
    from scratchpack.signing import carry

    if not preserved:
        raise ScratchpackError(
            f"{options.destination}: the image was copied, but its manifest was converted "
            f"(digest {digest}), so no signature of the source's digest applies to it: "
            "signatures not copied"
        )
    return carry.carry(
        options.source, options.destination, digest, options.reading(), options.registry
    )


def _copy_inputs(result: Any) -> list[Any]:
    """The source of a copy: by its manifest digest when the copy kept it (the same bytes),
    else by name alone (an archive or the daemon has no manifest digest of its own)."""
    from scratchpack.operations.provenance import Input, image_input

    if result.preserved:
        return [image_input(result.source, result.digest)]
    return [Input(result.source, uri=result.source)]


def cmd_digest(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.model.descriptor import Platform
    from scratchpack.operations.digest import registry_digest
    from scratchpack.transports import oci_layout
    from scratchpack.transports.dispatch import open_image
    from scratchpack.transports.names import OciName, RegistryName

    name = image_name(args.image)
    options = registry_options(args)
    platform = Platform.parse(args.platform) if args.platform else None
    if platform and not args.image_id:
        raise UsageError("--platform goes with --image-id: the manifest digest is the index's")
    try:
        if args.image_id:
            with open_image(name, platform, options) as image:
                digest = image.image_id
        elif isinstance(name, RegistryName):
            digest = registry_digest(name.reference, options)
        elif isinstance(name, OciName):
            entry = oci_layout.find_entry(name.directory, name.tag)
            # The digest is only as good as the blob behind it: a tag whose manifest is
            # missing or altered names no image, whatever index.json says.
            oci_layout.LayoutBlobs(name.directory).read_bytes(entry)
            digest = entry.digest
        else:
            with open_image(name) as image:
                digest = image.manifest_digest  # made up as skopeo does: no stored manifest
    finally:
        options.close()
    print(digest)
    return 0


def cmd_tags(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.transports import oci_layout
    from scratchpack.transports.names import OciName, RegistryName
    from scratchpack.transports.registry.transport import repository

    name = image_name(args.repository)
    options = registry_options(args)
    try:
        if isinstance(name, RegistryName):
            tags = repository(name.reference, options).tags()
        elif isinstance(name, OciName):
            tags = oci_layout.list_tags(name.directory)
        else:
            raise UsageError("tags works on docker:// repositories and oci: layouts")
    finally:
        options.close()
    if args.format == "json":
        print(json.dumps(tags))
    else:
        for tag in tags:
            print(tag)
    return 0


def _add_copy(sub: Any, parents: list[_Parser]) -> None:
    """The copy command's parser: also built alone, for `scratchpack copy` (build_parser). A
    no-op re-push is a fraction of a second in all, and building every command's parser (and
    importing the modules that add them) was about a fifth of it (issue 17)."""
    from scratchpack.cli.signing import add_build_flags

    c = sub.add_parser(
        "copy",
        parents=parents,
        help="copy an image between any two transports",
        description="Copy an image between any two transports.",
        **examples(
            "scratchpack copy oci:./out/hello:latest docker://127.0.0.1:5000/hello:1.0",
            "scratchpack copy docker://ghcr.io/me/app:1.0 docker://10.0.0.5:5000/app:1.0 "
            '--src-creds "me:$TOKEN" --dest-tls-verify=false --digestfile app.digest',
            "scratchpack copy --all docker://127.0.0.1:5000/app:1.0 oci:./mirror:app",
            "scratchpack copy --with-signatures docker://127.0.0.1:5000/app:1.0 oci:./out/app:1.0",
            notes="Transports: oci:, docker-archive:, docker-daemon:, containers-storage: "
            "(source only) and docker://. Between oci: and docker:// the manifest digest is "
            "preserved. The --src-* and --dest-* flags, as skopeo's, apply to one side and "
            "override --creds and --tls-verify there.",
        ),
    )
    c.add_argument("source", metavar="SOURCE", help="the image to copy (any transport)")
    c.add_argument("destination", metavar="DEST", help="where to write it")
    c.add_argument("--all", action="store_true", help="copy every platform of an index")
    c.add_argument(
        "--platform", metavar="OS/ARCH[/VARIANT]",
        help="platform to pick from an index (default: this host's); one the image lacks is "
        "an error",
    )  # fmt: skip
    c.add_argument("--force", action="store_true", help="replace an existing oci:/archive output")
    c.add_argument(
        "--digestfile", type=Path, metavar="FILE",
        help="write the manifest digest of the copy to FILE, as skopeo copy --digestfile",
    )  # fmt: skip
    sides = c.add_argument_group("source and destination (skopeo's names)")
    sides.add_argument("--src-creds", metavar="USER:PASS", help="credentials for the source")
    sides.add_argument("--dest-creds", metavar="USER:PASS", help="credentials for the destination")
    _tls_flag(sides, "--src-tls-verify", "verified HTTPS for the source (default: --tls-verify)")
    _tls_flag(
        sides, "--dest-tls-verify", "verified HTTPS for the destination (default: --tls-verify)"
    )
    c.add_argument(
        "--with-signatures", action="store_true",
        help="also copy the image's cosign .sig/.att tags and its OCI 1.1 referrers "
        "(signature bundles, attestations); docker:// and oci: only",
    )  # fmt: skip
    c.add_argument("--format", choices=("text", "json"), default="text")
    add_build_flags(c)
    c.set_defaults(func=cmd_copy)


def _add_pack(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pack",
        parents=parents,
        help="pack a binary or a Python project into a FROM-scratch image",
        description="Pack a binary into a FROM-scratch image: a static one alone, a dynamic one "
        "with its loader and shared libraries; or a Python project's directory, with a "
        "minimal CPython and its wheels.",
        **examples(
            "scratchpack pack ./hello -o oci:./out/hello:latest",
            "scratchpack pack ./server -o docker://127.0.0.1:5000/app:1.0 --expose 8080 "
            "--sign cosign.key --sbom --provenance",
            "scratchpack pack ./flask-app -o oci:./out/app:1 --test 'python3 -m pytest -q tests'",
            "scratchpack pack ./app --base oci:./out/cc:latest -o docker-daemon:app:dev "
            "--check '[\"--version\"]'",
            notes="Adds the run-time essentials (CA certificates, zoneinfo, passwd/group, "
            "nsswitch.conf, /tmp) and runs as nonroot (65532) unless --user says otherwise. "
            "A dynamic binary also gets a layer with its loader, its DT_NEEDED closure and what "
            "glibc loads at run time (NSS modules, libgcc_s), found in --root (or --from an "
            "image) as ld.so finds them.",
        ),
    )
    p.add_argument(
        "binary", type=Path, metavar="BINARY|DIR",
        help="the ELF binary to pack, or a project directory: a Node app (package.json + lock) "
        "or a Python one (pyproject.toml, requirements.txt or setup.py)",
    )  # fmt: skip
    p.add_argument(
        "--kind", choices=("binary", "python", "node"),
        help="what BINARY|DIR is, when its files do not say (a directory with both package.json "
        "and pyproject.toml)",
    )  # fmt: skip
    p.add_argument(
        "--test", metavar="JSON|WORDS",
        help="a project's tests, run in a test variant of the image (the image plus its test "
        "files; for Python, pytest and the project at /src) under podman, read-only, no "
        "network, as the run user, e.g. 'node --test test/' or 'python3 -m pytest -q tests'; "
        "nothing is written if they fail",
    )  # fmt: skip
    p.add_argument(
        "--allow-scripts", action="store_true",
        help="let npm run the dependencies' install scripts (off: they are code from every "
        "dependency, run on this machine)",
    )  # fmt: skip
    p.add_argument(
        "--icu-locales", metavar="LANGS",
        help="Node project, opt-in: keep ICU's locale data for these languages only (e.g. "
        "en,de; en is always kept), about 18 MB less uncompressed; Intl in other languages "
        "then falls back to en-US",
    )  # fmt: skip
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DEST",
        help="oci:DIR[:TAG], docker-archive:FILE[:NAME[:TAG]], docker-daemon:NAME[:TAG] "
        "or docker://HOST/REPO[:TAG]",
    )
    p.add_argument(
        "--entrypoint",
        metavar="JSON|WORDS",
        help='exec form as JSON (\'["/app","-v"]\') or words; for a Python project '
        "MODULE:FUNC, a console script's name or '-m MODULE'",
    )
    p.add_argument("--cmd", metavar="JSON|WORDS", help="default arguments, JSON array or words")
    p.add_argument(
        "--user",
        default="nonroot:65532:65532",
        metavar="NAME:UID[:GID]",
        help="run user (default nonroot:65532:65532; say 'root' to run as root)",
    )
    p.add_argument("--workdir", metavar="DIR", help="working directory (default the user's home)")
    p.add_argument(
        "--binary-path", metavar="PATH", help="where the binary goes (default /usr/local/bin/NAME)"
    )
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="repeatable")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="repeatable")
    p.add_argument(
        "--annotation", action="append", default=[], metavar="K=V", help="manifest annotation"
    )
    p.add_argument("--source", metavar="URL", help="org.opencontainers.image.source annotation")
    p.add_argument("--revision", metavar="REV", help="org.opencontainers.image.revision annotation")
    p.add_argument(
        "--expose", action="append", default=[], metavar="PORT[/PROTO]", help="repeatable"
    )
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
    p.add_argument(
        "--ca-bundle",
        type=Path,
        default=Path("/etc/ssl/certs/ca-certificates.crt"),
        help=argparse.SUPPRESS,
    )
    p.add_argument(
        "--zoneinfo", type=Path, default=Path("/usr/share/zoneinfo"), help=argparse.SUPPRESS
    )
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="must match the binary")
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        help="layer compression for oci: (default gzip; archives are always uncompressed)",
    )
    p.add_argument("--compression-level", type=int, metavar="N", help="gzip 1-9, zstd 1-19")
    p.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="where a dynamic binary's loader and libraries come from (default /: this "
        "machine; or a sysroot)",
    )
    p.add_argument(
        "--from",
        dest="from_image",
        metavar="IMAGE",
        help="take a dynamic binary's loader, libraries and package records from this image "
        "(e.g. the builder image, any transport; --platform is the binary's), unpacked safely "
        "in a scratch directory removed afterwards; excludes --root",
    )
    p.add_argument(
        "--add-lib",
        action="append",
        default=[],
        metavar="SONAME",
        help="a library the binary loads with dlopen (e.g. a plugin), with its own needs; "
        "repeatable",
    )
    p.add_argument(
        "--gconv",
        default="auto",
        metavar="auto|all|none|CHARSET,...",
        help="iconv's conversion modules for a dynamic glibc binary (default auto: all of "
        "them when the program or a library calls iconv; or only these charsets)",
    )
    p.add_argument(
        "--locale",
        action="append",
        default=[],
        metavar="NAME",
        help="a locale's data from the root's /usr/lib/locale (e.g. de_DE.UTF-8); the first "
        "one sets LANG unless --env does; repeatable",
    )
    p.add_argument(
        "--allow-dynamic",
        action="store_true",
        help="put a dynamic binary in alone, without its loader and libraries (it starts only "
        "if --add supplies them)",
    )
    p.add_argument("--strip", action="store_true", help="strip symbols with strip(1) first")
    p.add_argument(
        "--base",
        metavar="IMAGE",
        help="put the binary on this image instead of scratch (e.g. a `scratchpack build` "
        "preset); a dynamic binary's libraries are checked in it first",
    )
    p.add_argument(
        "--keep-module", action="append", default=[], metavar="NAME",
        help="Python project: a standard library module to keep that no import names "
        "(imported by a computed name); repeatable",
    )  # fmt: skip
    p.add_argument(
        "--no-sources", action="store_true",
        help="Python project: .pyc files only (smaller; tracebacks lose their source lines)",
    )  # fmt: skip
    p.add_argument(
        "--trace", action="store_true",
        help="with --test: a first run with the whole standard library, keeping every module "
        "it imports (dynamic imports the import graph cannot see)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument(
        "--digestfile", type=Path, metavar="FILE",
        help="write the manifest digest to FILE (as skopeo copy --digestfile)",
    )  # fmt: skip
    p.add_argument("--format", choices=("text", "json"), default="text")
    from scratchpack.cli import signing

    signing.add_build_flags(p)
    from scratchpack.cli.probe import add_check_flags  # not on lint's path (issue 17)

    add_check_flags(p, "before the output is written (nothing is written if it fails)")
    p.set_defaults(func=cmd_pack)


def _add_lint(sub: Any) -> None:
    """The lint command's parser: also built alone, for `scratchpack lint` (build_parser)."""
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
    li.add_argument("--verbose", action="store_true", help="print notes (e.g. ShellCheck missing)")
    li.add_argument(
        "--daemon", choices=("start", "stop", "status"),
        help="a resident lint server for this user, which later lint commands (but --fix) go "
        "through when their output is not a terminal: one file per process in a few ms "
        "(SCRATCHPACK_LINT_SERVER=0: never use it)",
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
    _tls_flag(
        fixing, help="for digest lookups: require verified HTTPS (default true; loopback may "
        "use HTTP)",
    )  # fmt: skip
    fixing.add_argument("--creds", metavar="USER:PASS", help="for digest lookups")
    fixing.add_argument(
        "--authfile", type=Path, metavar="FILE",
        help="for digest lookups: credentials file (default: $REGISTRY_AUTH_FILE)",
    )  # fmt: skip
    fixing.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS",
        help="for digest lookups: give up on a registry after this long (default 10)",
    )  # fmt: skip
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
    if args.fix or args.diff:
        reports, changed = _lint_fix(args, files, ignore, config)
        if args.diff:
            for report in reports:
                if report.error:
                    sys.stderr.write(f"scratchpack: error: {report.error}\n")
            _print_notices(reports, args.verbose)  # ShellCheck failing is said here too
            return 2 if any(r.error for r in reports) else int(changed)
    else:
        reports = _lint_all(files, ignore, config)
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

    resolve, options = _digest_resolver(args)
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


def _digest_resolver(
    args: argparse.Namespace,
) -> tuple[Callable[[str], str] | None, RegistryOptions | None]:
    if args.no_pin:
        return None, None
    from scratchpack.model.reference import Reference
    from scratchpack.operations.digest import registry_digest
    from scratchpack.transports.registry.auth import Credentials
    from scratchpack.transports.registry.transport import RegistryOptions

    if not args.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    creds = Credentials.parse(args.creds) if args.creds else None
    options = RegistryOptions(
        tls_verify=args.tls_verify,
        credentials=creds,
        timeout=args.timeout,
        retries=1,
        auth_file=args.authfile,
    )

    def resolve(base: str) -> str:
        return str(registry_digest(Reference.parse(base), options))

    return resolve, options


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.dockerfile.generate import Options
    from scratchpack.model.descriptor import Platform
    from scratchpack.operations.init import init, write

    platform = Platform.parse(args.platform)
    if platform.os != "linux":
        raise UsageError(f"--platform {args.platform}: only linux images")
    options = Options(
        runtime=args.runtime,
        rust_static=args.rust_static,
        arch=platform.architecture,
        buildkit=args.buildkit,
        port=args.port,
        link=args.link,
        jemalloc=args.jemalloc,
        linker=args.linker,
        test=args.test,
        locale=args.locale,
    )
    resolve, registry_options = _digest_resolver(args)
    try:
        result = init(args.directory, args.lang, options, resolve, args.registry)
    finally:
        if registry_options is not None:
            registry_options.close()
    for notice in result.notices:
        sys.stderr.write(f"scratchpack: notice: {notice}\n")
    if args.stdout:
        for name, content in result.files.items():
            print(f"# ---- {name} ----")
            sys.stdout.write(content)
        return 0
    write(result, args.directory, args.force)
    if args.format == "json":
        print(json.dumps({
            "language": result.project.language,
            "name": result.project.name,
            "runtime": result.runtime,
            "port": args.port or result.project.port,
            "files": [str(p) for p in result.written],
            "images": {i.arg: {"reference": i.reference, "digest": i.digest}
                       for i in result.images},
            "notices": result.notices,
        }, indent=2))  # fmt: skip
        return 0
    out.line(
        f"{result.project.name}: {result.project.language}, production on {result.runtime}",
        "bold",
    )
    for path in result.written:
        out.line(f"  wrote {path}")
    for image in result.images:
        state = image.digest or "NOT PINNED"
        out.line(f"  {image.arg}={image.reference} ({state})")
    return 0


_INPUT_ARGUMENTS = ("image", "source", "images", "binary", "files", "directory", "repository")


def _subject(args: argparse.Namespace) -> str:
    """The command and what it was given, to name the input an unexpected error came from."""
    for name in _INPUT_ARGUMENTS:
        value = getattr(args, name, None)
        if value:
            shown = " ".join(map(str, value)) if isinstance(value, list) else str(value)
            return f"{args.command} {shown}"
    return str(args.command)


def _unexpected(exc: Exception) -> str:
    detail = " ".join(str(exc).split())
    if len(detail) > 200:
        detail = detail[:197] + "..."
    kind = type(exc).__name__
    if isinstance(exc, MemoryError):
        return f"ran out of memory ({kind})"
    return f"unexpected {kind}: {detail}" if detail else f"unexpected {kind}"


def _debugging(args: argparse.Namespace) -> bool:
    env = os.environ.get("SCRATCHPACK_DEBUG", "").strip().lower()
    return bool(getattr(args, "debug", False)) or env in ("1", "true", "yes")


def _print_traceback() -> None:
    import traceback  # only with --debug: not part of every command's start-up

    traceback.print_exc()


@lru_cache(maxsize=1)
def _lint_parser() -> argparse.ArgumentParser:
    """Built once per process: the lint server (cli/lintserver.py) answers many requests in
    one process, and building the parser again for each cost about 10 ms of its ~30."""
    return build_parser("lint")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. This is the boundary: whatever escapes a command ends as one line on
    stderr and an exit code, and a traceback only when --debug asks for one."""
    words = sys.argv[1:] if argv is None else list(argv)
    completing = "_ARGCOMPLETE" in os.environ  # the shell asks for completions
    lint = words[:1] == ["lint"] and not completing  # lint shows no progress either
    # a command named first needs only its own parser (`--help` alone shows every command):
    # the other commands' parsers and the modules they import were a tenth of a 5 MB static
    # pack and a fifth of a no-op re-push (issue 17)
    alone = words[0] if words[:1] in (["lint"], ["copy"], ["pack"]) and not completing else None
    parser = _lint_parser() if alone == "lint" else build_parser(alone)
    if completing:  # argcomplete only then
        from scratchpack.cli.completion import autocomplete

        autocomplete(parser)
    args = parser.parse_args(_bare_booleans(words))
    debug = _debugging(args)
    out = Output()
    if lint or getattr(args, "quiet", False):  # nothing to render: no renderer to import
        from contextlib import nullcontext as reporting
    else:
        from scratchpack.cli.progress import reporting  # type: ignore[assignment]

    try:
        # inside the try: the bars stop before an error line is written
        with reporting(bool(getattr(args, "quiet", False))):
            return int(args.func(args, out))
    except BrokenPipeError:
        return 1  # the reader went away (`| head`): nothing to say
    except KeyboardInterrupt:
        sys.stderr.write("scratchpack: interrupted\n")
        return 130
    except ScratchpackError as exc:
        if debug:
            _print_traceback()
        sys.stderr.write(f"scratchpack: error: {exc}\n")
        return exc.exit_code
    except OSError as exc:
        # Environmental failures (disk full, permissions) that escaped a more specific message.
        if debug:
            _print_traceback()
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(f"scratchpack: error: {exc.strerror or exc}{where}\n")
        return 1
    except Exception as exc:
        # A bug, or memory or recursion exhausted: still one line, naming the input.
        if debug:
            _print_traceback()
        hint = "" if debug else " (run with --debug for the traceback)"
        sys.stderr.write(f"scratchpack: error: {_subject(args)}: {_unexpected(exc)}{hint}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
