"""Hostile manifests, indexes and configs (issue 12): typed decoding at the model boundary.

A. Every document is decoded into typed values; a field of the wrong type is one line naming
   the document and the field, never a traceback; ``null`` reads as empty, unknown fields are
   kept, real images (dockerd's, ours) decode.
B. Whatever else escapes a command is one line naming the command and its input, exit 2, with
   a hint; ``--debug`` (before or after the command, or SCRATCHPACK_DEBUG=1) shows the traceback.
C. JSON documents in local files are refused above their limit before they are read: peak RSS
   stays small with 2 GiB (sparse) files.
D. Each hostile document through every command that reads images, from oci: and
   docker-archive: sources.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import CliResult, Examples, assert_clean_error, run_cli
from realtools import Runner
from scratchpack.cli.main import main
from scratchpack.errors import FormatError
from scratchpack.model import mediatypes as mt
from scratchpack.model.config import ImageConfig
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest
from scratchpack.model.image import Image
from scratchpack.model.manifest import Index, Manifest, load_json

ARCH = Platform.host().architecture
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
GIB2 = 2 << 30
RSS_LIMIT_KB = 200 * 1024


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


LAYER = _tar({"etc/hostname": b"hostile\n"})


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def base_config() -> dict[str, Any]:
    return {
        "architecture": ARCH,
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "User": "65532",
            "Env": ["PATH=/usr/bin:/bin"],
            "Entrypoint": ["/bin/app"],
            "Cmd": ["--help"],
            "WorkingDir": "/",
            "Labels": {"org.opencontainers.image.version": "1.0"},
            "ExposedPorts": {"8080/tcp": {}},
            "Healthcheck": {"Test": ["NONE"]},
        },
        "rootfs": {"type": "layers", "diff_ids": [_sha(LAYER)]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "test"}],
    }


# -- hostile documents: (document, field path, bad value) -----------------------------------

DELETE = object()  # the field removed
_KEY = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def mutate(doc: Any, path: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    keys: list[Any] = [int(i) if i else name for i, name in _KEY.findall(path)]
    parent = doc
    for key in keys[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[keys[-1]]
    else:
        parent[keys[-1]] = value
    return doc


@dataclass(frozen=True)
class Case:
    kind: str  # config, manifest, index (index.json), nested (an index blob), archive
    path: str  # the field the error must name ("" with raw: the whole document)
    value: Any = None
    raw: bytes | None = None

    def apply(self, doc: Any) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(mutate(doc, self.path, self.value)).encode()

    def __str__(self) -> str:
        if self.raw is not None:
            return f"{self.kind}:raw:{self.raw[:12]!r}"
        shown = "DELETE" if self.value is DELETE else json.dumps(self.value)[:20]
        return f"{self.kind}:{self.path}={shown}"


def _cases(kind: str, fields: list[tuple[str, Any]], raws: list[bytes]) -> list[Case]:
    return [Case(kind, path, value) for path, value in fields] + [
        Case(kind, "", raw=raw) for raw in raws
    ]


BAD_DIGEST = "sha256:" + "z" * 64
GARBAGE = [b"not json", DEEP, DEEP_OBJECT, b"[]", b'"x"', b"\xff\xfe{}", b'{"a":1e400}']

CONFIG_CASES = _cases(
    "config",
    [
        ("config.Entrypoint", "sh"),
        ("config.Entrypoint", 1),
        ("config.Entrypoint", ["/bin/app", 1]),
        ("config.Cmd", "run"),
        ("config.Cmd", {"a": 1}),
        ("config.User", 0),
        ("config.User", {"name": "root"}),
        ("config.Env", "PATH=/bin"),
        ("config.Env", [1]),
        ("config.Env", {"PATH": "/bin"}),
        ("config.Labels", ["a=b"]),
        ("config.Labels", {"a": 1}),
        ("config.Labels", "a=b"),
        ("config.ExposedPorts", ["8080/tcp"]),
        ("config.ExposedPorts", "8080"),
        ("config.WorkingDir", 1),
        ("config.Volumes", ["/data"]),
        ("config.Healthcheck", "true"),
        ("config.Healthcheck.Test", "CMD true"),
        ("config.StopSignal", 9),
        ("config.ArgsEscaped", "yes"),
        ("config", "x"),
        ("config", []),
        ("history", {"created_by": "x"}),
        ("history", [1]),
        ("history[0].created_by", 1),
        ("history[0].empty_layer", "yes"),
        ("history[0].created", 1700000000),
        ("rootfs", DELETE),
        ("rootfs", "layers"),
        ("rootfs.diff_ids", _sha(LAYER)),
        ("rootfs.diff_ids[0]", 1),
        ("rootfs.diff_ids[0]", "sha256:abc"),
        ("rootfs.diff_ids[0]", "md5:" + "0" * 32),
        ("architecture", 1),
        ("os", ["linux"]),
        ("variant", 8),
        ("created", 1700000000),
    ],
    GARBAGE,
)
MANIFEST_CASES = _cases(
    "manifest",
    [
        ("schemaVersion", "2"),
        ("schemaVersion", 1),
        ("schemaVersion", DELETE),
        ("mediaType", 1),
        ("config", _sha(b"x")),
        ("config", DELETE),
        ("config.digest", 1),
        ("config.digest", "sha256:abc"),
        ("config.digest", BAD_DIGEST),
        ("config.digest", DELETE),
        ("config.size", "722"),
        ("config.size", True),
        ("config.size", 1.5),
        ("config.size", -1),
        ("config.size", 2**64),
        ("config.size", None),
        ("config.mediaType", 1),
        ("config.mediaType", None),
        ("layers", "x"),
        ("layers", None),
        ("layers", {"0": {}}),
        ("layers[0]", _sha(LAYER)),
        ("layers[0].size", True),
        ("layers[0].urls", "http://example.org/layer"),
        ("layers[0].urls", [1]),
        ("layers[0].annotations", ["a"]),
        ("layers[0].annotations", {"a": 1}),
        ("layers[0].platform", "linux/amd64"),
        ("annotations", []),
        ("annotations", {"a": 1}),
        ("subject", "x"),
        ("subject", {"digest": 1}),
    ],
    GARBAGE,
)
INDEX_CASES = _cases(
    "index",
    [
        ("manifests", "x"),
        ("manifests", None),
        ("manifests[0]", 1),
        ("manifests[0].platform", "linux/amd64"),
        ("manifests[0].platform.architecture", 1),
        ("manifests[0].platform.os", DELETE),
        ("manifests[0].annotations", {mt.ANNOTATION_REF_NAME: 1}),
        ("manifests[0].annotations", ["v1"]),
        ("manifests[0].size", True),
        ("manifests[0].size", "633"),
        ("manifests[0].mediaType", 1),
        ("manifests[0].digest", 5),
        ("manifests[0].urls", "x"),
        ("schemaVersion", None),
        ("schemaVersion", "2"),
        ("annotations", "x"),
        ("mediaType", 2),
    ],
    GARBAGE,
)
NESTED_CASES = _cases(
    "nested",
    [
        ("manifests", "x"),
        ("manifests[0].platform", "linux"),
        ("manifests[0].size", -5),
        ("manifests[0].digest", BAD_DIGEST),
    ],
    [DEEP, b"[]"],
)
ARCHIVE_CASES = _cases(
    "archive",
    [
        ("[0].Config", 1),
        ("[0].Config", DELETE),
        ("[0].Layers", "layer.tar"),
        ("[0].Layers", [1]),
        ("[0].RepoTags", "hostile:v1"),
        ("[0].RepoTags", [1]),
        ("[0]", "x"),
    ],
    [b"not json", DEEP, b"[]", b'{"Config": "config.json"}'],
)
OCI_CASES = CONFIG_CASES + MANIFEST_CASES + INDEX_CASES + NESTED_CASES
ARCHIVE_SOURCE_CASES = CONFIG_CASES + ARCHIVE_CASES


def write_layout(root: Path, case: Case | None = None) -> str:
    """An OCI layout with one tiny image tagged v1, ``case`` applied to its document."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes, media_type: str) -> dict[str, Any]:
        (blobs / _sha(data)[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": _sha(data), "size": len(data)}

    def doc(kind: str, value: Any) -> bytes:
        return case.apply(value) if case and case.kind == kind else json.dumps(value).encode()

    config = put(doc("config", base_config()), mt.OCI_CONFIG)
    layer = put(LAYER, mt.OCI_LAYER)
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config,
                "layers": [layer]}  # fmt: skip
    entry = put(doc("manifest", manifest), mt.OCI_MANIFEST)
    entry["platform"] = {"architecture": ARCH, "os": "linux"}
    if case and case.kind == "nested":
        nested = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]}
        entry = put(doc("nested", nested), mt.OCI_INDEX)
    entry["annotations"] = {mt.ANNOTATION_REF_NAME: "v1"}
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]}
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_bytes(doc("index", index))
    return f"oci:{root}:v1"


def write_archive(path: Path, case: Case | None = None) -> str:
    """A ``docker save`` archive of the same image, ``case`` applied to its document."""
    config = base_config()
    config_bytes = case.apply(config) if case and case.kind == "config" else json.dumps(config)
    entries = [{"Config": "config.json", "RepoTags": ["hostile:v1"], "Layers": ["layer.tar"]}]
    manifest = case.apply(entries) if case and case.kind == "archive" else json.dumps(entries)
    files = {"config.json": config_bytes, "layer.tar": LAYER, "manifest.json": manifest}
    path.write_bytes(_tar({k: v.encode() if isinstance(v, str) else v for k, v in files.items()}))
    return f"docker-archive:{path}"


# -- A: the model decodes into typed values -------------------------------------------------


def test_the_error_names_the_document_and_the_field() -> None:
    data = json.dumps(mutate(base_config(), "config.Entrypoint", "sh")).encode()
    with pytest.raises(FormatError) as caught:
        ImageConfig.parse(data, "oci:./x:latest: image config")
    assert str(caught.value) == (
        'oci:./x:latest: image config: config.Entrypoint must be an array of strings, got "sh"'
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("config.Labels", ["a"], "config.Labels must be an object whose values are strings"),
        ("config.Labels", {"k": 1}, 'config.Labels["k"] must be a string, got 1'),
        ("config.ExposedPorts", "80", 'config.ExposedPorts must be an object, got "80"'),
        ("config.User", 0, "config.User must be a string, got 0"),
        ("config.Env", {"A": "1"}, "config.Env must be an array of strings"),
        ("history", {}, "history must be an array of objects, got {}"),
        ("rootfs.diff_ids[0]", 7, "rootfs.diff_ids[0] must be a digest"),
        ("rootfs", DELETE, "image config: rootfs is missing"),
    ],
)
def test_config_fields_of_the_wrong_type(path: str, value: Any, expected: str) -> None:
    with pytest.raises(FormatError, match=re.escape(expected)):
        ImageConfig.parse(json.dumps(mutate(base_config(), path, value)).encode())


def _manifest_doc() -> dict[str, Any]:
    layer = {"mediaType": mt.OCI_LAYER, "digest": _sha(LAYER), "size": len(LAYER)}
    config = {"mediaType": mt.OCI_CONFIG, "digest": _sha(b"{}"), "size": 2}
    return {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": [layer]}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("layers[0].size", True, "layers[0].size must be an integer from 0 to 2^63-1, got true"),
        ("layers[0].size", 1.5, "layers[0].size must be an integer from 0 to 2^63-1, got 1.5"),
        ("layers[0].size", 2**64, "layers[0].size must be an integer from 0 to 2^63-1"),
        ("layers[0].size", -1, "layers[0].size must be an integer from 0 to 2^63-1, got -1"),
        ("layers[0].size", "5", 'layers[0].size must be an integer from 0 to 2^63-1, got "5"'),
        ("config.mediaType", 5, "config.mediaType must be a string, got 5"),
        ("config.digest", "sha256:ab", "config.digest must be a digest (sha256: and 64"),
        ("layers[0].urls", "http://x", "layers[0].urls must be an array of strings"),
        ("annotations", {"a": ["b"]}, 'annotations["a"] must be a string, got ["b"]'),
        ("layers[0].platform", "linux", 'layers[0].platform must be an object, got "linux"'),
        ("schemaVersion", 3, "schemaVersion must be 2, got 3"),
        ("config.digest", DELETE, "manifest: config.digest is missing"),
    ],
)
def test_descriptors_are_strict(path: str, value: Any, expected: str) -> None:
    data = json.dumps(mutate(_manifest_doc(), path, value)).encode()
    with pytest.raises(FormatError, match=re.escape(expected)):
        Manifest.parse(data)


def test_index_entries_are_strict() -> None:
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": _sha(b"m"), "size": 1,
             "platform": {"architecture": "amd64", "os": "linux", "os.version": 10}}  # fmt: skip
    data = json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()
    with pytest.raises(FormatError, match=re.escape("manifests[0].platform.os.version must be")):
        Index.parse(data)
    with pytest.raises(FormatError, match="platform: architecture is missing"):
        Platform.from_json({"os": "linux"})
    with pytest.raises(FormatError, match="size must be an integer"):
        Descriptor.from_json({"digest": _sha(b""), "size": False})


@pytest.mark.parametrize("data", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deep_nesting_is_a_format_error(data: bytes) -> None:
    for parse in (Manifest.parse, Index.parse, ImageConfig.parse):
        with pytest.raises(FormatError, match=r"nested too deeply|must be"):
            parse(data)
    with pytest.raises(FormatError, match="nested too deeply"):
        load_json(b'{"a":' + data + b"}", "doc")


def test_null_reads_as_empty_and_unknown_fields_are_kept() -> None:
    """Docker writes null for empty fields; Go engines read null as absent: so do we."""
    config = base_config()
    for key in ("Env", "Entrypoint", "Cmd", "Labels", "User", "ExposedPorts", "Volumes",
                "WorkingDir", "Healthcheck", "OnBuild", "Shell"):  # fmt: skip
        config["config"][key] = None
    config["history"] = None
    config["config"]["Memory"] = "docker-only: not checked"
    config["x-vendor"] = {"nested": [1, {"deep": None}]}
    data = json.dumps(config).encode()
    parsed = ImageConfig.parse(data)
    assert (parsed.env, parsed.entrypoint, parsed.cmd, parsed.labels, parsed.user) == (
        [], [], [], {}, ""
    )  # fmt: skip
    assert (parsed.exposed_ports, parsed.workdir, parsed.history, parsed.healthcheck_test) == (
        [], "", [], []
    )  # fmt: skip
    assert parsed.raw["x-vendor"] == {"nested": [1, {"deep": None}]}
    assert parsed.container_config["Memory"] == "docker-only: not checked"
    assert ImageConfig.parse(json.dumps({"rootfs": {}, "config": None}).encode()).env == []


def test_bytes_are_kept_as_read(tmp_path: Path) -> None:
    """Decoding never re-serialises: the digests are those of the bytes in the layout."""
    config = {**base_config(), "x-order": {"z": 1, "a": 2}}
    text = json.dumps(config, indent=3).encode()  # not our canonical form
    manifest = {**_manifest_doc(), "x-unknown": [1, 2]}
    manifest["config"] = {"mediaType": mt.OCI_CONFIG, "digest": _sha(text), "size": len(text)}
    manifest_bytes = json.dumps(manifest, indent=1).encode()
    image = Image.assemble(manifest_bytes, text, _NoBlobs())
    assert image.digest == Digest.parse(_sha(manifest_bytes))
    assert (image.manifest_bytes, image.config_bytes) == (manifest_bytes, text)


class _NoBlobs:
    def open_blob(self, descriptor: Descriptor) -> Any:
        raise AssertionError("not read")

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return None


def test_pack_output_decodes(examples: Examples, tmp_path: Path) -> None:
    dest = f"oci:{tmp_path / 'out'}:v1"
    r = run_cli("pack", examples.hello, "-o", dest, "--label", "a=b", "--expose", "8080",
                "--env", "X=1", "--tz", "none", "--no-certs")  # fmt: skip
    assert r.code == 0, r.stderr
    report = run_cli("inspect", dest, "--format", "json").json()
    assert report["labels"]["a"] == "b" and report["exposed_ports"] == ["8080/tcp"]
    assert "X=1" in report["env"]
    for tool in (["audit", dest, "--fail-on", "none"], ["sbom", dest], ["digest", dest]):
        r = run_cli(*tool)
        assert r.code == 0, r.stderr


def test_pack_on_a_base_whose_fields_are_null(examples: Examples, tmp_path: Path) -> None:
    config = base_config()
    config["config"].update(Env=None, Labels=None, ExposedPorts=None, Cmd=None, Entrypoint=None)
    config["history"] = None
    base = write_layout(tmp_path / "base", Case("config", "", raw=json.dumps(config).encode()))
    dest = f"oci:{tmp_path / 'out'}:v1"
    r = run_cli("pack", examples.hello, "--base", base, "-o", dest, "--expose", "8080",
                "--label", "a=b", "--env", "X=1", "--tz", "none", "--no-certs")  # fmt: skip
    assert r.code == 0, r.stderr
    report = run_cli("inspect", dest, "--format", "json").json()
    assert report["exposed_ports"] == ["8080/tcp"] and report["labels"] == {"a": "b"}
    assert report["env"] == ["X=1"] and report["entrypoint"] == ["/usr/local/bin/hello"]


@pytest.mark.docker
def test_a_real_debian_image_decodes(docker: Runner, debian_docker: str, tmp_path: Path) -> None:
    """dockerd 20.10 writes "Env": null, "Entrypoint": null, "Labels": null: accepted."""
    archive = tmp_path / "debian.tar"
    docker("save", "-o", str(archive), debian_docker)
    with tarfile.open(archive) as tar:
        names = [n for n in tar.getnames() if n.endswith(".json") and "/" not in n]
        handle = tar.extractfile(names[0] if names[0] != "manifest.json" else names[1])
        assert handle is not None
        raw = json.loads(handle.read())
    assert raw["config"]["Env"] is None and raw["config"]["Entrypoint"] is None
    for source in (f"docker-archive:{archive}", f"docker-daemon:{debian_docker}"):
        r = run_cli("inspect", source, "--format", "json")
        assert r.code == 0, r.stderr
        report = r.json()
        assert (report["env"], report["entrypoint"], report["cmd"]) == ([], [], ["bash"])
    layout = tmp_path / "debian"
    r = run_cli("copy", f"docker-archive:{archive}", f"oci:{layout}:bookworm")
    assert r.code == 0, r.stderr
    for command in (["inspect"], ["audit", "--fail-on", "none"]):
        r = run_cli(*command, f"oci:{layout}:bookworm")
        assert r.code == 0, r.stderr


# -- B: the CLI boundary --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["index", "config", "manifest"])
def test_deep_nesting_is_one_line_in_a_real_process(tmp_path: Path, kind: str) -> None:
    image = write_layout(tmp_path / "img", Case(kind, "", raw=DEEP))
    assert_clean_error(run_cli("inspect", image), 1, "nested too deeply")


def _memory_bomb(root: Path) -> str:
    """A valid 15 MiB config of five million empty objects: several hundred MB decoded."""
    config = base_config()
    config["x"] = []
    text = json.dumps(config).encode().replace(b'"x": []', b'"x": [' + b"{}," * (5 << 20) + b"{}]")
    case = Case("config", "", raw=text)
    return write_layout(root, case)


def _run_limited(megabytes: int, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """The CLI in a process whose address space is capped, so that memory runs out for real."""
    launcher = (
        "import os, resource, sys\n"
        "limit = int(sys.argv[1]) << 20\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'scratchpack', *sys.argv[2:]])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", launcher, str(megabytes), *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_an_unexpected_error_is_one_line_naming_the_input(tmp_path: Path) -> None:
    image = _memory_bomb(tmp_path / "bomb")
    r = _run_limited(200, "inspect", image)
    assert_clean_error(r, 2, f"inspect {image}: ran out of memory", "run with --debug")
    r = _run_limited(200, "inspect", image, "--debug")
    assert r.code == 2 and "Traceback" in r.stderr and "MemoryError" in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("scratchpack: error:")]
    assert len(lines) == 1 and "--debug" not in lines[0], r.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--debug", "inspect", "{img}"], {}),
        (["inspect", "{img}", "--debug"], {}),
        (["inspect", "{img}"], {"SCRATCHPACK_DEBUG": "1"}),
    ],
    ids=["before", "after", "env"],
)
def test_debug_shows_the_traceback(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    image = write_layout(tmp_path / "img", Case("config", "config.Entrypoint", "sh"))
    r = run_cli(*(a.format(img=image) for a in args), env=env)
    assert r.code == 1 and "Traceback" in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("scratchpack: error:")]
    assert len(lines) == 1 and "config.Entrypoint must be an array of strings" in lines[0]
    quiet = run_cli("inspect", image, env={"SCRATCHPACK_DEBUG": "0"})
    assert_clean_error(quiet, 1, "config.Entrypoint")


def test_broken_pipe_stays_quiet(tmp_path: Path) -> None:
    config = base_config()
    config["config"]["Labels"] = {f"label.{n}": "x" * 100 for n in range(3000)}
    image = write_layout(tmp_path / "img", Case("config", "", raw=json.dumps(config).encode()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchpack", "inspect", image, "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert stderr == ""


_READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}


def _assert_interrupted_while_reading_stdin(proc: subprocess.Popen[str]) -> None:
    """Press Ctrl-C once ``proc`` blocks reading stdin (fd 0); it must exit 130 with one line."""
    try:
        syscall = Path(f"/proc/{proc.pid}/syscall")
        waiting = f"{_READ_SYSCALL[os.uname().machine]} 0x0 "
        for _ in range(3000):
            if syscall.read_text().startswith(waiting):
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr == "scratchpack: interrupted\n"


@pytest.mark.skipif(os.uname().machine not in _READ_SYSCALL, reason="read(2) number unknown")
def test_interrupt_exits_130_without_a_traceback() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchpack", "login", "127.0.0.1:1", "-u", "me",
         "--password-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # it blocks reading the password from stdin (fd 0) when Ctrl-C comes
    _assert_interrupted_while_reading_stdin(proc)


# The CLI's modules block while they load (a read of stdin, as a cold disk would hold them),
# so that the Ctrl-C arrives during the import itself.
_SLOW_IMPORT = """
import sys
class Slow:
    def find_spec(self, name, path=None, target=None):
        if name == "scratchpack.cli.main":
            sys.stdin.read(1)
        return None
sys.meta_path.insert(0, Slow())
sys.argv = ["scratchpack", "inspect", "oci:nowhere:1"]
from scratchpack.cli.entry import main
raise SystemExit(main())
"""


# The same, once the modules are loaded, while the command's parser is being built (a module
# that only the parsers of pack, build and copy import, with cli/pack.py itself): main's own
# handler was not there yet, and the Ctrl-C was a traceback (found by the session-8 red team,
# about 1 s into a pack on a loaded machine). (cli.signing, used here before, is now imported
# only to sign: a module that never loads would make this test pass without a Ctrl-C.)
_SLOW_PARSER = _SLOW_IMPORT.replace(
    '"scratchpack.cli.main"', '"scratchpack.cli.buildflags"'
).replace('"inspect", "oci:nowhere:1"', '"pack", "nothing", "-o", "oci:nowhere:1"')


@pytest.mark.skipif(os.uname().machine not in _READ_SYSCALL, reason="read(2) number unknown")
@pytest.mark.parametrize("script", [_SLOW_IMPORT, _SLOW_PARSER], ids=["import", "parser"])
def test_interrupt_while_the_cli_loads_exits_130_without_a_traceback(script: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _assert_interrupted_while_reading_stdin(proc)


# -- C: bounded reads -----------------------------------------------------------------------


def _sparse(path: Path, size: int) -> None:
    with path.open("r+b" if path.exists() else "wb") as handle:
        handle.truncate(size)


def _blob_of(layout: Path, kind: str) -> tuple[Path, dict[str, Any]]:
    index = json.loads((layout / "index.json").read_bytes())
    entry = index["manifests"][0]
    manifest_path = layout / "blobs" / "sha256" / entry["digest"][7:]
    if kind == "manifest":
        return manifest_path, index
    config = json.loads(manifest_path.read_bytes())["config"]
    return layout / "blobs" / "sha256" / config["digest"][7:], index


def _grow_blob(kind: str) -> Callable[[Path], str]:
    """The blob file swapped for a 2 GiB one; the descriptor still says the true size."""

    def make(tmp: Path) -> str:
        image = write_layout(tmp / "img")
        path, _ = _blob_of(tmp / "img", kind)
        _sparse(path, GIB2)
        return image

    return make


def _huge_index(tmp: Path) -> str:
    image = write_layout(tmp / "img")
    _sparse(tmp / "img" / "index.json", GIB2)
    return image


def _declared(kind: str, size: int) -> Callable[[Path], str]:
    """A descriptor that honestly declares a huge blob, which is there (sparse)."""

    def make(tmp: Path) -> str:
        layout = tmp / "img"
        image = write_layout(layout)
        path, index = _blob_of(layout, kind)
        _sparse(path, size)
        if kind == "manifest":
            index["manifests"][0]["size"] = size
            (layout / "index.json").write_text(json.dumps(index))
        else:
            manifest_path, _ = _blob_of(layout, "manifest")
            manifest = json.loads(manifest_path.read_bytes())
            manifest["config"]["size"] = size
            data = json.dumps(manifest).encode()
            (layout / "blobs" / "sha256" / _sha(data)[7:]).write_bytes(data)
            index["manifests"][0].update(digest=_sha(data), size=len(data))
            (layout / "index.json").write_text(json.dumps(index))
        return image

    return make


def _archive_member(member: str) -> Callable[[Path], str]:
    """A docker-archive whose ``member`` claims (and holds, sparsely) 2 GiB."""

    def make(tmp: Path) -> str:
        path = tmp / "img.tar"
        config = json.dumps(base_config()).encode()
        entries = [{"Config": "config.json", "RepoTags": [], "Layers": ["layer.tar"]}]
        files = {"config.json": config, "layer.tar": LAYER,
                 "manifest.json": json.dumps(entries).encode()}  # fmt: skip
        with path.open("wb") as out:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = GIB2 if name == member else len(data)
                out.write(info.tobuf(tarfile.USTAR_FORMAT))
                if name == member:
                    out.seek(GIB2, os.SEEK_CUR)  # a hole: no disk used
                else:
                    out.write(data + b"\0" * (-len(data) % 512))
            out.write(b"\0" * 1024)
        return f"docker-archive:{path}"

    return make


_RSS_PROBE = (
    "import json, resource, subprocess, sys\n"
    "proc = subprocess.run([sys.executable, '-m', 'scratchpack', *sys.argv[1:]],\n"
    "                      capture_output=True, text=True, check=False)\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps([proc.returncode, proc.stdout, proc.stderr, rss]))\n"
)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_huge_index, "index.json is 2147483648 bytes, more than the 4 MiB"),
        (_grow_blob("manifest"), "does not match the declared"),
        (_grow_blob("config"), "does not match the declared"),
        (_declared("manifest", GIB2), "more than the 4 MiB"),
        (_declared("manifest", 5 << 20), "more than the 4 MiB"),
        (_declared("config", GIB2), "more than the 20 MiB"),
        (_archive_member("manifest.json"), "manifest.json is 2147483648 bytes, more than"),
        (_archive_member("config.json"), "config.json is 2147483648 bytes, more than the 20"),
    ],
    ids=str.split(
        "index.json manifest-grown config-grown manifest-declared-2G manifest-declared-5M "
        "config-declared-2G archive-manifest.json archive-config"
    ),
)
def test_huge_json_is_refused_unread(
    tmp_path: Path, make: Callable[[Path], str], fragment: str
) -> None:
    image = make(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, "inspect", image],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    code, stdout, stderr, rss_kb = json.loads(proc.stdout)
    assert rss_kb <= RSS_LIMIT_KB, f"peak RSS {rss_kb} kB"
    assert_clean_error(CliResult(code, stdout, stderr), 1, fragment)


# -- D: every hostile document through every command ----------------------------------------

COMMANDS: list[tuple[str, ...]] = [
    ("inspect", "{img}", "--format", "json"),
    ("digest", "{img}"),
    ("audit", "{img}", "--fail-on", "none", "--format", "json"),
    ("sbom", "{img}"),
    ("compare", "{img}", "{img}", "--format", "json"),
    ("copy", "{img}", "oci:{out}/copy:v1"),
    ("pack", "{bin}", "--base", "{img}", "-o", "oci:{out}/packed:v1", "--tz", "none",
     "--no-certs"),
]  # fmt: skip


def _run_all(
    capsys: pytest.CaptureFixture[str], image: str, out: Path, binary: Path
) -> dict[str, tuple[int, str]]:
    results = {}
    for n, command in enumerate(COMMANDS):
        argv = [a.format(img=image, out=out / str(n), bin=binary) for a in command]
        code = main(argv)
        captured = capsys.readouterr()
        results[command[0]] = (code, captured.err)
    return results


def _reads_index_only(command: str, image: str, case: Case) -> bool:
    """``digest oci:DIR:TAG`` prints the index.json entry's digest: nothing else is read."""
    return command == "digest" and image.startswith("oci:") and case.kind != "index"


def _check_refused(results: dict[str, tuple[int, str]], image: str, case: Case) -> None:
    for command, (code, stderr) in results.items():
        errors = [line for line in stderr.splitlines() if line.startswith("scratchpack: error:")]
        assert "Traceback" not in stderr, (command, stderr)
        if _reads_index_only(command, image, case):
            assert code == 0 and not errors, (command, code, stderr)
            continue
        assert code in (1, 2) and len(errors) == 1, (command, code, stderr)
        # understood as bad input, not caught as a crash at the boundary
        assert "--debug" not in errors[0], (command, errors[0])
        if case.path:
            assert case.path in errors[0], (command, errors[0])


def test_the_unchanged_images_pass_every_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, examples: Examples
) -> None:
    """The control: without a hostile document every command succeeds."""
    for image in (write_layout(tmp_path / "img"), write_archive(tmp_path / "img.tar")):
        results = _run_all(capsys, image, tmp_path / image[:3], examples.hello)
        for command, (code, stderr) in results.items():
            assert code == 0, (image, command, stderr)


HOSTILE = [(write_layout, "img", case) for case in OCI_CASES] + [
    (write_archive, "img.tar", case) for case in ARCHIVE_SOURCE_CASES
]


@pytest.mark.parametrize(
    ("write", "name", "case"), HOSTILE, ids=[f"{n}-{c}" for _, n, c in HOSTILE]
)
def test_hostile_documents(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    examples: Examples,
    write: Callable[[Path, Case], str],
    name: str,
    case: Case,
) -> None:
    image = write(tmp_path / name, case)
    _check_refused(_run_all(capsys, image, tmp_path, examples.hello), image, case)
