"""Rules on package managers (apt, apk, npm, pip, ...): what they install and how reproducibly."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from scratchpack.dockerfile.model import Dockerfile, Stage
from scratchpack.dockerfile.rules.core import (
    APT_LISTS_USERS,
    Finding,
    Rule,
    RuleDoc,
    apt_command,
    env_pairs,
    has_flag,
    pip_args,
    rule,
    run_commands,
    runs,
    shell_of,
    stage_env,
    subcommand,
)
from scratchpack.dockerfile.rules.examples import (
    ALPINE,
    GO,
    NODE,
    PINNED,
    PYTHON,
    ROCKY,
    RUBY,
    SAFE_TAIL,
    SCRATCH_TAIL,
    SUSE,
)
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity


def _sp200_doc() -> RuleDoc:
    return RuleDoc(
        why="apt installs Recommends by default: often tens of megabytes of packages the app "
        "never uses, each one more thing to patch. `apt install` does the same and is judged "
        "too (hadolint's DL3015 reads `apt-get` only).",
        bad=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y curl && "
        f"rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        fix="Add `--no-install-recommends`.",
    )


@rule("SP200", Severity.WARNING, "size", "apt-get install without --no-install-recommends",
      hadolint=("DL3015",), doc=_sp200_doc)  # fmt: skip
def apt_recommends(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            if apt_command(cmd) == "install" and not cmd.has("--no-install-recommends"):
                yield meta.at_command(
                    dockerfile,
                    run,
                    cmd,
                    "apt-get install without --no-install-recommends pulls in recommended "
                    "packages you did not ask for",
                )


def _sp202_doc() -> RuleDoc:
    return RuleDoc(
        why="Docker caches each RUN: an `apt-get update` alone stays cached while a later "
        "`apt-get install` line changes, so installs use stale lists and fail or get old "
        "versions.",
        bad=f"FROM {PINNED}\nRUN apt-get update\nRUN apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        fix="Run `apt-get update && apt-get install ...` in one RUN.",
    )


@rule("SP202", Severity.WARNING, "size", "apt-get update alone in its own RUN", doc=_sp202_doc)
def apt_update_alone(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        apt = [(c, s) for c in shell_of(run) if (s := apt_command(c, APT_LISTS_USERS))]
        if apt and {s for _, s in apt} == {"update"}:
            yield meta.at_command(
                dockerfile,
                run,
                apt[0][0],
                "apt-get update in a RUN of its own is cached separately: a later install may "
                "use stale lists; update and install in one RUN",
            )


def _sp203_doc() -> RuleDoc:
    return RuleDoc(
        why="An upgrade inside the build makes the image depend on the day it was built and "
        "hides what the base image really ships; `zypper dist-upgrade` (`dup`) may even move "
        "the image to another release. hadolint dropped its rules on `apt-get upgrade` and "
        "`apk upgrade` (see the index of hadolint's codes); it keeps DL3035 for `zypper "
        "dist-upgrade`, which this rule covers. scratchpack still reports apt's `upgrade`, "
        "`dist-upgrade` and `full-upgrade`, for the reason above.",
        bad=f"FROM {PINNED}\nRUN apt-get update && apt-get upgrade -y && "
        f"rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Use a newer base image (pinned by digest) instead of upgrading in place.",
    )


@rule("SP203", Severity.WARNING, "reproducibility",
      "Packages upgraded in the build (apt-get upgrade, zypper dist-upgrade)",
      hadolint=("DL3035",), dockle="DKL-DI-0003", doc=_sp203_doc)  # fmt: skip
def apt_upgrade(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            sub = apt_command(cmd)
            if cmd.name == "zypper":
                sub = subcommand(cmd, frozenset({"-r", "--repo", "--root", "-D", "--reposd-dir"}))
                sub = sub if sub in ("dist-upgrade", "dup") else None
            elif sub not in ("upgrade", "dist-upgrade", "full-upgrade"):
                sub = None
            if sub is not None:
                yield meta.at_command(
                    dockerfile,
                    run,
                    cmd,
                    f"{cmd.name} {sub} makes the build depend on the day it runs (and a "
                    "dist-upgrade may move to another release): use a newer base",
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


def _sp209_doc() -> RuleDoc:
    return RuleDoc(
        why="`npm install` resolves package.json again and may rewrite the lock file, so the "
        "image gets whatever versions are newest that day. `npm ci` installs exactly what "
        "package-lock.json pins and fails when the two disagree.",
        bad=f"FROM {NODE} AS build\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm install --omit=dev\nCOPY . .\n{SAFE_TAIL}",
        good=f"FROM {NODE} AS build\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm ci --omit=dev\nCOPY . .\n{SAFE_TAIL}",
        fix="Use `npm ci` (with `--omit=dev` in the image that ships).",
    )


@rule("SP209", Severity.WARNING, "reproducibility", "npm install where npm ci fits", doc=_sp209_doc)
def npm_install(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:  # per stage, not per RUN: linear in the instructions
        if not _copies_lockfile(dockerfile, stage, "package-lock.json"):
            continue
        for run in stage.of("RUN"):
            for cmd in shell_of(run):
                if _npm_install_from_manifest(cmd):
                    yield meta.at_command(
                        dockerfile,
                        run,
                        cmd,
                        "npm install may rewrite package-lock.json and install other versions "
                        "than it pins: npm ci installs exactly the lock file, and fails when it "
                        "is stale",
                    )


_DEV_REQUIREMENTS = lazy(r"(^|[/_-])(dev|test|tests|testing|lint|docs)([/_.-]|$)", re.I)


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


def _sp210_doc() -> RuleDoc:
    return RuleDoc(
        why="Test runners, linters, bundlers and type checkers are often most of "
        "node_modules or site-packages; in the shipped image they are dead weight and more "
        "code to patch.",
        bad=f"FROM {NODE}\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm ci\nCOPY . .\n{SAFE_TAIL}",
        good=f"FROM {NODE}\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm ci --omit=dev\nCOPY . .\n{SAFE_TAIL}",
        fix="Install production dependencies only in the final stage (`npm ci --omit=dev`, "
        "`poetry install --only main`, `composer install --no-dev`, `pip install -r "
        "requirements.txt`), or build in an earlier stage and copy the result.",
    )


@rule("SP210", Severity.WARNING, "size", "Development dependencies in the final stage",
      doc=_sp210_doc)  # fmt: skip
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
                    yield meta.at_command(
                        dockerfile,
                        run,
                        cmd,
                        f"{why} into the image that ships: install production dependencies "
                        "only (npm ci --omit=dev, poetry install --only main, composer "
                        "install --no-dev...), or build in an earlier stage",
                    )


# -- version pinning (SP213-SP220): hadolint's DL3008, DL3018, DL3013, ... -------------------


def operands(args: tuple[str, ...], valued: frozenset[str]) -> list[str]:
    """The words of a command line that are neither options nor the values of the options in
    ``valued`` (``-t bookworm-backports``, ``--virtual .build-deps``): what it operates on."""
    found: list[str] = []
    value_next = False
    for arg in args:
        if value_next:
            value_next = False
        elif arg.startswith("-"):
            value_next = arg in valued
        else:
            found.append(arg)
    return found


def _unpinned(
    dockerfile: Dockerfile,
    meta: Rule,
    tool: str,
    packages: Callable[[ShellCommand], list[str] | None],
    pinned: Callable[[str], bool],
    how: str,
) -> Iterator[Finding]:
    """One finding per command that installs packages of which some name no version: the same
    Dockerfile then installs whatever version the repository has on the day it is built."""
    envs: dict[int, dict[str, str]] = {}
    args = dockerfile.global_args.keys() | {
        name for st in dockerfile.stages for i in st.of("ARG") for name, _ in env_pairs(i)
    }
    for stage, run in runs(dockerfile):
        for cmd in shell_of(run):
            names = packages(cmd)
            if not names:
                continue
            if stage.index not in envs:
                envs[stage.index] = stage_env(dockerfile, stage)
            names = _listed(names, envs[stage.index], run.text)
            known = envs[stage.index].keys() | dict(cmd.env).keys() | args
            # a word with a variable or a glob is decided when building: it may well carry the
            # pin; not so a variable nothing in the stage sets (an ENV of another stage), which
            # the shell expands to nothing. A build argument of any stage counts as set, as for
            # hadolint: a misplaced ARG is a smaller matter than a missing pin.
            # (a word that is all variable, $PACKAGES, names no package to judge)
            expanded = {n: _unset_removed(n, known) for n in names}
            loose = [
                n for n, e in expanded.items()
                if e and not pinned(e) and not set(e) & set("$*`")
            ]  # fmt: skip
            if loose:
                listed = ", ".join(loose[:3]) + (
                    f" and {len(loose) - 3} more" if len(loose) > 3 else ""
                )
                yield meta.at_command(
                    dockerfile,
                    run,
                    cmd,
                    f"{tool} installs {listed} without a version: each build gets whatever the "
                    f"repository has that day; pin it ({how})",
                )


_ONE_VARIABLE = lazy(r"\$(?:\{(\w+)\}|(\w+))\Z")


def _listed(names: list[str], env: dict[str, str], script: str) -> list[str]:
    """The package words as the shell hands them to the tool: a word that is one variable the
    stage's ENV or ARG default sets (``ENV BUILD_DEPS="gcc make"``, then ``apk add
    $BUILD_DEPS``) is the words of its value, which the file itself names unpinned or pinned;
    one the RUN assigns itself, with no value in the file, or with options in its value
    (``-t bookworm-backports curl``: which word is a package is then a guess) stays as it is
    (not judged)."""
    listed: list[str] = []
    for word in names:
        match = _ONE_VARIABLE.match(word)
        name = (match[1] or match[2]) if match else ""
        words = env.get(name, "").split()
        if (
            name
            and words
            and not any(w.startswith("-") for w in words)
            and not re.search(rf"(?<![\w$]){name}=", script)
        ):
            listed += words
        else:
            listed.append(word)
    return listed


def _unset_removed(word: str, known: set[str] | Iterable[str]) -> str:
    """The word with the variables that are not in ``known`` expanded to nothing."""
    names = set(known)
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)", lambda m: m.group(0) if (m[1] or m[2]) in names else "", word
    )


_APK_VALUED = frozenset(
    {"-t", "--virtual", "-X", "--repository", "-p", "--root", "--keys-dir", "--arch",
     "--repositories-file", "--cache-dir"}
)  # fmt: skip


def _apk_packages(cmd: ShellCommand) -> list[str] | None:
    if cmd.name != "apk":
        return None
    words = operands(cmd.args, _APK_VALUED)
    return [w for w in words[1:] if not w.endswith(".apk")] if words[:1] == ["add"] else None


def _sp213_doc() -> RuleDoc:
    return RuleDoc(
        why="`apk add curl` installs whatever version the Alpine repository has on the day of "
        "the build, so two builds of the same Dockerfile can ship different packages, and an "
        "upgrade arrives unannounced. A pin makes the change visible in the Dockerfile (and the "
        "build fails loudly when the pinned version leaves the repository, instead of drifting). "
        "Pinning is a trade-off: it is noisy where a base image tracks a moving branch, so "
        "ignore it for one instruction or everywhere when drift is what you want. A list in "
        "a variable the stage's ENV or ARG default sets (`apk add $DEPS`) is judged by its "
        "words; one the file does not set is not.",
        bad=f"FROM {ALPINE}\nRUN apk add --no-cache curl\n{SAFE_TAIL}",
        good=f"FROM {ALPINE}\nRUN apk add --no-cache curl=8.11.1-r0\n{SAFE_TAIL}",
        fix="Pin each package: `name=version` (exact), `name~version` (that release series), or "
        'a range in quotes (`"name>=1.2"`); `apk policy NAME` in the base image lists the '
        "versions on offer. Packages in a `--virtual` group and local `.apk` files need none. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP213"]` in `.scratchpack.toml`.',
    )


@rule("SP213", Severity.WARNING, "reproducibility", "apk add without version pins",
      hadolint=("DL3018",), doc=_sp213_doc)  # fmt: skip
def apk_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "apk add", _apk_packages,
        lambda p: any(op in p for op in "=~<>"), "curl=8.11.1-r0, or curl~8.11",
    )  # fmt: skip


_APT_VALUED = frozenset(
    {"-t", "--target-release", "--default-release", "-o", "--option", "-c", "--config-file",
     "-a", "--host-architecture"}
)  # fmt: skip


def _apt_packages(cmd: ShellCommand) -> list[str] | None:
    if cmd.name not in ("apt-get", "apt"):
        return None
    words = operands(cmd.args, _APT_VALUED)
    if words[:1] != ["install"]:
        return None
    # a .deb file or a directory is a local package: its version is that of the file
    return [w for w in words[1:] if not w.endswith(".deb") and not w.startswith(("/", "./", "../"))]


def _sp214_doc() -> RuleDoc:
    return RuleDoc(
        why="`apt-get install curl` installs whatever version the Debian or Ubuntu mirror has on "
        "the day of the build: the same Dockerfile ships different packages from one build to "
        "the next. A pin records what was tested (and fails the build when that version is "
        "gone, instead of drifting silently). It is noisy, since a point release of the "
        "distribution replaces the pinned version, so many teams pin the base image by digest "
        "instead and ignore this rule. `apt install` is judged too (hadolint's DL3008 reads "
        "`apt-get` only), and so is a list in a variable the stage's ENV or ARG default sets "
        "(`apt-get install -y $DEPS`).",
        bad=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl=7.88.1-10+deb12u8 && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        fix="Pin each package as `name=version` (`apt-cache policy NAME` in the base image "
        "shows the candidates); `name=1.2.*` accepts that release's patch updates. Local "
        "`.deb` files need no pin. Pins are noisy where drift is wanted: to turn the rule "
        'off for a whole project, put `ignore = ["SP214"]` in `.scratchpack.toml`.',
    )


@rule("SP214", Severity.WARNING, "reproducibility", "apt-get install without version pins",
      hadolint=("DL3008",), doc=_sp214_doc)  # fmt: skip
def apt_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "apt-get install", _apt_packages, lambda p: "=" in p,
        "curl=7.88.1-10+deb12u8, or curl=7.88.* for the patch releases",
    )  # fmt: skip


_PIP_VALUED = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
     "--extra-index-url", "-f", "--find-links", "--trusted-host", "-t", "--target", "--prefix",
     "--root", "--build", "--src", "--python-version", "--platform", "--implementation",
     "--abi", "--root-user-action", "--progress-bar", "--cache-dir", "--log", "--proxy",
     "--retries", "--timeout", "--exists-action", "--cert", "--client-cert",
     "--upgrade-strategy", "--global-option", "--install-option", "-C", "--config-settings",
     "--only-binary", "--no-binary", "--report", "--python", "--pip-args", "--suffix"}
)  # fmt: skip
_VCS = ("git+", "hg+", "svn+", "bzr+")


def _pip_packages(cmd: ShellCommand) -> list[str] | None:
    args = pip_args(cmd) if cmd.name != "pipx" else cmd.args
    if args is None:
        return None
    words = operands(args, _PIP_VALUED)
    if words[:1] != ["install"] or any(a in ("-c", "--constraint") for a in args):
        return None  # a constraints file pins what the command line names
    found = []
    for word in words[1:]:
        if word.startswith(_VCS):
            found.append(word)  # pinned by @ref: judged by _pip_pinned
        elif not ("/" in word or word.startswith(".") or word.endswith((".whl", ".zip", ".gz"))):
            found.append(word)  # a name from the index, not a local path, archive or URL
    return found


def _pip_pinned(word: str) -> bool:
    if word.startswith(_VCS):
        path = word.split("://", 1)[-1].split("#", 1)[0].partition("/")[2]
        return "@" in path  # git+https://host/repo.git@v1.2 (user@host is no ref)
    return any(op in word for op in ("==", "~=", ">", "<", "!=", "@"))


def _sp215_doc() -> RuleDoc:
    return RuleDoc(
        why="`pip install flask` installs the newest release on the day of the build, and "
        "with it whatever its dependencies resolve to: the same Dockerfile ships different "
        "code from one build to the next, and a new release can break the build or the app.",
        bad=f"FROM {PYTHON}\nRUN pip install --no-cache-dir flask\n{SAFE_TAIL}",
        good=f"FROM {PYTHON}\nRUN pip install --no-cache-dir flask==3.1.0\n{SAFE_TAIL}",
        fix="Pin each package (`flask==3.1.0`; a range such as `flask>=3,<4` also counts), or "
        "better, install a requirements file (`pip install -r requirements.txt`, which this "
        "rule does not judge) that pins every dependency, with hashes (`--require-hashes`). "
        "A constraints file (`-c`) pins the command too. Local paths, wheels, archives and "
        "URLs need no pin; a VCS URL needs a ref (`git+https://...repo.git@v1.2`). "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP215"]` in `.scratchpack.toml`.',
    )


@rule("SP215", Severity.WARNING, "reproducibility", "pip install without version pins",
      hadolint=("DL3013",), doc=_sp215_doc)  # fmt: skip
def pip_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "pip install", _pip_packages, _pip_pinned,
        "flask==3.1.0, or install from a requirements file with hashes",
    )  # fmt: skip


_NPM_VALUED = frozenset(
    {"--prefix", "--registry", "--cache", "--omit", "--include", "--tag", "-w", "--workspace",
     "--loglevel", "--userconfig", "--install-strategy", "--before"}
)  # fmt: skip


def _npm_packages(cmd: ShellCommand) -> list[str] | None:
    if cmd.name != "npm":
        return None
    words = operands(cmd.args, _NPM_VALUED)
    if words[:1] not in (["install"], ["i"], ["add"]):
        return None
    return [
        w for w in words[1:]
        if not w.startswith(("/", "./", "../", "~/", "http://", "https://"))
        and not w.endswith((".tar", ".tar.gz", ".tgz"))
    ]  # fmt: skip


def _npm_pinned(word: str) -> bool:
    if word.startswith(("git+", "git://", "github:")):
        return "#" in word  # a commit, tag or semver range after the #
    return "@" in word.removeprefix("@")  # express@4.21.2, @scope/name@1.0


def _sp216_doc() -> RuleDoc:
    return RuleDoc(
        why="`npm install -g typescript` installs the newest release on the day of the build: "
        "the same Dockerfile ships different tools from one build to the next.",
        bad=f"FROM {NODE}\nRUN npm install -g typescript\n{SAFE_TAIL}",
        good=f"FROM {NODE}\nRUN npm install -g typescript@5.7.2\n{SAFE_TAIL}",
        fix="Name the version (`typescript@5.7.2`, or a range in quotes), or list the package "
        "in package.json and install with `npm ci` from the lock file (a bare `npm install` is "
        "not judged here; SP209 is about it). A git URL needs `#commit`, `#tag` or "
        "`#semver:...`. Local folders and tarballs need no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP216"]` in `.scratchpack.toml`.',
    )


@rule("SP216", Severity.WARNING, "reproducibility", "npm install of a package without a version",
      hadolint=("DL3016",), doc=_sp216_doc)  # fmt: skip
def npm_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "npm install", _npm_packages, _npm_pinned,
        "express@4.21.2, or list it in package.json and run npm ci",
    )  # fmt: skip


_GEM_VALUED = frozenset(
    {"-v", "--version", "-i", "--install-dir", "-n", "--bindir", "-s", "--source", "-P",
     "--trust-policy", "--platform", "-g", "--file"}
)  # fmt: skip


def _gem_packages(cmd: ShellCommand) -> list[str] | None:
    if cmd.name != "gem":
        return None
    args = cmd.args[: cmd.args.index("--")] if "--" in cmd.args else cmd.args
    words = operands(args, _GEM_VALUED)
    if words[:1] not in (["install"], ["i"]) or cmd.has("-v", "--version"):
        return None  # -v pins the gems the command names
    # a word after an option (--use-system-libraries true) is that option's value
    return [w for w in words[1:] if w not in ("true", "false") and not w.endswith(".gem")]


def _sp217_doc() -> RuleDoc:
    return RuleDoc(
        why="`gem install bundler` installs the newest release on the day of the build: the "
        "same Dockerfile ships a different bundler from one build to the next.",
        bad=f"FROM {RUBY}\nRUN gem install bundler\n{SAFE_TAIL}",
        good=f"FROM {RUBY}\nRUN gem install bundler:2.5.23\n{SAFE_TAIL}",
        fix="Pin as `name:version`, or with `-v VERSION` (which pins every gem of the command). "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP217"]` in `.scratchpack.toml`.',
    )


@rule("SP217", Severity.WARNING, "reproducibility", "gem install without version pins",
      hadolint=("DL3028",), doc=_sp217_doc)  # fmt: skip
def gem_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "gem install", _gem_packages, lambda g: ":" in g,
        "bundler:2.5.23, or gem install bundler -v 2.5.23",
    )  # fmt: skip


_RPM_VALUED = frozenset(
    {"-c", "--config", "--setopt", "--repo", "--enablerepo", "--disablerepo", "--releasever",
     "--installroot", "-x", "--exclude", "--repofrompath", "--forcearch"}
)  # fmt: skip
# name-version as yum and dnf take it: a hyphen then a digit (openssl-1:3.0.7, gcc-c++-11.4)
_RPM_VERSION = lazy(r"-\d")


def _rpm_packages(cmd: ShellCommand, tools: tuple[str, ...]) -> list[str] | None:
    """Packages of ``yum/dnf install`` and streams of ``module install``; groups (``group
    install``, ``@group``) and local .rpm files need no pin."""
    if cmd.name not in tools:
        return None
    words = operands(cmd.args, _RPM_VALUED)
    if words[:1] == ["install"]:
        return [w for w in words[1:] if not w.endswith(".rpm") and not w.startswith(("@", "/"))]
    return words[2:] if words[:2] == ["module", "install"] else None


def _rpm_pinned(word: str) -> bool:
    """name-version (openssl-1:3.0.7) or a module's name:stream (tomcat:9)."""
    return _RPM_VERSION.search(word) is not None or ":" in word


def _sp218_doc() -> RuleDoc:
    return RuleDoc(
        why="`yum install tomcat` installs whatever version the repositories have on the day of "
        "the build: the same Dockerfile ships different packages from one build to the next.",
        bad=f"FROM {ROCKY}\nRUN yum install -y tomcat && yum clean all\n{SAFE_TAIL}",
        good=f"FROM {ROCKY}\nRUN yum install -y tomcat-9.0.87 && yum clean all\n{SAFE_TAIL}",
        fix="Pin as `name-version` (`yum list --showduplicates NAME` shows what is on offer), or "
        "install a module stream (`yum module install tomcat:9`). Groups and local .rpm files "
        "need no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP218"]` in `.scratchpack.toml`.',
    )


@rule("SP218", Severity.WARNING, "reproducibility", "yum install without version pins",
      hadolint=("DL3033",), doc=_sp218_doc)  # fmt: skip
def yum_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "yum install", lambda c: _rpm_packages(c, ("yum",)), _rpm_pinned,
        "tomcat-9.0.87, or a module stream: yum module install tomcat:9",
    )  # fmt: skip


def _zypper_packages(cmd: ShellCommand) -> list[str] | None:
    if cmd.name != "zypper":
        return None
    words = operands(cmd.args, frozenset({"-r", "--repo", "--from", "-t", "--type", "--root"}))
    if words[:1] not in (["install"], ["in"]):
        return None
    return [w for w in words[1:] if not w.endswith(".rpm")]


def _sp219_doc() -> RuleDoc:
    return RuleDoc(
        why="`zypper install curl` installs whatever version the repositories have on the day "
        "of the build: the same Dockerfile ships different packages from one build to the "
        "next.",
        bad=f"FROM {SUSE}\nRUN zypper install -y curl && zypper clean\n{SAFE_TAIL}",
        good=f"FROM {SUSE}\nRUN zypper install -y curl=8.6.0 && zypper clean\n{SAFE_TAIL}",
        fix="Pin as `name=version`, or a range in quotes (`'curl>=8.6'`). Local .rpm files need "
        "no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP219"]` in `.scratchpack.toml`.',
    )


@rule("SP219", Severity.WARNING, "reproducibility", "zypper install without version pins",
      hadolint=("DL3037",), doc=_sp219_doc)  # fmt: skip
def zypper_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "zypper install", _zypper_packages,
        lambda p: any(op in p for op in "=<>"), "tomcat=9.0.39, or 'tomcat>=9.0'",
    )  # fmt: skip


def _sp220_doc() -> RuleDoc:
    return RuleDoc(
        why="`dnf install tomcat` (or microdnf) installs whatever version the repositories have "
        "on the day of the build: the same Dockerfile ships different packages from one build "
        "to the next.",
        bad=f"FROM {ROCKY}\nRUN dnf install -y tomcat && dnf clean all\n{SAFE_TAIL}",
        good=f"FROM {ROCKY}\nRUN dnf install -y tomcat-9.0.87 && dnf clean all\n{SAFE_TAIL}",
        fix="Pin as `name-version` (`dnf list --showduplicates NAME` shows what is on offer), or "
        "install a module stream (`dnf module install tomcat:9`). Groups and local .rpm files "
        "need no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP220"]` in `.scratchpack.toml`.',
    )


@rule("SP220", Severity.WARNING, "reproducibility", "dnf install without version pins",
      hadolint=("DL3041",), doc=_sp220_doc)  # fmt: skip
def dnf_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "dnf install",
        lambda c: _rpm_packages(c, ("dnf", "microdnf", "dnf5")), _rpm_pinned,
        "tomcat-9.0.87, or a module stream: dnf module install tomcat:9",
    )  # fmt: skip


# -- answering for the user (SP221-SP225): hadolint's DL3014, DL3030, DL3038, DL3034 ---------
# A build has no terminal: a package manager that asks "Is this ok [y/N]" reads end of file and
# stops, so the RUN fails as soon as it installs anything that needs confirming.


def _apt_quiet_level(cmd: ShellCommand) -> int:
    """apt-get's -q count: ``-qq``, ``-q -q``, ``-q=2`` and ``--quiet --quiet`` are level 2,
    which implies ``-y``."""
    level = 0
    for arg in cmd.args:
        if arg.startswith(("--quiet=", "-q=")):
            value = arg.partition("=")[2]
            # -q=2 and above; no int() of a 16 KiB number (Python refuses over 4,300 digits)
            level = max(level, 2 if len(value) > 1 else int(value)) if value.isdigit() else level
        elif arg == "--quiet":
            level += 1
        elif arg.startswith("-") and not arg.startswith("--") and "=" not in arg:
            level += arg[1:].count("q")
    return level


def _apt_assumes_yes(cmd: ShellCommand) -> bool:
    if has_flag(cmd, "y", "yes", "assume-yes") or _apt_quiet_level(cmd) >= 2:
        return True
    # -o APT::Get::Assume-Yes=true, as a separate or a joined value
    options = [a.lower() for a in cmd.args if "assume-yes=" in a.lower()]
    return any(o.rsplit("=", 1)[1] in ("1", "true", "yes") for o in options)


def _sp221_doc() -> RuleDoc:
    return RuleDoc(
        why='A build has no terminal. `apt-get install` without `-y` asks "Do you want to '
        'continue? [Y/n]" whenever it installs more than the packages named (dependencies), '
        "reads end of file and aborts, so the RUN fails on the day a dependency appears.",
        bad=f"FROM {PINNED}\nRUN apt-get update && apt-get install --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        fix="Add `-y` (or `--yes`, `--assume-yes`; `-qq` implies it, as in hadolint). There is "
        "no automatic fix: with `-y` apt-get also goes ahead where it would have stopped (it "
        "may remove conflicting packages), so the fix changes what the build does.",
    )


@rule("SP221", Severity.WARNING, "correctness", "apt-get install without -y",
      hadolint=("DL3014",), doc=_sp221_doc)  # fmt: skip
def apt_without_yes(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for run, cmd in run_commands(dockerfile):
        if apt_command(cmd) == "install" and not _apt_assumes_yes(cmd):
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                f"{cmd.name} install without -y asks for confirmation, and a build cannot "
                "answer: it aborts whenever more than the named packages are needed",
            )


def _sp222_doc() -> RuleDoc:
    return RuleDoc(
        why="`apt` is the command for people at a terminal: it says itself that its interface "
        'is not stable for scripts ("WARNING: apt does not have a stable CLI interface"), and '
        "its output and defaults may change between releases. `apt-get` and `apt-cache` are "
        "the stable interface.",
        bad=f"FROM {PINNED}\nRUN apt update && apt install -y --no-install-recommends curl "
        f"&& rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        fix="Use `apt-get` (install, update, remove) or `apt-cache` (search, show). No automatic "
        "fix: `apt` and `apt-get` differ in defaults (apt keeps downloaded packages, shows "
        "progress), so swapping them does not provably mean the same.",
    )


@rule("SP222", Severity.WARNING, "maintainability", "apt in a RUN: use apt-get or apt-cache",
      hadolint=("DL3027",), doc=_sp222_doc)  # fmt: skip
def apt_frontend(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for run, cmd in run_commands(dockerfile):
        if cmd.name == "apt":
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                "apt is made for people at a terminal: its output and options may change "
                "between releases and it warns that its CLI is not stable; scripts use "
                "apt-get (install, update) and apt-cache (search, show)",
            )


def _asks(
    dockerfile: Dockerfile,
    meta: Rule,
    tools: tuple[str, ...],
    subcommands: tuple[str, ...],
    yes: Callable[[ShellCommand], bool],
    how: str,
) -> Iterator[Finding]:
    """A finding per command of ``tools`` running one of ``subcommands`` that would ask."""
    for run, cmd in run_commands(dockerfile):
        if cmd.name not in tools:
            continue
        sub = subcommand(cmd, _RPM_VALUED)
        if sub in subcommands and not yes(cmd):
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                f"{cmd.name} {sub} without {how} asks for confirmation, and a build cannot "
                "answer: the RUN fails",
            )


_RPM_INSTALLS = ("install", "groupinstall", "localinstall")


def _sp223_doc() -> RuleDoc:
    return RuleDoc(
        why='A build has no terminal: `yum install` without `-y` asks "Is this ok [y/N]", '
        "reads end of file and fails the RUN.",
        bad=f"FROM {ROCKY}\nRUN yum install tomcat-9.0.87 && yum clean all\n{SAFE_TAIL}",
        good=f"FROM {ROCKY}\nRUN yum install -y tomcat-9.0.87 && yum clean all\n{SAFE_TAIL}",
        fix="Add `-y` (`--assumeyes`) to `yum install`, `groupinstall` and `localinstall`. No "
        "automatic fix: `-y` also lets yum go ahead with what it would have asked about.",
    )


@rule("SP223", Severity.WARNING, "correctness", "yum install without -y", hadolint=("DL3030",),
      doc=_sp223_doc)  # fmt: skip
def yum_without_yes(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _asks(
        dockerfile, meta, ("yum",), _RPM_INSTALLS,
        lambda c: has_flag(c, "y", "assumeyes"), "-y",
    )  # fmt: skip


def _sp224_doc() -> RuleDoc:
    return RuleDoc(
        why="A build has no terminal: `dnf install` (or microdnf) without `-y` asks for "
        "confirmation, reads end of file and fails the RUN.",
        bad=f"FROM {ROCKY}\nRUN dnf install tomcat-9.0.87 && dnf clean all\n{SAFE_TAIL}",
        good=f"FROM {ROCKY}\nRUN dnf install -y tomcat-9.0.87 && dnf clean all\n{SAFE_TAIL}",
        fix="Add `-y` (`--assumeyes`) to `dnf install`, `groupinstall` and `localinstall`. No "
        "automatic fix, as for SP223.",
    )


@rule("SP224", Severity.WARNING, "correctness", "dnf install without -y", hadolint=("DL3038",),
      doc=_sp224_doc)  # fmt: skip
def dnf_without_yes(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _asks(
        dockerfile, meta, ("dnf", "microdnf", "dnf5"), _RPM_INSTALLS,
        lambda c: has_flag(c, "y", "assumeyes"), "-y",
    )  # fmt: skip


def _sp225_doc() -> RuleDoc:
    return RuleDoc(
        why="A build has no terminal: zypper's install, remove, patch and source-install ask "
        "for confirmation unless told not to, and the RUN fails.",
        bad=f"FROM {SUSE}\nRUN zypper install curl=8.6.0 && zypper clean\n{SAFE_TAIL}",
        good=f"FROM {SUSE}\nRUN zypper --non-interactive install curl=8.6.0 && zypper clean\n"
        f"{SAFE_TAIL}",
        fix="Add `-n` / `--non-interactive` (a global option, before the command) or the "
        "command's `-y` / `--no-confirm`. No automatic fix, as for SP223.",
    )


@rule("SP225", Severity.WARNING, "correctness", "zypper without a non-interactive switch",
      hadolint=("DL3034",), doc=_sp225_doc)  # fmt: skip
def zypper_interactive(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _asks(
        dockerfile, meta, ("zypper",),
        ("install", "in", "remove", "rm", "source-install", "si", "patch"),
        lambda c: has_flag(c, "n", "non-interactive") or has_flag(c, "y", "no-confirm"),
        "-n (--non-interactive) or -y",
    )  # fmt: skip


# -- go install pinning (SP226): hadolint's DL3062 -------------------------------------------

_GO_VALUED = frozenset(
    {"-C", "-o", "-p", "-tags", "-ldflags", "-gcflags", "-asmflags", "-modfile", "-mod",
     "-pkgdir", "-toolexec", "-overlay", "-pgo", "-exec", "-buildmode", "-compiler",
     "-gccgoflags", "-installsuffix", "-covermode", "-coverpkg"}
)  # fmt: skip


def _go_packages(cmd: ShellCommand) -> list[str] | None:
    """Modules of ``go install``, ``go get`` (``-tool`` too) and ``go run``; for ``go run``
    only the package, the words after it are the program's arguments."""
    if cmd.name != "go":
        return None
    words = operands(cmd.args, _GO_VALUED)
    if words[:1] not in (["install"], ["get"], ["run"]):
        return None
    packages = words[1:2] if words[0] == "run" else words[1:]
    # a local package (., ./cmd, /go/src/app, main.go) is built from the files at hand; std,
    # all and cmd are the patterns of the toolchain's own packages
    return [
        p for p in packages
        if not p.startswith((".", "/")) and not p.endswith(".go")
        and p.split("/", 1)[0] not in ("std", "all", "cmd")
    ]  # fmt: skip


def _go_pinned(word: str) -> bool:
    version = word.partition("@")[2]
    return bool(version) and version not in ("latest", "upgrade", "patch", "master", "main")


def _sp226_doc() -> RuleDoc:
    return RuleDoc(
        why="`go install example.com/tool@latest` (or with no version; `go get` and `go run` "
        "too) fetches whatever the module's newest release is on the day of the build: the "
        "same Dockerfile ships different tools from one build to the next.",
        bad=f"FROM {GO} AS build\nRUN go install golang.org/x/tools/gopls@latest\n"
        "FROM scratch\nCOPY --from=build /go/bin/gopls /gopls\n" + SCRATCH_TAIL,
        good=f"FROM {GO} AS build\nRUN go install golang.org/x/tools/gopls@v0.17.1\n"
        "FROM scratch\nCOPY --from=build /go/bin/gopls /gopls\n" + SCRATCH_TAIL,
        fix="Name a version (`@v0.17.1`, or a commit). Local packages (`.`, `./cmd/app`) are "
        "built from the files at hand and need none. Pins are noisy where drift is wanted: "
        'to turn the rule off for a whole project, put `ignore = ["SP226"]` in '
        "`.scratchpack.toml`.",
    )


@rule("SP226", Severity.WARNING, "reproducibility", "go install of a module without a version",
      hadolint=("DL3062",), doc=_sp226_doc)  # fmt: skip
def go_unpinned(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _unpinned(
        dockerfile, meta, "go install", _go_packages, _go_pinned,
        "golang.org/x/tools/gopls@v0.17.1; @latest is no pin",
    )  # fmt: skip
