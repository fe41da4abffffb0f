"""Rules on static builds for scratch and distroless/static final stages (SP5xx): a binary
that needs a loader or libc those images do not have.
"""

from __future__ import annotations

from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    parent_stage,
    rule,
    shell_of,
    stage_env,
)
from scratchpack.dockerfile.shell import ShellCommand
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
        for run in stage.of("RUN"):
            for cmd in shell_of(run):
                yield stage, run, cmd


@rule("SP500", Severity.WARNING, "correctness", "Go built without CGO_ENABLED=0 for scratch")
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


@rule("SP501", Severity.WARNING, "correctness", "Rust built without a static target for scratch")
def rust_not_static(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage, run, cmd in _builds_into_scratch(dockerfile):
        if cmd.name == "cargo" and cmd.args[:1] in (("build",), ("install",)):
            env = {**stage_env(dockerfile, stage), **dict(cmd.env)}
            flags = env.get("RUSTFLAGS", "")
            if not _links_no_glibc(cmd, env) and "crt-static" not in flags:
                yield meta.at_command(
                    dockerfile,
                    run,
                    cmd,
                    "cargo build for the gnu target links glibc dynamically: build for "
                    "x86_64-unknown-linux-musl, or with RUSTFLAGS='-C target-feature=+crt-static'",
                )


@rule("SP502", Severity.WARNING, "correctness", "C/C++ linked without -static for scratch")
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
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    profile = manifest.get("profile", {}).get("release", {})
    return profile if isinstance(profile, dict) else {}


@rule("SP503", Severity.INFO, "size", "Rust release profile not tuned for a small binary")
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
