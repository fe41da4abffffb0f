"""pack records the host's Debian packages it copies files from (issue 14 item 10).

The real host: its dpkg database says which versions of ca-certificates and tzdata pack
copied; ``scratchpack sbom`` of the packed image must list them with those versions, purls with
the host's release, and SPDX suppliers that ntia-conformance-checker accepts. Planted dpkg
databases (real files under tmp_path) cover what a hostile or odd database may hold.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import Examples, decompress, layer_members, layout_manifest, run_cli
from helpers import blob as read_blob
from realtools import unavailable
from scratchpack.debian.installed import DpkgDatabase, owned_files, write_records
from scratchpack.layers.tarwriter import LayerContents
from scratchpack.operations.sbom.formats import image_supplier, parse_contact, spdx_supplier

HOST_PACKAGES = ("ca-certificates", "tzdata")
VENDOR = "org.opencontainers.image.vendor=Example Corp"


def dpkg_version(name: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True, text=True, check=True
    ).stdout


def host_release() -> str:
    values = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    return f"{values['ID']}-{values['VERSION_ID'].strip(chr(34))}"


def pack(binary: Path, layout: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("pack", binary, "-o", f"oci:{layout}", "--format", "json", *extra)
    assert result.code == 0, result.stderr
    return dict(result.json())


def member_text(layout: Path, layer: int, name: str) -> str:
    digest = layout_manifest(layout)["layers"][layer]["digest"]
    with tarfile.open(fileobj=io.BytesIO(decompress(read_blob(layout, digest)))) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read().decode()


def test_sbom_of_a_packed_image_lists_the_host_packages(examples: Examples, tmp_path: Path) -> None:
    if not all(Path(f"/var/lib/dpkg/info/{n}.list").exists() for n in HOST_PACKAGES):
        unavailable("the host has no ca-certificates and tzdata packages")
    layout = tmp_path / "out"
    result = pack(examples.hello, layout)
    versions = {name: dpkg_version(name) for name in HOST_PACKAGES}
    assert result["essentials"]["packages"] == versions
    listed = run_cli("sbom", f"oci:{layout}:latest", "--format", "json")
    assert listed.code == 0, listed.stderr
    found = {p["name"]: p for p in listed.json()}
    assert set(found) == set(HOST_PACKAGES)
    for name, version in versions.items():
        quoted = version.replace("+", "%2B").replace(":", "%3A")
        assert found[name]["version"] == version
        assert found[name]["purl"] == (
            f"pkg:deb/debian/{name}@{quoted}?arch=all&distro={host_release()}"
        )
        assert found[name]["path"] == f"/var/lib/dpkg/status.d/{name}"
    # the distroless layout: one paragraph per package, no Status line, md5sums of the copies
    members = {
        m.name: m for m in layer_members(layout, layout_manifest(layout)["layers"][0]["digest"])
    }
    assert members["var/lib/dpkg/status.d/tzdata"].mode == 0o444
    stanza = member_text(layout, 0, "var/lib/dpkg/status.d/ca-certificates")
    assert stanza.startswith("Package: ca-certificates\n") and "Status:" not in stanza
    assert f"Version: {versions['ca-certificates']}\n" in stanza and "Maintainer: " in stanza
    sums = member_text(layout, 0, "var/lib/dpkg/status.d/ca-certificates.md5sums").splitlines()
    bundle = hashlib.md5(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()).hexdigest()
    assert sums == [f"{bundle}  etc/ssl/certs/ca-certificates.crt"]
    zone_sums = member_text(layout, 0, "var/lib/dpkg/status.d/tzdata.md5sums").splitlines()
    paris = hashlib.md5(Path("/usr/share/zoneinfo/Europe/Paris").read_bytes()).hexdigest()
    assert f"{paris}  usr/share/zoneinfo/Europe/Paris" in zone_sums
    assert all(re.fullmatch(r"[0-9a-f]{32}  usr/share/zoneinfo/\S+", line) for line in zone_sums)
    assert "ID=debian" in member_text(layout, 0, "etc/os-release").splitlines()
    # same inputs, same digest
    again = pack(examples.hello, tmp_path / "again")
    assert again["manifest_digest"] == result["manifest_digest"]
    assert again["layers"][0]["digest"] == result["layers"][0]["digest"]
    # only what pack copies is recorded: --tz UTC keeps tzdata (one zone), --no-certs drops
    # ca-certificates, and with neither there is no record and no os-release at all
    utc = pack(examples.hello, tmp_path / "utc", "--tz", "UTC", "--no-certs")
    assert utc["essentials"]["packages"] == {"tzdata": versions["tzdata"]}
    utc_sums = member_text(tmp_path / "utc", 0, "var/lib/dpkg/status.d/tzdata.md5sums")
    assert utc_sums.endswith("  usr/share/zoneinfo/UTC\n") and utc_sums.count("\n") == 1
    bare = pack(examples.hello, tmp_path / "bare", "--tz", "none", "--no-certs")
    assert bare["essentials"]["packages"] == {}
    bare_names = {m.name for m in layer_members(tmp_path / "bare", bare["layers"][0]["digest"])}
    assert not any(n.startswith("var/") or n == "etc/os-release" for n in bare_names)
    text = run_cli("pack", examples.hello, "-o", f"oci:{tmp_path / 'text'}")
    assert f"ca-certificates {versions['ca-certificates']}" in " ".join(text.stdout.split())


def test_added_host_files_are_recorded_in_the_app_layer(examples: Examples, tmp_path: Path) -> None:
    magic = Path("/usr/share/zoneinfo/Etc/UTC")  # a tzdata file, added by hand with --no-certs
    status = Path("/usr/share/doc/ca-certificates/copyright")
    if not status.exists():
        unavailable("no ca-certificates copyright file on the host")
    layout = tmp_path / "out"
    adds = ("--add", f"{status}:/licenses/ca-certificates", "--add", f"{magic}:/etc/utc")
    result = pack(examples.hello, layout, "--tz", "none", "--no-certs", *adds)
    assert set(result["essentials"]["packages"]) == {"ca-certificates", "tzdata"}
    sums = member_text(layout, 1, "var/lib/dpkg/status.d/ca-certificates.md5sums")
    assert sums.endswith("  licenses/ca-certificates\n")
    assert "ID=debian" in member_text(layout, 1, "etc/os-release")


def test_pack_on_a_base_records_the_host_packages_it_adds(
    examples: Examples, tmp_path: Path
) -> None:
    """``pack --base``: the host packages of the binary and ``--add`` files get records in
    the new layer, except one the base records already; os-release only if the base has none."""
    copyright_file = Path("/usr/share/doc/ca-certificates/copyright")
    zone = Path("/usr/share/zoneinfo/Etc/UTC")
    if not copyright_file.exists() or not zone.exists():
        unavailable("no ca-certificates copyright file or tzdata zone on the host")
    adds = ("--add", f"{copyright_file}:/licenses/ca-certificates", "--add", f"{zone}:/etc/utc")
    base = tmp_path / "base"  # records tzdata (one zone) and has an os-release
    assert pack(examples.hello, base, "--no-certs", "--tz", "UTC")["essentials"]["packages"]
    result = pack(examples.hello, tmp_path / "on", "--base", f"oci:{base}:latest", *adds)
    assert result["packages"] == {"ca-certificates": dpkg_version("ca-certificates")}
    top = layout_manifest(tmp_path / "on")["layers"][-1]["digest"]
    names = {m.name for m in layer_members(tmp_path / "on", top)}
    assert "var/lib/dpkg/status.d/tzdata" not in names and "etc/os-release" not in names
    sums = member_text(tmp_path / "on", 2, "var/lib/dpkg/status.d/ca-certificates.md5sums")
    assert sums.endswith("  licenses/ca-certificates\n")
    listed = run_cli("sbom", f"oci:{tmp_path / 'on'}:latest", "--format", "json")
    assert listed.code == 0, listed.stderr
    assert sorted(p["name"] for p in listed.json()) == ["ca-certificates", "tzdata"]
    text = run_cli("pack", examples.hello, "--base", f"oci:{base}:latest", *adds,
                   "-o", f"oci:{tmp_path / 'text'}")  # fmt: skip
    assert "ca-certificates " in " ".join(text.stdout.split())
    # a base without records or os-release gets the host's os-release with the first record
    bare = tmp_path / "bare"
    pack(examples.hello, bare, "--no-certs", "--tz", "none")
    again = pack(examples.hello, tmp_path / "on-bare", "--base", f"oci:{bare}:latest", *adds)
    assert set(again["packages"]) == {"ca-certificates", "tzdata"}
    assert "ID=debian" in member_text(tmp_path / "on-bare", 2, "etc/os-release").splitlines()
    # the same inputs, the same digest
    same = pack(examples.hello, tmp_path / "same", "--base", f"oci:{bare}:latest", *adds)
    assert same["manifest_digest"] == again["manifest_digest"]


def test_pack_on_a_base_with_a_full_dpkg_status_records_no_package_twice(
    examples: Examples, tmp_path: Path
) -> None:
    """A Debian-style base records its packages in /var/lib/dpkg/status, not status.d: a
    package installed there is the base's (no second record in the new layer), one only left
    as config files is not, so the host's record of it goes in."""
    from hostile import put_blob, write_layout

    copyright_file = Path("/usr/share/doc/ca-certificates/copyright")
    zone = Path("/usr/share/zoneinfo/Etc/UTC")
    if not copyright_file.exists() or not zone.exists():
        unavailable("no ca-certificates copyright file or tzdata zone on the host")
    status = (
        "Package: tzdata\nStatus: install ok installed\nVersion: 2024a-0+deb12u1\n"
        "Architecture: all\n\nPackage: ca-certificates\nStatus: deinstall ok config-files\n"
        "Version: 20230311\nArchitecture: all\n"
    )
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in (("var/lib/dpkg/status", status), ("etc/os-release", "ID=debian\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    layer_tar = out.getvalue()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers",
                   "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]},
    }).encode()  # fmt: skip
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar",
             **put_blob(tmp_path / "base", layer_tar)}  # fmt: skip
    base = write_layout(tmp_path / "base", [layer], config)
    adds = ("--add", f"{copyright_file}:/licenses/ca-certificates", "--add", f"{zone}:/etc/utc")
    result = pack(examples.hello, tmp_path / "on", "--base", base, *adds)
    assert result["packages"] == {"ca-certificates": dpkg_version("ca-certificates")}
    top = layout_manifest(tmp_path / "on")["layers"][-1]["digest"]
    names = {m.name for m in layer_members(tmp_path / "on", top)}
    assert "var/lib/dpkg/status.d/tzdata" not in names
    assert "var/lib/dpkg/status.d/ca-certificates" in names
    listed = run_cli("sbom", f"oci:{tmp_path / 'on'}:latest", "--format", "json")
    assert listed.code == 0, listed.stderr
    assert sorted(p["name"] for p in listed.json()) == ["ca-certificates", "tzdata"]


def test_spdx_suppliers_and_ntia_conformance(examples: Examples, tmp_path: Path) -> None:
    if not Path("/var/lib/dpkg/info/tzdata.list").exists():
        unavailable("the host has no tzdata package")
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    layout = tmp_path / "out"
    pack(examples.hello, layout, "--label", VENDOR)
    out = tmp_path / "sbom.spdx.json"
    assert run_cli("sbom", f"oci:{layout}:latest", "--format", "spdx", "-o", out).code == 0
    assert validate_full_spdx_document(parse_file(str(out))) == []
    doc = json.loads(out.read_text())
    suppliers = {p["name"]: p["supplier"] for p in doc["packages"]}
    assert suppliers[f"oci:{layout}:latest"] == "Organization: Example Corp"
    assert re.fullmatch(r"Organization: GNU Libc Maintainers \(\S+@lists\.debian\.org\)",
                        suppliers["tzdata"]), suppliers  # fmt: skip
    assert all(re.fullmatch(r"(Person|Organization): [^()]+( \(\S+@\S+\))?", s)
               for s in suppliers.values()), suppliers  # fmt: skip
    cdx = run_cli("sbom", f"oci:{layout}:latest").json()
    assert all(c["supplier"]["name"] for c in cdx["components"])
    beside = Path(sys.executable).parent / "ntia-checker"  # the dev extra installs it there
    checker = os.environ.get("NTIA_CHECKER") or (str(beside) if beside.exists() else None)
    checker = checker or shutil.which("ntia-checker")
    if checker is None:
        unavailable("ntia-conformance-checker is not installed (pip install it, or NTIA_CHECKER)")
    report = subprocess.run(
        [checker, "-r", "json", str(out)], capture_output=True, text=True, check=False
    )
    assert json.loads(report.stdout)["isNtiaConformant"] is True, report.stdout
    # without a vendor label nothing names the image's supplier, and the checker says so
    pack(examples.hello, tmp_path / "anon")
    anon = tmp_path / "anon.spdx.json"
    assert (
        run_cli("sbom", f"oci:{tmp_path / 'anon'}:latest", "--format", "spdx", "-o", anon).code == 0
    )
    verdict = subprocess.run(
        [checker, "-r", "json", str(anon)], capture_output=True, text=True, check=False
    )
    assert json.loads(verdict.stdout)["isNtiaConformant"] is False


@pytest.mark.parametrize(
    ("maintainer", "expected"),
    [
        ("Julien Cristau <jcristau@debian.org>", "Person: Julien Cristau (jcristau@debian.org)"),
        ("GNU Libc Maintainers <debian-glibc@lists.debian.org>",
         "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"),
        ("Debian Python Team <team+python@tracker.debian.org>",
         "Organization: Debian Python Team (team+python@tracker.debian.org)"),
        ("Jane Doe", "Person: Jane Doe"),
        ("<only@example.org>", "Person: only@example.org (only@example.org)"),
        ("Odd (Name) <x@y.z>", "Person: Odd [Name] (x@y.z)"),
        ("", "NOASSERTION"),
        ("<<>>", "NOASSERTION"),
    ],
)  # fmt: skip
def test_spdx_supplier_syntax(maintainer: str, expected: str) -> None:
    assert spdx_supplier(maintainer) == expected


def test_image_supplier_from_labels() -> None:
    assert image_supplier({"org.opencontainers.image.vendor": "ACME"}) == "Organization: ACME"
    assert image_supplier({"org.opencontainers.image.authors": "A B <a@b.c>, C"}) == (
        "Person: A B (a@b.c)"
    )
    assert image_supplier({}) == "NOASSERTION"
    assert parse_contact("  Name   <e@x>  ") == ("Name", "e@x")


# -- planted dpkg databases ------------------------------------------------------------------


def plant(root: Path, status: str, lists: dict[str, list[str]], files: dict[str, bytes]) -> None:
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(status)
    for name, paths in lists.items():
        (root / f"var/lib/dpkg/info/{name}.list").write_text("".join(p + "\n" for p in paths))
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n')


STATUS = """\
Package: good
Status: install ok installed
Architecture: amd64
Version: 1:2.0-1+b1
Maintainer: A Person <a@example.org>
Source: good-src (2.0-1)

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: ../../etc/evil
Status: install ok installed
Architecture: all
Version: 1

Package: badversion
Status: install ok installed
Architecture: all
Version: 1 2
 continued

Package: multi
Status: install ok installed
Architecture: arm64
Version: 3
"""


def test_planted_database_records_only_what_is_valid(tmp_path: Path) -> None:
    root = tmp_path / "root"
    plant(root, STATUS,
          {"good": ["/.", "/usr", "/usr/lib/good.so"], "gone": ["/usr/lib/gone.so"],
           "..": ["/usr/lib/evil.so"], "badversion": ["/usr/lib/bad.so"],
           "multi:arm64": ["/lib/multi.so"], "notinstalled": ["/usr/lib/nobody.so"]},
          {f"usr/lib/{n}.so": n.encode() for n in ("good", "gone", "evil", "bad", "multi",
                                                    "nobody", "unowned")})  # fmt: skip
    db = DpkgDatabase(root)
    layer = LayerContents()
    for name in ("good", "gone", "evil", "bad", "multi", "nobody", "unowned"):
        layer.add_file(f"usr/lib/{name}.so", source=root / f"usr/lib/{name}.so")
    layer.add_hardlink("usr/lib/good-again.so", "usr/lib/good.so")
    recorded = owned_files(layer, db, hints=["good"])
    # /usr/lib/multi.so is listed as /lib/multi.so (merged /usr); the rest are not installed,
    # not valid names or versions, or owned by nobody
    assert sorted(recorded.packages) == ["good", "multi"]
    assert recorded.files["good"] == ["usr/lib/good.so", "usr/lib/good-again.so"]
    write_records(layer, recorded, os_release=db.os_release())
    good = layer.get("var/lib/dpkg/status.d/good")
    assert good is not None and good.data == (
        b"Package: good\nSource: good-src\nVersion: 1:2.0-1+b1\nArchitecture: amd64\n"
        b"Maintainer: A Person <a@example.org>\n"
    )
    sums = layer.get("var/lib/dpkg/status.d/good.md5sums")
    md5 = hashlib.md5(b"good").hexdigest()
    assert sums is not None and sums.data == (
        f"{md5}  usr/lib/good-again.so\n{md5}  usr/lib/good.so\n".encode()
    )
    records = [p for p in layer.paths() if p.startswith("var/lib/dpkg/")]
    assert sorted(records) == [
        f"var/lib/dpkg/status.d/{n}" for n in ("good", "good.md5sums", "multi", "multi.md5sums")
    ]
    release = layer.get("etc/os-release")
    assert release is not None and release.data is not None
    assert b'VERSION_ID="13"' in release.data and b"Distroless-style" in release.data


def test_a_host_without_dpkg_records_nothing(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    layer = LayerContents()
    layer.add_file("f", source=tmp_path / "f")
    db = DpkgDatabase(tmp_path)
    recorded = owned_files(layer, db)
    assert recorded.packages == {} and db.os_release() is None
    write_records(layer, recorded, os_release=None)
    assert list(layer.paths()) == ["f"]


def test_hostile_os_release_and_huge_status_are_ignored(tmp_path: Path) -> None:
    root = tmp_path / "root"
    plant(root, "", {}, {})
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12\\"\nPRETTY_NAME=$(reboot)\n')
    assert DpkgDatabase(root).os_release() is None
    (root / "var/lib/dpkg/status").write_bytes(b"Package: x\n" * (8 << 20))
    assert DpkgDatabase(root).installed("x") is None


def test_lists_are_read_lazily_hints_first(tmp_path: Path) -> None:
    root = tmp_path / "root"
    plant(root, STATUS.split("\n\n", maxsplit=1)[0] + "\n",
          {"good": ["/usr/lib/good.so"], **{f"other{n}": [f"/o/{n}"] for n in range(50)}},
          {"usr/lib/good.so": b"good"})  # fmt: skip
    db = DpkgDatabase(root)
    owner = db.owner(root / "usr/lib/good.so", hints=["good"])
    assert owner is not None and owner.name == "good"
    assert [p.name for p in db._read] == ["good.list"]
    # a miss (a program no package owns) scans the other lists, parsing none of them
    assert db.owner(root / "nowhere") is None
    assert len(db._read) == 1
    # a hit among them parses only the list that has it
    (root / "o").mkdir()
    (root / "o/7").write_bytes(b"seven")
    owner = db.owner(root / "o/7")
    assert owner is None or owner.name == "other7"  # (other7 is not in the status)
    assert sorted(p.name for p in db._read) == ["good.list", "other7.list"]
    # after a few scans, every list is parsed once and later misses read nothing
    db.owner(root / "nowhere2")
    assert len(db._read) == 51
    db.owner(root / "nowhere3")
    assert len(db._read) == 51


def test_a_generated_file_is_its_packages_without_reading_every_list(tmp_path: Path) -> None:
    root = tmp_path / "root"
    status = "Package: ca-certificates\nStatus: install ok installed\nArchitecture: all\n"
    plant(root, status + "Version: 20250419\nMaintainer: Julien Cristau <jc@example.org>\n",
          {f"other{n}": [f"/o/{n}"] for n in range(20)},
          {"etc/ssl/certs/ca-certificates.crt": b"PEM"})  # fmt: skip
    db = DpkgDatabase(root)
    owner = db.owner(root / "etc/ssl/certs/ca-certificates.crt", hints=["ca-certificates"])
    assert owner is not None and (owner.name, owner.version) == ("ca-certificates", "20250419")
    assert db._read == set()
    # the bundle alone is not enough: without the package installed nothing is recorded
    (root / "var/lib/dpkg/status").write_text(status.replace("install ok", "deinstall ok"))
    assert DpkgDatabase(root).owner(root / "etc/ssl/certs/ca-certificates.crt") is None


def test_the_quick_scan_matches_whole_lines_and_skips_what_is_not_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan (plain ``os`` reads in ``info/``) finds a path on a list's first line and on
    a last line without its newline, never a prefix of a longer path; a directory named like
    a list and a list over the size limit are skipped, not errors."""
    from scratchpack.debian import installed

    root = tmp_path / "root"
    status = "".join(
        f"Package: {n}\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n"
        for n in ("first", "last", "longer", "huge")
    )
    plant(root, status, {"first": ["/a/first", "/x"], "longer": ["/a/lastname"],
                         "huge": ["/a/huge"]}, {})  # fmt: skip
    (root / "var/lib/dpkg/info/last.list").write_text("/y\n/a/last")  # no final newline
    (root / "var/lib/dpkg/info/dir.list").mkdir()
    monkeypatch.setattr(installed, "LIST_LIMIT", 100)
    (root / "var/lib/dpkg/info/huge.list").write_text("/a/huge\n" + "/pad\n" * 40)
    db = DpkgDatabase(root)
    for name in ("first", "last", "huge"):
        (root / "a").mkdir(exist_ok=True)
        (root / f"a/{name}").write_bytes(b"x")
    found = [db.owner(root / f"a/{n}") for n in ("first", "last", "huge")]
    assert [p.name if p else None for p in found] == ["first", "last", None]
    assert sorted(p.name for p in db._read) == ["first.list", "last.list"]


def test_status_paragraphs_are_read_as_dpkg_writes_them(tmp_path: Path) -> None:
    """The status reader (debian/control.py) on what dpkg writes around the fields it keeps:
    multi-line fields, names in any case, a field repeated, comments; and the same record
    python-debian's reading gave (names, version, architecture, maintainer, source)."""
    root = tmp_path / "root"
    status = (
        "Package: libfoo1\nstatus: install ok installed\nPriority: optional\n"
        "Conffiles:\n /etc/foo.conf 0123456789abcdef\nARCHITECTURE: amd64\n"
        "Version: 0.9\nVersion: 1.2-3\nMaintainer:  Zoë Maintainer <z@example.org>  \n"
        "Source: foo (1.2-3)\nDescription: a library\n with a long\n .\n description\n"
        "\n# a comment dpkg never writes\n\n"
        "Package: libfoo1\nStatus: deinstall ok config-files\nArchitecture: i386\n"
        "Version: 1.0\n"
    )
    plant(root, status, {}, {})
    package = DpkgDatabase(root).installed("libfoo1")
    assert package is not None
    assert (package.name, package.version, package.architecture) == ("libfoo1", "1.2-3", "amd64")
    assert (package.maintainer, package.source) == ("Zoë Maintainer <z@example.org>", "foo")
    assert package.status_entry() == (
        "Package: libfoo1\nSource: foo\nVersion: 1.2-3\nArchitecture: amd64\n"
        "Maintainer: Zoë Maintainer <z@example.org>\n"
    )
    assert DpkgDatabase(root).installed("libfoo1:i386") is None  # only config files left
