"""The fault matrix: push and pull through tests/faultproxy.py in front of a real, password
protected docker-registry, one injected fault per case, small (monolithic) and large (> 32 MiB,
chunked) blobs.

Every case ends in one of two ways: success with a byte-identical result (the registry serves
the manifest under the same digest and every blob reads back byte for byte; a pulled layout
has the same blob files), or a clean failure (one error line, exit 1, no traceback, nothing at
the destination). In every case no credential reached the second address (a "storage host" on
127.0.0.2 that uploads or downloads are sent to).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from faultproxy import Fault, FaultProxy
from helpers import Examples, assert_clean_error, run_cli
from registryserver import PASSWORD, USER, htpasswd_yaml, running_registry
from scratchpack.model.reference import Reference
from scratchpack.operations.copy import CopyOptions, copy
from scratchpack.transports.names import OciName, RegistryName
from scratchpack.transports.registry.auth import Credentials
from scratchpack.transports.registry.transport import RegistryOptions

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
CREDS = f"{USER}:{PASSWORD}"
BASIC = "Basic " + base64.b64encode(CREDS.encode()).decode()
# Chunks of 16 MiB (SCRATCHPACK_UPLOAD_CHUNK_MIB, see registry_env; the default is 64 MiB):
# 33 MiB is above the 32 MiB threshold that gives, so the large blob goes up in three PATCHes
# and a fault can hit the first, a middle or the last one without a 129 MiB payload.
CHUNK_MIB = 16
LARGE_PAYLOAD = 33 << 20


@dataclass(frozen=True)
class Source:
    layout: Path
    digest: str
    biggest: str  # the largest layer's digest


@pytest.fixture(scope="module")
def registry_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No credentials from the machine: only --creds counts; 16 MiB upload chunks."""
    empty = tmp_path_factory.mktemp("no-docker-config")
    return {
        "DOCKER_CONFIG": str(empty),
        "REGISTRY_AUTH_FILE": "",
        "SCRATCHPACK_UPLOAD_CHUNK_MIB": str(CHUNK_MIB),
    }


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("faults-registry")
    with running_registry(root, htpasswd_yaml(root)) as address:
        yield address


def _pack(examples: Examples, layout: Path, *extra: str) -> Source:
    result = run_cli("pack", examples.hello, "-o", f"oci:{layout}:v1", "--format", "json", *extra)
    assert result.code == 0, result.stderr
    summary = result.json()
    biggest = max(summary["layers"], key=lambda la: la["size"])["digest"]
    return Source(layout, summary["digest"], biggest)


@pytest.fixture(scope="module")
def small(examples: Examples, tmp_path_factory: pytest.TempPathFactory) -> Source:
    return _pack(examples, tmp_path_factory.mktemp("small") / "l")


@pytest.fixture(scope="module")
def large(examples: Examples, tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("large")
    payload = root / "payload.bin"
    payload.write_bytes(os.urandom(LARGE_PAYLOAD))
    return _pack(
        examples, root / "l", "--compression", "none", "--tz", "none",
        "--add", f"{payload}:/data/payload.bin",
    )  # fmt: skip


@pytest.fixture(scope="module")
def pushed(
    auth_registry: str, small: Source, large: Source, registry_env: dict[str, str]
) -> dict[str, Source]:
    """Both images on the registry (pushed without faults), for the pull cases."""
    for name, source in (("small", small), ("large", large)):
        dest = f"docker://{auth_registry}/faults/{name}:v1"
        result = run_cli(
            "copy", f"oci:{source.layout}:v1", dest, "--creds", CREDS, env=registry_env
        )
        assert result.code == 0, result.stderr
    return {"small": small, "large": large}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _blob_files(layout: Path) -> dict[str, str]:
    """Each blob file's name and the SHA-256 of its bytes (a diff of 33 MiB values would take
    pytest a minute to print)."""
    return {p.name: _sha(p.read_bytes()) for p in (layout / "blobs/sha256").iterdir()}


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # a path fragment; BIGGEST stands for the largest layer's digest
    action: str
    succeeds: bool
    times: int = 1
    status: int = 500
    headers: tuple[tuple[str, str], ...] = ()
    extra: int = 0
    after: int = 0
    max_body: int | None = None
    keep: bool = False  # the connection stays open after a wrong Content-Length
    flags: tuple[str, ...] = ()
    error: str = ""

    def fault(self, source: Source, storage: str) -> Fault:
        return Fault(
            self.method, self.path.replace("BIGGEST", source.biggest), self.action,
            times=self.times, status=self.status, headers=dict(self.headers), extra=self.extra,
            after=self.after, max_body=self.max_body, keep_alive=self.keep, delay=4.0,
            target=storage,
        )  # fmt: skip


STALL = ("--timeout", "1")
PULL_CASES = {
    "drop": Case("GET", "/blobs/BIGGEST", "reset", True),
    "5xx": Case("GET", "/manifests/", "status", True, status=503),
    "429": Case("GET", "/blobs/", "status", True, status=429, headers=(("Retry-After", "1"),)),
    "corrupt": Case("GET", "/blobs/BIGGEST", "corrupt", False, times=100, error="digest"),
    "truncated": Case("GET", "/blobs/BIGGEST", "drop", True, times=2),
    "length-long": Case("GET", "/blobs/BIGGEST", "length", True, extra=1000),
    "length-short": Case("GET", "/blobs/BIGGEST", "length", True, extra=-1000),
    "length-short-kept": Case("GET", "/blobs/", "length", True, times=3, extra=-100, keep=True),
    "body-too-long": Case(
        "GET",
        "/blobs/BIGGEST",
        "append",
        False,
        times=100,
        extra=10,
        error="more than the declared",
    ),
    "stall": Case("GET", "/blobs/BIGGEST", "stall", True, flags=STALL),
    "redirect": Case("GET", "/blobs/", "redirect", True, times=100),
}
LARGE_PULL_CASES = ("truncated", "length-long")
PUSH_CASES = {
    "drop": Case("PUT", "/blobs/uploads/", "reset", True),
    "5xx": Case("POST", "/blobs/uploads/", "status", True, status=503),
    "429": Case("PUT", "/manifests/", "status", True, status=429, headers=(("Retry-After", "1"),)),
    "corrupt": Case("PUT", "/blobs/uploads/", "corrupt", False, times=100, error="DIGEST_INVALID"),
    "length": Case("POST", "/blobs/uploads/", "length", True, extra=10),
    "stall": Case("PUT", "/blobs/uploads/", "hang", True, flags=STALL),
    "relocate": Case("POST", "/blobs/uploads/", "relocate", True, times=100),
    "redirect": Case("PUT", "/blobs/uploads/", "redirect", True, times=100),
    "lost-final-put": Case("PUT", "/blobs/uploads/", "swallow", True),
}
LARGE_PUSH_CASES = {
    "5xx-first-patch": Case("PATCH", "/blobs/uploads/", "status", True, status=503),
    "stall-first-patch": Case("PATCH", "/blobs/uploads/", "hang", True, flags=STALL),
    "lost-final-put": Case("PUT", "/blobs/uploads/", "swallow", True, max_body=0),
}


@pytest.fixture
def proxies(auth_registry: str) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """The registry's front door, and a "storage host" on another address that brings its own
    credentials upstream (as a presigned URL would): it must never get ours."""
    with (
        FaultProxy(auth_registry) as front,
        FaultProxy(
            auth_registry, bind="127.0.0.2", upstream_headers={"Authorization": BASIC}
        ) as storage,
    ):
        yield front, storage


def _pull_params() -> list[object]:
    params: list[object] = [pytest.param("small", name, id=f"small-{name}") for name in PULL_CASES]
    params += [pytest.param("large", name, id=f"large-{name}") for name in LARGE_PULL_CASES]
    return params


@pytest.mark.parametrize(("size", "name"), _pull_params())
def test_pull_through_a_fault(
    pushed: dict[str, Source], proxies: tuple[FaultProxy, FaultProxy],
    registry_env: dict[str, str], tmp_path: Path, size: str, name: str,
) -> None:  # fmt: skip
    front, storage = proxies
    source, case = pushed[size], PULL_CASES[name]
    fault = front.add(case.fault(source, storage.address))
    dest = tmp_path / "pulled"
    result = run_cli(
        "copy", f"docker://{front.address}/faults/{size}:v1", f"oci:{dest}:v1",
        "--creds", CREDS, "--format", "json", *case.flags, env=registry_env,
    )  # fmt: skip
    assert fault.hits >= 1
    if case.succeeds:
        assert result.code == 0, result.stderr
        assert result.json()["digest"] == source.digest
        assert _blob_files(dest) == _blob_files(source.layout)
    else:
        assert_clean_error(result, 1, case.error)
        assert not dest.exists()
        assert list(tmp_path.iterdir()) == []
    if name == "redirect":
        assert any(key.startswith("GET /v2/faults/") for key in storage.requests)
    assert storage.authorizations == [], "credentials reached another host"


def _pull_in_process(reference: str, layout: Path) -> None:
    """A direct pull, in this process (a CLI run costs a Python start-up per case)."""
    options = RegistryOptions(credentials=Credentials(USER, PASSWORD))
    try:
        copy(
            CopyOptions(
                RegistryName(Reference.parse(reference)), OciName(layout, "v1"), registry=options
            )
        )
    finally:
        options.close()


def _push_params() -> list[object]:
    params: list[object] = [pytest.param("small", name, id=f"small-{name}") for name in PUSH_CASES]
    params += [pytest.param("large", name, id=f"large-{name}") for name in LARGE_PUSH_CASES]
    return params


@pytest.mark.parametrize(("size", "name"), _push_params())
def test_push_through_a_fault(
    small: Source, large: Source, auth_registry: str, proxies: tuple[FaultProxy, FaultProxy],
    registry_env: dict[str, str], skopeo: Run, tmp_path: Path, unique_name: str,
    size: str, name: str,
) -> None:  # fmt: skip
    front, storage = proxies
    source = small if size == "small" else large
    case = PUSH_CASES[name] if size == "small" else LARGE_PUSH_CASES[name]
    fault = front.add(case.fault(source, storage.address))
    repo = f"faults/{unique_name}"
    result = run_cli(
        "copy", f"oci:{source.layout}:v1", f"docker://{front.address}/{repo}:v1",
        "--creds", CREDS, *case.flags, env=registry_env,
    )  # fmt: skip
    assert fault.hits >= 1
    direct = f"docker://{auth_registry}/{repo}:v1"
    creds = ("--tls-verify=false", "--creds", CREDS)
    assert storage.authorizations == [], "credentials reached another host"
    if not case.succeeds:
        assert_clean_error(result, 1, case.error)
        gone = skopeo("inspect", "--raw", *creds, direct, check=False)
        assert gone.returncode != 0 and b"manifest unknown" in gone.stderr
        return
    assert result.code == 0, result.stderr
    # skopeo reads the manifest (and the config) under the same digest...
    assert json.loads(skopeo("inspect", *creds, direct).stdout)["Digest"] == source.digest
    # ...and every blob reads back byte for byte (each verified against its digest)
    back = tmp_path / "back"
    _pull_in_process(f"{auth_registry}/{repo}:v1", back)
    assert _blob_files(back) == _blob_files(source.layout)
    if name in ("relocate", "redirect"):
        assert any(key.startswith("PUT /v2/faults/") for key in storage.requests)


def test_a_layer_listed_twice_is_fetched_once(
    pushed: dict[str, Source], auth_registry: str, proxies: tuple[FaultProxy, FaultProxy],
    registry_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    """BuildKit writes the same empty layer twice into a manifest; parallel downloads of one
    digest raced on one spool file. Each digest is now fetched once, and every pull works."""
    front, _ = proxies
    source = pushed["small"]
    index = json.loads((source.layout / "index.json").read_text())
    manifest_path = source.layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]
    manifest = json.loads(manifest_path.read_text())
    manifest["layers"] = [manifest["layers"][0], *manifest["layers"]]
    # the config lists the layer twice too, as BuildKit's does: a new config blob
    config_path = source.layout / "blobs/sha256" / manifest["config"]["digest"][7:]
    config = json.loads(config_path.read_text())
    config["rootfs"]["diff_ids"] = [config["rootfs"]["diff_ids"][0], *config["rootfs"]["diff_ids"]]
    config_data = json.dumps(config, separators=(",", ":")).encode()
    config_digest = f"sha256:{_sha(config_data)}"
    start = httpx.post(
        f"http://{auth_registry}/v2/faults/small/blobs/uploads/",
        headers={"Authorization": BASIC},
    )  # fmt: skip
    assert start.status_code == 202, start.text
    location = httpx.URL(f"http://{auth_registry}").join(start.headers["Location"])
    uploaded = httpx.put(
        location.copy_merge_params({"digest": config_digest}), content=config_data,
        headers={"Authorization": BASIC, "Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    manifest["config"] = {**manifest["config"], "digest": config_digest, "size": len(config_data)}
    data = json.dumps(manifest, separators=(",", ":")).encode()
    media_type = index["manifests"][0]["mediaType"]
    # put the manifest on the registry as a tag (its blobs are there already)
    put = httpx.put(
        f"http://{auth_registry}/v2/faults/small/manifests/twice", content=data,
        headers={"Content-Type": media_type, "Authorization": BASIC},
    )  # fmt: skip
    assert put.status_code == 201, put.text
    duplicated = manifest["layers"][0]["digest"]
    # slow the blob down so that parallel fetches of it would overlap
    front.add(Fault("GET", f"/blobs/{duplicated}", "delay", times=100, delay=0.3))
    dest = tmp_path / "pulled"
    result = run_cli(
        "copy", f"docker://{front.address}/faults/small:twice", f"oci:{dest}:v1",
        "--creds", CREDS, "--format", "json", env=registry_env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert front.requests[f"GET /v2/faults/small/blobs/{duplicated}"] == 1
    files = _blob_files(dest)
    assert all(name == sha for name, sha in files.items())  # every blob is what it claims
    wanted = {la["digest"][7:] for la in manifest["layers"]} | {manifest["config"]["digest"][7:]}
    assert set(files) == wanted | {_sha(data)}
