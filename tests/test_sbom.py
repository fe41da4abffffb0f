"""``scratchpack sbom`` and ``scratchpack compare``.

Package metadata of every kind is planted in synthetic layers; the outputs are validated with
the formats' own validators (cyclonedx-python-lib's JSON schema validator, spdx-tools'); real
images show that dpkg's view and a Go toolchain's build info come out as they should.
"""

from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from helpers import CliResult, assert_clean_error, not_progress, run_cli
from realtools import BUILDERS, Runner, debian_image
from test_audit import D, T, audit_json, write_layout

STATUS = b"""\
Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
"""
DISTROLESS = b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"
APK = b"""\
C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
L:MIT

P:busybox
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
"""
OS_RELEASE = b'ID=debian\nVERSION_ID="12"\n'


def sbom(*args: str | Path) -> CliResult:
    return run_cli("sbom", *args)


@pytest.fixture(scope="module")
def rust_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static binary with a cargo-auditable style ``.dep-v0`` section (added with objcopy:
    cargo-auditable itself is not packaged in Debian)."""
    out = tmp_path_factory.mktemp("rust")
    src = out / "main.c"
    src.write_text("int main(void){return 0;}\n")
    binary = out / "app"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(src)], check=True)
    deps = {
        "packages": [
            {"name": "app", "version": "0.1.0", "source": "local", "root": True},
            {"name": "serde", "version": "1.0.210", "source": "crates.io"},
        ]
    }
    section = out / "dep.z"
    section.write_bytes(zlib.compress(json.dumps(deps).encode()))
    subprocess.run(["objcopy", "--add-section", f".dep-v0={section}", str(binary)], check=True)
    return binary


def planted(tmp_path: Path, rust_binary: Path) -> str:
    layers = [
        [T("etc/os-release", OS_RELEASE), T("var/lib/dpkg/status", STATUS),
         T("var/lib/dpkg/status.d/base-files", DISTROLESS),
         T("var/lib/dpkg/status.d/base-files.md5sums", b"abc  /etc/issue\n"),
         T("lib/apk/db/installed", APK),
         T("usr/lib/python3/dist-packages/Requests_OAuth-1.2.dist-info/METADATA",
           b"Metadata-Version: 2.1\nName: Requests_OAuth\nVersion: 1.2\nLicense: MIT\n\nbody"),
         T("usr/lib/python3/dist-packages/six.egg-info/PKG-INFO",
           b"Metadata-Version: 1.0\nName: six\nVersion: 1.16.0\n"),
         T("app/node_modules/left-pad/package.json", b'{"name":"left-pad","version":"1.3.0"}'),
         T("app/node_modules/@types/node/package.json",
           b'{"name":"@types/node","version":"20.1.0","license":"MIT"}'),
         T("app/node_modules/left-pad/lib/package.json", b'{"type":"module"}'),
         T("app/node_modules/gone/package.json", b'{"name":"gone","version":"0.0.1"}'),
         T("app/rust-app", rust_binary.read_bytes(), 0o755)],
        [D("app/node_modules"), T("app/node_modules/.wh.gone")],
    ]  # fmt: skip
    return write_layout(tmp_path / "img", layers)


Q = "?arch=amd64&distro=debian-12"
A = "?arch=x86_64&distro=debian-12"
EXPECTED = {
    ("deb", "libc6", "2.36-9+deb12u4", f"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4{Q}"),
    ("deb", "tzdata", "2024a-0+deb12u1",
     "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"),
    ("deb", "base-files", "12.4+deb12u5", f"pkg:deb/debian/base-files@12.4%2Bdeb12u5{Q}"),
    ("apk", "musl", "1.2.4-r2", f"pkg:apk/debian/musl@1.2.4-r2{A}"),
    ("apk", "busybox", "1.36.1-r15", f"pkg:apk/debian/busybox@1.36.1-r15{A}"),
    ("pypi", "requests-oauth", "1.2", "pkg:pypi/requests-oauth@1.2"),
    ("pypi", "six", "1.16.0", "pkg:pypi/six@1.16.0"),
    ("npm", "left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0"),
    ("npm", "@types/node", "20.1.0", "pkg:npm/%40types/node@20.1.0"),
    ("cargo", "app", "0.1.0", "pkg:cargo/app@0.1.0"),
    ("cargo", "serde", "1.0.210", "pkg:cargo/serde@1.0.210"),
}  # fmt: skip


def test_every_package_source_is_read(tmp_path: Path, rust_binary: Path) -> None:
    name = planted(tmp_path, rust_binary)
    result = sbom(name, "--format", "json")
    assert result.code == 0, result.stderr
    found = {(p["type"], p["name"], p["version"], p["purl"]) for p in result.json()}
    # deinstalled dpkg entries, md5sums, package.json stubs and deleted packages are not there
    assert found == EXPECTED
    report = audit_json(name)
    assert report["packages"]["count"] == len(EXPECTED)
    assert report["packages"]["by_type"] == {"apk": 2, "cargo": 2, "deb": 3, "npm": 2, "pypi": 2}


def test_cyclonedx_and_spdx_validate_and_are_reproducible(
    tmp_path: Path, rust_binary: Path
) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    name = planted(tmp_path, rust_binary)
    cdx = sbom(name)  # CycloneDX is the default
    assert cdx.code == 0 and not not_progress(cdx.stderr), cdx.stderr
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx.stdout) is None
    doc = json.loads(cdx.stdout)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert {c["purl"] for c in doc["components"]} == {e[3] for e in EXPECTED}
    assert doc["metadata"]["component"]["type"] == "container"
    assert doc["metadata"]["timestamp"].startswith("1970-01-01")  # no created time: the epoch
    assert sbom(name).stdout == cdx.stdout
    out = tmp_path / "sbom.spdx.json"
    spdx = sbom(name, "--format", "spdx", "-o", out)
    assert spdx.code == 0 and spdx.stdout == "", spdx.stderr
    assert validate_full_spdx_document(parse_file(str(out))) == []
    data = json.loads(out.read_text())
    purls = {ref["referenceLocator"] for p in data["packages"] for ref in p.get("externalRefs", [])}
    assert purls == {e[3] for e in EXPECTED}
    stamped = json.loads(
        run_cli("sbom", name, "--format", "spdx", env={"SOURCE_DATE_EPOCH": "1700000000"}).stdout
    )
    assert stamped["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    text = sbom(name, "--format", "text").stdout.splitlines()
    assert len(text) == len(EXPECTED) and any("left-pad" in line for line in text)


def test_hostile_package_metadata_still_validates(tmp_path: Path) -> None:
    """An image's package manifests name what they like: blank, huge and broken licence
    expressions, names and versions with spaces, ``..``, ``%``, ``#``, ``@``, line feeds and
    non-ASCII. Both documents still validate and every purl parses back to itself; a blank
    licence is no licence (it was written as the CycloneDX "expression" ``" "``, 2026-12-03)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    weird = [("@sc/../../x", "1 2", "MIT AND ("), ("a b", "../1", "GPL-2.0+ WITH"),
             ("x%2F?#y", "%", "LicenseRef-../x"), ("@", "#1", "(MIT OR"), ("..", "?", " "),
             ("\u4e2d\u6587", "1\n2", "MIT\nAND BSD"), ("n:x", "1", "a" * 100_000),
             ("q", "1", "\t")]  # fmt: skip
    members = [T(f"app/node_modules/p{n}/package.json",
                 json.dumps({"name": name, "version": version, "license": lic}).encode())
               for n, (name, version, lic) in enumerate(weird)]  # fmt: skip
    members += [
        T("lib/apk/db/installed", b"P:a pk\nV:1 2\nL:MIT AND (\n\nP:\nV:\n\n"),
        T("var/lib/dpkg/status", b"Package: x y\nStatus: install ok installed\n"
          b"Version: 1:2:3-4-5\nArchitecture: amd64\nSource: src (9 9)\n\n"),
        T("usr/lib/python3/site-packages/y-1.dist-info/METADATA",
          b"Metadata-Version: 2.1\nName: ../../y z\nVersion: 1@2\nLicense: \n\n"),
    ]  # fmt: skip
    name = write_layout(tmp_path / "img", [members])
    cdx = sbom(name)
    assert cdx.code == 0, cdx.stderr
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx.stdout) is None
    components = json.loads(cdx.stdout)["components"]
    assert len(components) == len(weird) + 3
    for component in components:
        assert PackageURL.from_string(component["purl"]).to_string() == component["purl"]
        for entry in component.get("licenses", []):
            assert (entry.get("expression") or entry["license"]["name"]).strip(), component
    blank = [c for c in components if c["name"] in ("..", "q")]
    assert len(blank) == 2 and not any("licenses" in c for c in blank), blank
    out = tmp_path / "sbom.spdx.json"
    assert sbom(name, "--format", "spdx", "-o", out).code == 0
    assert validate_full_spdx_document(parse_file(str(out))) == []


def test_sbom_bad_input(tmp_path: Path) -> None:
    assert_clean_error(sbom(f"oci:{tmp_path}/nothing:t"), 2)
    assert_clean_error(sbom("oci:x", "--format", "xml"), 2, "invalid choice")
    name = write_layout(tmp_path / "img", [[T("f", b"x")]])
    assert_clean_error(sbom(name, "-o", tmp_path / "no/such/dir/out.json"), 1)
    assert not (tmp_path / "no").exists()
    broken = write_layout(
        tmp_path / "broken", [[T("var/lib/dpkg/status", b"\xff\xfe garbage\n\n:::\n"),
                               T("app/node_modules/x/package.json", b"{not json")]]
    )  # fmt: skip
    result = sbom(broken, "--format", "json")
    assert result.code == 0 and result.json() == []  # unreadable metadata lists nothing


def test_compare_table(tmp_path: Path, rust_binary: Path) -> None:
    small = write_layout(tmp_path / "small", [[T("app", b"x" * 10, 0o755)]], {"User": "1"})
    big = planted(tmp_path, rust_binary)
    result = run_cli("compare", small, big, "--format", "json")
    assert result.code == 0, result.stderr
    columns = result.json()
    assert [c["image"] for c in columns] == [small, big]
    assert columns[0]["ratio"] == 1.0 and columns[1]["ratio"] > 1.0
    assert columns[1]["packages"] == len(EXPECTED) and columns[0]["packages"] == 0
    assert columns[0]["user"] == "1" and columns[1]["user"] == "root"
    markdown = run_cli("compare", small, big, "--format", "markdown").stdout.splitlines()
    assert markdown[0] == f"|  | {small} | {big} |"
    assert "| packages | 0 | 11 |" in markdown
    assert any(line.startswith("| x the smallest (compressed) | 1.0x |") for line in markdown)
    text = run_cli("compare", small, big)
    assert text.code == 0 and "will start" in text.stdout
    assert_clean_error(run_cli("compare", small), 2, "at least two images")
    assert_clean_error(run_cli("compare", small, f"oci:{tmp_path}/none:t"), 2)


# -- real images -----------------------------------------------------------------------------


def test_debian_packages_match_dpkg_query(docker: Runner, debian_docker: str) -> None:
    listed = docker(
        "run", "--rm", "--network", "none", debian_docker,
        "dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
    ).stdout.decode()  # fmt: skip
    expected = {tuple(line.split(" ", 1)) for line in listed.splitlines() if line}
    result = sbom(f"docker-daemon:{debian_docker}", "--format", "json")
    assert result.code == 0, result.stderr
    packages: list[dict[str, Any]] = result.json()
    assert {(p["name"], p["version"]) for p in packages if p["type"] == "deb"} == expected
    assert all(p["purl"].startswith("pkg:deb/debian/") for p in packages)


def test_go_build_info_from_a_real_go_binary(docker: Runner, tmp_path: Path) -> None:
    builder, packages = BUILDERS["go"]
    debian_image(docker, "docker", packages, builder)
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module example.com/greeter\n\ngo 1.19\n")
    (src / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'
    )
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {builder} AS build\nWORKDIR /src\nCOPY src/ .\n"
        "RUN CGO_ENABLED=0 GOFLAGS=-mod=mod GOCACHE=/tmp/gocache go build -o /greeter .\n"
        'FROM scratch\nCOPY --from=build /greeter /greeter\nUSER 65532\nENTRYPOINT ["/greeter"]\n'
    )
    (context / "src").mkdir()
    for item in src.iterdir():
        (context / "src" / item.name).write_bytes(item.read_bytes())
    tag = f"scratchpack-test/greeter:{tmp_path.name.lower()}"
    docker("build", "-q", "--network", "none", "-t", tag, str(context), timeout=600)
    try:
        result = sbom(f"docker-daemon:{tag}", "--format", "json")
        assert result.code == 0, result.stderr
        found = {(p["name"], p["purl"]) for p in result.json()}
        go = [p for p in result.json() if p["name"] == "stdlib"]
        assert go and go[0]["version"].startswith("1.19"), result.json()
        assert ("example.com/greeter", "pkg:golang/example.com/greeter") in found
        report = audit_json(f"docker-daemon:{tag}")
        assert report["startup"]["kind"] == "elf-static"
        assert {f["severity"] for f in report["findings"]} <= {"info"}, report["findings"]
    finally:
        docker("rmi", "-f", tag, check=False)
