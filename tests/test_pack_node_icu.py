"""``pack DIR --icu-locales`` of a Node project on real Debian packages, real npm and real
podman: the rebuilt ICU data keeps a kept language's formatting, collation and regions, a
dropped language falls back to en-US cleanly (tests/data/node-intl/intl.test.js, run inside
the image by ``--test``; with Debian's full data its fallback test fails), what is not
per-locale data stays, the library is less than half of Debian's, two packs give one digest;
bad values, a language ICU lacks, other kinds and hostile libraries are clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import assert_clean_error, layer_members, layout_manifest, run_cli
from realtools import Runner, need, unavailable
from test_pack_node import APP, TEST, pack

INTL_TEST = Path(__file__).parent / "data" / "node-intl" / "intl.test.js"
ICUDATA = "usr/lib/x86_64-linux-gnu/libicudata.so.72.1"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("intl") / "node-app"
    shutil.copytree(APP, copy)
    shutil.copy(INTL_TEST, copy / "test" / "intl.test.js")
    return copy


@pytest.fixture(scope="module")
def packed(project: Path, tmp_path_factory: pytest.TempPathFactory, podman: Runner) -> Any:
    need("npm", "pack of a Node project runs npm ci")
    out = tmp_path_factory.mktemp("icu") / "app"
    result = pack(project, f"oci:{out}:v1", "--icu-locales", "de,sv", "--test", TEST)
    assert result.code == 0, result.stderr  # the app's tests and intl.test.js, in the image
    report: dict[str, Any] = result.json()
    report["layout"] = out
    return report


def test_the_intl_tests_pass_inside_and_the_data_is_under_half(packed: dict[str, Any]) -> None:
    linkage = packed["binary"]["linkage"]
    assert "ICU data for de,en,sv only: 31262256 -> " in linkage, linkage
    manifest = layout_manifest(packed["layout"], "v1")
    members = {m.name.removeprefix("./"): m
               for layer in manifest["layers"]
               for m in layer_members(packed["layout"], layer["digest"])}  # fmt: skip
    assert members[ICUDATA].size < 31262256 // 2
    assert members["usr/lib/x86_64-linux-gnu/libicudata.so.72"].linkname == "libicudata.so.72.1"
    assert members[ICUDATA].mode == 0o444 and members[ICUDATA].uid == 0
    for tool in ("usr/bin/genrb", "usr/sbin/icupkg", "usr/bin/x86_64-linux-gnu-ld.bfd"):
        assert tool not in members, tool  # the tools stay in the scratch root
    assert "app/test/intl.test.js" not in members  # the tests layer is the test variant's
    sbom = run_cli("sbom", f"oci:{packed['layout']}:v1", "-o", "json")
    names = {package["name"] for package in json.loads(sbom.stdout)}
    assert "libicu72" in names and "icu-devtools" not in names and "binutils" not in names


def test_two_packs_with_icu_locales_give_the_same_digest(
    packed: dict[str, Any], project: Path, tmp_path: Path
) -> None:
    again = pack(project, f"oci:{tmp_path / 'again'}:v1", "--icu-locales", "sv,de")
    assert again.code == 0, again.stderr
    assert again.json()["manifest_digest"] == packed["manifest_digest"]


def test_a_language_icu_does_not_have_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    result = pack(project, f"oci:{tmp_path / 'out'}:v1", "--icu-locales", "de,qq")
    assert_clean_error(result, 2, "--icu-locales", "has no locale data for qq")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["", "de_DE", "EN", "de,,x1", "german", "de;rm -rf /"])
def test_bad_icu_locales_values_are_usage_errors(tmp_path: Path, value: str) -> None:
    result = pack(APP, f"oci:{tmp_path / 'out'}:v1", "--icu-locales", value)
    assert_clean_error(result, 2, "--icu-locales", "language codes")
    assert not (tmp_path / "out").exists()


def test_icu_locales_go_with_a_node_project_only(tmp_path: Path) -> None:
    binary = run_cli("pack", "/bin/true", "-o", f"oci:{tmp_path / 'o'}:v1", "--icu-locales", "de")
    assert_clean_error(binary, 2, "--icu-locales goes with pack of a Node project")
    python = tmp_path / "py"
    python.mkdir()
    (python / "requirements.txt").write_text("")
    result = run_cli("pack", python, "-o", f"oci:{tmp_path / 'o'}:v1", "--icu-locales", "de")
    assert_clean_error(result, 2, "--icu-locales goes with pack of a Node project")


def test_parse_languages_adds_en_and_sorts() -> None:
    from scratchpack.operations.pack.icudata import parse_languages

    assert parse_languages("sv, de,sv") == ("de", "en", "sv")
    assert parse_languages("en") == ("en",)


def test_only_other_languages_locale_bundles_are_dropped() -> None:
    from scratchpack.operations.pack.icudata import dropped_items

    items = ["root.res", "de.res", "de_AT.res", "fr.res", "coll/fr.res", "coll/es_.res",
             "coll/ucadata.icu", "res_index.res", "zone/res_index.res", "zoneinfo64.res",
             "pool.res", "curr/pool.res", "brkitr/cjdict.dict", "brkitr/fr.res",
             "sr_Latn_RS.res", "ibm-1047_P100-1995.cnv", "supplementalData.res",
             "yue_Hans.res", "unames.icu"]  # fmt: skip
    assert dropped_items(items, ("de", "en")) == [
        "fr.res", "coll/fr.res", "coll/es_.res", "brkitr/fr.res", "sr_Latn_RS.res",
        "yue_Hans.res",
    ]  # fmt: skip


def test_res_index_keeps_the_kept_languages_and_its_nofallback_flag() -> None:
    from scratchpack.operations.pack.icudata import filter_index

    dumped = (
        '// dumped by derb\nres_index{\n    AliasLocales{\n        de_X { "" }\n'
        '        iw { "" }\n    }\n    InstalledLocales{\n        de { "" }\n'
        '        de_AT { "" }\n        fr { "" }\n        root { "" }\n    }\n}\n'
    )
    assert filter_index(dumped, ("de", "en", "root")) == (
        '// dumped by derb\nres_index:table(nofallback){\n    AliasLocales{\n'
        '        de_X { "" }\n    }\n    InstalledLocales{\n        de { "" }\n'
        '        de_AT { "" }\n        root { "" }\n    }\n}\n'
    )  # fmt: skip


def test_a_library_without_icu_data_or_truncated_is_refused(tmp_path: Path) -> None:
    from scratchpack.errors import ScratchpackError
    from scratchpack.operations.pack.icudata import extract_data

    with pytest.raises(ScratchpackError, match="no single icudtNN_dat symbol"):
        extract_data(Path("/bin/true"))
    real = next(iter(sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libicudata.so.*.*"))), None)
    if real is None:
        unavailable("no host libicudata.so to truncate (Debian's libicu72)")
    truncated = tmp_path / "libicudata.so.72.1"
    truncated.write_bytes(real.read_bytes()[: 1 << 20])
    with pytest.raises(ScratchpackError, match="libicudata"):
        extract_data(truncated)
    not_elf = tmp_path / "fake.so"
    not_elf.write_bytes(b"icudt72_dat" * 100)
    with pytest.raises(ScratchpackError, match="cannot read ICU's data"):
        extract_data(not_elf)
