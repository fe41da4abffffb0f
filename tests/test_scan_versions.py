"""Version ordering per ecosystem and the OSV range evaluation that rests on it (issue 16
item 5): dpkg epochs, revisions and ``~``; PEP 440; semver for npm and crates.io; Go
module and pseudo-versions and toolchain names; apk's ordering, checked against the
examples apk-tools documents; then introduced/fixed/last_affected/limit and versions lists."""

from __future__ import annotations

import pytest

from scratchpack.vulns.osv import OsvError, affects, cvss_score, parse
from scratchpack.vulns.versions import BadVersion, key

# (ecosystem, lower, higher): each pair strictly ordered
ORDERED = [
    ("Debian:12", "2.36-9+deb12u3", "2.36-9+deb12u14"),  # numeric, not string, comparison
    ("Debian:12", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
    ("Debian:12", "3.0.11-1~deb12u2", "3.0.11-1"),  # ~ sorts before anything, even the end
    ("Debian:12", "1.0~rc1", "1.0"),
    ("Debian:12", "2.0", "1:1.0"),  # the epoch wins
    ("Debian:11", "1.2.12-1", "1:1.2.11.dfsg-2+deb11u2"),
    ("Debian:11", "1:1.2.11.dfsg-2+deb11u1", "1:1.2.11.dfsg-2+deb11u2"),
    ("Debian:12", "1.0-1", "1.0-1+b1"),  # a binNMU
    ("Debian:12", "1.0a", "1.0+"),  # letters before non-letters
    ("PyPI", "1.26.5", "1.26.17"),
    ("PyPI", "2.0.0rc1", "2.0.0"),
    ("PyPI", "2.0.0", "2.0.0.post1"),
    ("PyPI", "1.0.dev1", "1.0a1"),
    ("PyPI", "2.0", "1!0.1"),  # a PEP 440 epoch wins
    ("npm", "1.2.5", "1.2.6"),
    ("npm", "1.0.0-alpha", "1.0.0-alpha.1"),
    ("npm", "1.0.0-beta.11", "1.0.0-rc.1"),
    ("npm", "1.0.0-rc.1", "1.0.0"),
    ("crates.io", "1.6.0", "1.6.1"),
    ("Go", "v0.0.0-20230101120000-abcdef123456", "v0.0.1"),  # a pseudo-version
    ("Go", "v0.16.0", "v0.17.0-0.20231010000000-abcdef123456"),  # pseudo on the next patch
    ("Go", "v1.2.3-pre.0.20230101120000-abcdef123456", "v1.2.3"),
    ("Go", "go1.19.8", "1.20.10"),
    ("Go", "go1.21rc2", "1.21.0"),
    ("Go", "1.21.0-0", "go1.21.0"),
    ("Go", "go1.20", "1.20.1"),
    ("Alpine", "1.0", "1.1"),
    ("Alpine", "2.0_rc1", "2.0"),
    ("Alpine", "1.0_alpha", "1.0_beta"),
    ("Alpine", "1.0_beta", "1.0_pre"),
    ("Alpine", "1.0_pre", "1.0_rc"),
    ("Alpine", "1.0", "1.0_p1"),
    ("Alpine", "1.0-r0", "1.0-r1"),
    ("Alpine", "1.0-r9", "1.0-r10"),
    ("Alpine", "1.0_p1-r0", "1.0_p2-r0"),
    ("Alpine", "1.0", "1.0a"),
    ("Alpine", "1.0a", "1.0b"),
    ("Alpine", "1.2", "1.2.1"),
    ("Alpine", "9.16.45-r0", "9.16.48-r0"),
    ("Alpine", "1.01", "1.1"),  # a leading zero compares as a fraction
]
EQUAL = [
    ("Debian:12", "1.0", "0:1.0"),
    ("Go", "v2.0.0+incompatible", "2.0.0"),
    ("PyPI", "1.0", "1.0.0"),
    ("Alpine", "1.0-r0", "1.0"),
]


@pytest.mark.parametrize(("ecosystem", "lower", "higher"), ORDERED)
def test_versions_order_as_their_package_manager(ecosystem: str, lower: str, higher: str) -> None:
    assert key(ecosystem, lower) < key(ecosystem, higher)
    assert not key(ecosystem, higher) < key(ecosystem, lower)


@pytest.mark.parametrize(("ecosystem", "a", "b"), EQUAL)
def test_equal_versions(ecosystem: str, a: str, b: str) -> None:
    assert key(ecosystem, a) == key(ecosystem, b)


@pytest.mark.parametrize(
    ("ecosystem", "version"),
    [
        ("Debian:12", "not a version"),
        ("Debian:12", ""),
        ("PyPI", "1.0-foo-bar"),
        ("npm", "1.2"),
        ("crates.io", "x"),
        ("Go", "vgarbage"),
        ("Alpine", "1.0_bogus1"),
        ("Alpine", "r1"),
        ("PyPI", "1" * 300),
        ("Maven", "1.0"),
    ],
)
def test_unorderable_versions_raise_bad_version(ecosystem: str, version: str) -> None:
    with pytest.raises(BadVersion):
        key(ecosystem, version)


def advisory(events: list[dict[str, str]], ecosystem: str = "PyPI", **extra: object) -> object:
    return {
        "id": "TEST-1",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": "p"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                **extra,
            }
        ],
    }


def check(doc: object, version: str, ecosystem: str = "PyPI") -> tuple[bool, str]:
    return affects(parse(doc).affected[0], ecosystem, version)


def test_introduced_and_fixed() -> None:
    doc = advisory([{"introduced": "1.0"}, {"fixed": "1.5"}])
    assert check(doc, "0.9") == (False, "")
    assert check(doc, "1.0") == (True, "1.5")
    assert check(doc, "1.4.9") == (True, "1.5")
    assert check(doc, "1.5") == (False, "")  # the fixed version is not affected
    assert check(doc, "2.0") == (False, "")


def test_last_affected_is_inclusive_and_gives_no_fix() -> None:
    doc = advisory([{"introduced": "0"}, {"last_affected": "2.3"}])
    assert check(doc, "2.3") == (True, "")
    assert check(doc, "2.3.1") == (False, "")


def test_limit_ends_the_range() -> None:
    doc = advisory([{"introduced": "1.0"}, {"limit": "3.0"}])
    assert check(doc, "2.9") == (True, "")
    assert check(doc, "3.0") == (False, "")
    assert check(doc, "4.0") == (False, "")


def test_events_are_sorted_before_the_sweep() -> None:
    # GHSA writes each pair in its own range; a feed may list them out of order in one
    doc = advisory(
        [{"fixed": "1.2.6"}, {"introduced": "1.0.0"}, {"fixed": "0.2.4"}, {"introduced": "0"}],
        ecosystem="npm",
    )
    assert check(doc, "0.2.3", "npm") == (True, "0.2.4")
    assert check(doc, "0.2.4", "npm") == (False, "")
    assert check(doc, "1.2.5", "npm") == (True, "1.2.6")
    assert check(doc, "1.2.6", "npm") == (False, "")


def test_versions_list_alone_matches_exactly() -> None:
    doc = {
        "id": "X",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "p"}, "versions": ["1.0", "1.1"]}],
    }
    assert check(doc, "1.1") == (True, "")
    assert check(doc, "1.2") == (False, "")


def test_git_ranges_and_bad_events_are_skipped_not_fatal() -> None:
    doc = {
        "id": "X",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "p"},
                "ranges": [
                    {"type": "GIT", "repo": "https://x", "events": [{"introduced": "abc"}]},
                    {"type": "ECOSYSTEM", "events": [{"introduced": "not-a-version!"}]},
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]},
                ],
            }
        ],
    }
    assert check(doc, "1.0") == (True, "2.0")
    with pytest.raises(BadVersion):
        check(doc, "garbage!")


def test_debian_tilde_and_epoch_in_ranges() -> None:
    doc = advisory([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}], ecosystem="Debian:12")
    assert check(doc, "3.0.11-1~deb12u1", "Debian:12") == (True, "3.0.11-1~deb12u2")
    assert check(doc, "3.0.11-1", "Debian:12") == (False, "")
    doc = advisory([{"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-2+deb11u2"}], "Debian:11")
    assert check(doc, "1.2.13-1", "Debian:11")[0]  # epoch 0 < 1 whatever follows


@pytest.mark.parametrize(
    "bad",
    [
        [],
        "x",
        {"id": 5},
        {"id": ""},
        {"id": "X", "affected": {}},
        {"id": "X", "affected": [{"package": "p"}]},
        {"id": "X", "affected": [{"ranges": [{"events": [{"introduced": 1}]}]}]},
        {"id": "X", "affected": [{"ranges": [{"events": [{"introduced": "0", "fixed": "1"}]}]}]},
        {"id": "X", "aliases": "CVE-1"},
        {"id": "X", "summary": ["a"]},
        {"id": "X" * 300},
        {"id": "X", "severity": [{"type": "CVSS_V3", "score": 7}], "database_specific": []},
    ],
)
def test_malformed_advisories_raise_osv_error(bad: object) -> None:
    with pytest.raises(OsvError):
        parse(bad)


def test_severity_sources_in_order() -> None:
    ghsa = parse(
        {
            "id": "G",
            "database_specific": {"severity": "MODERATE"},
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
            ],
        }
    )
    assert (ghsa.severity, ghsa.score) == ("medium", 9.8)  # the label first, the score kept
    scored = parse(
        {
            "id": "C",
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}
            ],
        }
    )
    assert (scored.severity, scored.score) == ("high", 7.8)  # CVE-2023-4911's vector
    v4 = parse(
        {
            "id": "C4",
            "severity": [
                {
                    "type": "CVSS_V4",
                    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                }
            ],
        }
    )
    assert v4.severity == "critical"
    urgency = parse(
        advisory([{"introduced": "0"}], "Debian:12", ecosystem_specific={"urgency": "low**"})
    )
    assert urgency.severity == "low"
    assert parse({"id": "N"}).severity == "unknown"
    per_package = parse(
        advisory(
            [{"introduced": "0"}],
            "PyPI",
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
        )
    )
    assert (per_package.severity, per_package.score) == ("high", 7.8)  # affected[].severity
    assert cvss_score("CVSS_V3", "CVSS:3.1/garbage") is None
    assert cvss_score("CVSS_V3", "C" * 10_000) is None
