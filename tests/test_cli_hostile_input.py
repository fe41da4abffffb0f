"""Hostile and odd command-line input: one clear error line (exit 2 for usage), never a
traceback nor "unexpected", never a hang, and nothing half-written or replaced.

Each case is a real ``python -m scratchpack`` process. What was tried (2026-12-03) and
already held, so is not repeated here: ``0``, ``-1``, ``nan``, ``""``, ``1.5`` and ``0x10``
for every numeric flag; ``--compression-level`` of any size; ``--top`` and ``--lowest-
efficiency`` of any value; ``--retries 0``; ``--authfile`` or ``REGISTRY_AUTH_FILE`` that is
a directory, a dangling link, a link loop, ``/proc/self/mem``, malformed or 100 000-deep JSON
or binary (for a lookup: only login/logout read it unasked); ``DOCKER_CONFIG`` a file, a
directory, ``/dev/zero``; ``DOCKER_HOST`` of an unknown scheme, an empty or missing unix
socket, a refused port; ``SOURCE_DATE_EPOCH`` ``abc``, ``-1``, ``1e20``, ``1.5``, empty;
``SCRATCHPACK_LOCK_TIMEOUT`` and ``SCRATCHPACK_PROGRESS_DELAY`` of any text; ``COLUMNS`` 0,
-1, ``abc``, 10**400; ``TERM`` and ``NO_COLOR``; ``XDG_*_HOME`` a file, a FIFO,
``/dev/zero``, relative or empty; a 5000-character or non-UTF-8 path; ``/dev/zero`` as a
Dockerfile, lint configuration, key, SBOM or spec (bounded reads already).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT, CliResult, Examples, assert_clean_error, run_cli
from registryserver import htpasswd_yaml, running_registry


@pytest.fixture(scope="module")
def image(layout: Path) -> str:
    return f"oci:{layout}:v1"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


# -- numbers ---------------------------------------------------------------------------------

HUGE = ("inf", "1e400", "99999999999999999999")


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    "argv",
    [
        ["digest", "docker://127.0.0.1:9/x:1", "--timeout"],
        ["tags", "docker://127.0.0.1:9/x", "--timeout"],
        ["login", "127.0.0.1:9", "--username", "u", "--password", "p", "--timeout"],
        ["lint", "--no-pin", "--timeout"],
        ["audit", "oci:/nonexistent:x", "--check", '["--version"]', "--check-timeout"],
    ],
    ids=["digest", "tags", "login", "lint", "check-timeout"],
)
def test_timeouts_too_long_are_usage_errors(argv: list[str], value: str) -> None:
    """float() takes them, and a deadline that far overflowed time_t in the socket layer (an
    "unexpected OverflowError") or subprocess's wait."""
    flag = argv[-1]
    assert_clean_error(run_cli(*argv, value), 2, flag, "at most")


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["digest", "docker://127.0.0.1:9/x:1", "--retries", "99999999999999999999"], "--retries"),
        (["copy", "--jobs", "100000", "oci:/nonexistent:x", "oci:/nonexistent2:x"], "--jobs"),
        (["init", "--stdout", "--no-pin", "--port", "-1"], "--port"),
        (["init", "--stdout", "--no-pin", "--port", "0"], "--port"),
        (["init", "--stdout", "--no-pin", "--port", "65536"], "--port"),
        (["scan", "--sbom", "x.json", "--max-db-age", "nan"], "--max-db-age"),
        (["scan", "--sbom", "x.json", "--max-db-age", "inf"], "--max-db-age"),
    ],
)
def test_counts_out_of_range_are_usage_errors(argv: list[str], flag: str, tmp_path: Path) -> None:
    """``--port -1`` wrote ``EXPOSE -1``; 10**20 retries or 100 000 threads are mistakes; a
    nan age silently turned the database-age warning off."""
    assert_clean_error(run_cli(*argv, cwd=tmp_path), 2, flag)
    assert list(tmp_path.iterdir()) == []


def test_a_size_of_400_digits_is_a_size(image: str) -> None:
    """``--highest-wasted-bytes`` was parsed through float(): an OverflowError escaped
    argparse as a traceback."""
    result = run_cli("audit", image, "-q", "--highest-wasted-bytes", "9" * 400)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("epoch", ["253402300800", "9" * 30])
def test_source_date_epoch_past_year_9999(examples: Examples, image: str, tmp_path: Path,
                                          epoch: str) -> None:  # fmt: skip
    """An RFC 3339 "created" cannot hold year 10000: "unexpected ValueError" (or a time_t
    OverflowError) from pack and sbom. The last second that fits still packs."""
    env = {"SOURCE_DATE_EPOCH": epoch}
    out = tmp_path / "img"
    assert_clean_error(run_cli("pack", examples.hello, "-o", f"oci:{out}:x", env=env), 2,
                       "SOURCE_DATE_EPOCH")  # fmt: skip
    assert not out.exists()
    assert_clean_error(run_cli("sbom", image, "-q", env=env), 2, "SOURCE_DATE_EPOCH")
    last = run_cli("pack", examples.hello, "-o", f"oci:{out}:x", "-q",
                   env={"SOURCE_DATE_EPOCH": "253402300799"})  # fmt: skip
    assert last.code == 0, last.stderr
    inspected = run_cli("inspect", f"oci:{out}:x", "--format", "json").json()
    assert "9999-12-31T23:59:59Z" in json.dumps(inspected)


# -- files that are not files ----------------------------------------------------------------


@pytest.fixture(scope="module")
def vulns_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("db") / "vulns.db"
    result = run_cli("db", "import", ROOT / "tests" / "data" / "osv", "--db", database)
    assert result.code == 0, result.stderr
    return database


def _inputs(image: str, path: Path, db: Path) -> list[list[str]]:
    return [
        ["lint", str(path)],
        ["lint", "-c", str(path), "--no-pin", str(path)],
        ["build", str(path)],
        ["scan", image, "--db", str(db), "--vex", str(path)],
        ["scan", image, "--db", str(db), "--ignore-file", str(path)],
        ["scan", "--db", str(db), "--sbom", str(path)],
        ["verify", image, "--key", str(path)],
        ["sign", image, "--key", str(path)],
        ["attest", image, "--key", str(path), "--predicate", str(path)],
        ["pack", str(path), "-o", f"oci:{path.parent / 'out'}:x"],
        ["inspect", f"docker-archive:{path}"],
    ]


def test_a_fifo_as_an_input_file_is_refused_at_once(image: str, fifo: Path, vulns_db: Path) -> None:
    """Opening a FIFO blocks until a writer comes: each of these hung for ever."""
    for argv in _inputs(image, fifo, vulns_db):
        result = run_cli(*argv, env={"COSIGN_PASSWORD": "x"}, timeout=30)
        assert_clean_error(result, result.code, "not a regular file")
        assert result.code in (1, 2), (argv, result)
    assert sorted(p.name for p in fifo.parent.iterdir()) == ["fifo"]


def test_dev_zero_as_an_input_file_ends(image: str, vulns_db: Path) -> None:
    """A size checked with stat() first (0 for a device) let /dev/zero read without end."""
    for argv in _inputs(image, Path("/dev/zero"), vulns_db)[:6]:
        result = run_cli(*argv, timeout=30)
        assert result.code in (1, 2), (argv, result)
        assert_clean_error(result, result.code)


@pytest.mark.parametrize("name", ["fifo", "zero"])
def test_login_and_logout_with_an_authfile_that_is_no_file(
    registry: str, fifo: Path, name: str
) -> None:
    """``login`` read the auth file whole before rewriting it: /dev/zero without end, a FIFO
    for ever; and had it ended, it would have renamed the new file over the device."""
    path = fifo
    if name == "zero":  # the test's own node: a regression renames over it, not /dev/zero
        path = fifo.parent / "zero"
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    before = path.stat()
    login = run_cli("login", registry, "--username", "u", "--password-stdin",
                    "--authfile", path, stdin="p\n", timeout=30)  # fmt: skip
    assert_clean_error(login, 1, "not a regular file")
    assert_clean_error(run_cli("logout", registry, "--authfile", path, timeout=30), 1,
                       "not a regular file")  # fmt: skip
    after = path.stat()
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before.st_mode),
                                                          before.st_ino)  # fmt: skip


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("auth-registry")
    with running_registry(root, htpasswd_yaml(root)) as address:
        yield address


@pytest.mark.parametrize(
    ("auths", "fragment"),
    [("[1, 2]", "requires authentication"), ('{"HOST": {"auth": 5}}', "malformed 'auth' entry")],
    ids=["auths-a-list", "auth-a-number"],
)
def test_odd_auth_files_for_a_registry_that_asks(
    auth_registry: str, tmp_path: Path, auths: str, fragment: str
) -> None:
    """A hand-edited ``"auths": [...]`` was an AttributeError on the first 401, an ``auth``
    that is not a string a TypeError; and ``login`` into such a file a TypeError."""
    path = tmp_path / "auth.json"
    text = '{"auths": ' + auths.replace("HOST", auth_registry) + "}"
    path.write_text(text)
    result = run_cli("digest", f"docker://{auth_registry}/x:1", "--retries", "0",
                     env={"REGISTRY_AUTH_FILE": str(path)}, timeout=60)  # fmt: skip
    assert_clean_error(result, 1, fragment)
    if auths.startswith("["):
        login = run_cli("login", auth_registry, "--username", "alice", "--password-stdin",
                        "--authfile", path, stdin="s3cret\n", timeout=60)  # fmt: skip
        assert_clean_error(login, 1, '"auths" is not an object')
        assert path.read_text() == text  # nothing the user wrote is lost


# -- outputs that are not files --------------------------------------------------------------


def test_outputs_to_devices_and_stdout_are_written_through(image: str, tmp_path: Path) -> None:
    """As root, ``-o /dev/null`` (or ``/dev/zero``) renamed the report over the device node,
    and ``-o /dev/stdout`` replaced the /dev/stdout link with a file: every later reader of
    the device read the report. Now a device or FIFO is written to, not replaced. The nodes
    and the link are the test's own, made as /dev's are: a regression replaces them, not the
    machine's /dev/null (which it did, for every process on it, while this was written)."""
    devices = tmp_path / "dev"
    devices.mkdir()
    for name, minor in (("null", 3), ("zero", 5), ("full", 7)):
        os.mknod(devices / name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    (devices / "stdout").symlink_to("/proc/self/fd/1")
    for name in ("null", "zero"):
        result = run_cli("sbom", image, "-q", "-o", f"cyclonedx-json={devices / name}")
        assert result.code == 0, result.stderr
        after = (devices / name).stat()
        assert stat.S_ISCHR(after.st_mode), name
    result = run_cli("audit", image, "-q", "--format", "json", "-o", devices / "stdout")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["image"] == image
    assert os.readlink(devices / "stdout") == "/proc/self/fd/1"
    full = run_cli("audit", image, "-q", "--format", "json", "-o", devices / "full")
    assert_clean_error(full, 1, str(devices / "full"), "No space left")
    assert sorted(p.name for p in devices.iterdir()) == ["full", "null", "stdout", "zero"]


def test_an_output_fifo_nobody_reads_is_an_error_not_a_hang(image: str, fifo: Path) -> None:
    result = run_cli("audit", image, "-q", "--format", "json", "-o", fifo, timeout=30)
    assert_clean_error(result, 1, str(fifo))
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_outputs_to_block_devices_and_proc_files_are_refused(image: str, tmp_path: Path) -> None:
    block = tmp_path / "loop"
    os.mknod(block, 0o600 | stat.S_IFBLK, os.makedev(7, 0))  # as /dev/loop0
    assert_clean_error(run_cli("audit", image, "-q", "--format", "json", "-o", block), 1,
                       "block device")  # fmt: skip
    assert_clean_error(run_cli("audit", image, "-q", "--format", "json", "-o",
                               "/proc/self/mem"), 1, "/proc")  # fmt: skip


# -- environment -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["tcp://[::1", "tcp://", "tcp://:0"])
def test_malformed_tcp_docker_host(image: str, tmp_path: Path, host: str) -> None:
    """httpx's InvalidURL is not an HTTPError: "unexpected InvalidURL: Invalid port"."""
    env = {"DOCKER_HOST": host}
    assert_clean_error(run_cli("digest", "docker-daemon:x:1", env=env), 1, "DOCKER_HOST")
    assert_clean_error(run_cli("copy", image, "docker-daemon:x:1", env=env), 1, "DOCKER_HOST")


def test_control_characters_in_a_name_stay_on_one_line(tmp_path: Path) -> None:
    """The error line named the path as it is: a newline in it made two lines, an escape
    sequence reached the terminal."""
    name = tmp_path / "a\nb\x1b[31m"
    result = run_cli("pack", name, "-o", f"oci:{tmp_path / 'out'}:x")
    assert_clean_error(result, 2, "a\\nb\\x1b[31m")
    assert "\x1b" not in result.stderr


# -- stdin and credentials -------------------------------------------------------------------


def test_password_stdin_that_never_ends_or_is_not_text(registry: str, tmp_path: Path) -> None:
    """``--password-stdin`` read a line without bound (``< /dev/zero`` never ends); bytes that
    are not UTF-8, or a non-UTF-8 ``--username`` or ``--creds``, were "unexpected
    UnicodeEncodeError"; a ``:`` in a username was stored, and read back as another user."""
    authfile = tmp_path / "auth.json"
    base: list[str | Path] = ["login", registry, "--authfile", authfile]
    with Path("/dev/zero").open("rb") as zero:
        proc = subprocess.run(
            [sys.executable, "-m", "scratchpack", *map(str, base), "-u", "x", "--password-stdin"],
            stdin=zero, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert_clean_error(CliResult(proc.returncode, proc.stdout, proc.stderr), 2, "longer than")
    binary = subprocess.run(
        [sys.executable, "-m", "scratchpack", *map(str, base), "-u", "x", "--password-stdin"],
        input=b"\xff\xfe\n", capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    stderr = binary.stderr.decode()
    assert_clean_error(CliResult(binary.returncode, "", stderr), 2, "password is not valid UTF-8")
    odd_user = os.fsdecode(b"a\xff")
    assert_clean_error(run_cli(*base, "-u", odd_user, "-p", "p"), 2, "username is not valid")
    assert_clean_error(run_cli(*base, "-u", "a:b", "-p", "p"), 2, "cannot contain ':'")
    assert_clean_error(run_cli("digest", f"docker://{registry}/x:1", "--creds",
                               f"{odd_user}:p"), 2, "username is not valid")  # fmt: skip
    assert not authfile.exists()


def test_a_digestfile_that_cannot_be_written_is_refused_before_the_work(
    examples: Examples, image: str, tmp_path: Path
) -> None:
    """The image was written (or pushed) and only then did ``--digestfile`` fail: exit 1 for
    a run that had done its work."""
    out = tmp_path / "out"
    cases = [(tmp_path / "missing" / "d", 1, "does not exist"), (tmp_path, 2, "is a directory")]
    for digestfile, code, fragment in cases:
        copied = run_cli("copy", image, f"oci:{out}:x", "--digestfile", digestfile)
        assert_clean_error(copied, code, "--digestfile" if code == 2 else "", fragment)
        packed = run_cli("pack", examples.hello, "-o", f"oci:{out}:x", "--digestfile", digestfile)
        assert_clean_error(packed, code, fragment)
        assert not out.exists()


def test_lint_reads_the_shells_pipes_and_dev_null_but_no_other_fifo(tmp_path: Path) -> None:
    """What a user names on purpose still works: ``lint <(git show HEAD:Dockerfile)`` (a pipe
    at /dev/fd/N) and ``-c /dev/null`` (no configuration); a FIFO anywhere else (a cloned
    repository's ``Dockerfile``) is refused by the test above."""
    import subprocess
    import sys

    (tmp_path / "Dockerfile").write_text("FROM scratch\nUSER 65532\nWORKDIR /app\n")
    script = (f'{sys.executable} -m scratchpack lint -f json -c /dev/null '
              f'<(cat {tmp_path / "Dockerfile"})')  # fmt: skip
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                               "SCRATCHPACK_LINT_SERVER": "0"}, check=False)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert "/dev/fd/" in proc.stdout and "error" not in proc.stderr, (proc.stdout, proc.stderr)
