"""Transports read back what they and others wrote, and refuse corrupt data."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from helpers import Examples, assert_clean_error, blob, layout_manifest, run_cli
from scratchpack.errors import DigestMismatchError, FormatError, NotFoundError
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Index, canonical_json
from scratchpack.model.reference import Reference
from scratchpack.transports import docker_archive, oci_layout


@pytest.fixture
def layout(examples: Examples, tmp_path: Path) -> Path:
    """A layout of its own for each test (they corrupt it), in place of conftest's shared one."""
    path = tmp_path / "layout"
    result = run_cli("pack", examples.hello, "-o", f"oci:{path}:v1", "--tz", "UTC")
    assert result.code == 0, result.stderr
    return path


def _flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def test_corrupt_layer_blob_is_detected(layout: Path) -> None:
    manifest = layout_manifest(layout, "v1")
    _flip_byte(layout / "blobs/sha256" / manifest["layers"][1]["digest"][7:])
    image = oci_layout.read_image(layout, "v1")
    with pytest.raises(DigestMismatchError, match="digest mismatch"), image.layers[1].open() as f:
        while f.read(65536):
            pass
    # the untouched layer still reads, and its uncompressed stream matches the diff_id
    with image.layers[0].open_uncompressed() as f:
        assert len(f.read()) > 0


def test_corrupt_config_fails_inspect(layout: Path) -> None:
    manifest = layout_manifest(layout, "v1")
    _flip_byte(layout / "blobs/sha256" / manifest["config"]["digest"][7:], offset=10)
    assert_clean_error(run_cli("inspect", f"oci:{layout}:v1"), 1, "digest mismatch")


def test_missing_blob_and_unknown_tag(layout: Path) -> None:
    assert_clean_error(run_cli("inspect", f"oci:{layout}:nope"), 2, "no image tagged 'nope'", "v1")
    manifest = layout_manifest(layout, "v1")
    (layout / "blobs/sha256" / manifest["config"]["digest"][7:]).unlink()
    assert_clean_error(run_cli("inspect", f"oci:{layout}:v1"), 1, "missing")


def test_untagged_read_needs_a_single_image(examples: Examples, layout: Path) -> None:
    assert run_cli("inspect", f"oci:{layout}").code == 0
    assert run_cli("pack", examples.httpd, "-o", f"oci:{layout}:v2").code == 0
    assert_clean_error(run_cli("inspect", f"oci:{layout}"), 2, "holds 2 images", "v1, v2")


def test_multi_platform_index_in_a_layout(layout: Path) -> None:
    """An index nested in index.json resolves to the manifest for the requested platform."""
    amd64 = layout_manifest(layout, "v1")
    amd64_bytes = canonical_json(amd64)
    amd64_digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    assert Digest.of(blob(layout, amd64_digest)) == Digest.parse(amd64_digest)
    arm_config = json.loads(blob(layout, amd64["config"]["digest"]))
    arm_config["architecture"] = "arm64"
    arm_config_bytes = canonical_json(arm_config)
    (layout / "blobs/sha256" / Digest.of(arm_config_bytes).hex).write_bytes(arm_config_bytes)
    arm = dict(amd64, config=dict(amd64["config"], digest=str(Digest.of(arm_config_bytes)),
                                  size=len(arm_config_bytes)))  # fmt: skip
    arm_bytes = canonical_json(arm)
    (layout / "blobs/sha256" / Digest.of(arm_bytes).hex).write_bytes(arm_bytes)
    index = Index(
        (
            Descriptor(mt.OCI_MANIFEST, Digest.parse(amd64_digest), len(blob(layout, amd64_digest)),
                       platform=Platform("linux", "amd64")),
            Descriptor(mt.OCI_MANIFEST, Digest.of(arm_bytes), len(arm_bytes),
                       platform=Platform("linux", "arm64", "v8")),
        )
    )  # fmt: skip
    index_bytes = index.to_bytes()
    (layout / "blobs/sha256" / Digest.of(index_bytes).hex).write_bytes(index_bytes)
    top = Index((Descriptor(mt.OCI_INDEX, Digest.of(index_bytes), len(index_bytes),
                            {mt.ANNOTATION_REF_NAME: "multi"}),))  # fmt: skip
    (layout / "index.json").write_bytes(top.to_bytes())
    assert amd64_bytes  # the amd64 manifest is unchanged
    arm_report = run_cli(
        "inspect", f"oci:{layout}:multi", "--platform", "linux/arm64", "--format", "json"
    )
    assert arm_report.code == 0, arm_report.stderr
    assert arm_report.json()["platform"] == "linux/arm64"
    # the tag points at the index: that is the manifest digest, whichever platform is picked
    assert arm_report.json()["manifest_digest"] == str(Digest.of(index_bytes))
    assert arm_report.json()["platform_manifest_digest"] == str(Digest.of(arm_bytes))
    amd_report = run_cli(
        "inspect", f"oci:{layout}:multi", "--platform", "linux/amd64", "--format", "json"
    )
    assert amd_report.json()["manifest_digest"] == str(Digest.of(index_bytes))
    assert amd_report.json()["platform_manifest_digest"] == amd64_digest
    missing = run_cli("inspect", f"oci:{layout}:multi", "--platform", "linux/s390x")
    assert_clean_error(missing, 2, "no image for linux/s390x", "linux/arm64/v8")


def test_oci_image_converts_to_a_docker_archive(layout: Path, tmp_path: Path) -> None:
    """gzip layers become the uncompressed tars docker load expects, checked by diff_id."""
    image = oci_layout.read_image(layout, "v1")
    archive = tmp_path / "out.tar"
    docker_archive.write_archive(archive, image, Reference.parse("conv:1"))
    with docker_archive.open_archive(archive, Reference.parse("conv:1")) as back:
        assert back.config_bytes == image.config_bytes
        assert [layer.diff_id for layer in back.layers] == [layer.diff_id for layer in image.layers]
        assert all(layer.descriptor.media_type == mt.DOCKER_LAYER for layer in back.layers)
        for layer in back.layers:
            with layer.open() as stream, tarfile.open(fileobj=io.BytesIO(stream.read())) as tar:
                assert tar.getmembers()
    with (
        pytest.raises(NotFoundError, match="no image tagged"),
        docker_archive.open_archive(archive, Reference.parse("other:1")),
    ):
        pass


def _rewrite_archive(source: Path, dest: Path, change: dict[str, bytes | None]) -> None:
    with tarfile.open(source) as src, tarfile.open(dest, "w") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name in change:
                replacement = change[member.name]
                if replacement is None:
                    continue
                data = replacement
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def test_archive_with_gzip_layers_and_corruption(examples: Examples, tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar"
    assert (
        run_cli("pack", examples.hello, "-o", f"docker-archive:{plain}:x:1", "--tz", "none").code
        == 0
    )
    entries = docker_archive.manifest_entries(plain)
    layers = entries[0]["Layers"]
    assert isinstance(layers, list)
    layer_name = str(layers[1])
    with tarfile.open(plain) as tar:
        layer_bytes = tar.extractfile(layer_name).read()  # type: ignore[union-attr]
    # some tools store gzip layers in archives: they still read and verify against diff_ids
    zipped = tmp_path / "zipped.tar"
    _rewrite_archive(plain, zipped, {layer_name: gzip.compress(layer_bytes, mtime=0)})
    with (
        docker_archive.open_archive(zipped, None) as image,
        image.layers[1].open_uncompressed() as stream,
    ):
        assert stream.read() == layer_bytes
    # a layer whose bytes do not match the config's diff_id is an error
    broken = tmp_path / "broken.tar"
    _rewrite_archive(plain, broken, {layer_name: layer_bytes[:-1024] + b"\x01" * 1024})
    with (
        docker_archive.open_archive(broken, None) as image,
        pytest.raises(DigestMismatchError),
        image.layers[1].open() as stream,
    ):
        stream.read()
    # a missing member and a broken manifest.json are clear format errors
    missing = tmp_path / "missing.tar"
    _rewrite_archive(plain, missing, {layer_name: None})
    with (
        pytest.raises(FormatError, match="missing from the archive"),
        docker_archive.open_archive(missing, None),
    ):
        pass
    bad_json = tmp_path / "badjson.tar"
    _rewrite_archive(plain, bad_json, {"manifest.json": b"{not json"})
    assert_clean_error(run_cli("inspect", f"docker-archive:{bad_json}"), 1, "manifest.json")


def test_archive_holding_two_images(examples: Examples, tmp_path: Path) -> None:
    one, two = tmp_path / "one.tar", tmp_path / "two.tar"
    assert run_cli("pack", examples.hello, "-o", f"docker-archive:{one}:a:1").code == 0
    assert run_cli("pack", examples.httpd, "-o", f"docker-archive:{two}:b:2").code == 0
    both = tmp_path / "both.tar"
    with tarfile.open(both, "w") as out:
        manifests = []
        for source in (one, two):
            with tarfile.open(source) as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    if member.name == "manifest.json":
                        manifests.extend(json.loads(data))
                    elif member.name != "repositories" and member.name not in out.getnames():
                        out.addfile(member, io.BytesIO(data))
        data = json.dumps(manifests).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
    assert_clean_error(run_cli("inspect", f"docker-archive:{both}"), 1, "holds 2 images")
    report = run_cli("inspect", f"docker-archive:{both}:b:2", "--format", "json")
    assert report.code == 0, report.stderr
    assert report.json()["entrypoint"] == ["/usr/local/bin/httpd"]
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)
