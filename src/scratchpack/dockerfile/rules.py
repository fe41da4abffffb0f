"""Lint rules: each finds one thing that makes an image big, unsafe, unreproducible or wrong.

A rule is a function from a parsed Dockerfile to findings, registered with a stable code
(``SP`` + number), a severity, a category, and the hadolint/dockle code it matches, if any.
Codes are grouped: SP1xx bases and the final stage, SP2xx size, SP3xx correctness,
SP4xx security. Each has a page at ``docs/rules/SPxxx.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.shell import ScriptTooComplex, ShellCommand, commands
from scratchpack.reports.severity import Severity
from scratchpack.secrets import SECRET_NAME, SECRET_VALUES


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    line: int
    column: int = 1


Check = Callable[[Dockerfile], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    category: str
    title: str
    check: Check
    hadolint: tuple[str, ...] = ()
    dockle: str | None = None

    def finding(self, message: str, line: int) -> Finding:
        return Finding(self.code, self.severity, message, line)


RULES: dict[str, Rule] = {}


def rule(
    code: str,
    severity: Severity,
    category: str,
    title: str,
    hadolint: tuple[str, ...] = (),
    dockle: str | None = None,
) -> Callable[[Callable[[Dockerfile, Rule], Iterator[Finding]]], None]:
    def register(fn: Callable[[Dockerfile, Rule], Iterator[Finding]]) -> None:
        meta: list[Rule] = []

        def check(dockerfile: Dockerfile) -> Iterable[Finding]:
            return fn(dockerfile, meta[0])

        meta.append(Rule(code, severity, category, title, check, hadolint, dockle))
        RULES[code] = meta[0]

    return register


# -- helpers ----------------------------------------------------------------------------------


def shell_of(instruction: Instruction) -> list[ShellCommand]:
    try:
        return _shell(instruction)
    except ScriptTooComplex as exc:
        exc.line = instruction.line
        raise


@lru_cache(maxsize=16384)  # above MAX_LINES: each RUN is parsed once per file
def _shell(instruction: Instruction) -> list[ShellCommand]:
    if instruction.cmd != "RUN":
        return []
    if instruction.json:
        args = instruction.args
        if not args:  # RUN []: no command (BuildKit refuses it when building)
            return []
        return [ShellCommand(args[0], tuple(args[1:]))] + (
            commands(args[2]) if len(args) > 2 and args[1] == "-c" else []
        )
    found = (
        []
        if instruction.heredocs and instruction.text.startswith("<<")
        else commands(instruction.text)
    )
    for heredoc in instruction.heredocs:
        found.extend(commands(heredoc.content))
    return found


def runs(dockerfile: Dockerfile) -> Iterator[tuple[Stage, Instruction]]:
    for stage in dockerfile.stages:
        for instruction in stage.of("RUN"):
            yield stage, instruction


def cache_mount(instruction: Instruction, path_fragment: str) -> bool:
    mount = instruction.flag("mount") or ""
    return "type=cache" in mount and path_fragment in mount


def _apt(cmd: ShellCommand) -> str | None:
    """The apt-get/apt subcommand (install, update...) or None."""
    if cmd.name not in ("apt-get", "apt"):
        return None
    words = [a for a in cmd.args if not a.startswith("-")]
    return words[0] if words else None


def _image_parts(base: str) -> tuple[str, str | None, str | None]:
    name, _, digest = base.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    repo = name[: len(name) - len(tag) - 1] if tag else name
    return repo, tag, digest or None


def _is_stage_reference(dockerfile: Dockerfile, stage: Stage) -> bool:
    return any(s.name == stage.base.lower() for s in dockerfile.stages[: stage.index])


# -- bases and the final stage (SP1xx) --------------------------------------------------------


@rule("SP100", Severity.WARNING, "security", "The final stage runs as root",
      hadolint=("DL3002",), dockle="CIS-DI-0001")  # fmt: skip
def final_stage_root(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    users = final.of("USER")
    if users:
        user = users[-1].text.split(":")[0].strip()
        if user in ("root", "0"):
            yield meta.finding(
                f"the final stage runs as root (USER {users[-1].text})", users[-1].line
            )
        return
    if "nonroot" in final.base or _is_stage_reference(dockerfile, final):
        return
    yield meta.finding(
        "the final stage has no USER, so it runs as root: add an unprivileged user "
        "(e.g. USER 65532:65532)",
        final.line,
    )


@rule("SP101", Severity.WARNING, "reproducibility", "FROM is not pinned by digest")
def from_without_digest(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        if stage.base == "scratch" or _is_stage_reference(dockerfile, stage):
            continue
        if "@sha256:" not in stage.base:
            yield meta.finding(
                f"{stage.base} is not pinned by digest: the image can change under the same tag "
                f"(pin it: {stage.base}@sha256:..., see `scratchpack digest`)",
                stage.line,
            )


@rule("SP102", Severity.WARNING, "reproducibility", "FROM uses :latest or no tag",
      hadolint=("DL3006", "DL3007"))  # fmt: skip
def from_latest(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        if stage.base == "scratch" or _is_stage_reference(dockerfile, stage):
            continue
        _, tag, digest = _image_parts(stage.base)
        if digest is None and tag in (None, "latest"):
            what = "the latest tag" if tag else "no tag (so latest)"
            yield meta.finding(f"{stage.base} uses {what}: name a version", stage.line)


@rule("SP103", Severity.INFO, "maintainability", "The final stage sets no WORKDIR")
def final_no_workdir(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if not final.of("WORKDIR") and not _is_stage_reference(dockerfile, final):
        yield meta.finding("the final stage sets no WORKDIR (it runs in /)", final.line)


# -- size (SP2xx) -----------------------------------------------------------------------------


@rule("SP200", Severity.WARNING, "size", "apt-get install without --no-install-recommends",
      hadolint=("DL3015",))  # fmt: skip
def apt_recommends(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            if _apt(cmd) == "install" and not cmd.has("--no-install-recommends"):
                yield meta.finding(
                    "apt-get install without --no-install-recommends pulls in recommended "
                    "packages you did not ask for",
                    run.line,
                )


@rule("SP201", Severity.INFO, "size", "apt lists are not removed in the same RUN",
      hadolint=("DL3009",))  # fmt: skip
def apt_lists_kept(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        cmds = shell_of(run)
        if not any(_apt(c) == "install" for c in cmds) or cache_mount(run, "/var/lib/apt"):
            continue
        removed = any(
            c.name == "rm" and any("/var/lib/apt/lists" in a for a in c.args) for c in cmds
        )
        if not removed:
            yield meta.finding(
                "apt lists stay in the layer: end the RUN with rm -rf /var/lib/apt/lists/*",
                run.line,
            )


@rule("SP202", Severity.WARNING, "size", "apt-get update alone in its own RUN")
def apt_update_alone(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        subs = [s for s in (_apt(c) for c in shell_of(run)) if s]
        if subs and set(subs) == {"update"}:
            yield meta.finding(
                "apt-get update in a RUN of its own is cached separately: a later install may "
                "use stale lists; update and install in one RUN",
                run.line,
            )


@rule("SP203", Severity.WARNING, "reproducibility", "apt-get upgrade or dist-upgrade",
      hadolint=("DL3005",), dockle="DKL-DI-0003")  # fmt: skip
def apt_upgrade(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            sub = _apt(cmd)
            if sub in ("upgrade", "dist-upgrade", "full-upgrade"):
                yield meta.finding(
                    f"apt-get {sub} makes the build depend on the day it runs: use a newer base",
                    run.line,
                )


@rule("SP204", Severity.INFO, "size", "apk add without --no-cache",
      hadolint=("DL3019",), dockle="DKL-DI-0004")  # fmt: skip
def apk_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        if cache_mount(run, "/var/cache/apk"):
            continue
        for cmd in shell_of(run):
            if cmd.name == "apk" and "add" in cmd.args and not cmd.has("--no-cache"):
                yield meta.finding(
                    "apk add without --no-cache keeps the index in the layer", run.line
                )


@rule("SP205", Severity.INFO, "size", "pip install without --no-cache-dir", hadolint=("DL3042",))
def pip_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:  # per stage, not per RUN: linear in the instructions
        env_off = any("PIP_NO_CACHE_DIR" in env.text for env in stage.of("ENV"))
        for run in stage.of("RUN"):
            if env_off or cache_mount(run, "/root/.cache"):
                continue
            for cmd in shell_of(run):
                pip = cmd.name in ("pip", "pip3") or (
                    cmd.name.startswith("python") and cmd.args[:2] == ("-m", "pip")
                )
                if pip and "install" in cmd.args and not cmd.has("--no-cache-dir"):
                    message = "pip install without --no-cache-dir keeps its cache in the layer"
                    yield meta.finding(message, run.line)


@rule("SP206", Severity.INFO, "size", "Consecutive RUN instructions", hadolint=("DL3059",))
def consecutive_runs(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        previous: Instruction | None = None
        for instruction in stage.instructions:
            if (
                previous is not None
                and previous.cmd == "RUN"
                and instruction.cmd == "RUN"
                and not instruction.flags
                and not previous.flags
            ):
                yield meta.finding(
                    f"RUN follows the RUN at line {previous.line}: each makes a layer; join them "
                    "with && when they belong together",
                    instruction.line,
                )
            previous = instruction


# -- correctness (SP3xx) ----------------------------------------------------------------------


@rule("SP300", Severity.ERROR, "correctness", "COPY --from names no earlier stage",
      hadolint=("DL3022", "DL3023"))  # fmt: skip
def copy_from_unknown(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for copy in stage.of("COPY"):
            source = copy.flag("from")
            if not source or "/" in source or ":" in source or "$" in source:
                continue  # an image reference, or a build argument
            earlier = dockerfile.stages[: stage.index]
            if source.isdigit():
                known = int(source) < stage.index
            else:
                known = any(s.name == source.lower() for s in earlier)
            if known:
                continue
            if source.lower() == (stage.name or "") or (
                source.isdigit() and int(source) == stage.index
            ):
                why = "the stage it is in"
            elif dockerfile.stage_named(source) is not None:
                why = "a stage defined later"
            else:
                why = "no stage of this Dockerfile (and it is not an image name)"
            yield meta.finding(f"COPY --from={source} names {why}", copy.line)


# C:\app, c:/app, \app: absolute on the Windows images that use them
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:)?[\\/]")


def _absolute_workdir(path: str) -> bool:
    return path.startswith(("/", "$")) or _WINDOWS_ABSOLUTE.match(path) is not None


@rule("SP301", Severity.WARNING, "correctness", "WORKDIR is relative", hadolint=("DL3000",))
def workdir_relative(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for workdir in stage.of("WORKDIR"):
            path = workdir.text.strip().strip('"')
            if path and not _absolute_workdir(path):
                yield meta.finding(
                    f"WORKDIR {path} is relative to whatever the base image set: use an "
                    "absolute path",
                    workdir.line,
                )


@rule("SP302", Severity.INFO, "maintainability", "cd in RUN instead of WORKDIR",
      hadolint=("DL3003",))  # fmt: skip
def cd_in_run(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        if any(cmd.name == "cd" for cmd in shell_of(run)):
            yield meta.finding("cd in RUN: use WORKDIR to change directory", run.line)


@rule("SP303", Severity.WARNING, "correctness", "CMD or ENTRYPOINT in shell form",
      hadolint=("DL3025",))  # fmt: skip
def shell_form_entrypoint(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for instruction in dockerfile.final.of("CMD", "ENTRYPOINT"):
        if not instruction.json:
            yield meta.finding(
                f"{instruction.cmd} in shell form runs under /bin/sh -c: signals never reach the "
                f'app, and scratch has no shell; use the exec form {instruction.cmd} ["..."]',
                instruction.line,
            )


@rule("SP304", Severity.ERROR, "correctness", "Duplicate stage name", hadolint=("DL3024",))
def duplicate_stage(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for stage in dockerfile.stages:
        if stage.name is None:
            continue
        if stage.name in seen:
            yield meta.finding(
                f"stage name {stage.name} is already used at line {seen[stage.name]}", stage.line
            )
        else:
            seen[stage.name] = stage.line


@rule("SP305", Severity.WARNING, "correctness", "More than one CMD or ENTRYPOINT in a stage",
      hadolint=("DL4003", "DL4004"))  # fmt: skip
def multiple_cmd(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for cmd in ("CMD", "ENTRYPOINT"):
            found = stage.of(cmd)
            for extra in found[1:]:
                yield meta.finding(
                    f"{cmd} again (first at line {found[0].line}): only the last one counts",
                    extra.line,
                )


# -- security (SP4xx) -------------------------------------------------------------------------

_SECRET_NAME = SECRET_NAME


def _pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """Name/value pairs of ENV (BuildKit gives alternating names and values, quotes kept) and
    ARG (``NAME=default`` or ``NAME``)."""
    if instruction.cmd == "ENV":
        args = instruction.args
        return [(k, v.strip("\"'")) for k, v in zip(args[0::2], args[1::2], strict=False)]
    pairs = []
    for arg in instruction.args:
        name, _, default = arg.partition("=")
        pairs.append((name, default.strip("\"'")))
    return pairs


@rule("SP400", Severity.ERROR, "security", "A secret in ENV or ARG", dockle="CIS-DI-0010")
def secret_in_env(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.of("ENV", "ARG"):
            for key, value in _pairs(instruction):
                if not _SECRET_NAME.search(key):
                    continue
                if instruction.cmd == "ENV" or value:
                    where = "the image config" if instruction.cmd == "ENV" else "the build history"
                    yield meta.finding(
                        f"{instruction.cmd} {key} puts a secret into {where}: use a build secret "
                        "(RUN --mount=type=secret) or inject it at run time",
                        instruction.line,
                    )


@rule("SP401", Severity.WARNING, "security", "A download piped into a shell")
def curl_pipe_shell(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    shells = ("sh", "bash", "zsh", "dash", "ash", "/bin/sh", "/bin/bash")
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            if cmd.name in ("curl", "wget") and cmd.pipe_to in shells:
                yield meta.finding(
                    f"{cmd.name} | {cmd.pipe_to} runs whatever the server sends today: download, "
                    "verify a checksum, then run",
                    run.line,
                )


@rule("SP402", Severity.WARNING, "security", "sudo in RUN", hadolint=("DL3004",),
      dockle="DKL-DI-0001")  # fmt: skip
def sudo(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        if any(cmd.name == "sudo" for cmd in shell_of(run)):
            yield meta.finding("sudo in a build: RUN already runs as the stage's USER", run.line)


@rule("SP403", Severity.WARNING, "security", "EXPOSE 22 (SSH)")
def expose_ssh(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for expose in stage.of("EXPOSE"):
            if any(port.split("/")[0] == "22" for port in expose.args):
                yield meta.finding("EXPOSE 22: containers should not run an SSH server",
                                   expose.line)  # fmt: skip


def _world_writable(mode: str) -> bool:
    """Octal modes with the other-write bit, unless sticky (a 1777 /tmp is the idiom)."""
    octal = re.fullmatch(r"0?([0-7]?)[0-7][0-7]([0-7])", mode)
    if octal:
        special = int(octal.group(1) or "0")
        return int(octal.group(2)) & 2 != 0 and special & 1 == 0
    return bool(re.search(r"(^|,)[ao]*\+[rwxXst]*w", mode)) and "+t" not in mode


@rule("SP404", Severity.WARNING, "security", "World-writable permissions")
def world_writable(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            if cmd.name != "chmod":
                continue
            modes = [a for a in cmd.args if not a.startswith("-")][:1]
            if modes and _world_writable(modes[0]):
                yield meta.finding(f"chmod {modes[0]} makes files world-writable", run.line)
    for stage in dockerfile.stages:
        for copy in stage.of("COPY", "ADD"):
            mode = copy.flag("chmod") or ""
            if mode and _world_writable(mode):
                yield meta.finding(f"{copy.cmd} --chmod={mode} makes files world-writable",
                                   copy.line)  # fmt: skip


@rule("SP405", Severity.WARNING, "security", "ADD from a URL without --checksum")
def add_url(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for add in stage.of("ADD"):
            urls = [a for a in add.args[:-1] if a.startswith(("http://", "https://"))]
            if urls and not add.flag("checksum"):
                yield meta.finding(
                    f"ADD {urls[0]} without --checksum=sha256:... trusts whatever is served",
                    add.line,
                )


# -- the final stage and static builds (SP104-SP107, SP207-SP208, SP5xx) ----------------------

_TOOLCHAINS = frozenset(
    {"golang", "rust", "node", "gcc", "maven", "gradle", "openjdk", "buildpack-deps", "clang",
     "haskell", "swift", "elixir", "erlang", "sdk"}
)  # fmt: skip
_FULL_OS = frozenset(
    {"debian", "ubuntu", "alpine", "centos", "fedora", "rockylinux", "almalinux", "amazonlinux",
     "oraclelinux", "archlinux", "opensuse", "busybox"}
)  # fmt: skip


def _repo_name(base: str) -> str:
    repo, _, _ = _image_parts(base)
    return repo.rsplit("/", 1)[-1].lower()


def stage_env(dockerfile: Dockerfile, stage: Stage) -> dict[str, str]:
    """ENV (and ARG defaults) of a stage, including what it inherits through FROM <stage>."""
    env: dict[str, str] = {}
    parent = next(
        (s for s in dockerfile.stages[: stage.index] if s.name == stage.base.lower()), None
    )
    if parent is not None:
        env.update(stage_env(dockerfile, parent))
    for instruction in stage.of("ENV", "ARG"):
        env.update(_pairs(instruction))
    return env


def copied_into_final(dockerfile: Dockerfile) -> list[Stage]:
    """Earlier stages whose files the final stage copies (COPY --from), and their parents."""
    final = dockerfile.final
    found: list[Stage] = []
    for copy in final.of("COPY"):
        source = copy.flag("from")
        stage = dockerfile.stage_named(source) if source else None
        while stage is not None and stage.index < final.index and stage not in found:
            found.append(stage)
            stage = next(
                (s for s in dockerfile.stages[: stage.index] if s.name == stage.base.lower()), None
            )
    return found


def _static_final(dockerfile: Dockerfile) -> bool:
    base = dockerfile.final.base.lower()
    return base == "scratch" or "distroless/static" in base


def _copies_to(stage: Stage, fragment: str) -> bool:
    return any(fragment in copy.text for copy in stage.of("COPY", "ADD"))


@rule("SP104", Severity.WARNING, "size", "The final stage is a build toolchain image")
def final_toolchain(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if _is_stage_reference(dockerfile, final):
        return
    name = _repo_name(final.base)
    if name in _TOOLCHAINS or (name.endswith("jdk") and "jre" not in name):
        yield meta.finding(
            f"the final stage runs FROM {final.base}, a whole toolchain (compilers, headers, "
            "package managers): build in an earlier stage and copy only the result into "
            "scratch or distroless",
            final.line,
        )


@rule("SP105", Severity.INFO, "size", "A full OS base for a final stage that only copies files")
def final_full_os(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if _is_stage_reference(dockerfile, final) or _repo_name(final.base) not in _FULL_OS:
        return
    builds = [c for c in final.of("COPY") if c.flag("from")]
    if builds and not final.of("RUN"):
        yield meta.finding(
            f"the final stage only copies build output, yet ships {final.base} with a shell "
            "and a package manager: a static binary needs scratch, a dynamic one distroless",
            final.line,
        )


@rule("SP106", Severity.INFO, "correctness", "FROM scratch without CA certificates")
def scratch_without_certs(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if final.base == "scratch" and not (
        _copies_to(final, "ca-certificates") or _copies_to(final, "/etc/ssl")
    ):
        yield meta.finding(
            "FROM scratch has no CA certificates: every TLS connection the app makes will fail "
            "(COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/)",
            final.line,
        )


@rule("SP107", Severity.INFO, "correctness", "FROM scratch without /tmp")
def scratch_without_tmp(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if final.base == "scratch" and not any(
        " /tmp" in c.text or c.text.endswith("/tmp/") for c in final.of("COPY", "ADD")
    ):
        yield meta.finding(
            "FROM scratch has no /tmp: libraries that create temporary files will fail "
            "(copy an empty directory with mode 1777, or mount a tmpfs at run time)",
            final.line,
        )


_DEPENDENCY_INSTALLS = (
    ("npm", ("ci", "install", "i")), ("yarn", ("install",)), ("pnpm", ("install", "i")),
    ("pip", ("install",)), ("pip3", ("install",)), ("poetry", ("install",)),
    ("cargo", ("build", "fetch")), ("go", ("mod", "build")), ("bundle", ("install",)),
    ("composer", ("install",)), ("mvn", ()), ("gradle", ()), ("dotnet", ("restore",)),
)  # fmt: skip


def _installs_dependencies(cmd: ShellCommand) -> bool:
    for name, subcommands in _DEPENDENCY_INSTALLS:
        if cmd.name == name and (not subcommands or any(a in subcommands for a in cmd.args[:1])):
            return True
    return False


@rule("SP207", Severity.WARNING, "size", "The whole context is copied before dependencies install")
def cache_order(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        whole_context = None
        for instruction in stage.instructions:
            if (
                instruction.cmd == "RUN"
                and whole_context is None
                and any(_installs_dependencies(c) for c in shell_of(instruction))
            ):
                break  # dependencies come first: the cache order is right
            if instruction.cmd in ("COPY", "ADD") and not instruction.flag("from"):
                sources = instruction.args[:-1]
                if any(s in (".", "./", "*") for s in sources) and whole_context is None:
                    whole_context = instruction
            elif (
                instruction.cmd == "RUN"
                and whole_context is not None
                and any(_installs_dependencies(c) for c in shell_of(instruction))
            ):
                yield meta.finding(
                    f"COPY of the whole context comes before the dependency install at line "
                    f"{instruction.line}: every source change reinstalls everything; copy the "
                    "dependency manifest (package.json, requirements.txt, Cargo.toml, "
                    "go.mod...) first, install, then copy the rest",
                    whole_context.line,
                )
                break


_LANGUAGE_OUTPUTS = {
    "package.json": ("node_modules",),
    "Cargo.toml": ("target",),
    "pyproject.toml": ("__pycache__", ".venv"),
    "requirements.txt": ("__pycache__", ".venv"),
}


@rule("SP208", Severity.WARNING, "size", "No .dockerignore, or one that lets .git through")
def dockerignore(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    if dockerfile.context is None:
        return
    ignore_file = dockerfile.context / ".dockerignore"
    if not ignore_file.is_file():
        yield meta.finding(
            f"no .dockerignore beside the build context ({dockerfile.context}): .git, build "
            "output and local secrets are sent to the builder and can end up in the image",
            1,
        )
        return
    patterns = {
        line.strip().strip("/").removeprefix("**/")
        for line in ignore_file.read_text(errors="replace").splitlines()
        if line.strip() and not line.startswith("#")
    }
    missing = [] if (".git" in patterns or "*" in patterns) else [".git"]
    for manifest, outputs in _LANGUAGE_OUTPUTS.items():
        if (dockerfile.context / manifest).exists():
            missing += [o for o in outputs if o not in patterns and "*" not in patterns]
    if missing:
        yield meta.finding(f".dockerignore does not exclude {', '.join(dict.fromkeys(missing))}", 1)


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
            yield meta.finding(
                "go build without CGO_ENABLED=0 may link libc dynamically, and the binary "
                "will not start in scratch ('no such file or directory')",
                run.line,
            )


@rule("SP501", Severity.WARNING, "correctness", "Rust built without a static target for scratch")
def rust_not_static(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage, run, cmd in _builds_into_scratch(dockerfile):
        if cmd.name == "cargo" and cmd.args[:1] in (("build",), ("install",)):
            target = next((a for a in cmd.args if "musl" in a), None)
            flags = cmd.env_value("RUSTFLAGS") or stage_env(dockerfile, stage).get("RUSTFLAGS", "")
            if target is None and "crt-static" not in flags:
                yield meta.finding(
                    "cargo build for the gnu target links glibc dynamically: build for "
                    "x86_64-unknown-linux-musl, or with RUSTFLAGS='-C target-feature=+crt-static'",
                    run.line,
                )


@rule("SP502", Severity.WARNING, "correctness", "C/C++ linked without -static for scratch")
def c_not_static(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    compilers = ("gcc", "g++", "cc", "c++", "clang", "clang++", "musl-gcc")
    for _, run, cmd in _builds_into_scratch(dockerfile):
        links = cmd.name in compilers and "-o" in cmd.args and "-c" not in cmd.args
        if links and "-static" not in cmd.args and "-static-pie" not in cmd.args:
            yield meta.finding(
                f"{cmd.name} links dynamically without -static: the binary needs a loader "
                "and libc that scratch does not have",
                run.line,
            )


# -- base image provenance (SP108) ------------------------------------------------------------

OFFICIAL_NAMES = (
    "alpine", "debian", "ubuntu", "busybox", "centos", "fedora", "python", "node", "golang",
    "rust", "openjdk", "eclipse-temurin", "nginx", "httpd", "redis", "postgres", "mysql",
    "mariadb", "mongo", "ruby", "php", "perl", "gcc", "maven", "gradle", "amazonlinux",
    "rockylinux", "almalinux", "archlinux", "haproxy", "traefik", "memcached", "rabbitmq",
)  # fmt: skip


def _distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance; names are short, so the quadratic table is cheap. With ``limit``,
    any distance above it comes back as ``limit + 1`` as soon as a row shows it."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:  # rows never get smaller
            return limit + 1
        previous = current
    return previous[-1]


def _registry_of(base: str) -> str:
    first, sep, _ = base.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


@rule("SP108", Severity.WARNING, "security", "A base image from an untrusted registry or with a "
      "name that looks mistyped")  # fmt: skip
def untrusted_base(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    trusted = dockerfile.trusted_registries
    for stage in dockerfile.stages:
        if stage.base == "scratch" or _is_stage_reference(dockerfile, stage) or "$" in stage.base:
            continue
        registry = _registry_of(stage.base)
        if trusted and registry not in trusted:
            yield meta.finding(
                f"{stage.base} comes from {registry}, which is not a trusted registry "
                f"({', '.join(sorted(trusted))})",
                stage.line,
            )
            continue
        repo = _image_parts(stage.base)[0]
        if registry != "docker.io" or "/" in repo.removeprefix("library/"):
            continue
        name = repo.removeprefix("library/")
        # the distance is at least the difference in length: only names that close are compared
        # (a 16 KiB image name would otherwise cost seconds)
        near = [
            o
            for o in OFFICIAL_NAMES
            if o != name
            and abs(len(name) - len(o)) <= (len(o) > 5) + 1
            and _distance(name, o, (len(o) > 5) + 1) <= (len(o) > 5) + 1
        ]
        if near and name not in OFFICIAL_NAMES:
            yield meta.finding(
                f"{stage.base}: did you mean {near[0]}? a near-miss of an official image name "
                "is how typosquatted images get pulled",
                stage.line,
            )


# -- dependencies, layers and ADD (SP209-SP212) -----------------------------------------------


def _copies_lockfile(dockerfile: Dockerfile, stage: Stage, lockfile: str) -> bool:
    copied = any(
        lockfile in source or source.endswith(("*.json", "*"))
        for copy in stage.of("COPY", "ADD")
        if not copy.flag("from")
        for source in copy.args[:-1]
    )
    on_disk = dockerfile.context is not None and (dockerfile.context / lockfile).is_file()
    return copied or on_disk


def _npm_install_from_manifest(cmd: ShellCommand) -> bool:
    """``npm install`` / ``npm i`` with no package named: it installs package.json."""
    if cmd.name != "npm" or cmd.args[:1] not in (("install",), ("i",)):
        return False
    return not [a for a in cmd.args[1:] if not a.startswith("-")]


@rule("SP209", Severity.WARNING, "reproducibility", "npm install where npm ci fits")
def npm_install(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:  # per stage, not per RUN: linear in the instructions
        if not _copies_lockfile(dockerfile, stage, "package-lock.json"):
            continue
        for run in stage.of("RUN"):
            for cmd in shell_of(run):
                if _npm_install_from_manifest(cmd):
                    yield meta.finding(
                        "npm install may rewrite package-lock.json and install other versions "
                        "than it pins: npm ci installs exactly the lock file, and fails when it "
                        "is stale",
                        run.line,
                    )


_DEV_REQUIREMENTS = re.compile(r"(^|[/_-])(dev|test|tests|testing|lint|docs)([/_.-]|$)", re.I)


def _dev_install(cmd: ShellCommand, env: dict[str, str]) -> str | None:
    """Why ``cmd`` installs development dependencies, or None."""
    production = env.get("NODE_ENV") == "production"
    if cmd.name == "npm" and cmd.args[:1] in (("ci",), ("install",), ("i",)):
        if cmd.args[0] != "ci" and not _npm_install_from_manifest(cmd):
            return None
        omitted = cmd.has("--production", "--only", "--omit") or production
        omitted = omitted or env.get("NPM_CONFIG_OMIT") == "dev"
        return None if omitted else f"npm {cmd.args[0]} installs devDependencies too"
    if cmd.name == "yarn" and cmd.args[:1] in ((), ("install",)):
        if cmd.has("--production", "--prod") or production:
            return None
        return "yarn install installs devDependencies too"
    if cmd.name == "pnpm" and cmd.args[:1] in (("install",), ("i",)):
        if cmd.has("--prod", "-P", "--production") or production:
            return None
        return "pnpm install installs devDependencies too"
    if cmd.name == "composer" and cmd.args[:1] == ("install",) and not cmd.has("--no-dev"):
        return "composer install installs require-dev too"
    if cmd.name == "poetry" and cmd.args[:1] in (("install",), ("sync",)):
        if cmd.has("--only", "--without", "--no-dev", "--only-root"):
            return None
        return f"poetry {cmd.args[0]} installs every dependency group"
    if cmd.name in ("pip", "pip3") or cmd.args[:2] == ("-m", "pip"):
        args = list(cmd.args)
        for n, arg in enumerate(args[:-1]):
            target = args[n + 1]
            if arg in ("-r", "--requirement") and _DEV_REQUIREMENTS.search(target):
                return f"pip installs {target}"
    if cmd.name == "bundle" and cmd.args[:1] == ("install",):
        if cmd.has("--without") or "BUNDLE_WITHOUT" in env or "BUNDLE_DEPLOYMENT" in env:
            return None
        return "bundle install installs the development and test groups too"
    return None


@rule("SP210", Severity.WARNING, "size", "Development dependencies in the final stage")
def dev_dependencies(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    chain = [final]
    while (parent := dockerfile.stage_named(chain[-1].base)) is not None and parent.index < chain[
        -1
    ].index:
        chain.append(parent)
    for stage in chain:
        env = stage_env(dockerfile, stage)
        for run in stage.of("RUN"):
            for cmd in shell_of(run):
                why = _dev_install(cmd, {**env, **dict(cmd.env)})
                if why:
                    yield meta.finding(
                        f"{why} into the image that ships: install production dependencies "
                        "only (npm ci --omit=dev, poetry install --only main, composer "
                        "install --no-dev...), or build in an earlier stage",
                        run.line,
                    )


def _resolve(path: str, workdir: str) -> str:
    path = path.strip("\"'")
    if not path.startswith("/"):
        path = f"{workdir.rstrip('/')}/{path}"
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _created_by(instruction: Instruction, workdir: str) -> list[str]:
    """Paths an instruction puts into its layer that a later ``rm`` could name."""
    if instruction.cmd in ("COPY", "ADD"):
        if len(instruction.args) < 2 or instruction.heredocs:
            return []
        *sources, dest = instruction.args
        target = _resolve(dest, workdir)
        if dest.endswith("/") or len(sources) > 1:
            return [
                f"{target.rstrip('/')}/{s.rstrip('/').rsplit('/', 1)[-1]}"
                for s in sources
                if "*" not in s and s not in (".", "./")
            ]
        return [target]
    created = []
    for cmd in shell_of(instruction):
        sub = _apt(cmd)
        if sub == "update":
            created.append("/var/lib/apt/lists")
        if cmd.name in ("curl", "wget"):
            args = list(cmd.args)
            for n, arg in enumerate(args[:-1]):
                if arg in ("-o", "--output", "-O", "--output-document"):
                    created.append(_resolve(args[n + 1], workdir))
            if cmd.name == "wget" and not cmd.has("-O", "--output-document", "-q0", "-qO"):
                urls = [a for a in args if a.startswith(("http://", "https://"))]
                created += [_resolve(u.rsplit("/", 1)[-1], workdir) for u in urls]
    return [c for c in created if c != "/"]


def _rm_targets(instruction: Instruction, workdir: str) -> list[str]:
    return [
        _resolve(arg, workdir)
        for cmd in shell_of(instruction)
        if cmd.name == "rm"
        for arg in cmd.args
        if not arg.startswith("-") and "$" not in arg
    ]


_GLOB = frozenset("*?[")
# Comparisons of rm globs (or very deep paths) with the files added before, per file: beyond
# this the rule stops looking at those, so a hostile file of thousands of both stays fast.
GLOB_COMPARISONS = 200_000
_INDEXED_DEPTH = 32  # deeper rm targets are compared one by one, within the same budget


@rule("SP211", Severity.WARNING, "size", "A file added in one layer and deleted in a later one")
def deleted_later(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    import fnmatch

    budget = GLOB_COMPARISONS
    for stage in dockerfile.stages:
        workdir = "/"
        created: list[tuple[str, int]] = []
        # every created path and each of its parent directories -> positions in ``created``,
        # so a plain rm target finds what it removes without a scan of everything added
        under: dict[str, list[int]] = {}
        for instruction in stage.instructions:
            if instruction.cmd == "WORKDIR":
                workdir = _resolve(instruction.text, workdir)
                continue
            if instruction.cmd == "RUN":
                own = set(_created_by(instruction, workdir))
                for target in _rm_targets(instruction, workdir):
                    directory = target.rstrip("/*")
                    if _GLOB & set(target) or directory.count("/") > _INDEXED_DEPTH:
                        budget -= len(created)
                        if budget < 0:
                            continue
                        candidates: Iterable[int] = (
                            n for n, (path, _) in enumerate(created)
                            if path == directory or path.startswith(directory + "/")
                            or fnmatch.fnmatch(path, target)
                        )  # fmt: skip
                    else:
                        candidates = (
                            range(len(created)) if not directory else under.get(directory, [])
                        )
                    for n in candidates:
                        path, line = created[n]
                        if path not in own:
                            yield meta.finding(
                                f"{path} was added by the layer at line {line}: removing it "
                                "in a later layer hides it but still ships its bytes; remove "
                                "it in the same RUN, or use a multi-stage build",
                                instruction.line,
                            )
                            break
            for path in _created_by(instruction, workdir):
                created.append((path, instruction.line))
                end = 0
                for _ in range(_INDEXED_DEPTH):
                    end = path.find("/", end + 1)
                    under.setdefault(path[:end] if end > 0 else path, []).append(len(created) - 1)
                    if end < 0:
                        break


_ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst)$", re.I)


@rule("SP212", Severity.WARNING, "maintainability", "ADD where COPY fits",
      hadolint=("DL3020",), dockle="CIS-DI-0009")  # fmt: skip
def add_instead_of_copy(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for add in stage.of("ADD"):
            if add.heredocs or len(add.args) < 2:
                continue
            *sources, dest = add.args
            local = [
                s for s in sources if "://" not in s and not s.startswith("git@") and "$" not in s
            ]
            if not local:
                continue
            archives = [s for s in local if _ARCHIVE.search(s)]
            if len(archives) < len(local):
                plain = next(s for s in local if s not in archives)
                yield meta.finding(
                    f"ADD {plain} copies a plain file: use COPY, which does only that (ADD also "
                    "fetches URLs and unpacks archives, which surprises readers)",
                    add.line,
                )
            elif _ARCHIVE.search(dest.rstrip("/")):
                yield meta.finding(
                    f"ADD {archives[0]} {dest} unpacks the archive into a directory named "
                    f"{dest}: use COPY to copy the archive as a file",
                    add.line,
                )


# -- insecure build options, secret values, Rust profile (SP406, SP407, SP503) ----------------


@rule("SP406", Severity.WARNING, "security", "RUN with privileged-like options")
def insecure_run(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        if run.flag("security") == "insecure":
            yield meta.finding(
                "RUN --security=insecure runs the step with all capabilities and no "
                "seccomp/AppArmor, like docker run --privileged: the build can change the host",
                run.line,
            )
        if run.flag("network") == "host":
            yield meta.finding(
                "RUN --network=host gives the step the host's network namespace (its loopback "
                "services included): use the default network",
                run.line,
            )
        for mount in [v for k, v in run.flags if k == "mount"]:
            options = dict(o.partition("=")[::2] for o in mount.split(","))
            if options.get("type") == "bind" and ("rw" in options or options.get("readwrite")):
                source = options.get("source") or options.get("src") or "the context"
                yield meta.finding(
                    f"RUN --mount=type=bind,rw on {source}: a build step that writes into what it "
                    "mounts; bind the context read-only",
                    run.line,
                )


_SECRET_VALUES = SECRET_VALUES


@rule("SP407", Severity.ERROR, "security", "A value that looks like a credential",
      dockle="CIS-DI-0010")  # fmt: skip
def secret_value(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.cmd not in ("ENV", "ARG", "RUN", "LABEL"):
                continue
            text = instruction.original + "".join(h.content for h in instruction.heredocs)
            for what, pattern in _SECRET_VALUES:
                if pattern.search(text):
                    yield meta.finding(
                        f"{instruction.cmd} holds what looks like {what}: it stays in the image "
                        "history for anyone who pulls it; revoke it, and pass secrets with "
                        "RUN --mount=type=secret",
                        instruction.line,
                    )
                    break


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
        (stage, run)
        for stage, run, cmd in _builds_into_scratch(dockerfile)
        if cmd.name == "cargo" and cmd.args[:1] in (("build",), ("install",))
    ]
    if not builds:
        return
    profile = _cargo_profile(dockerfile)
    if profile is None:
        return
    stage, run = builds[0]
    env = stage_env(dockerfile, stage)
    missing = []
    if profile.get("lto") in (None, False, "off") and "CARGO_PROFILE_RELEASE_LTO" not in env:
        missing.append("lto = true")
    if profile.get("codegen-units") != 1 and "CARGO_PROFILE_RELEASE_CODEGEN_UNITS" not in env:
        missing.append("codegen-units = 1")
    if profile.get("strip") in (None, False, "none") and "CARGO_PROFILE_RELEASE_STRIP" not in env:
        missing.append("strip = true")
    if missing:
        yield meta.finding(
            f"Cargo.toml's [profile.release] lacks {', '.join(missing)}: the binary could be "
            'much smaller (and panic = "abort" drops the unwinding tables)',
            run.line,
        )
