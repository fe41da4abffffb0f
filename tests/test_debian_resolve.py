"""Debian sources, indexes and dependency resolution (scratchpack.debian).

The resolver is pinned down on small synthetic universes; the index code runs against the
machine's configured Debian sources (signature, checksums, caching) and a source that does
not answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from scratchpack.debian.index import (
    Fetcher,
    PackageRecord,
    SourceUnreachable,
    download,
    fetch_verified,
    read_index,
    verify_inrelease,
)
from scratchpack.debian.resolve import ResolveError, Universe, resolve
from scratchpack.debian.sources import Source, parse_deb822, parse_one_line, system_sources
from scratchpack.errors import DigestMismatchError, UsageError

SRC = Source("http://example.invalid/debian", "bookworm", ("main",))


def rec(name: str, version: str = "1.0", depends: str = "", *, pre: str = "", provides: str = "",
        essential: bool = False, arch: str = "amd64") -> PackageRecord:  # fmt: skip
    return PackageRecord(name, version, arch, depends, pre, provides, essential, "optional",
                         f"pool/{name}_{version}.deb", 1, "0" * 64, SRC)  # fmt: skip


def names(universe: Universe, *requested: str, **kwargs: object) -> list[str]:
    return resolve(universe, list(requested), **kwargs).names()  # type: ignore[arg-type]


# -- sources ---------------------------------------------------------------------------------


def test_deb822_sources() -> None:
    text = """\
Types: deb deb-src
URIs: http://deb.debian.org/debian https://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: cdrom:/media
Suites: bookworm
Components: main
"""
    found = parse_deb822(text)
    assert [str(s) for s in found] == [
        "http://deb.debian.org/debian bookworm main contrib",
        "http://deb.debian.org/debian bookworm-updates main contrib",
        "https://mirror.example/debian bookworm main contrib",
        "https://mirror.example/debian bookworm-updates main contrib",
    ]
    assert {s.signed_by for s in found} == {"/usr/share/keyrings/debian-archive-keyring.gpg"}
    with pytest.raises(UsageError, match="needs URIs and Suites"):
        parse_deb822("Types: deb\nURIs: http://x/debian\n", "x.sources")


def test_one_line_sources(tmp_path: Path) -> None:
    text = """\
# a comment
deb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian bookworm main non-free
deb-src http://deb.debian.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main # trailing
"""
    found = parse_one_line(text)
    assert [(str(s), s.signed_by) for s in found] == [
        ("http://deb.debian.org/debian bookworm main non-free", "/k.gpg"),
        ("http://security.debian.org/debian-security bookworm-security main", None),
    ]
    with pytest.raises(UsageError, match=r"list:1: expected 'deb URI SUITE"):
        parse_one_line("deb http://x\n", "bad.list")
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text("deb http://a.example/debian bookworm main\n")
    (apt / "sources.list.d/b.sources").write_text(
        "Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    (apt / "sources.list.d/c.list.disabled").write_text("deb http://c.example/x y z\n")
    assert [s.uri for s in system_sources(apt)] == [
        "http://a.example/debian",
        "http://b.example/debian",
    ]
    (apt / "sources.list").unlink()
    (apt / "sources.list.d/b.sources").unlink()
    with pytest.raises(UsageError, match="no usable deb sources"):
        system_sources(apt)


# -- resolution ------------------------------------------------------------------------------


def test_dependencies_are_followed_with_pre_depends() -> None:
    universe = Universe.of(
        [rec("app", depends="liba, libb"), rec("liba", pre="libc6"), rec("libb"), rec("libc6"),
         rec("unrelated")], "amd64",
    )  # fmt: skip
    result = resolve(universe, ["app"])
    assert result.names() == ["app", "liba", "libb", "libc6"]
    reasons = {c.record.name: c.reason for c in result.chosen}
    assert reasons["app"] == "requested" and reasons["libc6"] == "liba needs libc6"


def test_versions_choose_the_highest_that_fits() -> None:
    universe = Universe.of(
        [rec("lib", "1.0"), rec("lib", "3.0~rc1"), rec("lib", "2.5"),
         rec("new", depends="lib (>= 2)"), rec("old", depends="lib (<< 2)"),
         rec("exact", depends="lib (= 2.5)"), rec("never", depends="lib (>> 4)")], "amd64",
    )  # fmt: skip
    assert {c.record.name: c.record.version for c in resolve(universe, ["new"]).chosen} == {
        "new": "1.0",
        "lib": "3.0~rc1",  # ~ sorts before the release, but after 2.5
    }
    with pytest.raises(ResolveError, match=r"exact 1.0 needs lib \(= 2.5\).*lib 1.0 is already"):
        resolve(universe, ["old", "exact"])  # one version per package: a clear conflict
    assert {c.record.name: c.record.version for c in resolve(universe, ["exact"]).chosen} == {
        "exact": "1.0",
        "lib": "2.5",
    }
    with pytest.raises(ResolveError, match=r"never 1.0 needs lib \(>> 4\), which no package"):
        resolve(universe, ["never"])


def test_alternatives_prefer_what_is_already_chosen() -> None:
    universe = Universe.of(
        [rec("app", depends="missing | mawk | gawk"), rec("mawk"), rec("gawk")], "amd64"
    )
    assert names(universe, "app") == ["app", "mawk"]
    assert names(universe, "gawk", "app") == ["app", "gawk"]


def test_virtual_packages() -> None:
    universe = Universe.of(
        [rec("mailer", depends="mail-transport-agent"),
         rec("postfix", provides="mail-transport-agent"),
         rec("exim4", provides="mail-transport-agent"),
         rec("tool", depends="libfoo-abi (>= 2)"), rec("libfoo3", provides="libfoo-abi (= 3)"),
         rec("libfoo1", provides="libfoo-abi")], "amd64",
    )  # fmt: skip
    result = resolve(universe, ["mailer"])
    assert result.names() == ["exim4", "mailer"]
    assert result.notes == [
        "mail-transport-agent is provided by exim4, postfix; took exim4 (name order): request "
        "another to override"
    ]
    assert names(universe, "postfix", "mailer") == ["mailer", "postfix"]
    # a versioned dependency needs a versioned Provides
    assert names(universe, "tool") == ["libfoo3", "tool"]
    with pytest.raises(ResolveError, match="a virtual package provided by exim4, postfix"):
        resolve(universe, ["mail-transport-agent"])


def test_essential_and_excluded_packages_are_skipped_and_listed() -> None:
    universe = Universe.of(
        [rec("app", depends="dpkg, debconf | debconf-2.0, libx"), rec("dpkg", essential=True),
         rec("debconf"), rec("libx", depends="perl-base"), rec("perl-base", essential=True)],
        "amd64",
    )  # fmt: skip
    result = resolve(universe, ["app"], exclude=["debconf"])
    assert result.names() == ["app", "libx"]
    assert result.skipped == [
        ("debconf", "excluded (app needs debconf | debconf-2.0)"),
        ("dpkg", "Essential (app needs dpkg)"),
        ("perl-base", "Essential (libx needs perl-base)"),
    ]
    assert names(universe, "app", essential="include") == [
        "app", "debconf", "dpkg", "libx", "perl-base"
    ]  # fmt: skip
    assert names(universe, "dpkg") == ["dpkg"]  # asked for by name: installed
    with pytest.raises(UsageError, match="essential must be"):
        resolve(universe, ["app"], essential="maybe")


def test_architectures() -> None:
    universe = Universe.of(
        [rec("app", depends="libamd [amd64], libarm [arm64], libnot [!amd64]"),
         rec("libamd"), rec("libarm", arch="arm64"), rec("libnot"), rec("data", arch="all")],
        "amd64",
    )  # fmt: skip
    assert names(universe, "app", "data") == ["app", "data", "libamd"]
    with pytest.raises(ResolveError, match="unknown package 'libarm' for amd64"):
        resolve(universe, ["libarm"])


# -- the machine's Debian sources (real network, real signatures) ------------------------------


@pytest.fixture(scope="module")
def bookworm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Universe, Fetcher]:
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(cache))
    fetcher = Fetcher()
    sources = [s for s in system_sources() if s.suite == "bookworm"]
    assert sources, "the machine's apt sources have no bookworm entry"
    records = [r for s in sources for r in read_index(fetcher, s, "amd64")]
    mp.undo()
    return Universe.of(records, "amd64"), fetcher


def test_real_index_and_resolution(bookworm: tuple[Universe, Fetcher]) -> None:
    universe, _ = bookworm
    assert len(universe.packages) > 50000
    libc = universe.best("libc6")
    assert libc is not None and len(libc.sha256) == 64 and libc.filename.startswith("pool/main/")
    result = resolve(universe, ["libstdc++6"])
    assert result.names() == ["gcc-12-base", "libc6", "libgcc-s1", "libstdc++6"]
    python = resolve(universe, ["python3.11-minimal"])
    assert "libpython3.11-minimal" in python.names() and "zlib1g" in python.names()


def test_downloads_are_verified_and_cached(
    bookworm: tuple[Universe, Fetcher], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    universe, fetcher = bookworm
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    record = universe.best("netbase")
    assert record is not None
    path = download(fetcher, record)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
    assert path.read_bytes()[:8] == b"!<arch>\n"

    class Offline(Fetcher):
        def get(
            self, url: str, count: Callable[[int], None] | None = None, limit: int = 0
        ) -> bytes:
            raise AssertionError(f"fetched {url} although it is cached")

    assert download(Offline(), record) == path
    # an index that lies about the hash: refused, nothing cached
    liar = msgspec.structs.replace(record, sha256="1" * 64)
    with pytest.raises(DigestMismatchError, match=r"netbase .* the index says 1111"):
        download(fetcher, liar)
    assert not list((tmp_path / "cache").rglob("1111*"))


def test_bad_signature_and_unreachable_source(tmp_path: Path) -> None:
    source = next(s for s in system_sources() if s.suite == "bookworm")
    fetcher = Fetcher(timeout=5, retries=0)
    data = fetcher.get(f"{source.uri}/dists/bookworm/InRelease")
    assert b"SHA256:" in verify_inrelease(data, source)
    tampered = data.replace(b"Debian 12", b"Debian 99", 1)
    with pytest.raises(DigestMismatchError, match="signature does not verify"):
        verify_inrelease(tampered, source)
    nowhere = Source("http://127.0.0.1:9/debian", "bookworm", ("main",), source.signed_by)
    with pytest.raises(SourceUnreachable, match=r"cannot reach http://127.0.0.1:9/debian/dists"):
        list(read_index(fetcher, nowhere, "amd64"))
    local = tmp_path / "file.bin"
    local.write_bytes(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert fetch_verified(fetcher, f"file://{local}", digest, 3, "local").read_bytes() == b"abc"


def test_parsed_indexes_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = next(s for s in system_sources() if s.suite == "bookworm-updates")
    fetcher = Fetcher()
    first = list(read_index(fetcher, source, "amd64"))
    [parsed] = list((tmp_path / "scratchpack/debian/parsed").iterdir())

    class Offline(Fetcher):
        def get(
            self, url: str, count: Callable[[int], None] | None = None, limit: int = 0
        ) -> bytes:
            if url.endswith("InRelease"):
                return fetcher.get(url, count)  # the release is always checked afresh
            raise AssertionError(f"fetched {url} although it is cached")

    assert list(read_index(Offline(), source, "amd64")) == first
    parsed.write_text("[not json")  # a damaged cache entry is parsed again
    assert list(read_index(fetcher, source, "amd64")) == first
