"""Rules on instructions that do not do what they seem to (stage references, WORKDIR, exec
form, duplicates, ADD).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Stage
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    parent_stage,
    rule,
    unquote,
)
from scratchpack.reports.severity import Severity


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
            yield meta.at_word(
                dockerfile,
                copy,
                f"--from={source}",
                f"COPY --from={source} names {why}",
                skip=len("--from="),
            )


# C:\app, c:/app, \app: absolute on the Windows images that use them
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:)?[\\/]")


def _absolute_workdir(path: str) -> bool:
    return path.startswith(("/", "$")) or _WINDOWS_ABSOLUTE.match(path) is not None


@rule("SP301", Severity.WARNING, "correctness", "WORKDIR is relative", hadolint=("DL3000",),
      buildkit="WorkdirRelativePath")  # fmt: skip
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


@rule("SP303", Severity.WARNING, "correctness", "CMD or ENTRYPOINT in shell form",
      hadolint=("DL3025",), buildkit="JSONArgsRecommended")  # fmt: skip
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


@rule("SP304", Severity.ERROR, "correctness", "Duplicate stage name", hadolint=("DL3024",),
      buildkit="DuplicateStageName")  # fmt: skip
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


@rule("SP305", Severity.WARNING, "correctness",
      "More than one CMD, ENTRYPOINT or HEALTHCHECK in a stage",
      hadolint=("DL4003", "DL4004", "DL3012"),
      buildkit="MultipleInstructionsDisallowed")  # fmt: skip
def multiple_cmd(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for cmd in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            found = stage.of(cmd)
            for extra in found[1:]:
                yield meta.finding(
                    f"{cmd} again (first at line {found[0].line}): only the last one counts",
                    extra.line,
                )


_ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst)$", re.I)


@rule("SP212", Severity.WARNING, "maintainability", "ADD where COPY fits",
      hadolint=("DL3020",), dockle="CIS-DI-0009")  # fmt: skip
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
            archives = [s for s in local if _ARCHIVE.search(s)]
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


@rule("SP306", Severity.WARNING, "maintainability", "MAINTAINER is deprecated",
      hadolint=("DL4000",), buildkit="MaintainerDeprecated")  # fmt: skip
def maintainer(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.of("MAINTAINER"):
            yield meta.finding(
                "MAINTAINER is deprecated (Docker 1.13) and tools that read labels never see "
                f'it: use LABEL org.opencontainers.image.authors="{instruction.text}"',
                instruction.line,
            )


# What ONBUILD cannot carry: Docker refuses ONBUILD ONBUILD, ONBUILD FROM and ONBUILD
# MAINTAINER when the image is used as a base, so the mistake surfaces in someone else's build.
_NOT_ONBUILD = ("ONBUILD", "FROM", "MAINTAINER")


@rule("SP340", Severity.ERROR, "correctness", "ONBUILD of ONBUILD, FROM or MAINTAINER",
      hadolint=("DL3043",))  # fmt: skip
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
