"""Rules on instructions that do not do what they seem to (stage references, WORKDIR, exec
form, duplicates, ADD).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    RuleDoc,
    parent_stage,
    rule,
    shell_of,
    shipped_stages,
    unquote,
)
from scratchpack.dockerfile.rules.examples import GO, PINNED, SAFE_TAIL, SCRATCH_TAIL
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity


def _sp300_doc() -> RuleDoc:
    return RuleDoc(
        why="`COPY --from` must name a stage defined earlier (or an image). A typo or a later "
        "stage makes Docker try to pull an image of that name.",
        bad=f"FROM {PINNED} AS build\nRUN touch /out\nFROM scratch\nCOPY --from=biuld /out /out\n"
        f"{SAFE_TAIL}",
        good=f"FROM {PINNED} AS build\nRUN touch /out\nFROM scratch\nCOPY --from=build /out /out\n"
        f"{SAFE_TAIL}",
        fix="Name an earlier stage (by its AS name or index).",
    )


@rule("SP300", Severity.ERROR, "correctness", "COPY --from names no earlier stage",
      hadolint=("DL3022", "DL3023"), doc=_sp300_doc)  # fmt: skip
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
            yield meta.at_word(
                dockerfile,
                copy,
                f"--from={source}",
                f"COPY --from={source} names {why}",
                skip=len("--from="),
            )


# C:\app, c:/app, \app: absolute on the Windows images that use them
_WINDOWS_ABSOLUTE = lazy(r"^(?:[A-Za-z]:)?[\\/]")


def _absolute_workdir(path: str) -> bool:
    # a quote opening a word that goes on past it (``"${HOME}"/README``) is not the path's
    path = path.lstrip("'\"")
    return path.startswith(("/", "$")) or _WINDOWS_ABSOLUTE.match(path) is not None


def _sp301_doc() -> RuleDoc:
    return RuleDoc(
        why="A relative WORKDIR is resolved against whatever the previous WORKDIR was, often set "
        "by the base image, so the path changes when the base does. As BuildKit judges it, only a "
        "relative WORKDIR before any WORKDIR of the build counts (in its stage, or a stage it is "
        "FROM): after an absolute one it is as fixed as that one. hadolint flags every relative "
        "WORKDIR.",
        bad=f"FROM {PINNED}\nUSER 65532:65532\nWORKDIR app\n",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Use an absolute path.",
    )


@rule("SP301", Severity.WARNING, "correctness", "WORKDIR is relative", hadolint=("DL3000",),
      buildkit="WorkdirRelativePath", doc=_sp301_doc)  # fmt: skip
def workdir_relative(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    """As BuildKit judges it: a relative WORKDIR is resolved against the base image's only
    while no WORKDIR of the build has set one (in the stage, or a stage it is FROM); after
    an absolute one it is as fixed as that one, so only the first WORKDIR of a chain counts."""
    set_in: set[int] = set()
    for stage in dockerfile.stages:
        parent = parent_stage(dockerfile, stage)
        workdir_set = parent is not None and parent.index in set_in
        for workdir in stage.of("WORKDIR"):
            path = unquote(workdir.text.strip())
            if path and not workdir_set and not _absolute_workdir(path):
                yield meta.at_word(
                    dockerfile,
                    workdir,
                    workdir.text.strip(),
                    f"WORKDIR {path} is relative to whatever the base image set: use an "
                    "absolute path",
                )
            workdir_set = True
        if workdir_set:
            set_in.add(stage.index)


def _sp303_doc() -> RuleDoc:
    return RuleDoc(
        why="Shell form runs the command under `/bin/sh -c`: the app is not PID 1, SIGTERM never "
        "reaches it (containers take 10 s to stop, then are killed), and a scratch or distroless "
        "image has no /bin/sh at all. Only the final stage is judged (it is the one that runs), "
        "and, as BuildKit does, not one with a SHELL instruction (in it or a stage it is FROM): "
        "that says the shell form is meant. `HEALTHCHECK CMD` in shell form is reported too "
        "(as hadolint's DL3025 does): it runs under the same shell, so on an image without one "
        "the check never passes and the container is marked unhealthy.",
        bad=f"FROM scratch\n{SAFE_TAIL}ENTRYPOINT /app/server --port 8080\n",
        good=f'FROM scratch\n{SAFE_TAIL}ENTRYPOINT ["/app/server", "--port", "8080"]\n',
        fix='Use the exec (JSON) form: `ENTRYPOINT ["/app/server", "--port", "8080"]`.',
    )


@rule("SP303", Severity.WARNING, "correctness", "CMD or ENTRYPOINT in shell form",
      hadolint=("DL3025",), buildkit="JSONArgsRecommended", doc=_sp303_doc)  # fmt: skip
def shell_form_entrypoint(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    # A SHELL in the stage (or one it is FROM) says the shell form is meant, as BuildKit reads it
    stage: Stage | None = dockerfile.final
    shell = False
    while stage is not None and not shell:
        shell = bool(stage.of("SHELL"))
        stage = parent_stage(dockerfile, stage)
    for instruction in dockerfile.final.of("CMD", "ENTRYPOINT"):
        if not instruction.json and not shell:
            yield meta.finding(
                f"{instruction.cmd} in shell form runs under /bin/sh -c: signals never reach the "
                f'app, and scratch has no shell; use the exec form {instruction.cmd} ["..."]',
                instruction.line,
            )
    # HEALTHCHECK CMD in shell form runs under the same shell: on an image without one the
    # check can never pass, and the container is reported unhealthy (hadolint's DL3025 too)
    for check in dockerfile.final.of("HEALTHCHECK"):
        if len(check.args) > 1 and check.args[0].upper() == "CMD" and not check.json and not shell:
            yield meta.finding(
                "HEALTHCHECK CMD in shell form runs under /bin/sh -c: on an image without a "
                'shell the check never passes; use the exec form HEALTHCHECK CMD ["..."]',
                check.line,
            )


def _sp304_doc() -> RuleDoc:
    return RuleDoc(
        why="Two stages with one name make `COPY --from` and `--target` ambiguous.",
        bad=f"FROM {PINNED} AS build\nFROM {PINNED} AS build\n{SAFE_TAIL}",
        good=f"FROM {PINNED} AS deps\nFROM {PINNED} AS build\n{SAFE_TAIL}",
        fix="Give every stage its own name.",
    )


@rule("SP304", Severity.ERROR, "correctness", "Duplicate stage name", hadolint=("DL3024",),
      buildkit="DuplicateStageName", doc=_sp304_doc)  # fmt: skip
def duplicate_stage(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for stage in dockerfile.stages:
        if stage.name is None:
            continue
        if stage.name in seen:
            start = stage.instructions[0]  # FROM image AS name: the name as written
            yield meta.at_word(
                dockerfile,
                start,
                start.args[-1],
                f"stage name {stage.name} is already used at line {seen[stage.name]}",
            )
        else:
            seen[stage.name] = stage.line


def _sp305_doc() -> RuleDoc:
    return RuleDoc(
        why="Only the last CMD, ENTRYPOINT or HEALTHCHECK of a stage counts; earlier ones are "
        "dead code that misleads readers. scratchpack points at the later one, as hadolint does "
        "(BuildKit points at the earlier, ignored one); the message names both lines.",
        bad=f'FROM scratch\n{SAFE_TAIL}CMD ["a"]\nCMD ["b"]\n',
        good=f'FROM scratch\n{SAFE_TAIL}CMD ["b"]\n',
        fix="Keep one.",
    )


@rule("SP305", Severity.WARNING, "correctness",
      "More than one CMD, ENTRYPOINT or HEALTHCHECK in a stage",
      hadolint=("DL4003", "DL4004", "DL3012"),
      buildkit="MultipleInstructionsDisallowed", doc=_sp305_doc)  # fmt: skip
def multiple_cmd(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for cmd in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            found = stage.of(cmd)
            for extra in found[1:]:
                yield meta.finding(
                    f"{cmd} again (first at line {found[0].line}): only the last one counts",
                    extra.line,
                )


_ARCHIVE = lazy(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst)$", re.I)
# ADD unpacks by content, not name: a compressed file (``rootfs.gz``, ``app.xz``) unpacks when
# what it holds is a tar, so its ADD may be meant; only a source with none of these endings is
# surely a plain file (the endings hadolint's DL3020 accepts, plus zstd)
_MAYBE_ARCHIVE = lazy(r"\.(tar|t?z|zst|tzst|bz2|gz|lz|lzma|xz|tb2|tbz2?|tgz|tlz|tpz|txz)$", re.I)


def _sp212_doc() -> RuleDoc:
    return RuleDoc(
        why="ADD also downloads URLs and unpacks local tar archives; for a plain file it does "
        "what COPY does, but a reader cannot tell which behaviour was meant, and an archive "
        "added to a file-like destination silently becomes a directory. A compressed file "
        "(`.gz`, `.bz2`, `.xz`, `.zst`, `.Z`, ...) is not judged a plain file: ADD unpacks it "
        "when what it holds is a tar, whatever its name, so the ADD may be meant (hadolint's "
        "DL3020 accepts the same endings).",
        bad=f"FROM {PINNED}\nADD config.yaml /etc/app/config.yaml\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nCOPY config.yaml /etc/app/config.yaml\n{SAFE_TAIL}",
        fix="Use COPY for files and directories; keep ADD for local tar archives you mean to "
        "unpack (into a directory: `ADD app.tar.gz /opt/app/`), the case where SP312 asks for "
        "ADD instead of COPY and tar.",
    )


@rule("SP212", Severity.WARNING, "maintainability", "ADD where COPY fits",
      hadolint=("DL3020",), dockle="CIS-DI-0009", doc=_sp212_doc)  # fmt: skip
def add_instead_of_copy(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for add in stage.of("ADD"):
            if add.heredocs or len(add.args) < 2:
                continue
            written = dict(zip((unquote(a) for a in add.args), add.args, strict=True))
            *sources, dest = [unquote(a) for a in add.args]
            local = [
                s for s in sources if "://" not in s and not s.startswith("git@") and "$" not in s
            ]
            if not local:
                continue
            archives = [s for s in local if _MAYBE_ARCHIVE.search(s)]
            if len(archives) < len(local):
                plain = next(s for s in local if s not in archives)
                yield meta.at_word(
                    dockerfile,
                    add,
                    written[plain],
                    f"ADD {plain} copies a plain file: use COPY, which does only that (ADD also "
                    "fetches URLs and unpacks archives, which surprises readers)",
                )
            elif _ARCHIVE.search(dest.rstrip("/")):
                yield meta.at_word(
                    dockerfile,
                    add,
                    written[dest],
                    f"ADD {archives[0]} {dest} unpacks the archive into a directory named "
                    f"{dest}: use COPY to copy the archive as a file",
                )


def _sp306_doc() -> RuleDoc:
    return RuleDoc(
        why="MAINTAINER was deprecated in Docker 1.13: it sets a field of the image config that "
        "nothing reads any more, while registries, scanners and `docker inspect` users look "
        "for the author in the OCI labels. A MAINTAINER before the first FROM is a parse "
        "error (SP000, exit code 2), as BuildKit refuses the file, where hadolint reports "
        "DL4000 on it.",
        bad=f"FROM {PINNED}\nMAINTAINER Jane Doe <jane@example.com>\n{SAFE_TAIL}",
        good=f'FROM {PINNED}\nLABEL org.opencontainers.image.authors="Jane Doe '
        f'<jane@example.com>"\n{SAFE_TAIL}',
        fix='Replace it with `LABEL org.opencontainers.image.authors="..."`.',
    )


@rule("SP306", Severity.WARNING, "maintainability", "MAINTAINER is deprecated",
      hadolint=("DL4000",), buildkit="MaintainerDeprecated", doc=_sp306_doc)  # fmt: skip
def maintainer(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.of("MAINTAINER"):
            yield meta.finding(
                "MAINTAINER is deprecated (Docker 1.13) and tools that read labels never see "
                f'it: use LABEL org.opencontainers.image.authors="{instruction.text}"',
                instruction.line,
            )


# -- COPY of an archive then unpacking it (SP312): DL3010 -------------------------------------
# ADD unpacks a local tar archive (plain, gzip, bzip2, xz; zstd with BuildKit) into the
# destination directory; it does not unpack a zip or a lone compressed file, so only tar
# archives are judged (hadolint also counts .zip, .gz...: ADD would copy those as they are).

_DECOMPRESSORS = frozenset(
    {"gunzip", "bunzip2", "unxz", "unlzma", "uncompress", "zcat", "gzcat", "unzstd", "zstdcat"}
)


def _extracts(cmd: ShellCommand) -> bool:
    if cmd.name in _DECOMPRESSORS:
        return True
    if cmd.name not in ("tar", "bsdtar"):
        return False
    first = cmd.args[0] if cmd.args else ""
    return any(a in ("--extract", "--get") for a in cmd.args) or (
        any(a.startswith("-") and not a.startswith("--") and "x" in a for a in cmd.args)
        or (not first.startswith("-") and "x" in first)  # tar xzf: the old option style
    )


def _basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _sp312_doc() -> RuleDoc:
    return RuleDoc(
        why="`COPY app.tar.gz /opt/` then `RUN tar -xzf /opt/app.tar.gz` stores the archive "
        "in one layer and its contents in another, and the archive stays even if the RUN "
        "deletes it. `ADD app.tar.gz /opt/app/` unpacks a local tar archive (plain, gzip, "
        "bzip2, xz) in one step. Only tar archives are judged: ADD copies a zip or a lone "
        "compressed file as it is (hadolint counts those too), so for them COPY and unzip is "
        "the way. This is the one use of ADD that SP212 (ADD where COPY fits) accepts.",
        bad=f"FROM {PINNED}\nCOPY app.tar.gz /opt/\nRUN tar -xzf /opt/app.tar.gz -C /opt\n"
        f"{SAFE_TAIL}",
        good=f"FROM {PINNED}\nADD app.tar.gz /opt/\n{SAFE_TAIL}",
        fix="`ADD ARCHIVE DIR/` unpacks it into DIR.",
    )


@rule("SP312", Severity.INFO, "maintainability",
      "An archive copied and then unpacked: ADD does both", hadolint=("DL3010",),
      doc=_sp312_doc)  # fmt: skip
def copy_then_extract(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        copied: dict[str, tuple[Instruction, str]] = {}  # archive's name in the image -> COPY
        for instruction in stage.instructions:
            local = not instruction.flag("from") and not instruction.heredocs
            if instruction.cmd == "COPY" and local:
                # a quoted path with a space comes as two words, each with one quote
                *sources, dest = [a.strip("'\"") for a in instruction.args] or [""]
                for source in sources:
                    if _ARCHIVE.search(source) and "$" not in source:
                        target = dest if _ARCHIVE.search(dest) else source
                        copied[_basename(target)] = (instruction, source)
            elif instruction.cmd == "RUN" and copied:
                for cmd in shell_of(instruction):
                    if not _extracts(cmd):
                        continue
                    for arg in cmd.args:
                        found = copied.pop(_basename(unquote(arg)), None)
                        if found is None:
                            continue
                        copy, source = found
                        yield meta.at_word(
                            dockerfile,
                            copy,
                            next((a for a in copy.args if unquote(a) == source), source),
                            f"COPY {source} then {cmd.name} at line {instruction.line}: ADD "
                            f"{source} DIR/ unpacks a local tar archive in one step, and keeps "
                            "the archive itself out of the layers",
                        )


# -- EXPOSE (SP313): DL3011 -------------------------------------------------------------------


def _bad_port(spec: str) -> str | None:
    """Why an EXPOSE word is no port (``80``, ``80/tcp``, ``8000-8010/udp``), or None; a part
    with a build variable is decided when building."""
    ports, _, protocol = spec.partition("/")
    if protocol and protocol.lower() not in ("tcp", "udp", "sctp") and "$" not in protocol:
        return f"{protocol} is not a protocol (tcp, udp or sctp)"
    for part in ports.split("-", 1):
        if "$" in part:
            continue
        if not part.isdigit():
            return f"{part or spec} is not a port number"
        if len(part.lstrip("0")) > 5 or int(part) > 65535:  # no int() of 16 KiB of digits
            return f"{part} is above 65535, the highest port"
    return None


def _sp313_doc() -> RuleDoc:
    return RuleDoc(
        why="A port is a number from 0 to 65535, and a protocol tcp, udp or sctp: anything "
        "else in EXPOSE is refused when the image is built or run.",
        bad=f"FROM {PINNED}\nEXPOSE 80000\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nEXPOSE 8000\n{SAFE_TAIL}",
        fix="Use a valid port, a range (`8000-8010/tcp`) or a build variable.",
    )


@rule("SP313", Severity.ERROR, "correctness", "EXPOSE of an invalid port", hadolint=("DL3011",),
      doc=_sp313_doc)  # fmt: skip
def invalid_port(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for expose in stage.of("EXPOSE"):
            # the first bad word of each EXPOSE: locating each of thousands would be quadratic
            bad = next(((w, why) for w in expose.args if (why := _bad_port(unquote(w)))), None)
            if bad is not None:
                yield meta.at_word(dockerfile, expose, bad[0], f"EXPOSE {bad[0]}: {bad[1]}")


# -- several sources and a destination that is not a directory (SP314): DL3021 ---------------


def _sp314_doc() -> RuleDoc:
    return RuleDoc(
        why="COPY (and ADD) of several sources needs a directory as the destination, written "
        "with a trailing `/`; without it the build fails (`When using COPY with more than one "
        "source file, the destination must be a directory and end with a /`).",
        bad=f"FROM {PINNED}\nCOPY app.py util.py /app\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nCOPY app.py util.py /app/\n{SAFE_TAIL}",
        fix="End the destination with `/`.",
    )


@rule("SP314", Severity.ERROR, "correctness", "COPY of several sources to a destination without /",
      hadolint=("DL3021",), doc=_sp314_doc)  # fmt: skip
def copy_many_to_file(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for copy in stage.of("COPY", "ADD"):
            if copy.heredocs or len(copy.args) < 3:
                continue
            dest = unquote(copy.args[-1])
            if not dest.endswith(("/", "\\")) and "$" not in dest:
                yield meta.at_word(
                    dockerfile,
                    copy,
                    copy.args[-1],
                    f"{copy.cmd} of {len(copy.args) - 1} sources to {dest}: the build fails "
                    f"unless the destination is a directory written with a trailing / ({dest}/)",
                )


# -- ENV that reads a variable it sets itself (SP315): DL3044 ---------------------------------


_REFERENCE = lazy(r"\$\{?(\w+)")


def _sp315_doc() -> RuleDoc:
    return RuleDoc(
        why="All the variables of one ENV are expanded with the values from before the "
        "instruction: in `ENV DIR=/opt/app BIN=$DIR/bin`, BIN gets the old DIR (usually "
        "empty), so `/bin`, not `/opt/app/bin`. A variable that refers to itself (`ENV "
        "PATH=/x:$PATH`) is fine: that is the old value on purpose.",
        bad=f"FROM {PINNED}\nENV APP_HOME=/opt/app APP_BIN=$APP_HOME/bin\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nENV APP_HOME=/opt/app\nENV APP_BIN=$APP_HOME/bin\n{SAFE_TAIL}",
        fix="Set the variable in an ENV of its own before the one that uses it.",
    )


@rule("SP315", Severity.ERROR, "correctness",
      "ENV reads a variable it sets in the same instruction", hadolint=("DL3044",),
      doc=_sp315_doc)  # fmt: skip
def env_self_reference(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for env in stage.of("ENV"):
            args = env.args
            set_before: set[str] = set()  # linear in the pairs, however many there are
            found: list[tuple[str, str]] = []
            for key, value in zip(args[0::2], args[1::2], strict=False):
                # single quotes: no expansion at all
                used = [] if value.startswith("'") else _REFERENCE.findall(value)
                earlier = next((name for name in used if name in set_before), None)
                set_before.add(key)
                if earlier is not None:
                    found.append((key, earlier))
            if found:  # one finding per ENV: locating each of thousands would be quadratic
                key, earlier = found[0]
                more = f" (and {len(found) - 1} more of its variables)" if len(found) > 1 else ""
                yield meta.at_word(
                    dockerfile,
                    env,
                    key,
                    f"ENV {key}=... reads ${earlier}, which this same ENV sets{more}: it gets "
                    f"the value {earlier} had before the instruction, not the new one; set "
                    f"{earlier} in an ENV of its own first",
                )


# -- COPY to a relative path with no WORKDIR (SP316): DL3045 ----------------------------------


def _sp316_doc() -> RuleDoc:
    return RuleDoc(
        why="A relative destination is relative to the WORKDIR, and a stage that never sets "
        "one gets the base image's (`/` for most, but not all): the files land somewhere the "
        "Dockerfile does not say.",
        bad=f"FROM {PINNED}\nCOPY app.py app.py\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nWORKDIR /app\nCOPY app.py app.py\nUSER 65532:65532\n",
        fix="Set `WORKDIR` first (in the stage, or in the stage it is built FROM), or use an "
        "absolute destination.",
    )


@rule("SP316", Severity.WARNING, "correctness", "COPY to a relative destination without WORKDIR",
      hadolint=("DL3045",), doc=_sp316_doc)  # fmt: skip
def copy_relative_without_workdir(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    inherits: dict[int, bool] = {}  # whether a stage, or one it is built FROM, sets WORKDIR
    for stage in dockerfile.stages:
        parent = parent_stage(dockerfile, stage)
        inherited = parent is not None and inherits[parent.index]
        inherits[stage.index] = inherited or bool(stage.of("WORKDIR"))
        workdirs = [w.line for w in stage.of("WORKDIR")]
        for copy in stage.of("COPY", "ADD"):
            if not copy.args:
                continue
            dest = unquote(copy.args[-1])
            set_before = inherited or (bool(workdirs) and workdirs[0] < copy.line)
            if _absolute_workdir(dest) or set_before:
                continue
            yield meta.at_word(
                dockerfile,
                copy,
                copy.args[-1],
                f"{copy.cmd} to {dest}, relative to a WORKDIR this stage never sets: the files "
                "land wherever the base image's WORKDIR is (/ for most); set WORKDIR or use an "
                "absolute path",
            )


# -- FROM --platform (SP317): DL3029 ----------------------------------------------------------


def _sp317_doc() -> RuleDoc:
    return RuleDoc(
        why="`FROM --platform=linux/amd64` builds that platform whatever the build asks for: "
        "a multi-platform build (`--platform linux/amd64,linux/arm64`) then ships amd64 "
        "binaries in the arm64 image, which fail with `exec format error`.",
        bad=f"FROM --platform=linux/amd64 {PINNED}\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Leave `--platform` out and pass it to the build, or use `--platform=$BUILDPLATFORM` "
        "for a stage that cross-compiles (`$TARGETPLATFORM` is accepted too, as by hadolint).",
    )


@rule("SP317", Severity.WARNING, "reproducibility", "FROM --platform with a fixed platform",
      hadolint=("DL3029",), doc=_sp317_doc)  # fmt: skip
def from_platform(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        start = stage.instructions[0]
        platform = start.flag("platform")
        if not platform or "BUILDPLATFORM" in platform or "TARGETPLATFORM" in platform:
            continue
        yield meta.at_word(
            dockerfile,
            start,
            f"--platform={platform}",
            f"FROM --platform={platform} builds that platform whatever --platform the build "
            "asks for, so a multi-platform build silently ships it for every platform: leave "
            "it out, or use $BUILDPLATFORM for a stage that cross-compiles",
            skip=len("--platform="),
        )


# -- stage names BuildKit reserves (SP318): DL3063 --------------------------------------------


def _sp318_doc() -> RuleDoc:
    return RuleDoc(
        why="`scratch` is the empty image and `context` names a build context in BuildKit: a "
        "stage with one of these names makes `FROM scratch` or `COPY --from=context` ambiguous "
        "to a reader, and BuildKit may take the other one.",
        bad=f"FROM {PINNED} AS scratch\n{SAFE_TAIL}",
        good=f"FROM {PINNED} AS base\n{SAFE_TAIL}",
        fix="Rename the stage.",
    )


@rule("SP318", Severity.WARNING, "correctness", "A stage named scratch or context",
      hadolint=("DL3063",), doc=_sp318_doc)  # fmt: skip
def reserved_stage_name(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        if stage.name in ("scratch", "context"):
            start = stage.instructions[0]
            yield meta.at_word(
                dockerfile,
                start,
                start.args[-1],
                f"a stage named {stage.name}: FROM {stage.name} and COPY --from={stage.name} "
                "already mean the empty image or a build context, so a reader (or BuildKit) "
                "may take the other one",
            )


# -- COPY of another stage's whole file system (SP319): DL3067 --------------------------------


def _sp319_doc() -> RuleDoc:
    return RuleDoc(
        why="`COPY --from=build / /` copies the build stage's whole file system (compilers, "
        "package manager, caches, shell) over the final one: the multi-stage build then "
        "ships everything it was meant to leave behind. Only the stages the final image is "
        "made of are judged (hadolint's DL3067 judges every stage): a build stage that takes "
        "a helper image's whole tree ships none of it.",
        bad=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /out/app .\nFROM scratch\n"
        "COPY --from=build / /\n" + SCRATCH_TAIL,
        good=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /out/app .\nFROM scratch\n"
        "COPY --from=build /out/app /app\n" + SCRATCH_TAIL,
        fix="Copy the files the app needs, one COPY --from per path.",
    )


@rule("SP319", Severity.WARNING, "size", "COPY --from of a whole file system", hadolint=("DL3067",),
      doc=_sp319_doc)  # fmt: skip
def copy_whole_stage(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    # only the stages the final image is made of: a build stage that takes a helper image's
    # whole tree (COPY --from=tonistiigi/xx / /, the documented idiom) ships none of it
    for stage in shipped_stages(dockerfile):
        for copy in stage.of("COPY"):
            source = copy.flag("from")
            words = [unquote(a) for a in copy.args]
            if source and len(words) >= 2 and words[-1] == "/" and "/" in words[:-1]:
                yield meta.at_word(
                    dockerfile,
                    copy,
                    copy.args[0],
                    f"COPY --from={source} / / copies that stage's whole file system, its shell, "
                    "package manager and build tools included, over this one: copy the files "
                    "the app needs",
                )


# -- inline ignore pragmas (SP320, off by default): DL1001 ------------------------------------

_INLINE_PRAGMA = lazy(r"^\s*#\s*(scratchpack|hadolint)\s+ignore\s*=", re.I)


def _sp320_doc() -> RuleDoc:
    return RuleDoc(
        why="Some teams want every exception to a rule in one reviewed place, the "
        "configuration, rather than in comments spread over the Dockerfiles. Off by default, "
        "as hadolint's DL1001 is.",
        bad=f"FROM {PINNED}\n# hadolint ignore=DL3008\nRUN apt-get update && apt-get install "
        f"-y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN apt-get update && apt-get install "
        f"-y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        fix='Move the exception into `.scratchpack.toml` (`ignore = ["SP214"]`). Turn the rule '
        'on with `[severity]` `SP320 = "info"` (or hadolint\'s `override: {info: [DL1001]}` '
        "in `.hadolint.yaml`).",
    )


@rule("SP320", Severity.INFO, "maintainability", "An inline ignore pragma",
      hadolint=("DL1001",), default=False, doc=_sp320_doc)  # fmt: skip
def inline_pragma(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for number, line in enumerate(dockerfile.lines, start=1):
        if _INLINE_PRAGMA.match(line):
            column = line.index("#") + 1
            yield Finding(
                meta.code,
                meta.severity,
                "an inline ignore pragma: the project's policy keeps exceptions in the "
                "configuration (ignore = [...]), where they are reviewed in one place",
                number,
                column,
            )


# What ONBUILD cannot carry: Docker refuses ONBUILD ONBUILD, ONBUILD FROM and ONBUILD
# MAINTAINER when the image is used as a base, so the mistake surfaces in someone else's build.
_NOT_ONBUILD = ("ONBUILD", "FROM", "MAINTAINER")


def _sp340_doc() -> RuleDoc:
    return RuleDoc(
        why="An ONBUILD instruction runs in the builds that use this image as their base. Docker "
        "refuses ONBUILD ONBUILD, ONBUILD FROM and ONBUILD MAINTAINER there, so the mistake "
        "breaks someone else's build, not this one.",
        bad=f"FROM {PINNED}\nONBUILD FROM {PINNED}\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nONBUILD COPY . /app/src\n{SAFE_TAIL}",
        fix="Remove it; ONBUILD can carry any other instruction.",
    )


@rule("SP340", Severity.ERROR, "correctness", "ONBUILD of ONBUILD, FROM or MAINTAINER",
      hadolint=("DL3043",), doc=_sp340_doc)  # fmt: skip
def onbuild_forbidden(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.of("ONBUILD"):
            if instruction.sub_cmd in _NOT_ONBUILD:
                keyword = instruction.original.split(None, 2)[1]
                yield meta.at_word(
                    dockerfile,
                    instruction,
                    keyword,
                    f"ONBUILD {instruction.sub_cmd} is refused by Docker when a build uses this "
                    "image as its base",
                )
