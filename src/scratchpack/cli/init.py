"""``scratchpack init``: its parser, and the handler that detects the project, pins its base
images (operations/init) and writes or prints the files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.cli.flags import SharedFlags, digest_lookup_flags, whole_number
from scratchpack.cli.helptext import examples
from scratchpack.cli.options import digest_resolver
from scratchpack.cli.output import Output
from scratchpack.errors import UsageError

if TYPE_CHECKING:
    import argparse


def add_parser(sub: Any, flags: SharedFlags) -> None:
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
        "--port",
        type=whole_number(1, 65535),
        metavar="PORT",
        help="the port to EXPOSE (default: from the sources)",
    )
    it.add_argument("--buildkit", action="store_true",
                    help="declare the BuildKit syntax and use cache mounts")  # fmt: skip
    it.add_argument("--registry", metavar="HOST[:PORT]",
                    help="take base images from this mirror (HOST/library/golang:...)")  # fmt: skip
    it.add_argument("--no-pin", action="store_true", help="do not look up digests (no network)")
    it.add_argument("--stdout", action="store_true", help="print the files instead of writing")
    it.add_argument("--force", action="store_true", help="overwrite existing files")
    digest_lookup_flags(it)
    it.add_argument("--format", choices=("text", "json"), default="text")
    it.set_defaults(func=cmd_init)


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
        locale=args.locale,
        linker=args.linker,
        test=args.test,
    )
    resolve, registry_options = digest_resolver(args)
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
