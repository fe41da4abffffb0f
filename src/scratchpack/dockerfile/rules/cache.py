"""Rules on layer size and build cache: caches and lists left in layers, layers that hide
bytes, and an instruction order that defeats the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from scratchpack.dockerfile.model import Dockerfile, Instruction
from scratchpack.dockerfile.rules.core import (
    APT_LISTS_USERS,
    Finding,
    Rule,
    RuleDoc,
    apt_command,
    cache_mount,
    env_pairs,
    exported,
    has_flag,
    parent_stage,
    pip_args,
    rule,
    run_commands,
    run_of,
    runs,
    shell_of,
    shipped_stages,
    subcommand,
)
from scratchpack.dockerfile.rules.examples import NODE, PINNED, ROCKY, SAFE_TAIL, SUSE
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.reports.severity import Severity


def _sp201_doc() -> RuleDoc:
    return RuleDoc(
        why="`apt-get update` downloads package lists (tens of MB) into /var/lib/apt/lists; "
        "removing them in a later RUN does not shrink the earlier layer. Only the stages that "
        "ship are judged, as in hadolint: the final stage and those it is built FROM (not a "
        "build stage the final one copies files out of; hadolint also judges a stage that only "
        "such a build stage is built FROM).\n\n"
        "A deliberate difference with hadolint's DL3009: a cache (or tmpfs) mount over "
        "/var/lib/apt keeps the lists out of the layer, and is accepted; hadolint also asks "
        "for a mount of /var/cache/apt, which is about the downloaded packages, not the lists.",
        bad=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{SAFE_TAIL}",
        fix="End the same RUN with `rm -rf /var/lib/apt/lists/*`, or use a cache mount.",
    )


@rule("SP201", Severity.INFO, "size", "apt lists are not removed in the same RUN",
      hadolint=("DL3009",), doc=_sp201_doc)  # fmt: skip
def apt_lists_kept(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    # only the layers that ship cost: the final stage and the stages it is built FROM; a
    # stage the final one only copies files out of (COPY --from) leaves its lists behind
    shipped = {s.index for s in shipped_stages(dockerfile)}
    for stage, run in runs(dockerfile):
        if stage.index not in shipped:
            continue
        cmds = shell_of(run)
        used = {apt_command(c, APT_LISTS_USERS) for c in cmds} - {None}
        # an install, or an update before another apt command (apt-get update && apt-get
        # purge ...: the lists it fetched stay all the same); an update alone is SP202's
        if not ("install" in used or ("update" in used and used != {"update"})) or cache_mount(
            run, "/var/lib/apt"
        ):
            continue
        removed = any(
            (c.name == "rm" and any("/var/lib/apt/lists" in a for a in c.args))
            or apt_command(c) == "dist-clean"  # apt 2.7+: removes the lists too
            for c in cmds
        )
        if not removed:
            yield meta.finding(
                "apt lists stay in the layer: end the RUN with rm -rf /var/lib/apt/lists/*",
                run.line,
            )


def _sp204_doc() -> RuleDoc:
    return RuleDoc(
        why="`apk add` keeps the package index in /var/cache/apk unless told not to.",
        bad="FROM alpine:3.21@sha256:" + "b" * 64 + f"\nRUN apk add curl\n{SAFE_TAIL}",
        good="FROM alpine:3.21@sha256:" + "b" * 64 + f"\nRUN apk add --no-cache curl\n{SAFE_TAIL}",
        fix="Use `apk add --no-cache`.",
    )


@rule("SP204", Severity.INFO, "size", "apk add without --no-cache",
      hadolint=("DL3019",), dockle="DKL-DI-0004", doc=_sp204_doc)  # fmt: skip
def apk_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        if cache_mount(run, "/var/cache/apk"):
            continue
        for cmd in shell_of(run):
            if cmd.name == "apk" and "add" in cmd.args and not cmd.has("--no-cache"):
                yield meta.at_command(
                    dockerfile, run, cmd, "apk add without --no-cache keeps the index in the layer"
                )


def _sp205_doc() -> RuleDoc:
    return RuleDoc(
        why="pip keeps every downloaded wheel in ~/.cache/pip: often as large as what it "
        "installed, and useless at run time.",
        bad=f"FROM {PINNED}\nRUN pip install flask\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN pip install --no-cache-dir flask\n{SAFE_TAIL}",
        fix="Add `--no-cache-dir`, set `PIP_NO_CACHE_DIR=1`, or use a cache mount.",
    )


@rule("SP205", Severity.INFO, "size", "pip install without --no-cache-dir", hadolint=("DL3042",),
      doc=_sp205_doc)  # fmt: skip
def pip_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    # each stage's ENV and ARG at its end, for the stages built FROM it: linear in the stages
    ended: dict[int, dict[str, str]] = {}
    for stage in dockerfile.stages:
        parent = parent_stage(dockerfile, stage)
        env = dict(ended[parent.index]) if parent is not None else {}
        for instruction in stage.instructions:
            if instruction.cmd in ("ENV", "ARG"):
                env.update(env_pairs(instruction))
            run = run_of(instruction)  # an ONBUILD RUN too
            if run is None or cache_mount(run, "/root/.cache"):
                continue
            run_env = dict(env)
            for cmd in shell_of(run):
                run_env.update(exported(cmd))
                args = pip_args(cmd)
                if args is None or "install" not in args:
                    continue
                setting = cmd.env_value("PIP_NO_CACHE_DIR") or run_env.get("PIP_NO_CACHE_DIR")
                # pip reads the variable as a boolean: PIP_NO_CACHE_DIR=0 keeps the cache on
                if (setting or "").lower() in _TRUE or cmd.has("--no-cache-dir", "--no-cache"):
                    continue
                message = "pip install without --no-cache-dir keeps its cache in the layer"
                yield meta.at_command(dockerfile, run, cmd, message)
        ended[stage.index] = env


_TRUE = frozenset({"1", "y", "yes", "t", "true", "on"})  # what pip's strtobool reads as true


def _sp206_doc() -> RuleDoc:
    return RuleDoc(
        why="Every RUN is a layer: files written in one and deleted in the next still ship, and "
        "many small layers slow pulls. As in hadolint, only two RUNs of one command each, with "
        "the same flags, are reported: a RUN that chains commands (`&&`, `;`) was kept apart "
        "on purpose, and RUNs with different `--mount` or `--network` flags cannot be joined.",
        bad=f"FROM {PINNED}\nRUN mkdir /data\nRUN touch /data/x\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN mkdir /data && touch /data/x\n{SAFE_TAIL}",
        fix="Join RUNs that belong together with `&&` (or a heredoc).",
    )


@rule("SP206", Severity.INFO, "size", "Consecutive RUN instructions", hadolint=("DL3059",),
      doc=_sp206_doc)  # fmt: skip
def consecutive_runs(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    # As hadolint reads it: a RUN that chains commands (&&, ;) was most likely kept apart on
    # purpose, and RUNs with different flags (--mount, --network) cannot be joined; two
    # one-command RUNs with the same flags can. Comments between them do not separate them.
    for stage in dockerfile.stages:
        previous: Instruction | None = None
        for instruction in stage.instructions:
            if (
                previous is not None
                and previous.cmd == "RUN"
                and instruction.cmd == "RUN"
                and instruction.flags == previous.flags
                and _one_command(previous)
                and _one_command(instruction)
            ):
                yield meta.finding(
                    f"RUN follows the RUN at line {previous.line}: each makes a layer; join them "
                    "with && when they belong together",
                    instruction.line,
                )
            previous = instruction


def _one_command(run: Instruction) -> bool:
    """Whether a RUN runs at most one simple command."""
    return len(shell_of(run)) <= 1


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


def _sp207_doc() -> RuleDoc:
    return RuleDoc(
        why="Docker reuses a layer only while everything before it is unchanged. Copying the "
        "whole context before installing dependencies makes every source edit reinstall them.",
        bad="FROM node:22@sha256:" + "9" * 64 + f"\nWORKDIR /app\nCOPY . .\nRUN npm ci\n"
        f"{SAFE_TAIL}",
        good="FROM node:22@sha256:" + "9" * 64 + "\nWORKDIR /app\nCOPY package.json "
        f"package-lock.json ./\nRUN npm ci\nCOPY . .\n{SAFE_TAIL}",
        fix="Copy the dependency manifests first, install, then copy the sources.",
    )


@rule("SP207", Severity.WARNING, "size", "The whole context is copied before dependencies install",
      doc=_sp207_doc)  # fmt: skip
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


def _sp208_doc() -> RuleDoc:
    return RuleDoc(
        why="Without a .dockerignore the whole directory is sent to the builder: .git (with its "
        "history and maybe secrets), build output, local .env files. `COPY . .` then puts them "
        "in the image.",
        bad=f"FROM {PINNED}\nCOPY . /app\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nCOPY . /app\n{SAFE_TAIL}",
        fix="Add a .dockerignore that excludes at least `.git` and the language's build output "
        "(`target/`, `node_modules/`, `__pycache__`, `.venv`).",
        bad_context=(("package.json", "{}\n"),),
        good_context=(("package.json", "{}\n"), (".dockerignore", ".git\nnode_modules\n")),
    )


@rule("SP208", Severity.WARNING, "size", "No .dockerignore, or one that lets .git through",
      doc=_sp208_doc)  # fmt: skip
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
        sub = apt_command(cmd)
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


def _rm_targets(instruction: Instruction, workdir: str) -> list[tuple[str, ShellCommand]]:
    """What the RUN's ``rm`` commands remove, each with its rm (where a finding points)."""
    return [
        (_resolve(arg, workdir), cmd)
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


def _sp211_doc() -> RuleDoc:
    return RuleDoc(
        why="Layers only add: a file deleted by a later layer is hidden by a whiteout but its "
        "bytes are still in the earlier layer, pulled and stored by everyone.",
        bad=f"FROM {PINNED}\nCOPY app.tar.gz /tmp/app.tar.gz\n"
        f"RUN tar -xzf /tmp/app.tar.gz -C /opt && rm /tmp/app.tar.gz\n{SAFE_TAIL}",
        good=f"FROM {PINNED} AS unpack\nCOPY app.tar.gz /tmp/app.tar.gz\n"
        f"RUN mkdir /opt/app && tar -xzf /tmp/app.tar.gz -C /opt/app\n"
        f"FROM {PINNED}\nCOPY --from=unpack /opt/app /opt/app\n{SAFE_TAIL}",
        fix="Download, use and delete in one RUN, or do the work in an earlier stage and copy "
        "only the result.",
    )


@rule("SP211", Severity.WARNING, "size", "A file added in one layer and deleted in a later one",
      doc=_sp211_doc)  # fmt: skip
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
                for target, rm in _rm_targets(instruction, workdir):
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
                            yield meta.at_command(
                                dockerfile,
                                instruction,
                                rm,
                                f"{path} was added by the layer at line {line}: removing it "
                                "in a later layer hides it but still ships its bytes; remove "
                                "it in the same RUN, or use a multi-stage build",
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


# -- package caches of yum, dnf, zypper and yarn (SP227-SP230): DL3032, DL3040, DL3036, DL3060


def _removes(cmd: ShellCommand, paths: tuple[str, ...]) -> bool:
    """``rm -rf /var/cache/yum/*`` and the like: an rm of one of ``paths`` or what is in it."""
    return cmd.name == "rm" and any(a.startswith(paths) for a in cmd.args)


def _cache_kept(
    dockerfile: Dockerfile,
    meta: Rule,
    installs: Callable[[ShellCommand], bool],
    cleans: Callable[[ShellCommand], bool],
    cache_dirs: tuple[str, ...],
    message: str,
    stages: frozenset[int] | None = None,
) -> Iterator[Finding]:
    """A finding at the first install of a RUN after which the RUN never cleans the cache (a
    clean before the install leaves the install's own downloads), unless a cache or tmpfs
    mount holds the cache; ``stages``: only these stages' RUNs."""
    for stage, run in runs(dockerfile):
        if stages is not None and stage.index not in stages:
            continue
        if any(cache_mount(run, fragment) for fragment in cache_dirs):
            continue
        cmds = shell_of(run)
        last_install = max((n for n, c in enumerate(cmds) if installs(c)), default=-1)
        if last_install < 0 or any(cleans(c) for c in cmds[last_install + 1 :]):
            continue
        first = next(c for c in cmds if installs(c))
        yield meta.at_command(dockerfile, run, first, message)


_YUM_CACHE = ("/var/cache/yum",)


def _sp227_doc() -> RuleDoc:
    return RuleDoc(
        why="yum keeps the repository metadata and the packages it downloaded in "
        "/var/cache/yum: tens of megabytes in the layer that nothing at run time reads.",
        bad=f"FROM {ROCKY}\nRUN yum install -y tomcat-9.0.87\n{SAFE_TAIL}",
        good=f"FROM {ROCKY}\nRUN yum install -y tomcat-9.0.87 && yum clean all\n{SAFE_TAIL}",
        fix="End the RUN with `yum clean all` (or `rm -rf /var/cache/yum/*`), after the last "
        "install: a clean before it leaves the install's own downloads. A cache or tmpfs "
        "mount on /var/cache/yum (`RUN --mount=type=cache,target=/var/cache/yum`) keeps the "
        "cache out of the layer too.",
    )


@rule("SP227", Severity.INFO, "size", "yum install without yum clean all",
      hadolint=("DL3032",), doc=_sp227_doc)  # fmt: skip
def yum_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _cache_kept(
        dockerfile, meta,
        lambda c: c.name == "yum" and subcommand(c) in ("install", "groupinstall", "localinstall"),
        lambda c: (c.name == "yum" and c.args[-1:] == ("all",) and subcommand(c) == "clean")
        or _removes(c, _YUM_CACHE),
        _YUM_CACHE,
        "yum keeps the metadata and packages it downloaded in /var/cache/yum, in the layer: "
        "end the RUN with yum clean all",
    )  # fmt: skip


_DNF = ("dnf", "microdnf", "dnf5")
_DNF_CACHE = ("/var/cache/libdnf5", "/var/cache/dnf", "/var/cache/yum", ".cache/libdnf5")
_DNF_INSTALLS = ("install", "in", "upgrade", "up", "upgrade-minimal", "up-min", "reinstall",
                 "rei", "groupinstall", "localinstall", "update")  # fmt: skip


def _sp228_doc() -> RuleDoc:
    return RuleDoc(
        why="dnf and microdnf keep the repository metadata and the packages they downloaded "
        "in /var/cache (libdnf5, dnf, yum): tens of megabytes in the layer.",
        bad=f"FROM {ROCKY}\nRUN dnf install -y tomcat-9.0.87\n{SAFE_TAIL}",
        good=f"FROM {ROCKY}\nRUN dnf install -y tomcat-9.0.87 && dnf clean all\n{SAFE_TAIL}",
        fix="End the RUN with `dnf clean all` (or `rm -rf /var/cache/libdnf5`), after the last "
        "install, upgrade or reinstall; or mount a cache or tmpfs on the cache directory.",
    )


@rule("SP228", Severity.INFO, "size", "dnf install without dnf clean all",
      hadolint=("DL3040",), doc=_sp228_doc)  # fmt: skip
def dnf_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _cache_kept(
        dockerfile, meta,
        lambda c: c.name in _DNF and subcommand(c) in _DNF_INSTALLS,
        lambda c: (c.name in _DNF and subcommand(c) == "clean" and "all" in c.args)
        or _removes(c, _DNF_CACHE[:3]),
        _DNF_CACHE,
        "dnf keeps the metadata and packages it downloaded in /var/cache, in the layer: end "
        "the RUN with dnf clean all",
    )  # fmt: skip


_ZYPPER_CACHE = ("/var/cache/zypp",)


def _sp229_doc() -> RuleDoc:
    return RuleDoc(
        why="zypper keeps the repository metadata and the packages it downloaded in "
        "/var/cache/zypp: tens of megabytes in the layer.",
        bad=f"FROM {SUSE}\nRUN zypper install -y curl=8.6.0\n{SAFE_TAIL}",
        good=f"FROM {SUSE}\nRUN zypper install -y curl=8.6.0 && zypper clean --all\n{SAFE_TAIL}",
        fix="End the RUN with `zypper clean` (`zypper cc`), after the last install; or mount a "
        "cache or tmpfs on /var/cache/zypp.",
    )


@rule("SP229", Severity.INFO, "size", "zypper install without zypper clean",
      hadolint=("DL3036",), doc=_sp229_doc)  # fmt: skip
def zypper_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _cache_kept(
        dockerfile, meta,
        lambda c: c.name == "zypper" and subcommand(c, _ZYPPER_VALUED) in ("install", "in"),
        lambda c: (c.name == "zypper" and subcommand(c, _ZYPPER_VALUED) in ("clean", "cc"))
        or _removes(c, _ZYPPER_CACHE),
        _ZYPPER_CACHE,
        "zypper keeps the metadata and packages it downloaded in /var/cache/zypp, in the "
        "layer: end the RUN with zypper clean --all",
    )  # fmt: skip


_ZYPPER_VALUED = frozenset({"-r", "--repo", "--root", "-D", "--reposd-dir", "-C", "--cache-dir"})


def _yarn_installs(cmd: ShellCommand) -> bool:
    return cmd.name == "yarn" and subcommand(cmd) == "install"


def _sp230_doc() -> RuleDoc:
    return RuleDoc(
        why="`yarn install` keeps every package it fetched in its cache (~/.cache/yarn, "
        "/usr/local/share/.cache/yarn as root): often more than node_modules itself, in a "
        "layer the image ships. A stage whose files are only copied from (`COPY --from`) is "
        "not judged: its cache never reaches the final image.",
        bad=f"FROM {NODE}\nWORKDIR /app\nCOPY package.json yarn.lock ./\n"
        f"RUN yarn install --frozen-lockfile --production\n{SAFE_TAIL}",
        good=f"FROM {NODE}\nWORKDIR /app\nCOPY package.json yarn.lock ./\n"
        "RUN yarn install --frozen-lockfile --production && yarn cache clean\n"
        f"{SAFE_TAIL}",
        fix="End the RUN with `yarn cache clean`, or mount a cache on the cache directory "
        "(`RUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install`).",
    )


@rule("SP230", Severity.INFO, "size", "yarn install without yarn cache clean",
      hadolint=("DL3060",), doc=_sp230_doc)  # fmt: skip
def yarn_cache(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    yield from _cache_kept(
        dockerfile, meta, _yarn_installs,
        lambda c: c.name == "yarn" and c.args[:2] == ("cache", "clean"),
        (".cache/yarn", "/usr/local/share/.cache/yarn", ".yarn/berry/cache"),
        "yarn install keeps every package it fetched in its cache (~/.cache/yarn), in a layer "
        "that ships: end the RUN with yarn cache clean",
        frozenset(s.index for s in shipped_stages(dockerfile)),
    )  # fmt: skip


# -- useradd and the lastlog file (SP231): DL3046 ---------------------------------------------


def _uid(cmd: ShellCommand) -> str | None:
    """The value of useradd's -u / --uid, however it is written."""
    for n, arg in enumerate(cmd.args):
        if arg in ("-u", "--uid") and n + 1 < len(cmd.args):
            return cmd.args[n + 1]
        if arg.startswith("--uid="):
            return arg.partition("=")[2]
        if arg.startswith("-u") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return None


def _sp231_doc() -> RuleDoc:
    return RuleDoc(
        why="useradd writes the new user's record into /var/log/lastlog and faillog at an "
        "offset of UID times the record size. Those are sparse files on disk, but a layer "
        "stores them in full: a UID of 100000 and above makes the layer hundreds of "
        "megabytes, and a UID near 2^31 gigabytes.",
        bad=f"FROM {PINNED}\nRUN useradd -u 1000000 app\nUSER 1000000\nWORKDIR /app\n",
        good=f"FROM {PINNED}\nRUN useradd -l -u 1000000 app\nUSER 1000000\nWORKDIR /app\n",
        fix="Add `-l` (`--no-log-init`), or use a UID of five digits or fewer.",
    )


@rule("SP231", Severity.WARNING, "size", "useradd with a high UID without -l",
      hadolint=("DL3046",), doc=_sp231_doc)  # fmt: skip
def useradd_lastlog(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for run, cmd in run_commands(dockerfile):
        if cmd.name != "useradd" or has_flag(cmd, "l", "no-log-init"):
            continue
        uid = _uid(cmd)
        if uid is not None and uid.isdigit() and len(uid) > 5:
            yield meta.at_command(
                dockerfile,
                run,
                cmd,
                f"useradd -u {uid} without -l (--no-log-init) writes the user's entry into "
                "/var/log/lastlog and faillog at an offset of the UID: sparse files that "
                "layers store in full, gigabytes for a UID this high",
            )
