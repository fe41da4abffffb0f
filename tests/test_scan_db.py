"""``scratchpack db import`` and ``db status`` (issue 16 items 5 and 7): an osv.dev-style zip
or a directory of advisories into SQLite; a corrupt, truncated or hostile input fails with
one line naming the file, exit 1, and the previous database still answers; the lock keeps
two writers apart."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT, CliResult, assert_clean_error, run_cli

OSV = ROOT / "tests" / "data" / "osv"


def db(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    return run_cli("db", *args, env=env)


def osv_zip(path: Path, files: dict[str, bytes] | None = None) -> Path:
    """An export laid out as osv.dev's all.zip: one ID.json per advisory at the top."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(OSV.glob("*.json")):
            archive.write(file, file.name)
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return path


def status(database: Path) -> dict[str, object]:
    result = db("status", "--db", database, "--format", "json")
    assert result.code == 0, result.stderr
    data: dict[str, object] = result.json()
    return data


def test_import_zip_and_directory_give_the_same_store(tmp_path: Path) -> None:
    from_zip, from_dir = tmp_path / "zip.db", tmp_path / "dir.db"
    result = db("import", osv_zip(tmp_path / "all.zip"), "--db", from_zip)
    assert result.code == 0, result.stderr
    assert "Imported 10 advisories" in result.stdout
    assert db("import", OSV, "--db", from_dir).code == 0
    first, second = status(from_zip), status(from_dir)
    assert (
        first["ecosystems"]
        == second["ecosystems"]
        == {
            "Alpine:v3.16": 1,
            "Debian:11": 1,
            "Debian:12": 4,
            "Go": 1,
            "PyPI": 1,
            "crates.io": 1,
            "npm": 1,
        }
    )
    assert first["advisories"] == 10
    assert first["newest_modified"] == "2026-04-20T00:00:00Z"  # DEBIAN-CVE-2026-4438's
    assert str(first["imported_at"]).endswith("Z")
    # indexed by (ecosystem, name): the lookups are index searches
    conn = sqlite3.connect(from_zip)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM affected WHERE ecosystem = 'PyPI' AND name = 'x'"
    ).fetchall()
    assert "USING INDEX affected_package" in str(plan)
    text = db("status", "--db", from_zip)
    assert text.code == 0 and "Debian:12" in text.stdout and "days old" in text.stdout


def test_default_path_follows_xdg(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    assert db("import", OSV, env=env).code == 0
    assert (tmp_path / "data" / "scratchpack" / "vulns.db").is_file()
    assert db("status", env=env).code == 0
    missing = db("status", env={"XDG_DATA_HOME": str(tmp_path / "none")})
    assert_clean_error(missing, 1, "no vulnerability database", "scratchpack db import")


def _answers(database: Path) -> int:
    return int(str(status(database)["advisories"]))


@pytest.mark.parametrize(
    ("name", "make", "fragment"),
    [
        (
            "truncated",
            lambda p, z: p.write_bytes(z.read_bytes()[: len(z.read_bytes()) // 2]),
            "not a readable zip",
        ),
        ("not-a-zip", lambda p, z: p.write_bytes(b"PK\x03\x04garbage" * 100), "not a readable zip"),
        (
            "malformed-json",
            lambda p, z: osv_zip(p, {"BAD-1.json": b'{"id": "BAD-1", '}),
            "BAD-1.json: not valid JSON",
        ),
        (
            "wrong-types",
            lambda p, z: osv_zip(p, {"BAD-2.json": b'{"id": "BAD-2", "affected": 7}'}),
            "BAD-2.json: not an OSV advisory",
        ),
        (
            "deep",
            lambda p, z: osv_zip(
                p, {"DEEP.json": b'{"id": "D", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"}
            ),
            "DEEP.json: JSON nested",
        ),
    ],
)
def test_a_bad_import_fails_cleanly_and_keeps_the_previous_db(
    tmp_path: Path, name: str, make: object, fragment: str
) -> None:
    database = tmp_path / "vulns.db"
    assert db("import", OSV, "--db", database).code == 0
    before = database.read_bytes()
    good = osv_zip(tmp_path / "good.zip")
    bad = tmp_path / f"{name}.zip"
    make(bad, good)  # type: ignore[operator]
    result = db("import", bad, "--db", database)
    assert_clean_error(result, 1, str(bad), fragment)
    assert database.read_bytes() == before  # untouched, and it still answers
    assert _answers(database) == 10
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp


def test_a_corrupt_member_is_named(tmp_path: Path) -> None:
    """A member whose bytes do not match its CRC (a flipped byte) is found as it streams."""
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("GOOD-1.json", json.dumps({"id": "GOOD-1", "summary": "x" * 200}))
    data = bytearray(path.read_bytes())
    at = data.index(b"xxxxx")
    data[at] = ord("y")
    path.write_bytes(bytes(data))
    result = db("import", path, "--db", tmp_path / "v.db")
    assert_clean_error(result, 1, "GOOD-1.json", "cannot be read")
    assert not (tmp_path / "v.db").exists()


def test_a_zip_bomb_member_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    """40 MiB of zeros deflate to 40 KiB; the cap refuses it without inflating it all
    (peak memory stays far below the member's size)."""
    path = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("BOMB.json", "w") as member,
    ):
        for _ in range(40):
            member.write(b" " * (1 << 20))
    assert path.stat().st_size < 1 << 20
    code = (
        "from scratchpack.cli.main import main\n"
        f"rc = main(['db', 'import', {str(path)!r}, '--db', {str(tmp_path / 'v.db')!r}])\n"
        # VmHWM: this process's own peak since exec (getrusage's maxrss also counts the pages
        # of the pytest-sized process it was forked from, before the exec)
        "peak = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "print(rc, peak)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    rc, peak_kib = proc.stdout.split()
    assert rc == "1", proc.stderr
    assert "BOMB.json: larger than 32 MiB: refused" in proc.stderr
    assert int(peak_kib) < 200 * 1024  # the interpreter and libraries, not the member


def test_withdrawn_and_older_duplicates_are_left_out(tmp_path: Path) -> None:
    minimist = json.loads((OSV / "GHSA-xvch-5gv4-984h.json").read_text())
    withdrawn = {**minimist, "id": "GHSA-test-withdrawn", "withdrawn": "2024-01-01T00:00:00Z"}
    older = {
        **json.loads((OSV / "DSA-5514-1.json").read_text()),
        "modified": "2020-01-01T00:00:00Z",
    }
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "W.json").write_text(json.dumps(withdrawn))
    (extra / "OLD.json").write_text(json.dumps(older))
    database = tmp_path / "v.db"
    result = db("import", OSV, extra, "--db", database)
    assert result.code == 0, result.stderr
    assert "1 withdrawn, 1 older duplicates" in result.stdout
    assert _answers(database) == 10


def test_add_keeps_what_the_database_had(tmp_path: Path) -> None:
    database = tmp_path / "v.db"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a.json").write_bytes((OSV / "DSA-5514-1.json").read_bytes())
    (two / "b.json").write_bytes((OSV / "GO-2023-2102.json").read_bytes())
    assert db("import", one, "--db", database).code == 0
    assert db("import", two, "--db", database, "--add").code == 0
    assert status(database)["ecosystems"] == {"Debian:12": 1, "Go": 1}
    assert db("import", two, "--db", database).code == 0  # without --add: replaced
    assert status(database)["ecosystems"] == {"Go": 1}


def test_import_waits_for_the_lock(tmp_path: Path) -> None:
    """A writer holding the lock keeps a second import waiting; after the timeout the second
    gives up with a clear error and the database is as the first left it."""
    import fcntl

    database = tmp_path / "v.db"
    lock = tmp_path / "v.db.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        result = db("import", OSV, "--db", database, env={"SCRATCHPACK_LOCK_TIMEOUT": "1"})
    assert_clean_error(result, 1, "waiting for the lock", str(lock))
    assert not database.exists()


def test_import_usage_errors(tmp_path: Path) -> None:
    assert_clean_error(db("import", "--db", tmp_path / "v.db"), 2, "FILE.zip|DIR")
    assert_clean_error(
        db("import", tmp_path / "nothing.zip", "--db", tmp_path / "v.db"),
        1,
        "nothing.zip: no such file",
    )
    assert_clean_error(db("status", OSV), 2, "unrecognized arguments")
    assert_clean_error(db("vacuum"), 2, "invalid choice")
    not_ours = tmp_path / "other.db"
    sqlite3.connect(not_ours).execute("CREATE TABLE t (x)").connection.commit()
    assert_clean_error(db("status", "--db", not_ours), 1, "not a scratchpack vulnerability")


def test_a_killed_import_leaves_the_previous_db_and_its_temp_is_cleaned(tmp_path: Path) -> None:
    import signal
    import time

    database = tmp_path / "v.db"
    assert db("import", OSV, "--db", database).code == 0
    before = database.read_bytes()
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(60_000):
            doc = {"id": f"SYN-{n}", "modified": "2026-01-01T00:00:00Z", "affected": [
                {"package": {"ecosystem": "PyPI", "name": f"p{n % 5000}"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                            {"fixed": f"1.{n}"}]}]}]}  # fmt: skip
            archive.writestr(f"SYN-{n}.json", json.dumps(doc))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchpack", "db", "import", str(big), "--db", str(database)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        temps: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            temps = [p for p in tmp_path.glob(".v.db.*.tmp") if p.stat().st_size > 100_000]
            if temps:
                break
            time.sleep(0.05)
        assert temps, "the import never wrote its temporary database"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert database.read_bytes() == before  # the rename never happened
    assert _answers(database) == 10
    assert list(tmp_path.glob(".v.db.*.tmp"))  # what the killed writer left
    assert db("import", OSV, "--db", database).code == 0
    assert not list(tmp_path.glob(".v.db.*.tmp"))  # removed by the next writer, under the lock


def test_huge_strings_are_cut_and_huge_ids_refused(tmp_path: Path) -> None:
    database = tmp_path / "v.db"
    huge = {"id": "HUGE-1", "modified": "2026-01-01T00:00:00Z", "summary": "A" * (8 << 20),
            "aliases": ["CVE-1"], "affected": [{"package": {"ecosystem": "npm", "name": "x"},
                                                "versions": ["1.0.0"]}]}  # fmt: skip
    assert db("import", osv_zip(tmp_path / "a.zip", {"HUGE-1.json": json.dumps(huge).encode()}),
              "--db", database).code == 0  # fmt: skip
    (summary,) = (
        sqlite3.connect(database)
        .execute("SELECT summary FROM advisory WHERE id = 'HUGE-1'")
        .fetchone()
    )
    assert len(summary) == 4096  # shown in a table cell: cut, and the database stays small
    long_id = osv_zip(tmp_path / "b.zip", {"L.json": json.dumps({"id": "X" * 10_000}).encode()})
    assert_clean_error(db("import", long_id, "--db", database), 1, "L.json", "id: empty or longer")
    assert _answers(database) == 11
