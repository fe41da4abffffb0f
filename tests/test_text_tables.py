"""Text output that fits the terminal (issue 14 item 9): audit, inspect and compare.

The real CLI on real images (one built by docker's legacy builder, with a build argument and
a long RUN, saved with ``docker save``; one packed by us) at ``COLUMNS=80`` and ``200``: no
line wider than the width, digests and image names whole on one line, created-by without the
builder's noise and with its end kept behind an ellipsis, one size format, and counts that add
up to the image's file count.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import CliResult, Examples, run_cli
from realtools import Runner
from scratchpack.cli.tables import ELLIPSIS, created_by, fit_end

END = "this-is-the-informative-end-xyz"
DOCKERFILE = f"""\
FROM {{base}}
ARG FLAVOUR=plain
RUN mkdir -p /srv/data/a /srv/data/b && for n in 1 2 3; do echo $n > /srv/data/a/f$n; done \\
 && echo "$FLAVOUR" > /srv/data/b/flavour && head -c 100000 /dev/zero > /srv/data/b/zeros \\
 && echo a-long-command-that-goes-on-and-on > /srv/note && echo {END} > /srv/end
RUN rm /srv/data/a/f1
CMD ["bash"]
"""
SIZE = re.compile(r"\b\d+(?:\.\d+)? ?(?:B|kB|MB|GB|bytes|KiB|MiB|GiB)\b")
HUMAN = re.compile(r"^(?:\d+ B|\d+\.\d (?:kB|MB|GB))$")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def built_archive(
    docker: Runner, debian_docker: str, tmp_path_factory: pytest.TempPathFactory
) -> str:
    context = tmp_path_factory.mktemp("tables")
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=debian_docker))
    tag = f"scratchpack-test/tables:{context.name}"
    docker("build", "-q", "--network", "none", "-t", tag, str(context), timeout=600)
    archive = context / "image.tar"
    try:
        docker("save", "-o", str(archive), tag)
    finally:
        docker("rmi", tag, check=False)
    return f"docker-archive:{archive}"


def at(width: int, *args: str | Path) -> CliResult:
    result = run_cli(*args, env={"COLUMNS": str(width)})
    assert result.code in (0, 1), result.stderr
    return result


def assert_fits(text: str, width: int) -> None:
    """No line wider than the width, except one that holds a single word wider than the width
    by itself (an image name of a long temporary path: names are never cut), alone on it."""
    for line in text.splitlines():
        if len(line) > width:
            assert len(line.split()) == 1 and len(line.strip()) > width, (len(line), line)


def assert_one_size_format(text: str) -> None:
    sizes = SIZE.findall(text)
    assert sizes, text
    bad = [s for s in sizes if not HUMAN.match(s)]
    assert not bad, bad


def test_audit_text_fits_and_adds_up(built_archive: str) -> None:
    report = run_cli("audit", built_archive, "--format", "json").json()
    digests = {report["digest"], report["image_id"]}
    for width in (80, 200):
        text = at(width, "audit", built_archive, "--top", "4").stdout
        assert_fits(text, width)
        assert_one_size_format(text)
        for digest in digests:  # whole, on one line
            assert any(digest in line for line in text.splitlines()), (digest, text)
        assert len(DIGEST.findall(text)) == 2
        assert "#(nop)" not in text and "/bin/sh -c" not in text and "|1 " not in text
        assert "FLAVOUR=plain" not in text  # the build argument prefix is gone
        run_line = next(line for line in text.splitlines() if END in line)
        assert "RUN " in run_line
        if width == 80:
            assert ELLIPSIS in run_line  # shortened at the start, its end kept
        else:
            assert "RUN mkdir -p /srv/data/a" in run_line or ELLIPSIS in run_line
        assert "largest directories" in text
        dirs = text[text.index("largest directories") :].splitlines()
        assert sum(1 for line in dirs[:12] if re.search(r"│ /\S*\s*│$", line)) == 4
    # the counts: every layer's +files minus -files add up to the image's files
    layers = report["layers"]
    assert (
        sum(ly["added"] for ly in layers) - sum(ly["removed"] for ly in layers)
        == (report["size"]["files"])
    )
    assert layers[-1]["removed"] == 1 and layers[-1]["added"] == 0  # rm /srv/data/a/f1
    assert layers[-2]["added"] == 7  # f1 f2 f3, flavour, zeros, note, end: no directories
    text = at(200, "audit", built_archive).stdout
    assert f"{report['size']['files']} files" in text
    rows = [line for line in text.splitlines() if re.match(r"^│ \d+ │", line)]
    assert len(rows) == len(layers)
    added = [int(cells.split("│")[4]) for cells in rows]
    removed = [int(cells.split("│")[6]) for cells in rows]
    assert sum(added) - sum(removed) == report["size"]["files"]


def test_inspect_and_compare_text_fit(
    built_archive: str, examples: Examples, tmp_path: Path
) -> None:
    packed = f"oci:{tmp_path / 'packed'}:v1"
    assert run_cli("pack", examples.hello, "-o", packed).code == 0
    layer_digests = [la["digest"] for la in run_cli("inspect", built_archive, "--format",
                                                       "json").json()["layers"]]  # fmt: skip
    for width in (80, 200):
        text = at(width, "inspect", built_archive).stdout
        assert_fits(text, width)
        assert_one_size_format(text)
        for digest in layer_digests:
            assert any(digest in line for line in text.splitlines()), digest
        assert "#(nop)" not in text and "/bin/sh -c" not in text
        compared = at(width, "compare", built_archive, packed).stdout
        assert_fits(compared, width)
        assert_one_size_format(compared.split("* estimated")[0])
        for name in (built_archive, packed):
            assert any(name in line for line in compared.splitlines()), (name, compared)


def test_findings_fold_at_spaces_and_sizes_are_human(built_archive: str) -> None:
    report = run_cli("audit", built_archive, "--format", "json").json()
    text = at(80, "audit", built_archive).stdout
    words = " ".join(text.split())
    for finding in report["findings"]:
        assert " ".join(finding["message"].split()) in words  # folded, never cut
    waste = [f for f in report["findings"] if f["code"] == "SPI109"]
    assert not waste or re.match(r"^\d+(\.\d)? [kMG]?B in ", waste[0]["message"])
    assert report["efficiency"]["wasted_bytes"] >= 0  # exact bytes stay in JSON


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('/bin/sh -c #(nop)  CMD ["bash"]', 'CMD ["bash"]'),
        ("/bin/sh -c #(nop) COPY file:abc in /usr/bin/x ", "COPY file:abc in /usr/bin/x"),
        ("|2 A=1 B=two words /bin/sh -c apt-get update", "RUN apt-get update"),
        ("/bin/sh -c apt-get update \t&&  \n apt-get install -y x",
         "RUN apt-get update && apt-get install -y x"),
        ("RUN /bin/sh -c make # buildkit", "RUN make"),
        ("RUN |1 V=1 /bin/sh -c make # buildkit", "RUN make"),
        ("COPY . /src # buildkit", "COPY . /src"),
        ("scratchpack pack: app -> /bin/app", "scratchpack pack: app -> /bin/app"),
        ("", ""),
    ],
)  # fmt: skip
def test_created_by_drops_the_builders_noise(raw: str, clean: str) -> None:
    assert created_by(raw) == clean


def test_fit_end_keeps_the_instruction_and_the_end() -> None:
    command = "RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /x"
    assert fit_end(command, 200) == command
    short = fit_end(command, 40)
    assert len(short) <= 40 and short.startswith("RUN …") and short.endswith("rm -rf /x")
    assert fit_end("/a/very/long/path/to/some/file.txt", 16) == "…/some/file.txt"
    assert all(len(fit_end(command, n)) <= n for n in range(0, 90))
    assert fit_end("x" * 50, 1) == "…" and fit_end("abc", 0) == ""


def on_a_pty(columns: int, *args: str) -> str:
    """The CLI's output on a real pseudo-terminal ``columns`` wide, COLUMNS unset (rich styles
    it; the escapes are dropped here)."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "scratchpack", *args], stdout=slave,
                            stderr=slave, stdin=subprocess.DEVNULL, env=env)  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=300) in (0, 1)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", text)


def test_a_terminal_sets_the_width(built_archive: str) -> None:
    report = run_cli("audit", built_archive, "--format", "json").json()
    for columns in (72, 130):
        text = on_a_pty(columns, "audit", built_archive)
        assert "findings:" in text, text
        assert_fits(text, columns)
        assert any(report["digest"] in line for line in text.splitlines())
        assert any(END in line for line in text.splitlines())


def test_a_line_break_in_a_file_name_stays_inside_its_row(tmp_path: Path) -> None:
    """A layer's file names are other people's strings: one holding line feeds (and a CI
    workflow command after each) is one row of the table, its breaks written as ``\\n``;
    no line of the text output starts with the workflow command."""
    from hostile import member, put_blob, write_layout

    names = ["app/x\n::error file=a::injected\n", "app/k\n::warning::key"]
    layer = member("app/", kind=b"5", mode=0o755)
    layer += b"".join(member(name, b"A" * (200_000 * (n + 1))) for n, name in enumerate(names))
    blob = put_blob(tmp_path, layer + b"\0" * 1024)
    config = {"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/app/k"]},
              "rootfs": {"type": "layers", "diff_ids": [blob["digest"]]}}  # fmt: skip
    media = "application/vnd.oci.image.layer.v1.tar"
    image = write_layout(tmp_path, [{"mediaType": media, **blob}], json.dumps(config).encode())
    result = run_cli("audit", image, env={"COLUMNS": "120"})
    assert result.code in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("::")], result.stdout
    rows = [line for line in lines if "/app/x" in line or "/app/k" in line]
    assert any("/app/x\\n::error file=a::injected\\n" in line for line in rows), rows
    assert any("/app/k\\n::warning::key" in line for line in rows), rows
