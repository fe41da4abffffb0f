"""The dpkg owner search's misses kept across runs (debian/unowned.py, issue 17).

Real dpkg databases: a root that the real ``dpkg --root`` installs a built ``.deb`` into and
removes it from (the way every database change happens), and planted ones for what a broken
or hostile cache file may hold. Whether the lists were read is counted at the one function
that reads them in the search (``installed._read_at``), so a hit is seen to read none.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from realtools import unavailable
from scratchpack.debian import installed, unowned
from scratchpack.debian.installed import DpkgDatabase

Reads = list[str]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache file of this test's own (the suite's is shared by every test)."""
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    where = directory / "dpkg-unowned.json"
    monkeypatch.setenv(unowned.ENV_FILE, str(where))
    return where


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """The names of the lists the search reads."""
    seen: Reads = []
    original = installed._read_at

    def counting(directory: int, name: str, limit: int) -> bytes | None:
        seen.append(name)
        return original(directory, name, limit)

    monkeypatch.setattr(installed, "_read_at", counting)
    return seen


def _root(path: Path, packages: int = 20) -> Path:
    """A dpkg root with ``packages`` installed packages' lists (none lists /app/bin/app)."""
    (path / "var/lib/dpkg/info").mkdir(parents=True)
    (path / "var/lib/dpkg/updates").mkdir()
    status = "".join(
        f"Package: p{n}\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n"
        for n in range(packages)
    )
    (path / "var/lib/dpkg/status").write_text(status)
    for n in range(packages):
        (path / f"var/lib/dpkg/info/p{n}.list").write_text(f"/.\n/usr/share/p{n}\n")
    (path / "app/bin").mkdir(parents=True)
    (path / "app/bin/app").write_bytes(b"\x7fELF")
    return path


def _deb(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    """A real ``.deb`` built by dpkg-deb."""
    if shutil.which("dpkg-deb") is None:
        unavailable("dpkg-deb is not installed")
    tree = tmp_path / f"deb-{name}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: A Person <a@example.org>\nDescription: test package\n"
    )
    for path, data in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    out = tmp_path / f"{name}.deb"
    subprocess.run(["dpkg-deb", "--build", str(tree), str(out)], check=True, capture_output=True)
    return out


def _dpkg(root: Path, *args: str) -> None:
    """The real dpkg on ``root`` (its instdir and admindir), as a user may run it."""
    subprocess.run(
        ["dpkg", f"--root={root}", "--force-not-root", "--force-bad-path", "--log=/dev/null",
         *args],
        check=True, capture_output=True,
    )  # fmt: skip


def _owner(root: Path, path: str) -> str | None:
    found = DpkgDatabase(root).owner(root / path.lstrip("/"))
    return None if found is None else found.name


def test_a_miss_is_kept_and_the_next_run_reads_no_list(
    tmp_path: Path, cache: Path, reads: Reads
) -> None:
    root = _root(tmp_path / "root")
    assert _owner(root, "/app/bin/app") is None
    assert len(reads) == 20  # every list scanned once
    document = json.loads(cache.read_bytes())
    ((admindir, _state, names),) = document["databases"]
    assert admindir == str(root / "var/lib/dpkg") and names == ["/app/bin/app"]
    reads.clear()
    assert _owner(root, "/app/bin/app") is None  # a new process's database, same state
    assert reads == []
    assert _owner(root, "/usr/share/p3") == "p3"  # a hit is never kept: found as ever
    assert oct(cache.stat().st_mode & 0o777) == "0o600"


def test_dpkg_installing_and_removing_a_package_is_seen(
    tmp_path: Path, cache: Path, reads: Reads
) -> None:
    """The real dpkg: an install that ships the path makes it owned at once; its removal
    makes it a miss again (and a reinstall owned again): every change of the database is a
    new state, whatever the cache held."""
    if shutil.which("dpkg") is None:
        unavailable("dpkg is not installed")
    root = _root(tmp_path / "root")
    deb = _deb(tmp_path, "app-pkg", {"app/bin/app": b"\x7fELF packaged"})
    other = _deb(tmp_path, "other-pkg", {"usr/share/other/x": b"x"})
    assert _owner(root, "/app/bin/app") is None
    _dpkg(root, "-i", str(other))  # a package that does not list it: still a miss, searched
    reads.clear()
    assert _owner(root, "/app/bin/app") is None
    assert reads != []
    reads.clear()
    assert _owner(root, "/app/bin/app") is None and reads == []  # kept for the new state
    _dpkg(root, "-i", str(deb))
    assert _owner(root, "/app/bin/app") == "app-pkg"
    _dpkg(root, "-r", "app-pkg")
    assert _owner(root, "/app/bin/app") is None
    _dpkg(root, "-i", str(deb))
    assert _owner(root, "/app/bin/app") == "app-pkg"


def test_a_database_rewritten_as_dpkg_does_is_a_new_state(
    tmp_path: Path, cache: Path, reads: Reads
) -> None:
    """dpkg writes ``status-new`` and renames it, even with the same text: a new inode."""
    root = _root(tmp_path / "root")
    assert _owner(root, "/app/bin/app") is None
    status = root / "var/lib/dpkg/status"
    (status.parent / "status-new").write_bytes(status.read_bytes())
    (status.parent / "status-new").replace(status)
    reads.clear()
    assert _owner(root, "/app/bin/app") is None and len(reads) == 20
    listing = root / "var/lib/dpkg/info/p5.list"
    (listing.parent / "p5.list-new").write_text("/.\n/app/bin/app\n")  # dpkg's way: a rename
    (listing.parent / "p5.list-new").replace(listing)
    assert _owner(root, "/app/bin/app") == "p5"


def test_each_root_has_its_own_answers(tmp_path: Path, cache: Path, reads: Reads) -> None:
    """A miss in one --root says nothing of another, where the same name may be owned."""
    first = _root(tmp_path / "first")
    second = _root(tmp_path / "second")
    (second / "var/lib/dpkg/info/p2.list").write_text("/.\n/app/bin/app\n")
    assert _owner(first, "/app/bin/app") is None
    assert _owner(second, "/app/bin/app") == "p2"
    assert _owner(second, "/nothing/here") is None
    reads.clear()
    assert _owner(first, "/app/bin/app") is None and reads == []
    assert len(json.loads(cache.read_bytes())["databases"]) == 2


HOSTILE: dict[str, Callable[[Path], object]] = {
    "garbage": lambda p: p.write_bytes(b"\x00\xff not json"),
    "truncated": lambda p: p.write_bytes(b'{"version":1,"databases":[["/'),
    "deep": lambda p: p.write_bytes(b"[" * 100_000 + b"]" * 100_000),
    "other version": lambda p: p.write_text('{"version":2,"databases":[]}'),
    "extra key": lambda p: p.write_text('{"version":1,"databases":[],"x":1}'),
    "not absolute": lambda p: p.write_text('{"version":1,"databases":[["/a","s",["app"]]]}'),
    "lone surrogate": lambda p: p.write_text('{"version":1,"databases":[["/a","s",["/\\ud800"]]]}'),
    "number": lambda p: p.write_text('{"version":1,"databases":[["/a",1,["/x"]]]}'),
    "repeated": lambda p: p.write_text('{"version":1,"databases":[["/a","s",["/x","/x"]]]}'),
    "too many": lambda p: p.write_text(
        json.dumps(
            {
                "version": 1,
                "databases": [["/a", "s", [f"/{n}" for n in range(unowned.MAX_PATHS + 1)]]],
            }
        )
    ),
    "too large": lambda p: p.write_bytes(b" " * (unowned.MAX_FILE + 1)),
    "directory": lambda p: p.mkdir(),
    "fifo": os.mkfifo,
    "symlink": lambda p: p.symlink_to("/etc/passwd"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_broken_or_hostile_cache_file_is_ignored(
    kind: str, tmp_path: Path, cache: Path, reads: Reads
) -> None:
    root = _root(tmp_path / "root")
    HOSTILE[kind](cache)
    assert _owner(root, "/app/bin/app") is None
    assert len(reads) == 20  # searched: nothing read back was believed
    if kind in ("directory", "fifo"):
        # neither a file nor a link: left as it is (see the next test), never renamed over
        assert not cache.is_file() and cache.exists()
    else:
        # replaced by a good one at that miss (a rename over the file), holding nothing of
        # the old file (which, believed, would have stayed as a second database)
        assert not cache.is_symlink()
        ((admindir, _, names),) = json.loads(cache.read_bytes())["databases"]
        assert (admindir, names) == (str(root / "var/lib/dpkg"), ["/app/bin/app"])


def test_a_cache_that_claims_an_owned_path_is_unowned_needs_our_state(
    tmp_path: Path, cache: Path
) -> None:
    """An entry for another state (or planted by hand with a wrong one) answers nothing."""
    root = _root(tmp_path / "root")
    (root / "var/lib/dpkg/info/p1.list").write_text("/.\n/app/bin/app\n")
    planted = {"version": 1, "databases": [[str(root / "var/lib/dpkg"), "0:0:0:0:0/0:0:0:0",
                                             ["/app/bin/app"]]]}  # fmt: skip
    cache.write_text(json.dumps(planted))
    assert _owner(root, "/app/bin/app") == "p1"


def test_a_directory_others_can_write_into_is_not_used(
    tmp_path: Path, cache: Path, reads: Reads
) -> None:
    root = _root(tmp_path / "root")
    cache.parent.chmod(0o777)
    assert _owner(root, "/app/bin/app") is None
    assert not cache.exists()
    cache.parent.chmod(0o700)
    assert _owner(root, "/app/bin/app") is None
    reads.clear()
    assert _owner(root, "/app/bin/app") is None and reads == []


def test_off_when_the_variable_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: Reads
) -> None:
    root = _root(tmp_path / "root")
    monkeypatch.setenv(unowned.ENV_FILE, "0")
    assert unowned.location() is None
    assert _owner(root, "/app/bin/app") is None
    reads.clear()
    assert _owner(root, "/app/bin/app") is None and len(reads) == 20
    monkeypatch.delenv(unowned.ENV_FILE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert unowned.location() == tmp_path / "xdg/scratchpack/dpkg-unowned.json"


def test_the_bound_drops_the_least_recently_used(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, reads: Reads
) -> None:
    monkeypatch.setattr(unowned, "MAX_PATHS", 4)
    root = _root(tmp_path / "root")
    for n in range(4):
        assert _owner(root, f"/app/{n}") is None
    assert _owner(root, "/app/0") is None  # a hit on the oldest: moved up
    assert _owner(root, "/app/4") is None  # the fifth: the least recently used (1) goes
    ((_, _, names),) = json.loads(cache.read_bytes())["databases"]
    assert names == ["/app/2", "/app/3", "/app/0", "/app/4"]
    reads.clear()
    assert _owner(root, "/app/1") is None and len(reads) == 20


def test_another_databases_entries_are_kept(tmp_path: Path, cache: Path) -> None:
    """(What the hostile cases above are told apart from: a valid file keeps its entries.)"""
    cache.write_text('{"version":1,"databases":[["/a","s",["/x"]]]}')
    root = _root(tmp_path / "root")
    assert _owner(root, "/app/bin/app") is None
    databases = json.loads(cache.read_bytes())["databases"]
    assert [d[0] for d in databases] == ["/a", str(root / "var/lib/dpkg")]


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_cache_path_that_is_no_regular_file_is_never_replaced(
    tmp_path: Path, cache: Path, kind: str
) -> None:
    """``SCRATCHPACK_DPKG_CACHE=/dev/null`` (the way one turns a cache off elsewhere) had its
    device replaced by our file when run as root: whatever is not a regular file stays, and
    the lookups still answer."""
    root = _root(tmp_path / "root")
    target = tmp_path / "target"
    target.write_text("keep")
    if kind == "fifo":
        os.mkfifo(cache)
    elif kind == "directory":
        cache.mkdir()
    elif os.geteuid() == 0:
        os.mknod(cache, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # as /dev/null
    else:
        pytest.skip("making a device node needs root")  # not a missing tool: fine in CI
    before = cache.lstat()
    for _ in range(2):
        assert _owner(root, "/app/bin/app") is None
    after = cache.lstat()
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode, before.st_ino, before.st_rdev,
    )  # fmt: skip
    assert target.read_text() == "keep"
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary left
