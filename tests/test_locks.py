"""Waiting for another writer's lock: a notice instead of a silent hang, a timeout instead of
forever, and the lock taken as soon as the other process lets go."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import Examples, run_cli
from scratchpack.errors import ScratchpackError
from scratchpack.fsutil import AlreadyExists, atomic_file, exclusive_lock, lock_timeout

HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding ``path``'s lock for ``seconds``, started when this returns."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_held_lock_times_out_with_a_sentence(tmp_path: Path) -> None:
    lock = tmp_path / "index.json.lock"
    holder = hold(lock, 30)
    try:
        notice = io.StringIO()
        with (
            pytest.raises(ScratchpackError) as caught,
            exclusive_lock(lock, timeout=1.5, notice=notice),
        ):
            pytest.fail("took a lock another process holds")
        assert "gave up after 1.5 s waiting for the lock on" in str(caught.value)
        assert "SCRATCHPACK_LOCK_TIMEOUT" in str(caught.value)
        assert notice.getvalue() == f"scratchpack: waiting for another process's lock on {lock}\n"
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_taken_once_released_and_a_short_wait_says_nothing(tmp_path: Path) -> None:
    lock = tmp_path / "index.json.lock"
    holder = hold(lock, 0.3)
    try:
        notice = io.StringIO()
        start = time.monotonic()
        with exclusive_lock(lock, timeout=20, notice=notice):
            waited = time.monotonic() - start
        assert holder.wait(timeout=10) == 0
        assert notice.getvalue() == ""  # under LOCK_NOTICE_AFTER: no noise
        assert waited < 15
    finally:
        holder.kill()
        holder.wait()


def test_a_free_lock_never_waits(tmp_path: Path) -> None:
    notice = io.StringIO()
    with exclusive_lock(tmp_path / "lock", timeout=0, notice=notice):
        pass
    assert notice.getvalue() == ""


def test_lock_file_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("x")
    os.symlink(tmp_path / "target", tmp_path / "lock")
    with pytest.raises(ScratchpackError, match="cannot lock"), exclusive_lock(tmp_path / "lock"):
        pass


def test_timeout_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRATCHPACK_LOCK_TIMEOUT", "2.5")
    assert lock_timeout() == 2.5
    monkeypatch.setenv("SCRATCHPACK_LOCK_TIMEOUT", "soon")
    assert lock_timeout() == 300.0
    monkeypatch.setenv("SCRATCHPACK_LOCK_TIMEOUT", "-1")
    assert lock_timeout() == 300.0


def test_cli_waiting_for_a_layout_lock_says_so_then_gives_up(
    tmp_path: Path, examples: Examples
) -> None:
    """A pack into a layout whose index another process keeps locked: notice, then error."""
    layout = tmp_path / "out"
    assert run_cli("pack", examples.hello, "-o", f"oci:{layout}:seed").code == 0
    before = (layout / "index.json").read_bytes()
    holder = hold(layout / "index.json.lock", 60)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "scratchpack",
                "pack",
                str(examples.hello),
                "-o",
                f"oci:{layout}:x",
            ],
            capture_output=True,
            check=False,
            text=True,
            env={**os.environ, "SCRATCHPACK_LOCK_TIMEOUT": "3"},
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1, result.stderr
    assert "waiting for another process's lock on" in result.stderr
    assert "gave up after 3 s waiting for the lock" in result.stderr
    assert "Traceback" not in result.stderr
    assert (layout / "index.json").read_bytes() == before  # nothing half-committed


def test_a_publish_without_replace_never_takes_a_name_made_meanwhile(tmp_path: Path) -> None:
    """``atomic_file(replace=False)``: a file made under the name while ours was written (a
    parallel run that passed the same early check) is kept, ours fails as "already exists"
    and leaves no temporary; a free name gets our whole file, with its mode."""
    taken = tmp_path / "out.tar"
    with (
        pytest.raises(AlreadyExists, match="already exists; use --force"),
        atomic_file(taken, replace=False) as out,
    ):
        out.write(b"ours")
        taken.write_bytes(b"theirs")
    assert taken.read_bytes() == b"theirs"
    free = tmp_path / "free.tar"
    with atomic_file(free, 0o600, replace=False) as out:
        out.write(b"ours")
    assert free.read_bytes() == b"ours" and free.stat().st_mode & 0o777 == 0o600
    assert free.stat().st_nlink == 1  # the temporary's link is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.tar", "out.tar"]
