"""``scratchpack build``: parse, call operations/build, print."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from scratchpack.cli.buildflags import add_build_flags
from scratchpack.cli.flags import SharedFlags
from scratchpack.cli.format import human_size
from scratchpack.cli.helptext import examples
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError


def add_parser(sub: Any, flags: SharedFlags) -> None:
    b = sub.add_parser(
        "build",
        parents=[flags.registry, flags.jobs, flags.quiet],
        help="build a distroless-style image from Debian packages",
        description="Build a distroless-style image from Debian packages.",
        **examples(
            "scratchpack build --preset cc -o oci:./out/cc:latest",
            "scratchpack build image.toml --locked -q",
            "scratchpack build --preset python3:debug -o docker://127.0.0.1:5000/py:debug",
            "scratchpack build --preset static --print-spec > image.toml",
            notes="From a TOML spec (docs/build.md) or a preset: static, base, cc, python3, "
            "each also NAME:debug. The resolved package set is printed and written to a lock "
            "file; --locked builds exactly the lock.",
        ),
    )
    b.add_argument("spec", nargs="?", type=Path, metavar="SPEC", help="the image spec (TOML)")
    b.add_argument(
        "--preset", metavar="NAME", help="a built-in spec instead of a file (e.g. python3:debug)"
    )
    b.add_argument(
        "-o", "--output", metavar="DEST", help="destination (any transport; default: the spec's)"
    )
    b.add_argument(
        "--lock", type=Path, metavar="FILE",
        help="lock file (default: SPEC.lock.json, or PRESET.lock.json)",
    )  # fmt: skip
    b.add_argument("--locked", action="store_true", help="build exactly the lock file's packages")
    b.add_argument(
        "--compression", choices=("gzip", "zstd", "none"), default="gzip", help="default gzip"
    )
    b.add_argument("--force", action="store_true", help="replace an existing output")
    b.add_argument("--print-spec", action="store_true", help="print the preset's spec and exit")
    b.add_argument("--format", choices=("text", "json"), default="text")
    add_build_flags(b)
    b.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace, out: Output) -> int:
    from scratchpack.cli.options import image_name, registry_options
    from scratchpack.cli.signing import attach_after_write, build_signing, print_attached
    from scratchpack.debian.presets import preset_spec
    from scratchpack.debian.spec import parse_spec, read_spec
    from scratchpack.operations.build import BuildOptions, build

    if (args.spec is None) == (args.preset is None):
        raise UsageError("give a spec file or --preset NAME (one of them)")
    if args.preset:
        text = preset_spec(args.preset)
        if args.print_spec:
            print(text, end="")
            return 0
        spec = parse_spec(text)
        lock = args.lock or Path(f"{args.preset.replace(':', '-')}.lock.json")
    else:
        if args.print_spec:
            raise UsageError("--print-spec goes with --preset")
        spec = read_spec(args.spec)
        lock = args.lock or args.spec.with_name(args.spec.name.rsplit(".", 1)[0] + ".lock.json")
    destination = args.output or spec.output
    if not destination:
        raise UsageError("no destination: give -o DEST (or output in the spec's [image])")
    dest_name = image_name(destination)
    signing = build_signing(args, dest_name)
    options = registry_options(args)
    attached = None
    try:
        result = build(
            BuildOptions(spec, dest_name, lock, locked=args.locked,
                         force=args.force, compression=args.compression, registry=options)
        )  # fmt: skip
        if signing is not None:
            inputs = _inputs(args.spec, lock if args.locked else None, result.plan)
            attached = attach_after_write(args, signing, "build", dest_name, result.digest, options,
                                          inputs)  # fmt: skip
    finally:
        options.close()
    plan = result.plan
    if args.quiet and args.format == "text":
        return 0  # as pack and copy -q: the exit code says it worked
    if args.format == "json":
        print(json.dumps({
            "destination": result.destination, "digest": str(result.digest),
            "lock": str(lock), "architecture": plan.arch,
            "packages": [{"name": p.name, "version": p.version, "reason": p.reason}
                         for p in plan.packages],
            "skipped": [{"name": n, "why": w} for n, w in plan.skipped],
            "notes": plan.notes, "stored_size": result.stored_size,
            "uncompressed_size": result.uncompressed_size,
            **({"signing": attached} if attached else {}),
        }, indent=2))  # fmt: skip
        return 0
    width = max(len(p.name) for p in plan.packages)
    for p in plan.packages:
        out.line(f"  {p.name:{width}}  {p.version:24}  {p.reason}")
    for name, why in plan.skipped:
        out.line(f"  {name:{width}}  {'(skipped)':24}  {why}", "dim")
    for note in plan.notes:
        out.line(f"note: {note}", "yellow")
    out.status("Built", f"{result.destination} ({len(plan.packages)} packages, "
                        f"{human_size(result.stored_size)} stored, "
                        f"{human_size(result.uncompressed_size)} uncompressed)")  # fmt: skip
    out.fields([("digest", str(result.digest)), ("lock", str(lock))])
    if attached:
        print_attached(out, attached)
    return 0


def _inputs(spec: Path | None, lock: Path | None, plan: Any) -> list[Any]:
    """The provenance's inputs: the spec file and the lock it was built from (when read),
    and every package by the sha256 of its .deb, as the lock pins it."""
    from scratchpack.operations.provenance import deb_inputs, file_input

    files = [file_input(path, path.name) for path in (spec, lock) if path is not None]
    return files + deb_inputs(plan.packages)
