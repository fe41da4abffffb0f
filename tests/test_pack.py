"""``scratchpack pack`` without any engine: structure, reproducibility, sizes, options."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import (
    EXAMPLES,
    Examples,
    blob,
    decompress,
    layer_members,
    layout_manifest,
    run_cli,
    static_cc,
)

ESSENTIALS_BUDGET_ALL_TZ = 350_000
ESSENTIALS_BUDGET_UTC = 140_000


def _pack(binary: Path, dest: str, *extra: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    result = run_cli("pack", binary, "-o", dest, "--format", "json", *extra, env=env)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return dict(result.json())


def _config(layout: Path, tag: str = "latest") -> dict:  # type: ignore[type-arg]
    return dict(json.loads(blob(layout, layout_manifest(layout, tag)["config"]["digest"])))


def test_pack_writes_a_two_layer_oci_image(examples: Examples, tmp_path: Path) -> None:
    layout = tmp_path / "out"
    summary = _pack(examples.hello, f"oci:{layout}:v1")
    assert summary["destination"] == f"oci:{layout}:v1"
    manifest = layout_manifest(layout, "v1")
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ] * 2
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    config = _config(layout, "v1")
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["config"]["User"] == "65532:65532"
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"]
    assert config["config"]["WorkingDir"] == "/home/nonroot"
    assert len(config["rootfs"]["diff_ids"]) == 2
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == summary["digest"]
    assert hashlib.sha256(blob(layout, summary["digest"])).hexdigest() == summary["digest"][7:]


def test_essentials_layer_contents(examples: Examples, tmp_path: Path) -> None:
    layout = tmp_path / "out"
    _pack(examples.hello, f"oci:{layout}")
    manifest = layout_manifest(layout)
    essentials = {m.name: m for m in layer_members(layout, manifest["layers"][0]["digest"])}
    app = {m.name: m for m in layer_members(layout, manifest["layers"][1]["digest"])}
    ca = essentials["etc/ssl/certs/ca-certificates.crt"]
    assert ca.isfile() and ca.mode == 0o444 and (ca.uid, ca.gid) == (0, 0)
    assert ca.size == Path("/etc/ssl/certs/ca-certificates.crt").stat().st_size
    for name in ("etc/passwd", "etc/group", "etc/nsswitch.conf"):
        assert essentials[name].mode == 0o444 and essentials[name].uid == 0
    assert essentials["tmp"].isdir() and essentials["tmp"].mode == 0o1777
    home = essentials["home/nonroot"]
    assert home.isdir() and (home.uid, home.gid) == (65532, 65532)
    zones = [n for n in essentials if n.startswith("usr/share/zoneinfo/")]
    assert "usr/share/zoneinfo/Europe/Paris" in essentials
    assert not any(n.startswith("usr/share/zoneinfo/right/") for n in zones)
    assert essentials["usr/share/zoneinfo/posix"].issym()
    assert "usr/share/zoneinfo/tzdata.zi" not in essentials
    # identical zones are stored once: every regular file's content is unique
    data = decompress(blob(layout, manifest["layers"][0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        contents = [
            hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        ]
    assert len(contents) == len(set(contents))
    links = [
        m for m in essentials.values() if m.issym() and m.name.startswith("usr/share/zoneinfo/")
    ]
    assert len(links) > 100
    binary = app["usr/local/bin/hello"]
    assert binary.mode == 0o555 and binary.uid == 0
    assert binary.size == examples.hello.stat().st_size
    assert all(m.mtime == 0 for m in [*essentials.values(), *app.values()])


def test_passwd_and_group(examples: Examples, tmp_path: Path) -> None:
    layout = tmp_path / "out"
    _pack(examples.hello, f"oci:{layout}", "--user", "app:1000:2000", "--workdir", "/srv")
    manifest = layout_manifest(layout)
    data = decompress(blob(layout, manifest["layers"][0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
        group = tar.extractfile("etc/group").read().decode()  # type: ignore[union-attr]
        nss = tar.extractfile("etc/nsswitch.conf").read().decode()  # type: ignore[union-attr]
        srv = tar.getmember("srv")
    assert passwd.splitlines() == [
        "root:x:0:0:root:/root:/sbin/nologin",
        "app:x:1000:2000:app:/home/app:/sbin/nologin",
    ]
    assert group.splitlines() == ["root:x:0:", "app:x:2000:"]
    assert "hosts: files dns" in nss
    assert (srv.uid, srv.mode) == (0, 0o755)
    assert _config(layout)["config"]["User"] == "1000:2000"


def test_packing_twice_is_byte_identical(examples: Examples, tmp_path: Path) -> None:
    a = _pack(examples.hello, f"oci:{tmp_path / 'a'}")
    b = _pack(examples.hello, f"oci:{tmp_path / 'b'}")
    assert a["digest"] == b["digest"]
    for name in ("index.json", "oci-layout"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    blobs_a = sorted(p.name for p in (tmp_path / "a/blobs/sha256").iterdir())
    blobs_b = sorted(p.name for p in (tmp_path / "b/blobs/sha256").iterdir())
    assert blobs_a == blobs_b
    # archives too
    c = run_cli("pack", examples.hello, "-o", f"docker-archive:{tmp_path / 'c.tar'}:x:1")
    d = run_cli("pack", examples.hello, "-o", f"docker-archive:{tmp_path / 'd.tar'}:x:1")
    assert c.code == d.code == 0
    assert (tmp_path / "c.tar").read_bytes() == (tmp_path / "d.tar").read_bytes()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to compare")
def test_digest_does_not_depend_on_the_cores_pack_runs_on(
    examples: Examples, tmp_path: Path
) -> None:
    """The same binary packed on one core (``taskset``: one compression thread) and on all
    of them (a worker per core) gives the same layers and manifest, gzip and zstd: the
    chunks are cut at fixed offsets, not per thread. 3 MB: a dozen gzip chunks, one zstd
    frame and part of another."""
    rng = random.Random(17)
    words = [rng.randbytes(rng.randint(2, 12)) for _ in range(4000)]
    filler = b"".join(rng.choices(words, k=600_000))[:3_000_000]
    binary = tmp_path / "app"
    binary.write_bytes(examples.hello.read_bytes() + filler)
    binary.chmod(0o755)
    for compression in ("gzip", "zstd"):
        digests = []
        for cores in (None, "0"):
            out = tmp_path / f"{compression}-{cores}"
            args = ["pack", str(binary), "-o", f"oci:{out}:1", "--compression", compression,
                    "--format", "json"]  # fmt: skip
            command = [sys.executable, "-m", "scratchpack", *args]
            if cores is not None:
                command = ["taskset", "-c", cores, *command]
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            report = json.loads(proc.stdout)
            assert report["layers"][1]["uncompressed_size"] > 3_000_000
            digests.append(
                (report["digest"], sorted(p.name for p in (out / "blobs/sha256").iterdir()))
            )
        assert digests[0] == digests[1], compression


def test_source_date_epoch_changes_only_config_timestamps(
    examples: Examples, tmp_path: Path
) -> None:
    _pack(examples.hello, f"oci:{tmp_path / 'a'}")
    _pack(examples.hello, f"oci:{tmp_path / 'b'}", env={"SOURCE_DATE_EPOCH": "1700000000"})
    ma, mb = layout_manifest(tmp_path / "a"), layout_manifest(tmp_path / "b")
    assert ma["layers"] == mb["layers"]
    ca, cb = _config(tmp_path / "a"), _config(tmp_path / "b")
    assert ca["created"] == "1970-01-01T00:00:00Z"
    assert cb["created"] == "2023-11-14T22:13:20Z"
    assert [h["created"] for h in cb["history"]] == ["2023-11-14T22:13:20Z"] * 2
    for config in (ca, cb):
        config.pop("created")
        for h in config["history"]:
            h.pop("created")
    assert ca == cb
    assert mb["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"


def test_new_binary_reuses_the_essentials_layer(examples: Examples, tmp_path: Path) -> None:
    renamed = tmp_path / "hello"
    shutil.copy(examples.httpd, renamed)  # same name, different bytes
    a = _pack(examples.hello, f"oci:{tmp_path / 'a'}")
    b = _pack(renamed, f"oci:{tmp_path / 'b'}")
    assert a["layers"][0]["digest"] == b["layers"][0]["digest"]
    assert a["layers"][1]["digest"] != b["layers"][1]["digest"]


def test_essentials_overhead_budget(examples: Examples, tmp_path: Path) -> None:
    full = _pack(examples.hello, f"oci:{tmp_path / 'full'}")
    utc = _pack(examples.hello, f"oci:{tmp_path / 'utc'}", "--tz", "UTC")
    none = _pack(examples.hello, f"oci:{tmp_path / 'none'}", "--tz", "none", "--no-certs")
    full_size = full["essentials"]["stored"]
    utc_size = utc["essentials"]["stored"]
    print(f"essentials overhead: full zoneinfo {full_size} B, --tz UTC {utc_size} B")
    assert full_size <= ESSENTIALS_BUDGET_ALL_TZ
    assert utc_size <= ESSENTIALS_BUDGET_UTC
    assert none["essentials"]["stored"] < 1_000
    assert full["essentials"]["zones"] > 300
    assert utc["essentials"]["zones"] == 1


def test_zstd_and_uncompressed_layers(examples: Examples, tmp_path: Path) -> None:
    z = _pack(examples.hello, f"oci:{tmp_path / 'z'}", "--compression", "zstd")
    n = _pack(examples.hello, f"oci:{tmp_path / 'n'}", "--compression", "none")
    mz, mn = layout_manifest(tmp_path / "z"), layout_manifest(tmp_path / "n")
    assert {la["mediaType"] for la in mz["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }
    assert {la["mediaType"] for la in mn["layers"]} == {"application/vnd.oci.image.layer.v1.tar"}
    assert [la["diff_id"] for la in z["layers"]] == [la["diff_id"] for la in n["layers"]]
    assert [la["digest"] for la in n["layers"]] == [la["diff_id"] for la in n["layers"]]
    assert z["size"]["stored"] < n["size"]["stored"]


def test_options_reach_the_config(examples: Examples, tmp_path: Path) -> None:
    layout = tmp_path / "out"
    _pack(
        examples.httpd,
        f"oci:{layout}",
        "--entrypoint", '["/usr/local/bin/httpd", "8080"]',
        "--cmd", "--verbose -x",
        "--env", "MODE=prod",
        "--label", "org.example.team=core",
        "--expose", "8080",
        "--expose", "53/udp",
        "--source", "https://example.com/app",
        "--revision", "abc123",
        "--annotation", "org.example.x=y",
    )  # fmt: skip
    config = _config(layout)["config"]
    assert config["Entrypoint"] == ["/usr/local/bin/httpd", "8080"]
    assert config["Cmd"] == ["--verbose", "-x"]
    assert config["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin", "MODE=prod"]
    assert config["Labels"] == {"org.example.team": "core"}
    assert config["ExposedPorts"] == {"53/udp": {}, "8080/tcp": {}}
    annotations = layout_manifest(layout)["annotations"]
    assert annotations["org.opencontainers.image.source"] == "https://example.com/app"
    assert annotations["org.opencontainers.image.revision"] == "abc123"
    assert annotations["org.example.x"] == "y"


def test_add_files_and_directories(examples: Examples, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "sub").mkdir(parents=True)
    (conf / "app.toml").write_text("a = 1\n")
    (conf / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (conf / "sub" / "run.sh").chmod(0o755)
    (conf / "link").symlink_to("app.toml")
    single = tmp_path / "motd"
    single.write_text("hi\n")
    layout = tmp_path / "out"
    _pack(
        examples.hello,
        f"oci:{layout}",
        "--add",
        f"{conf}:/etc/app",
        "--add",
        f"{single}:/etc/motd:0400",
    )
    app = {m.name: m for m in layer_members(layout, layout_manifest(layout)["layers"][1]["digest"])}
    assert app["etc/app/app.toml"].mode == 0o444
    assert app["etc/app/sub/run.sh"].mode == 0o555
    assert app["etc/app/link"].issym() and app["etc/app/link"].linkname == "app.toml"
    assert app["etc/motd"].mode == 0o400
    assert all(m.uid == 0 for m in app.values())


def test_strip_makes_the_binary_smaller(tmp_path: Path) -> None:
    unstripped = tmp_path / "hello"
    cc = [c for c in static_cc() if c != "-s"]
    subprocess.run([*cc, "-g", "-o", str(unstripped), str(EXAMPLES / "hello/hello.c")], check=True)
    plain = _pack(unstripped, f"oci:{tmp_path / 'a'}", "--tz", "none")
    stripped = _pack(unstripped, f"oci:{tmp_path / 'b'}", "--tz", "none", "--strip")
    assert stripped["binary"]["size"] < plain["binary"]["size"]
    assert unstripped.stat().st_size == plain["binary"]["size"]  # the input is untouched


def test_allow_dynamic(examples: Examples, tmp_path: Path) -> None:
    summary = _pack(examples.dynamic, f"oci:{tmp_path / 'out'}", "--allow-dynamic")
    assert summary["binary"]["linkage"] == "dynamic"


def test_several_images_share_one_layout(examples: Examples, tmp_path: Path) -> None:
    layout = tmp_path / "out"
    _pack(examples.hello, f"oci:{layout}:hello")
    _pack(examples.httpd, f"oci:{layout}:httpd")
    index = json.loads((layout / "index.json").read_text())
    tags = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert tags == ["hello", "httpd"]
    # the shared essentials blob is stored once
    layers = {
        la["digest"] for t in ("hello", "httpd") for la in layout_manifest(layout, t)["layers"]
    }
    assert len(layers) == 3
    # --force replaces one tag and keeps the other
    _pack(examples.httpd, f"oci:{layout}:hello", "--force")
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 2
    assert layout_manifest(layout, "hello") == layout_manifest(layout, "httpd")


def test_inspect_reads_what_pack_wrote(examples: Examples, tmp_path: Path) -> None:
    summary = _pack(examples.hello, f"oci:{tmp_path / 'out'}:v1")
    result = run_cli("inspect", f"oci:{tmp_path / 'out'}:v1", "--format", "json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["digest"] == summary["digest"]
    assert report["user"] == "65532:65532"
    assert [la["size"] for la in report["layers"]] == [la["size"] for la in summary["layers"]]
    assert report["history"][0]["created_by"].startswith("scratchpack pack: essentials")
    text = run_cli("inspect", f"oci:{tmp_path / 'out'}:v1")
    assert text.code == 0 and summary["digest"] in text.stdout
    archive = tmp_path / "x.tar"
    assert run_cli("pack", examples.hello, "-o", f"docker-archive:{archive}:hello:v1").code == 0
    from_archive = run_cli("inspect", f"docker-archive:{archive}", "--format", "json").json()
    assert from_archive["config_digest"] == report["config_digest"]


def test_identical_zone_files_become_hard_links(examples: Examples, tmp_path: Path) -> None:
    zoneinfo = tmp_path / "zoneinfo"
    (zoneinfo / "Etc").mkdir(parents=True)
    (zoneinfo / "right").mkdir()
    utc = Path("/usr/share/zoneinfo/Etc/UTC").read_bytes()
    (zoneinfo / "Etc" / "UTC").write_bytes(utc)
    (zoneinfo / "UTC").write_bytes(utc)
    (zoneinfo / "Zulu").symlink_to("Etc/UTC")
    (zoneinfo / "right" / "UTC").write_bytes(utc + b"leap")
    (zoneinfo / "tzdata.zi").write_text("# source, not needed at run time\n")
    (zoneinfo / "localtime").symlink_to("/etc/localtime")
    layout = tmp_path / "out"
    summary = _pack(examples.hello, f"oci:{layout}", "--zoneinfo", str(zoneinfo), "--no-certs")
    assert summary["essentials"]["zones"] == 3
    members = {
        m.name.removeprefix("usr/share/zoneinfo/"): m
        for m in layer_members(layout, layout_manifest(layout)["layers"][0]["digest"])
        if m.name.startswith("usr/share/zoneinfo/")
    }
    assert sorted(members) == ["Etc", "Etc/UTC", "UTC", "Zulu", "posix"]
    assert members["Etc/UTC"].isfile()
    assert members["UTC"].islnk() and members["UTC"].linkname == "usr/share/zoneinfo/Etc/UTC"
    assert members["Zulu"].issym() and members["Zulu"].linkname == "Etc/UTC"


def test_quiet_pack_and_copy_print_nothing_but_write_the_image(
    examples: Examples, tmp_path: Path
) -> None:
    """``-q`` as skopeo's: nothing on stdout or stderr when all goes well; the image is there,
    and ``--format json`` still answers a script that asked for it."""
    packed = run_cli("pack", examples.hello, "-o", f"oci:{tmp_path / 'a'}:v1", "-q")
    assert (packed.code, packed.stdout, packed.stderr) == (0, "", "")
    copied = run_cli("copy", "-q", f"oci:{tmp_path / 'a'}:v1", f"oci:{tmp_path / 'b'}:v1")
    assert (copied.code, copied.stdout, copied.stderr) == (0, "", "")
    inspected = run_cli("inspect", "--format", "json", f"oci:{tmp_path / 'b'}:v1")
    assert inspected.code == 0 and json.loads(inspected.stdout)["manifest_digest"]
    as_json = run_cli("pack", examples.hello, "-o", f"oci:{tmp_path / 'c'}:v1", "-q",
                      "--format", "json")  # fmt: skip
    assert as_json.code == 0 and json.loads(as_json.stdout)["digest"].startswith("sha256:")


# -- the app layer written in the background (pack/core.BackgroundLayer) ----------------------


def _layer_of(tmp_path: Path, size: int) -> tuple[object, Path]:
    from scratchpack.layers.tarwriter import LayerContents

    source = tmp_path / "app.bin"
    source.write_bytes(random.Random(size).randbytes(size // 2) * 2)
    layer = LayerContents()
    layer.add_file("usr/local/bin/app", source=source, mode=0o555)
    blobs = tmp_path / "blobs"
    blobs.mkdir(exist_ok=True)
    return layer, blobs


def test_a_background_layer_is_the_layer_written_in_the_foreground(tmp_path: Path) -> None:
    """Unchanged contents: the blob written on the thread, byte for byte what
    write_layer_blob writes; contents changed after the start (records added): that blob is
    dropped and the new contents written."""
    from scratchpack.layers.tarwriter import LayerContents
    from scratchpack.operations.pack.core import BackgroundLayer, write_layer_blob

    layer, blobs = _layer_of(tmp_path, 3 << 20)
    assert isinstance(layer, LayerContents)
    with BackgroundLayer(layer, blobs, "gzip", None, "app.tmp") as background:
        blob = background.finish(layer, "writing the app layer")
    again = tmp_path / "again"
    again.mkdir()
    assert write_layer_blob(layer, again, "gzip", None) == blob
    assert (blobs / blob.digest.hex).read_bytes() == (again / blob.digest.hex).read_bytes()

    with BackgroundLayer(layer, blobs, "gzip", None, "app.tmp") as background:
        layer.add_file("var/lib/dpkg/status.d/app", data=b"Package: app\n")
        changed = background.finish(layer, "writing the app layer")
    assert changed.digest != blob.digest
    with tarfile.open(fileobj=io.BytesIO((blobs / changed.digest.hex).read_bytes())) as tar:
        assert "var/lib/dpkg/status.d/app" in tar.getnames()


def test_a_background_layer_stops_when_the_caller_fails(tmp_path: Path) -> None:
    """An error before finish (a usage error found after the start): the writer is stopped
    and its thread joined on the way out, nothing left running into the staging directory."""
    import threading

    from scratchpack.errors import UsageError
    from scratchpack.layers.tarwriter import LayerContents
    from scratchpack.operations.pack.core import BackgroundLayer

    layer, blobs = _layer_of(tmp_path, 8 << 20)
    assert isinstance(layer, LayerContents)
    before = threading.active_count()
    with (
        pytest.raises(UsageError, match="found later"),
        BackgroundLayer(layer, blobs, "gzip", None, "app.tmp"),
    ):
        raise UsageError("found later")
    assert threading.active_count() == before
    shutil.rmtree(blobs)  # nothing writes there any more


def test_a_background_layers_read_error_is_the_callers_one_line_error(tmp_path: Path) -> None:
    """The source shrinking under the writer: the thread's error is raised by finish(), as
    the same clear ScratchpackError the foreground writer gives."""
    from scratchpack.errors import ScratchpackError
    from scratchpack.layers.tarwriter import LayerContents
    from scratchpack.operations.pack.core import BackgroundLayer

    layer, blobs = _layer_of(tmp_path, 1 << 20)
    assert isinstance(layer, LayerContents)
    (tmp_path / "app.bin").write_bytes(b"short now")  # after add_file took its size
    with (
        pytest.raises(ScratchpackError, match="changed size while it was being packed"),
        BackgroundLayer(layer, blobs, "gzip", None, "app.tmp") as background,
    ):
        background.finish(layer, "writing the app layer")


def test_pack_of_a_packaged_binary_records_it_in_the_app_layer(tmp_path: Path) -> None:
    """A binary a package owns (the host's /usr/bin/ls, allowed alone): its status.d record
    is in the app layer, which was therefore written after the records, not in advance."""
    layout = tmp_path / "out"
    report = _pack(Path("/usr/bin/ls"), f"oci:{layout}:1", "--allow-dynamic", "--tz", "none")
    assert "coreutils" in report["essentials"]["packages"]
    app = layer_members(layout, layout_manifest(layout, "1")["layers"][-1]["digest"])
    names = [member.name for member in app]
    assert "usr/local/bin/ls" in names and "var/lib/dpkg/status.d/coreutils" in names
