"""Why each rule matters, with a Dockerfile that breaks it and one that does not.

One source for three uses: ``docs/rules/SPxxx.md`` is generated from it
(``scripts/gen-rule-docs``), the tests check every bad example fires its rule and every good
one does not, and ``scratchpack lint --explain CODE`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class RuleDoc:
    why: str
    bad: str
    good: str
    fix: str
    # files beside the Dockerfile (the build context) for rules that look at it
    bad_context: tuple[tuple[str, str], ...] = ()
    good_context: tuple[tuple[str, str], ...] = ()
    # the .scratchpack.toml both examples are linted with (rules that read the configuration)
    config: str = ""
    # what the rule cannot tell from a Dockerfile: its false positives and negatives
    limits: str = ""


_SAFE_TAIL = "USER 65532:65532\nWORKDIR /app\n"
_SCRATCH_TAIL = (
    "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n"
    "COPY --from=build --chmod=1777 /tmp /tmp\n" + _SAFE_TAIL
)
_GO = "golang:1.23@sha256:" + "d" * 64
_RUST = "rust:1.83@sha256:" + "e" * 64
_GCC = "gcc:14@sha256:" + "f" * 64
_PINNED = "debian:12-slim@sha256:" + "a" * 64
# the download of the checkup example (a release tarball of a health-check tool)
_CHECKUP = "https://github.com/sourcegraph/checkup/releases/download/v1.0.0/checkup_linux_amd64.tgz"
_NODE = "node:22-slim@sha256:" + "9" * 64
_ALPINE = "alpine:3.21@sha256:" + "8" * 64
_PYTHON = "python:3.13-slim@sha256:" + "7" * 64
_RUBY = "ruby:3.3-slim@sha256:" + "6" * 64
_ROCKY = "rockylinux:9@sha256:" + "5" * 64
_SUSE = "opensuse/leap:15.6@sha256:" + "4" * 64

DOCS: dict[str, RuleDoc] = {
    "SP100": RuleDoc(
        why="A process running as root inside the container is root on the container's file "
        "system and one kernel bug away from root on the host. Images without USER run as root.\n\n"
        "Deliberate differences with hadolint's DL3002, which flags any stage whose last USER "
        "is root and stays silent when there is no USER: only the final stage is judged (a "
        "build stage that runs as root ships nothing but the files copied out of it), and a "
        "final stage with no USER is reported, since it runs as root as surely as `USER "
        "root` (unless it is FROM an earlier stage, which decides, or a `nonroot` image).",
        bad=f'FROM {_PINNED}\nWORKDIR /app\nCMD ["/app/run"]\n',
        good=f'FROM {_PINNED}\nUSER 65532:65532\nWORKDIR /app\nCMD ["/app/run"]\n',
        fix="Add `USER 65532:65532` (or a named user that exists in the image) to the final stage.",
    ),
    "SP101": RuleDoc(
        why="A tag is a moving pointer: the same Dockerfile builds different images on different "
        "days, and a compromised registry can serve anything under it. A digest names exactly "
        "one image.",
        bad=f"FROM debian:12-slim\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Pin with `image:tag@sha256:...`; `scratchpack digest docker://IMAGE:TAG` prints it.",
    ),
    "SP102": RuleDoc(
        why="`latest` (or no tag) changes whenever upstream publishes, so builds are not "
        "repeatable and upgrades arrive unannounced. `FROM $BASE` is judged by the default of "
        "its ARG, which BuildKit substitutes (hadolint's DL3006 does not read the variable); "
        "with no default it is not judged.",
        bad=f"FROM debian\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Name a version tag, and pin it by digest.",
    ),
    "SP103": RuleDoc(
        why="Without WORKDIR the process starts in `/`, and relative paths in the app or in later "
        "instructions land in the root directory.",
        bad=f"FROM {_PINNED}\nUSER 65532:65532\n",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Set `WORKDIR /app` (or the app's home) in the final stage.",
    ),
    "SP200": RuleDoc(
        why="apt installs Recommends by default: often tens of megabytes of packages the app "
        "never uses, each one more thing to patch. `apt install` does the same and is judged "
        "too (hadolint's DL3015 reads `apt-get` only).",
        bad=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y curl && "
        f"rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        fix="Add `--no-install-recommends`.",
    ),
    "SP201": RuleDoc(
        why="`apt-get update` downloads package lists (tens of MB) into /var/lib/apt/lists; "
        "removing them in a later RUN does not shrink the earlier layer. Only the stages that "
        "ship are judged, as in hadolint: the final stage and those it is built FROM (not a "
        "build stage the final one copies files out of; hadolint also judges a stage that only "
        "such a build stage is built FROM).\n\n"
        "A deliberate difference with hadolint's DL3009: a cache (or tmpfs) mount over "
        "/var/lib/apt keeps the lists out of the layer, and is accepted; hadolint also asks "
        "for a mount of /var/cache/apt, which is about the downloaded packages, not the lists.",
        bad=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        fix="End the same RUN with `rm -rf /var/lib/apt/lists/*`, or use a cache mount.",
    ),
    "SP202": RuleDoc(
        why="Docker caches each RUN: an `apt-get update` alone stays cached while a later "
        "`apt-get install` line changes, so installs use stale lists and fail or get old "
        "versions.",
        bad=f"FROM {_PINNED}\nRUN apt-get update\nRUN apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        fix="Run `apt-get update && apt-get install ...` in one RUN.",
    ),
    "SP203": RuleDoc(
        why="An upgrade inside the build makes the image depend on the day it was built and "
        "hides what the base image really ships; `zypper dist-upgrade` (`dup`) may even move "
        "the image to another release. hadolint dropped its rules on `apt-get upgrade` and "
        "`apk upgrade` (see the index of hadolint's codes); it keeps DL3035 for `zypper "
        "dist-upgrade`, which this rule covers. scratchpack still reports apt's `upgrade`, "
        "`dist-upgrade` and `full-upgrade`, for the reason above.",
        bad=f"FROM {_PINNED}\nRUN apt-get update && apt-get upgrade -y && "
        f"rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Use a newer base image (pinned by digest) instead of upgrading in place.",
    ),
    "SP204": RuleDoc(
        why="`apk add` keeps the package index in /var/cache/apk unless told not to.",
        bad="FROM alpine:3.21@sha256:" + "b" * 64 + f"\nRUN apk add curl\n{_SAFE_TAIL}",
        good="FROM alpine:3.21@sha256:" + "b" * 64 + f"\nRUN apk add --no-cache curl\n{_SAFE_TAIL}",
        fix="Use `apk add --no-cache`.",
    ),
    "SP205": RuleDoc(
        why="pip keeps every downloaded wheel in ~/.cache/pip: often as large as what it "
        "installed, and useless at run time.",
        bad=f"FROM {_PINNED}\nRUN pip install flask\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN pip install --no-cache-dir flask\n{_SAFE_TAIL}",
        fix="Add `--no-cache-dir`, set `PIP_NO_CACHE_DIR=1`, or use a cache mount.",
    ),
    "SP206": RuleDoc(
        why="Every RUN is a layer: files written in one and deleted in the next still ship, and "
        "many small layers slow pulls. As in hadolint, only two RUNs of one command each, with "
        "the same flags, are reported: a RUN that chains commands (`&&`, `;`) was kept apart "
        "on purpose, and RUNs with different `--mount` or `--network` flags cannot be joined.",
        bad=f"FROM {_PINNED}\nRUN mkdir /data\nRUN touch /data/x\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN mkdir /data && touch /data/x\n{_SAFE_TAIL}",
        fix="Join RUNs that belong together with `&&` (or a heredoc).",
    ),
    "SP300": RuleDoc(
        why="`COPY --from` must name a stage defined earlier (or an image). A typo or a later "
        "stage makes Docker try to pull an image of that name.",
        bad=f"FROM {_PINNED} AS build\nRUN touch /out\nFROM scratch\nCOPY --from=biuld /out /out\n"
        f"{_SAFE_TAIL}",
        good=f"FROM {_PINNED} AS build\nRUN touch /out\nFROM scratch\nCOPY --from=build /out /out\n"
        f"{_SAFE_TAIL}",
        fix="Name an earlier stage (by its AS name or index).",
    ),
    "SP301": RuleDoc(
        why="A relative WORKDIR is resolved against whatever the previous WORKDIR was, often set "
        "by the base image, so the path changes when the base does. As BuildKit judges it, only a "
        "relative WORKDIR before any WORKDIR of the build counts (in its stage, or a stage it is "
        "FROM): after an absolute one it is as fixed as that one. hadolint flags every relative "
        "WORKDIR.",
        bad=f"FROM {_PINNED}\nUSER 65532:65532\nWORKDIR app\n",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Use an absolute path.",
    ),
    "SP302": RuleDoc(
        why="`cd` in RUN lasts for that RUN only; later instructions silently run elsewhere.",
        bad=f"FROM {_PINNED}\nRUN cd /tmp && touch x\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nWORKDIR /tmp\nRUN touch x\n{_SAFE_TAIL}",
        fix="Use WORKDIR.",
    ),
    "SP303": RuleDoc(
        why="Shell form runs the command under `/bin/sh -c`: the app is not PID 1, SIGTERM never "
        "reaches it (containers take 10 s to stop, then are killed), and a scratch or distroless "
        "image has no /bin/sh at all. Only the final stage is judged (it is the one that runs), "
        "and, as BuildKit does, not one with a SHELL instruction (in it or a stage it is FROM): "
        "that says the shell form is meant. `HEALTHCHECK CMD` in shell form is reported too "
        "(as hadolint's DL3025 does): it runs under the same shell, so on an image without one "
        "the check never passes and the container is marked unhealthy.",
        bad=f"FROM scratch\n{_SAFE_TAIL}ENTRYPOINT /app/server --port 8080\n",
        good=f'FROM scratch\n{_SAFE_TAIL}ENTRYPOINT ["/app/server", "--port", "8080"]\n',
        fix='Use the exec (JSON) form: `ENTRYPOINT ["/app/server", "--port", "8080"]`.',
    ),
    "SP304": RuleDoc(
        why="Two stages with one name make `COPY --from` and `--target` ambiguous.",
        bad=f"FROM {_PINNED} AS build\nFROM {_PINNED} AS build\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED} AS deps\nFROM {_PINNED} AS build\n{_SAFE_TAIL}",
        fix="Give every stage its own name.",
    ),
    "SP305": RuleDoc(
        why="Only the last CMD, ENTRYPOINT or HEALTHCHECK of a stage counts; earlier ones are "
        "dead code that misleads readers. scratchpack points at the later one, as hadolint does "
        "(BuildKit points at the earlier, ignored one); the message names both lines.",
        bad=f'FROM scratch\n{_SAFE_TAIL}CMD ["a"]\nCMD ["b"]\n',
        good=f'FROM scratch\n{_SAFE_TAIL}CMD ["b"]\n',
        fix="Keep one.",
    ),
    "SP400": RuleDoc(
        why="ENV values are stored in the image config, and ARG values in its history: anyone who "
        "can pull the image can read them.",
        bad=f"FROM {_PINNED}\nENV API_TOKEN=abc123\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nENV API_URL=https://api.example.com\n{_SAFE_TAIL}",
        fix="Use `RUN --mount=type=secret,id=token ...` at build time, or inject at run time. "
        "An empty `ENV PASSWORD=` holds no secret and is not reported; a secret-like name "
        "without a value (`ARG TOKEN`, given its value by `--build-arg`) is SP430's finding "
        "(BuildKit's SecretsUsedInArgOrEnv; hadolint's DL3064 covers both rules).",
    ),
    "SP401": RuleDoc(
        why="`curl ... | sh` runs whatever the server sends at build time, unverified, and hides "
        "download failures from `set -e`.",
        bad=f"FROM {_PINNED}\nRUN curl -fsSL https://example.com/install.sh | sh\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN curl -fsSLo /tmp/i.sh https://example.com/install.sh && "
        f'echo "<sha256>  /tmp/i.sh" | sha256sum -c - && sh /tmp/i.sh\n{_SAFE_TAIL}',
        fix="Download to a file, verify its checksum, then run it.",
    ),
    "SP402": RuleDoc(
        why="sudo in a build is unnecessary (RUN runs as the stage's USER) and its presence in an "
        "image is a privilege-escalation path.",
        bad=f"FROM {_PINNED}\nRUN sudo touch /x\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN touch /x\n{_SAFE_TAIL}",
        fix="Drop sudo; switch USER around the RUN that needs root.",
    ),
    "SP403": RuleDoc(
        why="An SSH server in a container is a second way in that bypasses the orchestrator; use "
        "`docker exec` / `kubectl exec` for access.",
        bad=f"FROM {_PINNED}\nEXPOSE 22\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nEXPOSE 8080\n{_SAFE_TAIL}",
        fix="Remove the SSH server and EXPOSE 22.",
    ),
    "SP404": RuleDoc(
        why="World-writable files let any process in the container (any user) rewrite them: "
        "configuration, binaries, scripts.",
        bad=f"FROM {_PINNED}\nRUN mkdir /data && chmod 777 /data\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN mkdir /data && chown 65532:65532 /data\n{_SAFE_TAIL}",
        fix="Give ownership to the run user instead (`chown`, `COPY --chown`).",
    ),
    "SP405": RuleDoc(
        why="ADD fetches the URL at build time and trusts whatever is served.",
        bad=f"FROM {_PINNED}\nADD https://example.com/tool.tgz /tmp/\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nADD --checksum=sha256:{'c' * 64} https://example.com/tool.tgz "
        f"/tmp/\n{_SAFE_TAIL}",
        fix="Add `--checksum=sha256:...` (BuildKit), or download and verify in RUN.",
    ),
    "SP409": RuleDoc(
        why="A file fetched with curl or wget and then unpacked, run or installed in the same "
        "RUN, with no checksum or signature check in between, builds into the image whatever "
        "the server (or anyone between it and the builder: a mirror, a proxy, a hijacked "
        "release page) sends that day, and the next build may get something else. A download "
        "piped straight into tar or an interpreter (`wget -O- URL | tar x`) cannot be checked "
        "at all before it is used. A pipe into a shell is SP401's finding; `ADD URL` without "
        "`--checksum` is SP405's.",
        bad=f"FROM {_PINNED}\nRUN curl -fsSLo /tmp/checkup.tgz {_CHECKUP} \\\n"
        "    && tar -xzf /tmp/checkup.tgz -C /usr/local/bin\n" + _SAFE_TAIL,
        good=f"FROM {_PINNED}\nRUN curl -fsSLo /tmp/checkup.tgz {_CHECKUP} \\\n"
        f'    && echo "{"b" * 64}  /tmp/checkup.tgz" | sha256sum -c - \\\n'
        "    && tar -xzf /tmp/checkup.tgz -C /usr/local/bin\n" + _SAFE_TAIL,
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
    ),
    "SP504": RuleDoc(
        why="A program linked dynamically needs its loader (`/lib64/ld-linux-x86-64.so.2`) and "
        "shared libraries at start; scratch has neither, so the container fails with the "
        "misleading `exec /curl: no such file or directory`. The rule reports it where the "
        "Dockerfile itself says so: the copied file is a program of a glibc image's packages "
        "(`/usr/bin/curl` of a stage FROM debian, or `COPY --from=debian:12 /bin/ls`), or a "
        "C build system (make, cmake, ninja, meson, configure) built it in a glibc stage with no "
        "sign of static linking. Builds with go, cargo, gcc or clang are SP500-SP502's.",
        bad=f"FROM {_PINNED} AS build\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nFROM scratch\n"
        f'COPY --from=build /usr/bin/curl /curl\n{_SCRATCH_TAIL}ENTRYPOINT ["/curl"]\n',
        good=f"FROM {_PINNED} AS build\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends busybox-static && rm -rf /var/lib/apt/lists/*\nFROM scratch\n"
        f'COPY --from=build /bin/busybox /busybox\n{_SCRATCH_TAIL}ENTRYPOINT ["/busybox"]\n',
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
    ),
    "SP104": RuleDoc(
        why="Toolchain images (golang, rust, node, gcc, maven, JDKs) are hundreds of megabytes of "
        "compilers, headers and package managers: attack surface and pull time the running app "
        "never uses.",
        bad=f"FROM {_GO}\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'USER 65532:65532\nENTRYPOINT ["/app"]\n',
        good=f"FROM {_GO} AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Build in a named stage and copy only the binary into `scratch` or distroless.",
    ),
    "SP105": RuleDoc(
        why="A final stage that only copies a built binary does not need a shell, a package "
        "manager or a libc it does not link: each is attack surface and size.",
        bad=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM {_PINNED}\nCOPY --from=build /app /app\n{_SAFE_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Use `scratch` for a static binary (or `scratchpack pack`), distroless for a dynamic "
        "one.",
    ),
    "SP106": RuleDoc(
        why="scratch is empty: no CA bundle, so HTTPS clients fail with 'certificate signed by "
        "unknown authority'. Only info, because an app that makes no TLS connections is fine.",
        bad=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{_SAFE_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="`COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/`.",
    ),
    "SP107": RuleDoc(
        why="scratch has no /tmp; libraries that create temporary files (uploads, caches, "
        "os.TempDir) fail at run time.",
        bad=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\nFROM scratch\n"
        "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n"
        f'COPY --from=build /app /app\n{_SAFE_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Copy an empty directory with mode 1777 to /tmp, or mount a tmpfs at run time.",
    ),
    "SP207": RuleDoc(
        why="Docker reuses a layer only while everything before it is unchanged. Copying the "
        "whole context before installing dependencies makes every source edit reinstall them.",
        bad="FROM node:22@sha256:" + "9" * 64 + f"\nWORKDIR /app\nCOPY . .\nRUN npm ci\n"
        f"{_SAFE_TAIL}",
        good="FROM node:22@sha256:" + "9" * 64 + "\nWORKDIR /app\nCOPY package.json "
        f"package-lock.json ./\nRUN npm ci\nCOPY . .\n{_SAFE_TAIL}",
        fix="Copy the dependency manifests first, install, then copy the sources.",
    ),
    "SP208": RuleDoc(
        why="Without a .dockerignore the whole directory is sent to the builder: .git (with its "
        "history and maybe secrets), build output, local .env files. `COPY . .` then puts them "
        "in the image.",
        bad=f"FROM {_PINNED}\nCOPY . /app\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nCOPY . /app\n{_SAFE_TAIL}",
        fix="Add a .dockerignore that excludes at least `.git` and the language's build output "
        "(`target/`, `node_modules/`, `__pycache__`, `.venv`).",
        bad_context=(("package.json", "{}\n"),),
        good_context=(("package.json", "{}\n"), (".dockerignore", ".git\nnode_modules\n")),
    ),
    "SP500": RuleDoc(
        why="With cgo on (the default when a C compiler is present), Go links libc dynamically "
        "for net and os/user; the binary then fails in scratch with 'no such file or "
        "directory', the missing dynamic loader.",
        bad=f"FROM {_GO} AS build\nRUN go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="`CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'` (or `ENV CGO_ENABLED=0`).",
    ),
    "SP501": RuleDoc(
        why="cargo's default gnu target links glibc dynamically: the binary needs "
        "/lib64/ld-linux-x86-64.so.2 and libc.so.6, which scratch lacks.",
        bad=f"FROM {_RUST} AS build\nRUN cargo build --release\nFROM scratch\n"
        f'COPY --from=build /target/release/app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {_RUST} AS build\n"
        "RUN cargo build --release --target x86_64-unknown-linux-musl\nFROM scratch\n"
        "COPY --from=build /target/x86_64-unknown-linux-musl/release/app /app\n"
        f'{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Build for `x86_64-unknown-linux-musl`, or with "
        "`RUSTFLAGS='-C target-feature=+crt-static' --target x86_64-unknown-linux-gnu`."
        " A stage that ships its ELF closure (a RUN listing the binary's libraries with the "
        "loader's `--list`, as `scratchpack init --dynamic` writes) is left alone.",
    ),
    "SP502": RuleDoc(
        why="A C or C++ program linked dynamically needs the loader and shared libraries, which "
        "scratch does not have.",
        bad=f"FROM {_GCC} AS build\nRUN gcc -O2 -o /app main.c\nFROM scratch\n"
        f'COPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {_GCC} AS build\nRUN gcc -O2 -static -o /app main.c\nFROM scratch\n"
        f'COPY --from=build /app /app\n{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Link with `-static` (musl-gcc gives the smallest binaries), or ship the loader "
        "and libraries: a stage that lists the binary's libraries with the loader's `--list` "
        "(as `scratchpack init --dynamic` writes) is left alone.",
    ),
    "SP108": RuleDoc(
        why="Images are pulled by name: a one-letter typo (`debain`, `pyhton`) can fetch a "
        "squatter's image, and an unvetted registry is code you run without review.",
        bad=f"FROM debain:12@sha256:{'a' * 64}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Fix the name; list the registries you trust in `.scratchpack.toml` "
        '(`trusted-registries = ["docker.io", "ghcr.io", "*.example.com"]`: `*.` a registry\'s '
        "subdomains, `*` any registry; hadolint's `trustedRegistries` is read too). With a "
        "list, the images pulled by `COPY --from=IMAGE` and `RUN --mount=from=IMAGE` are "
        "judged as well, as hadolint's DL3026 does.",
    ),
    "SP209": RuleDoc(
        why="`npm install` resolves package.json again and may rewrite the lock file, so the "
        "image gets whatever versions are newest that day. `npm ci` installs exactly what "
        "package-lock.json pins and fails when the two disagree.",
        bad=f"FROM {_NODE} AS build\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm install --omit=dev\nCOPY . .\n{_SAFE_TAIL}",
        good=f"FROM {_NODE} AS build\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm ci --omit=dev\nCOPY . .\n{_SAFE_TAIL}",
        fix="Use `npm ci` (with `--omit=dev` in the image that ships).",
    ),
    "SP210": RuleDoc(
        why="Test runners, linters, bundlers and type checkers are often most of "
        "node_modules or site-packages; in the shipped image they are dead weight and more "
        "code to patch.",
        bad=f"FROM {_NODE}\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm ci\nCOPY . .\n{_SAFE_TAIL}",
        good=f"FROM {_NODE}\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        f"RUN npm ci --omit=dev\nCOPY . .\n{_SAFE_TAIL}",
        fix="Install production dependencies only in the final stage (`npm ci --omit=dev`, "
        "`poetry install --only main`, `composer install --no-dev`, `pip install -r "
        "requirements.txt`), or build in an earlier stage and copy the result.",
    ),
    "SP211": RuleDoc(
        why="Layers only add: a file deleted by a later layer is hidden by a whiteout but its "
        "bytes are still in the earlier layer, pulled and stored by everyone.",
        bad=f"FROM {_PINNED}\nCOPY app.tar.gz /tmp/app.tar.gz\n"
        f"RUN tar -xzf /tmp/app.tar.gz -C /opt && rm /tmp/app.tar.gz\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED} AS unpack\nCOPY app.tar.gz /tmp/app.tar.gz\n"
        f"RUN mkdir /opt/app && tar -xzf /tmp/app.tar.gz -C /opt/app\n"
        f"FROM {_PINNED}\nCOPY --from=unpack /opt/app /opt/app\n{_SAFE_TAIL}",
        fix="Download, use and delete in one RUN, or do the work in an earlier stage and copy "
        "only the result.",
    ),
    "SP212": RuleDoc(
        why="ADD also downloads URLs and unpacks local tar archives; for a plain file it does "
        "what COPY does, but a reader cannot tell which behaviour was meant, and an archive "
        "added to a file-like destination silently becomes a directory. A compressed file "
        "(`.gz`, `.bz2`, `.xz`, `.zst`, `.Z`, ...) is not judged a plain file: ADD unpacks it "
        "when what it holds is a tar, whatever its name, so the ADD may be meant (hadolint's "
        "DL3020 accepts the same endings).",
        bad=f"FROM {_PINNED}\nADD config.yaml /etc/app/config.yaml\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nCOPY config.yaml /etc/app/config.yaml\n{_SAFE_TAIL}",
        fix="Use COPY for files and directories; keep ADD for local tar archives you mean to "
        "unpack (into a directory: `ADD app.tar.gz /opt/app/`), the case where SP312 asks for "
        "ADD instead of COPY and tar.",
    ),
    "SP406": RuleDoc(
        why="`RUN --security=insecure` is `docker run --privileged` for a build step; "
        "`--network=host` lets the step reach services on the build host's loopback; a "
        "read-write bind mount lets it change its inputs. A build should need none of them.",
        bad=f"FROM {_PINNED}\nRUN --security=insecure mount -t tmpfs none /mnt\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN --mount=type=tmpfs,target=/mnt ls /mnt\n{_SAFE_TAIL}",
        fix="Drop the option; use a tmpfs or cache mount, or a build secret, for what it "
        "was needed for.",
    ),
    "SP407": RuleDoc(
        why="Anything in ENV, ARG, LABEL or a RUN line is kept in the image config or history, "
        "readable by anyone who can pull the image, even after a later layer deletes it.",
        bad=f"FROM {_PINNED}\nRUN git clone https://deploy:hunter2@git.example.com/app.git\n"
        f"{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN --mount=type=secret,id=netrc,target=/root/.netrc "
        f"git clone https://git.example.com/app.git\n{_SAFE_TAIL}",
        fix="Revoke the credential, and pass it with `RUN --mount=type=secret` instead.",
    ),
    "SP503": RuleDoc(
        why="Cargo's default release profile optimises for speed with 16 codegen units, no "
        "link-time optimisation and symbols kept: `lto = true`, `codegen-units = 1` and "
        "`strip = true` commonly halve the binary that scratch ships.",
        bad=f"FROM {_RUST} AS build\n"
        "RUN cargo build --release --target x86_64-unknown-linux-musl\nFROM scratch\n"
        "COPY --from=build /target/x86_64-unknown-linux-musl/release/app /app\n"
        f'{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {_RUST} AS build\n"
        "RUN cargo build --release --target x86_64-unknown-linux-musl\nFROM scratch\n"
        "COPY --from=build /target/x86_64-unknown-linux-musl/release/app /app\n"
        f'{_SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
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
    ),
    "SP213": RuleDoc(
        why="`apk add curl` installs whatever version the Alpine repository has on the day of "
        "the build, so two builds of the same Dockerfile can ship different packages, and an "
        "upgrade arrives unannounced. A pin makes the change visible in the Dockerfile (and the "
        "build fails loudly when the pinned version leaves the repository, instead of drifting). "
        "Pinning is a trade-off: it is noisy where a base image tracks a moving branch, so "
        "ignore it for one instruction or everywhere when drift is what you want. A list in "
        "a variable the stage's ENV or ARG default sets (`apk add $DEPS`) is judged by its "
        "words; one the file does not set is not.",
        bad=f"FROM {_ALPINE}\nRUN apk add --no-cache curl\n{_SAFE_TAIL}",
        good=f"FROM {_ALPINE}\nRUN apk add --no-cache curl=8.11.1-r0\n{_SAFE_TAIL}",
        fix="Pin each package: `name=version` (exact), `name~version` (that release series), or "
        'a range in quotes (`"name>=1.2"`); `apk policy NAME` in the base image lists the '
        "versions on offer. Packages in a `--virtual` group and local `.apk` files need none. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP213"]` in `.scratchpack.toml`.',
    ),
    "SP214": RuleDoc(
        why="`apt-get install curl` installs whatever version the Debian or Ubuntu mirror has on "
        "the day of the build: the same Dockerfile ships different packages from one build to "
        "the next. A pin records what was tested (and fails the build when that version is "
        "gone, instead of drifting silently). It is noisy, since a point release of the "
        "distribution replaces the pinned version, so many teams pin the base image by digest "
        "instead and ignore this rule. `apt install` is judged too (hadolint's DL3008 reads "
        "`apt-get` only), and so is a list in a variable the stage's ENV or ARG default sets "
        "(`apt-get install -y $DEPS`).",
        bad=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl=7.88.1-10+deb12u8 && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        fix="Pin each package as `name=version` (`apt-cache policy NAME` in the base image "
        "shows the candidates); `name=1.2.*` accepts that release's patch updates. Local "
        "`.deb` files need no pin. Pins are noisy where drift is wanted: to turn the rule "
        'off for a whole project, put `ignore = ["SP214"]` in `.scratchpack.toml`.',
    ),
    "SP215": RuleDoc(
        why="`pip install flask` installs the newest release on the day of the build, and "
        "with it whatever its dependencies resolve to: the same Dockerfile ships different "
        "code from one build to the next, and a new release can break the build or the app.",
        bad=f"FROM {_PYTHON}\nRUN pip install --no-cache-dir flask\n{_SAFE_TAIL}",
        good=f"FROM {_PYTHON}\nRUN pip install --no-cache-dir flask==3.1.0\n{_SAFE_TAIL}",
        fix="Pin each package (`flask==3.1.0`; a range such as `flask>=3,<4` also counts), or "
        "better, install a requirements file (`pip install -r requirements.txt`, which this "
        "rule does not judge) that pins every dependency, with hashes (`--require-hashes`). "
        "A constraints file (`-c`) pins the command too. Local paths, wheels, archives and "
        "URLs need no pin; a VCS URL needs a ref (`git+https://...repo.git@v1.2`). "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP215"]` in `.scratchpack.toml`.',
    ),
    "SP216": RuleDoc(
        why="`npm install -g typescript` installs the newest release on the day of the build: "
        "the same Dockerfile ships different tools from one build to the next.",
        bad=f"FROM {_NODE}\nRUN npm install -g typescript\n{_SAFE_TAIL}",
        good=f"FROM {_NODE}\nRUN npm install -g typescript@5.7.2\n{_SAFE_TAIL}",
        fix="Name the version (`typescript@5.7.2`, or a range in quotes), or list the package "
        "in package.json and install with `npm ci` from the lock file (a bare `npm install` is "
        "not judged here; SP209 is about it). A git URL needs `#commit`, `#tag` or "
        "`#semver:...`. Local folders and tarballs need no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP216"]` in `.scratchpack.toml`.',
    ),
    "SP217": RuleDoc(
        why="`gem install bundler` installs the newest release on the day of the build: the "
        "same Dockerfile ships a different bundler from one build to the next.",
        bad=f"FROM {_RUBY}\nRUN gem install bundler\n{_SAFE_TAIL}",
        good=f"FROM {_RUBY}\nRUN gem install bundler:2.5.23\n{_SAFE_TAIL}",
        fix="Pin as `name:version`, or with `-v VERSION` (which pins every gem of the command). "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP217"]` in `.scratchpack.toml`.',
    ),
    "SP218": RuleDoc(
        why="`yum install tomcat` installs whatever version the repositories have on the day of "
        "the build: the same Dockerfile ships different packages from one build to the next.",
        bad=f"FROM {_ROCKY}\nRUN yum install -y tomcat && yum clean all\n{_SAFE_TAIL}",
        good=f"FROM {_ROCKY}\nRUN yum install -y tomcat-9.0.87 && yum clean all\n{_SAFE_TAIL}",
        fix="Pin as `name-version` (`yum list --showduplicates NAME` shows what is on offer), or "
        "install a module stream (`yum module install tomcat:9`). Groups and local .rpm files "
        "need no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP218"]` in `.scratchpack.toml`.',
    ),
    "SP219": RuleDoc(
        why="`zypper install curl` installs whatever version the repositories have on the day "
        "of the build: the same Dockerfile ships different packages from one build to the "
        "next.",
        bad=f"FROM {_SUSE}\nRUN zypper install -y curl && zypper clean\n{_SAFE_TAIL}",
        good=f"FROM {_SUSE}\nRUN zypper install -y curl=8.6.0 && zypper clean\n{_SAFE_TAIL}",
        fix="Pin as `name=version`, or a range in quotes (`'curl>=8.6'`). Local .rpm files need "
        "no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP219"]` in `.scratchpack.toml`.',
    ),
    "SP220": RuleDoc(
        why="`dnf install tomcat` (or microdnf) installs whatever version the repositories have "
        "on the day of the build: the same Dockerfile ships different packages from one build "
        "to the next.",
        bad=f"FROM {_ROCKY}\nRUN dnf install -y tomcat && dnf clean all\n{_SAFE_TAIL}",
        good=f"FROM {_ROCKY}\nRUN dnf install -y tomcat-9.0.87 && dnf clean all\n{_SAFE_TAIL}",
        fix="Pin as `name-version` (`dnf list --showduplicates NAME` shows what is on offer), or "
        "install a module stream (`dnf module install tomcat:9`). Groups and local .rpm files "
        "need no pin. "
        "Pins are noisy where drift is wanted: to turn the rule off for a "
        'whole project, put `ignore = ["SP220"]` in `.scratchpack.toml`.',
    ),
    "SP306": RuleDoc(
        why="MAINTAINER was deprecated in Docker 1.13: it sets a field of the image config that "
        "nothing reads any more, while registries, scanners and `docker inspect` users look "
        "for the author in the OCI labels. A MAINTAINER before the first FROM is a parse "
        "error (SP000, exit code 2), as BuildKit refuses the file, where hadolint reports "
        "DL4000 on it.",
        bad=f"FROM {_PINNED}\nMAINTAINER Jane Doe <jane@example.com>\n{_SAFE_TAIL}",
        good=f'FROM {_PINNED}\nLABEL org.opencontainers.image.authors="Jane Doe '
        f'<jane@example.com>"\n{_SAFE_TAIL}',
        fix='Replace it with `LABEL org.opencontainers.image.authors="..."`.',
    ),
    "SP307": RuleDoc(
        why="A pipeline's exit status is that of its last command, so in "
        "`RUN curl -fsSL https://example.com/key | gpg --dearmor -o key.gpg` a failed download "
        "still builds, with an empty key, and the failure shows up much later. `pipefail` makes "
        "the pipeline fail when any command in it fails. scratchpack also accepts `set -o "
        "pipefail` at the start of the RUN (hadolint asks for SHELL only), and it does not "
        "judge RUNs under a SHELL that is not POSIX (pwsh, powershell, cmd), where a pipe "
        "means something else.",
        bad=f"FROM {_PINNED}\nRUN curl -fsSL https://example.com/key | gpg --dearmor -o "
        f"/usr/share/keyrings/example.gpg\n{_SAFE_TAIL}",
        good=f'FROM {_PINNED}\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN curl -fsSL '
        f"https://example.com/key | gpg --dearmor -o /usr/share/keyrings/example.gpg\n"
        f"{_SAFE_TAIL}",
        fix='Add `SHELL ["/bin/bash", "-o", "pipefail", "-c"]` before the RUN (on Alpine, '
        "`/bin/ash`), or start the script with `set -o pipefail &&`. A SHELL applies to the "
        "rest of its stage and to the stages built FROM it.",
    ),
    "SP221": RuleDoc(
        why='A build has no terminal. `apt-get install` without `-y` asks "Do you want to '
        'continue? [Y/n]" whenever it installs more than the packages named (dependencies), '
        "reads end of file and aborts, so the RUN fails on the day a dependency appears.",
        bad=f"FROM {_PINNED}\nRUN apt-get update && apt-get install --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        fix="Add `-y` (or `--yes`, `--assume-yes`; `-qq` implies it, as in hadolint). There is "
        "no automatic fix: with `-y` apt-get also goes ahead where it would have stopped (it "
        "may remove conflicting packages), so the fix changes what the build does.",
    ),
    "SP222": RuleDoc(
        why="`apt` is the command for people at a terminal: it says itself that its interface "
        'is not stable for scripts ("WARNING: apt does not have a stable CLI interface"), and '
        "its output and defaults may change between releases. `apt-get` and `apt-cache` are "
        "the stable interface.",
        bad=f"FROM {_PINNED}\nRUN apt update && apt install -y --no-install-recommends curl "
        f"&& rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN apt-get update && apt-get install -y --no-install-recommends "
        f"curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        fix="Use `apt-get` (install, update, remove) or `apt-cache` (search, show). No automatic "
        "fix: `apt` and `apt-get` differ in defaults (apt keeps downloaded packages, shows "
        "progress), so swapping them does not provably mean the same.",
    ),
    "SP223": RuleDoc(
        why='A build has no terminal: `yum install` without `-y` asks "Is this ok [y/N]", '
        "reads end of file and fails the RUN.",
        bad=f"FROM {_ROCKY}\nRUN yum install tomcat-9.0.87 && yum clean all\n{_SAFE_TAIL}",
        good=f"FROM {_ROCKY}\nRUN yum install -y tomcat-9.0.87 && yum clean all\n{_SAFE_TAIL}",
        fix="Add `-y` (`--assumeyes`) to `yum install`, `groupinstall` and `localinstall`. No "
        "automatic fix: `-y` also lets yum go ahead with what it would have asked about.",
    ),
    "SP224": RuleDoc(
        why="A build has no terminal: `dnf install` (or microdnf) without `-y` asks for "
        "confirmation, reads end of file and fails the RUN.",
        bad=f"FROM {_ROCKY}\nRUN dnf install tomcat-9.0.87 && dnf clean all\n{_SAFE_TAIL}",
        good=f"FROM {_ROCKY}\nRUN dnf install -y tomcat-9.0.87 && dnf clean all\n{_SAFE_TAIL}",
        fix="Add `-y` (`--assumeyes`) to `dnf install`, `groupinstall` and `localinstall`. No "
        "automatic fix, as for SP223.",
    ),
    "SP225": RuleDoc(
        why="A build has no terminal: zypper's install, remove, patch and source-install ask "
        "for confirmation unless told not to, and the RUN fails.",
        bad=f"FROM {_SUSE}\nRUN zypper install curl=8.6.0 && zypper clean\n{_SAFE_TAIL}",
        good=f"FROM {_SUSE}\nRUN zypper --non-interactive install curl=8.6.0 && zypper clean\n"
        f"{_SAFE_TAIL}",
        fix="Add `-n` / `--non-interactive` (a global option, before the command) or the "
        "command's `-y` / `--no-confirm`. No automatic fix, as for SP223.",
    ),
    "SP226": RuleDoc(
        why="`go install example.com/tool@latest` (or with no version; `go get` and `go run` "
        "too) fetches whatever the module's newest release is on the day of the build: the "
        "same Dockerfile ships different tools from one build to the next.",
        bad=f"FROM {_GO} AS build\nRUN go install golang.org/x/tools/gopls@latest\n"
        "FROM scratch\nCOPY --from=build /go/bin/gopls /gopls\n" + _SCRATCH_TAIL,
        good=f"FROM {_GO} AS build\nRUN go install golang.org/x/tools/gopls@v0.17.1\n"
        "FROM scratch\nCOPY --from=build /go/bin/gopls /gopls\n" + _SCRATCH_TAIL,
        fix="Name a version (`@v0.17.1`, or a commit). Local packages (`.`, `./cmd/app`) are "
        "built from the files at hand and need none. Pins are noisy where drift is wanted: "
        'to turn the rule off for a whole project, put `ignore = ["SP226"]` in '
        "`.scratchpack.toml`.",
    ),
    "SP227": RuleDoc(
        why="yum keeps the repository metadata and the packages it downloaded in "
        "/var/cache/yum: tens of megabytes in the layer that nothing at run time reads.",
        bad=f"FROM {_ROCKY}\nRUN yum install -y tomcat-9.0.87\n{_SAFE_TAIL}",
        good=f"FROM {_ROCKY}\nRUN yum install -y tomcat-9.0.87 && yum clean all\n{_SAFE_TAIL}",
        fix="End the RUN with `yum clean all` (or `rm -rf /var/cache/yum/*`), after the last "
        "install: a clean before it leaves the install's own downloads. A cache or tmpfs "
        "mount on /var/cache/yum (`RUN --mount=type=cache,target=/var/cache/yum`) keeps the "
        "cache out of the layer too.",
    ),
    "SP228": RuleDoc(
        why="dnf and microdnf keep the repository metadata and the packages they downloaded "
        "in /var/cache (libdnf5, dnf, yum): tens of megabytes in the layer.",
        bad=f"FROM {_ROCKY}\nRUN dnf install -y tomcat-9.0.87\n{_SAFE_TAIL}",
        good=f"FROM {_ROCKY}\nRUN dnf install -y tomcat-9.0.87 && dnf clean all\n{_SAFE_TAIL}",
        fix="End the RUN with `dnf clean all` (or `rm -rf /var/cache/libdnf5`), after the last "
        "install, upgrade or reinstall; or mount a cache or tmpfs on the cache directory.",
    ),
    "SP229": RuleDoc(
        why="zypper keeps the repository metadata and the packages it downloaded in "
        "/var/cache/zypp: tens of megabytes in the layer.",
        bad=f"FROM {_SUSE}\nRUN zypper install -y curl=8.6.0\n{_SAFE_TAIL}",
        good=f"FROM {_SUSE}\nRUN zypper install -y curl=8.6.0 && zypper clean --all\n{_SAFE_TAIL}",
        fix="End the RUN with `zypper clean` (`zypper cc`), after the last install; or mount a "
        "cache or tmpfs on /var/cache/zypp.",
    ),
    "SP230": RuleDoc(
        why="`yarn install` keeps every package it fetched in its cache (~/.cache/yarn, "
        "/usr/local/share/.cache/yarn as root): often more than node_modules itself, in a "
        "layer the image ships. A stage whose files are only copied from (`COPY --from`) is "
        "not judged: its cache never reaches the final image.",
        bad=f"FROM {_NODE}\nWORKDIR /app\nCOPY package.json yarn.lock ./\n"
        f"RUN yarn install --frozen-lockfile --production\n{_SAFE_TAIL}",
        good=f"FROM {_NODE}\nWORKDIR /app\nCOPY package.json yarn.lock ./\n"
        "RUN yarn install --frozen-lockfile --production && yarn cache clean\n"
        f"{_SAFE_TAIL}",
        fix="End the RUN with `yarn cache clean`, or mount a cache on the cache directory "
        "(`RUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install`).",
    ),
    "SP231": RuleDoc(
        why="useradd writes the new user's record into /var/log/lastlog and faillog at an "
        "offset of UID times the record size. Those are sparse files on disk, but a layer "
        "stores them in full: a UID of 100000 and above makes the layer hundreds of "
        "megabytes, and a UID near 2^31 gigabytes.",
        bad=f"FROM {_PINNED}\nRUN useradd -u 1000000 app\nUSER 1000000\nWORKDIR /app\n",
        good=f"FROM {_PINNED}\nRUN useradd -l -u 1000000 app\nUSER 1000000\nWORKDIR /app\n",
        fix="Add `-l` (`--no-log-init`), or use a UID of five digits or fewer.",
    ),
    "SP308": RuleDoc(
        why="A build step runs one script in a fresh container: there is no init to ask "
        "(`service`, `shutdown`), no other process to look at or signal (`ps`, `top`, `free`, "
        "`kill`), no privilege to `mount`, no network to configure (`ifconfig`), no one at "
        "`vim`, and `ssh` from a build puts a host's credentials into its history. The command "
        "does nothing useful, or fails.",
        bad=f"FROM {_PINNED}\nRUN service nginx start\n{_SAFE_TAIL}",
        good=f'FROM {_PINNED}\n{_SAFE_TAIL}CMD ["nginx", "-g", "daemon off;"]\n',
        fix="Start the service in CMD or ENTRYPOINT; fetch sources with `RUN --mount=type=ssh` "
        "and git, not ssh; edit files with sed or a COPY. (hadolint's documentation lists "
        "ifconfig too, its code does not: scratchpack follows the documentation.)",
    ),
    "SP309": RuleDoc(
        why="wget prints a progress line per few kilobytes when its output is not a terminal: "
        "a large download writes megabytes into the build log, which CI systems truncate or "
        "refuse.",
        bad=f"FROM {_PINNED}\nRUN wget https://example.com/app.tar.gz\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN wget --progress=dot:giga https://example.com/app.tar.gz\n"
        f"{_SAFE_TAIL}",
        fix="Add `--progress=dot:giga`, or `-nv` / `-q`, or log to a file (`-o`, `-a`). "
        "BusyBox's wget (Alpine) takes only `-q`.",
    ),
    "SP310": RuleDoc(
        why="Two download tools in one image are two packages to install, patch and scan, "
        "where one does the job; and a reader has to know both tools' flags.",
        bad=f"FROM {_PINNED}\nRUN wget -q https://example.com/a.tar.gz\n"
        f"RUN curl -fsSLO https://example.com/b.tar.gz\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN curl -fsSLO https://example.com/a.tar.gz\n"
        f"RUN curl -fsSLO https://example.com/b.tar.gz\n{_SAFE_TAIL}",
        fix="Use one of them in the stage (once both are seen, each RUN that uses either is "
        "reported, as hadolint does).",
    ),
    "SP311": RuleDoc(
        why="`ln -sf /bin/bash /bin/sh` changes the shell of every later RUN silently, and of "
        "every script in the image that says `#!/bin/sh`, and of every image built on it.",
        bad=f"FROM {_PINNED}\nRUN ln -sf /bin/bash /bin/sh\n{_SAFE_TAIL}",
        good=f'FROM {_PINNED}\nSHELL ["/bin/bash", "-c"]\n{_SAFE_TAIL}',
        fix='Use `SHELL ["/bin/bash", "-c"]` for the RUNs that need bash.',
    ),
    "SP312": RuleDoc(
        why="`COPY app.tar.gz /opt/` then `RUN tar -xzf /opt/app.tar.gz` stores the archive "
        "in one layer and its contents in another, and the archive stays even if the RUN "
        "deletes it. `ADD app.tar.gz /opt/app/` unpacks a local tar archive (plain, gzip, "
        "bzip2, xz) in one step. Only tar archives are judged: ADD copies a zip or a lone "
        "compressed file as it is (hadolint counts those too), so for them COPY and unzip is "
        "the way. This is the one use of ADD that SP212 (ADD where COPY fits) accepts.",
        bad=f"FROM {_PINNED}\nCOPY app.tar.gz /opt/\nRUN tar -xzf /opt/app.tar.gz -C /opt\n"
        f"{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nADD app.tar.gz /opt/\n{_SAFE_TAIL}",
        fix="`ADD ARCHIVE DIR/` unpacks it into DIR.",
    ),
    "SP313": RuleDoc(
        why="A port is a number from 0 to 65535, and a protocol tcp, udp or sctp: anything "
        "else in EXPOSE is refused when the image is built or run.",
        bad=f"FROM {_PINNED}\nEXPOSE 80000\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nEXPOSE 8000\n{_SAFE_TAIL}",
        fix="Use a valid port, a range (`8000-8010/tcp`) or a build variable.",
    ),
    "SP314": RuleDoc(
        why="COPY (and ADD) of several sources needs a directory as the destination, written "
        "with a trailing `/`; without it the build fails (`When using COPY with more than one "
        "source file, the destination must be a directory and end with a /`).",
        bad=f"FROM {_PINNED}\nCOPY app.py util.py /app\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nCOPY app.py util.py /app/\n{_SAFE_TAIL}",
        fix="End the destination with `/`.",
    ),
    "SP315": RuleDoc(
        why="All the variables of one ENV are expanded with the values from before the "
        "instruction: in `ENV DIR=/opt/app BIN=$DIR/bin`, BIN gets the old DIR (usually "
        "empty), so `/bin`, not `/opt/app/bin`. A variable that refers to itself (`ENV "
        "PATH=/x:$PATH`) is fine: that is the old value on purpose.",
        bad=f"FROM {_PINNED}\nENV APP_HOME=/opt/app APP_BIN=$APP_HOME/bin\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nENV APP_HOME=/opt/app\nENV APP_BIN=$APP_HOME/bin\n{_SAFE_TAIL}",
        fix="Set the variable in an ENV of its own before the one that uses it.",
    ),
    "SP316": RuleDoc(
        why="A relative destination is relative to the WORKDIR, and a stage that never sets "
        "one gets the base image's (`/` for most, but not all): the files land somewhere the "
        "Dockerfile does not say.",
        bad=f"FROM {_PINNED}\nCOPY app.py app.py\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nWORKDIR /app\nCOPY app.py app.py\nUSER 65532:65532\n",
        fix="Set `WORKDIR` first (in the stage, or in the stage it is built FROM), or use an "
        "absolute destination.",
    ),
    "SP317": RuleDoc(
        why="`FROM --platform=linux/amd64` builds that platform whatever the build asks for: "
        "a multi-platform build (`--platform linux/amd64,linux/arm64`) then ships amd64 "
        "binaries in the arm64 image, which fail with `exec format error`.",
        bad=f"FROM --platform=linux/amd64 {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Leave `--platform` out and pass it to the build, or use `--platform=$BUILDPLATFORM` "
        "for a stage that cross-compiles (`$TARGETPLATFORM` is accepted too, as by hadolint).",
    ),
    "SP318": RuleDoc(
        why="`scratch` is the empty image and `context` names a build context in BuildKit: a "
        "stage with one of these names makes `FROM scratch` or `COPY --from=context` ambiguous "
        "to a reader, and BuildKit may take the other one.",
        bad=f"FROM {_PINNED} AS scratch\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED} AS base\n{_SAFE_TAIL}",
        fix="Rename the stage.",
    ),
    "SP319": RuleDoc(
        why="`COPY --from=build / /` copies the build stage's whole file system (compilers, "
        "package manager, caches, shell) over the final one: the multi-stage build then "
        "ships everything it was meant to leave behind. Only the stages the final image is "
        "made of are judged (hadolint's DL3067 judges every stage): a build stage that takes "
        "a helper image's whole tree ships none of it.",
        bad=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /out/app .\nFROM scratch\n"
        "COPY --from=build / /\n" + _SCRATCH_TAIL,
        good=f"FROM {_GO} AS build\nRUN CGO_ENABLED=0 go build -o /out/app .\nFROM scratch\n"
        "COPY --from=build /out/app /app\n" + _SCRATCH_TAIL,
        fix="Copy the files the app needs, one COPY --from per path.",
    ),
    "SP320": RuleDoc(
        why="Some teams want every exception to a rule in one reviewed place, the "
        "configuration, rather than in comments spread over the Dockerfiles. Off by default, "
        "as hadolint's DL1001 is.",
        bad=f"FROM {_PINNED}\n# hadolint ignore=DL3008\nRUN apt-get update && apt-get install "
        f"-y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN apt-get update && apt-get install "
        f"-y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n{_SAFE_TAIL}",
        fix='Move the exception into `.scratchpack.toml` (`ignore = ["SP214"]`). Turn the rule '
        'on with `[severity]` `SP320 = "info"` (or hadolint\'s `override: {info: [DL1001]}` '
        "in `.hadolint.yaml`).",
    ),
    "SP408": RuleDoc(
        why="A runtime that must know the user is not root before it starts the container "
        "(Kubernetes `runAsNonRoot`) reads the image config's user; a name means nothing to "
        "it without the image's /etc/passwd, so it refuses to start the pod. A numeric UID "
        "also keeps the file ownership on volumes predictable.",
        bad=f"FROM {_PINNED}\nRUN useradd -r app\nUSER app\nWORKDIR /app\n",
        good=f"FROM {_PINNED}\nRUN useradd -r -u 10001 app\nUSER 10001:10001\nWORKDIR /app\n",
        fix="Use the numeric UID (and GID): `USER 10001:10001`. A `USER` with a variable is "
        "judged by the value the stage's ENV or ARG default gives it (`ENV APP_USER app` then "
        "`USER $APP_USER` names a user); one the file does not set is not judged: its value "
        "comes from the base image's ENV (`USER $APP_UID` in Microsoft's .NET images, where "
        "it is numeric), where hadolint's DL3066 reports it.",
    ),
    "SP340": RuleDoc(
        why="An ONBUILD instruction runs in the builds that use this image as their base. Docker "
        "refuses ONBUILD ONBUILD, ONBUILD FROM and ONBUILD MAINTAINER there, so the mistake "
        "breaks someone else's build, not this one.",
        bad=f"FROM {_PINNED}\nONBUILD FROM {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nONBUILD COPY . /app/src\n{_SAFE_TAIL}",
        fix="Remove it; ONBUILD can carry any other instruction.",
    ),
    "SP341": RuleDoc(
        why="Instructions are case-insensitive, but a file that mixes `RUN` and `run` (or writes "
        "`Run`) is harder to read and grep. BuildKit takes the casing most instructions use as "
        "the right one (upper on a tie).",
        bad=f"FROM {_PINNED}\nrun touch /x\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN touch /x\n{_SAFE_TAIL}",
        fix="Write every instruction in the same case, upper case by convention.",
    ),
    "SP342": RuleDoc(
        why="A file the .dockerignore excludes never reaches the builder: COPY of it fails "
        "(`not found`) or, through a directory, silently copies less than it says. As BuildKit "
        "does, the check is skipped when the .dockerignore re-includes anything with `!`, since "
        "that cannot be judged without the files; `<Dockerfile>.dockerignore` is read before "
        "`.dockerignore`.",
        bad=f"FROM {_PINNED}\nCOPY secrets.env /app/\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nCOPY app.conf /app/\n{_SAFE_TAIL}",
        bad_context=((".dockerignore", ".git\n*.env\n"),),
        good_context=((".dockerignore", ".git\n*.env\n"),),
        fix="Copy something the context has, or stop excluding it in .dockerignore.",
    ),
    "SP343": RuleDoc(
        why="EXPOSE documents the container's port; an address or a host port "
        "(`EXPOSE 127.0.0.1:80:80`) belongs to `docker run -p`, is ignored here, and BuildKit "
        "means to refuse it.",
        bad=f"FROM {_PINNED}\nEXPOSE 127.0.0.1:8080:8080\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nEXPOSE 8080\n{_SAFE_TAIL}",
        fix="Keep the container port (and `/tcp` or `/udp`); publish with `docker run -p`.",
    ),
    "SP344": RuleDoc(
        why="The protocol of EXPOSE is `tcp`, `udp` or `sctp`, in lower case as Docker stores "
        "it; `8080/TCP` works but reads as a different thing to tools that compare.",
        bad=f"FROM {_PINNED}\nEXPOSE 8080/TCP\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nEXPOSE 8080/tcp\n{_SAFE_TAIL}",
        fix="Write the protocol in lower case.",
    ),
    "SP345": RuleDoc(
        why="`FROM image as name` in an upper-case FROM (or `AS` in a lower-case one) mixes "
        "casings in one instruction.",
        bad=f"FROM {_PINNED} as build\nFROM {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED} AS build\nFROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Write `AS` in the case of `FROM`.",
    ),
    "SP346": RuleDoc(
        why="Stage names are lower-cased by BuildKit, so `AS Build` is the stage `build`: a "
        "mixed-case name suggests a distinction that does not exist.",
        bad=f"FROM {_PINNED} AS Build\nFROM {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED} AS build\nFROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Name stages in lower case.",
    ),
    "SP347": RuleDoc(
        why="`scratch` and `context` already mean something to FROM and COPY --from (the empty "
        "image, a named build context): a stage with that name is confusing at best.",
        bad=f"FROM {_PINNED} AS context\nFROM {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED} AS sources\nFROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Rename the stage.",
    ),
    "SP348": RuleDoc(
        why="FROM sees only the ARGs declared before the first FROM (and BuildKit's platform "
        "arguments: BUILDPLATFORM, TARGETPLATFORM, TARGETOS, TARGETARCH...): any other variable "
        "is empty there, often a typo; the message suggests the declared name it is closest to.",
        bad=f"ARG VERSION=12-slim\nFROM debian:${{VERSOIN}}\n{_SAFE_TAIL}",
        good=f"ARG VERSION=12-slim\nFROM debian:${{VERSION}}\n{_SAFE_TAIL}",
        fix="Declare it with ARG before the first FROM, or fix its name.",
    ),
    "SP349": RuleDoc(
        why="With no --build-arg, a FROM built from an ARG with no (or an empty) default names "
        "an invalid image (`busybox:`), and the build fails with an error far from the cause.",
        bad=f"ARG TAG\nFROM busybox:${{TAG}}\n{_SAFE_TAIL}",
        good=f"ARG TAG=1.37\nFROM busybox:${{TAG}}\n{_SAFE_TAIL}",
        fix="Give the ARG a default that makes a valid image name.",
    ),
    "SP350": RuleDoc(
        why="A stage is built for the target platform unless told otherwise: "
        "`--platform=$TARGETPLATFORM` says nothing and suggests a cross-build where there is "
        "none.",
        bad=f"FROM --platform=$TARGETPLATFORM {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Remove the flag (use `--platform=$BUILDPLATFORM` for a stage that runs on the "
        "builder).",
    ),
    "SP351": RuleDoc(
        why="`FROM --platform=linux/amd64` forces one platform on every target of a "
        "multi-platform build: the arm64 image gets amd64 binaries. As BuildKit does, a stage "
        "named for its platform (`AS build-amd64`) is taken as meaning it.",
        bad=f"FROM --platform=linux/amd64 {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM --platform=$BUILDPLATFORM {_PINNED}\n{_SAFE_TAIL}",
        fix="Use `$BUILDPLATFORM` (tools that run on the builder) or drop the flag.",
    ),
    "SP352": RuleDoc(
        why="`ENV KEY value` (no `=`) is the legacy form: it sets one key, takes the rest of the "
        "line as its value (spaces included), and is due to be removed.",
        bad=f"FROM {_PINNED}\nENV LANG C.UTF-8\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nENV LANG=C.UTF-8\n{_SAFE_TAIL}",
        fix="Write `KEY=value` (quote a value with spaces).",
    ),
    "SP353": RuleDoc(
        why="An empty line inside a continued instruction is skipped today, so it hides where "
        "the instruction really ends, and BuildKit will make it an error. A comment line there "
        "is fine.",
        bad=f"FROM {_PINNED}\nRUN touch /a \\\n\n    /b\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nRUN touch /a \\\n    /b\n{_SAFE_TAIL}",
        fix="Remove the empty line (or put a `#` comment there).",
    ),
    "SP354": RuleDoc(
        why="A variable nobody defined expands to nothing: `COPY $SRC .` copies the whole "
        "context, `ENV PATH=$PAHT:/app/bin` drops the system PATH. RUN, CMD and ENTRYPOINT in "
        "shell form are left to the shell; the flags BuildKit expands are checked too "
        "(`COPY --chown=$USER`, `--chmod`, `--from=$STAGE`, ADD's `--checksum`). BuildKit "
        "knows the base image's environment; a linter does not, so in a stage built FROM an "
        "image only a name within two edits of a known one is reported (with the suggestion); "
        "in a stage from scratch, all are.",
        bad="FROM scratch\nCOPY $SRC /app/\n" + _SAFE_TAIL,
        good="FROM scratch\nARG SRC=dist\nCOPY $SRC /app/\n" + _SAFE_TAIL,
        fix="Declare it (`ARG NAME`, and `--build-arg NAME=...`) or set it with ENV before "
        "the use; a platform argument (TARGETARCH...) needs an `ARG TARGETARCH` in the stage.",
    ),
    "SP355": RuleDoc(
        why="BuildKit reads the comment directly above a stage or an ARG as its description (in "
        "`docker build --call=outline`), when it starts with the stage's or the ARG's name. A "
        "comment that does not is shown as nothing. Off by default, as in BuildKit, where it is "
        "experimental; pragma comments are not read as descriptions.",
        bad="# check=experimental=InvalidDefinitionDescription\n\n"
        f"# the Debian release\nARG RELEASE=12\nFROM {_PINNED}\n{_SAFE_TAIL}",
        good="# check=experimental=InvalidDefinitionDescription\n\n"
        f"# RELEASE the Debian release\nARG RELEASE=12\nFROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Start the comment with the name (`# RELEASE the Debian release`), or leave an "
        "empty line between it and the instruction.",
    ),
    "SP430": RuleDoc(
        why="ARG values are recorded in the image history and ENV values in its config: a "
        "token passed with `--build-arg GITHUB_TOKEN=...` is readable by anyone who pulls the "
        "image. This is BuildKit's check by name (a word such as TOKEN, PASSWORD, SECRET, KEY, "
        "AUTH as the name or one of its `_` parts, not PUBLIC, FILE or VERSION; hadolint's "
        "DL3064 judges names the same way, from its own list, which has no bare KEY (`ENV "
        "GPG_KEY`) but has USERNAME, a name that is no secret). A secret value is SP400's "
        "finding, an error, not repeated here (both declare DL3064, so `# hadolint "
        "ignore=DL3064` silences either). Unlike DL3064, an ARG before the first FROM is not "
        "reported: only FROM lines see it and nothing records it, until a stage declares it "
        "again (which is then reported).",
        bad=f"FROM {_PINNED}\nARG GITHUB_TOKEN\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nARG GITHUB_TOKEN_FILE=/run/secrets/token\n{_SAFE_TAIL}",
        fix="Pass it as a build secret: `RUN --mount=type=secret,id=token ...` and "
        "`docker build --secret id=token,env=GITHUB_TOKEN`.",
    ),
    "SP600": RuleDoc(
        why="Docker recommends label keys in reverse-DNS form, lower case letters, digits, `.` "
        "and `-`, starting with a letter and ending with a letter or digit; `com.docker.*`, "
        "`io.docker.*` and `org.dockerproject.*` are reserved for Docker. Tools that filter on "
        "labels match them exactly.",
        bad=f"FROM {_PINNED}\nLABEL Maintainer=jane\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.authors=jane\n{_SAFE_TAIL}",
        fix="Use a lower-case, reverse-DNS key (the OCI ones: `org.opencontainers.image.*`).",
    ),
    "SP601": RuleDoc(
        why="A label the team's schema requires (source, licence, revision) is what registries "
        "and scanners show; an image without it is anonymous. A stage has it if it sets it, "
        "inherits it from the stage it is FROM, or a stage FROM it sets it; stages only copied "
        "from are not images of their own.",
        bad=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.source="
        f"https://github.com/example/app\n{_SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.source" = "url"\n',
        fix="Add the label with `LABEL name=value` in the stage (or one it is FROM).",
    ),
    "SP602": RuleDoc(
        why="With `strict-labels = true`, the schema lists every label the images may carry: "
        "anything else is a typo of a required one or metadata nobody agreed on.",
        bad=f"FROM {_PINNED}\nLABEL org.opencontainers.image.source=https://example.com/app "
        f"maintainer=jane\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.source=https://example.com/app"
        f"\n{_SAFE_TAIL}",
        config='strict-labels = true\n[label-schema]\n"org.opencontainers.image.source" = "url"\n',
        fix="Remove the label, or add it to `label-schema`.",
    ),
    "SP603": RuleDoc(
        why="An empty value satisfies the letter of a required label and none of its purpose.",
        bad=f'FROM {_PINNED}\nLABEL org.opencontainers.image.title=""\n{_SAFE_TAIL}',
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.title=app\n{_SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.title" = "text"\n',
        fix="Give it a value (a build argument works: `LABEL name=$VALUE`).",
    ),
    "SP604": RuleDoc(
        why="A label typed `url` is followed by tools (the source link a registry shows): it "
        "must be an absolute URI (RFC 3986), scheme included.",
        bad=f"FROM {_PINNED}\nLABEL org.opencontainers.image.source=github.com/example/app"
        f"\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.source="
        f"https://github.com/example/app\n{_SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.source" = "url"\n',
        fix="Write the full URL, `https://` included.",
    ),
    "SP605": RuleDoc(
        why="`org.opencontainers.image.created` and other time labels are RFC 3339 date-times "
        "(`2024-05-01T12:00:00Z`): anything else does not sort or compare.",
        bad=f"FROM {_PINNED}\nLABEL org.opencontainers.image.created=2024-05-01\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.created=2024-05-01T12:00:00Z"
        f"\n{_SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.created" = "rfc3339"\n',
        fix="Write a date, `T`, a time and an offset (`Z` or `+02:00`); a build argument "
        "(`LABEL ...created=$CREATED`) is taken as given.",
    ),
    "SP606": RuleDoc(
        why="`org.opencontainers.image.licenses` is an SPDX licence expression; scanners and SBOM "
        "tools read it as one. Checked against the SPDX list the `license-expression` package "
        "ships, expressions (`MIT OR Apache-2.0`) included; hadolint accepts one identifier "
        "only.",
        bad=f"FROM {_PINNED}\nLABEL org.opencontainers.image.licenses=Apache2\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.licenses=Apache-2.0\n{_SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.licenses" = "spdx"\n',
        fix="Use the SPDX identifier (https://spdx.org/licenses/).",
    ),
    "SP607": RuleDoc(
        why="`org.opencontainers.image.revision` names the commit the image was built from: a "
        "branch name or a tag moves. A git hash is 40 (or, in SHA-256 repositories, 64) "
        "lower-case hex digits, or the 7-digit short form.",
        bad=f"FROM {_PINNED}\nLABEL org.opencontainers.image.revision=main\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.revision={'0a1b2c3' * 5}0a1b2"
        f"\n{_SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.revision" = "hash"\n',
        fix="Pass the commit: `--build-arg REVISION=$(git rev-parse HEAD)` and "
        "`LABEL org.opencontainers.image.revision=$REVISION`.",
    ),
    "SP608": RuleDoc(
        why="A label typed `semver` is compared as a version (SemVer 2.0.0: `1.2.3`, "
        "`1.2.3-rc.1`); `v1.2` does not compare.",
        bad=f"FROM {_PINNED}\nLABEL org.opencontainers.image.version=v1.2\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL org.opencontainers.image.version=1.2.0\n{_SAFE_TAIL}",
        config='[label-schema]\n"org.opencontainers.image.version" = "semver"\n',
        fix="Write MAJOR.MINOR.PATCH, without a `v`.",
    ),
    "SP609": RuleDoc(
        why="A label typed `email` is where people and tools write to: it must be an address "
        "(RFC 5322 `local@domain`).",
        bad=f"FROM {_PINNED}\nLABEL com.example.contact=jane.example.com\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\nLABEL com.example.contact=jane@example.com\n{_SAFE_TAIL}",
        config='[label-schema]\n"com.example.contact" = "email"\n',
        fix="Write the address.",
    ),
    "SP610": RuleDoc(
        why="Without a HEALTHCHECK, Docker and Swarm know only whether the process runs, not "
        "whether it answers. Off by default, as in hadolint (Kubernetes ignores HEALTHCHECK and "
        "uses its own probes); `HEALTHCHECK NONE` says there is none on purpose. The image-side "
        "check is `scratchpack audit`'s SPI300. As in hadolint, a stage has one if it, a stage "
        "it is FROM, or a stage FROM it sets one.",
        bad=f'FROM {_PINNED}\n{_SAFE_TAIL}CMD ["/app/server"]\n',
        good=f'FROM {_PINNED}\n{_SAFE_TAIL}HEALTHCHECK CMD ["/app/server", "--check"]\n'
        'CMD ["/app/server"]\n',
        config='[severity]\nSP610 = "info"\n',
        fix="Add `HEALTHCHECK CMD [...]` running a check the app answers (or `HEALTHCHECK NONE`).",
    ),
    "SP356": RuleDoc(
        why="A FROM image that has no manifest for the platform the stage is built for either "
        "fails the pull (`no match for platform in manifest`) or, from a single-platform image "
        "or an index with a near match, gives the stage another architecture's binaries: an "
        "amd64 build of an arm64-only base runs under emulation or not at all. BuildKit warns "
        "once it has pulled the image; `lint --lookup-bases` asks the registry first: the "
        "entries of the image's index, or the os and architecture of a single manifest's "
        "config, against `--platform=` on the FROM (a constant, or BuildKit's platform "
        "arguments) or else the build's target, compared by OS and architecture as BuildKit "
        "compares them. The examples' images are taken as the registry offers them: the bad "
        "one for linux/arm64 only, debian for amd64 and arm64, linted for linux/amd64.",
        bad="FROM registry.example.com/arm/base:1@sha256:" + "b" * 64 + f"\n{_SAFE_TAIL}",
        good=f"FROM {_PINNED}\n{_SAFE_TAIL}",
        fix="Use an image (or a tag) published for the target platform, or build the stage for "
        "the platform the image has (`FROM --platform=linux/arm64 ...`, for a stage whose "
        "output does not depend on it).",
        limits="Only with `scratchpack lint --lookup-bases` (and the digest-lookup flags "
        "`--tls-verify`, `--authfile`, `--timeout`; not `--creds`: the Dockerfile names the "
        "registries asked, so each gets only its own credentials, from `--authfile` or "
        "Docker's config.json): by default lint reads no network, and this rule reports "
        "nothing. A registry that cannot be reached, refuses "
        "the request or serves what does not read is no finding, silently. The target is "
        "`DOCKER_DEFAULT_PLATFORM` (a comma list: each), else this host's: a `docker build "
        "--platform=...` lint is not told of gets another answer, as BuildKit's own check "
        "depends on the builder. A `--build-arg` is not known: build arguments are read with "
        "their ARG defaults; a `--platform=` that still names another argument is not checked. "
        "Variants (arm/v6, arm/v7) are not compared, as in BuildKit; attestation entries "
        "(`unknown/unknown`) are no platform.",
    ),
}


def render_page(code: str) -> str:
    from scratchpack.dockerfile.rules import RULES  # the rules import nothing from here

    rule, doc = RULES[code], DOCS[code]
    peers = ", ".join([*rule.hadolint, *([rule.dockle] if rule.dockle else [])]) or "none"
    buildkit = f" · BuildKit: {rule.buildkit}" if rule.buildkit else ""
    off = (
        ""
        if rule.default
        else "Off by default: turn it on with a severity for it in the configuration "
        f'(`[severity] {code} = "info"`, or hadolint\'s `override`)'
        + (f" or `# check=experimental={rule.buildkit}`" if rule.buildkit else "")
        + ".\n\n"
    )
    return (
        f"# {code}: {rule.title}\n\n"
        f"Severity: **{rule.severity}** · Category: **{rule.category}** · "
        f"Equivalent: {peers}{buildkit}\n\n{off}"
        f"## Why it matters\n\n{doc.why}\n\n"
        f"## Bad\n\n```dockerfile\n{doc.bad}```\n{_context(doc.bad_context)}\n"
        f"## Good\n\n```dockerfile\n{doc.good}```\n{_context(doc.good_context)}\n"
        f"{_config(doc.config)}"
        + (f"## What it cannot tell\n\n{doc.limits}\n\n" if doc.limits else "")
        + f"## Fix\n\n{doc.fix}\n\n{_automatic(code)}"
        f"Ignore it for one instruction with `# scratchpack ignore={code}` on the line above"
        + (f" (or `# hadolint ignore={rule.hadolint[0]}`)" if rule.hadolint else "")
        + (
            f" (or `# scratchpack ignore={rule.buildkit}`; `# check=skip={rule.buildkit}` "
            "skips it in the whole file, as in BuildKit)"
            if rule.buildkit
            else ""
        )
        + ", or everywhere with `--ignore "
        + code
        + "`.\n"
    )


def _automatic(code: str) -> str:
    """The rule's ``lint --fix`` and its tier, from the fix's own metadata."""
    from scratchpack.dockerfile.fix import FIXES  # fix imports nothing from here

    kind = FIXES.get(code)
    if kind is None:
        return ""
    if not kind.unsafe:
        return f"`lint --fix` {kind.does} (a safe fix).\n\n"
    when = f" {kind.unsafe_when}" if kind.unsafe_when else ""
    return (
        f"`lint --fix` {kind.does}. It is an unsafe fix{when}, made only with "
        f"`--unsafe-fixes`: {kind.unsafe}.\n\n"
    )


def _config(text: str) -> str:
    if not text:
        return ""
    return f"With this configuration (`.scratchpack.toml`):\n\n```toml\n{text}```\n\n"


def _context(files: tuple[tuple[str, str], ...]) -> str:
    if not files:
        return ""
    listed = "".join(f"\n`{name}`:\n\n```\n{content}```\n" for name, content in files)
    return f"\nBuild context:\n{listed}"


# hadolint's DL rules (its README's table, and the ones it removed), in our words, and why a
# code has no scratchpack rule when none declares it: the index shows every code either way.
HADOLINT: dict[str, tuple[str, str]] = {
    "DL1001": ("inline ignore pragmas", ""),
    "DL3000": ("relative WORKDIR", ""),
    "DL3001": ("commands pointless in a container (ssh, vim, service...)", ""),
    "DL3002": ("last USER is root", ""),
    "DL3003": ("cd instead of WORKDIR", ""),
    "DL3004": ("sudo", ""),
    "DL3005": ("apt-get upgrade", "removed from hadolint; SP203 still reports upgrades"),
    "DL3006": ("FROM without a tag", ""),
    "DL3007": ("FROM ...:latest", ""),
    "DL3008": ("apt-get install without versions", ""),
    "DL3009": ("apt lists not deleted", ""),
    "DL3010": ("COPY and extract where ADD extracts", ""),
    "DL3011": ("port outside 0-65535", ""),
    "DL3012": ("more than one HEALTHCHECK", "not implemented yet"),
    "DL3013": ("pip install without versions", ""),
    "DL3014": ("apt-get install without -y", ""),
    "DL3015": ("apt-get install without --no-install-recommends", ""),
    "DL3016": ("npm install without versions", ""),
    "DL3017": ("apk upgrade", "removed from hadolint"),
    "DL3018": ("apk add without versions", ""),
    "DL3019": ("apk add without --no-cache", ""),
    "DL3020": ("ADD for files and folders", ""),
    "DL3021": ("COPY of several sources to a destination without /", ""),
    "DL3022": ("COPY --from an unknown stage", ""),
    "DL3023": ("COPY --from its own stage", ""),
    "DL3024": ("duplicate stage name", ""),
    "DL3025": ("CMD/ENTRYPOINT in shell form", ""),
    "DL3026": ("FROM an untrusted registry", ""),
    "DL3027": ("apt instead of apt-get", ""),
    "DL3028": ("gem install without versions", ""),
    "DL3029": ("FROM --platform", ""),
    "DL3030": ("yum install without -y", ""),
    "DL3031": ("yum update", "removed from hadolint"),
    "DL3032": ("yum clean all missing", ""),
    "DL3033": ("yum install without versions", ""),
    "DL3034": ("zypper without a non-interactive switch", ""),
    "DL3035": ("zypper dist-upgrade", ""),
    "DL3036": ("zypper clean missing", ""),
    "DL3037": ("zypper install without versions", ""),
    "DL3038": ("dnf install without -y", ""),
    "DL3040": ("dnf clean all missing", ""),
    "DL3041": ("dnf install without versions", ""),
    "DL3042": ("pip install without --no-cache-dir", ""),
    "DL3043": ("ONBUILD, FROM or MAINTAINER inside ONBUILD", "not implemented yet"),
    "DL3044": ("ENV referring to a variable it sets", ""),
    "DL3045": ("COPY to a relative destination without WORKDIR", ""),
    "DL3046": ("useradd with a high UID without -l", ""),
    "DL3047": ("wget without --progress", ""),
    **{f"DL30{n}": ("label schema", "not implemented yet") for n in (48, 49, 50, 51, 52, 53,
                                                                     54, 55, 56, 58)},
    "DL3057": ("HEALTHCHECK missing", "not implemented yet"),
    "DL3059": ("consecutive RUNs", ""),
    "DL3060": ("yarn cache clean missing", ""),
    "DL3061": ("instruction before FROM", "a parse error in scratchpack (SP000), as BuildKit "
               "refuses such a file: exit code 2"),
    "DL3062": ("go install without a version", ""),
    "DL3063": ("stage named scratch or context", ""),
    "DL3064": ("secret-like name in ARG or ENV", ""),
    "DL3065": ("FROM --platform=$TARGETPLATFORM, redundant", "BuildKit's RedundantTargetPlatform "
               "check, not implemented yet"),
    "DL3066": ("USER by name", ""),
    "DL3067": ("COPY --from of a whole file system", ""),
    "DL4000": ("MAINTAINER", ""),
    "DL4001": ("both wget and curl", ""),
    "DL4003": ("more than one CMD", ""),
    "DL4004": ("more than one ENTRYPOINT", ""),
    "DL4005": ("ln over /bin/sh instead of SHELL", ""),
    "DL4006": ("pipe without pipefail", ""),
}  # fmt: skip


def render_hadolint_index() -> str:
    """Every hadolint code and the scratchpack rules that declare it, or why none does."""
    from scratchpack.dockerfile.rules import RULES

    rows = []
    for code, (what, why) in HADOLINT.items():
        ours = [c for c, r in RULES.items() if code in r.hadolint]
        linked = ", ".join(f"[{c}]({c}.md)" for c in ours) or "-"
        note = "" if ours else why or "no equivalent"
        rows.append(f"| {code} | {what} | {linked} | {note} |")
    return (
        "\n## hadolint's rules\n\nEach hadolint code, the scratchpack rules that report it "
        "(`# hadolint ignore=` and `--explain` take the code), or why none does. Deliberate "
        "differences are on the rule pages.\n\n"
        "| hadolint | rule | scratchpack | note |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def render_index() -> str:
    from scratchpack.dockerfile.rules import RULES

    rows = "\n".join(
        f"| [{code}]({code}.md) | {rule.severity} | {rule.category} | {rule.title} | "
        f"{', '.join(rule.hadolint) or '-'} | {rule.buildkit or '-'} |"
        for code, rule in sorted(RULES.items())
    )
    return (
        "# Lint rules\n\nGenerated by `scripts/gen-rule-docs` from the rule registry.\n\n"
        "| code | severity | category | rule | hadolint | BuildKit |\n"
        "|---|---|---|---|---|---|\n" + rows + "\n\n"
        "BuildKit's InvalidBaseImagePlatform check (a FROM image whose platform is not the "
        "build's) is SP356: it needs the base image's index or config from its registry, so it "
        "runs with `scratchpack lint --lookup-bases` only; by default lint judges the "
        "Dockerfile and its build context alone, fetching no image.\n" + render_hadolint_index()
    )
