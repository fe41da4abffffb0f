"""Issue 12: OCI layouts under parallel writers, corrupt inputs, conversions and crashes.

Every image written here is checked with the real readers (skopeo, umoci); every corrupt input
must end in one error line naming the blob, with the destination left exactly as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from helpers import Examples, assert_clean_error, layout_manifest, run_cli
from realtools import need
from scratchpack.transports import docker_archive

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
NO_TLS = "--tls-verify=false"
WRITERS = 16
TRIALS = 3


def _cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "scratchpack", *map(str, args)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    return env


def _listing(root: Path) -> dict[str, int]:
    """Every path under ``root`` (hidden ones too) with its size (-1 for directories)."""
    if not root.exists():
        return {}
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        found[rel] = -1 if path.is_dir() else path.stat().st_size
    return found


def _tags(layout: Path) -> set[str]:
    index = json.loads((layout / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}


def _check_readers(layout: Path, tags: set[str], skopeo: Run, umoci: Run) -> None:
    """skopeo inspects every tag; umoci lists them all and stats each one."""
    listed = set(umoci("ls", "--layout", str(layout)).stdout.decode().split())
    assert listed == tags
    for tag in sorted(tags):
        info = json.loads(skopeo("inspect", f"oci:{layout}:{tag}").stdout)
        assert info["Digest"].startswith("sha256:")
        umoci("stat", "--image", f"{layout}:{tag}")


# -- 1. parallel writers -------------------------------------------------------------------


def test_parallel_writers_keep_every_tag(
    examples: Examples, tmp_path: Path, skopeo: Run, umoci: Run
) -> None:
    """16 writers (pack and copy mixed) into one layout, new or existing: no tag is lost."""
    source = tmp_path / "src"
    for binary, tag in ((examples.hello, "hello"), (examples.httpd, "httpd")):
        ok = run_cli("pack", binary, "-o", f"oci:{source}:{tag}", "--tz", "UTC")
        assert ok.code == 0, ok.stderr
    kept = total = 0
    for trial in range(TRIALS):
        layout = tmp_path / f"out{trial}"
        expected = set()
        if trial > 0:  # trial 0 races on creating the layout, the others add to one
            seed = run_cli("pack", examples.hello, "-o", f"oci:{layout}:seed", "--tz", "UTC")
            assert seed.code == 0, seed.stderr
            expected.add("seed")
        commands = []
        for n in range(WRITERS):
            if n % 2:
                tag = f"c{n}"
                commands.append(_cli("copy", f"oci:{source}:{'hello' if n % 4 == 1 else 'httpd'}",
                                     f"oci:{layout}:{tag}", "--format", "json"))  # fmt: skip
            else:
                tag = f"p{n}"
                binary = examples.hello if n % 4 == 0 else examples.httpd
                commands.append(_cli("pack", binary, "-o", f"oci:{layout}:{tag}", "--tz", "UTC",
                                     "--label", f"writer={n}", "--format", "json"))  # fmt: skip
            expected.add(tag)
        procs = [
            subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
            for c in commands
        ]
        results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
        for p in procs:
            p.stdout.close()  # type: ignore[union-attr]
            p.stderr.close()  # type: ignore[union-attr]
        assert [code for code, _ in results] == [0] * WRITERS, results
        found = _tags(layout)
        kept += len(found & expected)
        total += len(expected)
        print(f"trial {trial}: {len(found & expected)} of {len(expected)} tags kept")
        assert found == expected
        _check_readers(layout, expected, skopeo, umoci)
        leftovers = [p for p in _listing(layout) if p.endswith(".tmp")]
        assert leftovers == []
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    print(f"tags kept: {kept} of {total}")


def test_the_tag_check_happens_under_the_lock(examples: Examples, tmp_path: Path) -> None:
    """Writers racing for one tag without --force: one wins, the others fail cleanly."""
    layout = tmp_path / "out"
    seed = run_cli("pack", examples.hello, "-o", f"oci:{layout}:seed", "--tz", "UTC")
    assert seed.code == 0, seed.stderr
    commands = [
        _cli("pack", examples.hello, "-o", f"oci:{layout}:same", "--tz", "UTC", "--label", f"w={n}")
        for n in range(8)
    ]
    procs = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
        for c in commands
    ]
    codes = [p.wait(timeout=300) for p in procs]
    errors = [p.stderr.read().decode() for p in procs]  # type: ignore[union-attr]
    for p in procs:
        p.stderr.close()  # type: ignore[union-attr]
    assert codes.count(0) == 1, (codes, errors)
    for code, err in zip(codes, errors, strict=True):
        if code:
            assert code == 1 and "already exists" in err and "Traceback" not in err, err
    assert _tags(layout) == {"seed", "same"}


# -- 2. every blob verified ----------------------------------------------------------------


def _corrupt(data: bytes, how: str) -> bytes:
    if how == "flip":
        mutable = bytearray(data)
        mutable[len(data) // 2] ^= 0xFF
        return bytes(mutable)
    if how == "truncate":
        return data[:-100]
    return data + b"\0" * 512  # extend


def _rewrite_member(archive: Path, name: str, how: str) -> None:
    out = archive.with_suffix(".new")
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name == name:
                data = _corrupt(data, how)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    out.replace(archive)


@pytest.fixture
def corrupt_source(
    request: pytest.FixtureRequest, examples: Examples, tmp_path: Path
) -> tuple[str, str]:
    """(source name, hex digest of the bad blob) for ``kind-how``, e.g. ``oci-flip``."""
    kind, how = request.param.split("-")
    if kind == "oci":
        layout = tmp_path / "src"
        ok = run_cli("pack", examples.httpd, "-o", f"oci:{layout}:v1", "--tz", "UTC")
        assert ok.code == 0, ok.stderr
        bad = layout_manifest(layout, "v1")["layers"][1]["digest"].split(":")[1]
        path = layout / "blobs/sha256" / bad
        path.write_bytes(_corrupt(path.read_bytes(), how))
        return f"oci:{layout}:v1", bad
    archive = tmp_path / "src.tar"
    ok = run_cli("pack", examples.httpd, "-o", f"docker-archive:{archive}:src:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    layer = str(docker_archive.manifest_entries(archive)[0]["Layers"][1])  # type: ignore[index]
    _rewrite_member(archive, layer, how)
    return f"docker-archive:{archive}", layer.removesuffix(".tar")


CORRUPTIONS = [f"{k}-{h}" for k in ("oci", "archive") for h in ("flip", "truncate", "extend")]


@pytest.mark.parametrize("corrupt_source", CORRUPTIONS, indirect=True)
def test_corrupt_blob_never_enters_a_layout(
    corrupt_source: tuple[str, str], examples: Examples, tmp_path: Path
) -> None:
    source, bad = corrupt_source
    dest = tmp_path / "dest"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{dest}:other", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    before = _listing(dest)
    index = (dest / "index.json").read_bytes()
    result = run_cli("copy", source, f"oci:{dest}:v1")
    assert_clean_error(result, 1, bad)
    assert _listing(dest) == before
    assert (dest / "index.json").read_bytes() == index
    # and a new layout is not created at all
    fresh = tmp_path / "fresh"
    result = run_cli("copy", source, f"oci:{fresh}:v1")
    assert_clean_error(result, 1, bad)
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("corrupt_source", CORRUPTIONS, indirect=True)
def test_corrupt_blob_never_enters_an_archive(
    corrupt_source: tuple[str, str], tmp_path: Path
) -> None:
    source, bad = corrupt_source
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("copy", source, f"docker-archive:{tmp_path / 'out.tar'}:x:1")
    assert_clean_error(result, 1, bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("corrupt_source", CORRUPTIONS, indirect=True)
def test_corrupt_blob_never_reaches_a_registry(
    corrupt_source: tuple[str, str], registry: str, unique_name: str
) -> None:
    source, bad = corrupt_source
    repo = f"{registry}/{unique_name}"
    result = run_cli("copy", source, f"docker://{repo}:v1", NO_TLS)
    assert_clean_error(result, 1, bad)
    base = f"http://{registry}/v2/{unique_name}"
    assert httpx.head(f"{base}/manifests/v1").status_code == 404
    if source.startswith("oci:"):  # an archive's layer is compressed first: another digest
        assert httpx.head(f"{base}/blobs/sha256:{bad}").status_code == 404


def test_compressed_archive_layer_is_checked_against_its_diff_id(
    examples: Examples, tmp_path: Path
) -> None:
    """A gzip layer in an archive whose content is not the config's diff_id is refused."""
    import gzip

    archive = tmp_path / "src.tar"
    ok = run_cli("pack", examples.httpd, "-o", f"docker-archive:{archive}:src:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    layer = str(docker_archive.manifest_entries(archive)[0]["Layers"][1])  # type: ignore[index]
    out = archive.with_suffix(".new")
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name.endswith(".tar"):  # every layer gzip: nothing is recompressed
                data = _corrupt(data, "flip") if member.name == layer else data
                data = gzip.compress(data, mtime=0)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    out.replace(archive)
    dest = tmp_path / "dest"
    result = run_cli("copy", f"docker-archive:{archive}", f"oci:{dest}:v1")
    assert_clean_error(result, 1, layer.removesuffix(".tar"))
    assert not dest.exists()


def test_hard_links_only_to_files_nobody_else_can_change(
    examples: Examples, tmp_path: Path
) -> None:
    """A layout's blob is shared by hard link only if it is ours and not group/other
    writable: anyone else could change a shared inode after we verified it."""
    source = tmp_path / "src"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{source}:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    app = layout_manifest(source, "v1")["layers"][1]["digest"].split(":")[1]
    linked, copied = tmp_path / "linked", tmp_path / "copied"
    assert run_cli("copy", f"oci:{source}:v1", f"oci:{linked}:v1").code == 0
    (source / "blobs/sha256" / app).chmod(0o664)
    assert run_cli("copy", f"oci:{source}:v1", f"oci:{copied}:v1").code == 0
    original = (source / "blobs/sha256" / app).stat()
    assert (linked / "blobs/sha256" / app).stat().st_ino == original.st_ino
    assert (copied / "blobs/sha256" / app).stat().st_ino != original.st_ino
    assert (copied / "blobs/sha256" / app).read_bytes() == (
        source / "blobs/sha256" / app
    ).read_bytes()


def test_a_damaged_blob_already_in_the_layout_is_replaced(
    examples: Examples, tmp_path: Path, skopeo: Run, umoci: Run
) -> None:
    """A blob of the right name and size is hashed, not trusted: a damaged one is rewritten."""
    layout = tmp_path / "out"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{layout}:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    shared = layout_manifest(layout, "v1")["layers"][0]["digest"].split(":")[1]
    path = layout / "blobs/sha256" / shared
    path.write_bytes(_corrupt(path.read_bytes(), "flip"))
    ok = run_cli("pack", examples.httpd, "-o", f"oci:{layout}:v2", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    assert layout_manifest(layout, "v2")["layers"][0]["digest"] == f"sha256:{shared}"
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == shared
    _check_readers(layout, {"v1", "v2"}, skopeo, umoci)


def test_archive_config_must_hash_to_its_name(examples: Examples, tmp_path: Path) -> None:
    archive = tmp_path / "src.tar"
    ok = run_cli("pack", examples.httpd, "-o", f"docker-archive:{archive}:src:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    config = str(docker_archive.manifest_entries(archive)[0]["Config"])
    out = archive.with_suffix(".new")
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == config:
                doc = json.loads(data)
                doc["config"]["User"] = "0:0"  # root, under the old name
                data = json.dumps(doc).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    out.replace(archive)
    result = run_cli("copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'dest'}:v1")
    assert_clean_error(result, 1, config.removesuffix(".json"), "digest mismatch")
    assert not (tmp_path / "dest").exists()


# -- 3. conversions into oci: that skopeo and umoci read -------------------------------------


def _check_oci_output(layout: Path, tag: str, skopeo: Run, umoci: Run, tmp_path: Path) -> None:
    manifest = layout_manifest(layout, tag)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert {la["mediaType"] for la in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    }
    index = json.loads((layout / "index.json").read_text())
    assert {m["mediaType"] for m in index["manifests"]} == {
        "application/vnd.oci.image.manifest.v1+json"
    }
    _check_readers(layout, {tag}, skopeo, umoci)
    bundle = tmp_path / f"bundle-{tag}"
    umoci("unpack", "--image", f"{layout}:{tag}", str(bundle))
    assert (bundle / "rootfs/usr/local/bin").is_dir() or (bundle / "rootfs/hello").is_file()
    back = tmp_path / f"back-{tag}.tar"
    skopeo("copy", f"oci:{layout}:{tag}", f"docker-archive:{back}:back:{tag}")
    tags = docker_archive.manifest_entries(back)[0]["RepoTags"]
    assert tags in ([f"back:{tag}"], [f"docker.io/library/back:{tag}"])


@pytest.fixture
def docker_built(
    docker: Run, examples: Examples, tmp_path: Path, unique_name: str
) -> Iterator[str]:
    """An image built by docker itself (two layers FROM scratch)."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "hello").write_bytes(examples.hello.read_bytes())
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY hello /hello\nCOPY Dockerfile /etc/Dockerfile\nENTRYPOINT ["/hello"]\n'
    )
    name = f"scratchpack-test/{unique_name}:v1"
    docker("build", "-q", "--no-cache", "-t", name, str(context))
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)


def test_docker_save_archive_converts_to_a_readable_layout(
    docker_built: str, docker: Run, skopeo: Run, umoci: Run, tmp_path: Path
) -> None:
    archive = tmp_path / "saved.tar"
    docker("save", "-o", str(archive), docker_built)
    layout = tmp_path / "out"
    result = run_cli("copy", f"docker-archive:{archive}", f"oci:{layout}:saved")
    assert result.code == 0, result.stderr
    _check_oci_output(layout, "saved", skopeo, umoci, tmp_path)


def test_daemon_image_converts_to_a_readable_layout(
    docker_built: str, skopeo: Run, umoci: Run, tmp_path: Path
) -> None:
    layout = tmp_path / "out"
    result = run_cli("copy", f"docker-daemon:{docker_built}", f"oci:{layout}:daemon")
    assert result.code == 0, result.stderr
    _check_oci_output(layout, "daemon", skopeo, umoci, tmp_path)


def test_our_archive_converts_to_a_readable_layout(
    examples: Examples, skopeo: Run, umoci: Run, tmp_path: Path
) -> None:
    archive = tmp_path / "ours.tar"
    ok = run_cli("pack", examples.hello, "-o", f"docker-archive:{archive}:ours:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    layout = tmp_path / "out"
    result = run_cli("copy", f"docker-archive:{archive}", f"oci:{layout}:ours")
    assert result.code == 0, result.stderr
    _check_oci_output(layout, "ours", skopeo, umoci, tmp_path)


def test_archive_to_registry_keeps_docker_schema_2(
    examples: Examples, registry: str, unique_name: str, skopeo: Run, tmp_path: Path
) -> None:
    archive = tmp_path / "ours.tar"
    ok = run_cli("pack", examples.hello, "-o", f"docker-archive:{archive}:ours:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    dest = f"docker://{registry}/{unique_name}:v1"
    result = run_cli("copy", f"docker-archive:{archive}", dest, NO_TLS)
    assert result.code == 0, result.stderr
    raw = json.loads(skopeo("inspect", "--raw", NO_TLS, dest).stdout)
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_docker_schema_2_from_a_registry_converts_to_a_readable_layout(
    examples: Examples, registry: str, unique_name: str, skopeo: Run, umoci: Run, tmp_path: Path
) -> None:
    """A registry image in Docker schema 2 (one manifest, and a manifest list with --all)
    copied into oci: gets OCI media types, as skopeo writes: umoci reads it, blobs are the
    registry's byte for byte, and the digest reported is the one written."""
    archive = tmp_path / "ours.tar"
    ok = run_cli("pack", examples.hello, "-o", f"docker-archive:{archive}:ours:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    dest = f"docker://{registry}/{unique_name}:v1"
    assert run_cli("copy", f"docker-archive:{archive}", dest, NO_TLS).code == 0
    raw = skopeo("inspect", "--raw", NO_TLS, dest).stdout
    docker_manifest = json.loads(raw)
    assert docker_manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    # a Docker manifest list pointing at it
    listing = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {
                "mediaType": docker_manifest["mediaType"],
                "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
                "size": len(raw),
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
    put = httpx.put(
        f"http://{registry}/v2/{unique_name}/manifests/list",
        content=json.dumps(listing).encode(),
        headers={"Content-Type": str(listing["mediaType"])},
    )
    assert put.status_code == 201, put.text

    layout = tmp_path / "layout"
    one = run_cli("copy", dest, f"oci:{layout}:one", NO_TLS, "--format", "json")
    assert one.code == 0, one.stderr
    _check_oci_output(layout, "one", skopeo, umoci, tmp_path)
    written = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    assert one.json()["digest"] == written
    manifest = layout_manifest(layout, "one")
    assert [la["digest"] for la in manifest["layers"]] == [
        la["digest"] for la in docker_manifest["layers"]
    ]
    assert manifest["config"]["digest"] == docker_manifest["config"]["digest"]

    every = run_cli(
        "copy", "--all", f"docker://{registry}/{unique_name}:list", f"oci:{layout}:all", NO_TLS
    )
    assert every.code == 0, every.stderr
    entry = next(
        m
        for m in json.loads((layout / "index.json").read_text())["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == "all"
    )
    assert entry["mediaType"] == "application/vnd.oci.image.index.v1+json"
    index = json.loads((layout / "blobs/sha256" / entry["digest"][7:]).read_text())
    child = index["manifests"][0]
    assert child["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert child["platform"] == {"os": "linux", "architecture": "amd64"}
    assert child["digest"] == written  # the converted manifest, stored once
    assert (layout / "blobs/sha256" / child["digest"][7:]).is_file()
    skopeo("inspect", f"oci:{layout}:all")
    umoci("stat", "--image", f"{layout}:one")


# -- 4. loose ends ---------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_temporary_files_are_removed_on_the_next_write(
    examples: Examples, tmp_path: Path
) -> None:
    layout = tmp_path / "out"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{layout}:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    dead, alive = _dead_pid(), os.getpid()
    blobs = layout / "blobs/sha256"
    stale = [
        blobs / f".{'a' * 64}.{dead}.x1y2.tmp",
        layout / f".index.json.{dead}.abcd.tmp",
        layout / f".scratchpack.{dead}.k3j4.tmp",  # a staging directory
        blobs / ".olderformat.q9w8.tmp",  # no pid, two hours old
    ]
    live = [blobs / f".{'b' * 64}.{alive}.z9z9.tmp", blobs / ".young.r5t6.tmp"]
    for path in [*stale, *live]:
        if "scratchpack" in path.name:
            path.mkdir()
            (path / "layer.tmp").write_bytes(b"x" * 1000)
        else:
            path.write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    os.utime(stale[3], (two_hours_ago, two_hours_ago))
    ok = run_cli("pack", examples.httpd, "-o", f"oci:{layout}:v2", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    assert [p for p in stale if p.exists()] == []
    assert [p for p in live if p.exists()] == live


def _pack_big_and_wait(
    examples: Examples, tmp_path: Path
) -> tuple[Path, dict[str, int], subprocess.Popen[str]]:
    """A layout with tag v1, and a pack of 64 MiB into it caught writing part of a layer:
    (layout, its listing before, the running pack)."""
    layout = tmp_path / "out"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{layout}:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    before = _listing(layout)
    big = tmp_path / "big"
    big.write_bytes(examples.hello.read_bytes() + os.urandom(64 << 20))
    # zstd at level 19 over random bytes runs for seconds: the signal cannot arrive after the
    # pack has finished (gzip on both cores did 64 MiB in about the time this loop waits)
    slow = ("--compression", "zstd", "--compression-level", "19")
    proc = subprocess.Popen(
        _cli("pack", big, "-o", f"oci:{layout}:big", "--tz", "UTC", *slow),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        p.endswith(".tmp") and p.count("/") == 0 for p in _listing(layout)
    ):
        time.sleep(0.01)
    time.sleep(0.3)  # let it write part of a layer
    assert proc.poll() is None, "pack ended before the signal: test timing is off"
    return layout, before, proc


def test_kill_9_during_pack_leaves_nothing_after_the_next_write(
    examples: Examples, tmp_path: Path
) -> None:
    layout, before, proc = _pack_big_and_wait(examples, tmp_path)
    proc.kill()
    proc.communicate()
    leftovers = [p for p in _listing(layout) if ".tmp" in p]
    assert leftovers, "the killed pack left nothing to clean up: test timing is off"
    ok = run_cli("pack", examples.httpd, "-o", f"oci:{layout}:v2", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    assert [p for p in _listing(layout) if ".tmp" in p] == []
    assert _tags(layout) == {"v1", "v2"}
    assert set(before) <= set(_listing(layout))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_during_pack_cleans_up_at_once(
    examples: Examples, tmp_path: Path, signum: signal.Signals
) -> None:
    """``timeout``, ``docker stop`` and a cancelled CI job send SIGTERM (a closed terminal
    SIGHUP): Python's default died on the spot and left the staging directory behind. Now it
    ends as Ctrl-C does: nothing left, the lock free, exit 128 + the signal."""
    layout, before, proc = _pack_big_and_wait(examples, tmp_path)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, (proc.returncode, stderr)
    assert stderr.splitlines()[-1] == "scratchpack: interrupted", stderr
    assert "Traceback" not in stderr
    assert _listing(layout) == before
    again = run_cli("pack", examples.httpd, "-o", f"oci:{layout}:v2", "--tz", "UTC")
    assert again.code == 0 and "waiting" not in again.stderr, again.stderr


def test_a_live_writers_temporaries_are_never_removed(tmp_path: Path) -> None:
    """Its lock protects a live temporary even when its pid means nothing here (another pid
    namespace) and it is old; a symlink under a temporary name is removed, not followed."""
    from scratchpack.fsutil import atomic_file, remove_stale

    target = tmp_path / "victim"
    target.write_text("keep me")
    (tmp_path / f".x.{_dead_pid()}.abcd.tmp").symlink_to(target)
    sweep = [sys.executable, "-c", "import sys; from pathlib import Path; "
             "from scratchpack.fsutil import remove_stale; "
             "print(len(remove_stale(Path(sys.argv[1]))))", str(tmp_path)]  # fmt: skip
    with atomic_file(tmp_path / "blob") as out:
        out.write(b"partial")
        (live,) = [p for p in tmp_path.iterdir() if p.name.startswith(".blob.")]
        renamed = live.with_name(f".blob.{_dead_pid()}.zzzz.tmp")  # as seen from elsewhere
        live.rename(renamed)
        os.utime(renamed, (time.time() - 7200, time.time() - 7200))
        swept = subprocess.run(sweep, capture_output=True, text=True, check=True, env=_env())
        assert swept.stdout.strip() == "1"  # the symlink only
        assert renamed.exists()
        renamed.rename(live)
    assert (tmp_path / "blob").read_bytes() == b"partial"
    assert target.read_text() == "keep me"
    assert remove_stale(tmp_path) == []


@pytest.mark.parametrize(
    "dest", ["oci:{d}/img", "oci:{d}/existing:big", "docker-archive:{d}/img.tar"]
)
def test_disk_full_is_reported_as_a_write_error(
    examples: Examples, tiny_fs: Path, tmp_path: Path, dest: str
) -> None:
    """The disk fills while the binary is being written uncompressed (docker-archive, or
    --compression none): a write error, not "cannot read BINARY"."""
    big = tmp_path / "big"
    big.write_bytes(examples.hello.read_bytes() + os.urandom(6 << 20))
    if "existing" in dest:
        ok = run_cli("pack", examples.hello, "-o", f"oci:{tiny_fs}/existing:small",
                     "--tz", "none", "--no-certs")  # fmt: skip
        assert ok.code == 0, ok.stderr
    extra = ["--compression", "none"] if dest.startswith("oci:") else []
    result = run_cli("pack", big, "-o", dest.format(d=tiny_fs), "--tz", "none", *extra)
    assert_clean_error(result, 1, "No space left", "cannot write")
    assert "cannot read" not in result.stderr
    leftovers = [p for p in _listing(tiny_fs) if p.endswith(".tmp") or "/." in p]
    assert leftovers == []


def test_an_image_listing_one_layer_twice_copies_from_a_registry(
    examples: Examples, registry: str, unique_name: str, skopeo: Run, umoci: Run, tmp_path: Path
) -> None:
    """Parallel downloads of the same blob must not share a spool file."""
    from scratchpack.model.digest import Digest
    from scratchpack.model.manifest import canonical_json

    layout = tmp_path / "src"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{layout}:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    manifest = layout_manifest(layout, "v1")
    config_digest = manifest["config"]["digest"]
    config = json.loads((layout / "blobs/sha256" / config_digest[7:]).read_bytes())
    config["rootfs"]["diff_ids"] = [config["rootfs"]["diff_ids"][1]] * 6
    config["history"] = []
    config_bytes = canonical_json(config)
    (layout / "blobs/sha256" / Digest.of(config_bytes).hex).write_bytes(config_bytes)
    manifest["config"] = dict(manifest["config"], digest=str(Digest.of(config_bytes)),
                              size=len(config_bytes))  # fmt: skip
    manifest["layers"] = [manifest["layers"][1]] * 6
    manifest_bytes = canonical_json(manifest)
    (layout / "blobs/sha256" / Digest.of(manifest_bytes).hex).write_bytes(manifest_bytes)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].update(digest=str(Digest.of(manifest_bytes)), size=len(manifest_bytes))
    (layout / "index.json").write_bytes(canonical_json(index))
    repo = f"docker://{registry}/{unique_name}:v1"
    pushed = run_cli("copy", f"oci:{layout}:v1", repo, NO_TLS, "--format", "json")
    assert pushed.code == 0, pushed.stderr
    for n in range(4):
        dest = tmp_path / f"pulled{n}"
        result = run_cli("copy", repo, f"oci:{dest}:v1", NO_TLS, "--jobs", "6")
        assert result.code == 0, result.stderr
        assert [p for p in _listing(dest) if "download" in p or p.endswith(".tmp")] == []
        skopeo("inspect", f"oci:{dest}:v1")


def test_every_blob_is_synced_before_the_index_names_it(examples: Examples, tmp_path: Path) -> None:
    """Staged blobs are fsynced together at commit (issue 17), no longer one by one while
    they stream: every blob file of the new layout is still fsynced, after every blob was
    staged and before the layout is renamed into place (seen with strace, in the real
    process)."""
    need("strace", "to see the fsyncs of a real copy")
    source, dest, log = tmp_path / "src", tmp_path / "dst", tmp_path / "strace.log"
    ok = run_cli("pack", examples.hello, "-o", f"oci:{source}:v1", "--tz", "UTC")
    assert ok.code == 0, ok.stderr
    trace = ["strace", "-f", "-y", "-qq", "-o", str(log),
             "-e", "trace=fsync,fdatasync,rename,renameat,renameat2"]  # fmt: skip
    subprocess.run([*trace, *_cli("copy", f"oci:{source}:v1", f"oci:{dest}:v1")], check=True)
    lines = log.read_text().splitlines()
    blobs = sorted(p.name for p in (dest / "blobs/sha256").iterdir())
    assert len(blobs) >= 3

    def first(predicate: Callable[[str], bool]) -> int:
        return next(n for n, line in enumerate(lines) if predicate(line))

    published = first(lambda line: "rename" in line and f'"{dest}"' in line)

    def synced_at(blob: str) -> int:
        return first(lambda line: "fsync(" in line and f"/blobs/sha256/{blob}>" in line)

    synced = [synced_at(blob) for blob in blobs]
    staged = [n for n, line in enumerate(lines) if "rename" in line and "/blobs/sha256/." in line]
    assert max(synced) < published
    assert staged and min(synced) > max(staged)  # together at commit, after every blob


def test_a_failed_fsync_fails_the_commit_and_names_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob whose fsync fails at commit (a disk error, here injected into ``os.fsync``) on
    one of the syncing threads fails the commit in the committing thread: no layout appears,
    the staging directory is removed, and no fsync thread is left running."""
    import threading

    from scratchpack.errors import ScratchpackError
    from scratchpack.model import mediatypes as mt
    from scratchpack.model.descriptor import Descriptor
    from scratchpack.model.digest import Digest
    from scratchpack.transports import oci_layout

    real = os.fsync
    failed: list[str] = []

    def failing(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if "/blobs/sha256/" in name and not failed:
            failed.append(name)
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", failing)
    dest = tmp_path / "dst"
    blobs = [f"blob {n}".encode() for n in range(8)]
    with (
        pytest.raises(ScratchpackError, match="Input/output error"),
        oci_layout.LayoutWriter(dest) as writer,
    ):
        for data in blobs:
            writer.put_bytes(Descriptor(mt.OCI_LAYER, Digest.of(data), len(data)), data)
        top = Descriptor(mt.OCI_LAYER, Digest.of(blobs[0]), len(blobs[0]))
        writer.commit("v1", top, force=False)
    assert failed
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "fsync"]


# -- the umask, read without changing it -----------------------------------------------------


def test_writing_a_file_never_changes_the_umask_other_threads_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the umask by setting it to 0 and back left a window in which another
    thread's mkdir made a world-writable directory (a pull stages blobs on several threads).
    It is read from /proc now: written files still get 0644 less the umask."""
    from scratchpack import fsutil

    previous = os.umask(0o027)
    try:
        calls: list[int] = []
        real = os.umask

        def spy(mask: int) -> int:
            calls.append(mask)
            return real(mask)

        monkeypatch.setattr(os, "umask", spy)
        fsutil.atomic_write(tmp_path / "f", b"x")
        assert calls == []
        assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640
        assert fsutil._umask() == 0o027

        # without /proc: set and put back, under a lock, with the same answer
        def no_proc(*args: object, **kwargs: object) -> object:
            raise FileNotFoundError("/proc/self/status")

        monkeypatch.setattr(Path, "open", no_proc)
        assert fsutil._umask() == 0o027
        assert calls == [0, 0o027]
    finally:
        os.umask(previous)
