"""The docker:// transport against the real distribution server, skopeo, docker and podman."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faultproxy import Fault, FaultProxy
from helpers import (
    Examples,
    assert_clean_error,
    layout_manifest,
    not_progress,
    run_cli,
)
from realtools import free_tcp_port
from registryserver import htpasswd_yaml, running_registry
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Index, canonical_json
from scratchpack.model.reference import Reference
from scratchpack.operations.copy import CopyOptions, copy
from scratchpack.transports.names import ArchiveName, OciName, RegistryName
from scratchpack.transports.registry import repository as repository_module
from scratchpack.transports.registry.transport import RegistryOptions
from tokenserver import TokenServer

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
NO_TLS = "--tls-verify=false"


@pytest.fixture
def repo(registry: str, unique_name: str) -> str:
    """A fresh repository on the shared test registry."""
    return f"{registry}/{unique_name}"


def _ok(*args: str | Path, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    result = run_cli(*args, "--format", "json", env=env)
    assert result.code == 0, result.stderr
    assert not not_progress(result.stderr), result.stderr  # progress lines only
    return dict(result.json())


def _layout(examples: Examples, path: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    return _ok("pack", examples.hello, "-o", f"oci:{path}:v1", *extra)


def test_push_is_read_by_skopeo_and_docker(
    examples: Examples, repo: str, skopeo: Run, docker: Run, tmp_path: Path
) -> None:
    summary = _ok("pack", examples.hello, "-o", f"docker://{repo}:v1")
    info = json.loads(skopeo("inspect", NO_TLS, f"docker://{repo}:v1").stdout)
    assert info["Digest"] == summary["digest"]
    skopeo("copy", "--src-tls-verify=false", f"docker://{repo}:v1", f"oci:{tmp_path / 's'}:v1")
    report = run_cli("inspect", f"oci:{tmp_path / 's'}:v1", "--format", "json")
    assert report.json()["digest"] == summary["digest"]
    docker("pull", "-q", f"{repo}:v1")
    try:
        out = docker("run", "--rm", "--network", "none", f"{repo}:v1").stdout.decode()
        assert "uid=65532 gid=65532" in out
        image_id = docker("image", "inspect", "-f", "{{.Id}}", f"{repo}:v1").stdout.decode()
        assert image_id.strip() == summary["config_digest"]
    finally:
        docker("rmi", "-f", f"{repo}:v1", check=False)


def test_skopeo_push_then_we_pull_and_podman_runs(
    examples: Examples, repo: str, skopeo: Run, podman: Run, tmp_path: Path
) -> None:
    summary = _layout(examples, tmp_path / "ours")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'ours'}:v1", f"docker://{repo}:v1")
    result = _ok("copy", f"docker://{repo}:v1", f"oci:{tmp_path / 'pulled'}:v1")
    assert result["digest"] == summary["digest"] and result["digest_preserved"]
    assert _ok("inspect", f"docker://{repo}:v1")["digest"] == summary["digest"]
    out = podman("run", "--rm", "--network", "none", f"oci:{tmp_path / 'pulled'}:v1").stdout
    assert b"uid=65532 gid=65532" in out
    for name in ("index.json",):
        assert (
            json.loads((tmp_path / "pulled" / name).read_text())["manifests"][0]["digest"]
            == (summary["digest"])
        )


def test_pushing_twice_uploads_no_blob(
    examples: Examples, repo: str, registry_access_log: Path, tmp_path: Path
) -> None:
    _layout(examples, tmp_path / "l")
    first = _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    assert first["blobs"] == {"uploaded": 3}
    time.sleep(0.2)
    path = repo.split("/", 1)[1]
    uploads_before = _count_uploads(registry_access_log, path)
    second = _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    assert second["blobs"] == {"existing": 3}
    time.sleep(0.2)
    assert _count_uploads(registry_access_log, path) == uploads_before
    assert uploads_before >= 3


def test_a_manifest_the_registry_has_spares_every_blob_question(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A re-push asks for the manifest by digest first (issue 17): present, no blob is asked
    about or read, and only the tag is written; a new tag for it is one PUT too, and reads
    back as the same image."""
    summary = _layout(examples, tmp_path / "l")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    path = repo.split("/", 1)[1]
    through = f"docker://{proxy.address}/{path}"
    again = _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"{through}:v1", NO_TLS)
    assert again["blobs"] == {"existing": len(summary["layers"]) + 1}
    retagged = _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"{through}:v2", NO_TLS)
    assert retagged["blobs"] == again["blobs"]
    assert _requests(proxy, f"HEAD /v2/{path}/blobs/") == 0
    assert _requests(proxy, f"POST /v2/{path}/blobs/uploads/") == 0
    assert _requests(proxy, f"HEAD /v2/{path}/manifests/{summary['digest']}") == 2
    assert _requests(proxy, f"PUT /v2/{path}/manifests/v") == 2
    pulled = _ok("copy", f"docker://{repo}:v2", f"oci:{tmp_path / 'back'}:v2")
    assert pulled["digest"] == summary["digest"]
    assert _blob_paths(tmp_path / "back") == _blob_paths(tmp_path / "l")


def _count_uploads(log: Path, path: str) -> int:
    lines = log.read_text(errors="replace").splitlines()
    return sum(1 for line in lines if f"/v2/{path}/blobs/uploads" in line and '"POST ' in line)


def test_copy_within_a_registry_mounts_blobs(examples: Examples, repo: str, tmp_path: Path) -> None:
    _layout(examples, tmp_path / "l")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    moved = _ok("copy", f"docker://{repo}:v1", f"docker://{repo}-copy:v1")
    assert moved["blobs"] == {"mounted": 3}
    assert moved["digest_preserved"]


def test_digest_and_tags(examples: Examples, repo: str, tmp_path: Path) -> None:
    summary = _layout(examples, tmp_path / "l")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v2")
    digest = run_cli("digest", f"docker://{repo}:v1")
    assert digest.code == 0 and digest.stdout.strip() == summary["digest"]
    assert run_cli("digest", f"{repo}:v2").stdout.strip() == summary["digest"]
    assert run_cli("digest", f"oci:{tmp_path / 'l'}:v1").stdout.strip() == summary["digest"]
    tags = run_cli("tags", f"docker://{repo}", "--format", "json")
    assert tags.code == 0 and json.loads(tags.stdout) == ["v1", "v2"]
    by_digest = _ok("inspect", f"docker://{repo}@{summary['digest']}")
    assert by_digest["digest"] == summary["digest"]
    assert_clean_error(run_cli("digest", f"docker://{repo}:nope"), 2, f"{repo}:nope: no such image")
    assert_clean_error(
        run_cli("copy", f"docker://{repo}:nope", f"oci:{tmp_path}/x"), 2, "no such image"
    )
    assert not (tmp_path / "x").exists()


def _multi_platform_layout(examples: Examples, path: Path) -> tuple[str, str, str]:
    """A layout whose tag 'multi' is an index of an amd64 and an arm64 image."""
    _layout(examples, path)
    amd64 = layout_manifest(path, "v1")
    blobs = path / "blobs/sha256"
    amd64_bytes = canonical_json(amd64)
    assert Digest.of(amd64_bytes).hex in {p.name for p in blobs.iterdir()}
    config = json.loads((blobs / amd64["config"]["digest"][7:]).read_text())
    config["architecture"] = "arm64"
    config_bytes = canonical_json(config)
    (blobs / Digest.of(config_bytes).hex).write_bytes(config_bytes)
    arm = dict(amd64)
    arm["config"] = dict(
        amd64["config"], digest=str(Digest.of(config_bytes)), size=len(config_bytes)
    )
    arm_bytes = canonical_json(arm)
    (blobs / Digest.of(arm_bytes).hex).write_bytes(arm_bytes)
    index = Index(
        (
            Descriptor(mt.OCI_MANIFEST, Digest.of(amd64_bytes), len(amd64_bytes),
                       platform=Platform("linux", "amd64")),
            Descriptor(mt.OCI_MANIFEST, Digest.of(arm_bytes), len(arm_bytes),
                       platform=Platform("linux", "arm64", "v8")),
        )
    ).to_bytes()  # fmt: skip
    (blobs / Digest.of(index).hex).write_bytes(index)
    top = json.loads((path / "index.json").read_text())
    top["manifests"].append(
        {"mediaType": mt.OCI_INDEX, "digest": str(Digest.of(index)), "size": len(index),
         "annotations": {mt.ANNOTATION_REF_NAME: "multi"}}
    )  # fmt: skip
    (path / "index.json").write_text(json.dumps(top))
    return str(Digest.of(index)), str(Digest.of(amd64_bytes)), str(Digest.of(arm_bytes))


def test_multi_platform_copy_all_and_platform_selection(
    examples: Examples, repo: str, skopeo: Run, tmp_path: Path
) -> None:
    index, amd64, arm64 = _multi_platform_layout(examples, tmp_path / "l")
    pushed = _ok("copy", "--all", f"oci:{tmp_path / 'l'}:multi", f"docker://{repo}:multi")
    assert pushed["digest"] == index and pushed["manifests"] == 3
    raw = json.loads(skopeo("inspect", NO_TLS, "--raw", f"docker://{repo}:multi").stdout)
    assert {m["digest"] for m in raw["manifests"]} == {amd64, arm64}
    assert run_cli("digest", f"docker://{repo}:multi").stdout.strip() == index
    arm = _ok(
        "copy", "--platform", "linux/arm64", f"docker://{repo}:multi", f"oci:{tmp_path / 'a'}"
    )
    assert arm["digest"] == arm64
    inspected = _ok("inspect", f"docker://{repo}:multi", "--platform", "linux/arm64")
    # the tag points at the index (its digest is the manifest digest); arm64 is what was picked
    assert (inspected["manifest_digest"], inspected["platform_manifest_digest"]) == (index, arm64)
    host = _ok("copy", f"docker://{repo}:multi", f"oci:{tmp_path / 'h'}")
    assert host["digest"] == amd64
    back = _ok("copy", "--all", f"docker://{repo}:multi", f"oci:{tmp_path / 'all'}:m")
    assert back["digest"] == index
    missing = run_cli(
        "copy", "--platform", "linux/s390x", f"docker://{repo}:multi", f"oci:{tmp_path}/s"
    )
    assert_clean_error(missing, 2, "no image for linux/s390x")  # a usage error (issue 14)


# -- faults -------------------------------------------------------------------------------


@pytest.fixture
def proxy(registry: str) -> Iterator[FaultProxy]:
    with FaultProxy(registry) as p:
        yield p


def _blob_paths(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs/sha256").iterdir()}


def test_pull_survives_500s_429s_and_dropped_connections(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    summary = _layout(examples, tmp_path / "l")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    path = repo.split("/", 1)[1]
    via = f"docker://{proxy.address}/{path}:v1"
    proxy.add(Fault("GET", "/manifests/", "status", times=2, status=500))
    proxy.add(Fault("GET", "/blobs/", "status", times=1, status=429, headers={"Retry-After": "1"}))
    biggest = max(summary["layers"], key=lambda la: la["size"])["digest"]
    proxy.add(Fault("GET", f"/blobs/{biggest}", "drop", times=2))
    started = time.monotonic()
    result = _ok("copy", via, f"oci:{tmp_path / 'p'}:v1")
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    assert result["digest"] == summary["digest"]
    assert _blob_paths(tmp_path / "p") == _blob_paths(tmp_path / "l")
    assert all(f.hits == f.times for f in proxy.faults)


def test_stalled_transfer_times_out_then_retries_or_fails_cleanly(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    summary = _layout(examples, tmp_path / "l")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    via = f"docker://{proxy.address}/{repo.split('/', 1)[1]}:v1"
    biggest = max(summary["layers"], key=lambda la: la["size"])["digest"]
    stall = proxy.add(Fault("GET", f"/blobs/{biggest}", "stall", times=1, delay=6))
    started = time.monotonic()
    result = _ok("copy", "--timeout", "1", via, f"oci:{tmp_path / 'p'}:v1")
    assert time.monotonic() - started < 5  # gave up on the silent connection, did not wait it out
    assert stall.hits == 1
    assert result["digest"] == summary["digest"]
    assert _blob_paths(tmp_path / "p") == _blob_paths(tmp_path / "l")
    # no retries left: a clear error naming the timeout, and nothing written
    proxy.add(Fault("GET", f"/blobs/{biggest}", "stall", times=1, delay=6))
    failed = run_cli("copy", "--timeout", "1", "--retries", "0", via, f"oci:{tmp_path / 'q'}:v1")
    assert_clean_error(failed, 1, "timed out")
    assert not (tmp_path / "q").exists()
    assert_clean_error(run_cli("copy", "--timeout", "0", via, "oci:x:1"), 2, "--timeout")
    assert_clean_error(run_cli("copy", "--retries", "-1", via, "oci:x:1"), 2, "--retries")


def test_push_survives_server_errors(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    summary = _layout(examples, tmp_path / "l")
    path = repo.split("/", 1)[1]
    proxy.add(Fault("POST", "/blobs/uploads/", "status", times=2, status=503))
    proxy.add(Fault("PUT", "/blobs/uploads/", "status", times=1, status=500))
    proxy.add(Fault("PUT", "/manifests/", "status", times=1, status=502))
    # a connection reset before the registry sees the body: the PUT is sent again, in full
    reset = proxy.add(Fault("PUT", "/blobs/uploads/", "reset", times=1, after=1))
    result = _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{proxy.address}/{path}:v1")
    assert result["digest"] == summary["digest"]
    assert reset.hits == 1
    assert run_cli("digest", f"docker://{repo}:v1").stdout.strip() == summary["digest"]


def test_corrupt_bytes_fail_and_leave_nothing(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    _layout(examples, tmp_path / "l")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    path = repo.split("/", 1)[1]
    proxy.add(Fault("GET", "/blobs/sha256:", "corrupt", times=100))
    dest = tmp_path / "out"
    result = run_cli("copy", f"docker://{proxy.address}/{path}:v1", f"oci:{dest}:v1")
    assert_clean_error(result, 1, "digest mismatch")
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["l"]


@pytest.mark.parametrize(("action", "outcome"), [("reset", "resumed"), ("swallow", "restarted")])
def test_interrupted_chunked_upload_recovers(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, action: str, outcome: str,
) -> None:  # fmt: skip
    """A chunk lost on the way resumes at the registry's offset; one lost on the way back
    (the registry applied it, the client cannot know) restarts the upload."""
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(3 << 20))  # incompressible: a 3 MiB layer
    layout = tmp_path / "l"
    summary = _ok(
        "pack", examples.hello, "-o", f"oci:{layout}:v1", "--compression", "none",
        "--add", f"{payload}:/data/payload.bin", "--tz", "none",
    )  # fmt: skip
    monkeypatch.setattr(repository_module, "CHUNK_THRESHOLD", 1 << 20)
    monkeypatch.setattr(repository_module, "CHUNK_SIZE", 512 << 10)
    fault = proxy.add(Fault("PATCH", "/blobs/uploads/", action, times=1, after=1))
    path = repo.split("/", 1)[1]
    options = RegistryOptions(tls_verify=False)
    try:
        result = copy(
            CopyOptions(
                OciName(layout, "v1"),
                RegistryName(Reference.parse(f"{proxy.address}/{path}:v1")),
                registry=options,
            )
        )
    finally:
        options.close()
    assert str(result.digest) == summary["digest"]
    assert fault.hits == 1
    patches = sum(
        n for key, n in proxy.requests.items() if key.startswith(f"PATCH /v2/{path}/blobs/uploads/")
    )
    chunks = sum(-(-la["size"] // (512 << 10)) for la in summary["layers"] if la["size"] > 1 << 20)
    if outcome == "resumed":
        assert patches == chunks + 1  # only the lost chunk was sent twice
    else:
        assert patches > chunks + 1
    pulled = _ok("copy", f"docker://{repo}:v1", f"oci:{tmp_path / 'back'}:v1")
    assert pulled["digest"] == summary["digest"]
    assert _blob_paths(tmp_path / "back") == _blob_paths(layout)


def _requests(proxy: FaultProxy, prefix: str) -> int:
    return sum(n for key, n in proxy.requests.items() if key.startswith(prefix))


def test_a_pull_fetches_each_blob_once(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The config is read to check it before any layer moves; the layout then gets those
    verified bytes, not a second download (issue 17: one serial round trip per image)."""
    summary = _layout(examples, tmp_path / "l")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    path = repo.split("/", 1)[1]
    pulled = _ok("copy", f"docker://{proxy.address}/{path}:v1", f"oci:{tmp_path / 'p'}:v1")
    assert pulled["digest"] == summary["digest"]
    manifest = layout_manifest(tmp_path / "p", "v1")
    blobs = [manifest["config"]["digest"], *(la["digest"] for la in manifest["layers"])]
    for digest in blobs:
        assert proxy.requests[f"GET /v2/{path}/blobs/{digest}"] == 1, proxy.requests
        blob = tmp_path / "p/blobs/sha256" / digest.split(":", 1)[1]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest.split(":", 1)[1]


def test_a_pull_whose_config_is_refused_writes_nothing(
    examples: Examples, repo: str, tmp_path: Path
) -> None:
    """A pull into oci: whose config check refuses the image (here: not the platform asked
    for, on an image with several layers) fails with that message and leaves no layout,
    staging directory or blob behind. (Moving the layers while the config is checked was
    tried for issue 17 and gave nothing: the thread pool's start is on that path too.)"""
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(1 << 20))
    _layout(examples, tmp_path / "l", "--add", f"{payload}:/data/payload.bin")
    _ok("copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1")
    into = tmp_path / "pulled"
    into.mkdir()
    result = run_cli("copy", "--platform", "linux/s390x", f"docker://{repo}:v1",
                     f"oci:{into / 'p'}:v1")  # fmt: skip
    assert result.code != 0
    assert "s390x" in result.stderr, result.stderr
    assert list(into.iterdir()) == []


def _layout_with_payload(examples: Examples, layout: Path) -> dict:  # type: ignore[type-arg]
    """A layout whose biggest layer is an uncompressed 3 MiB of random data (plus tar)."""
    payload = layout.parent / "payload.bin"
    payload.write_bytes(os.urandom(3 << 20))
    return _ok(
        "pack", examples.hello, "-o", f"oci:{layout}:v1", "--compression", "none",
        "--add", f"{payload}:/data/payload.bin", "--tz", "none",
    )  # fmt: skip


@pytest.mark.parametrize("chunk_mib", ["", "1"])
def test_upload_chunk_size_and_one_head_per_blob(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path, chunk_mib: str
) -> None:
    """A 3 MiB layer goes up in one PUT by default (chunks start above 512 MiB) and in 1 MiB
    PATCHes with SCRATCHPACK_UPLOAD_CHUNK_MIB=1 (above 2 MiB); every blob is asked about once
    (a HEAD each, not one before the decision and one again in the upload), and reads back
    intact."""
    layout = tmp_path / "l"
    summary = _layout_with_payload(examples, layout)
    path = repo.split("/", 1)[1]
    pushed = _ok(
        "copy", f"oci:{layout}:v1", f"docker://{proxy.address}/{path}:v1", NO_TLS,
        env={"SCRATCHPACK_UPLOAD_CHUNK_MIB": chunk_mib},
    )  # fmt: skip
    assert pushed["blobs"] == {"uploaded": len(summary["layers"]) + 1}
    mib = 1 << 20
    chunked = [la["size"] for la in summary["layers"] if chunk_mib and la["size"] > 2 * mib]
    assert bool(chunked) == bool(chunk_mib)  # the 3 MiB layer, and only when asked
    patches = sum(-(-size // mib) for size in chunked)
    assert _requests(proxy, f"PATCH /v2/{path}/blobs/uploads/") == patches
    assert _requests(proxy, f"HEAD /v2/{path}/blobs/") == len(summary["layers"]) + 1
    pulled = _ok("copy", f"docker://{repo}:v1", f"oci:{tmp_path / 'back'}:v1")
    assert pulled["digest"] == summary["digest"]
    assert _blob_paths(tmp_path / "back") == _blob_paths(layout)


@pytest.mark.parametrize("value", ["0", "abc", "-3", "99999", "1.5"])
def test_a_bad_upload_chunk_size_is_one_clear_line(
    examples: Examples, repo: str, tmp_path: Path, value: str
) -> None:
    _layout(examples, tmp_path / "l")
    result = run_cli(
        "copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{repo}:v1",
        env={"SCRATCHPACK_UPLOAD_CHUNK_MIB": value},
    )  # fmt: skip
    assert_clean_error(result, 2, "SCRATCHPACK_UPLOAD_CHUNK_MIB")


def test_a_blob_the_registry_has_is_not_read(examples: Examples, repo: str, tmp_path: Path) -> None:
    """A re-push hashes nothing the registry already holds (it hashed 300 MB to send none,
    issue 17): a damaged local copy of a present blob does not matter, the registry's bytes are
    the ones the digest names; the same damage fails a push to where the blob is missing."""
    layout = tmp_path / "l"
    summary = _layout(examples, layout)
    _ok("copy", f"oci:{layout}:v1", f"docker://{repo}:v1")
    biggest = max(summary["layers"], key=lambda la: la["size"])["digest"]
    blob = layout / "blobs/sha256" / biggest.split(":", 1)[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    again = _ok("copy", f"oci:{layout}:v1", f"docker://{repo}:v1")
    assert again["blobs"] == {"existing": len(summary["layers"]) + 1}
    fresh = run_cli("copy", f"oci:{layout}:v1", f"docker://{repo}-fresh:v1")
    assert_clean_error(fresh, 1, biggest.split(":", 1)[1][:12])


@pytest.mark.parametrize(("chunk_mib", "where"), [("", 0.5), ("1", 0.1), ("1", 0.95)])
def test_a_damaged_local_blob_never_completes_its_upload(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path, chunk_mib: str, where: float
) -> None:
    """A local blob is verified while it streams, not hashed first (issue 17): one flipped
    byte (in the first chunk, the last, or a single PUT) fails the push with one line naming
    the blob, without retries, and the registry never holds it: a chunked upload's final PUT
    is never sent, a single PUT's body never completes."""
    layout = tmp_path / "l"
    summary = _layout_with_payload(examples, layout)
    biggest = max(summary["layers"], key=lambda la: la["size"])
    blob = layout / "blobs/sha256" / biggest["digest"].split(":", 1)[1]
    data = bytearray(blob.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    blob.write_bytes(bytes(data))
    path = repo.split("/", 1)[1]
    result = run_cli(
        "copy", f"oci:{layout}:v1", f"docker://{proxy.address}/{path}:v1", NO_TLS,
        env={"SCRATCHPACK_UPLOAD_CHUNK_MIB": chunk_mib},
    )  # fmt: skip
    assert_clean_error(result, 1, biggest["digest"].split(":", 1)[1][:12], "digest")
    blobs = len(summary["layers"]) + 1
    puts = _requests(proxy, f"PUT /v2/{path}/blobs/uploads/")
    if chunk_mib:
        assert puts == blobs - 1  # every other blob's, none for the damaged one
        assert _requests(proxy, f"PATCH /v2/{path}/blobs/uploads/") == -(-len(data) // (1 << 20))
    else:
        assert puts == blobs  # its body started, and never ended
    assert _requests(proxy, f"PUT /v2/{path}/manifests/") == 0
    head = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-I",
         f"http://{repo.split('/', 1)[0]}/v2/{path}/blobs/{biggest['digest']}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert head.stdout == "404"


# -- authentication -----------------------------------------------------------------------


@pytest.fixture
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second registry that wants HTTP basic auth (htpasswd, bcrypt): alice / s3cret."""
    root = tmp_path_factory.mktemp("auth-registry")
    with running_registry(root, htpasswd_yaml(root)) as address:
        yield address


def test_cookies_a_registry_sets_are_never_sent_back(tmp_path: Path) -> None:
    """A registry (distribution's ``http.headers``) that sets a cookie on every answer: no
    later request carries it (skopeo keeps none either), including the ones with the
    credentials. The jar that keeps nothing also spares parsing every answer's headers into
    a cookie jar (issue 17)."""
    from scratchpack.transports.registry.auth import Credentials
    from scratchpack.transports.registry.client import RegistryClient

    cookie = '  headers:\n    Set-Cookie: ["session=s3cr3t-cookie; Path=/"]\n'
    with (
        running_registry(tmp_path, cookie + htpasswd_yaml(tmp_path)) as address,
        RegistryClient(address, credentials=Credentials("alice", "s3cret")) as client,
    ):
        answers = [client.request("GET", "/v2/") for _ in range(3)]
        assert all("session=s3cr3t-cookie" in a.headers.get("set-cookie", "") for a in answers)
        assert [a.request.headers.get("cookie") for a in answers] == [None, None, None]
        assert all(a.request.headers.get("authorization") for a in answers[1:])


@pytest.fixture
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TokenServer]]:
    """A registry with bearer-token auth, and the token server it trusts."""
    root = tmp_path_factory.mktemp("token-registry")
    with TokenServer(root) as tokens, running_registry(root, tokens.registry_auth_yaml()) as addr:
        yield addr, tokens


def test_bearer_token_flow(
    examples: Examples, token_registry: tuple[str, TokenServer], tmp_path: Path
) -> None:
    address, tokens = token_registry
    _layout(examples, tmp_path / "l")
    src = f"oci:{tmp_path / 'l'}:v1"
    env = {"DOCKER_CONFIG": str(tmp_path / "empty"), "REGISTRY_AUTH_FILE": ""}
    wrong = run_cli("copy", src, f"docker://{address}/team/app:v1", "--creds", "alice:x", env=env)
    assert_clean_error(wrong, 1, "invalid username or password")
    tokens.requests.clear()
    pushed = run_cli(
        "copy", src, f"docker://{address}/team/app:v1", "--creds", "alice:s3cret", env=env
    )
    assert pushed.code == 0, pushed.stderr
    # one token for the push scope, reused for every blob and the manifest
    assert tokens.requests == {"repository:team/app:pull,push": 1}
    pulled = run_cli(
        "copy", f"docker://{address}/team/app:v1", f"oci:{tmp_path / 'p'}:v1",
        "--creds", "alice:s3cret", "--format", "json", env=env,
    )  # fmt: skip
    assert pulled.code == 0, pulled.stderr
    assert pulled.json()["digest_preserved"]
    # a copy within the registry asks for one token covering both repositories (for the mount)
    moved = run_cli(
        "copy", f"docker://{address}/team/app:v1", f"docker://{address}/team/other:v1",
        "--creds", "alice:s3cret", "--format", "json", env=env,
    )  # fmt: skip
    assert moved.code == 0, moved.stderr
    assert moved.json()["blobs"] == {"mounted": 3}


def test_basic_auth(examples: Examples, auth_registry: str, tmp_path: Path) -> None:
    _layout(examples, tmp_path / "l")
    src = f"oci:{tmp_path / 'l'}:v1"
    dest = f"docker://{auth_registry}/team/app:v1"
    no_config = {"DOCKER_CONFIG": str(tmp_path / "empty"), "REGISTRY_AUTH_FILE": ""}
    anonymous = run_cli("copy", src, dest, env=no_config)
    assert_clean_error(anonymous, 1, "requires authentication", "scratchpack login")
    wrong = run_cli("copy", src, dest, "--creds", "alice:nope", env=no_config)
    assert_clean_error(wrong, 1, "invalid username or password")
    assert run_cli("copy", src, dest, "--creds", "alice:s3cret", env=no_config).code == 0
    # credentials from a Docker config.json
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    token = base64.b64encode(b"alice:s3cret").decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {auth_registry: {"auth": token}}}))
    env = {"DOCKER_CONFIG": str(config_dir), "REGISTRY_AUTH_FILE": ""}
    tags = run_cli("tags", f"docker://{auth_registry}/team/app", "--format", "json", env=env)
    assert tags.code == 0, tags.stderr
    assert json.loads(tags.stdout) == ["v1"]
    # scratchpack login writes REGISTRY_AUTH_FILE, which later commands read
    auth_file = tmp_path / "auth.json"
    login_env = {"REGISTRY_AUTH_FILE": str(auth_file), "DOCKER_CONFIG": str(tmp_path / "empty")}
    login = ("login", auth_registry, "-u", "alice", "--password-stdin")
    bad = run_cli(*login, env=login_env, stdin="wrong\n")
    assert_clean_error(bad, 1, "invalid username or password")
    assert not auth_file.exists()
    good = run_cli(*login, env=login_env, stdin="s3cret\n")
    assert good.code == 0, good.stderr
    assert auth_file.stat().st_mode & 0o777 == 0o600
    pushed = run_cli("copy", src, f"docker://{auth_registry}/team/app:v2", env=login_env)
    assert pushed.code == 0, pushed.stderr


def test_credential_helper(examples: Examples, auth_registry: str, tmp_path: Path) -> None:
    _layout(examples, tmp_path / "l")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testhelper"
    helper.write_text(
        "#!/bin/sh\nread host\n"
        f'[ "$host" = "{auth_registry}" ] || exit 1\n'
        'echo \'{"Username":"alice","Secret":"s3cret"}\'\n'
    )
    helper.chmod(0o755)
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        json.dumps({"credHelpers": {auth_registry: "testhelper"}})
    )
    env = {
        "DOCKER_CONFIG": str(config_dir),
        "REGISTRY_AUTH_FILE": "",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    result = run_cli(
        "copy", f"oci:{tmp_path / 'l'}:v1", f"docker://{auth_registry}/h/app:v1", env=env
    )
    assert result.code == 0, result.stderr


def test_default_store_answers_before_a_stale_auths_entry(
    examples: Examples, auth_registry: str, tmp_path: Path
) -> None:
    """Docker's order: with ``credsStore`` set, its helper's credentials are used even when
    ``auths`` still holds an old password for the host; the entry serves only a host the
    helper does not know."""
    _layout(examples, tmp_path / "l")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-storehelper"
    helper.write_text(
        "#!/bin/sh\nread host\n"
        f'[ "$host" = "{auth_registry}" ] || '
        '{ echo "credentials not found in native keychain"; exit 1; }\n'
        'echo \'{"Username":"alice","Secret":"s3cret"}\'\n'
    )
    helper.chmod(0o755)
    stale = base64.b64encode(b"alice:old-password").decode()
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    config = {"credsStore": "storehelper", "auths": {auth_registry: {"auth": stale}}}
    (config_dir / "config.json").write_text(json.dumps(config))
    env = {
        "DOCKER_CONFIG": str(config_dir),
        "REGISTRY_AUTH_FILE": "",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    source = f"oci:{tmp_path / 'l'}:v1"
    result = run_cli("copy", source, f"docker://{auth_registry}/store/app:v1", env=env)
    assert result.code == 0, result.stderr
    # the helper does not know this spelling of the host: the file's entry is used, and it
    # holds the old password, which the registry refuses
    other = auth_registry.replace("127.0.0.1", "localhost")
    config["auths"] = {other: {"auth": stale}}
    (config_dir / "config.json").write_text(json.dumps(config))
    refused = run_cli("copy", source, f"docker://{other}/store/app:v2", env=env)
    assert_clean_error(refused, 1, "invalid username or password")


def test_invalid_registry_references(tmp_path: Path) -> None:
    assert_clean_error(run_cli("copy", "docker://", f"oci:{tmp_path}/x"), 2, "docker://")
    assert_clean_error(run_cli("copy", "docker://Bad/Name", f"oci:{tmp_path}/x"), 2, "lowercase")
    assert_clean_error(run_cli("tags", "docker://a/b:c@sha256:zz"), 2, "bad digest")
    unreachable = f"127.0.0.1:{free_tcp_port()}"
    result = run_cli("copy", f"docker://{unreachable}/x:1", f"oci:{tmp_path}/x")
    assert_clean_error(result, 1, f"cannot connect to {unreachable}: connection refused")
    assert not (tmp_path / "x").exists()
    tls = run_cli("digest", "docker://registry.invalid/x:1")
    assert tls.code == 1 and "Traceback" not in tls.stderr


def test_registry_to_daemon_and_back(
    examples: Examples, repo: str, docker: Run, skopeo: Run, unique_name: str,
    tool_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    summary = _ok("pack", examples.hello, "-o", f"docker://{repo}:v1")
    env = {"DOCKER_HOST": tool_env["DOCKER_HOST"]}
    local = f"{unique_name}-local:v1"
    try:
        loaded = _ok("copy", f"docker://{repo}:v1", f"docker-daemon:{local}", env=env)
        assert not loaded["digest_preserved"]  # the daemon keeps no manifest
        out = docker("run", "--rm", "--network", "none", local).stdout.decode()
        assert "uid=65532 gid=65532" in out
        pushed = _ok("copy", f"docker-daemon:{local}", f"docker://{repo}-back:v1", env=env)
        raw = json.loads(skopeo("inspect", NO_TLS, "--raw", f"docker://{repo}-back:v1").stdout)
        assert raw["mediaType"] == mt.DOCKER_MANIFEST
        assert {la["mediaType"] for la in raw["layers"]} == {mt.DOCKER_LAYER_GZIP}
        assert raw["config"]["digest"] == summary["config_digest"]  # same image ID
        assert pushed["digest"] == run_cli("digest", f"docker://{repo}-back:v1").stdout.strip()
    finally:
        docker("rmi", "-f", local, check=False)


@pytest.mark.parametrize("action", ["reset", "swallow"])
def test_chunked_upload_of_a_converted_layer_recovers(
    examples: Examples, repo: str, proxy: FaultProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, action: str,
) -> None:  # fmt: skip
    """From docker-archive: the layer is gzipped on the fly, a stream that cannot seek: a
    resume reopens it and reads forward (it used to fail with an AttributeError)."""
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(3 << 20))
    archive = tmp_path / "image.tar"
    _ok("pack", examples.hello, "-o", f"docker-archive:{archive}", "--tz", "none",
        "--add", f"{payload}:/data/payload.bin")  # fmt: skip
    monkeypatch.setattr(repository_module, "CHUNK_THRESHOLD", 1 << 20)
    monkeypatch.setattr(repository_module, "CHUNK_SIZE", 512 << 10)
    fault = proxy.add(Fault("PATCH", "/blobs/uploads/", action, times=1, after=2))
    path = repo.split("/", 1)[1]
    options = RegistryOptions(tls_verify=False)
    try:
        result = copy(
            CopyOptions(
                ArchiveName(archive, None),
                RegistryName(Reference.parse(f"{proxy.address}/{path}:v1")),
                registry=options,
            )
        )
    finally:
        options.close()
    assert fault.hits == 1
    pulled = _ok("copy", f"docker://{repo}:v1", f"docker-archive:{tmp_path / 'back.tar'}")
    assert pulled["digest"] != ""
    again = _ok("inspect", f"docker-archive:{tmp_path / 'back.tar'}")
    original = _ok("inspect", f"docker-archive:{archive}")
    assert [la["diff_id"] for la in again["layers"]] == [la["diff_id"] for la in original["layers"]]
    assert str(result.digest) == run_cli("digest", f"docker://{repo}:v1").stdout.strip()
