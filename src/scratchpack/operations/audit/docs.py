"""Why each audit check matters and how to fix what it finds.

One source for ``docs/rules/SPIxxx.md`` (``scripts/gen-rule-docs``), the SARIF rule help, and
``scratchpack audit --explain CODE``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DOCS", "render_index", "render_page"]


@dataclass(frozen=True)
class CheckDoc:
    why: str
    fix: str


DOCS: dict[str, CheckDoc] = {
    "SPI100": CheckDoc(
        why="A process running as root in the container is root on its file system and one "
        "kernel or runtime bug away from root on the host. An image without `USER` runs as root.",
        fix="Add `USER 65532:65532` (or a user from the image's `/etc/passwd`) to the final "
        "stage; `scratchpack pack` images run as 65532 by default.",
    ),
    "SPI101": CheckDoc(
        why="A shell turns any code-execution bug into an interactive foothold, and lets "
        "`docker exec` users do anything. A static binary needs no shell at run time.",
        fix="Build `FROM scratch` or a distroless base; keep a shell only in a separate `debug` "
        "target.",
    ),
    "SPI102": CheckDoc(
        why="With a package manager in the image an intruder installs whatever tools they "
        "need, and the image carries the package database and keyrings too.",
        fix="Install packages in a build stage and copy only the results into a final stage "
        "that has no package manager.",
    ),
    "SPI103": CheckDoc(
        why="A setuid or setgid binary runs with its owner's rights whoever starts it: the "
        "classic way from an unprivileged process to root (CIS Docker 4.8).",
        fix="`chmod u-s,g-s` the files in the Dockerfile, or run with "
        "`--security-opt no-new-privileges`; better, ship none.",
    ),
    "SPI104": CheckDoc(
        why="A world-writable file or directory lets any process in the container change "
        "what others read or execute. Only sticky directories like `/tmp` (1777) are safe.",
        fix="`chmod o-w` the path, or make a shared directory sticky (`chmod 1777`).",
    ),
    "SPI105": CheckDoc(
        why="Anything in a layer can be read by everyone who can pull the image, even when a "
        "later layer deletes it: private keys, cloud keys, tokens, `.npmrc`/`.pypirc` with "
        "credentials, `.env` files, `.git` directories (CIS Docker 4.10). Tokens are matched "
        "by their vendors' formats with an entropy floor (placeholders such as "
        "`AKIAIOSFODNN7EXAMPLE` are not findings); a hit under a test, test-data, "
        "documentation or example path (`testdata/`, `*_test.go`, `/usr/share/doc/`, "
        "`examples/`) is reported as info: usually a sample. `--no-secrets` skips the search.",
        fix="Revoke the secret first. Then pass secrets with `RUN --mount=type=secret`, add "
        "the files to `.dockerignore`, and rebuild from a clean history.",
    ),
    "SPI106": CheckDoc(
        why="`ENV` values are in the image config and build arguments are in its history: "
        "`docker inspect` and `docker history` show them to anyone who pulls the image.",
        fix="Revoke the secret; inject it at run time (environment, mounted file, secret "
        "store) or use `RUN --mount=type=secret` during the build.",
    ),
    "SPI107": CheckDoc(
        why="apt lists, `.deb` archives, apk, pip and npm caches are needed only while "
        "installing; left in the image they cost megabytes in every pull.",
        fix="Remove them in the same `RUN` that creates them (`rm -rf /var/lib/apt/lists/*`, "
        "`apk add --no-cache`, `pip install --no-cache-dir`), or use a cache mount.",
    ),
    "SPI108": CheckDoc(
        why="In a minimal image the configuration is part of the release: if the runtime "
        "user can rewrite it, a compromised process can persist itself or change its own "
        "behaviour.",
        fix="Copy configuration root-owned and read-only (`COPY --chmod=0444`), and run with "
        "a read-only root file system.",
    ),
    "SPI109": CheckDoc(
        why="A file written in one layer and deleted or overwritten in a later one is still "
        "stored, pulled and unpacked: the deletion only hides it. dive calls this wasted space.",
        fix="Create and remove temporary files in the same `RUN`, or build in a separate stage "
        "and copy only the result.",
    ),
    "SPI110": CheckDoc(
        why="A layer whose tar names paths outside the image root (`../`, absolute names), "
        "writes through a symbolic link, hard-links a file no layer has put there, or carries "
        "names no file system takes (NUL bytes, longer than PATH_MAX, more than 128 "
        "components), negative modes or unknown member types was crafted or broken: an "
        "extractor less careful than the engines writes outside the root or over the host. "
        "scratchpack never extracts and skips such members; the audit shows them.",
        fix="Do not run or rebuild on the image; find out who made it. A build tool that writes "
        "such tars is broken: use one that writes plain relative paths.",
    ),
    "SPI111": CheckDoc(
        why="Device nodes in an image (`/dev/mem`, disks) give whoever runs it access to "
        "hardware if the runtime honours them; the engines create `/dev` at start, so an "
        "image never needs its own.",
        fix="Remove the device files from the layers (they usually come from copying a host "
        "`/dev` into the build).",
    ),
    "SPI200": CheckDoc(
        why="If the `ENTRYPOINT`/`CMD` program is not in the image, or has no execute "
        "permission, the container fails at start with `no such file or directory` or "
        "`permission denied`.",
        fix="Copy the binary to the path the entrypoint names and make it executable "
        "(`COPY --chmod=0555`).",
    ),
    "SPI201": CheckDoc(
        why="A dynamically linked binary needs its loader (e.g. `/lib64/ld-linux-x86-64.so.2`) "
        "and its shared libraries at start. In a scratch image they are missing and the kernel "
        "reports `no such file or directory` for a file that is plainly there.",
        fix="Build statically (Go: `CGO_ENABLED=0`; Rust: `-C target-feature=+crt-static` or "
        "a musl target; C: `-static`) or use a base that provides the libraries (distroless "
        "`cc`/`base`, `scratchpack build --preset cc`).",
    ),
    "SPI202": CheckDoc(
        why="A `USER` name must resolve through the image's `/etc/passwd`; when it does not, "
        "the runtime refuses to start the container (`unable to find user`).",
        fix="Use a numeric `USER 65532:65532`, or add the user to `/etc/passwd` and `/etc/group`.",
    ),
    "SPI203": CheckDoc(
        why="A binary that speaks TLS verifies servers against the system CA bundle. Without "
        "`/etc/ssl/certs/ca-certificates.crt` every HTTPS call fails with `certificate signed "
        "by unknown authority`.",
        fix="Copy the CA bundle from a build stage (`COPY --from=build "
        "/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/`); `scratchpack pack` adds it.",
    ),
    "SPI300": CheckDoc(
        why="Without a `HEALTHCHECK` (or an orchestrator probe) a hung process looks healthy "
        "(CIS Docker 4.6).",
        fix='Add `HEALTHCHECK CMD ["/app", "-healthcheck"]`, or configure probes in the '
        "orchestrator and ignore this check. The same check on the Dockerfile is lint's SP610 "
        "(hadolint's DL3057), off by default.",
    ),
    "SPI301": CheckDoc(
        why="`org.opencontainers.image.source`, `.version` and `.revision` tell operators and "
        "scanners where an image comes from; a version of `latest` tells them nothing.",
        fix="Set the labels at build time (`--label org.opencontainers.image.revision=$SHA`, "
        "or `scratchpack pack --label`).",
    ),
}


def render_page(code: str) -> str:
    from scratchpack.operations.audit.checks import CHECKS

    meta, doc = CHECKS[code], DOCS[code]
    return (
        f"# {code}: {meta.title}\n\n"
        f"Severity: **{meta.severity}** · Category: **{meta.category}** · "
        f"Equivalent: {meta.dockle or 'none'}\n\n"
        f"Reported by `scratchpack audit` on a built image.\n\n"
        f"## Why it matters\n\n{doc.why}\n\n"
        f"## Fix\n\n{doc.fix}\n"
    )


def render_index() -> str:
    from scratchpack.operations.audit.checks import CHECKS

    rows = "\n".join(
        f"| [{code}]({code}.md) | {meta.severity} | {meta.category} | {meta.title} | "
        f"{meta.dockle or '-'} |"
        for code, meta in sorted(CHECKS.items())
    )
    return (
        "\n## Audit checks\n\nReported by `scratchpack audit` on built images.\n\n"
        "| code | severity | category | check | dockle / CIS |\n|---|---|---|---|---|\n"
        + rows
        + "\n"
    )
