"""Rules on the base images and the final stage (SP100-SP108): what the image that ships
starts from and runs as.
"""

from __future__ import annotations

from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile, Instruction, Stage
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    RuleDoc,
    at_image,
    from_image,
    image_parts,
    is_stage_reference,
    parent_stage,
    rule,
)
from scratchpack.dockerfile.rules.examples import GO, PINNED, SAFE_TAIL, SCRATCH_TAIL
from scratchpack.lazyre import lazy
from scratchpack.reports.severity import Severity


def _sp100_doc() -> RuleDoc:
    return RuleDoc(
        why="A process running as root inside the container is root on the container's file "
        "system and one kernel bug away from root on the host. Images without USER run as root.\n\n"
        "Deliberate differences with hadolint's DL3002, which flags any stage whose last USER "
        "is root and stays silent when there is no USER: only the final stage is judged (a "
        "build stage that runs as root ships nothing but the files copied out of it), and a "
        "final stage with no USER is reported, since it runs as root as surely as `USER "
        "root` (unless it is FROM an earlier stage, which decides, or a `nonroot` image).",
        bad=f'FROM {PINNED}\nWORKDIR /app\nCMD ["/app/run"]\n',
        good=f'FROM {PINNED}\nUSER 65532:65532\nWORKDIR /app\nCMD ["/app/run"]\n',
        fix="Add `USER 65532:65532` (or a named user that exists in the image) to the final stage.",
    )


@rule("SP100", Severity.WARNING, "security", "The final stage runs as root",
      hadolint=("DL3002",), dockle="CIS-DI-0001", doc=_sp100_doc)  # fmt: skip
def final_stage_root(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    users = final.of("USER")
    if users:
        user = users[-1].text.split(":")[0].strip()
        if user in ("root", "0"):
            yield meta.at_word(
                dockerfile,
                users[-1],
                users[-1].args[0],
                f"the final stage runs as root (USER {users[-1].text})",
            )
        return
    # FROM <stage> inherits the user that stage (or the one it starts from) ended with
    parent = parent_stage(dockerfile, final)
    while parent is not None:
        if users := parent.of("USER"):
            if users[-1].text.split(":")[0].strip() in ("root", "0"):
                yield meta.finding(
                    f"the final stage runs as root: it starts FROM {final.base}, whose last "
                    f"USER (line {users[-1].line}) is {users[-1].text}; add an unprivileged "
                    "USER to the final stage",
                    final.line,
                )
            return
        parent = parent_stage(dockerfile, parent)
    if "nonroot" in final.base or is_stage_reference(dockerfile, final):
        return
    yield meta.finding(
        "the final stage has no USER, so it runs as root: add an unprivileged user "
        "(e.g. USER 65532:65532)",
        final.line,
    )


def _sp101_doc() -> RuleDoc:
    return RuleDoc(
        why="A tag is a moving pointer: the same Dockerfile builds different images on different "
        "days, and a compromised registry can serve anything under it. A digest names exactly "
        "one image.",
        bad=f"FROM debian:12-slim\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Pin with `image:tag@sha256:...`; `scratchpack digest docker://IMAGE:TAG` prints it.",
    )


@rule("SP101", Severity.WARNING, "reproducibility", "FROM is not pinned by digest", doc=_sp101_doc)
def from_without_digest(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        if not from_image(dockerfile, stage):
            continue
        digest = image_parts(stage.base)[2]
        if digest is not None and not _VALID_DIGEST.fullmatch(digest):
            yield at_image(
                meta,
                dockerfile,
                stage,
                f"{stage.base} has a digest docker refuses (invalid checksum digest format): a "
                "digest is sha256: and 64 lower-case hex digits (see `scratchpack digest`)",
            )
        elif digest is None:
            yield at_image(
                meta,
                dockerfile,
                stage,
                f"{stage.base} is not pinned by digest: the image can change under the same tag "
                f"(pin it: {stage.base}@sha256:..., see `scratchpack digest`)",
            )


# what docker accepts after @ (sha512 too); SHA256: or upper-case hex it refuses
_VALID_DIGEST = lazy(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


def _sp102_doc() -> RuleDoc:
    return RuleDoc(
        why="`latest` (or no tag) changes whenever upstream publishes, so builds are not "
        "repeatable and upgrades arrive unannounced. `FROM $BASE` is judged by the default of "
        "its ARG, which BuildKit substitutes (hadolint's DL3006 does not read the variable); "
        "with no default it is not judged.",
        bad=f"FROM debian\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Name a version tag, and pin it by digest.",
    )


@rule("SP102", Severity.WARNING, "reproducibility", "FROM uses :latest or no tag",
      hadolint=("DL3006", "DL3007"), doc=_sp102_doc)  # fmt: skip
def from_latest(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        if not from_image(dockerfile, stage):
            continue
        _, tag, digest = image_parts(stage.base)
        if digest is None and tag in (None, "latest"):
            what = "the latest tag" if tag else "no tag (so latest)"
            yield at_image(meta, dockerfile, stage, f"{stage.base} uses {what}: name a version")


def _sp103_doc() -> RuleDoc:
    return RuleDoc(
        why="Without WORKDIR the process starts in `/`, and relative paths in the app or in later "
        "instructions land in the root directory.",
        bad=f"FROM {PINNED}\nUSER 65532:65532\n",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Set `WORKDIR /app` (or the app's home) in the final stage.",
    )


@rule("SP103", Severity.INFO, "maintainability", "The final stage sets no WORKDIR", doc=_sp103_doc)
def final_no_workdir(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if not final.of("WORKDIR") and not is_stage_reference(dockerfile, final):
        yield meta.finding("the final stage sets no WORKDIR (it runs in /)", final.line)


_TOOLCHAINS = frozenset(
    {"golang", "rust", "node", "gcc", "maven", "gradle", "openjdk", "buildpack-deps", "clang",
     "haskell", "swift", "elixir", "erlang", "sdk"}
)  # fmt: skip


_FULL_OS = frozenset(
    {"debian", "ubuntu", "alpine", "centos", "fedora", "rockylinux", "almalinux", "amazonlinux",
     "oraclelinux", "archlinux", "opensuse", "busybox"}
)  # fmt: skip


def _repo_name(base: str) -> str:
    repo, _, _ = image_parts(base)
    return repo.rsplit("/", 1)[-1].lower()


def _copies_to(stage: Stage, fragment: str) -> bool:
    return any(fragment in copy.text for copy in stage.of("COPY", "ADD"))


def _sp104_doc() -> RuleDoc:
    return RuleDoc(
        why="Toolchain images (golang, rust, node, gcc, maven, JDKs) are hundreds of megabytes of "
        "compilers, headers and package managers: attack surface and pull time the running app "
        "never uses.",
        bad=f"FROM {GO}\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'USER 65532:65532\nENTRYPOINT ["/app"]\n',
        good=f"FROM {GO} AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Build in a named stage and copy only the binary into `scratch` or distroless.",
    )


@rule("SP104", Severity.WARNING, "size", "The final stage is a build toolchain image",
      doc=_sp104_doc)  # fmt: skip
def final_toolchain(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if is_stage_reference(dockerfile, final):
        return
    name = _repo_name(final.base)
    if name in _TOOLCHAINS or (name.endswith("jdk") and "jre" not in name):
        yield at_image(
            meta,
            dockerfile,
            final,
            f"the final stage runs FROM {final.base}, a whole toolchain (compilers, headers, "
            "package managers): build in an earlier stage and copy only the result into "
            "scratch or distroless",
        )


def _sp105_doc() -> RuleDoc:
    return RuleDoc(
        why="A final stage that only copies a built binary does not need a shell, a package "
        "manager or a libc it does not link: each is attack surface and size.",
        bad=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM {PINNED}\nCOPY --from=build /app /app\n{SAFE_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Use `scratch` for a static binary (or `scratchpack pack`), distroless for a dynamic "
        "one.",
    )


@rule("SP105", Severity.INFO, "size", "A full OS base for a final stage that only copies files",
      doc=_sp105_doc)  # fmt: skip
def final_full_os(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if is_stage_reference(dockerfile, final) or _repo_name(final.base) not in _FULL_OS:
        return
    builds = [c for c in final.of("COPY") if c.flag("from")]
    if builds and not final.of("RUN"):
        yield at_image(
            meta,
            dockerfile,
            final,
            f"the final stage only copies build output, yet ships {final.base} with a shell "
            "and a package manager: a static binary needs scratch, a dynamic one distroless",
        )


def _sp106_doc() -> RuleDoc:
    return RuleDoc(
        why="scratch is empty: no CA bundle, so HTTPS clients fail with 'certificate signed by "
        "unknown authority'. Only info, because an app that makes no TLS connections is fine.",
        bad=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{SAFE_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="`COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/`.",
    )


@rule("SP106", Severity.INFO, "correctness", "FROM scratch without CA certificates", doc=_sp106_doc)
def scratch_without_certs(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if final.base == "scratch" and not (
        _copies_to(final, "ca-certificates") or _copies_to(final, "/etc/ssl")
    ):
        yield at_image(
            meta,
            dockerfile,
            final,
            "FROM scratch has no CA certificates: every TLS connection the app makes will fail "
            "(COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/)",
        )


def _sp107_doc() -> RuleDoc:
    return RuleDoc(
        why="scratch has no /tmp; libraries that create temporary files (uploads, caches, "
        "os.TempDir) fail at run time.",
        bad=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\nFROM scratch\n"
        "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n"
        f'COPY --from=build /app /app\n{SAFE_TAIL}ENTRYPOINT ["/app"]\n',
        good=f"FROM {GO} AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        f'FROM scratch\nCOPY --from=build /app /app\n{SCRATCH_TAIL}ENTRYPOINT ["/app"]\n',
        fix="Copy an empty directory with mode 1777 to /tmp, or mount a tmpfs at run time.",
    )


@rule("SP107", Severity.INFO, "correctness", "FROM scratch without /tmp", doc=_sp107_doc)
def scratch_without_tmp(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    final = dockerfile.final
    if final.base == "scratch" and not any(
        " /tmp" in c.text or c.text.endswith("/tmp/") for c in final.of("COPY", "ADD")
    ):
        yield at_image(
            meta,
            dockerfile,
            final,
            "FROM scratch has no /tmp: libraries that create temporary files will fail "
            "(copy an empty directory with mode 1777, or mount a tmpfs at run time)",
        )


OFFICIAL_NAMES = (
    "alpine", "debian", "ubuntu", "busybox", "centos", "fedora", "python", "node", "golang",
    "rust", "openjdk", "eclipse-temurin", "nginx", "httpd", "redis", "postgres", "mysql",
    "mariadb", "mongo", "ruby", "php", "perl", "gcc", "maven", "gradle", "amazonlinux",
    "rockylinux", "almalinux", "archlinux", "haproxy", "traefik", "memcached", "rabbitmq",
    # official images one edit away from another official name: not typos of it
    "jruby", "mono",
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


def _pulled(stage: Stage) -> Iterator[tuple[Instruction, str, str, int]]:
    """Images a stage pulls besides its base: ``COPY --from=IMAGE`` and ``RUN
    --mount=from=IMAGE`` (a name with a / or a tag, not a stage), with the flag as written and
    where in it the image is."""
    for instruction in stage.of("COPY", "RUN"):
        for name, value in instruction.flags:
            if name == "from" and instruction.cmd == "COPY":
                image, written, skip = value, f"--from={value}", len("--from=")
            elif name == "mount":
                options = [o.partition("=") for o in value.split(",")]
                image = next((v for k, _, v in options if k == "from"), "")
                written = f"--mount={value}"
                skip = written.find(f"from={image}") + len("from=")
            else:
                continue
            if ("/" in image or ":" in image) and "$" not in image:
                yield instruction, image, written, skip


def trusted(registry: str, allowed: frozenset[str]) -> bool:
    """Whether a registry is among the trusted ones: a name, ``*.example.com`` for its
    subdomains, or ``*`` for any (as hadolint's trustedRegistries take them)."""
    return any(
        pattern in ("*", registry) or (pattern.startswith("*.") and registry.endswith(pattern[1:]))
        for pattern in allowed
    )


def _sp108_doc() -> RuleDoc:
    return RuleDoc(
        why="Images are pulled by name: a one-letter typo (`debain`, `pyhton`) can fetch a "
        "squatter's image, and an unvetted registry is code you run without review.",
        bad=f"FROM debain:12@sha256:{'a' * 64}\n{SAFE_TAIL}",
        good=f"FROM {PINNED}\n{SAFE_TAIL}",
        fix="Fix the name; list the registries you trust in `.scratchpack.toml` "
        '(`trusted-registries = ["docker.io", "ghcr.io", "*.example.com"]`: `*.` a registry\'s '
        "subdomains, `*` any registry; hadolint's `trustedRegistries` is read too). With a "
        "list, the images pulled by `COPY --from=IMAGE` and `RUN --mount=from=IMAGE` are "
        "judged as well, as hadolint's DL3026 does.",
    )


@rule("SP108", Severity.WARNING, "security", "A base image from an untrusted registry or with a "
      "name that looks mistyped", hadolint=("DL3026",), doc=_sp108_doc)  # fmt: skip
def untrusted_base(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    allowed = dockerfile.trusted_registries
    for stage in dockerfile.stages:
        if allowed:  # COPY --from=registry/image:tag and RUN --mount=from=... pull too
            for instruction, image, written, skip in _pulled(stage):
                registry = _registry_of(image)
                if not trusted(registry, allowed):
                    yield meta.at_word(
                        dockerfile, instruction, written,
                        f"{instruction.cmd} pulls {image} from {registry}, which is not a "
                        f"trusted registry ({', '.join(sorted(allowed))})",
                        skip=skip,
                    )  # fmt: skip
        if not from_image(dockerfile, stage) or "$" in stage.base:
            continue
        registry = _registry_of(stage.base)
        if allowed and not trusted(registry, allowed):
            yield at_image(
                meta,
                dockerfile,
                stage,
                f"{stage.base} comes from {registry}, which is not a trusted registry "
                f"({', '.join(sorted(allowed))})",
            )
            continue
        repo = image_parts(stage.base)[0]
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
            yield at_image(
                meta,
                dockerfile,
                stage,
                f"{stage.base}: did you mean {near[0]}? a near-miss of an official image name "
                "is how typosquatted images get pulled",
            )
