"""Foreign strings in our text output are shown, never obeyed by the terminal (cli/visible.py).

Found by the session-8 red team: an image whose config ``User`` was
``"\\x1b[31mroot\\x1b]0;pwned\\x07"`` had its escape sequences written raw by ``inspect``,
``audit`` and ``compare`` (and a Dockerfile's by ``lint``): a terminal obeys them, so an image
could erase or hide the findings printed above it, or retitle the window.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import hostile
from helpers import layout_manifest, run_cli
from scratchpack.cli import visible

HOSTILE = "\x1b[2K\x1b[1A\x1b]0;pwned\x07\r\x7f\u009b31m"
SHOWN = "\\x1b[2K\\x1b[1A\\x1b]0;pwned\\x07\\x0d\\u007f\\u009b31m"
# what no text stream of ours may carry: every C0 control but tab and line feed, DEL, C1
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _with_config(layout: Path, dest: Path, hostile: str = HOSTILE) -> str:
    """A copy of ``layout`` whose image has ``hostile`` in its user, a label and an env value."""
    shutil.copytree(layout, dest)
    manifest = layout_manifest(dest, "v1")
    blobs = dest / "blobs" / "sha256"
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    config["config"]["User"] = hostile
    config["config"]["Labels"] = {"note": hostile}
    config["config"]["Env"] = [*config["config"].get("Env", []), f"NOTE={hostile}"]

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    config_bytes = json.dumps(config).encode()
    manifest["config"] = {**manifest["config"], "digest": put(config_bytes),
                          "size": len(config_bytes)}  # fmt: skip
    manifest_bytes = json.dumps(manifest).encode()
    entry = {"mediaType": manifest["mediaType"], "digest": put(manifest_bytes),
             "size": len(manifest_bytes),
             "annotations": {"org.opencontainers.image.ref.name": "v1"}}  # fmt: skip
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return f"oci:{dest}:v1"


@pytest.mark.parametrize("command", ["inspect", "audit", "compare"])
def test_an_images_strings_are_shown_not_obeyed(layout: Path, tmp_path: Path, command: str) -> None:
    image = _with_config(layout, tmp_path / "hostile")
    args = [command, image] + ([f"oci:{layout}:v1"] if command == "compare" else [])
    result = run_cli(*args)
    assert result.code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    for stream in (result.stdout, result.stderr):
        assert not CONTROL.search(stream), repr(CONTROL.findall(stream))
    assert "\\x1b[2K" in result.stdout, result.stdout  # (compare's table may fold the rest)


def test_json_keeps_the_strings_exactly(layout: Path, tmp_path: Path) -> None:
    """The escapes are for terminals: JSON decodes to the image's own string."""
    image = _with_config(layout, tmp_path / "hostile")
    result = run_cli("inspect", image, "--format", "json")
    assert result.code == 0, result.stderr
    assert json.dumps(HOSTILE)[1:-1] in json.dumps(result.json())


def test_a_dockerfiles_escapes_are_shown_not_obeyed(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM scratch\nUSER {HOSTILE.replace(chr(13), '')}x\n")
    result = run_cli("lint", "--no-shellcheck", dockerfile)
    assert result.code in (0, 1), result.stderr
    assert not CONTROL.search(result.stdout + result.stderr), result.stdout
    assert "USER \\x1b[2K" in result.stdout


def test_the_stream_and_the_console() -> None:
    """Off a terminal the stream escapes; on one, rich's own styles stay and the text's go."""
    assert visible.visible(HOSTILE) == SHOWN
    assert visible.visible("a\tb\nc") == "a\tb\nc"
    inner = io.StringIO()
    stream = visible.VisibleStream(inner)
    print("user", HOSTILE, file=stream)
    assert inner.getvalue() == f"user {SHOWN}\n"
    assert visible.raw(stream) is inner  # type: ignore[arg-type]

    from rich.text import Text

    console = visible.console(stream, force_terminal=True, width=200)  # type: ignore[arg-type]
    console.print(Text.assemble(("user", "bold"), " ", HOSTILE))
    written = inner.getvalue().split("\n")[1]
    assert written.startswith("\x1b[1muser\x1b[0m ")  # rich's bold, written raw
    assert "\\x1b[2K\\x1b[1A\\x1b]0;pwned" in written  # the image's, shown
    assert "pwned\x07" not in written and "\x1b[2K" not in written


INJECTED = "ok\n::error::pwned\n::add-mask::x"


@pytest.mark.parametrize("command", ["inspect", "audit", "compare"])
def test_a_line_feed_in_an_images_string_starts_no_log_line(
    layout: Path, tmp_path: Path, command: str
) -> None:
    """A CI runner reads a log line that starts with ``::`` as a workflow command: a line
    feed inside an image's string must not start one (it is shown as ``\\n``)."""
    image = _with_config(layout, tmp_path / "hostile", INJECTED)
    args = [command, image] + ([f"oci:{layout}:v1"] if command == "compare" else [])
    result = run_cli(*args)
    assert result.code in (0, 1), result.stderr
    for stream in (result.stdout, result.stderr):
        started = [line for line in stream.splitlines() if line.lstrip().startswith("::")]
        assert not started, started


def _with_hostile_names(directory: Path) -> str:
    """An image whose layer holds files (one large, one executable, one a would-be secret)
    and a directory named with a line feed and a workflow command, and whose history line,
    entrypoint and working directory carry one too."""
    big = os.urandom(1 << 20)
    names = [f"app/{INJECTED}", f"etc/{INJECTED}.pem", f"{INJECTED}/bin"]
    layer = (
        b"".join(
            [
                hostile.member(names[0], big, mode=0o755),
                hostile.member(names[1], b"-----BEGIN RSA PRIVATE KEY-----\nx\n"),
                hostile.member(names[2], b"#!/bin/sh\n", mode=0o755),
            ]
        )
        + b"\0" * 1024
    )
    blob = hostile.put_blob(directory, layer)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": [f"/app/{INJECTED}"], "WorkingDir": f"/{INJECTED}",
                   "Labels": {INJECTED: INJECTED}},
        "rootfs": {"type": "layers", "diff_ids": [blob["digest"]]},
        "history": [{"created_by": f"COPY {INJECTED}", "comment": INJECTED}],
    }).encode()  # fmt: skip
    return hostile.write_layout(directory, [{"mediaType": hostile.OCI_TAR, **blob}], config)


@pytest.mark.parametrize(
    "args",
    [["inspect"], ["audit"], ["audit", "--format", "github"], ["sbom"], ["compare", "SELF"]],
    ids="-".join,
)
def test_line_feeds_in_file_names_and_history_start_no_log_line(
    tmp_path: Path, args: list[str]
) -> None:
    image = _with_hostile_names(tmp_path / "img")
    argv = [args[0], image, *(image if a == "SELF" else a for a in args[1:])]
    result = run_cli(*argv)
    assert result.code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    for stream in (result.stdout, result.stderr):
        started = [line for line in stream.splitlines() if line.lstrip().startswith("::")]
        if args[-1] == "github":  # our own annotations, each one line with the name escaped
            started = [
                line
                for line in started
                if not line.startswith(("::error ", "::warning ", "::notice "))
            ]
        assert not started, started


# -- 2026-12-03 red team: package strings, bidi overrides, report files, Markdown ---------------

BIDI = "\u202egnp.exe"  # shown as "exe.png" by a terminal that obeys the override
# what a listing may not carry raw either: bidirectional formatting and line separators
FORMATTING = re.compile("[\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _with_hostile_packages(directory: Path) -> str:
    """An image whose package manifests (npm, dpkg) name packages with escapes, line feeds
    that start workflow commands and a bidi override, and whose files and env carry them."""
    npm = json.dumps({"name": f"n{HOSTILE}{INJECTED}", "version": f"1{BIDI}{INJECTED}",
                      "license": INJECTED}).encode()  # fmt: skip
    status = (f"Package: evil{BIDI}\nStatus: install ok installed\nVersion: 1\n ::error::cont\n"
              f"Architecture: amd64\n\n").encode()  # fmt: skip
    layer = b"".join([
        hostile.member("app/node_modules/nx/package.json", npm),
        hostile.member("var/lib/dpkg/status", status),
        hostile.member(f"etc/{BIDI}", b"x" * 4096),
        hostile.member(f"etc/{HOSTILE}.pem", b"-----BEGIN RSA PRIVATE KEY-----\nx\n"),
    ]) + hostile.END  # fmt: skip
    blob = hostile.put_blob(directory, layer)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": [f"/{BIDI}{HOSTILE}"], "Env": [f"B={BIDI}"],
                   "Labels": {"l": BIDI}},
        "rootfs": {"type": "layers", "diff_ids": [blob["digest"]]},
    }).encode()  # fmt: skip
    return hostile.write_layout(directory, [{"mediaType": hostile.OCI_TAR, **blob}], config)


def _assert_inert(text: str, what: str, annotations: bool = False) -> None:
    assert not CONTROL.search(text), (what, CONTROL.findall(text))
    assert not FORMATTING.search(text), (what, FORMATTING.findall(text))
    started = [line for line in text.splitlines() if line.lstrip().startswith("::")]
    if annotations:  # our own, one line each
        started = [s for s in started if not s.startswith(("::error ", "::warning ", "::notice "))]
    assert not started, (what, started)


@pytest.mark.parametrize(
    "args",
    [["inspect"], ["audit"], ["sbom", "--format", "text"], ["audit", "--format", "github"]],
    ids="-".join,
)
def test_package_names_and_bidi_overrides_are_shown_not_obeyed(
    tmp_path: Path, args: list[str]
) -> None:
    """Found 2026-12-03: ``sbom --format text`` wrote a package.json's line feeds raw (a log
    line ``::error::pwned`` or ``::add-mask::`` is a CI runner's command), and every text
    output wrote U+202E raw, which shows the rest of its line reversed."""
    image = _with_hostile_packages(tmp_path / "img")
    result = run_cli(args[0], image, *args[1:])
    assert result.code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    for stream in (result.stdout, result.stderr):
        _assert_inert(stream, " ".join(args), annotations=args[-1] == "github")
    if args[0] == "sbom":
        assert "\\u202e" in result.stdout and "\\n::error::pwned" in result.stdout
        assert len(result.stdout.splitlines()) == 2  # one line a package


@pytest.mark.parametrize(
    "args", [["sbom", "-o", "text=FILE"], ["audit", "--format", "github", "-o", "FILE"]],
    ids=lambda a: a[0],
)  # fmt: skip
def test_report_files_meant_for_terminals_are_inert_too(tmp_path: Path, args: list[str]) -> None:
    """Found 2026-12-03: ``sbom -o text=FILE`` and ``audit --format github -o FILE`` wrote an
    image's escape sequences raw into the file, obeyed by the terminal that ``cat``s it or by
    the CI log that shows it (only the process's own streams were made visible)."""
    image = _with_hostile_packages(tmp_path / "img")
    report = tmp_path / "report.txt"
    result = run_cli(args[0], image, *(a.replace("FILE", str(report)) for a in args[1:]))
    assert result.code in (0, 1), result.stderr
    text = report.read_text()
    _assert_inert(text, args[0], annotations=args[0] == "audit")
    assert "\\x1b[2K" in text, text


def test_compare_markdown_keeps_an_images_strings_in_their_cell(
    layout: Path, tmp_path: Path
) -> None:
    """Found 2026-12-03: ``compare --format markdown`` (made for PR comments) wrote the
    image's ``User`` raw: a ``|`` or a line feed added cells and rows, and ``<img src=...>``
    or ``[x](...)`` became markup (a tracking pixel in the comment)."""
    user = "a|b\n| fake | row |\n<img src=https://evil.example/x.png> [x](javascript:1) &amp;"
    image = _with_config(layout, tmp_path / "hostile", user)
    result = run_cli("compare", image, f"oci:{layout}:v1", "--format", "markdown")
    assert result.code == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    [row] = [line for line in table if line.startswith("| user |")]
    assert row.count(" | ") == 2, row  # three cells: the label and two images
    assert "fake" not in "".join(line for line in table if line is not row)
    assert not re.search(r"(?<!\\)[<\[&]", row), row  # each one backslash-escaped
    assert "\\<img src=https://evil.example/x.png\\> \\[x\\](javascript:1) \\&amp;" in row


def test_the_html_page_shows_a_bidi_override_in_a_name() -> None:
    """Found 2026-12-03: the page escaped control characters in names but not U+202E, which
    shows ``\\u202egnp.exe`` as ``exe.png`` in the treemap and its tooltip."""
    from scratchpack.reports.html import display_name

    assert display_name(BIDI) == "\\u202egnp.exe"
    assert display_name("a\x1b\u2028\u05d0") == "a\\x1b\u2028\u05d0"  # Hebrew is no override
