"""The pieces the rules' documented examples share: base images pinned by digest, the
tail that makes a final stage pass the rules it is not about. One spelling for all, so
an example shows only what its rule is about, and a bad example fires its rule for that
alone (the tests lint every example). Imports nothing: every family may import it.
"""

SAFE_TAIL = "USER 65532:65532\nWORKDIR /app\n"
SCRATCH_TAIL = (
    "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n"
    "COPY --from=build --chmod=1777 /tmp /tmp\n" + SAFE_TAIL
)
GO = "golang:1.23@sha256:" + "d" * 64
RUST = "rust:1.83@sha256:" + "e" * 64
GCC = "gcc:14@sha256:" + "f" * 64
PINNED = "debian:12-slim@sha256:" + "a" * 64
# the download of the checkup example (a release tarball of a health-check tool)
CHECKUP = "https://github.com/sourcegraph/checkup/releases/download/v1.0.0/checkup_linux_amd64.tgz"
NODE = "node:22-slim@sha256:" + "9" * 64
ALPINE = "alpine:3.21@sha256:" + "8" * 64
PYTHON = "python:3.13-slim@sha256:" + "7" * 64
RUBY = "ruby:3.3-slim@sha256:" + "6" * 64
ROCKY = "rockylinux:9@sha256:" + "5" * 64
SUSE = "opensuse/leap:15.6@sha256:" + "4" * 64
