"""Rules on secrets, privileges and permissions (SP4xx)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from scratchpack.credentials import SECRET_NAME, SECRET_VALUES
from scratchpack.dockerfile.model import Dockerfile
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    env_pairs,
    has_flag,
    rule,
    runs,
    shell_of,
    stage_env,
)
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity


@rule("SP400", Severity.ERROR, "security", "A secret in ENV or ARG", hadolint=("DL3064",),
      dockle="CIS-DI-0010")  # fmt: skip
def secret_in_env(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.of("ENV", "ARG"):
            for key, value in env_pairs(instruction):
                if not SECRET_NAME.search(key):
                    continue
                # ENV PASSWORD= (empty) declares the name and holds no secret; a name alone
                # (an ARG given its value by --build-arg) is SP430's, BuildKit's and DL3064's
                if value:
                    where = "the image config" if instruction.cmd == "ENV" else "the build history"
                    yield meta.at_word(
                        dockerfile,
                        instruction,
                        key,
                        f"{instruction.cmd} {key} puts a secret into {where}: use a build "
                        "secret (RUN --mount=type=secret) or inject it at run time",
                    )


# BuildKit's reading of a secret's name: one of these words as the whole name or one of its
# underscore-separated parts (API_KEY, DATABASE_PASSWORD, GITHUB_TOKEN, AUTH), unless a part
# says it is not one (PUBLIC_KEY, SECRET_FILE, TOKEN_VERSION).
_SECRET_WORD = lazy(
    r"(?:_|^)(?:apikey|auth|credentials?|key|password|pword|passwd|secret|token)(?:_|$)", re.I
)
_NOT_SECRET_WORD = lazy(r"(?:_|^)(?:public|file|version)(?:_|$)", re.I)


@rule("SP430", Severity.WARNING, "security", "An ARG or ENV named like a secret",
      hadolint=("DL3064",), buildkit="SecretsUsedInArgOrEnv")  # fmt: skip
def secret_named_arg(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    """BuildKit's check: the name alone, whatever the value (``ARG GITHUB_TOKEN`` with no
    default gets its value from --build-arg, into the build history). A secret value in ENV or
    ARG is SP400's finding, which this one does not repeat."""
    for stage in dockerfile.stages:
        for instruction in stage.of("ENV", "ARG"):
            for key, value in env_pairs(instruction):
                if not _SECRET_WORD.search(key) or _NOT_SECRET_WORD.search(key):
                    continue
                if value and SECRET_NAME.search(key):
                    continue  # SP400 reports it, as an error
                yield meta.at_word(
                    dockerfile,
                    instruction,
                    key,
                    f"{instruction.cmd} {key}: ARG and ENV values stay in the image's history "
                    "or config; pass a secret with RUN --mount=type=secret instead",
                )


_SHELLS = ("sh", "bash", "zsh", "dash", "ash", "/bin/sh", "/bin/bash")


@rule("SP401", Severity.WARNING, "security", "A download piped into a shell")
def curl_pipe_shell(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        for cmd in shell_of(run):
            if cmd.name in ("curl", "wget") and cmd.pipe_to in _SHELLS:
                yield meta.at_command(
                    dockerfile,
                    run,
                    cmd,
                    f"{cmd.name} | {cmd.pipe_to} runs whatever the server sends today: download, "
                    "verify a checksum, then run",
                )


@rule("SP402", Severity.WARNING, "security", "sudo in RUN", hadolint=("DL3004",),
      dockle="DKL-DI-0001")  # fmt: skip
def sudo(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        found = next((cmd for cmd in shell_of(run) if cmd.name == "sudo"), None)
        if found is not None:
            yield meta.at_command(
                dockerfile, run, found, "sudo in a build: RUN already runs as the stage's USER"
            )


@rule("SP403", Severity.WARNING, "security", "EXPOSE 22 (SSH)")
def expose_ssh(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for expose in stage.of("EXPOSE"):
            ssh = next((port for port in expose.args if port.split("/")[0] == "22"), None)
            if ssh is not None:
                message = "EXPOSE 22: containers should not run an SSH server"
                yield meta.at_word(dockerfile, expose, ssh, message)


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
                yield meta.at_command(
                    dockerfile, run, cmd, f"chmod {modes[0]} makes files world-writable"
                )
    for stage in dockerfile.stages:
        for copy in stage.of("COPY", "ADD"):
            mode = copy.flag("chmod") or ""
            if mode and _world_writable(mode):
                yield meta.at_word(dockerfile, copy, f"--chmod={mode}",
                                   f"{copy.cmd} --chmod={mode} makes files world-writable",
                                   skip=len("--chmod="))  # fmt: skip


@rule("SP405", Severity.WARNING, "security", "ADD from a URL without --checksum")
def add_url(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for add in stage.of("ADD"):
            urls = [a for a in add.args[:-1] if a.startswith(("http://", "https://"))]
            if urls and not add.flag("checksum"):
                yield meta.at_word(
                    dockerfile,
                    add,
                    urls[0],
                    f"ADD {urls[0]} without --checksum=sha256:... trusts whatever is served",
                )


@rule("SP406", Severity.WARNING, "security", "RUN with privileged-like options")
def insecure_run(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        if run.flag("security") == "insecure":
            yield meta.at_word(
                dockerfile,
                run,
                "--security=insecure",
                "RUN --security=insecure runs the step with all capabilities and no "
                "seccomp/AppArmor, like docker run --privileged: the build can change the host",
            )
        if run.flag("network") == "host":
            yield meta.at_word(
                dockerfile,
                run,
                "--network=host",
                "RUN --network=host gives the step the host's network namespace (its loopback "
                "services included): use the default network",
            )
        for mount in [v for k, v in run.flags if k == "mount"]:
            options = dict(o.partition("=")[::2] for o in mount.split(","))
            if options.get("type") == "bind" and ("rw" in options or options.get("readwrite")):
                source = options.get("source") or options.get("src") or "the context"
                yield meta.at_word(
                    dockerfile,
                    run,
                    f"--mount={mount}",
                    f"RUN --mount=type=bind,rw on {source}: a build step that writes into what it "
                    "mounts; bind the context read-only",
                )


@rule("SP407", Severity.ERROR, "security", "A value that looks like a credential",
      dockle="CIS-DI-0010")  # fmt: skip
def secret_value(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.cmd not in ("ENV", "ARG", "RUN", "LABEL"):
                continue
            text = instruction.original + "".join(h.content for h in instruction.heredocs)
            for what, pattern in SECRET_VALUES:
                if pattern.search(text):
                    yield meta.at_match(
                        dockerfile,
                        instruction,
                        pattern,
                        f"{instruction.cmd} holds what looks like {what}: it stays in the image "
                        "history for anyone who pulls it; revoke it, and pass secrets with "
                        "RUN --mount=type=secret",
                    )
                    break


_VARIABLE = lazy(r"\$\{(\w+)\}|\$(\w+)")


def _substitute(text: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced by the values ``env`` knows; the others kept."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), text)


@rule("SP408", Severity.INFO, "security", "USER by name, not by numeric UID", hadolint=("DL3066",))
def user_by_name(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        env: dict[str, str] | None = None
        for user in stage.of("USER"):
            spec = user.text.strip()
            if "$" in spec:  # USER $APP_USER: the stage's ENV or ARG default, when it has one
                env = stage_env(dockerfile, stage) if env is None else env
                spec = _substitute(spec, env)
            name = spec.split(":", 1)[0]
            if not spec or "$" in spec or all(p.isdigit() for p in spec.split(":") if p):
                continue
            yield meta.at_word(
                dockerfile,
                user,
                user.args[0],
                f"USER {spec} names a user: a runtime that must check the user is not root "
                "before starting (Kubernetes runAsNonRoot) cannot resolve a name and refuses to "
                f"start; use the numeric UID (and GID) of {name}",
            )


# -- SP409: a download used with no checksum check ----------------------------------------------

# What reads a downloaded file's contents as code or as an archive to unpack: the moment an
# unverified download can do harm.
_UNPACKERS = frozenset({"tar", "bsdtar", "unzip", "gunzip", "gzip", "xz", "unxz", "bunzip2",
                        "bzip2", "zstd", "unzstd", "7z", "7za", "cpio", "zcat"})  # fmt: skip
_INTERPRETERS = frozenset({"sh", "bash", "dash", "ash", "zsh", "python", "python3", "perl",
                           "ruby", "node", "php", "java"})  # fmt: skip
# ... or installs it (coreutils' install, a package manager); chmod +x is judged apart
_INSTALLERS = frozenset({"dpkg", "rpm", "apt-get", "apt", "yum", "dnf", "zypper", "apk",
                         "pip", "pip3", "npm", "gem", "install"})  # fmt: skip
# What verifies a file: a digest compared (sha256sum -c, or its output compared with a known
# value), a signature checked. Any of them after the download counts as a check of it: the
# rule would rather miss an unverified file than report a verified one.
_DIGESTS = lazy(r"(sha(224|256|384|512)|b2|b3)sum|shasum")
# signature checkers, with the word that makes them check (none: any use of the program)
_VERIFIERS = {"gpg": ("--verify",), "gpgv": (), "cosign": ("verify", "verify-blob"),
              "minisign": ("-V",), "signify": ("-V",), "openssl": ("dgst",)}  # fmt: skip
_URL = lazy(r"^(https?|ftp)://", re.I)


def _download(cmd: ShellCommand) -> tuple[str, str] | None:
    """What a curl or wget command downloads: (URL, where it goes: a path, or ``-`` for
    standard output); None when it is not a download of a URL."""
    if cmd.name not in ("curl", "wget"):
        return None
    args = list(cmd.args)
    urls = [a for a in args if _URL.match(a)]
    if not urls:
        return None
    url = urls[-1]
    remote = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "index.html"
    short, long_ = ("o", "--output") if cmd.name == "curl" else ("O", "--output-document")
    for n, arg in enumerate(args):
        value: str | None = None
        if arg.startswith(long_ + "="):
            value = arg.partition("=")[2]
        elif arg == long_ and n + 1 < len(args):
            value = args[n + 1]
        elif arg.startswith("-") and not arg.startswith("--") and short in arg[1:]:
            rest = arg[arg.index(short, 1) + 1 :]
            value = rest or (args[n + 1] if n + 1 < len(args) else None)
        if value is not None:
            return url, value
    if cmd.name == "curl":
        remote_name = has_flag(cmd, "O", "remote-name", "remote-name-all")
        return url, remote if remote_name else "-"
    return url, remote  # wget saves under the URL's name by default


def _names(path: str) -> set[str]:
    """The ways a later command may name a downloaded file: as written, and by its name alone
    (``curl -o /tmp/x.tgz`` then ``cd /tmp && tar xf x.tgz``)."""
    return {path, path.rsplit("/", 1)[-1]} - {"", "-"}


def _uses(cmd: ShellCommand, names: set[str]) -> str | None:
    """How ``cmd`` uses the file: unpacks it, runs it or installs it (None: it does not)."""
    mentions = any(a in names or a.rsplit("/", 1)[-1] in names for a in cmd.args)
    if cmd.name in names or cmd.name.rsplit("/", 1)[-1] in names:
        return "runs it"
    if not mentions:
        return None
    if cmd.name in _UNPACKERS:
        return "unpacks it"
    if cmd.name in _INTERPRETERS:
        return "runs it"
    if cmd.name == "chmod":
        return "makes it executable" if any("x" in a for a in cmd.args) else None
    return "installs it" if cmd.name in _INSTALLERS else None


def _verifies(cmd: ShellCommand) -> bool:
    """Whether the command checks a digest or a signature (of whatever file: see _VERIFIERS)."""
    if _DIGESTS.fullmatch(cmd.name):
        return True
    if cmd.pipe_to is not None and _DIGESTS.fullmatch(cmd.pipe_to):
        return True
    needs = _VERIFIERS.get(cmd.name)
    return needs is not None and (not needs or any(a in needs for a in cmd.args))


@rule("SP409", Severity.WARNING, "security", "A download unpacked, run or installed unverified")
def unverified_download(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    """A file fetched with curl or wget and then unpacked, run or installed in the same RUN with
    no checksum or signature check between: whatever the server (or anyone on the way) sends
    today is built into the image. A pipe into a shell is SP401's."""
    for _, run in runs(dockerfile):
        cmds = shell_of(run)
        for n, cmd in enumerate(cmds):
            fetched = _download(cmd)
            if fetched is None:
                continue
            url, target = fetched
            if target == "-":
                piped = cmd.pipe_to
                if piped in _UNPACKERS or (piped in _INTERPRETERS and piped not in _SHELLS):
                    verb = "unpacks" if piped in _UNPACKERS else "runs"
                    yield meta.at_command(
                        dockerfile, run, cmd,
                        f"{cmd.name} {url} | {piped}: {piped} {verb} the download as it arrives, "
                        "before anything can check it: save it, verify its sha256 "
                        "(sha256sum -c), then use it",
                    )  # fmt: skip
                continue
            names = _names(target)
            for later in cmds[n + 1 :]:
                if _verifies(later):
                    break
                use = _uses(later, names)
                if use is not None:
                    yield meta.at_command(
                        dockerfile, run, cmd,
                        f"{cmd.name} downloads {target} and {later.name} {use} with no "
                        f'checksum check: add echo "<sha256>  {target}" | sha256sum -c - '
                        "(or gpg --verify, cosign verify-blob) before",
                    )  # fmt: skip
                    break
                again = _download(later)
                if again is not None and target in _names(again[1]):
                    break  # downloaded again: that download is the one judged
