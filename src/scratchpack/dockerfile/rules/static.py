"""Rules on static builds for scratch and distroless/static final stages (SP5xx): a binary
that needs a loader or libc those images do not have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    RuleDoc,
    env_pairs,
    image_parts,
    parent_stage,
    rule,
    shell_of,
    stage_env,
)
from scratchpack.dockerfile.rules.examples import GCC, GO, PINNED, RUST, SCRATCH_TAIL
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity


def copied_into_final(dockerfile: Dockerfile) -> list[Stage]:
    """Earlier stages whose files the final stage copies (COPY --from), and their parents."""
    final = dockerfile.final
    found: list[Stage] = []
    for copy in final.of("COPY"):
        source = copy.flag("from")
        stage = dockerfile.stage_named(source) if source else None
        while stage is not None and stage.index < final.index and stage not in found:
            found.append(stage)
            stage = parent_stage(dockerfile, stage)
    return found


def _static_final(dockerfile: Dockerfile) -> bool:
    base = dockerfile.final.base.lower()
    return base == "scratch" or "distroless/static" in base


def _builds_into_scratch(
    dockerfile: Dockerfile,
) -> Iterator[tuple[Stage, Instruction, ShellCommand]]:
    if not _static_final(dockerfile):
        return
    for stage in copied_into_final(dockerfile):
        runs = stage.of("RUN")
        if any(_ELF_CLOSURE.search(run.text) for run in runs):
            continue  # it ships the loader and libraries its binary needs
        for run in runs:
            for cmd in shell_of(run):
                yield stage, run, cmd


# A RUN that lists a binary's libraries with the loader (what `scratchpack init --dynamic`
# writes): the stage ships its dynamic binary's ELF closure, so a dynamic build is intended.
_ELF_CLOSURE = lazy(r"ld-linux[\w.-]*\.so\.\d\b.*\s--list\b", re.S)


def _sp500_doc() -> RuleDoc:
    return RuleDoc(
        why="With cgo on (the default when a C compiler is present), Go links libc dynamically "
        "for net and os/user; the binary then fails in scratch with 'no such file or "
        "directory', the missing dynamic loader.",
        bad=f"FROM {GO} AS build\nRUN go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="`CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'` (or `ENV CGO_ENABLED=0`).",
    )


@rule("SP500", Severity.WARNING, "correctness", "Go built without CGO_ENABLED=0 for scratch",
      doc=_sp500_doc)  # fmt: skip
def go_not_static(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage, run, cmd in _builds_into_scratch(dockerfile):
        if cmd.name != "go" or cmd.args[:1] not in (("build",), ("install",)):
            continue
        cgo = cmd.env_value("CGO_ENABLED") or stage_env(dockerfile, stage).get("CGO_ENABLED")
        if cgo != "0":
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                "go build without CGO_ENABLED=0 may link libc dynamically, and the binary "
                "will not start in scratch ('no such file or directory')",
            )


def _links_no_glibc(cargo: ShellCommand, env: dict[str, str]) -> bool:
    """Whether the cargo build targets musl or WebAssembly (wasm32-wasip1, wasm32-unknown-...):
    neither links glibc, so the binary needs no loader from the image."""
    args = list(cargo.args)
    targets = [env.get("CARGO_BUILD_TARGET", "")]
    targets += [v for a in args if (v := a.removeprefix("--target=")) != a]
    targets += [args[n + 1] for n, a in enumerate(args[:-1]) if a == "--target"]
    return any("musl" in a for a in args) or any(
        "musl" in t or t.startswith(("wasm32-", "wasm64-")) for t in targets
    )


def _sp501_doc() -> RuleDoc:
    return RuleDoc(
        why="cargo's default gnu target links glibc dynamically: the binary needs "
        "/lib64/ld-linux-x86-64.so.2 and libc.so.6, which scratch lacks.",
        bad=f"FROM {RUST} AS build\nRUN cargo build --release\nFROM scratch\n"
        f'COPY --from=build /target/release/app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {RUST} AS build\n"
        "RUN cargo build --release --target x86_64-unknown-linux-musl\nFROM scratch\n"
        "COPY --from=build /target/x86_64-unknown-linux-musl/release/app /app\n"
        f'{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Build for `x86_64-unknown-linux-musl`, or with "
        "`RUSTFLAGS='-C target-feature=+crt-static' --target x86_64-unknown-linux-gnu`."
        " A stage that ships its ELF closure (a RUN listing the binary's libraries with the "
        "loader's `--list`, as `scratchpack init --dynamic` writes) is left alone.",
    )


@rule("SP501", Severity.WARNING, "correctness", "Rust built without a static target for scratch",
      doc=_sp501_doc)  # fmt: skip
def rust_not_static(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage, run, cmd in _builds_into_scratch(dockerfile):
        if cmd.name == "cargo" and cmd.args[:1] in (("build",), ("install",)):
            env = {**stage_env(dockerfile, stage), **dict(cmd.env)}
            flags = env.get("RUSTFLAGS", "")
            # crt-static may come from a cargo config the stage writes (init's --linker)
            configured = any("crt-static" in r.text for r in stage.of("RUN"))
            if not _links_no_glibc(cmd, env) and "crt-static" not in flags and not configured:
                yield meta.at_command(
                    dockerfile,
                    run,
                    cmd,
                    "cargo build for the gnu target links glibc dynamically: build for "
                    "x86_64-unknown-linux-musl, or with RUSTFLAGS='-C target-feature=+crt-static'",
                )


def _sp502_doc() -> RuleDoc:
    return RuleDoc(
        why="A C or C++ program linked dynamically needs the loader and shared libraries, which "
        "scratch does not have.",
        bad=f"FROM {GCC} AS build\nRUN gcc -O2 -o /app main.c\nFROM scratch\n"
        f'COPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {GCC} AS build\nRUN gcc -O2 -static -o /app main.c\nFROM scratch\n"
        f'COPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Link with `-static` (musl-gcc gives the smallest binaries), or ship the loader "
        "and libraries: a stage that lists the binary's libraries with the loader's `--list` "
        "(as `scratchpack init --dynamic` writes) is left alone.",
    )


@rule("SP502", Severity.WARNING, "correctness", "C/C++ linked without -static for scratch",
      doc=_sp502_doc)  # fmt: skip
def c_not_static(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    compilers = ("gcc", "g++", "cc", "c++", "clang", "clang++", "musl-gcc")
    for _, run, cmd in _builds_into_scratch(dockerfile):
        links = cmd.name in compilers and "-o" in cmd.args and "-c" not in cmd.args
        if links and "-static" not in cmd.args and "-static-pie" not in cmd.args:
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                f"{cmd.name} links dynamically without -static: the binary needs a loader "
                "and libc that scratch does not have",
            )


def _cargo_profile(dockerfile: Dockerfile) -> dict[str, object] | None:
    """``[profile.release]`` of the context's Cargo.toml (empty if absent), None without one."""
    import tomllib

    if dockerfile.context is None:
        return None
    try:
        manifest = tomllib.loads((dockerfile.context / "Cargo.toml").read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    profile = manifest.get("profile", {}).get("release", {})
    return profile if isinstance(profile, dict) else {}


def _sp503_doc() -> RuleDoc:
    return RuleDoc(
        why="Cargo's default release profile optimises for speed with 16 codegen units, no "
        "link-time optimisation and symbols kept: `lto = true`, `codegen-units = 1` and "
        "`strip = true` commonly halve the binary that scratch ships.",
        bad=f"FROM {RUST} AS build\n"
        "RUN cargo build --release --target x86_64-unknown-linux-musl\nFROM scratch\n"
        "COPY --from=build /target/x86_64-unknown-linux-musl/release/app /app\n"
        f'{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {RUST} AS build\n"
        "RUN cargo build --release --target x86_64-unknown-linux-musl\nFROM scratch\n"
        "COPY --from=build /target/x86_64-unknown-linux-musl/release/app /app\n"
        f'{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Add `[profile.release]` with `lto = true`, `codegen-units = 1`, `strip = true` "
        '(and `panic = "abort"` if the app does not catch panics).',
        bad_context=(("Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\n'),),
        good_context=(
            (
                "Cargo.toml",
                '[package]\nname = "app"\nversion = "0.1.0"\n\n[profile.release]\n'
                'lto = true\ncodegen-units = 1\nstrip = true\npanic = "abort"\n',
            ),
        ),
    )


@rule("SP503", Severity.INFO, "size", "Rust release profile not tuned for a small binary",
      doc=_sp503_doc)  # fmt: skip
def rust_profile(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    builds = [
        (stage, run, cmd)
        for stage, run, cmd in _builds_into_scratch(dockerfile)
        if cmd.name == "cargo" and cmd.args[:1] in (("build",), ("install",))
    ]
    if not builds:
        return
    profile = _cargo_profile(dockerfile)
    if profile is None:
        return
    stage, run, cargo = builds[0]
    env = stage_env(dockerfile, stage)
    missing = []
    if profile.get("lto") in (None, False, "off") and "CARGO_PROFILE_RELEASE_LTO" not in env:
        missing.append("lto = true")
    if profile.get("codegen-units") != 1 and "CARGO_PROFILE_RELEASE_CODEGEN_UNITS" not in env:
        missing.append("codegen-units = 1")
    if profile.get("strip") in (None, False, "none") and "CARGO_PROFILE_RELEASE_STRIP" not in env:
        missing.append("strip = true")
    if missing:
        yield meta.at_command(
            dockerfile,
            run,
            cargo,
            f"Cargo.toml's [profile.release] lacks {', '.join(missing)}: the binary could be "
            'much smaller (and panic = "abort" drops the unwinding tables)',
        )


# -- SP504: a binary linked against glibc copied into scratch ----------------------------------

# Images whose programs are linked against glibc: the distributions, and the official language
# and toolchain images built on them (their default tags are Debian), unless the tag says musl
# (alpine) or static. Other images are not judged: nothing here says how they link.
# Patterns are kept as text and compiled by `re` at their first use (its cache), not at import:
# most files have no static build to judge and lint starts once per file (issue 13).
_GLIBC_IMAGES = (
    r"(^|/)(debian|ubuntu|fedora|centos|rockylinux|almalinux|ubi\d*(-\w+)?|amazonlinux|"
    r"oraclelinux|archlinux|buildpack-deps|gcc|python|node|ruby|php|perl|golang|rust|"
    r"openjdk|eclipse-temurin|maven|gradle)$"
)
_NOT_GLIBC_TAG = r"(?i)alpine|musl|static|wolfi|chainguard"
# Words in a stage's RUNs or ENV that say a build may be static: it is then not judged.
_STATIC_HINT = (
    r"(?i)static|CGO_ENABLED=0|crt-static|musl|extldflags|zig\s+cc|upx|ld-linux|patchelf|ldd"
)
# Where a distribution's packages put programs and libraries (what an install in the stage
# wrote, unless a RUN of the stage writes the path itself)
_PACKAGE_PATHS = r"^/(usr/)?(s?bin|lib(64|exec|/[\w-]+-linux-gnu)?)/[^/]+$"
# C and C++ build systems, which link dynamically unless told otherwise
_BUILD_SYSTEMS = ("make", "cmake", "ninja", "meson", "./configure", "scons", "bazel")
# A final stage that brings a loader or libraries along can run a dynamic program
_LIBRARY_COPY = r"ld-linux|ld-musl|/lib64|/lib/|/usr/lib|-linux-gnu"


def _glibc_base(dockerfile: Dockerfile, stage: Stage) -> str | None:
    """The image at the root of the stage's FROM chain when it is a glibc one, else None."""
    root = stage
    while (parent := parent_stage(dockerfile, root)) is not None:
        root = parent
    return root.base if _glibc_image(root.base) else None


def _chain(dockerfile: Dockerfile, stage: Stage) -> list[Stage]:
    found = [stage]
    while (parent := parent_stage(dockerfile, found[-1])) is not None and parent not in found:
        found.append(parent)
    return found


def _written_by_run(stage_runs: list[Instruction], path: str) -> bool:
    """Whether a RUN of the stage names the path (builds, copies, moves or downloads to it):
    then the file is the build's, not a package's, and how it links is not known here."""
    output = re.compile(r"(-o\s*|>\s*)\S*" + re.escape(path.rsplit("/", 1)[-1]) + r"\b")
    return any(path in run.text or output.search(run.text) for run in stage_runs)


def _packaged(path: str, image: str) -> str:
    return f"{path} is a program of {image}, a glibc image, which links dynamically"


def _glibc_image(reference: str) -> bool:
    repo, tag, _ = image_parts(reference.lower())
    return bool(re.search(_GLIBC_IMAGES, repo)) and not re.search(_NOT_GLIBC_TAG, tag or "")


def _dynamic_evidence(dockerfile: Dockerfile, source: Stage, path: str) -> str | None:
    """Why the file at ``path`` of stage ``source`` is linked dynamically, or None when that
    cannot be told: every doubt (a static hint anywhere in the stage, a file the build wrote
    whose build is not known, an image that is not a glibc one) means no finding."""
    base = _glibc_base(dockerfile, source)
    if base is None:
        return None
    chain = _chain(dockerfile, source)
    stage_runs = [run for stage in chain for run in stage.of("RUN")]
    env_text = " ".join(
        f"{key}={value}" for stage in chain for i in stage.of("ENV", "ARG")
        for key, value in env_pairs(i)
    )  # fmt: skip
    texts = env_text + " " + " ".join(run.text for run in stage_runs)
    if re.search(_STATIC_HINT, texts):
        return None
    if re.match(_PACKAGE_PATHS, path) and not _written_by_run(stage_runs, path):
        return _packaged(path, base)
    if any(cmd.name in ("go", "cargo", "gcc", "g++", "cc", "c++", "clang", "clang++")
           for run in stage_runs for cmd in shell_of(run)):  # fmt: skip
        return None  # SP500-SP502 judge those builds, with their own evidence
    for run in stage_runs:
        for cmd in shell_of(run):
            if cmd.name in _BUILD_SYSTEMS:
                return (
                    f"{cmd.name} builds it in a stage FROM {base} (glibc) with no -static, "
                    "musl or static linker flag anywhere in the stage"
                )
    return None


def _sp504_doc() -> RuleDoc:
    return RuleDoc(
        why="A program linked dynamically needs its loader (`/lib64/ld-linux-x86-64.so.2`) and "
        "shared libraries at start; scratch has neither, so the container fails with the "
        "misleading `exec /curl: no such file or directory`. The rule reports it where the "
        "Dockerfile itself says so: the copied file is a program of a glibc image's packages "
        "(`/usr/bin/curl` of a stage FROM debian, or `COPY --from=debian:12 /bin/ls`), or a "
        "C build system (make, cmake, ninja, meson, configure) built it in a glibc stage with no "
        "sign of static linking. Builds with go, cargo, gcc or clang are SP500-SP502's.",
        bad=f"FROM {PINNED} AS build\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nFROM scratch\n"
        f'COPY --from=build /usr/bin/curl /curl\n{SCRATCH_TAIL}ENTRYPOINT ["/curl"]\n',
        good=f"FROM {PINNED} AS build\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends busybox-static && rm -rf /var/lib/apt/lists/*\nFROM scratch\n"
        f'COPY --from=build /bin/busybox /busybox\n{SCRATCH_TAIL}ENTRYPOINT ["/busybox"]\n',
        fix="Build the program statically (`-static`, `CGO_ENABLED=0`, a musl target), or copy "
        "its loader and libraries with it (`scratchpack pack` finds and copies them, NSS and "
        "gconv modules included), or use a base that has glibc (distroless/cc).",
        limits="Conservative by design: no finding when the word `static`, `musl`, "
        "`CGO_ENABLED=0`, `crt-static`, `extldflags`, `zig cc`, `ldd` or `patchelf` appears "
        "anywhere in the stage (or the stages it is built on), when the stage's root image is "
        "not a known glibc image (debian, ubuntu, fedora, ubi, gcc, python, node, golang, "
        "rust... with no alpine/musl/static tag), when the final stage also copies a loader "
        "or a library directory, or when a RUN of the stage writes the copied path itself "
        "(then the build made it, and how it links is not known). So a Makefile that links "
        "statically on its own, or a Go program built by make, is reported (false positive: "
        "ignore it on that COPY), while a dynamic binary downloaded in the stage, built by a "
        "script, or from an image this rule does not know is not (false negative). "
        "`scratchpack audit` reads the ELF itself and answers for sure.",
    )


@rule("SP504", Severity.WARNING, "correctness",
      "A dynamically linked program copied into scratch", doc=_sp504_doc)  # fmt: skip
def dynamic_into_scratch(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    """Only where the file itself says so: a program a glibc image's packages installed, or one
    a C build system made there without any sign of static linking; the final stage copying a
    loader or libraries too is left alone (it may have what the program needs)."""
    if not _static_final(dockerfile):
        return
    final = dockerfile.final
    copies = final.of("COPY")
    if any(re.search(_LIBRARY_COPY, " ".join(c.args[:-1])) for c in copies):
        return
    for copy in copies:
        name = copy.flag("from")
        if not name or len(copy.args) < 2:
            continue
        source = dockerfile.stage_named(name)
        if source is not None and source.index >= final.index:
            continue
        for path in copy.args[:-1]:
            if source is not None:
                evidence = _dynamic_evidence(dockerfile, source, path)
            elif _glibc_image(name) and re.match(_PACKAGE_PATHS, path):  # COPY --from=an image
                evidence = _packaged(path, name)
            else:
                evidence = None
            if evidence is not None:
                yield meta.at_word(
                    dockerfile, copy, path,
                    f"COPY --from={name} {path}: {evidence}; scratch has no loader or libc, so "
                    "it will not start ('no such file or directory'): build it statically, or "
                    "copy its loader and libraries (scratchpack pack does both)",
                )  # fmt: skip
