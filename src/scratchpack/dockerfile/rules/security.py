"""Rules on secrets, privileges and permissions (SP4xx)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from scratchpack.credentials import SECRET_NAME, SECRET_VALUES
from scratchpack.dockerfile.model import Dockerfile
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    RuleDoc,
    env_pairs,
    has_flag,
    rule,
    runs,
    shell_of,
    stage_env,
)
from scratchpack.dockerfile.rules.examples import CHECKUP, PINNED, SAFE_TAIL
from scratchpack.dockerfile.shell import ShellCommand
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity


def _sp400_doc() -> RuleDoc:
    return RuleDoc(
        why="ENV values are stored in the image config, and ARG values in its history: anyone who "
        "can pull the image can read them.",
        bad=f"FROM {PINNED}\nENV API_TOKEN=abc123\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nENV API_URL=https://api.example.com\n{SAFE_TAIL}",
        fix="Use `RUN --mount=type=secret,id=token ...` at build time, or inject at run time. "
        "An empty `ENV PASSWORD=` holds no secret and is not reported; a secret-like name "
        "without a value (`ARG TOKEN`, given its value by `--build-arg`) is SP430's finding "
        "(BuildKit's SecretsUsedInArgOrEnv; hadolint's DL3064 covers both rules).",
    )


@rule("SP400", Severity.ERROR, "security", "A secret in ENV or ARG", hadolint=("DL3064",),
      dockle="CIS-DI-0010", doc=_sp400_doc)  # fmt: skip
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


def _sp430_doc() -> RuleDoc:
    return RuleDoc(
        why="ARG values are recorded in the image history and ENV values in its config: a "
        "token passed with `--build-arg GITHUB_TOKEN=...` is readable by anyone who pulls the "
        "image. This is BuildKit's check by name (a word such as TOKEN, PASSWORD, SECRET, KEY, "
        "AUTH as the name or one of its `_` parts, not PUBLIC, FILE or VERSION; hadolint's "
        "DL3064 judges names the same way, from its own list, which has no bare KEY (`ENV "
        "GPG_KEY`) but has USERNAME, a name that is no secret). A secret value is SP400's "
        "finding, an error, not repeated here (both declare DL3064, so `# hadolint "
        "ignore=DL3064` silences either). Unlike DL3064, an ARG before the first FROM is not "
        "reported: only FROM lines see it and nothing records it, until a stage declares it "
        "again (which is then reported). A value under a name whose only secret word is KEY "
        "(`ENV LICENSE_KEY=...`) is this warning, not SP400's error: the KEY names of real "
        "Dockerfiles mostly hold public values (`ENV GPG_KEY` fingerprints in the official "
        "python and node images), so an error there would fail their builds' lint.",
        bad=f"FROM {PINNED}\nARG GITHUB_TOKEN\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nARG GITHUB_TOKEN_FILE=/run/secrets/token\n{SAFE_TAIL}",
        fix="Pass it as a build secret: `RUN --mount=type=secret,id=token ...` and "
        "`docker build --secret id=token,env=GITHUB_TOKEN`.",
    )


@rule("SP430", Severity.WARNING, "security", "An ARG or ENV named like a secret",
      hadolint=("DL3064",), buildkit="SecretsUsedInArgOrEnv", doc=_sp430_doc)  # fmt: skip
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


def _sp401_doc() -> RuleDoc:
    return RuleDoc(
        why="`curl ... | sh` runs whatever the server sends at build time, unverified, and hides "
        "download failures from `set -e`.",
        bad=f"FROM {PINNED}\nRUN curl -fsSL https://example.com/install.sh | sh\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN curl -fsSLo /tmp/i.sh https://example.com/install.sh && "
        f'echo "<sha256>  /tmp/i.sh" | sha256sum -c - && sh /tmp/i.sh\n{SAFE_TAIL}',
        fix="Download to a file, verify its checksum, then run it.",
    )


@rule("SP401", Severity.WARNING, "security", "A download piped into a shell", doc=_sp401_doc)
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


def _sp402_doc() -> RuleDoc:
    return RuleDoc(
        why="sudo in a build is unnecessary (RUN runs as the stage's USER) and its presence in an "
        "image is a privilege-escalation path.",
        bad=f"FROM {PINNED}\nRUN sudo touch /x\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN touch /x\n{SAFE_TAIL}",
        fix="Drop sudo; switch USER around the RUN that needs root.",
    )


@rule("SP402", Severity.WARNING, "security", "sudo in RUN", hadolint=("DL3004",),
      dockle="DKL-DI-0001", doc=_sp402_doc)  # fmt: skip
def sudo(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        found = next((cmd for cmd in shell_of(run) if cmd.name == "sudo"), None)
        if found is not None:
            yield meta.at_command(
                dockerfile, run, found, "sudo in a build: RUN already runs as the stage's USER"
            )


def _sp403_doc() -> RuleDoc:
    return RuleDoc(
        why="An SSH server in a container is a second way in that bypasses the orchestrator; use "
        "`docker exec` / `kubectl exec` for access.",
        bad=f"FROM {PINNED}\nEXPOSE 22\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nEXPOSE 8080\n{SAFE_TAIL}",
        fix="Remove the SSH server and EXPOSE 22.",
    )


@rule("SP403", Severity.WARNING, "security", "EXPOSE 22 (SSH)", doc=_sp403_doc)
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


def _sp404_doc() -> RuleDoc:
    return RuleDoc(
        why="World-writable files let any process in the container (any user) rewrite them: "
        "configuration, binaries, scripts.",
        bad=f"FROM {PINNED}\nRUN mkdir /data && chmod 777 /data\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN mkdir /data && chown 65532:65532 /data\n{SAFE_TAIL}",
        fix="Give ownership to the run user instead (`chown`, `COPY --chown`).",
    )


@rule("SP404", Severity.WARNING, "security", "World-writable permissions", doc=_sp404_doc)
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


def _sp405_doc() -> RuleDoc:
    return RuleDoc(
        why="ADD fetches the URL at build time and trusts whatever is served.",
        bad=f"FROM {PINNED}\nADD https://example.com/tool.tgz /tmp/\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nADD --checksum=sha256:{'c' * 64} https://example.com/tool.tgz "
        f"/tmp/\n{SAFE_TAIL}",
        fix="Add `--checksum=sha256:...` (BuildKit), or download and verify in RUN.",
    )


@rule("SP405", Severity.WARNING, "security", "ADD from a URL without --checksum", doc=_sp405_doc)
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


def _sp406_doc() -> RuleDoc:
    return RuleDoc(
        why="`RUN --security=insecure` is `docker run --privileged` for a build step; "
        "`--network=host` lets the step reach services on the build host's loopback; a "
        "read-write bind mount lets it change its inputs. A build should need none of them.",
        bad=f"FROM {PINNED}\nRUN --security=insecure mount -t tmpfs none /mnt\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN --mount=type=tmpfs,target=/mnt ls /mnt\n{SAFE_TAIL}",
        fix="Drop the option; use a tmpfs or cache mount, or a build secret, for what it "
        "was needed for.",
    )


@rule("SP406", Severity.WARNING, "security", "RUN with privileged-like options", doc=_sp406_doc)
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


def _sp407_doc() -> RuleDoc:
    return RuleDoc(
        why="Anything in ENV, ARG, LABEL or a RUN line is kept in the image config or history, "
        "readable by anyone who can pull the image, even after a later layer deletes it.",
        bad=f"FROM {PINNED}\nRUN git clone https://deploy:hunter2@git.example.com/app.git\n"
        f"{SAFE_TAIL}",
        good=f"FROM {PINNED}\nRUN --mount=type=secret,id=netrc,target=/root/.netrc "
        f"git clone https://git.example.com/app.git\n{SAFE_TAIL}",
        fix="Revoke the credential, and pass it with `RUN --mount=type=secret` instead.",
    )


@rule("SP407", Severity.ERROR, "security", "A value that looks like a credential",
      dockle="CIS-DI-0010", doc=_sp407_doc)  # fmt: skip
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


def _sp408_doc() -> RuleDoc:
    return RuleDoc(
        why="A runtime that must know the user is not root before it starts the container "
        "(Kubernetes `runAsNonRoot`) reads the image config's user; a name means nothing to "
        "it without the image's /etc/passwd, so it refuses to start the pod. A numeric UID "
        "also keeps the file ownership on volumes predictable.",
        bad=f"FROM {PINNED}\nRUN useradd -r app\nUSER app\nWORKDIR /app\n",
        good=f"FROM {PINNED}\nRUN useradd -r -u 10001 app\nUSER 10001:10001\nWORKDIR /app\n",
        fix="Use the numeric UID (and GID): `USER 10001:10001`. A `USER` with a variable is "
        "judged by the value the stage's ENV or ARG default gives it (`ENV APP_USER app` then "
        "`USER $APP_USER` names a user); one the file does not set is not judged: its value "
        "comes from the base image's ENV (`USER $APP_UID` in Microsoft's .NET images, where "
        "it is numeric), where hadolint's DL3066 reports it.",
    )


@rule("SP408", Severity.INFO, "security", "USER by name, not by numeric UID", hadolint=("DL3066",),
      doc=_sp408_doc)  # fmt: skip
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


def _sp409_doc() -> RuleDoc:
    return RuleDoc(
        why="A file fetched with curl or wget and then unpacked, run or installed in the same "
        "RUN, with no checksum or signature check in between, builds into the image whatever "
        "the server (or anyone between it and the builder: a mirror, a proxy, a hijacked "
        "release page) sends that day, and the next build may get something else. A download "
        "piped straight into tar or an interpreter (`wget -O- URL | tar x`) cannot be checked "
        "at all before it is used. A pipe into a shell is SP401's finding; `ADD URL` without "
        "`--checksum` is SP405's.",
        bad=f"FROM {PINNED}\nRUN curl -fsSLo /tmp/checkup.tgz {CHECKUP} \\\n"
        "    && tar -xzf /tmp/checkup.tgz -C /usr/local/bin\n" + SAFE_TAIL,
        good=f"FROM {PINNED}\nRUN curl -fsSLo /tmp/checkup.tgz {CHECKUP} \\\n"
        f'    && echo "{"b" * 64}  /tmp/checkup.tgz" | sha256sum -c - \\\n'
        "    && tar -xzf /tmp/checkup.tgz -C /usr/local/bin\n" + SAFE_TAIL,
        fix='Pin the digest next to the URL and check it before use: `echo "<sha256>  FILE" | '
        "sha256sum -c -` (or `sha512sum -c`, `gpg --verify SIG FILE`, `cosign verify-blob`); "
        "or use `ADD --checksum=sha256:... URL`.",
        limits="Any digest or signature command after the download (`sha256sum`, `sha512sum`, "
        "`shasum`, `b2sum`, `gpg --verify`, `gpgv`, `cosign verify`/`verify-blob`, `minisign -V`, "
        "`signify -V`, `openssl dgst`) counts as a check of it, whatever file it names, so a "
        "check of another file hides an unverified one (false negative). Only curl and wget are "
        "read, within one RUN: a file downloaded in one RUN and unpacked in a later one is not "
        "judged, nor are downloads by other tools (`git clone`, `pip download`, `go install`). "
        "A downloaded file is recognised by its path or its name alone; a use through a "
        "variable (`tar xf $FILE`) is not seen. A file that is only copied or read "
        "(`cat`, `cp`) is not a use.",
    )


@rule("SP409", Severity.WARNING, "security", "A download unpacked, run or installed unverified",
      doc=_sp409_doc)  # fmt: skip
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
