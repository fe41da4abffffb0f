"""``audit``/``compare --format html`` in a real headless Chromium, ``audit --format github``,
and audit SARIF locations, on real and hostile images.

The page is judged as a person would see it: Chromium runs its script (console errors fail the
test), the DOM it leaves must hold the treemap's boxes and the tables, and a screenshot must
be a real picture (many colours). Hostile file names must come out as text, never as markup.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest

from helpers import assert_clean_error, build_examples, run_cli
from realtools import need
from test_audit import KEY, SARIF_SCHEMA, T, write_layout

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip
# what a page must not contain: anything that loads from elsewhere
REMOTE = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?https?:""", re.I)
# paths an image may hold that would be markup, script or a broken line if pasted as they are
# (the first is the directory "<" holding "script><img ...>.pem")
HOSTILE_NAMES = [
    "</script><img src=x onerror=alert(1)>.pem",
    "<!--<script>.pem",
    "q\"uo'te&amp;.pem",
    "ctl\x1b[31m\x07\x7f.pem",
    "bad\udcff\udcfe.pem",  # not UTF-8 (tar keeps the bytes; Python: surrogate escapes)
    "line\u2028sep.pem",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    need("chromium", "the HTML report is checked in a real browser (scripts/provision-test-env)")
    path = shutil.which("chromium")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("gcc", "the example program is compiled")
    return build_examples(tmp_path_factory.mktemp("bin")).hello


def browse(chromium: str, page: Path, *action: str, view: str = "", size: str = "1280,1400"
           ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Chromium on ``page`` (at the ``#view`` fragment) with a fresh profile; fails the test
    on any console message."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--window-size={size}", f"--user-data-dir={profile}",
             *action,
             page.as_uri() + (f"#{view}" if view else "")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert "Uncaught" not in proc.stderr
    return proc


def rendered_dom(chromium: str, page: Path, view: str = "") -> str:
    dom = browse(chromium, page, "--dump-dom", view=view).stdout
    # the script's last act: the number of treemap boxes it drew (absent if it failed)
    match = re.search(r'<body data-rendered="(\d+)"', dom)
    assert match, dom[:2000]
    assert int(match.group(1)) > 0, "no treemap drawn"
    return dom


def png_colours(data: bytes) -> int:
    """Distinct pixel values of an 8-bit RGB(A), non-interlaced PNG (what Chromium writes),
    decoded here to stay clear of an image library dependency."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = height = channels = 0
    idat = b""
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if method == 1:
                line[i] = (line[i] + left) & 0xFF
            elif method == 2:
                line[i] = (line[i] + up) & 0xFF
            elif method == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif method == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        if row % 4 == 0:  # every fourth row is plenty to count colours
            colours.update(bytes(line[i : i + 3]) for i in range(0, stride, channels * 2))
        previous = line
    return len(colours)


def screenshot(chromium: str, page: Path, png: Path) -> None:
    browse(chromium, page, f"--screenshot={png}", size="1000,800")  # small: decoded in Python
    data = png.read_bytes()
    assert len(data) > 10_000
    assert png_colours(data) > 30, "the screenshot is (nearly) blank"


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: it
    reads commands on fd 3 and writes replies and events on fd 4, each JSON ending in NUL), to
    move the mouse, click and press keys as a person does. Console calls and uncaught
    exceptions are collected from the events."""

    def __init__(self, commands: BinaryIO, replies: BinaryIO) -> None:
        self._out, self._in = commands, replies
        self._buffer = b""
        self._last = 0
        self.session: str | None = None
        self.console: list[str] = []
        self.events: list[str] = []

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = self._in.read(1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._last += 1
        command: dict[str, Any] = {"id": self._last, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            command["sessionId"] = self.session
        self._out.write(json.dumps(command).encode() + b"\0")
        while True:
            message = self._message()
            if message.get("id") == self._last:
                assert "error" not in message, message
                result: dict[str, Any] = message.get("result", {})
                return result
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method", "")
        self.events.append(method)
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(json.dumps(params.get("args"))[:500])
        elif method == "Runtime.exceptionThrown":
            self.console.append(json.dumps(params.get("exceptionDetails"))[:1000])

    def wait_for(self, event: str) -> None:
        while event not in self.events:
            self._event(self._message())

    def open(self, url: str) -> None:
        [page] = [t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]  # fmt: skip
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def click(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y)
        self.mouse("mouseReleased", x, y)

    def key(self, key: str) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=27 if key == "Escape" else 0)  # fmt: skip


@contextmanager
def devtools(chromium: str, page: Path) -> Iterator[DevTools]:
    commands_read, commands_write = os.pipe()
    replies_read, replies_write = os.pipe()
    # bash puts the pipes on fds 3 and 4 (commands_read < replies_write, so the first
    # redirection cannot clobber the second's source; dash takes one-digit fds only)
    wire = f'exec "$@" 3<&{commands_read} 4>&{replies_write}'
    # (a renderer killed on a failure may still write in it: cleanup errors are not the test's)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            ["bash", "-c", wire, "bash", chromium, *CHROMIUM_FLAGS, "--window-size=1280,1000",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(commands_read, replies_write),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(commands_read)
        os.close(replies_write)
        with os.fdopen(commands_write, "wb", buffering=0) as out, \
                os.fdopen(replies_read, "rb", buffering=0) as replies:  # fmt: skip
            tools = DevTools(out, replies)
            try:
                tools.open(page.as_uri())
                yield tools
                assert not tools.console, tools.console
                tools.session = None
                tools.call("Browser.close")  # all of it, renderers included, before the rmtree
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)


class Elements(html.parser.HTMLParser):
    """Every start tag of a page and the text of its data blob, as an HTML parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def page_data(text: str) -> dict[str, Any]:
    """The JSON blob of a page, as the browser's parser would cut it out."""
    parser = Elements()
    parser.feed(text)
    assert parser.tags.count("script") == 2, parser.tags  # the data and the code, nothing else
    assert set(parser.tags) <= {"html", "head", "meta", "title", "style", "body", "header", "h1",
                                "p", "main", "noscript", "div", "script"}, parser.tags  # fmt: skip
    data: dict[str, Any] = json.loads(parser.scripts[0])
    return data


def names_in(tree: list[Any]) -> list[str]:
    found = [tree[0]]
    if isinstance(tree[1], list):
        for child in tree[1]:
            found += names_in(child) if isinstance(child[1], list) else [child[0]]
    return found


# -- a real image: packed on Debian, and compared with the same program on scratch -------------


@pytest.fixture(scope="module")
def packed(hello: Path, debian_docker: str, tool_env: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:  # fmt: skip
    """(the hello program packed on the real Debian image, the same on scratch)."""
    out = tmp_path_factory.mktemp("images")
    on_debian, on_scratch = f"oci:{out / 'debian'}:1", f"oci:{out / 'scratch'}:1"
    for target, base in ((on_debian, ["--base", f"docker-daemon:{debian_docker}"]),
                         (on_scratch, [])):  # fmt: skip
        result = run_cli("pack", hello, *base, "-o", target, "-q", env=tool_env)
        assert result.code == 0, result.stderr
    return on_debian, on_scratch


def test_audit_page_of_a_real_image_renders(
    chromium: str, packed: tuple[str, str], tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    result = run_cli("audit", packed[0], "--format", "html", "-o", page, "--fail-on", "none")
    assert result.code == 0, result.stderr
    assert result.stdout == ""  # the page went to the file
    text = page.read_text()
    assert not REMOTE.search(text), REMOTE.search(text)
    data = page_data(text)
    [image] = data["images"]
    assert image["image"] == packed[0] and len(image["layers"]) == 2
    assert image["grouped_files"] == 0
    assert "usr" in names_in(image["tree"]) and "hello" in names_in(image["tree"])
    # every finding of the JSON report is on the page with its rule's explanation
    report = run_cli("audit", packed[0], "--format", "json", "--fail-on", "none").json()
    assert [f["code"] for f in image["findings"]] == [f["code"] for f in report["findings"]]
    assert all(f["why"] and f["fix"] for f in image["findings"])
    dom = rendered_dom(chromium, page)
    assert 'class="map"' in dom and dom.count('class="n ') > 50
    assert "<table>" in dom and ">Layers</h2>" in dom and ">Findings</h2>" in dom
    screenshot(chromium, page, tmp_path / "report.png")
    # the view in the address: zoomed into /usr/lib, the base layer only, coloured by layer
    zoomed = rendered_dom(chromium, page, "zoom=/usr/lib&layer=1&colour=layer")
    assert 'data-view="/usr/lib" data-layer="1" data-colour="layer"' in zoomed
    assert re.search(r'class="n d"[^>]*>x86_64-linux-gnu<', zoomed) and ">hello<" not in zoomed
    top = rendered_dom(chromium, page, "layer=2")  # the layer with the program alone
    assert 'data-view="/" data-layer="2"' in top and ">hello<" in top
    drawn = int(re.findall(r'data-rendered="(\d+)"', top)[0])
    assert drawn < 20 < dom.count('class="n ')  # the base's thousands of files are not drawn
    wrong = rendered_dom(chromium, page, "zoom=/no/such&layer=99&colour=<b>")
    assert 'data-view="/" data-layer="0" data-colour="kind"' in wrong


def test_compare_page_renders_size_bars_and_each_image(
    chromium: str, packed: tuple[str, str], tmp_path: Path
) -> None:
    page = tmp_path / "compare.html"
    result = run_cli("compare", *packed, "--format", "html", "-o", page)
    assert result.code == 0, result.stderr
    data = page_data(page.read_text())
    assert [i["image"] for i in data["images"]] == list(packed)
    assert [c["image"] for c in data["columns"]] == list(packed)
    dom = rendered_dom(chromium, page)
    assert dom.count('class="bar"') == 4  # compressed and uncompressed, per image
    assert ">Largest directories</h2>" in dom and dom.count("<section") == 2
    screenshot(chromium, page, tmp_path / "compare.png")
    # the second image's treemap, from the address
    second = rendered_dom(chromium, page, "image=1").split("<section")[1:]
    assert second[1].startswith(">") and 'data-view="/"' in second[1]
    assert second[0].startswith(' hidden="">') and "data-view" not in second[0]
    # to stdout; and -o without html is a usage error before any image is read
    small = [hostile_image(tmp_path / "a"), write_layout(tmp_path / "b", [[T("x", b"1")]])]
    stdout = run_cli("compare", *small, "--format", "html")
    assert stdout.code == 0 and stdout.stdout.startswith("<!DOCTYPE html>")
    assert len(page_data(stdout.stdout)["images"]) == 2
    missing = f"oci:{tmp_path}/none:x"
    assert_clean_error(
        run_cli("compare", missing, missing, "-o", tmp_path / "x"), 2, "--format html"
    )
    assert not (tmp_path / "x").exists()


# -- hostile names ------------------------------------------------------------------------------


def hostile_image(directory: Path) -> str:
    """Private keys (audit flags them: a finding per file) under names that are markup, in a
    layout whose own path is markup too; one of them overwritten and one removed later."""
    layers = [
        [T(name, KEY) for name in HOSTILE_NAMES]
        + [T("gone</script>.bin", b"x" * 5000), T("etc/conf", b"a" * 4000)],
        [T(HOSTILE_NAMES[0], KEY + b"again"), T("gone</.wh.script>.bin"), T("etc/conf", b"b")],
    ]
    return write_layout(directory / "<b>x</b>&'\"", layers, {"Entrypoint": ["/none"]})


def test_hostile_names_cannot_inject_markup(chromium: str, tmp_path: Path) -> None:
    name = hostile_image(tmp_path)
    page = tmp_path / "hostile.html"
    result = run_cli("audit", name, "--format", "html", "-o", page, "--fail-on", "none")
    assert result.code == 0, result.stderr
    raw = page.read_bytes()
    text = raw.decode("utf-8")  # valid UTF-8, although the names are not
    assert "onerror" not in text.split('id="data">')[0]  # the title is escaped
    assert "<title>scratchpack audit: oci:" in text and "&lt;b&gt;x&lt;/b&gt;&amp;" in text
    blob = text.split('id="data">', 1)[1].split("</script>", 1)[0]
    assert blob.isascii() and not re.search("[<>&]", blob)
    data = page_data(text)
    [image] = data["images"]
    shown = names_in(image["tree"])
    assert "<" in shown and "script><img src=x onerror=alert(1)>.pem" in shown
    assert "ctl\\x1b[31m\\x07\\x7f.pem" in shown  # control characters visible, not obeyed
    assert "bad\\xff\\xfe.pem" in shown and "line\u2028sep.pem" in shown
    assert "script>.bin" in shown  # removed by the second layer: shown as waste
    flagged = {f["path"] for f in image["findings"] if f["code"] == "SPI105"}
    assert "/<!--<script>.pem" in flagged
    dom = rendered_dom(chromium, page)
    body = dom.split('<script type="application/json"')[0]
    assert "<img" not in body  # the hostile name is text in the DOM, never an element
    assert "/&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;.pem" in body  # a finding's path
    # the waste is drawn in its colours: removed (red, striped) and overwritten (orange)
    assert re.search(r'class="n f removed" [^>]*background-color: rgb\(224, 102, 95\)', body)
    assert re.search(r'class="n f removed" [^>]*background-color: rgb\(240, 162, 58\)', body)
    assert ">older conf<" in body  # the 4000 bytes that the 1-byte /etc/conf hides


def test_audit_sarif_uris_are_percent_encoded_relative_references(tmp_path: Path) -> None:
    name = hostile_image(tmp_path)
    result = run_cli("audit", name, "--format", "sarif")
    assert result.code == 1, result.stderr  # the image will not start: a critical finding
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
    [run] = log["runs"]
    assert run["automationDetails"]["id"] == "scratchpack/audit/"
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    keys = {unquote(u["uri"], errors="surrogateescape") for u in uris}
    for location in uris:
        uri = location["uri"]
        assert location["uriBaseId"] == "%SRCROOT%"
        assert re.fullmatch(r"[A-Za-z0-9\-._~!$&'()*+,;=@/%]+", uri), uri  # RFC 3986 path chars
        assert not re.search(r"%(?![0-9A-F]{2})", uri), uri
        split = urlsplit(uri)
        assert not split.scheme and not split.netloc and not split.query and not split.fragment
    for hostile in HOSTILE_NAMES:  # bytes that are not UTF-8 are named as audit names them
        named = hostile.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        assert f"{name}/{named}" in keys, (hostile, keys)


def test_audit_sarif_names_a_registry_image_by_its_whole_reference(
    tmp_path: Path, registry: str, unique_name: str
) -> None:
    name = hostile_image(tmp_path)
    remote = f"docker://{registry}/{unique_name}:v1"
    assert run_cli("copy", "-q", name, remote).code == 0
    result = run_cli("audit", remote, "--format", "sarif")
    assert result.code == 1, result.stderr
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"] for r in log["runs"][0]["results"]
    ]
    assert uris
    for location in uris:
        assert "uriBaseId" not in location  # an absolute URI, not a path under the source
        split = urlsplit(location["uri"])
        assert (split.scheme, split.netloc) == ("docker", registry), location
        assert split.path.startswith(f"/{unique_name}:v1"), location


def test_audit_github_annotations_are_escaped(tmp_path: Path) -> None:
    layers = [[T("keys/a,b:c%d.pem", KEY), T("multi\nline.pem", KEY)]]
    name = write_layout(tmp_path / "img", layers, {"Entrypoint": ["/none"], "User": "1000"})
    result = run_cli("audit", name, "--format", "github", "--highest-wasted-bytes", "0")
    assert result.code == 1, result.stderr
    lines = result.stdout.splitlines()
    prop = name.replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines), lines
    assert any(
        line.startswith(f"::error file={prop}/keys/a%2Cb%3Ac%25d.pem,line=1,col=1,title=SPI105 ")
        for line in lines
    ), lines
    assert any(f"file={prop}/multi%0Aline.pem," in line for line in lines), lines
    assert any(line.startswith("::error ") and "title=SPI200 " in line for line in lines)
    # every line is one command: properties, then "::", then the message; nothing unescaped
    for line in lines:
        head, sep, message = line[2:].partition("::")
        assert sep and "\n" not in message and "\r" not in message
        properties = dict(p.split("=", 1) for p in head.split(" ", 1)[1].split(","))
        assert set(properties) == {"file", "line", "col", "title"}
    report = run_cli("audit", name, "--format", "json", "--fail-on", "none").json()
    assert len(lines) == len(report["findings"])  # highest-wasted-bytes 0 is not crossed here
    out = tmp_path / "annotations.txt"
    written = run_cli("audit", name, "--format", "github", "-o", out)
    assert written.code == 1 and written.stdout == "" and out.read_text() == result.stdout
    assert_clean_error(run_cli("audit", f"oci:{tmp_path}/none:x", "-o", out), 2, "--format")


# -- bounded size -------------------------------------------------------------------------------


def test_a_page_of_100k_files_stays_small_and_says_it_summed(chromium: str, tmp_path: Path) -> None:
    many = [T(f"data/d{n % 700:03}/f{n:06}.txt", b"x" * (n % 97)) for n in range(110_000)]
    big = [T("opt/big.bin", b"\x01" * 3_000_000), T("keys/id.pem", KEY)]
    name = write_layout(tmp_path / "many", [many + big], {"Entrypoint": ["/none"]})
    page = tmp_path / "many.html"
    result = run_cli("audit", name, "--format", "html", "-o", page, "--fail-on", "none")
    assert result.code == 0, result.stderr
    assert page.stat().st_size < 3_000_000
    [image] = page_data(page.read_text())["images"]
    assert image["size"]["files"] == 110_002
    assert 80_000 < image["grouped_files"] < 110_000
    shown = names_in(image["tree"])
    assert "big.bin" in shown and "id.pem" in shown  # the largest, and every finding's file
    dom = rendered_dom(chromium, page)
    assert "too small to draw one by one" in dom


def test_an_image_without_file_bytes_renders_a_message(chromium: str, tmp_path: Path) -> None:
    name = write_layout(tmp_path / "empty", [[T("etc/empty", b"")], []], {"User": "1"})
    page = tmp_path / "empty.html"
    result = run_cli("audit", name, "--format", "html", "-o", page, "--fail-on", "none")
    assert result.code == 0, result.stderr
    dom = browse(chromium, page, "--dump-dom").stdout  # no console message, no error
    assert '<body data-rendered="0"' in dom and "no file bytes here in this view" in dom
    layers = dom.split(">Layers</h2>")[1].split("</table>")[0]
    assert re.findall(r'<tr><td class="num">(\d+)</td>', layers) == ["1", "2"]


def test_hover_click_zoom_and_keys_as_a_person_would(chromium: str, tmp_path: Path) -> None:
    """Real mouse and key events: a hover shows the path, size, what is wasted and the
    findings; a click on a directory zooms in, Escape goes back; a click on a file keeps its
    details; another layer redraws."""
    page = tmp_path / "hostile.html"
    result = run_cli("audit", hostile_image(tmp_path), "--format", "html", "-o", page)
    assert result.code == 1, result.stderr

    def centre(text: str) -> tuple[float, float]:
        found = browser.js(
            "(() => { const box = [...document.querySelectorAll('.map .n')]"
            f".find((b) => b.firstChild && b.firstChild.nodeValue === {json.dumps(text)});"
            " if (!box) return null; const r = box.getBoundingClientRect();"
            " return [r.left + Math.min(r.width / 2, 30), r.top + Math.min(r.height / 2, 6)]; })()"
        )
        assert found, text
        return found[0], found[1]

    def tip() -> str:
        text: str = browser.js("document.getElementById('tip').hidden ? '' : "
                               "document.getElementById('tip').innerText")  # fmt: skip
        return text

    with devtools(chromium, page) as browser:
        browser.js("document.getElementById('tip').scrollIntoView()")
        browser.js("document.querySelector('.map').scrollIntoView()")
        browser.mouse("mouseMoved", *centre("older conf"))
        assert "/etc/conf" in tip() and "4.0 kB" in tip() and "overwrote" in tip()
        browser.mouse("mouseMoved", *centre("<!--<script>.pem"))
        assert "/<!--<script>.pem" in tip() and "SPI105 error" in tip()
        assert browser.js("document.querySelectorAll('img').length") == 0
        browser.click(*centre("etc"))  # the directory's header: zoom in
        assert browser.js("document.querySelector('.map').dataset.view") == "/etc"
        assert "zoom=%2Fetc" in browser.js("location.hash")
        browser.click(*centre("older conf"))  # a file: its details stay below the map
        detail = browser.js("document.getElementById('detail').innerText")
        assert "/etc/conf" in detail and "still shipped" in detail
        browser.key("Escape")
        assert browser.js("document.querySelector('.map').dataset.view") == "/"
        browser.js(
            "const pick = document.querySelectorAll('.controls select')[1];"
            " pick.value = '2'; pick.dispatchEvent(new Event('change'))"
        )
        assert browser.js("document.querySelector('.map').dataset.layer") == "2"
        drawn = browser.js("[...document.querySelectorAll('.map .n')].map((b) => b.textContent)")
        assert "script><img src=x onerror=alert(1)>.pem" in drawn  # layer 2 rewrote it
        assert not {"older conf", "script>.bin", "<!--<script>.pem"} & set(drawn)  # not layer 2
        browser.mouse("mouseMoved", 1, 1)
        assert tip() == ""
