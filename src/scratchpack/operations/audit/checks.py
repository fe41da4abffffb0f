"""Audit findings: what an attacker would find in an image, and what stops it from starting.

Each check has a stable code (``SPI`` + number), a severity, a category, the dockle/CIS code
it matches where there is one, and a page under ``docs/rules/`` generated from ``DOCS``
(``scripts/gen-rule-docs``). Codes: SPI1xx image hygiene and security, SPI2xx startup,
SPI3xx metadata.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from scratchpack.credentials import SECRET_NAME, secret_in_text
from scratchpack.layers.reader import shown
from scratchpack.model.config import ImageConfig
from scratchpack.operations.audit.startup import Startup, env_value
from scratchpack.operations.contents.filesystem import Efficiency, Node
from scratchpack.operations.contents.scan import Scan, iter_user_records
from scratchpack.reports.severity import Severity
from scratchpack.units import human_size


@dataclass(frozen=True)
class AuditFinding:
    code: str
    severity: Severity
    message: str
    path: str | None = None

    def as_dict(self) -> dict[str, object]:
        check = CHECKS[self.code]
        return {
            "code": self.code,
            "severity": str(self.severity),
            "category": check.category,
            "title": check.title,
            "message": self.message,
            "path": self.path,
            "dockle": check.dockle,
        }


@dataclass(frozen=True)
class Evidence:
    """Everything the checks look at."""

    config: ImageConfig
    scan: Scan
    startup: Startup
    efficiency: Efficiency


@dataclass(frozen=True)
class Check:
    code: str
    severity: Severity
    category: str
    title: str
    run: Callable[[Evidence], Iterator[AuditFinding]]
    dockle: str | None = None


CHECKS: dict[str, Check] = {}


def check(
    code: str, severity: Severity, category: str, title: str, dockle: str | None = None
) -> Callable[[Callable[[Evidence, Check], Iterator[AuditFinding]]], None]:
    def register(fn: Callable[[Evidence, Check], Iterator[AuditFinding]]) -> None:
        holder: list[Check] = []

        def run(evidence: Evidence) -> Iterator[AuditFinding]:
            return fn(evidence, holder[0])

        holder.append(Check(code, severity, category, title, run, dockle))
        CHECKS[code] = holder[0]

    return register


def _finding(meta: Check, message: str, path: str | None = None) -> AuditFinding:
    return AuditFinding(meta.code, meta.severity, message, "/" + path if path else None)


# -- who the image runs as -------------------------------------------------------------------


def run_user(evidence: Evidence) -> tuple[int | None, str]:
    """(uid, how it was found): None when USER names someone /etc/passwd does not know."""
    user = evidence.config.user.split(":", 1)[0]
    if user in ("", "root"):
        return 0, "no USER" if not user else "USER root"
    if user.isdigit():
        return int(user), f"USER {user}"
    passwd = evidence.scan.config_file("etc/passwd") or b""
    for name, uid, _, _ in iter_user_records(passwd):
        if name == user:
            return uid, f"USER {user} (uid {uid})"
    return None, f"USER {user}"


@check("SPI100", Severity.WARNING, "security", "The image runs as root", dockle="CIS-DI-0001")
def runs_as_root(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    uid, how = run_user(evidence)
    if uid == 0:
        yield _finding(meta, f"the container runs as root ({how}): set USER to an unprivileged uid")


_SHELLS = ("bin/sh", "bin/bash", "bin/dash", "bin/ash", "bin/zsh", "bin/busybox")
_PACKAGE_MANAGERS = (
    "bin/apt", "bin/apt-get", "bin/dpkg", "sbin/apk", "bin/apk", "bin/yum", "bin/dnf",
    "bin/microdnf", "bin/rpm", "bin/zypper", "bin/pacman",
)  # fmt: skip


def _present(scan: Scan, names: tuple[str, ...]) -> list[str]:
    found = []
    for name in names:
        for prefix in ("", "usr/"):
            resolved = scan.filesystem.resolve(prefix + name)
            if resolved is not None and scan.filesystem.nodes[resolved].kind == "file":
                found.append("/" + prefix + name)
                break
    return found


def shells(scan: Scan) -> list[str]:
    return _present(scan, _SHELLS)


def package_managers(scan: Scan) -> list[str]:
    return _present(scan, _PACKAGE_MANAGERS)


@check("SPI101", Severity.WARNING, "security", "A shell is present")
def shell_present(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    found = shells(evidence.scan)
    if found:
        yield _finding(
            meta,
            f"{', '.join(found)}: an attacker who gets code execution gets a shell; a scratch or "
            "distroless base ships none",
            found[0].lstrip("/"),
        )


@check("SPI102", Severity.WARNING, "security", "A package manager is present")
def package_manager_present(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    found = package_managers(evidence.scan)
    if found:
        yield _finding(
            meta,
            f"{', '.join(found)}: lets an intruder install tools; the final image needs none",
            found[0].lstrip("/"),
        )


def _sorted_nodes(
    evidence: Evidence, kinds: tuple[str, ...], mode: int = 0, under: tuple[str, ...] = ("",)
) -> list[tuple[str, Node]]:
    """The final file system's nodes of ``kinds`` with one of the ``mode`` bits (any if 0)
    below the directories ``under``, by path (``FileSystem.find`` filters before it builds a
    path: a million files that match nothing cost no million paths)."""
    fs = evidence.scan.filesystem
    return sorted(found for directory in under for found in fs.find(kinds, mode, directory))


@check("SPI103", Severity.WARNING, "security", "setuid or setgid files", dockle="CIS-DI-0008")
def setuid_files(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    special = stat.S_ISUID | stat.S_ISGID
    for path, node in _sorted_nodes(evidence, ("file",), special):
        bits = "setuid" if node.mode & stat.S_ISUID else "setgid"
        if node.mode & stat.S_ISUID and node.mode & stat.S_ISGID:
            bits = "setuid and setgid"
        yield _finding(
            meta,
            f"/{path} is {bits} (mode {(node.mode & 0o7777):04o}): a way to root for "
            "anyone who can run it; remove the bit (chmod u-s,g-s)",
            path,
        )


@check("SPI104", Severity.WARNING, "security", "World-writable files or directories")
def world_writable(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    for path, node in _sorted_nodes(evidence, ("file", "dir"), stat.S_IWOTH):
        if node.kind == "dir" and node.mode & stat.S_ISVTX:
            continue  # a sticky /tmp: users cannot touch each other's files
        yield _finding(
            meta,
            f"/{path} ({node.kind}, mode {(node.mode & 0o7777):04o}) is writable by every "
            "user" + ("; make it sticky (1777) or private" if node.kind == "dir" else ""),
            path,
        )


@check("SPI105", Severity.ERROR, "security", "A secret in a file", dockle="CIS-DI-0010")
def secret_files(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    final = evidence.scan.filesystem.nodes
    for hit in evidence.scan.secrets:
        node = final.get(hit.path)
        kept = node is not None and node.layer == hit.layer
        where = (
            "in the image"
            if kept
            else f"in layer {hit.layer + 1} (deleted later, still in the image for anyone who "
            "pulls it)"
        )
        if hit.sample:
            # a test, documentation or example file: an illustration far more often than a
            # leak (scratchpack.secrets.is_sample_path), so information, not an error
            yield AuditFinding(
                meta.code,
                Severity.INFO,
                f"/{hit.path} holds {hit.what}, {where}, in a test, documentation or example "
                "path: probably a sample; revoke it if it is real",
                "/" + hit.path,
            )
            continue
        yield _finding(meta, f"/{hit.path} holds {hit.what}, {where}: revoke it", hit.path)


@check("SPI106", Severity.ERROR, "security", "A secret in the config or history",
       dockle="CIS-DI-0010")  # fmt: skip
def secret_config(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    for item in evidence.config.env:
        key, _, value = item.partition("=")
        what = secret_in_text(value)
        if what or (SECRET_NAME.search(key) and value and not key.endswith(("_FILE", "_PATH"))):
            yield _finding(
                meta,
                f"ENV {key} holds {what or 'a secret by its name'}: every pull of the image "
                "reveals it; inject it at run time",
            )
    for n, entry in enumerate(evidence.config.history):
        text = entry.created_by or ""
        what = secret_in_text(text)
        if what is None:
            # docker records build arguments as "|2 NAME=value NAME=value /bin/sh -c ..."
            for word in text.split():
                key, sep, value = word.partition("=")
                if sep and value and SECRET_NAME.search(key) and key.isupper():
                    what = f"the build argument {key}"
                    break
        if what:
            yield _finding(
                meta,
                f"history entry {n + 1} holds {what}: `docker history` shows it to everyone; "
                "use build secrets (RUN --mount=type=secret)",
            )


# (what, path prefix, file name test) of package caches people forget
_CACHES: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    ("apt lists", "var/lib/apt/lists/", lambda n: not n.endswith("/lock") and "/partial/" not in n),
    ("apt archives", "var/cache/apt/", lambda n: n.endswith((".deb", ".bin"))),
    ("apk cache", "var/cache/apk/", lambda n: True),
    ("pip cache", "root/.cache/pip/", lambda n: True),
    ("npm cache", "root/.npm/", lambda n: True),
    ("yarn cache", "usr/local/share/.cache/yarn/", lambda n: True),
    ("dnf/yum cache", "var/cache/dnf/", lambda n: True),
)


@check("SPI107", Severity.WARNING, "size", "Package manager caches left behind",
       dockle="DKL-DI-0005")  # fmt: skip
def package_caches(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    found: dict[str, list[int]] = {}
    fs = evidence.scan.filesystem
    for what, prefix, keep in _CACHES:
        for path, node in fs.find(("file",), under=prefix.rstrip("/")):
            if keep(path):
                found.setdefault(what, []).append(node.size)
    for path, node in fs.find(("file",), under="home"):
        if "/.cache/pip/" in path:
            found.setdefault("pip cache", []).append(node.size)
    for what, prefix, _ in _CACHES:
        sizes = found.get(what)
        if sizes:
            yield _finding(
                meta,
                f"{what}: {len(sizes)} files, {human_size(sum(sizes))} in /{prefix.rstrip('/')}; "
                "remove "
                "them in the RUN that made them",
                prefix.rstrip("/"),
            )


@check("SPI108", Severity.WARNING, "security", "Config files writable in a minimal image")
def writable_config(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    scan = evidence.scan
    uid, _ = run_user(evidence)
    if uid in (0, None) or shells(scan) or package_managers(scan):
        return  # root is reported by SPI100; a full OS image writes its /etc by design
    for path, node in _sorted_nodes(evidence, ("file",), under=("etc", "app", "config")):
        writable = (node.uid == uid and node.mode & stat.S_IWUSR) or node.mode & stat.S_IWOTH
        if writable:
            yield _finding(
                meta,
                f"/{path} (mode {(node.mode & 0o7777):04o}, owner {node.uid}) can be "
                f"rewritten by the user the image runs as (uid {uid}); make it root-owned 0444",
                path,
            )


@check("SPI109", Severity.WARNING, "size", "Files overwritten or deleted by a later layer")
def wasted_space(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    waste = [i for i in evidence.efficiency.inefficiencies if i.wasted_bytes > 0]
    if waste:
        top = ", ".join(f"/{i.path}" for i in waste[:3])
        wasted = human_size(evidence.efficiency.wasted_bytes)
        yield _finding(
            meta,
            f"{wasted} in {len(waste)} paths are stored more than "
            f"once or deleted by a later layer (largest: {top}); efficiency "
            f"{evidence.efficiency.score:.1%}. Remove files in the RUN that creates them",
        )


HOSTILE_SHOWN = 50


@check("SPI110", Severity.ERROR, "security", "Hostile or malformed tar members")
def hostile_members(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    scan = evidence.scan
    for hit in scan.hostile[:HOSTILE_SHOWN]:
        yield _finding(meta, f"layer {hit.layer + 1}: {hit.what}: {hit.name}")
    if scan.hostile_count > HOSTILE_SHOWN:
        yield _finding(
            meta, f"... and {scan.hostile_count - HOSTILE_SHOWN} more hostile tar members"
        )


@check("SPI111", Severity.WARNING, "security", "Device files in the image")
def device_files(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    devices = [(path, node.kind) for path, node in evidence.scan.filesystem.find(("char", "block"))]
    for path, kind in sorted(devices)[:HOSTILE_SHOWN]:
        yield _finding(meta, f"/{shown(path)} is a {kind} device node", path)
    if len(devices) > HOSTILE_SHOWN:
        yield _finding(meta, f"... and {len(devices) - HOSTILE_SHOWN} more device nodes")


# -- will it start? --------------------------------------------------------------------------


@check("SPI200", Severity.CRITICAL, "correctness", "The entrypoint is missing or not executable")
def entrypoint_missing(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    startup = evidence.startup
    if startup.kind in ("missing", "not-executable", "other"):
        yield _finding(meta, f"the image will not start: {startup.note}", startup.path)


@check(
    "SPI201", Severity.CRITICAL, "correctness", "The entrypoint's loader or libraries are missing"
)
def loader_missing(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    startup = evidence.startup
    if not startup.missing:
        return
    if startup.kind == "script":
        what = f"its #! interpreter {', '.join(startup.missing)} is not in the image"
    else:
        parts = []
        if startup.interpreter in startup.missing:
            parts.append(f"its dynamic loader {startup.interpreter}")
        libraries = [m for m in startup.missing if m != startup.interpreter]
        if libraries:
            parts.append(f"the libraries {', '.join(libraries)}")
        what = (
            f"/{startup.path} is dynamically linked and {' and '.join(parts)} "
            f"{'are' if len(parts) > 1 or len(libraries) > 1 else 'is'} not in the image"
        )
    yield _finding(
        meta,
        f'the image will not start: {what} ("no such file or directory" at run time). Build '
        "statically, or use a base that has them (distroless cc/base)",
        startup.path,
    )


@check("SPI202", Severity.ERROR, "correctness", "The user does not exist in the image")
def unknown_user(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    uid, how = run_user(evidence)
    if uid is None:
        yield _finding(
            meta,
            f'{how} is not in /etc/passwd: the runtime refuses to start ("unable to find '
            'user"); use a numeric uid or add the user',
        )


_CA_BUNDLES = (
    "etc/ssl/certs/ca-certificates.crt",
    "etc/pki/tls/certs/ca-bundle.crt",
    "etc/ssl/ca-bundle.pem",
    "etc/pki/tls/cacert.pem",
    "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "etc/ssl/cert.pem",
)


def has_ca_bundle(evidence: Evidence) -> bool:
    fs = evidence.scan.filesystem
    custom = env_value(evidence.config.env, "SSL_CERT_FILE")
    if custom and fs.exists(custom):
        return True
    return any(fs.exists(path) for path in _CA_BUNDLES)


@check("SPI203", Severity.WARNING, "correctness", "TLS code but no CA certificates")
def no_ca_bundle(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    if evidence.startup.uses_tls and not has_ca_bundle(evidence):
        yield _finding(
            meta,
            f"/{evidence.startup.path} contains TLS code but the image has no CA bundle "
            "(/etc/ssl/certs/ca-certificates.crt): every HTTPS call will fail with "
            '"certificate signed by unknown authority"',
            evidence.startup.path,
        )


# -- metadata --------------------------------------------------------------------------------


@check("SPI300", Severity.INFO, "maintainability", "No HEALTHCHECK", dockle="CIS-DI-0006")
def no_healthcheck(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    test = evidence.config.healthcheck_test
    if not test or test == ["NONE"]:
        yield _finding(
            meta,
            "no HEALTHCHECK: orchestrators without their own probes cannot tell a hung "
            "container from a healthy one",
        )


_WANTED_LABELS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
)


@check("SPI301", Severity.INFO, "maintainability", "Missing or latest-style labels")
def labels(evidence: Evidence, meta: Check) -> Iterator[AuditFinding]:
    present = evidence.config.labels
    missing = [label for label in _WANTED_LABELS if not present.get(label)]
    if missing:
        yield _finding(
            meta,
            f"missing labels {', '.join(missing)}: nobody can tell where this image came from",
        )
    version = present.get("org.opencontainers.image.version", "")
    if version.lower() in ("latest", "main", "master", "dev", "snapshot"):
        yield _finding(meta, f"org.opencontainers.image.version is {version!r}: not a version")


def run_checks(evidence: Evidence) -> list[AuditFinding]:
    found: list[AuditFinding] = []
    for meta in CHECKS.values():
        found.extend(meta.run(evidence))
    found.sort(key=lambda f: (-f.severity, f.code, f.path or ""))
    return found
