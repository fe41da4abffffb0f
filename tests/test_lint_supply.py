"""Issue 15 item 6: lint knows what the articles teach about downloads and scratch. SP409, a
download unpacked, run or installed with no checksum check in the same RUN (and SP401/SP405
beside it for a pipe into a shell and ``ADD URL``); SP504, a program that links glibc
dynamically copied into scratch, only where the Dockerfile itself says so. Each case fires or
does not, at the exact place; the checkup example is built and run on the real dockerd."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_cli
from realtools import Runner
from scratchpack.dockerfile.config import LintConfig
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.ruledocs import DOCS
from scratchpack.dockerfile.rules import Finding
from scratchpack.operations.lint import lint_dockerfile

PINNED = "debian:12-slim@sha256:" + "a" * 64
HEAD = f"FROM {PINNED}\n"
NO_SC = LintConfig(shellcheck=False)


def findings(text: str, code: str) -> list[Finding]:
    return [f for f in lint_dockerfile(parse(text), config=NO_SC) if f.code == code]


def places(text: str, code: str) -> list[tuple[int, int]]:
    return [(f.line, f.column) for f in findings(text, code)]


# -- SP409 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "column", "words"),
    [
        ("curl -Lo /tmp/x.tgz https://e.com/x.tgz && tar xzf /tmp/x.tgz", 5, "tar unpacks it"),
        ("wget https://e.com/x.tgz -O- | tar xz", 5, "tar unpacks the download as it arrives"),
        ("curl -fsSL https://e.com/x.tar.gz | tar -xz -C /opt", 5, "| tar"),
        ("cd /tmp && curl -fsSLO https://e.com/t-1.0.tar.gz && tar -xf t-1.0.tar.gz", 16,
         "downloads t-1.0.tar.gz"),
        ("wget -q https://e.com/t.zip && unzip t.zip", 5, "unzip unpacks it"),
        ("curl -fsSL -o /usr/local/bin/kubectl https://dl.k8s.io/kubectl"
         " && chmod +x /usr/local/bin/kubectl", 5, "chmod makes it executable"),
        ("curl -o app.deb https://e.com/app.deb && dpkg -i app.deb", 5, "dpkg installs it"),
        ("curl --output=/i.sh https://e.com/i.sh; sh /i.sh", 5, "sh runs it"),
        ("wget --output-document /usr/bin/tool https://e.com/tool && tool --version", 5,
         "tool runs it"),
        ("curl -fsSL https://e.com/get.py | python3", 5, "python3 runs the download"),
    ],
)  # fmt: skip
def test_unverified_download_fires_at_the_download(run: str, column: int, words: str) -> None:
    found = findings(f"{HEAD}RUN {run}\n", "SP409")
    assert [(f.line, f.column) for f in found] == [(2, column)]
    assert words in found[0].message


@pytest.mark.parametrize(
    "run",
    [
        'curl -Lo /tmp/x.tgz https://e.com/x.tgz && echo "$SHA  /tmp/x.tgz" | sha256sum -c - '
        "&& tar xzf /tmp/x.tgz",
        "curl -Lo x.tgz https://e.com/x.tgz && sha512sum -c x.tgz.sha512 && tar xf x.tgz",
        "curl -o k.asc https://e.com/k.asc && curl -o x.tgz https://e.com/x.tgz "
        "&& gpg --verify k.asc x.tgz && tar xf x.tgz",
        "curl -o x https://e.com/x && cosign verify-blob --key k.pub --signature x.sig x && ./x",
        'curl -o x.tgz https://e.com/x.tgz && sha256sum -c <<< "$SHA  x.tgz" && tar xf x.tgz',
        "curl -fsSL https://e.com/x.json -o x.json && cat x.json",  # read, not used as code
        "curl -fsSL https://e.com/x.tgz -o x.tgz",  # unpacked in a later RUN: not judged
        "wget -qO- https://e.com/x.sh | sh",  # SP401's
        "curl https://e.com/health",  # to standard output, into nothing
        "tar xf /src/local.tgz",
    ],
)
def test_verified_or_unused_downloads_do_not_fire(run: str) -> None:
    assert findings(f"{HEAD}RUN {run}\n", "SP409") == []


def test_download_in_a_heredoc_onbuild_and_continuation() -> None:
    heredoc = (
        f"{HEAD}RUN <<EOF\nset -e\ncurl -fsSLo /tmp/x.tgz https://e.com/x.tgz\n"
        f"tar xf /tmp/x.tgz\nEOF\n"
    )
    assert places(heredoc, "SP409") == [(4, 1)]
    onbuild = f"{HEAD}ONBUILD RUN wget https://e.com/t.tgz && tar xf t.tgz\n"
    assert places(onbuild, "SP409") == [(2, 13)]
    continued = (
        f"{HEAD}RUN set -e \\\n    && curl -fsSLo /x.tgz https://e.com/x.tgz \\\n"
        f"    && tar xf /x.tgz\n"
    )
    assert places(continued, "SP409") == [(3, 8)]
    # hadolint's and scratchpack's pragmas apply
    assert (
        findings(
            f"{HEAD}# scratchpack ignore=SP409\nRUN wget https://e.com/t.tgz && tar xf t.tgz\n",
            "SP409",
        )
        == []
    )


def test_add_url_without_checksum_is_sp405() -> None:
    assert places(f"{HEAD}ADD https://e.com/x.tgz /tmp/\n", "SP405") == [(2, 5)]
    good = f"{HEAD}ADD --checksum=sha256:{'c' * 64} https://e.com/x.tgz /tmp/\n"
    assert findings(good, "SP405") == []


# -- SP504 --------------------------------------------------------------------------------------

TAIL = 'USER 65532\nENTRYPOINT ["/app"]\n'


@pytest.mark.parametrize(
    ("text", "place", "evidence"),
    [
        (f"FROM {PINNED} AS build\nRUN apt-get update && apt-get install -y curl\nFROM scratch\n"
         f"COPY --from=build /usr/bin/curl /app\n{TAIL}", (4, 19),
         f"/usr/bin/curl is a program of {PINNED}, a glibc image"),
        (f"FROM scratch\nCOPY --from=ubuntu:24.04 /bin/ls /app\n{TAIL}", (2, 26),
         "/bin/ls is a program of ubuntu:24.04"),
        (f"FROM gcc:14 AS build\nCOPY . /src\nRUN cd /src && make && cp app /app\nFROM scratch\n"
         f"COPY --from=build /app /app\n{TAIL}", (5, 19),
         "make builds it in a stage FROM gcc:14 (glibc)"),
        (f"FROM python:3.12 AS base\nFROM base AS tools\nRUN pip install x\nFROM scratch\n"
         f"COPY --from=tools /usr/local/bin/python3 /usr/bin/env /app\n{TAIL}", (5, 42),
         "/usr/bin/env is a program of python:3.12"),
    ],
)  # fmt: skip
def test_dynamic_program_into_scratch_fires_with_its_evidence(
    text: str, place: tuple[int, int], evidence: str
) -> None:
    found = findings(text, "SP504")
    assert [(f.line, f.column) for f in found] == [place]
    assert evidence in found[0].message and "scratch has no loader" in found[0].message


@pytest.mark.parametrize(
    "text",
    [
        # a static hint anywhere in the stage
        f"FROM {PINNED} AS b\nRUN apt-get update && apt-get install -y busybox-static\n"
        f"FROM scratch\nCOPY --from=b /bin/busybox /app\n{TAIL}",
        f"FROM gcc:14 AS b\nRUN make LDFLAGS=-static\nFROM scratch\n"
        f"COPY --from=b /src/app /app\n{TAIL}",
        f"FROM gcc:14 AS b\nENV CGO_ENABLED=0\nRUN make\nFROM scratch\n"
        f"COPY --from=b /app /app\n{TAIL}",
        # a musl or unknown base
        f"FROM alpine:3.20 AS b\nRUN apk add curl\nFROM scratch\n"
        f"COPY --from=b /usr/bin/curl /app\n{TAIL}",
        f"FROM rust:1.83-alpine AS b\nRUN make\nFROM scratch\nCOPY --from=b /app /app\n{TAIL}",
        f"FROM example.com/builder:1 AS b\nRUN make\nFROM scratch\nCOPY --from=b /app /app\n{TAIL}",
        # the final stage has glibc, or brings the loader and libraries
        f"FROM {PINNED} AS b\nRUN apt-get install -y curl\nFROM gcr.io/distroless/cc\n"
        f"COPY --from=b /usr/bin/curl /app\n{TAIL}",
        f"FROM {PINNED} AS b\nRUN apt-get install -y curl\nFROM scratch\n"
        "COPY --from=b /lib/x86_64-linux-gnu /lib/x86_64-linux-gnu\n"
        "COPY --from=b /lib64/ld-linux-x86-64.so.2 /lib64/\n"
        f"COPY --from=b /usr/bin/curl /app\n{TAIL}",
        # the build wrote the path itself (a download, a Go build: others' business)
        f"FROM {PINNED} AS b\nRUN curl -fsSLo /usr/local/bin/app https://e.com/app\nFROM scratch\n"
        f"COPY --from=b /usr/local/bin/app /app\n{TAIL}",
        f"FROM {PINNED} AS b\nRUN cp /src/app /usr/bin/app\nFROM scratch\n"
        f"COPY --from=b /usr/bin/app /app\n{TAIL}",
        f"FROM golang:1.23 AS b\nRUN go build -o /usr/bin/app .\nFROM scratch\n"
        f"COPY --from=b /usr/bin/app /app\n{TAIL}",
        # data, not programs
        f"FROM {PINNED} AS b\nRUN apt-get install -y ca-certificates\nFROM scratch\n"
        f"COPY --from=b /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n{TAIL}",
    ],
)
def test_dynamic_program_into_scratch_is_conservative(text: str) -> None:
    assert findings(text, "SP504") == []


def test_go_build_into_scratch_stays_sp500() -> None:
    text = (
        f"FROM golang:1.23 AS b\nRUN go build -o /app .\nFROM scratch\n"
        f"COPY --from=b /app /app\n{TAIL}"
    )
    codes = {f.code for f in lint_dockerfile(parse(text), config=NO_SC)}
    assert "SP500" in codes and "SP504" not in codes


# -- the checkup example, on the real dockerd ----------------------------------------------------


def test_checkup_example_cli_and_explain(tmp_path: Path) -> None:
    """The articles' checkup example (a release tarball fetched and unpacked in one RUN): lint
    names the download, its line and column, in every format; --explain describes SP409."""
    (tmp_path / "Dockerfile").write_text(DOCS["SP409"].bad)
    (tmp_path / ".dockerignore").write_text(".git\n")
    result = run_cli("lint", "--no-shellcheck", "-f", "json", "Dockerfile", cwd=tmp_path)
    found = [f for f in result.json() if f["code"] == "SP409"]
    assert [(f["line"], f["column"], f["category"]) for f in found] == [(2, 5, "security")]
    assert "/tmp/checkup.tgz" in found[0]["message"]
    assert result.code == 1
    (tmp_path / "Dockerfile").write_text(DOCS["SP409"].good)
    good = run_cli("lint", "--no-shellcheck", "-f", "json", "Dockerfile", cwd=tmp_path)
    assert "SP409" not in {f["code"] for f in good.json()}
    explained = run_cli("lint", "--explain", "SP409")
    assert "checksum" in explained.stdout and explained.code == 0


def test_sp504_is_right_on_the_real_engine(
    docker: Runner, debian_docker: str, tmp_path: Path
) -> None:
    """What SP504 reports does fail in scratch ("no such file or directory"), and the same
    program with its loader and libraries copied starts: both built with the real docker
    (legacy builder) from the local Debian image, and run."""
    for name, extra, starts in (
        ("dynamic", "", False),
        ("with-libraries", "COPY --from=build /lib /lib\nCOPY --from=build /lib64 /lib64\n", True),
    ):  # fmt: skip
        dockerfile = (
            f"FROM {debian_docker} AS build\nFROM scratch\nCOPY --from=build /bin/true /true\n"
            f'{extra}USER 65532\nENTRYPOINT ["/true"]\n'
        )
        codes = {f.code for f in lint_dockerfile(parse(dockerfile), config=NO_SC)}
        assert ("SP504" in codes) is not starts, (name, codes)
        ctx = tmp_path / name
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(dockerfile)
        tag = f"scratchpack-test/sp504-{name}:1"
        docker("build", "-q", "--no-cache", "-t", tag, str(ctx), timeout=300)
        try:
            ran = docker("run", "--rm", tag, check=False, timeout=120)
        finally:
            docker("rmi", "-f", tag, check=False)
        assert (ran.returncode == 0) is starts, (name, ran.returncode, ran.stderr)
        if not starts:
            assert b"no such file or directory" in ran.stderr
