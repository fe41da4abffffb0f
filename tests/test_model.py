"""The image model: digests, verifying reads, references, transport names, manifests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scratchpack.errors import DigestMismatchError, FormatError, ReferenceError_, UsageError
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest, VerifyingReader, verify_bytes
from scratchpack.model.manifest import Index, Manifest
from scratchpack.model.reference import Reference
from scratchpack.transports.names import ArchiveName, DaemonName, OciName, parse_image_name


def test_digest_parse_round_trip() -> None:
    d = Digest.of(b"abc")
    assert str(d) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert Digest.parse(str(d)) == d


@pytest.mark.parametrize("text", ["sha256:abc", "md5:" + "a" * 32, "sha256:" + "G" * 64, "x"])
def test_digest_parse_rejects(text: str) -> None:
    with pytest.raises(FormatError):
        Digest.parse(text)


def test_verifying_reader_accepts_good_bytes() -> None:
    data = b"x" * 10000
    reader = VerifyingReader(io.BytesIO(data), Digest.of(data), len(data), "blob")
    out = b"".join(iter(lambda: reader.read(999), b""))
    assert out == data


def test_verifying_reader_rejects_tampered_bytes() -> None:
    data = b"hello world"
    reader = VerifyingReader(io.BytesIO(b"hello World"), Digest.of(data), len(data), "blob")
    with pytest.raises(DigestMismatchError, match="digest mismatch"):
        while reader.read(4):
            pass


def test_verifying_reader_rejects_wrong_size() -> None:
    data = b"hello"
    reader = VerifyingReader(io.BytesIO(data + b"!"), Digest.of(data), 5, "blob")
    with pytest.raises(DigestMismatchError, match="more than the declared"):
        reader.read()
    short = VerifyingReader(io.BytesIO(data[:3]), Digest.of(data), 5, "blob")
    with pytest.raises(DigestMismatchError, match="size 3"):
        short.read()


def test_verify_bytes() -> None:
    assert verify_bytes(b"a", Digest.of(b"a"), 1, "x") == b"a"
    with pytest.raises(DigestMismatchError):
        verify_bytes(b"b", Digest.of(b"a"), 1, "x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3.21", "docker.io/library/alpine:3.21"),
        ("user/app", "docker.io/user/app:latest"),
        ("index.docker.io/library/alpine", "docker.io/library/alpine:latest"),
        ("localhost/app:1", "localhost/app:1"),
        ("localhost:5000/a/b:v2", "localhost:5000/a/b:v2"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
        ("ghcr.io/org/app@sha256:" + "a" * 64, "ghcr.io/org/app@sha256:" + "a" * 64),
        ("app:1@sha256:" + "b" * 64, "docker.io/library/app:1@sha256:" + "b" * 64),
    ],
)
def test_reference_normalisation(text: str, expected: str) -> None:
    assert str(Reference.parse(text)) == expected


def test_reference_familiar() -> None:
    assert Reference.parse("docker.io/library/hello:v1").familiar() == "hello:v1"
    assert Reference.parse("quay.io/a/b").familiar() == "quay.io/a/b:latest"


@pytest.mark.parametrize(
    "text",
    ["", "app/Case", "app:", "app:-bad", "app@sha256:123", "a//b", " app", "app:" + "x" * 200],
)
def test_reference_rejects(text: str) -> None:
    with pytest.raises(ReferenceError_):
        Reference.parse(text)


@pytest.mark.parametrize(
    "text", ["localhost:0/app", "localhost:65536/app", "127.0.0.1:99999999999/app", "[::1]:70000/a"]
)
def test_reference_rejects_a_port_no_socket_takes(text: str) -> None:
    with pytest.raises(ReferenceError_, match="not in 1-65535"):
        Reference.parse(text)


def test_reference_keeps_ports_and_ipv6_hosts_in_range() -> None:
    assert Reference.parse("localhost:65535/app").domain == "localhost:65535"
    assert Reference.parse("[::1]:5000/app").domain == "[::1]:5000"
    assert Reference.parse("[::1]/app").domain == "[::1]"


def test_image_names() -> None:
    assert parse_image_name("oci:out/hello:v1") == OciName(Path("out/hello"), "v1")
    assert parse_image_name("oci:out") == OciName(Path("out"), None)
    archive = parse_image_name("docker-archive:x.tar:hello:v1")
    assert isinstance(archive, ArchiveName)
    assert archive.reference is not None and archive.reference.familiar() == "hello:v1"
    daemon = parse_image_name("docker-daemon:localhost:5000/app:2")
    assert isinstance(daemon, DaemonName)
    assert str(daemon.reference) == "localhost:5000/app:2"


@pytest.mark.parametrize(
    "text",
    ["out/hello", "docker:foo", "oci:", "oci:dir:bad tag", "docker-archive:", "docker-daemon:"],
)
def test_image_names_reject(text: str) -> None:
    with pytest.raises(UsageError):
        parse_image_name(text)


def test_platform() -> None:
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8"
    assert Platform.parse("linux/arm64").matches(Platform("linux", "arm64", "v8"))
    assert not Platform.parse("linux/arm/v6").matches(Platform("linux", "arm", "v7"))
    with pytest.raises(UsageError):
        Platform.parse("amd64")


def _desc(data: bytes, media_type: str, platform: Platform | None = None) -> Descriptor:
    return Descriptor(media_type, Digest.of(data), len(data), platform=platform)


def test_manifest_round_trip_is_stable() -> None:
    manifest = Manifest(
        _desc(b"{}", mt.OCI_CONFIG),
        (_desc(b"layer", mt.OCI_LAYER_GZIP),),
        annotations={"b": "2", "a": "1"},
    )
    data = manifest.to_bytes()
    again = Manifest.parse(data)
    assert again == manifest
    assert again.to_bytes() == data
    assert data.index(b'"a"') < data.index(b'"b"')


def test_manifest_rejects_garbage() -> None:
    with pytest.raises(FormatError):
        Manifest.parse(b"not json")
    with pytest.raises(FormatError):
        Manifest.parse(b'{"schemaVersion":1,"fsLayers":[]}')
    with pytest.raises(FormatError):
        Manifest.parse(b'{"schemaVersion":2,"mediaType":"' + mt.OCI_MANIFEST.encode() + b'"}')


def test_docker_manifest_list_platform_selection() -> None:
    amd = _desc(b"a", mt.DOCKER_MANIFEST, Platform("linux", "amd64"))
    arm = _desc(b"b", mt.DOCKER_MANIFEST, Platform("linux", "arm64", "v8"))
    index = Index.parse(Index((amd, arm), mt.DOCKER_MANIFEST_LIST).to_bytes())
    assert index.media_type == mt.DOCKER_MANIFEST_LIST
    assert index.select_platform(Platform.parse("linux/arm64")) == arm
    assert index.select_platform(Platform.parse("linux/s390x")) is None
