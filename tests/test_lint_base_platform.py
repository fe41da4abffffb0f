"""SP356, BuildKit's InvalidBaseImagePlatform, through ``scratchpack lint --lookup-bases``
against the real registry on 127.0.0.1: images written as OCI layouts by hand (an index of
one platform, of two, with an attestation entry; a single manifest whose config names its
platform) and pushed with skopeo, so the documents are a peer's. The finding at the FROM's
image word in text, JSON and SARIF; silence for a platform the image has, a FROM
``--platform`` that names the image's, an unreachable or hostile registry, and no lookups."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import assert_clean_error, run_cli
from realtools import Runner
from scratchpack.dockerfile.config import LintConfig
from scratchpack.dockerfile.model import BaseLookup
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.ruledocs import DOCS
from scratchpack.model.descriptor import Platform
from scratchpack.operations.lint import lint_dockerfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
AMD64 = {"DOCKER_DEFAULT_PLATFORM": "linux/amd64"}  # the build's target, whatever the host


def _blob(layout: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs/sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _image(layout: Path, os_: str, arch: str) -> dict[str, Any]:
    """One image of one small file, its config naming ``os_/arch``: its manifest's descriptor."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = f"{os_}/{arch}\n".encode()
        info = tarfile.TarInfo("platform")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = out.getvalue()
    config = json.dumps({
        "architecture": arch, "os": os_,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": _blob(layout, config, "application/vnd.oci.image.config.v1+json"),
        "layers": [_blob(layout, layer, "application/vnd.oci.image.layer.v1.tar")],
    }).encode()  # fmt: skip
    return _blob(layout, manifest, OCI_MANIFEST)


def _attestation(layout: Path, subject: dict[str, Any]) -> dict[str, Any]:
    """An attestation manifest as BuildKit writes one into an index: ``unknown/unknown``."""
    statement = b'{"_type": "https://in-toto.io/Statement/v0.1"}'
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": _blob(layout, b"{}", "application/vnd.oci.image.config.v1+json"),
        "layers": [_blob(layout, statement, "application/vnd.in-toto+json")],
    }).encode()  # fmt: skip
    entry = _blob(layout, manifest, OCI_MANIFEST)
    entry["platform"] = {"os": "unknown", "architecture": "unknown"}
    entry["annotations"] = {
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": subject["digest"],
    }
    return entry


def _push(skopeo: Runner, tmp_path: Path, image: str, platforms: list[str], index: bool) -> None:
    """``image`` on the registry: an index of ``platforms`` (with an attestation for the
    first), or with ``index`` false the single manifest of the one platform."""
    layout = tmp_path / f"layout-{len(list(tmp_path.iterdir()))}"
    layout.mkdir()
    entries = []
    for text in platforms:
        os_, arch = text.split("/")
        entry = _image(layout, os_, arch)
        entries.append({**entry, "platform": {"os": os_, "architecture": arch}})
    if index:
        entries.append(_attestation(layout, entries[0]))
        doc = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        top = _blob(layout, doc.encode(), OCI_INDEX)
    else:
        top = _image(layout, *platforms[0].split("/"))
    top["annotations"] = {"org.opencontainers.image.ref.name": "t"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:t", f"docker://{image}")


@pytest.fixture(scope="module")
def images(
    registry: str, skopeo: Runner, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The test images by what they hold: arm64 (an index of linux/arm64 and an attestation),
    both (linux/amd64 and linux/arm64), single-arm64 (one manifest, no index)."""
    tmp = tmp_path_factory.mktemp("platform-images")
    names = {
        "arm64": (["linux/arm64"], True),
        "both": (["linux/amd64", "linux/arm64"], True),
        "single-arm64": (["linux/arm64"], False),
        "single-amd64": (["linux/amd64"], False),
    }
    out = {}
    prefix = f"{registry}/sp356-{uuid.uuid4().hex[:12]}"
    for name, (platforms, index) in names.items():
        out[name] = f"{prefix}/{name}:1"
        _push(skopeo, tmp, out[name], platforms, index)
    return out


def _lint(tmp_path: Path, text: str, *flags: str, env: dict[str, str] | None = None) -> Any:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text)
    result = run_cli("lint", "--lookup-bases", "--timeout", "5", *flags, "-f", "json",
                     str(dockerfile), env=env or AMD64)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr == "", result.stderr
    return [f for f in json.loads(result.stdout) if f["code"] == "SP356"]


TAIL = "USER 65532\n"


def test_an_arm64_only_index_fires_for_an_amd64_build(
    images: dict[str, str], tmp_path: Path
) -> None:
    found = _lint(tmp_path, f"FROM {images['arm64']}\n{TAIL}")
    assert [(f["line"], f["column"], f["severity"]) for f in found] == [(1, 6, "warning")]
    # the attestation entry is no platform: the image has linux/arm64 alone
    assert found[0]["message"].startswith(
        f"base image {images['arm64']} has no image for linux/amd64, the platform this stage "
        "is built for (it has linux/arm64):"
    ), found[0]["message"]


def test_an_index_with_the_target_platform_is_silent(
    images: dict[str, str], tmp_path: Path
) -> None:
    assert _lint(tmp_path, f"FROM {images['both']}\n{TAIL}") == []
    arm = {"DOCKER_DEFAULT_PLATFORM": "linux/arm64/v8"}  # a variant is not compared
    assert _lint(tmp_path, f"FROM {images['both']}\n{TAIL}", env=arm) == []
    assert _lint(tmp_path, f"FROM {images['arm64']}\n{TAIL}", env=arm) == []


def test_a_single_manifest_is_judged_by_its_config(images: dict[str, str], tmp_path: Path) -> None:
    text = f"FROM {images['single-arm64']} AS one\nFROM {images['single-amd64']}\n{TAIL}"
    found = _lint(tmp_path, text)
    assert [(f["line"], f["column"]) for f in found] == [(1, 6)]
    assert "(it has linux/arm64)" in found[0]["message"]


def test_the_from_platform_flag_is_the_expected_one(images: dict[str, str], tmp_path: Path) -> None:
    arm64 = images["arm64"]
    text = (
        "ARG ARM=linux/arm64\n"
        f"FROM --platform=linux/arm64 {arm64} AS one\n"  # the image's: silent
        f"FROM --platform=$ARM {arm64} AS two\n"  # an ARG default: silent
        f"FROM --platform=linux/amd64 {images['both']} AS three\n"
        f"FROM --platform=linux/amd64   {arm64} AS four\n"  # fires, at the image word
        f"FROM --platform=$TARGETPLATFORM {arm64} AS five\n"  # the target: amd64, fires
        f"FROM --platform=${{UNSET}} {arm64} AS six\n"  # a --build-arg's: not checked
        f"FROM four\n{TAIL}"  # a stage: no lookup
    )
    found = _lint(tmp_path, text)
    assert [(f["line"], f["column"]) for f in found] == [(5, 31), (6, 33)]
    # both targets of a multi-platform build are checked; the constant one is said once
    both = {"DOCKER_DEFAULT_PLATFORM": "linux/amd64,linux/arm64"}
    found = _lint(tmp_path, f"FROM {arm64}\nFROM --platform=linux/amd64 {arm64}\n{TAIL}", env=both)
    assert [(f["line"], f["message"].split(",")[0]) for f in found] == [
        (1, f"base image {arm64} has no image for linux/amd64"),
        (2, f"base image {arm64} has no image for linux/amd64"),
    ]


def test_the_image_from_an_arg_default_is_looked_up(images: dict[str, str], tmp_path: Path) -> None:
    text = f"ARG BASE={images['arm64']}\nFROM ${{BASE}}\nFROM ${{OTHER}}\n{TAIL}"
    found = _lint(tmp_path, text)
    assert [(f["line"], f["column"]) for f in found] == [(2, 6)]


def test_the_host_is_the_default_target(images: dict[str, str], tmp_path: Path) -> None:
    host = Platform.host().architecture
    other = "arm64" if host == "amd64" else "single-amd64"
    text = f"FROM {images[other]}\nFROM {images['both']}\n{TAIL}"
    found = _lint(tmp_path, text, env={"DOCKER_DEFAULT_PLATFORM": ""})
    assert [f["line"] for f in found] == [1]
    assert f"has no image for linux/{host}," in found[0]["message"]


def test_sarif_text_and_pragmas(images: dict[str, str], tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {images['arm64']}\n{TAIL}")
    sarif = run_cli("lint", "--lookup-bases", "-f", "sarif", str(dockerfile), env=AMD64)
    assert sarif.code == 1, sarif.stderr
    run = json.loads(sarif.stdout)["runs"][0]
    (result,) = [r for r in run["results"] if r["ruleId"] == "SP356"]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (1, 6)
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "SP356")
    assert "InvalidBaseImagePlatform" in rule["properties"]["tags"]
    text = run_cli("lint", "--lookup-bases", str(dockerfile), env=AMD64)
    assert f"{dockerfile}:1: SP356 warning: base image" in text.stdout, text.stdout
    assert "\n         ^\n" in text.stdout  # under the image word, after "    FROM "
    for skip in ("# check=skip=InvalidBaseImagePlatform\n", "# scratchpack ignore=SP356\n"):
        assert _lint(tmp_path, f"{skip}FROM {images['arm64']}\n{TAIL}") == []
    assert (
        _lint(tmp_path, f"FROM {images['arm64']}\n{TAIL}", "--ignore", "InvalidBaseImagePlatform")
        == []
    )


def test_no_lookups_by_default(images: dict[str, str], tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {images['arm64']}\n{TAIL}")
    plain = run_cli("lint", "-f", "json", str(dockerfile), env=AMD64)
    assert "SP356" not in {f["code"] for f in json.loads(plain.stdout)}, plain.stdout
    fixing = run_cli("lint", "--diff", "--no-pin", str(dockerfile), env=AMD64)
    assert "SP356" not in fixing.stdout + fixing.stderr
    # --fix pins and re-lints; with --lookup-bases the rule runs on the fixed file too
    fixed = run_cli("lint", "--fix", "--lookup-bases", "-f", "json", str(dockerfile), env=AMD64)
    assert "@sha256:" in dockerfile.read_text(), fixed.stderr
    assert [f["line"] for f in json.loads(fixed.stdout) if f["code"] == "SP356"] == [1]


# what the hostile "registry" answers for a manifest of each repository
HOSTILE: dict[str, tuple[str, bytes]] = {
    "garbage": (OCI_INDEX, b"\x00not json{"),
    "badindex": (OCI_INDEX, b'{"schemaVersion": 2, "manifests": [{"digest": 5}]}'),
    "nested": (OCI_INDEX, b'{"schemaVersion": 2, "manifests": [' + b"[" * 5000 + b"]"),
    "noplatform": (OCI_INDEX, b'{"schemaVersion": 2, "manifests": []}'),
    "noconfig": (OCI_MANIFEST, b'{"schemaVersion": 2, "config": {}, "layers": []}'),
}


class _Hostile(http.server.BaseHTTPRequestHandler):
    """A "registry" that answers every manifest with what does not read as one."""

    def do_GET(self) -> None:
        if self.path == "/v2/":
            self._send(200, "application/json", b"{}")
            return
        kind = self.path.split("/")[2]
        media_type, body = HOSTILE.get(kind, ("text/plain", b"missing"))
        self._send(200 if kind in HOSTILE else 404, media_type, body)

    def _send(self, status: int, media_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_or_hostile_registry_is_silent(
    images: dict[str, str], hostile_registry: str, tmp_path: Path
) -> None:
    bad = "".join(f"FROM {hostile_registry}/{kind}/x:1 AS {kind}\n" for kind in HOSTILE)
    text = (
        "FROM 127.0.0.1:1/nobody/listens:1 AS down\n"
        f"{bad}FROM {hostile_registry}/absent/x:1 AS absent\n"
        f"FROM {images['arm64']}\n{TAIL}"  # the one that can be read still fires
    )
    found = _lint(tmp_path, text)
    assert [f["line"] for f in found] == [len(HOSTILE) + 3]


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    bad = run_cli(
        "lint", "--lookup-bases", str(dockerfile), env={"DOCKER_DEFAULT_PLATFORM": "amd64"}
    )
    assert_clean_error(bad, 2, "DOCKER_DEFAULT_PLATFORM", "invalid platform 'amd64'")
    timeout = run_cli("lint", "--lookup-bases", "--timeout", "0", str(dockerfile))
    assert_clean_error(timeout, 2, "argument --timeout: must be a positive number of seconds")


def test_the_documented_example() -> None:
    """The rule page's bad and good examples, with the registry's answers the page states
    (the examples name no registry a test can reach: the lookup itself is tested above)."""
    doc = DOCS["SP356"]
    answers = {"debian:12-slim@sha256:" + "a" * 64: ("linux/amd64", "linux/arm64/v8")}

    def platforms(image: str) -> tuple[str, ...] | None:
        return answers.get(image, ("linux/arm64",))

    config = LintConfig(base_lookup=BaseLookup(platforms, ("linux/amd64",), "linux/amd64"))
    assert "SP356" in {f.code for f in lint_dockerfile(parse(doc.bad), config=config)}
    assert "SP356" not in {f.code for f in lint_dockerfile(parse(doc.good), config=config)}
    assert "SP356" not in {f.code for f in lint_dockerfile(parse(doc.bad))}  # no lookup


class _Challenging(http.server.BaseHTTPRequestHandler):
    """A registry that wants Basic credentials for everything: it records what it is sent."""

    seen: list[str | None]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="sp356"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_creds_go_to_no_registry_the_dockerfile_names(tmp_path: Path) -> None:
    """--creds is one user's password for one registry; the FROM lines (a pull request's, in
    CI) pick the hosts a lookup asks, so only the auth file's per-host entries are sent."""
    seen: list[str | None] = []
    handler = type("Handler", (_Challenging,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        dockerfile = tmp_path / "Dockerfile"
        dockerfile.write_text(f"FROM {host}/private/base:1\n{TAIL}")
        empty = tmp_path / "empty.json"
        empty.write_text("{}")
        args = ("lint", "--lookup-bases", "--timeout", "5", "--authfile", str(empty))
        result = run_cli(*args, "--creds", "alice:secret", str(dockerfile), env=AMD64)
        assert "Traceback" not in result.stderr
        assert "warning: --creds is not sent by lint" in result.stderr, result.stderr
        assert seen and set(seen) == {None}, seen  # asked, and sent nothing
        # nor by --fix/--diff, whose pinning asks the same hosts for digests
        seen.clear()
        pin = ("lint", "--diff", "--timeout", "5", "--authfile", str(empty))
        result = run_cli(*pin, "--creds", "alice:secret", str(dockerfile), env=AMD64)
        assert "Traceback" not in result.stderr
        assert "warning: --creds is not sent by lint" in result.stderr, result.stderr
        assert seen and set(seen) == {None}, seen
        auth = tmp_path / "auth.json"
        token = base64.b64encode(b"bob:pw").decode()
        auth.write_text(json.dumps({"auths": {host: {"auth": token}}}))
        seen.clear()
        result = run_cli(*args[:-1], str(auth), str(dockerfile), env=AMD64)
        assert f"Basic {token}" in seen, (seen, result.stderr)  # the host's own entry goes
    finally:
        server.shutdown()
        server.server_close()
