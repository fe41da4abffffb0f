"""One image, one digest: every command names the manifest digest and the image id, and
both agree with what skopeo reports for the same image (README, "Digests")."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import Examples, assert_clean_error, run_cli

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]


def _json(*args: str | Path) -> Any:
    result = run_cli(*args, "--format", "json")
    assert result.code == 0, result.stderr
    return result.json()


def _digest(*args: str | Path) -> str:
    result = run_cli("digest", *args)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def _skopeo_digest(skopeo: Run, name: str) -> str:
    return str(json.loads(skopeo("inspect", "--tls-verify=false", name).stdout)["Digest"])


def _skopeo_image_id(skopeo: Run, name: str) -> str:
    config = skopeo("inspect", "--tls-verify=false", "--raw", "--config", name).stdout
    return f"sha256:{hashlib.sha256(config).hexdigest()}"


def shows(text: str, key: str, value: str) -> bool:
    """``key  value`` in a command's fields: on one line, or (a digest wider than the
    terminal's 80 columns beside its key) the value whole on the line below the key."""
    return re.search(rf"^{re.escape(key)}(?: +|\n  ){re.escape(value)}$", text, re.M) is not None


def _agree(name: str, manifest_digest: str, image_id: str) -> None:
    """inspect (text and JSON), digest, digest --image-id and audit all name both values."""
    report = _json("inspect", name)
    assert (report["manifest_digest"], report["image_id"]) == (manifest_digest, image_id)
    assert report["digest"] == manifest_digest  # the older key, same value
    text = run_cli("inspect", name).stdout
    assert shows(text, "manifest digest", manifest_digest), text
    assert image_id in text and "image id" in text
    assert _digest(name) == manifest_digest
    assert _digest("--image-id", name) == image_id
    audit = _json("audit", name)
    assert (audit["digest"], audit["image_id"]) == (manifest_digest, image_id)


def _add_index(layout: Path, tag: str, new_tag: str) -> str:
    """Tag an OCI index holding the image tagged ``tag`` (linux/amd64) as ``new_tag``."""
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    entry = next(
        m
        for m in index["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag
    )
    child = {k: entry[k] for k in ("mediaType", "digest", "size")}
    child["platform"] = {"architecture": "amd64", "os": "linux"}
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [child],
    }
    data = json.dumps(doc).encode()
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(data)
    index["manifests"].append(
        {
            "mediaType": doc["mediaType"],
            "digest": f"sha256:{digest}",
            "size": len(data),
            "annotations": {"org.opencontainers.image.ref.name": new_tag},
        }
    )
    index_path.write_text(json.dumps(index))
    return f"sha256:{digest}"


def test_archive_image_has_one_digest_as_skopeo_reports_it(
    examples: Examples, skopeo: Run, tmp_path: Path
) -> None:
    archive = tmp_path / "hello.tar"
    name = f"docker-archive:{archive}"
    packed = _json("pack", examples.hello, "-o", f"{name}:hello:v1", "--tz", "none")
    theirs = _skopeo_digest(skopeo, name)
    image_id = _skopeo_image_id(skopeo, name)
    assert (packed["manifest_digest"], packed["image_id"]) == (theirs, image_id)
    assert theirs != image_id  # the two terms are two values
    text = run_cli("pack", examples.hello, "-o", f"{name}:hello:v1", "--tz", "none", "--force")
    assert shows(text.stdout, "manifest digest", theirs), text.stdout
    assert shows(text.stdout, "image id", image_id), text.stdout
    _agree(name, theirs, image_id)


def test_archive_with_compressed_layers_matches_skopeo(
    examples: Examples, skopeo: Run, tmp_path: Path
) -> None:
    """skopeo lists a compressed archive layer by its diff_id and *uncompressed* size."""
    import gzip
    import tarfile

    plain = tmp_path / "plain.tar"
    run_cli("pack", examples.hello, "-o", f"docker-archive:{plain}:hello:v1", "--tz", "none")
    zipped = tmp_path / "zipped.tar"
    with tarfile.open(plain) as src, tarfile.open(zipped, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith(".tar"):
                data = gzip.compress(data, mtime=0)
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    name = f"docker-archive:{zipped}"
    theirs = _skopeo_digest(skopeo, name)
    assert theirs == _skopeo_digest(skopeo, f"docker-archive:{plain}")
    assert _digest(name) == theirs
    assert _json("inspect", name)["manifest_digest"] == theirs


def test_oci_manifest_and_index_digests_match_skopeo(
    examples: Examples, skopeo: Run, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    packed = _json("pack", examples.hello, "-o", f"oci:{layout}:v1", "--tz", "none")
    single = f"oci:{layout}:v1"
    assert packed["manifest_digest"] == _skopeo_digest(skopeo, single)
    assert packed["image_id"] == _skopeo_image_id(skopeo, single)
    _agree(single, packed["manifest_digest"], packed["image_id"])

    index_digest = _add_index(layout, "v1", "multi")
    multi = f"oci:{layout}:multi"
    assert _skopeo_digest(skopeo, multi) == index_digest
    _agree(multi, index_digest, packed["image_id"])
    report = _json("inspect", multi)
    assert report["platform_manifest_digest"] == packed["manifest_digest"]
    assert shows(run_cli("inspect", multi).stdout, "platform manifest", packed["manifest_digest"])


def test_copy_prints_the_digest_written_at_the_destination(
    examples: Examples, skopeo: Run, registry: str, tmp_path: Path
) -> None:
    archive = f"docker-archive:{tmp_path / 'hello.tar'}"
    packed = _json("pack", examples.hello, "-o", f"{archive}:hello:v1", "--tz", "none")
    repo = f"{registry}/digests-{uuid.uuid4().hex[:8]}"

    pushed = _json("copy", archive, f"docker://{repo}:v1")
    remote = f"docker://{repo}:v1"
    # the push compresses the layers: a new manifest digest, the same image id
    assert pushed["manifest_digest"] == _skopeo_digest(skopeo, remote)
    assert pushed["manifest_digest"] != packed["manifest_digest"]
    assert pushed["image_id"] == packed["image_id"] == _skopeo_image_id(skopeo, remote)
    _agree(remote, pushed["manifest_digest"], pushed["image_id"])
    # skopeo's --digestfile for the same image, registry to registry, says the same
    digestfile = tmp_path / "digestfile"
    skopeo(
        "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
        "--digestfile", str(digestfile), remote, f"docker://{repo}:again",
    )  # fmt: skip
    assert digestfile.read_text().strip() == pushed["manifest_digest"]

    back = tmp_path / "back.tar"
    copied = _json("copy", remote, f"docker-archive:{back}:hello:v1")
    assert copied["manifest_digest"] == _skopeo_digest(skopeo, f"docker-archive:{back}")
    assert copied["manifest_digest"] == packed["manifest_digest"]  # same layers, same tars
    text = run_cli("copy", remote, f"docker-archive:{back}:hello:v1", "--force").stdout
    assert shows(text, "manifest digest", copied["manifest_digest"]), text
    assert shows(text, "image id", packed["image_id"]), text


def test_pack_to_registry_and_an_index_pushed_whole(
    examples: Examples, skopeo: Run, registry: str, tmp_path: Path
) -> None:
    repo = f"{registry}/digests-{uuid.uuid4().hex[:8]}"
    packed = _json("pack", examples.hello, "-o", f"docker://{repo}:v1", "--tz", "none")
    assert packed["manifest_digest"] == _skopeo_digest(skopeo, f"docker://{repo}:v1")
    assert packed["image_id"] == _skopeo_image_id(skopeo, f"docker://{repo}:v1")

    layout = tmp_path / "layout"
    run_cli("pack", examples.hello, "-o", f"oci:{layout}:v1", "--tz", "none")
    index_digest = _add_index(layout, "v1", "multi")
    copied = _json("copy", "--all", f"oci:{layout}:multi", f"docker://{repo}:multi")
    assert copied["manifest_digest"] == index_digest
    assert copied["image_id"] is None  # an index has one per platform
    assert _skopeo_digest(skopeo, f"docker://{repo}:multi") == index_digest
    _agree(f"docker://{repo}:multi", index_digest, packed["image_id"])


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_oci_digest_refuses_a_tag_whose_manifest_blob_is_gone_or_altered(
    examples: Examples, tmp_path: Path, damage: str
) -> None:
    layout = tmp_path / "layout"
    manifest_digest = _digest_of_pack(examples, layout)
    blob = layout / "blobs" / "sha256" / manifest_digest.removeprefix("sha256:")
    if damage == "missing":
        blob.unlink()
        assert_clean_error(run_cli("digest", f"oci:{layout}:v1"), 1, "is missing")
    else:
        blob.chmod(0o644)
        blob.write_bytes(blob.read_bytes().replace(b'"schemaVersion"', b'"schemaversion"'))
        assert_clean_error(run_cli("digest", f"oci:{layout}:v1"), 1, manifest_digest)


def _digest_of_pack(examples: Examples, layout: Path) -> str:
    packed = _json("pack", examples.hello, "-o", f"oci:{layout}:v1", "--tz", "none")
    assert _digest(f"oci:{layout}:v1") == packed["manifest_digest"]
    return str(packed["manifest_digest"])


def test_digest_platform_without_image_id_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("digest", "--platform", "linux/amd64", f"oci:{tmp_path}:v1")
    assert_clean_error(result, 2, "--platform goes with --image-id")


def test_daemon_image_digest_matches_skopeo_and_docker(
    examples: Examples, skopeo: Run, docker: Run, tool_env: dict[str, str], tmp_path: Path
) -> None:
    tag = f"digests-{uuid.uuid4().hex[:8]}:v1"
    name = f"docker-daemon:{tag}"
    try:
        packed = _json("pack", examples.hello, "-o", name, "--tz", "none")
        theirs = json.loads(
            skopeo("inspect", "--daemon-host", tool_env["DOCKER_HOST"], name).stdout
        )["Digest"]
        assert packed["manifest_digest"] == theirs
        # the image id is the one docker itself shows
        docker_id = docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.decode().strip()
        assert packed["image_id"] == docker_id
        _agree(name, theirs, docker_id)
        # the same image in an archive has the same (made-up) manifest digest
        archive = f"docker-archive:{tmp_path / 'hello.tar'}"
        packed_archive = _json("pack", examples.hello, "-o", f"{archive}:{tag}", "--tz", "none")
        assert packed_archive["manifest_digest"] == theirs
    finally:
        docker("rmi", "-f", tag, check=False)
