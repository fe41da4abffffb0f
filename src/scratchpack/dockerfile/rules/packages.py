"""Rules on package managers (apt, apk, npm, pip, ...): what they install and how reproducibly."""

from __future__ import annotations

import re
from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Stage
from scratchpack.dockerfile.rules.core import (
    APT_LISTS_USERS,
    Finding,
    Rule,
    apt_command,
    rule,
    runs,
    shell_of,
    stage_env,
)
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.reports.severity import Severity


@rule("SP200", Severity.WARNING, "size", "apt-get install without --no-install-recommends",
      hadolint=("DL3015",))  # fmt: skip
def apt_recommends(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            if apt_command(cmd) == "install" and not cmd.has("--no-install-recommends"):
                yield meta.finding(
                    "apt-get install without --no-install-recommends pulls in recommended "
                    "packages you did not ask for",
                    run.line,
                )


@rule("SP202", Severity.WARNING, "size", "apt-get update alone in its own RUN")
def apt_update_alone(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        subs = [s for s in (apt_command(c, APT_LISTS_USERS) for c in shell_of(run)) if s]
        if subs and set(subs) == {"update"}:
            yield meta.finding(
                "apt-get update in a RUN of its own is cached separately: a later install may "
                "use stale lists; update and install in one RUN",
                run.line,
            )


@rule("SP203", Severity.WARNING, "reproducibility", "apt-get upgrade or dist-upgrade",
      dockle="DKL-DI-0003")  # fmt: skip
def apt_upgrade(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            sub = apt_command(cmd)
            if sub in ("upgrade", "dist-upgrade", "full-upgrade"):
                yield meta.finding(
                    f"apt-get {sub} makes the build depend on the day it runs: use a newer base",
                    run.line,
                )


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
