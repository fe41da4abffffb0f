#!/usr/bin/env python3
"""Write the seed corpus, tests/fuzz/corpus/<target>/seed-*: small valid inputs of every kind
the parsers meet, made here (no file is copied from anywhere). Deterministic: running it again
rewrites the same bytes. Crashing inputs found by fuzzing live beside them as ``crash-*`` and
are kept by this script; see docs/fuzzing.md.

    .venv/bin/python tests/fuzz/make_corpus.py
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.samples import DOCKERFILES, SCRIPTS

CORPUS = Path(__file__).resolve().parent / "corpus"
SHA = "sha256:" + hashlib.sha256(b"scratchpack fuzz").hexdigest()
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def descriptor(media_type: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": SHA, "size": 1234, **extra}


def model_documents() -> dict[str, Any]:
    platform = {"os": "linux", "architecture": "arm64", "variant": "v8"}
    return {
        "oci-manifest": {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG),
            "layers": [descriptor(OCI_LAYER), descriptor(OCI_LAYER, urls=["https://x/y"])],
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
            "subject": descriptor(OCI_MANIFEST),
        },
        "docker-manifest": {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor("application/vnd.docker.container.image.v1+json"),
            "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip")],
        },
        "sniffed-manifest": {"schemaVersion": 2, "config": descriptor(OCI_CONFIG), "layers": []},
        "oci-index": {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"}),
                descriptor(OCI_MANIFEST, platform=platform),
                descriptor(OCI_MANIFEST, annotations={"org.opencontainers.image.ref.name": "v"}),
            ],
        },
        "docker-list": {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [descriptor(DOCKER_MANIFEST, platform=platform)],
        },
        "config": {
            "created": "2024-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": "65532:65532",
                "Env": ["PATH=/usr/bin"],
                "Entrypoint": ["/app"],
                "Cmd": ["--serve"],
                "WorkingDir": "/srv",
                "Labels": {"org.opencontainers.image.source": "x"},
                "ExposedPorts": {"8080/tcp": {}},
            },
            "rootfs": {"type": "layers", "diff_ids": [SHA, SHA]},
            "history": [
                {"created": "2024-01-01T00:00:00Z", "created_by": "COPY app /app"},
                {"created_by": "ENV X=1", "empty_layer": True, "comment": "c"},
            ],
        },
        "config-minimal": {"rootfs": {"type": "layers", "diff_ids": []}},
        "schema1": {"schemaVersion": 1, "fsLayers": []},
    }


# Configurations hadolint and scratchpack users write, and hostile ones (each a clear error)
CONFIGS: dict[str, str] = {
    "hadolint": (
        "ignored: [DL3008, SC2086]\nfailure-threshold: warning\ntrustedRegistries: [docker.io]\n"
        "override:\n  error: [DL3015]\n  info: [DL3059]\nlabel-schema:\n  maintainer: text\n"
        "  org.opencontainers.image.source: url\nstrict-labels: false\nformat: json\n"
    ),
    "scratchpack-toml": (
        'ignore = ["SP206", "DL3059"]\nfailure-threshold = "error"\nshellcheck = false\n'
        '[severity]\nSP103 = "warning"\n[label-schema]\n"org.opencontainers.image.source" = "url"\n'
    ),
    "alias-bomb": "a: &a [x,x,x,x,x,x,x,x,x]\n"
    + "".join(
        f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "format: *i\nfailure-threshold: *i\nignored: *i\n",
    "wrong-types": "ignored: DL3008\noverride: [error]\nno-fail: maybe\nlabel-schema: 3\n",
    "toml-wrong-types": 'ignore = 5\nseverity = "x"\ntrusted-registries = {a = 1}\n',
    "deep": "ignored: " + "[" * 2000 + "]" * 2000 + "\n",
    "multiline-key": '"a\\nb": 1\noverride:\n  "x\\ny": [DL3008]\n',
}


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, content in members:
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return out.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, content: bytes = b"", link: str = "",
           mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    info.mode = mode
    return info, content


def layers() -> dict[str, bytes]:
    tree = [
        member("./etc/", tarfile.DIRTYPE, mode=0o755),
        member("./etc/passwd", content=b"root:x:0:0::/root:/bin/sh\n"),
        member("./bin/sh", tarfile.SYMTYPE, link="busybox"),
        member("./bin/busybox", content=b"\x7fELF" + bytes(60), mode=0o4755),
        member("./bin/ash", tarfile.LNKTYPE, link="bin/busybox"),
        member("./dev/null", tarfile.CHRTYPE, mode=0o666),
        member("./run/fifo", tarfile.FIFOTYPE),
        member("./var/cache/.wh.apk"),
        member("./tmp/.wh..wh..opq"),
    ]
    long_name = "./" + "/".join(["d" * 60] * 4) + "/file"
    return {
        "tree-gnu": tar_bytes(tree, tarfile.GNU_FORMAT),
        "tree-pax": tar_bytes(tree, tarfile.PAX_FORMAT),
        "tree-ustar": tar_bytes(tree[:4], tarfile.USTAR_FORMAT),
        "long-name-gnu": tar_bytes([member(long_name, content=b"x")], tarfile.GNU_FORMAT),
        "long-name-pax": tar_bytes([member(long_name, content=b"x")], tarfile.PAX_FORMAT),
        "utf8-name-pax": tar_bytes([member("./caf\u00e9", content=b"x")], tarfile.PAX_FORMAT),
        "empty": tar_bytes([], tarfile.PAX_FORMAT),
        "big-content": tar_bytes(
            [member("blob", content=bytes(range(256)) * 40)], tarfile.PAX_FORMAT
        ),
    }


def osv_documents() -> dict[str, bytes]:
    """The real advisories of tests/data/osv (the project's own test data), as seeds."""
    data = Path(__file__).resolve().parents[1] / "data" / "osv"
    return {path.stem: path.read_bytes() for path in sorted(data.glob("*.json"))}


def ignore_files() -> dict[str, bytes]:
    return {
        "yaml": b"ignore:\n  - id: CVE-2021-44906\n    package: minimist\n"
        b"    reason: only our own arguments\n    expires: 2999-01-01\n  - DSA-5514-1\n",
        "toml": b'[[ignore]]\nid = "GHSA-xvch-5gv4-984h"\nreason = "x"\nexpires = 2024-01-01\n',
        "openvex": json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
            {"vulnerability": {"name": "CVE-2021-44906"}, "status": "not_affected",
             "products": [{"@id": "pkg:npm/minimist@1.2.5"}],
             "justification": "vulnerable_code_not_in_execute_path"}]}).encode(),
        "cyclonedx-vex": json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
            "vulnerabilities": [{"id": "RUSTSEC-2021-0003", "affects": [{"ref": "pkg:cargo/x"}],
                                 "analysis": {"state": "not_affected",
                                              "justification": "code_not_reachable"}}]}).encode(),
    }  # fmt: skip


def debian_files() -> dict[str, bytes]:
    from fuzz.strategies import deb_file, tar_gz

    digest = hashlib.sha256(b"scratchpack fuzz").hexdigest()
    stanza = (
        b"Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nDepends: libc6 (>= 2.34)\n"
        b"Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53000\n"
        b"SHA256: " + digest.encode() + b"\nDescription: example\n more\n .\n"
    )
    control = b"Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n"
    names = ("debian-binary", "control.tar.gz", "data.tar.gz")
    return {
        "packages": b"Packages\n" + stanza + b"\n" + stanza.replace(b"hello", b"hola"),
        "release": b"Release\nOrigin: Debian\nSuite: bookworm\nSHA256:\n "
        + digest.encode()
        + b" 12345 main/binary-amd64/Packages.xz\n",
        "deb": b"deb\n" + deb_file(control, tar_gz({"./usr/bin/hello": b"\x7fELF"}), names),
    }


def write(target: str, name: str, data: bytes) -> None:
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data)


def main() -> None:
    for target in ("dockerfile", "shell", "model", "layer", "osv", "ignore"):
        for old in (CORPUS / target).glob("seed-*"):
            old.unlink()
    for name, text in DOCKERFILES.items():
        write("dockerfile", name, text.encode())
    for name, script in SCRIPTS.items():
        write("shell", name, script.encode())
    for target in ("fix", "config"):
        for old in (CORPUS / target).glob("seed-*"):
            old.unlink()
    for name, text in DOCKERFILES.items():
        write("fix", name, text.encode())
    for name, text in CONFIGS.items():
        write("config", name, text.encode())
    for name, doc in model_documents().items():
        write("model", name, json.dumps(doc, indent=1).encode())
    for name, data in layers().items():
        write("layer", name, data)
    for name, data in osv_documents().items():
        write("osv", name, data)
    for name, data in ignore_files().items():
        write("ignore", name, data)
    for old in (CORPUS / "debian").glob("seed-*"):
        old.unlink()
    for name, data in debian_files().items():
        write("debian", name, data)
    from fuzz.strategies import DOCUMENT_KINDS, valid_documents

    for name, doc in valid_documents().items():
        write("documents", name, DOCUMENT_KINDS[name] + b"\n" + json.dumps(doc, indent=1).encode())
    write("documents", "spec", b'spec\n[image]\npackages = ["base-files", "ca-certificates"]\n')


if __name__ == "__main__":
    main()
