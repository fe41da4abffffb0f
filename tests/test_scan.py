"""``scratchpack scan`` (issue 16 items 5-7), end to end through the real CLI.

The advisories are real (tests/data/osv/README.md); the packages are those of a
``build --preset base`` image (real bookworm packages from the machine's apt sources) and of
layouts holding real package metadata of every kind: a dpkg status with ``Source:`` fields,
pip's dist-info, node_modules, a Go binary built here by the Go toolchain (its build info
names its stdlib), a cargo-auditable section, an apk database. Reports are validated with the
formats' own schemas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import jsonschema
import pytest

from helpers import ROOT, CliResult, assert_clean_error, run_cli
from realtools import need
from scratchpack.vulns.versions import key
from test_audit import SARIF_SCHEMA, T, write_layout

OSV = ROOT / "tests" / "data" / "osv"
FRESH = {"SCRATCHPACK_LOCK_TIMEOUT": "30"}


def scan(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    return run_cli("scan", *args, env=env)


@pytest.fixture(scope="module")
def vulns_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("db") / "vulns.db"
    result = run_cli("db", "import", OSV, "--db", database)
    assert result.code == 0, result.stderr
    return database


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ``base`` preset: real bookworm libc6 (source glibc) and libssl3 (source openssl)."""
    out = tmp_path_factory.mktemp("base")
    result = run_cli("build", "--preset", "base", "-o", f"oci:{out / 'base'}:latest", cwd=out)
    assert result.code == 0, result.stderr
    return f"oci:{out / 'base'}:latest"


def matches(result: CliResult) -> set[tuple[str, str, str, str]]:
    """(package, installed, advisory id, fixed) of a --format json report."""
    assert result.code in (0, 1), result.stderr
    return {
        (m["package"], m["installed"], m["id"], m["fixed"] or "") for m in result.json()["matches"]
    }


def test_a_real_bookworm_image(vulns_db: Path, base_image: str) -> None:
    result = scan(base_image, "--db", vulns_db, "--format", "json")
    report = result.json()
    found = {(m["package"], m["id"]): m for m in report["matches"]}
    # CVE-2010-4756 has no fix in Debian: every glibc of bookworm has it, through libc6
    unfixed = found[("libc6", "DEBIAN-CVE-2010-4756")]
    assert unfixed["advisory_package"] == "glibc" and unfixed["ecosystem"] == "Debian:12"
    assert unfixed["fixed"] is None and unfixed["severity"] == "negligible"
    # the image's glibc and openssl are newer than the fixes of DSA-5514-1, DSA-5532-1 and
    # DEBIAN-CVE-2026-4438 (fixed in 2.36-9+deb12u14): not reported
    libc6 = unfixed["installed"]
    assert key("Debian:12", libc6) >= key("Debian:12", "2.36-9+deb12u14")
    assert set(found) == {("libc6", "DEBIAN-CVE-2010-4756")}
    assert report["packages_scanned"] == 8
    # negligible is below every --fail-on level; --ignore-unfixed drops it
    assert scan(base_image, "--db", vulns_db, "--fail-on", "low", "-q").code == 0
    fixed_only = scan(base_image, "--db", vulns_db, "--ignore-unfixed", "--format", "json")
    assert fixed_only.json()["matches"] == []


def _metadata(name: str, version: str) -> bytes:
    """A dist-info METADATA as pip writes it."""
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        "Summary: HTTP library\nRequires-Python: >=3.7\n\n"
    ).encode()


STATUS = b"""\
Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u1

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
"""


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Go program built here, offline, with golang.org/x/net v0.10.0 vendored (a stub
    package under the real module path and version, as ``go mod vendor`` lays it out): its
    build info names the toolchain (Debian's go 1.19) and that module."""
    need("go", "builds a Go binary whose build info names its stdlib and modules")
    out = tmp_path_factory.mktemp("go")
    (out / "go.mod").write_text(
        "module example.com/hello\n\ngo 1.19\n\nrequire golang.org/x/net v0.10.0\n"
    )
    vendored = out / "vendor" / "golang.org" / "x" / "net" / "idna"
    vendored.mkdir(parents=True)
    (vendored / "idna.go").write_text(
        "package idna\n\nfunc ToASCII(s string) (string, error) { return s, nil }\n"
    )
    (out / "vendor" / "modules.txt").write_text(
        "# golang.org/x/net v0.10.0\n## explicit; go 1.17\ngolang.org/x/net/idna\n"
    )
    (out / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"golang.org/x/net/idna"\n)\n\n'
        'func main() {\n\ts, _ := idna.ToASCII("hi")\n\tfmt.Println(s)\n}\n'
    )
    env = {**os.environ, "GOCACHE": str(out / "cache"), "GOPATH": str(out / "gopath"),
           "CGO_ENABLED": "0", "GOFLAGS": "-mod=vendor", "GOPROXY": "off"}  # fmt: skip
    subprocess.run(["go", "build", "-o", "hello", "."], cwd=out, env=env, check=True,
                   capture_output=True)  # fmt: skip
    return out / "hello"


@pytest.fixture(scope="module")
def rust_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static binary with a cargo-auditable ``.dep-v0`` section listing smallvec 1.6.0."""
    need("objcopy", "adds a cargo-auditable section")
    out = tmp_path_factory.mktemp("rust")
    (out / "main.c").write_text("int main(void){return 0;}\n")
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(out / "app"), str(out / "main.c")], check=True
    )
    deps = {
        "packages": [
            {"name": "app", "version": "0.1.0", "source": "local", "root": True},
            {"name": "smallvec", "version": "1.6.0", "source": "crates.io"},
        ]
    }
    (out / "dep.z").write_bytes(zlib.compress(json.dumps(deps).encode()))
    subprocess.run(
        ["objcopy", "--add-section", f".dep-v0={out / 'dep.z'}", str(out / "app")], check=True
    )
    return out / "app"


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, go_binary: Path, rust_binary: Path) -> str:
    directory = tmp_path_factory.mktemp("planted")
    site = "usr/local/lib/python3.11/site-packages"
    layers = [
        [
            T(
                "etc/os-release",
                b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
            ),
            T("var/lib/dpkg/status", STATUS),
            T(f"{site}/urllib3-1.26.5.dist-info/METADATA", _metadata("urllib3", "1.26.5")),
            T(f"opt/venv/{site}/urllib3-2.0.6.dist-info/METADATA", _metadata("urllib3", "2.0.6")),
            T("app/node_modules/minimist/package.json", b'{"name":"minimist","version":"1.2.5"}'),
            T(
                "app/node_modules/mkdirp/node_modules/minimist/package.json",
                b'{"name":"minimist","version":"1.2.6"}',
            ),
            T("app/hello", go_binary.read_bytes(), 0o755),
            T("app/rust-app", rust_binary.read_bytes(), 0o755),
        ]
    ]
    return write_layout(directory / "img", layers)


EXPECTED = {
    ("libc6", "2.36-9+deb12u1", "DSA-5514-1", "2.36-9+deb12u3"),
    ("libc6", "2.36-9+deb12u1", "DEBIAN-CVE-2026-4438", "2.36-9+deb12u14"),
    ("libc6", "2.36-9+deb12u1", "DEBIAN-CVE-2010-4756", ""),
    ("libssl3", "3.0.11-1~deb12u1", "DSA-5532-1", "3.0.11-1~deb12u2"),  # not openssl 3.0.11-1
    ("urllib3", "1.26.5", "GHSA-v845-jxx5-vc9f", "1.26.17"),  # not 2.0.6
    ("minimist", "1.2.5", "GHSA-xvch-5gv4-984h", "1.2.6"),  # not 1.2.6
    ("stdlib", "1.19.8", "GO-2023-2102", "1.20.10"),
    ("golang.org/x/net", "v0.10.0", "GO-2023-2102", "0.17.0"),
    ("smallvec", "1.6.0", "RUSTSEC-2021-0003", "1.6.1"),
}


def test_every_ecosystem_matches_and_fixed_versions_are_not_reported(
    vulns_db: Path, planted: str
) -> None:
    result = scan(planted, "--db", vulns_db, "--format", "json")
    assert result.code == 0, result.stderr
    assert matches(result) == EXPECTED
    report = result.json()
    by_id = {m["id"]: m for m in report["matches"]}
    assert by_id["DSA-5532-1"]["advisory_package"] == "openssl"  # libssl3's source
    assert by_id["GHSA-xvch-5gv4-984h"]["severity"] == "critical"
    assert by_id["GHSA-v845-jxx5-vc9f"]["severity"] == "medium"
    assert by_id["DEBIAN-CVE-2026-4438"]["severity"] == "medium"  # CVSS 3.1 5.4
    assert by_id["DEBIAN-CVE-2026-4438"]["cvss_score"] == 5.4
    assert by_id["RUSTSEC-2021-0003"]["cvss_score"] == 9.8
    assert by_id["GO-2023-2102"]["path"] == "/app/hello"
    assert report["summary"] == {
        "critical": 2,
        "high": 0,
        "medium": 2,
        "low": 0,
        "negligible": 1,
        "unknown": 4,
    }


def test_fail_on_thresholds(vulns_db: Path, planted: str) -> None:
    assert scan(planted, "--db", vulns_db, "-q").code == 0  # no --fail-on: findings are not failure
    assert scan(planted, "--db", vulns_db, "--fail-on", "critical", "-q").code == 1
    assert scan(planted, "--db", vulns_db, "--fail-on", "high", "-q").code == 1
    ignored = scan(planted, "--db", vulns_db, "--fail-on", "critical", "--ignore-unfixed", "-q")
    assert ignored.code == 1  # minimist and smallvec have fixes
    bad = scan(planted, "--db", vulns_db, "--fail-on", "severe")
    assert bad.code == 2 and "invalid choice" in bad.stderr


def test_other_releases_and_alpine(vulns_db: Path, tmp_path: Path) -> None:
    bullseye = write_layout(
        tmp_path / "bullseye",
        [
            [
                T("etc/os-release", b'ID=debian\nVERSION_ID="11"\n'),
                T(
                    "var/lib/dpkg/status.d/zlib1g",
                    b"Package: zlib1g\nSource: zlib\nVersion: "
                    b"1:1.2.11.dfsg-2+deb11u1\nArchitecture: amd64\n",
                ),
                T(
                    "var/lib/dpkg/status.d/libc6",
                    b"Package: libc6\nSource: glibc\nVersion: "
                    b"2.31-13+deb11u5\nArchitecture: amd64\n",
                ),
            ]
        ],
    )
    found = matches(scan(bullseye, "--db", vulns_db, "--format", "json"))
    # Debian:11's zlib advisory; the Debian:12 glibc ones are for another release
    assert found == {("zlib1g", "1:1.2.11.dfsg-2+deb11u1", "DSA-5218-1", "1:1.2.11.dfsg-2+deb11u2")}
    alpine = write_layout(
        tmp_path / "alpine",
        [
            [
                T("etc/os-release", b"ID=alpine\nVERSION_ID=3.16.9\n"),
                T(
                    "lib/apk/db/installed",
                    b"P:bind\nV:9.16.45-r0\nA:x86_64\n\nP:bind-tools\n"
                    b"V:9.16.48-r0\nA:x86_64\n\nP:musl\nV:1.2.3-r3\nA:x86_64\n",
                ),
            ]
        ],
    )
    found = matches(scan(alpine, "--db", vulns_db, "--format", "json"))
    assert found == {("bind", "9.16.45-r0", "ALPINE-CVE-2023-4408", "9.16.48-r0")}


def test_scan_sbom_files_match_the_image_scan(vulns_db: Path, planted: str, tmp_path: Path) -> None:
    cdx, spdx, own = tmp_path / "s.cdx.json", tmp_path / "s.spdx.json", tmp_path / "s.json"
    made = run_cli(
        "sbom",
        planted,
        "-o",
        f"cyclonedx-json={cdx}",
        "-o",
        f"spdx-json={spdx}",
        "-o",
        f"json={own}",
    )
    assert made.code == 0, made.stderr
    for sbom in (cdx, spdx, own):
        result = scan("--sbom", sbom, "--db", vulns_db, "--format", "json")
        assert matches(result) == EXPECTED, sbom
    # syft's JSON: artifacts with purls (upstream= names a deb's source, as syft writes it)
    syft = tmp_path / "syft.json"
    syft.write_text(
        json.dumps(
            {
                "artifacts": [
                    {
                        "name": "libssl3",
                        "version": "3.0.11-1~deb12u1",
                        "type": "deb",
                        "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64"
                        "&upstream=openssl&distro=debian-12",
                    },
                    {
                        "name": "minimist",
                        "version": "1.2.5",
                        "type": "npm",
                        "purl": "pkg:npm/minimist@1.2.5",
                    },
                ],
                "source": {"type": "image"},
                "schema": {"version": "16.0.0"},
            }
        )
    )
    found = matches(scan("--sbom", syft, "--db", vulns_db, "--format", "json"))
    assert {(p, i) for p, _, i, _ in found} == {
        ("libssl3", "DSA-5532-1"),
        ("minimist", "GHSA-xvch-5gv4-984h"),
    }


def test_sarif_and_cyclonedx_vex_validate(vulns_db: Path, planted: str, tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    out = tmp_path / "scan.sarif"
    result = scan(planted, "--db", vulns_db, "--format", "sarif", "-o", out)
    assert result.code == 0 and result.stdout == "", result.stderr
    log = json.loads(out.read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
    run = log["runs"][0]
    assert {r["ruleId"] for r in run["results"]} == {e[2] for e in EXPECTED}
    assert run["automationDetails"]["id"].startswith("scratchpack/scan/")
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["GHSA-xvch-5gv4-984h"]["properties"]["security-severity"] == "9.0"
    vex = scan(planted, "--db", vulns_db, "--format", "cyclonedx-vex")
    assert vex.code == 0, vex.stderr
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(vex.stdout) is None
    doc = json.loads(vex.stdout)
    assert {v["id"] for v in doc["vulnerabilities"]} == {e[2] for e in EXPECTED}
    minimist = next(v for v in doc["vulnerabilities"] if v["id"] == "GHSA-xvch-5gv4-984h")
    assert minimist["ratings"][0]["severity"] == "critical"
    assert minimist["recommendation"] == "Upgrade minimist to 1.2.6"
    assert minimist["analysis"]["state"] == "in_triage"
    # reproducible: the same image gives the same document
    assert scan(planted, "--db", vulns_db, "--format", "cyclonedx-vex").stdout == vex.stdout


def test_text_table_fits_the_terminal(vulns_db: Path, planted: str) -> None:
    for columns in ("60", "80", "120", "200"):
        result = scan(planted, "--db", vulns_db, env={"COLUMNS": columns})
        assert result.code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert all(len(line) <= int(columns) for line in lines), result.stdout
        assert "GHSA-xvch-5gv4-984h" in result.stdout  # ids are never cut
        assert "2.36-9+deb12u14" in result.stdout
        assert "Prototype Pollution in minimist" in result.stdout
    assert "vulnerabilities  2 critical, 2 medium, 1 negligible, 4 unknown" in result.stdout


def test_ignore_file_yaml_and_toml_with_expiry(
    vulns_db: Path, planted: str, tmp_path: Path
) -> None:
    yaml_file = tmp_path / "ignore.yaml"
    yaml_file.write_text(
        "ignore:\n"
        "  - id: CVE-2021-44906\n"  # an alias of GHSA-xvch-5gv4-984h
        "    package: minimist\n"
        "    reason: only parses our own arguments\n"
        "    expires: 2999-01-01\n"
        "  - id: DSA-5514-1\n"
        "    reason: rebuilt next sprint\n"
        "    expires: 2020-01-01\n"  # expired: no longer suppresses, and says so
        "  - id: RUSTSEC-2021-0003\n"
        "    package: not-smallvec\n"  # another package: does not apply
    )
    result = scan(planted, "--db", vulns_db, "--format", "json", "--ignore-file", yaml_file)
    found = {i for _, _, i, _ in matches(result)}
    assert found == {e[2] for e in EXPECTED} - {"GHSA-xvch-5gv4-984h"}
    assert (
        "ignore entry for DSA-5514-1 expired on 2020-01-01: no longer suppressed" in result.stderr
    )
    suppressed = result.json()["suppressed"]
    assert [(s["id"], s["suppressed"]) for s in suppressed] == [
        ("GHSA-xvch-5gv4-984h", "only parses our own arguments (until 2999-01-01)")
    ]
    assert (
        scan(
            planted, "--db", vulns_db, "--ignore-file", yaml_file, "--fail-on", "critical", "-q"
        ).code
        == 1
    )  # smallvec is still critical
    toml_file = tmp_path / "ignore.toml"
    toml_file.write_text(
        '[[ignore]]\nid = "GHSA-xvch-5gv4-984h"\nreason = "x"\n'
        '[[ignore]]\nid = "RUSTSEC-2021-0003"\nexpires = 2999-12-31\n'
    )
    assert (
        scan(
            planted, "--db", vulns_db, "--ignore-file", toml_file, "--fail-on", "critical", "-q"
        ).code
        == 0
    )
    verbose = scan(
        planted, "--db", vulns_db, "--ignore-file", toml_file, "-v", env={"COLUMNS": "250"}
    )
    assert "suppressed (ignore: x)" in verbose.stdout
    assert "libssl3 (openssl)" in verbose.stdout  # --verbose names the source package


def test_vex_documents_suppress_with_their_justification(
    vulns_db: Path, planted: str, tmp_path: Path
) -> None:
    openvex = tmp_path / "app.openvex.json"
    openvex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.com/vex/1",
                "author": "me",
                "timestamp": "2024-01-01T00:00:00Z",
                "version": 1,
                "statements": [
                    {
                        "vulnerability": {"name": "GHSA-xvch-5gv4-984h"},
                        "products": [{"@id": "pkg:npm/minimist@1.2.5"}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                        "impact_statement": "minimist parses only the build's own flags",
                    },
                    {
                        "vulnerability": {"name": "CVE-2023-43804"},
                        "products": [{"@id": "pkg:pypi/other"}],
                        "status": "not_affected",
                        "justification": "component_not_present",
                    },
                    {"vulnerability": {"name": "GO-2023-2102"}, "status": "affected"},
                ],
            }
        )
    )
    cdx_vex = tmp_path / "app.cdx.json"
    cdx_vex.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "version": 1,
                "vulnerabilities": [
                    {
                        "id": "RUSTSEC-2021-0003",
                        "affects": [{"ref": "pkg:cargo/smallvec"}],
                        "analysis": {
                            "state": "not_affected",
                            "justification": "code_not_reachable",
                            "detail": "insert_many is never called",
                        },
                    }
                ],
            }
        )
    )
    result = scan(planted, "--db", vulns_db, "--format", "json", "--vex", openvex, "--vex", cdx_vex)
    found = {i for _, _, i, _ in matches(result)}
    assert found == {e[2] for e in EXPECTED} - {"GHSA-xvch-5gv4-984h", "RUSTSEC-2021-0003"}
    why = {s["id"]: s["suppressed"] for s in result.json()["suppressed"]}
    assert why == {
        "GHSA-xvch-5gv4-984h": "vulnerable_code_not_in_execute_path minimist parses only the "
        "build's own flags",
        "RUSTSEC-2021-0003": "code_not_reachable insert_many is never called",
    }
    assert (
        scan(
            planted,
            "--db",
            vulns_db,
            "--vex",
            openvex,
            "--vex",
            cdx_vex,
            "--fail-on",
            "critical",
            "-q",
        ).code
        == 0
    )
    verbose = scan(planted, "--db", vulns_db, "--vex", openvex, "-v", env={"COLUMNS": "250"})
    assert "suppressed (vex: vulnerable_code_not_in_execute_path" in verbose.stdout
    both = scan(planted, "--db", vulns_db, "--vex", openvex, "--format", "cyclonedx-vex")
    minimist = next(
        v for v in json.loads(both.stdout)["vulnerabilities"] if v["id"] == "GHSA-xvch-5gv4-984h"
    )
    # OpenVEX's justification in CycloneDX's terms
    assert minimist["analysis"]["justification"] == "code_not_reachable"
    assert minimist["analysis"]["state"] == "not_affected"
    vex = scan(planted, "--db", vulns_db, "--vex", cdx_vex, "--format", "cyclonedx-vex")
    rust = next(
        v for v in json.loads(vex.stdout)["vulnerabilities"] if v["id"] == "RUSTSEC-2021-0003"
    )
    assert rust["analysis"] == {
        "state": "not_affected",
        "justification": "code_not_reachable",
        "detail": "code_not_reachable insert_many is never called",
    }


def test_database_missing_old_or_foreign(vulns_db: Path, planted: str, tmp_path: Path) -> None:
    missing = scan(planted, "--db", tmp_path / "none.db")
    assert_clean_error(missing, 2, "no vulnerability database", "scratchpack db import")
    # the newest advisory here is from 2026-04: older than 7 days
    old = scan(planted, "--db", vulns_db, "-q")
    assert "warning: the vulnerability database is" in old.stderr
    assert "days old" in old.stderr
    recent = scan(planted, "--db", vulns_db, "-q", "--max-db-age", "100000")
    assert "days old" not in recent.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    assert_clean_error(scan(planted, "--db", junk), 2, "junk.db")


def test_hostile_inputs_are_clean_errors(vulns_db: Path, planted: str, tmp_path: Path) -> None:
    cases: dict[str, bytes] = {
        "not-json.json": b"{nope",
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "scalar.json": b"42",
        "other.json": b'{"hello": "world"}',
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert_clean_error(scan("--sbom", path, "--db", vulns_db), 2, name)
        assert_clean_error(scan(planted, "--db", vulns_db, "--vex", path), 2, name)
    wrong_types = tmp_path / "types.json"
    wrong_types.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "components": [
                    {"purl": 7},
                    "x",
                    {"purl": "pkg:npm/minimist@1.2.5", "properties": "nope"},
                    {"purl": "not a purl"},
                    {"purl": "pkg:npm/minimist@" + "9" * 100_000},
                ],
            }
        )
    )
    result = scan("--sbom", wrong_types, "--db", vulns_db, "--format", "json", "-v")
    assert result.code == 0, result.stderr
    assert {i for _, _, i, _ in matches(result)} == {"GHSA-xvch-5gv4-984h"}
    assert any("too long" in n["reason"] for n in result.json()["not_scanned"])
    for text in (
        "ignore: 5\n",
        "ignore:\n  - reason: no id\n",
        "ignore:\n  - id: X\n    expires: someday\n",
        "[[[[",
        "a: &a [*a]\n",
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        assert_clean_error(scan(planted, "--db", vulns_db, "--ignore-file", bad), 2, "bad.yaml")
    assert_clean_error(scan("--db", vulns_db), 2, "an IMAGE or --sbom")
    assert_clean_error(scan(planted, "--sbom", wrong_types, "--db", vulns_db), 2, "one of them")
    assert_clean_error(scan(planted, "--db", vulns_db, "-o", tmp_path / "x"), 2, "--format")
    assert_clean_error(scan("oci:/nonexistent/layout:x", "--db", vulns_db), 2, "nonexistent")


def test_compare_gains_a_vulnerabilities_row(vulns_db: Path, planted: str, tmp_path: Path) -> None:
    result = run_cli("compare", planted, planted, "--db", vulns_db, "--format", "json")
    assert result.code == 0, result.stderr
    column = result.json()[0]
    assert column["vulnerabilities"]["critical"] == 2
    text = run_cli("compare", planted, planted, "--db", vulns_db, env={"COLUMNS": "200"})
    assert "2 critical, 2 medium, 1 negligible, 4 unknown" in text.stdout
    none = run_cli(
        "compare", planted, planted, "--db", tmp_path / "none.db", env={"COLUMNS": "200"}
    )
    assert none.code == 0, none.stderr
    assert "n/a (no database)" in none.stdout
    markdown = run_cli(
        "compare",
        planted,
        planted,
        "--format",
        "markdown",
        env={"XDG_DATA_HOME": str(tmp_path / "empty")},
    )
    assert "| vulnerabilities | n/a (no database) | n/a (no database) |" in markdown.stdout


def test_go_binary_reports_its_toolchain(go_binary: Path) -> None:
    """The Go test binary really was built by go 1.19 with x/net v0.10.0, as the Go toolchain
    itself reads its build info (the advisory's matches rest on it)."""
    version = subprocess.run(
        ["go", "version", "-m", str(go_binary)], capture_output=True, text=True, check=True
    ).stdout
    assert ": go1.19.8" in version
    assert "dep\tgolang.org/x/net\tv0.10.0" in version
    assert shutil.which("go")


def test_a_pip_installed_package_in_a_packed_image(
    vulns_db: Path, go_binary: Path, tmp_path: Path
) -> None:
    """urllib3 1.26.5 installed by pip from the package index into a site-packages, packed with
    the Go program by ``scratchpack pack --add``: both found, both matched."""
    from realtools import unavailable

    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
         "--target", str(site), "urllib3==1.26.5"],
        capture_output=True, text=True, check=False, env=env, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        unavailable(f"pip could not install urllib3 1.26.5: {proc.stderr.strip()[-300:]}")
    image = f"oci:{tmp_path / 'app'}:1"
    packed = run_cli("pack", go_binary, "--add", f"{site}:/usr/lib/python3/dist-packages",
                     "-o", image)  # fmt: skip
    assert packed.code == 0, packed.stderr
    found = matches(scan(image, "--db", vulns_db, "--format", "json"))
    assert {(p, v, i) for p, v, i, _ in found} == {
        ("urllib3", "1.26.5", "GHSA-v845-jxx5-vc9f"),
        ("stdlib", "1.19.8", "GO-2023-2102"),
        ("golang.org/x/net", "v0.10.0", "GO-2023-2102"),
    }


def test_any_transport_registry_and_docker_archive(
    vulns_db: Path, planted: str, registry: str, tmp_path: Path
) -> None:
    """The same image pushed to the registry and saved as a docker archive scans the same."""
    pushed = f"docker://{registry}/scan-test/planted:1"
    assert run_cli("copy", planted, pushed).code == 0
    archive = f"docker-archive:{tmp_path / 'planted.tar'}:planted:1"
    assert run_cli("copy", planted, archive).code == 0
    for image in (pushed, archive):
        result = scan(image, "--db", vulns_db, "--format", "json")
        assert matches(result) == EXPECTED, image
