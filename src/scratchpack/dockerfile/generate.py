"""The Dockerfile, .dockerignore and compose.yaml a careful engineer would write by hand.

Stages, in order: ``build`` (the language's official image; dependency manifests copied and
dependencies built before the sources, so a code change does not rebuild them), ``essentials``
(CA bundle, zoneinfo, passwd/group with an unprivileged user, nsswitch.conf, a sticky /tmp,
files 0444), ``debug`` (``FROM build``: the builder's shell and tools beside the same binary;
``--target debug``) and ``production`` last, so that a plain ``docker build`` gives it:
``FROM scratch`` for static binaries, distroless for interpreters. The legacy builder builds
every stage up to the target in file order, needed or not, so the debug stage has no RUN and
no base image of its own: a default build never installs anything for it and works offline.
Every base image is an ``ARG`` so mirrors and air-gapped registries work with
``--build-arg``. Output is plain text built line by line: the
file is meant to be read and owned by the project, so it says why in comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scratchpack.dockerfile.project import NAMES, Project
from scratchpack.errors import UsageError

RUNTIMES = ("scratch", "distroless", "alpine", "debian-slim")
STATIC_LANGUAGES = frozenset({"go", "rust", "c"})
USER = "65532:65532"
DEBIAN = "bookworm"

DEFAULT_VERSIONS = {"go": "1.23", "rust": "1", "python": "3.11", "node": "22", "c": "14"}


@dataclass(frozen=True)
class Options:
    runtime: str | None = None  # None: scratch for static languages, distroless otherwise
    rust_static: str = "musl"  # or "gnu": static glibc (crt-static)
    arch: str = "amd64"  # amd64 or arm64
    buildkit: bool = False  # declare the syntax and use cache mounts
    port: int | None = None


@dataclass
class BaseImage:
    """One base image: its ARG name, the reference, and the digest when it was resolved."""

    arg: str
    reference: str
    digest: str | None = None
    why: str = ""  # why it is not pinned

    @property
    def pinned(self) -> str:
        return f"{self.reference}@{self.digest}" if self.digest else self.reference


@dataclass
class Plan:
    """What will be generated: the images to resolve first, then the files."""

    project: Project
    options: Options
    runtime: str
    images: dict[str, BaseImage] = field(default_factory=dict)


def _triple(options: Options) -> str:
    cpu = {"amd64": "x86_64", "arm64": "aarch64"}[options.arch]
    return f"{cpu}-unknown-linux-{options.rust_static}"


def plan(project: Project, options: Options) -> Plan:
    static = project.language in STATIC_LANGUAGES
    runtime = options.runtime or ("scratch" if static else "distroless")
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r} (one of {', '.join(RUNTIMES)})")
    if runtime == "scratch" and not static:
        raise UsageError(
            f"{NAMES[project.language]} needs an interpreter at run time, which scratch does "
            "not have: use --runtime distroless (the default), debian-slim or alpine"
        )
    if options.arch not in ("amd64", "arm64"):
        raise UsageError(f"unsupported architecture {options.arch!r} (amd64 or arm64)")
    if options.rust_static not in ("musl", "gnu"):
        raise UsageError("--rust-static is musl or gnu")
    version = project.toolchain or DEFAULT_VERSIONS[project.language]
    images: dict[str, BaseImage] = {}
    language = project.language
    alpine = runtime == "alpine"
    if language == "go":
        builder = f"golang:{version}-alpine" if alpine else f"golang:{version}-{DEBIAN}"
    elif language == "rust":
        musl = options.rust_static == "musl"
        builder = f"rust:{version}-alpine" if musl or alpine else f"rust:{version}-{DEBIAN}"
    elif language == "c":
        builder = f"gcc:{version}-{DEBIAN}"
    elif language == "python":
        builder = f"python:{version}-alpine" if alpine else f"python:{version}-slim-{DEBIAN}"
    elif runtime == "alpine":  # node on Alpine's own nodejs (no npm in production): 20
        builder = "node:20-alpine"
    elif runtime == "debian-slim":  # ... on Debian's nodejs: 18
        builder = f"node:18-{DEBIAN}-slim"
    else:
        builder = f"node:{version}-{DEBIAN}-slim"
    images["builder"] = BaseImage("BUILDER_IMAGE", builder)
    if runtime == "distroless":
        distroless = {
            "python": "gcr.io/distroless/python3-debian12:nonroot",
            "node": f"gcr.io/distroless/nodejs{version.split('.')[0]}-debian12:nonroot",
        }.get(language, "gcr.io/distroless/static-debian12:nonroot")
        images["runtime"] = BaseImage("RUNTIME_IMAGE", distroless)
    elif runtime == "alpine":
        reuse = language == "python"  # the interpreter image is the runtime
        images["runtime"] = BaseImage("RUNTIME_IMAGE", builder if reuse else "alpine:3.20")
    elif runtime == "debian-slim":
        reuse = language == "python"
        images["runtime"] = BaseImage("RUNTIME_IMAGE", builder if reuse else "debian:12-slim")
    return Plan(project, options, runtime, images)


# -- the Dockerfile ---------------------------------------------------------------------------


def dockerfile(p: Plan) -> str:
    project, options = p.project, p.options
    name = project.name
    lines = []
    if options.buildkit:
        lines.append("# syntax=docker/dockerfile:1")
    lines += [
        f"# Generated by `scratchpack init` for {name} ({NAMES[project.language]}).",
        f"#   production:  docker build -t {name} .",
        f"#   debug:       docker build --target debug -t {name}:debug .  (the builder's shell)",
        "# Base images are build arguments, pinned by digest: for a mirror or an air-gapped",
        "# registry, pass --build-arg BUILDER_IMAGE=registry.example.com/... (and the others).",
    ]
    for image in p.images.values():
        if image.digest is None:
            lines.append(f"# {image.arg} is not pinned ({image.why}): `scratchpack lint --fix`")
            lines.append("# pins it once the registry is reachable.")
        lines.append(f"ARG {image.arg}={image.pinned}")
    lines.append("")
    builder = _BUILDERS[project.language](p)
    lines += builder
    lines.append("")
    static = project.language in STATIC_LANGUAGES
    if static and p.runtime == "scratch":
        lines += _essentials(p)
        lines.append("")
    lines += _debug(p)
    lines.append("")
    lines += _production(p)
    return "\n".join(lines) + "\n"


def _binary_path(p: Plan) -> str:
    return f"/out/{p.project.name}"


def _cache(p: Plan, target: str) -> str:
    return f"--mount=type=cache,target={target} " if p.options.buildkit else ""


def _go(p: Plan) -> list[str]:
    package = p.project.details.get("package", ".")
    sums = " go.sum" if p.project.details.get("has_sum") == "yes" else ""
    arch = p.options.arch
    return [
        "FROM ${BUILDER_IMAGE} AS build",
        "WORKDIR /src",
        "# Modules first: they are downloaded again only when go.mod or go.sum change.",
        f"COPY go.mod{sums} ./",
        f"RUN {_cache(p, '/go/pkg/mod')}go mod download",
        "COPY . .",
        "# Static (no cgo), reproducible (-trimpath) and without debug symbols (-s -w).",
        f"RUN {_cache(p, '/root/.cache/go-build')}CGO_ENABLED=0 GOOS=linux GOARCH={arch} "
        f'go build -trimpath -ldflags="-s -w" -o {_binary_path(p)} {package}',
    ]


def _rust(p: Plan) -> list[str]:
    name, triple = p.project.name, _triple(p.options)
    musl = p.options.rust_static == "musl"
    env = (
        "ENV CARGO_PROFILE_RELEASE_LTO=true \\\n"
        "    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \\\n"
        "    CARGO_PROFILE_RELEASE_STRIP=true"
    )
    lines = ["FROM ${BUILDER_IMAGE} AS build"]
    if musl:
        lines += [
            "# musl: a fully static binary. Its allocator is slow under many threads; if that",
            "# shows, add tikv-jemallocator as the global allocator.",
            *_floating("SP213"),
            "RUN apk add --no-cache musl-dev",
        ]
    else:
        lines += [
            "# A static glibc build (crt-static): no musl target needed. glibc's NSS (user and",
            "# host lookups through nsswitch.conf) is unavailable in a static binary.",
            "ENV RUSTFLAGS='-C target-feature=+crt-static'",
        ]
    if p.project.details.get("profile_tuned") != "yes":
        lines += [
            "# A release profile for a small binary (or set these in Cargo.toml's",
            '# [profile.release]; add panic = "abort" there if the app never catches panics).',
            env,
        ]
    package = p.project.details.get("package", name)
    dummy = (p.project.root / "src/main.rs").is_file()
    lines += ["WORKDIR /src"]
    if dummy:
        lines += [
            "# Dependencies first, built against a stand-in main.rs: a source change does not",
            "# rebuild them.",
            "COPY Cargo.toml Cargo.lock* ./",
            f"RUN {_cache(p, '/usr/local/cargo/registry')}mkdir src && "
            "echo 'fn main() {}' > src/main.rs \\\n"
            f"    && cargo build --release --target {triple} \\\n"
            f"    && rm -rf src target/{triple}/release/deps/{package.replace('-', '_')}-*",
        ]
    lines += [
        "COPY . .",
        f"RUN {_cache(p, '/usr/local/cargo/registry')}touch src/main.rs 2>/dev/null; "
        f"cargo build --release --target {triple} \\\n"
        f"    && mkdir -p /out && cp target/{triple}/release/{name} {_binary_path(p)}",
    ]
    return lines


def _c(p: Plan) -> list[str]:
    name = p.project.name
    if p.project.details.get("build") == "cmake":
        build = (
            "RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=MinSizeRel "
            '-DCMAKE_EXE_LINKER_FLAGS="-static" \\\n'
            f"    && cmake --build build && mkdir -p /out && cp build/{name} {_binary_path(p)}"
        )
    else:
        build = (
            f'RUN make LDFLAGS="-static" \\\n    && mkdir -p /out && cp {name} {_binary_path(p)}'
        )
    return [
        "FROM ${BUILDER_IMAGE} AS build",
        "WORKDIR /src",
        "COPY . .",
        "# Linked statically: scratch has no loader and no libc.",
        build,
        f"RUN strip {_binary_path(p)}",
    ]


def _python(p: Plan) -> list[str]:
    details = p.project.details
    lines = ["FROM ${BUILDER_IMAGE} AS build", "WORKDIR /app"]
    pip = "pip install --no-cache-dir --target /out/site-packages"
    if details.get("requirements") == "yes":
        lines += [
            "# Dependencies first, into a directory the runtime stage copies.",
            "COPY requirements.txt ./",
            f"RUN {pip} -r requirements.txt",
        ]
    lines.append("COPY . .")
    if details.get("installable") == "yes":
        lines.append(f"RUN {pip} --no-deps . && rm -rf build *.egg-info")
    if details.get("requirements") != "yes" and details.get("installable") != "yes":
        lines.append("RUN mkdir -p /out/site-packages")
    return lines


def _node(p: Plan) -> list[str]:
    details = p.project.details
    install = "npm ci" if details.get("lock") == "yes" else "npm install"
    lock = " package-lock.json" if details.get("lock") == "yes" else ""
    lines = [
        "FROM ${BUILDER_IMAGE} AS build",
        "WORKDIR /app",
        "# Dependencies first: reinstalled only when the manifests change.",
        f"COPY package.json{lock} ./",
        f"RUN {_cache(p, '/root/.npm')}{install}",
        "COPY . .",
    ]
    if details.get("build") == "yes":
        lines.append("RUN npm run build")
    lines.append(f"RUN {install} --omit=dev")
    return lines


_BUILDERS = {"go": _go, "rust": _rust, "c": _c, "python": _python, "node": _node}


def _floating(code: str) -> list[str]:
    """The pragma, with its reason, above an install left unpinned on purpose: the base image is
    pinned by digest, and a version pin on its distribution's packages breaks the build as soon
    as the archive drops that version (Debian and Alpine keep only the current one)."""
    return [
        "# Packages follow the digest-pinned base's release; a version pin would break the",
        "# build when the archive drops that version.",
        f"# scratchpack ignore={code}",
    ]


def _essentials(p: Plan) -> list[str]:
    alpine_builder = "-alpine" in p.images["builder"].reference
    lines = [
        "FROM ${BUILDER_IMAGE} AS essentials",
        "# What a static binary needs at run time, nothing else: CA certificates (TLS),",
        "# zoneinfo (time zones), passwd/group with an unprivileged user, nsswitch.conf and a",
        "# sticky /tmp. Files are read-only (0444), zoneinfo too. Everything goes under /out",
        "# so that production copies /out/ whole: a COPY of a directory copies its contents,",
        "# and only the entries inside keep their modes (the 1777 of tmp/ among them).",
    ]
    if alpine_builder:
        lines += [*_floating("SP213"), "RUN apk add --no-cache ca-certificates tzdata"]
    lines.append(
        "RUN mkdir -p /out/etc/ssl/certs /out/usr/share/zoneinfo /out/tmp \\\n"
        "    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \\\n"
        "    && cp -a /usr/share/zoneinfo/. /out/usr/share/zoneinfo/ \\\n"
        "    && rm -rf /out/usr/share/zoneinfo/right /out/usr/share/zoneinfo/posix \\\n"
        "    && printf 'root:x:0:0:root:/root:/sbin/nologin\\n"
        "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n' > /out/etc/passwd \\\n"
        "    && printf 'root:x:0:\\nnonroot:x:65532:\\n' > /out/etc/group \\\n"
        "    && printf 'hosts: files dns\\n' > /out/etc/nsswitch.conf \\\n"
        "    && chmod 0444 /out/etc/passwd /out/etc/group /out/etc/nsswitch.conf \\\n"
        "        /out/etc/ssl/certs/ca-certificates.crt \\\n"
        "    && find /out/usr/share/zoneinfo -type f -exec chmod 0444 {} + \\\n"
        "    && chmod 1777 /out/tmp"
    )
    return lines


def _entrypoint(p: Plan, binary: str) -> str:
    details = p.project.details
    if p.project.language == "python":
        if "entry" in details:
            module, _, function = details["entry"].partition(":")
            call = f"import sys; from {module} import {function}; sys.exit({function}())"
            return f'["python3", "-c", "{call}"]'
        return f'["python3", "/app/{details["main"]}"]'
    if p.project.language == "node":
        return f'["node", "/app/{details["main"]}"]'
    return f'["{binary}"]'


def _expose(p: Plan) -> list[str]:
    port = p.options.port or p.project.port
    return [f"EXPOSE {port}"] if port else []


def _app_copies(p: Plan, dest_binary: str) -> list[str]:
    if p.project.language in STATIC_LANGUAGES:
        return [f"COPY --from=build {_binary_path(p)} {dest_binary}"]
    if p.project.language == "python":
        return [
            "COPY --from=build /out/site-packages /app/site-packages",
            "COPY --from=build /app /app",
            "ENV PYTHONPATH=/app/site-packages PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
        ]
    return ["COPY --from=build /app /app", "ENV NODE_ENV=production"]


def _debug(p: Plan) -> list[str]:
    """The build stage again, with the app where production has it: its shell, package manager
    and the interpreter are already there, so this stage needs no RUN and no image of its own.
    That matters because the legacy builder (``DOCKER_BUILDKIT=0``) builds every stage before
    the target in file order: an ``apt-get install`` here would run in every production build
    and fail offline. The debug stage cannot follow production, since the last stage is what a
    plain ``docker build`` gives."""
    binary = f"/usr/local/bin/{p.project.name}"
    lines = [
        "FROM build AS debug",
        "# The same program in the build stage, for poking at it: --target debug. No RUN and no",
        "# image of its own on purpose: the legacy builder (DOCKER_BUILDKIT=0) builds every",
        "# stage up to the target in file order, so anything installed here would be installed",
        "# (and need the network) in every production build. Production stays last, the",
        "# default target. For more tools: docker run --user 0 ... and install them there.",
    ]
    if p.project.language in STATIC_LANGUAGES:
        lines.append(f"COPY --from=build {_binary_path(p)} {binary}")
    elif p.project.language == "python":
        lines.append(
            "ENV PYTHONPATH=/out/site-packages PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1"
        )
    else:
        lines.append("ENV NODE_ENV=production")
    workdir = "/tmp" if p.project.language in STATIC_LANGUAGES else "/app"
    return [
        *lines,
        f"USER {USER}",
        f"WORKDIR {workdir}",
        *_expose(p),
        f"ENTRYPOINT {_entrypoint(p, binary)}",
    ]


def _app_tail(p: Plan, binary: str, static_workdir: str) -> list[str]:
    """The end every runnable stage shares: the app, its user, workdir, port and entrypoint."""
    workdir = static_workdir if p.project.language in STATIC_LANGUAGES else "/app"
    return [
        *_app_copies(p, binary),
        f"USER {USER}",
        f"WORKDIR {workdir}",
        *_expose(p),
        f"ENTRYPOINT {_entrypoint(p, binary)}",
    ]


def _production(p: Plan) -> list[str]:
    binary = f"/{p.project.name}" if p.runtime == "scratch" else f"/usr/local/bin/{p.project.name}"
    if p.runtime == "scratch":
        lines = [
            "FROM scratch AS production",
            "# /out/ whole, not /out/tmp to /tmp: that would copy tmp's contents into a new 0755",
            "# /tmp, and the non-root user could not write there, even on a --tmpfs /tmp (the",
            "# runtime gives the tmpfs the mode of the directory under it). --chmod is",
            "# BuildKit-only; copying the parent keeps the mode with every builder.",
            "COPY --from=essentials /out/ /",
        ]
    else:
        lines = ["FROM ${RUNTIME_IMAGE} AS production"]
        if p.project.language == "node" and p.runtime == "alpine":
            lines += [*_floating("SP213"), "RUN apk add --no-cache nodejs"]
        elif p.project.language == "node" and p.runtime == "debian-slim":
            lines += _floating("SP214")
            lines.append(
                "RUN apt-get update \\\n"
                "    && apt-get install -y --no-install-recommends nodejs \\\n"
                "    && rm -rf /var/lib/apt/lists/*"
            )
    return lines + _app_tail(p, binary, "/")


# -- .dockerignore and compose.yaml -----------------------------------------------------------

_IGNORES = {
    "go": ["vendor/", "*.test", "*.out"],
    "rust": ["target/"],
    "c": ["build/", "*.o", "*.a", "*.so"],
    "python": [".venv/", "venv/", "__pycache__/", "*.pyc", ".pytest_cache/", ".mypy_cache/",
               ".ruff_cache/", "build/", "dist/", "*.egg-info/"],
    "node": ["node_modules/", "dist/", "coverage/", ".next/", "npm-debug.log*"],
}  # fmt: skip


def dockerignore(p: Plan) -> str:
    lines = [
        "# Generated by `scratchpack init`: what the build never needs (smaller, faster",
        "# context; no history or secrets sent to the builder).",
        ".git",
        ".gitignore",
        ".dockerignore",
        "Dockerfile*",
        "compose.yaml",
        "*.md",
        "!README.md" if p.project.language in ("python", "node") else "LICENSE*",
        ".env",
        ".env.*",
        "*.pem",
        "*.key",
        ".idea/",
        ".vscode/",
        *_IGNORES[p.project.language],
    ]
    return "\n".join(lines) + "\n"


def compose(p: Plan) -> str:
    name = p.project.name
    port = p.options.port or p.project.port
    lines = [
        "# Generated by `scratchpack init`: run it the hardened way (read-only root, no",
        "# capabilities, no privilege gain, an unprivileged user).",
        "services:",
        f"  {name}:",
        "    build:",
        "      context: .",
        "      target: production",
        f"    image: {name}:latest",
        "    read_only: true",
        "    tmpfs:",
        "      - /tmp",
        "    cap_drop:",
        "      - ALL",
        "    security_opt:",
        '      - "no-new-privileges:true"',
        f'    user: "{USER}"',
    ]
    if port:
        lines += ["    ports:", f'      - "127.0.0.1:{port}:{port}"']
    return "\n".join(lines) + "\n"
