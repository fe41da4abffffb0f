"""``scratchpack pack``: its parser, and the handler that turns the arguments into
PackOptions, calls operations/pack and prints the result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.cli.buildflags import add_build_flags, wants_signing
from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.format import human_size, key_values, percent
from scratchpack.cli.helptext import examples
from scratchpack.cli.options import check_registry_flags, image_name, registry_options
from scratchpack.cli.output import Output, check_digestfile, write_digest
from scratchpack.cli.probe import add_check_flags
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.model.mediatypes import COMPRESSIONS

if TYPE_CHECKING:
    from scratchpack.operations.pack import PackResult


def add_parser(sub: Any, flags: SharedFlags) -> None:
    p = sub.add_parser(
        "pack",
        parents=[flags.registry, flags.jobs, flags.quiet],
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
    add_build_flags(p)
    add_check_flags(p, "before the output is written (nothing is written if it fails)")
    p.set_defaults(func=cmd_pack)


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
    check_digestfile(args.digestfile)
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
    signing = None
    if wants_signing(args):  # the signing commands' module only then (issue 17)
        from scratchpack.cli.signing import build_signing

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
        from scratchpack.cli.signing import attach_after_write

        attached = attach_after_write(args, signing, "pack", options.destination,
                                      result.digest, options.registry, inputs)  # fmt: skip
    if args.digestfile:
        write_digest(args.digestfile, str(result.digest))
    if args.format == "json":
        print(json.dumps({**result.to_json(), **({"signing": attached} if attached else {})},
                         indent=2))  # fmt: skip
    elif not args.quiet:
        _print_pack(result, out)
        if attached:
            from scratchpack.cli.signing import print_attached

            print_attached(out, attached)
        if result.check is not None:
            out.status("Checked", result.check.summary())
    return 0


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
