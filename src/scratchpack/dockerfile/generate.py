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
from scratchpack.operations.glibcfiles import (
    BEFORE_BUILTIN,
    DATA_MODE,
    GCONV_SUBDIR,
    ICONV_SYMBOLS,
    LIBGCC_S,
    LOCALE_DIR,
    LOCALE_NAME,
    ZONEINFO_DIR,
    ZONEINFO_SKIP,
    normalized_locale,
    nss_sonames,
)

RUNTIMES = ("scratch", "distroless", "alpine", "debian-slim", "minimal")
LINKERS = {"lld": "ld.lld", "mold": "ld.mold"}  # -fuse-ld=NAME: the program gcc looks for
LOADERS = {"amd64": "/lib64/ld-linux-x86-64.so.2", "arm64": "/lib/ld-linux-aarch64.so.1"}
JEMALLOC_VERSION = "0.6"
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
    link: str = "auto"  # static, dynamic, or auto (C: dynamic when the sources call NSS)
    jemalloc: bool = False  # Rust: tikv-jemallocator as the global allocator
    linker: str | None = None  # Rust: lld or mold
    test: str | None = None  # the app's tests (default: detected), run in the build
    locale: str | None = None  # a dynamic glibc build: this locale's data in the image, LANG


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
    dynamic: bool = False  # linked against glibc: the build stage collects its ELF closure
    notices: list[str] = field(default_factory=list)

    @property
    def tests(self) -> str | None:
        return self.options.test or self.project.details.get("tests")

    @property
    def ca_bundle(self) -> bool:
        """False for a Rust program on webpki-roots: its roots are compiled in."""
        return self.project.details.get("webpki_roots") != "yes"


def _triple(p: Plan) -> str:
    cpu = {"amd64": "x86_64", "arm64": "aarch64"}[p.options.arch]
    return f"{cpu}-unknown-linux-{'gnu' if p.dynamic else p.options.rust_static}"


def _check_options(project: Project, options: Options, runtime: str) -> None:
    language = NAMES[project.language]
    static = project.language in STATIC_LANGUAGES
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r} (one of {', '.join(RUNTIMES)})")
    if runtime == "scratch" and not static:
        raise UsageError(
            f"{language} needs an interpreter at run time, which scratch does "
            "not have: use --runtime distroless (the default), minimal, debian-slim or alpine"
        )
    if runtime == "minimal" and static:
        raise UsageError(
            "--runtime minimal is scratchpack's runtime for Python and Node apps; "
            f"{language} already gets a scratch image (the default)"
        )
    if project.language != "rust" and (options.jemalloc or options.linker):
        flag = "--jemalloc" if options.jemalloc else "--linker"
        raise UsageError(f"{flag} is for Rust projects; this one is {language}")
    if options.linker not in (None, *LINKERS):
        raise UsageError(f"--linker {options.linker}: lld or mold")
    if options.link not in ("auto", "static", "dynamic"):
        raise UsageError(f"link {options.link!r}: auto, static or dynamic")
    if options.link == "dynamic" and project.language not in ("c", "rust"):
        raise UsageError(f"--dynamic is for C/C++ and Rust; {language} is not linked")
    if options.jemalloc and options.link == "dynamic":
        raise UsageError("--jemalloc replaces musl's allocator; a --dynamic build uses glibc's")
    if options.test is not None and project.language not in ("python", "node"):
        raise UsageError("--test is for Python and Node projects (run in the build stage)")
    if options.locale is not None and not LOCALE_NAME.fullmatch(options.locale):
        raise UsageError(
            f"--locale {options.locale!r}: not a locale name with a codeset "
            "(C.UTF-8, en_US.UTF-8, de_DE.UTF-8@euro...)"
        )


def _dynamic(project: Project, options: Options, runtime: str, notices: list[str]) -> bool:
    """C that calls NSS functions is linked dynamically: a static glibc cannot load the NSS
    modules getaddrinfo and getpwnam need (glibc warns at link time and the call fails at run
    time), and static musl resolves names differently from the glibc the build used."""
    library = project.details.get("shared_library") if project.language == "c" else None
    if library and options.link == "static":
        notices.append(
            f"--static: the build makes a shared library of its own ({library}); a static "
            "binary cannot load one, so the link fails unless the program does not use it"
        )
        return False
    if options.link == "auto" and library:
        notices.append(
            f"the build makes a shared library of its own ({library}), which a static binary "
            "cannot load: linking dynamically, with the loader, the libraries and the project's "
            "own library in the image (--static to force a static build)"
        )
    elif options.link == "auto" and project.language == "c" and "nss" in project.details:
        notices.append(
            f"the sources call {project.details['nss']}(), which a static glibc binary cannot "
            "do (glibc loads NSS and gconv modules at run time): linking dynamically, with the ELF "
            "closure in the image (--static to force a static build)"
        )
    elif options.link != "dynamic":
        return False
    if runtime in ("alpine", "minimal"):
        raise UsageError(f"a dynamic glibc binary does not run on --runtime {runtime}")
    if library and runtime != "scratch":
        # Only the scratch image gets the ELF closure (distroless/cc and debian-slim bring
        # their own glibc), so the project's library would be left behind in the build stage.
        raise UsageError(
            f"--runtime {runtime}: the build makes a shared library of its own ({library}), "
            "which init ships only in the ELF closure of the default --runtime scratch"
        )
    if library and project.details.get("build") == "make" and "rpath" not in project.details:
        notices.append(
            f"the Makefile sets no run-time search path for {library} (-Wl,-rpath,...): the "
            "build stage stops where the loader cannot find it; link the program with "
            "-Wl,-rpath,$(CURDIR) (the library is then copied to that path in the image)"
        )
    return True


def _check_locale(options: Options, runtime: str, dynamic: bool) -> None:
    """A locale's data is read by glibc's setlocale() from files: a static glibc binary
    cannot switch locales reliably and musl has its own, so --locale goes with the ELF closure
    of a dynamic build on scratch (distroless and debian-slim carry their own locales)."""
    if options.locale is None:
        return
    if not dynamic:
        raise UsageError(
            "--locale ships glibc locale data beside a dynamic build's ELF closure: add "
            "--dynamic (C/C++, Rust)"
        )
    if runtime != "scratch":
        raise UsageError(f"--locale is for the scratch image; --runtime {runtime} has its own")


def _rust_notices(project: Project, options: Options, runtime: str, notices: list[str]) -> None:
    details = project.details
    if details.get("webpki_roots") == "yes" and runtime == "scratch":
        notices.append("uses webpki-roots: no CA bundle needed (none copied into the image)")
    if options.jemalloc and details.get("jemalloc") != "yes":
        musl = "[target.'cfg(target_env = \"musl\")'.dependencies]"
        notices.append(
            "--jemalloc: the build fails until the crate uses tikv-jemallocator; add to "
            f'Cargo.toml:\n    {musl}\n    tikv-jemallocator = "{JEMALLOC_VERSION}"\n'
            "  and to src/main.rs:\n"
            '    #[cfg(target_env = "musl")]\n'
            "    #[global_allocator]\n"
            "    static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;\n"
            "  (then cargo update, so Cargo.lock pins it: the image builds what the repository "
            "says, nothing edited behind its back)"
        )


def _minimal_notice(project: Project, tests: str | None, notices: list[str]) -> None:
    notices.append(
        "--runtime minimal: ./pack.sh makes the production image on scratchpack's minimal "
        f"runtime (scratchpack pack .{' --test ...' if tests else ''}); the Dockerfile builds "
        "and tests the app and keeps a distroless production stage for docker-only pipelines"
    )
    if not tests:
        notices.append(
            f"no tests found for {NAMES[project.language]} (tests/ or a test script): "
            "pack.sh runs none; pass --test CMD"
        )


def plan(project: Project, options: Options) -> Plan:
    static = project.language in STATIC_LANGUAGES
    runtime = options.runtime or ("scratch" if static else "distroless")
    _check_options(project, options, runtime)
    notices: list[str] = []
    dynamic = _dynamic(project, options, runtime, notices)
    _check_locale(options, runtime, dynamic)
    if project.language == "rust":
        _rust_notices(project, options, runtime, notices)
    if runtime == "minimal":
        _minimal_notice(project, options.test or project.details.get("tests"), notices)
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
        musl = options.rust_static == "musl" and not dynamic
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
    if runtime in ("distroless", "minimal"):
        distroless = {
            "python": "gcr.io/distroless/python3-debian12:nonroot",
            "node": f"gcr.io/distroless/nodejs{version.split('.')[0]}-debian12:nonroot",
        }.get(language, f"gcr.io/distroless/{'cc' if dynamic else 'static'}-debian12:nonroot")
        images["runtime"] = BaseImage("RUNTIME_IMAGE", distroless)
    elif runtime == "alpine":
        reuse = language == "python"  # the interpreter image is the runtime
        images["runtime"] = BaseImage("RUNTIME_IMAGE", builder if reuse else "alpine:3.20")
    elif runtime == "debian-slim":
        reuse = language == "python"
        images["runtime"] = BaseImage("RUNTIME_IMAGE", builder if reuse else "debian:12-slim")
    return Plan(project, options, runtime, images, dynamic, notices)


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
    name, triple = p.project.name, _triple(p)
    musl = not p.dynamic and p.options.rust_static == "musl"
    env = (
        "ENV CARGO_PROFILE_RELEASE_LTO=true \\\n"
        "    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \\\n"
        "    CARGO_PROFILE_RELEASE_STRIP=true"
    )
    lines = ["FROM ${BUILDER_IMAGE} AS build"]
    if musl:
        packages = ["musl-dev"]
        if p.options.jemalloc:
            packages.append("make")  # tikv-jemalloc-sys runs jemalloc's configure and make
        if p.options.linker:
            packages.append(p.options.linker)  # Alpine packages both lld and mold
        lines += [
            "# musl: a fully static binary.",
            *(
                ["# Its allocator is slow under many threads: jemalloc replaces it (--jemalloc)."]
                if p.options.jemalloc
                else [
                    "# Its allocator is slow under many threads; if that shows, add",
                    "# tikv-jemallocator as the global allocator (scratchpack init --jemalloc).",
                ]
            ),
            *_floating("SP213"),
            f"RUN apk add --no-cache {' '.join(packages)}",
        ]
    elif p.dynamic:
        lines += [
            "# Linked dynamically against the builder's glibc: the loader and the libraries",
            "# go into the image with the binary (the ELF closure, below).",
        ]
    else:
        lines += [
            "# A static glibc build (crt-static): no musl target needed. glibc's NSS (user and",
            "# host lookups through nsswitch.conf) is unavailable in a static binary.",
        ]
    flags = [] if musl or p.dynamic else ["-C", "target-feature=+crt-static"]
    if p.options.linker:
        lines += _linker(p, triple, flags)
    elif flags:
        lines.append("ENV RUSTFLAGS='-C target-feature=+crt-static'")
    if p.project.details.get("profile_tuned") != "yes":
        lines += [
            "# A release profile for a small binary (or set these in Cargo.toml's",
            '# [profile.release]; add panic = "abort" there if the app never catches panics).',
            env,
        ]
    package = p.project.details.get("package", name)
    dummy = (p.project.root / "src/main.rs").is_file()
    cargo = f"cargo build --release --target {triple}"
    if p.options.linker:
        cargo += f" --config {LINKER_CONFIG}"
    lines += [
        "WORKDIR /src",
        "# The binary to build and ship (another [[bin]] of the crate: --build-arg BIN=...);",
        f"# it is installed as /{name} either way, the path the exec-form ENTRYPOINT names.",
        f"ARG BIN={name}",
    ]
    if dummy:
        lines += [
            "# Dependencies first, built against a stand-in main.rs: a source change does not",
            "# rebuild them.",
            "COPY Cargo.toml Cargo.lock* ./",
            f"RUN {_cache(p, '/usr/local/cargo/registry')}mkdir src && "
            "echo 'fn main() {}' > src/main.rs \\\n"
            f"    && {cargo} \\\n"
            f"    && rm -rf src target/{triple}/release/deps/{package.replace('-', '_')}-*",
        ]
    lines.append("COPY . .")
    if p.options.jemalloc:
        lines += [
            "# --jemalloc: the allocator comes from the crate's own Cargo.toml and main.rs (see",
            "# `scratchpack init --jemalloc`'s notice), so the image and `cargo run` agree.",
            "RUN grep -q tikv-jemallocator Cargo.toml || { echo 'tikv-jemallocator is not in "
            "Cargo.toml: add it and #[global_allocator] (scratchpack init --jemalloc says "
            "how)' >&2; exit 1; }",
        ]
    lines.append(
        f"RUN {_cache(p, '/usr/local/cargo/registry')}touch src/main.rs 2>/dev/null; "
        f'{cargo} --bin "$BIN" \\\n'
        f'    && mkdir -p /out && cp "target/{triple}/release/$BIN" {_binary_path(p)}'
    )
    if p.dynamic:
        lines += _closure(p)
    return lines


LINKER_CONFIG = "/opt/cargo-linker.toml"


def _rustflags(flags: list[str]) -> str:
    return ", ".join(f'"{flag}"' for flag in flags)


def _linker(p: Plan, triple: str, flags: list[str]) -> list[str]:
    """A cargo config file with the target's rustflags: the fast linker when the builder has
    it, else the default one with a notice in the build log (a build that works beats one that
    fails for a speed option). Written to a file given with ``cargo --config`` (cargo >= 1.63)
    because RUSTFLAGS cannot be set conditionally, and the project's own .cargo/ stays its own."""
    linker = p.options.linker or "lld"
    program = LINKERS[linker]
    fast = _rustflags([*flags, "-C", f"link-arg=-fuse-ld={linker}"])
    plain = _rustflags(flags)
    lines = [
        f"# The {linker} linker (-C link-arg=-fuse-ld={linker}): faster links of big binaries."
    ]
    install = ""
    if "-alpine" not in p.images["builder"].reference:
        lines += [
            "# rust:*-bookworm does not have it: installed when missing (if the archive can be",
            "# reached; else the default linker, said in the build log).",
            *_floating("SP214"),
        ]
        install = (
            f"(command -v {program} >/dev/null 2>&1 || {{ apt-get update "
            f"&& apt-get install -y --no-install-recommends {linker} "
            "&& rm -rf /var/lib/apt/lists/*; }) || true; \\\n    "
        )
    lines.append(
        f"RUN {install}if command -v {program} >/dev/null 2>&1; then \\\n"
        f"        printf '[target.{triple}]\\nrustflags = [{fast}]\\n' > {LINKER_CONFIG}; \\\n"
        f"    else echo 'notice: {program} is not in the builder image: linking with the "
        "default linker' >&2; \\\n"
        f"        printf '[target.{triple}]\\nrustflags = [{plain}]\\n' > {LINKER_CONFIG}; fi"
    )
    return lines


def _c(p: Plan) -> list[str]:
    name = p.project.name
    static = '"-static"' if not p.dynamic else ""
    if p.project.details.get("build") == "cmake":
        flags = ' -DCMAKE_EXE_LINKER_FLAGS="-static"' if not p.dynamic else ""
        build = (
            f"RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=MinSizeRel{flags} \\\n"
            f"    && cmake --build build && mkdir -p /out && cp build/{name} {_binary_path(p)}"
        )
    else:
        make = f"make LDFLAGS={static}" if static else "make"
        build = f"RUN {make} \\\n    && mkdir -p /out && cp {name} {_binary_path(p)}"
    # The reason the comment gives is the one init had: --dynamic was asked for (a C++
    # program with shared libraries of its own, say), or the sources call NSS.
    why = (
        "# Linked statically: scratch has no loader and no libc."
        if not p.dynamic
        else "# Linked dynamically (--dynamic): the ELF closure"
        if p.options.link == "dynamic"
        else "# Linked dynamically (it builds a shared library of its own): the ELF closure"
        if "shared_library" in p.project.details
        else "# Linked dynamically (its NSS calls need glibc's run-time modules): the ELF closure"
    )
    lines = [
        "FROM ${BUILDER_IMAGE} AS build",
        "WORKDIR /src",
        "COPY . .",
        why,
        *(["# below puts the loader and the libraries beside it."] if p.dynamic else []),
        build,
        f"RUN strip {_binary_path(p)}",
    ]
    if p.dynamic:
        lines += _closure(p)
    return lines


# The nsswitch.conf the essentials stage writes, and what glibc loads for it: the modules
# for "files dns" (separate files before glibc 2.34, built into libc since: copied when the
# builder has them) and libgcc_s. Both come from glibcfiles.py's table, which pack reads too.
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"
RUNTIME_LOADED = (*nss_sonames(NSSWITCH, BEFORE_BUILTIN), LIBGCC_S)


def _closure(p: Plan) -> list[str]:
    """The loader, the binary's DT_NEEDED closure and what glibc loads by name, copied under
    /out/rootfs. The list comes from the builder's own loader: ``ld.so --list`` maps the
    objects and resolves every library the way the program's start would, without running
    the program (ldd may run it on some systems), so it works for any binary the build makes.
    It cannot be computed at init time: the libraries are the builder image's. The gconv
    modules go in on pack's condition (glibcfiles.ICONV_SYMBOLS in the dynamic symbols of the
    binary or of a library other than libc, read with the builder's ``nm``: binutils is what
    the build just linked with), all of them: the charsets are run-time strings."""
    loader = LOADERS[p.options.arch]
    extra = " ".join(RUNTIME_LOADED)
    symbols = "|".join(ICONV_SYMBOLS)
    return [
        "# The ELF closure for scratch, under /out/rootfs, each file at the path the loader",
        "# searches, symlinks resolved, read-only:",
        "# - the loader and every library the binary needs, as the builder's loader resolves",
        "#   them (ld.so --list maps them without running the program);",
        "# - what glibc dlopens by name, which no DT_NEEDED names: libnss_files, libnss_dns and",
        "#   libresolv for nsswitch.conf's files and dns (modules before glibc 2.34, stubs",
        "#   after), libgcc_s.so.1 (pthread_cancel, C++/Rust unwinding; abort without it);",
        f"# - when the binary or a library calls {'/'.join(ICONV_SYMBOLS)} (nm -D): all of "
        f"{GCONV_SUBDIR}/ beside",
        "#   libc, the modules and the gconv-modules* configuration (256 files, 8 MB on bookworm):",
        "#   iconv loads one module per charset, and which charsets is only known at run time",
        "#   (UTF-8/UCS/ASCII are built in, ISO-8859-* are not); without them iconv_open fails.",
        f"RUN set -eu; loader={loader}; bin={_binary_path(p)}; mkdir -p /out/rootfs; \\\n"
        '    "$loader" --list "$bin" > /tmp/needed; \\\n'
        "    if grep -q 'not found' /tmp/needed; then cat /tmp/needed >&2; exit 1; fi; \\\n"
        '    libdir=$(dirname "$(awk \'$1 == "libc.so.6" {print $3}\' /tmp/needed)"); \\\n'
        f"    for lib in {extra}; do \\\n"
        '        if [ -e "$libdir/$lib" ]; then echo "$libdir/$lib" >> /tmp/needed; \\\n'
        '            "$loader" --list "$libdir/$lib" >> /tmp/needed; fi; \\\n'
        "    done; \\\n"
        "    awk '$2 == \"=>\" && $3 ~ /^\\// {print $3} $1 ~ /^\\// {print $1}' /tmp/needed \\\n"
        "        > /tmp/files; sort -u -o /tmp/files /tmp/files; \\\n"
        "    command -v nm >/dev/null || { echo 'nm (binutils) is needed to see iconv use' >&2; "
        "exit 1; }; \\\n"
        f'    gconv=$(readlink -f "$libdir")/{GCONV_SUBDIR}; \\\n'
        "    if { echo \"$bin\"; grep -v '/libc\\.so\\.6$' /tmp/files; } \\\n"
        "        | xargs nm -D 2>/dev/null \\\n"
        f"        | grep -Eq ' ({symbols})(@|$)'; then \\\n"
        '        if [ -d "$gconv" ]; then \\\n'
        '            echo "$bin converts charsets (iconv): all gconv modules from $gconv"; \\\n'
        '            mkdir -p "/out/rootfs$gconv"; cp -RL "$gconv/." "/out/rootfs$gconv/"; \\\n'
        '            for module in "$gconv"/*.so; do "$loader" --list "$module"; done \\\n'
        "                | awk '$2 == \"=>\" && $3 ~ /^\\// {print $3}' >> /tmp/files; \\\n"
        "            sort -u -o /tmp/files /tmp/files; \\\n"
        '        else echo "notice: $bin calls iconv but the builder has no $gconv" >&2; fi; \\\n'
        "    fi; \\\n"
        '    while read -r file; do cp -L --parents "$file" /out/rootfs; done < /tmp/files; \\\n'
        "    find /out/rootfs -type f -exec chmod a-w {} +",
        *_locale(p),
    ]


def _locale(p: Plan) -> list[str]:
    """``--locale``: the locale's directory under /usr/lib/locale, where setlocale() looks
    (glibc's normalized name first, then the name as given). C.UTF-8 ships with glibc >= 2.35
    (Debian's libc-bin); another is compiled with localedef from the ``locales`` package's
    sources, installed when the builder lacks them. Copied dereferenced (locales-all links
    most LC_* files into other locales' directories). pack splits no locale-archive either."""
    name = p.options.locale
    if name is None:
        return []
    source, _, codeset = name.partition(".")
    codeset, at, modifier = codeset.partition("@")
    source += f"@{modifier}" if at else ""
    normal = normalized_locale(name)
    candidates = " ".join(dict.fromkeys((normal, name)))
    return [
        f"# --locale {name}: setlocale() reads {LOCALE_DIR}/{normal}/LC_*. C.UTF-8 ships with",
        "# glibc >= 2.35; another locale is compiled with localedef from the locales package's",
        "# sources (installed when the builder lacks them). Copied dereferenced, read-only.",
        *_floating("SP214"),
        f"RUN set -eu; found=; for name in {candidates}; do \\\n"
        f'        if [ -d "{LOCALE_DIR}/$name" ]; then found=$name; break; fi; done; \\\n'
        '    if [ -z "$found" ]; then found=' + normal + "; \\\n"
        f"        if [ ! -e /usr/share/i18n/locales/{source} ]; then apt-get update \\\n"
        "            && apt-get install -y --no-install-recommends locales \\\n"
        "            && rm -rf /var/lib/apt/lists/*; fi; \\\n"
        f'        localedef -i {source} -f {codeset} "{LOCALE_DIR}/$found" \\\n'
        f'            || [ -f "{LOCALE_DIR}/$found/LC_CTYPE" ]; fi; \\\n'
        f"    mkdir -p /out/rootfs{LOCALE_DIR}; \\\n"
        f'    cp -RL "{LOCALE_DIR}/$found" /out/rootfs{LOCALE_DIR}/; \\\n'
        f"    find /out/rootfs{LOCALE_DIR} -type f -exec chmod 0{DATA_MODE:o} {{}} +",
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
    tests = p.tests
    requirements = details.get("test_requirements")
    if tests and requirements:
        lines += [
            "# The tests' own tools, into /opt/test-deps: production does not copy them.",
            f"COPY {requirements} ./",
            f"RUN pip install --no-cache-dir --target /opt/test-deps -r {requirements}",
        ]
    lines.append("COPY . .")
    if details.get("installable") == "yes":
        lines.append(f"RUN {pip} --no-deps . && rm -rf build *.egg-info")
    if details.get("requirements") != "yes" and details.get("installable") != "yes":
        lines.append("RUN mkdir -p /out/site-packages")
    if tests:
        lines += [
            "# The app's tests, in the build: a failing test fails the image (every builder",
            "# builds this stage: production copies from it)."
            + ("" if requirements else " pytest comes from the builder image here;")
            + ("" if requirements else "\n# list it in requirements-dev.txt to pin it."),
            f"RUN PYTHONPATH=/out/site-packages:/opt/test-deps PYTHONDONTWRITEBYTECODE=1 {tests}",
        ]
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
    if p.tests:
        lines += [
            "# The app's tests, in the build (with the dev dependencies, before they are",
            "# pruned): a failing test fails the image.",
            f"RUN {p.tests}",
        ]
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
        "# What the binary needs at run time on scratch, nothing else: CA certificates (TLS),",
        "# zoneinfo (time zones), passwd/group with an unprivileged user, nsswitch.conf and a",
        "# sticky /tmp. Files are read-only (0444), zoneinfo too. Everything goes under /out",
        "# so that production copies /out/ whole: a COPY of a directory copies its contents,",
        "# and only the entries inside keep their modes (the 1777 of tmp/ among them).",
    ]
    certs = p.ca_bundle
    if not certs:
        lines += ["# No CA bundle: the program uses webpki-roots (its roots are compiled in)."]
    if alpine_builder:
        packages = "ca-certificates tzdata" if certs else "tzdata"
        lines += [*_floating("SP213"), f"RUN apk add --no-cache {packages}"]
    lines.append(
        f"RUN mkdir -p {'/out/etc/ssl/certs ' if certs else '/out/etc '}"
        "/out/usr/share/zoneinfo /out/tmp \\\n"
        + ("    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \\\n" if certs else "")
        + f"    && cp -a {ZONEINFO_DIR}/. /out{ZONEINFO_DIR}/ \\\n"
        f"    && rm -rf {' '.join(f'/out{ZONEINFO_DIR}/{tree}' for tree in ZONEINFO_SKIP)} \\\n"
        "    && printf 'root:x:0:0:root:/root:/sbin/nologin\\n"
        "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n' > /out/etc/passwd \\\n"
        "    && printf 'root:x:0:\\nnonroot:x:65532:\\n' > /out/etc/group \\\n"
        f"    && printf '{NSSWITCH.replace(chr(10), chr(92) + 'n')}' > /out/etc/nsswitch.conf \\\n"
        "    && chmod 0444 /out/etc/passwd /out/etc/group /out/etc/nsswitch.conf"
        + (" \\\n        /out/etc/ssl/certs/ca-certificates.crt" if certs else "")
        + " \\\n"
        f"    && find /out{ZONEINFO_DIR} -type f -exec chmod 0{DATA_MODE:o} {{}} + \\\n"
        "    && chmod 1777 /out/tmp"
    )
    return lines


# Where distroless' nodejs images have node: /nodejs/bin is not on their PATH (the image's
# own ENTRYPOINT names the file), so an exec-form ENTRYPOINT must name it too.
DISTROLESS_NODE = "/nodejs/bin/node"


def _entrypoint(p: Plan, binary: str, production: bool = False) -> str:
    details = p.project.details
    if p.project.language == "python":
        if "entry" in details:
            module, _, function = details["entry"].partition(":")
            call = f"import sys; from {module} import {function}; sys.exit({function}())"
            return f'["python3", "-c", "{call}"]'
        return f'["python3", "/app/{details["main"]}"]'
    if p.project.language == "node":
        distroless = production and p.runtime in ("distroless", "minimal")
        node = DISTROLESS_NODE if distroless else "node"
        return f'["{node}", "/app/{details["main"]}"]'
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
        lines += [f"COPY --from=build {_binary_path(p)} {binary}", *_lang(p)]
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


def _lang(p: Plan) -> list[str]:
    """LANG for --locale: setlocale(LC_ALL, "") then picks the shipped locale."""
    if p.options.locale is None:
        return []
    return [
        '# setlocale(LC_ALL, "") reads LANG: the locale shipped above.',
        f"ENV LANG={p.options.locale}",
    ]


def _app_tail(p: Plan, binary: str, static_workdir: str) -> list[str]:
    """The end every runnable stage shares: the app, its user, workdir, port and entrypoint."""
    workdir = static_workdir if p.project.language in STATIC_LANGUAGES else "/app"
    return [
        *_app_copies(p, binary),
        f"USER {USER}",
        f"WORKDIR {workdir}",
        *_expose(p),
        f"ENTRYPOINT {_entrypoint(p, binary, production=True)}",
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
        if p.dynamic:
            lines += [
                "# The loader and the libraries, at the paths the loader searches (and gconv",
                "# modules, locale data: see the build stage).",
                "COPY --from=build /out/rootfs/ /",
                *_lang(p),
            ]
    else:
        lines = ["FROM ${RUNTIME_IMAGE} AS production"]
        if p.runtime == "minimal":
            lines += [
                "# --runtime minimal: ./pack.sh makes the production image on scratchpack's",
                "# minimal runtime (outside docker: it needs Debian's packages and a test run",
                "# under podman). This distroless stage is for pipelines that only have docker.",
            ]
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
        *(["pack.sh"] if p.runtime == "minimal" else []),
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
        *(
            ["    # made by ./pack.sh (scratchpack's minimal runtime), not by a docker build"]
            if p.runtime == "minimal"
            else ["    build:", "      context: .", "      target: production"]
        ),
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


def _quote(text: str) -> str:
    """POSIX shell single quotes."""
    return "'" + text.replace("'", "'\\''") + "'"


def pack_script(p: Plan) -> str | None:
    """``pack.sh`` for ``--runtime minimal``: scratchpack's minimal runtime (the interpreter
    and only what the app uses, from Debian packages, proven by the app's tests run inside the
    image under podman) cannot be made inside a ``docker build``, which has neither Debian's
    archive tooling nor a container engine, so the image is made beside it, by one command the
    project keeps. Node's tests run as their script's command: the image has node, not npm."""
    if p.runtime != "minimal":
        return None
    name = p.project.name
    details = p.project.details
    tests = p.options.test
    if tests is None and p.project.language == "node":
        tests = details.get("test_script")
    elif tests is None:
        tests = details.get("tests")
    test = f" --test {_quote(tests)}" if tests else ""
    main = details.get("main", "")
    if p.project.language == "python" and "entry" not in details and main != "__main__.py":
        # pack takes a console script, else the module to run
        test += f" --entrypoint {_quote('-m ' + main.removesuffix('.py'))}"
    return (
        "\n".join(
            [
                "#!/bin/sh",
                "# Generated by `scratchpack init --runtime minimal`: the production image of "
                f"{name} on",
                "# scratchpack's minimal runtime, written only if the app's tests pass inside it.",
                f"#   ./pack.sh                          -> docker-daemon:{name}:latest",
                f"#   ./pack.sh oci:./out/{name}:1        (any scratchpack destination)",
                "set -eu",
                'cd "$(dirname "$0")"',
                f'exec scratchpack pack .{test} -o "${{1:-docker-daemon:{name}:latest}}"',
            ]
        )
        + "\n"
    )
