"""Rule 8 ("every writer of shared state locks"), red-teamed: each file scratchpack writes that
another scratchpack process may write at the same moment, attacked by real processes started
together; then no update lost, no torn file, no traceback, no temporary left.

The OCI layout's own race (16 writers, skopeo and umoci reading back every tag) is
``test_layout_integrity.py``; the lint server's concurrent starts are ``test_lint_server.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import COSIGN_PASSWORD, Examples, private_key, run_cli
from registryserver import PASSWORD, USER, htpasswd_yaml, running_registry

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
WRITERS = 8


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    env.update(extra or {})
    return env


def together(
    commands: list[list[str | Path]],
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> list[Finished]:
    """Run every command at once as its own process (``python -m scratchpack ARGS`` when it
    starts with no program of its own), each fed ``stdin``; what each ended with."""
    full = _env(env)
    procs = []
    for command in commands:
        argv = [str(a) for a in command]
        if argv[0] != sys.executable:
            argv = [sys.executable, "-m", "scratchpack", *argv]
        procs.append(
            subprocess.Popen(
                argv,
                env=full,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    done = []
    for proc in procs:
        out, err = proc.communicate(stdin, timeout=timeout)
        done.append(Finished(proc.returncode, out, err))
    for finished in done:
        assert "Traceback" not in finished.stderr, finished.stderr
    return done


def temporaries(directory: Path) -> list[str]:
    """What our atomic writers name their temporaries (``.NAME.PID.RANDOM.tmp``,
    ``NAME.PID.RANDOM.tmp``), left in ``directory``."""
    return sorted(p.name for p in directory.rglob("*.tmp"))


# -- generate-key-pair: two files that must belong together --------------------------------


def test_parallel_key_pairs_never_mix_two_keys(tmp_path: Path) -> None:
    """Eight ``generate-key-pair --force`` into one prefix: the .pub left is the public half of
    the .key left (each process wrote its key, then its pub: interleaved, one's key and
    another's pub remained, and every signature made with that key failed to verify)."""
    prefix = tmp_path / "cosign"
    for _trial in range(3):
        done = together(
            [["generate-key-pair", "--output-key-prefix", prefix, "--force"]] * WRITERS,
            env=COSIGN_PASSWORD,
        )
        assert [d.code for d in done] == [0] * WRITERS, [d.stderr for d in done]
        from cryptography.hazmat.primitives import serialization

        public = private_key(tmp_path / "cosign.key").public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert (tmp_path / "cosign.pub").read_bytes() == pem
        assert temporaries(tmp_path) == []


def test_parallel_key_pairs_without_force_one_wins(tmp_path: Path) -> None:
    """Without ``--force`` exactly one process writes the pair; every other one says it
    exists (they all found no file before any wrote one, and all replaced each other's)."""
    prefix = tmp_path / "cosign"
    done = together(
        [["generate-key-pair", "--output-key-prefix", prefix]] * WRITERS, env=COSIGN_PASSWORD
    )
    winners = [d for d in done if d.code == 0]
    assert len(winners) == 1, [d.stderr for d in done]
    for lost in (d for d in done if d.code != 0):
        lines = lost.stderr.strip().splitlines()
        assert len(lines) == 1 and "already exists; use --force" in lines[0], lost.stderr
    from cryptography.hazmat.primitives import serialization

    public = private_key(tmp_path / "cosign.key").public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert (tmp_path / "cosign.pub").read_bytes() == pem


# -- login/logout: the user's Docker config -------------------------------------------------


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("auth-registry")
    with running_registry(root, htpasswd_yaml(root)) as address:
        yield address


def test_parallel_logins_and_logouts_keep_every_entry(auth_registry: str, tmp_path: Path) -> None:
    """Two logins (one registry under two names) and eight logouts of other hosts, at once,
    on one config.json that also holds other tools' keys: the logins' entries are there, the
    logged-out hosts are gone, every other entry and key is kept, the file is whole JSON."""
    config_dir = tmp_path / "docker"
    config_dir.mkdir(mode=0o700)
    config = config_dir / "config.json"
    gone = [f"gone{n}.example:5000" for n in range(WRITERS)]
    kept = {"kept.example": {"auth": "a2VwdDprZXB0"}}
    foreign = {"HttpHeaders": {"User-Agent": "x"}, "psFormat": "{{.ID}}", "proxies": {}}
    config.write_text(
        json.dumps({"auths": {**kept, **{h: {"auth": "Z29uZTpnb25l"} for h in gone}}, **foreign})
    )
    port = auth_registry.rsplit(":", 1)[1]
    names = [auth_registry, f"localhost:{port}"]
    env = {"DOCKER_CONFIG": str(config_dir), "REGISTRY_AUTH_FILE": ""}
    commands: list[list[str | Path]] = [["logout", host] for host in gone]
    commands += [["login", name, "-u", USER, "--password-stdin"] for name in names]
    done = together(commands, env=env, stdin=PASSWORD + "\n")
    assert [d.code for d in done] == [0] * len(commands), [d.stderr for d in done]
    document = json.loads(config.read_text())
    assert set(document["auths"]) == {*kept, *names}
    assert document["auths"]["kept.example"] == kept["kept.example"]
    assert {k: document[k] for k in foreign} == foreign
    assert config.stat().st_mode & 0o777 == 0o600
    assert temporaries(config_dir) == []


# -- the dpkg owner search's cache: one file for every root ---------------------------------

_OWNER = """\
import sys
from pathlib import Path
from scratchpack.debian.installed import DpkgDatabase
root = Path(sys.argv[1])
assert DpkgDatabase(root).owner(root / "app/bin/app") is None
"""


def _dpkg_root(path: Path) -> Path:
    """A dpkg root whose packages list nothing under /app (what pack asks about)."""
    (path / "var/lib/dpkg/info").mkdir(parents=True)
    (path / "var/lib/dpkg/status").write_text(
        "Package: p\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n"
    )
    (path / "var/lib/dpkg/info/p.list").write_text("/.\n/usr/share/p\n")
    (path / "app/bin").mkdir(parents=True)
    (path / "app/bin/app").write_bytes(b"\x7fELF")
    return path


def test_parallel_dpkg_cache_writers_keep_every_root(tmp_path: Path) -> None:
    """Eight processes each ask about their own root's database at once, and each adds its
    miss to the one cache file: every root's answer is in it afterwards (each read the file,
    added its own and wrote the whole back: the last writer's copy lost the others')."""
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir(mode=0o700)
    cache = cache_dir / "dpkg-unowned.json"
    roots = [_dpkg_root(tmp_path / f"root{n}") for n in range(WRITERS)]
    done = together(
        [[sys.executable, "-c", _OWNER, root] for root in roots],
        env={"SCRATCHPACK_DPKG_CACHE": str(cache)},
    )
    assert [d.code for d in done] == [0] * WRITERS, [d.stderr for d in done]
    document = json.loads(cache.read_bytes())
    admindirs = {database[0] for database in document["databases"]}
    assert admindirs == {str(root / "var/lib/dpkg") for root in roots}
    assert temporaries(cache_dir) == []


# -- docker-archive: one output path, two writers --------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_parallel_archives_to_one_path_leave_one_whole_archive(
    examples: Examples, tmp_path: Path, skopeo: Run, force: bool
) -> None:
    """Eight packs of different labels to one new ``docker-archive:`` path. Without
    ``--force`` exactly one reports it packed, and the archive is its image; every other one
    says the file exists (all found no file first, every one reported success, and each
    replaced the one before). With ``--force`` all succeed and one whole archive is left."""
    archive = tmp_path / "out.tar"
    done = together(
        [
            ["pack", examples.hello, "-o", f"docker-archive:{archive}", "--label", f"w={n}",
             *(["--force"] if force else [])]
            for n in range(WRITERS)
        ]
    )  # fmt: skip
    winners = [n for n, d in enumerate(done) if d.code == 0]
    if force:
        assert len(winners) == WRITERS, [d.stderr for d in done]
    else:
        assert len(winners) == 1, [d.stderr for d in done]
        for lost in (d for d in done if d.code != 0):
            errors = [line for line in lost.stderr.splitlines() if "error:" in line]
            assert lost.code == 1 and len(errors) == 1, lost.stderr
            assert "already exists; use --force to replace it" in errors[0]
    info = json.loads(skopeo("inspect", f"docker-archive:{archive}").stdout)
    assert info["Labels"]["w"] in {str(n) for n in winners}
    with tarfile.open(archive) as tar:
        assert "manifest.json" in tar.getnames()
    assert [p.name for p in tmp_path.iterdir()] == ["out.tar"]  # no temporary, no lock


# -- an OCI layout read while it is written ------------------------------------------------


def test_readers_never_see_a_layout_half_written(examples: Examples, tmp_path: Path) -> None:
    """``inspect`` and ``audit`` of a tag, again and again, while eight packs add other tags
    to its layout: every read succeeds (index.json and blobs are renamed in whole)."""
    layout = tmp_path / "l"
    seed = run_cli("pack", examples.hello, "-o", f"oci:{layout}:seed")
    assert seed.code == 0, seed.stderr
    failures: list[str] = []
    reads = 0
    writing = threading.Event()
    writing.set()

    def read() -> None:
        nonlocal reads
        while writing.is_set():
            for command in (["inspect", f"oci:{layout}:seed"], ["audit", f"oci:{layout}:seed"]):
                got = run_cli(*command, "--format", "json", timeout=120)
                reads += 1
                if got.code != 0 or "Traceback" in got.stderr:
                    failures.append(got.stderr)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = together(
            [["pack", examples.hello, "-o", f"oci:{layout}:t{n}"] for n in range(WRITERS)]
        )
    finally:
        writing.clear()
        reader.join()
    assert [d.code for d in done] == [0] * WRITERS, [d.stderr for d in done]
    assert failures == [] and reads >= 2
    index = json.loads((layout / "index.json").read_text())
    tags = {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}
    assert tags == {"seed", *(f"t{n}" for n in range(WRITERS))}
    assert temporaries(layout) == []


# -- the ShellCheck results cache ----------------------------------------------------------


def test_parallel_lints_share_the_shellcheck_cache(tmp_path: Path) -> None:
    """Eight lints of the same Dockerfile at once with an empty cache (each writes the same
    entries): the same findings printed by all, as by a lint with no cache, and every entry
    left is whole (a later lint reads it back to the same findings)."""
    cache = tmp_path / "shellcheck"
    project = tmp_path / "p"
    project.mkdir()
    (project / "Dockerfile").write_text(
        "FROM debian:12\nRUN cd /tmp && echo $HOME\nRUN for f in `ls`; do echo $f; done\n"
        "RUN [ $A == b ] && echo yes\n"
    )
    dockerfile = project / "Dockerfile"
    expected = run_cli(
        "lint", dockerfile, "--format", "json", env={"SCRATCHPACK_SHELLCHECK_CACHE": "0"}
    )
    assert '"SC' in expected.stdout, expected.stdout  # ShellCheck ran: its codes are there
    env = {"SCRATCHPACK_SHELLCHECK_CACHE": str(cache), "SCRATCHPACK_LINT_SERVER": "0"}
    done = together([["lint", dockerfile, "--format", "json"]] * WRITERS, env=env)
    assert {(d.code, d.stdout) for d in done} == {(expected.code, expected.stdout)}
    assert any(cache.iterdir()) and temporaries(cache) == []
    again = run_cli("lint", dockerfile, "--format", "json", env=env)
    assert (again.code, again.stdout) == (expected.code, expected.stdout)


# -- the vulnerability database ------------------------------------------------------------


def test_parallel_db_imports_keep_every_advisory_and_readers_answer(tmp_path: Path) -> None:
    """Six ``db import --add`` of different advisories into one database at once, with
    ``db status`` reading it all the while: every advisory is in it afterwards (each import
    copies the database under ``vulns.db.lock``, so none builds on a copy another replaces),
    every read answers, no temporary database is left."""
    import zipfile

    from helpers import ROOT

    database = tmp_path / "v.db"
    seeded = run_cli("db", "import", ROOT / "tests/data/osv", "--db", database)
    assert seeded.code == 0, seeded.stderr
    sources = []
    for n in range(6):
        advisory = {"id": f"PAR-{n}", "modified": "2026-01-01T00:00:00Z", "affected": [
            {"package": {"ecosystem": "PyPI", "name": f"par{n}"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                        {"fixed": "1.0"}]}]}]}  # fmt: skip
        source = tmp_path / f"a{n}.zip"
        with zipfile.ZipFile(source, "w") as archive:
            archive.writestr(f"PAR-{n}.json", json.dumps(advisory))
        sources.append(source)
    failures: list[str] = []
    writing = threading.Event()
    writing.set()

    def read() -> None:
        while writing.is_set():
            got = run_cli("db", "status", "--db", database, "--format", "json", timeout=120)
            if got.code != 0 or got.json()["advisories"] < 10:
                failures.append(got.stderr)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = together([["db", "import", "--add", s, "--db", database] for s in sources])
    finally:
        writing.clear()
        reader.join()
    assert [d.code for d in done] == [0] * len(sources), [d.stderr for d in done]
    assert failures == []
    final = run_cli("db", "status", "--db", database, "--format", "json")
    assert final.code == 0 and final.json()["advisories"] == 10 + len(sources), final.stdout
    assert temporaries(tmp_path) == []


# -- the lint server's lock, socket and pid -------------------------------------------------


def _lint_servers(socket_path: Path) -> set[int]:
    """The pids of lint server processes serving ``socket_path``."""
    import contextlib

    wanted = os.fsencode(socket_path)
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if b"scratchpack.cli.lintserver" in argv and wanted in argv:
                    found.add(int(entry.name))
    return found


def test_parallel_daemon_starts_leave_one_server_and_all_say_so(tmp_path: Path) -> None:
    """Eight ``lint --daemon start`` at once: one server runs; every command exits 0 saying
    it started it or that it already runs, with that server's pid (the losers of the start
    lock used to fail: "the lint server did not start: ... already running or starting")."""
    import re
    import signal
    import time

    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    socket_path = runtime / "scratchpack-lint.sock"
    env = {"XDG_RUNTIME_DIR": str(runtime), "SCRATCHPACK_LINT_SERVER": ""}
    try:
        done = together([["lint", "--daemon", "start"]] * WRITERS, env=env)
        assert [d.code for d in done] == [0] * WRITERS, [d.stderr for d in done]
        pids = set()
        for finished in done:
            said = re.fullmatch(
                r"lint server (?:started|already running) \(pid (\d+)\) at (.+)\n",
                finished.stdout,
            )
            assert said is not None and said[2] == str(socket_path), finished.stdout
            pids.add(int(said[1]))
        deadline = time.monotonic() + 30
        while _lint_servers(socket_path) != pids and time.monotonic() < deadline:
            time.sleep(0.1)  # the losers' own servers exit at once
        assert len(pids) == 1 and _lint_servers(socket_path) == pids
        stopped = run_cli("lint", "--daemon", "stop", env=env)
        assert stopped.code == 0 and "stopped" in stopped.stdout, stopped.stderr
        assert not socket_path.exists()
    finally:
        for pid in _lint_servers(socket_path):
            os.killpg(pid, signal.SIGKILL)


# -- the Debian package cache (build, pack's runtimes) --------------------------------------


def test_parallel_builds_share_an_empty_package_cache(tmp_path: Path) -> None:
    """Six locked builds at once with one empty ``$XDG_CACHE_HOME``, into one layout: each
    downloads the same .deb into the by-hash cache (a temporary, then a rename: the same
    bytes under the same name), every build succeeds with the same image, every tag is there,
    and the cache holds the one whole .deb and no temporary."""
    import hashlib

    from debgen import codec_deb

    pool = tmp_path / "mirror" / "pool"
    pool.mkdir(parents=True)
    deb = codec_deb(pool / "bomb_1.0_all.deb", "zst", [("./usr/share/doc/bomb/x", b"x" * 4096)])
    body = deb.read_bytes()
    sha256 = hashlib.sha256(body).hexdigest()
    package = {"name": "bomb", "version": "1.0", "architecture": "all", "url": f"file://{deb}",
               "sha256": sha256, "size": len(body), "reason": "asked"}  # fmt: skip
    lock = tmp_path / "image.lock.json"
    lock.write_text(json.dumps({"version": 1, "architecture": "amd64", "skipped": [],
                                "packages": [package]}))  # fmt: skip
    spec = tmp_path / "image.toml"
    spec.write_text('[image]\npackages = ["bomb"]\n')
    xdg = tmp_path / "xdg"
    layout = tmp_path / "out"
    env = {"XDG_CACHE_HOME": str(xdg), "SOURCE_DATE_EPOCH": "1700000000"}
    done = together(
        [["build", spec, "--locked", "--lock", lock, "-o", f"oci:{layout}:b{n}", "--format",
          "json"] for n in range(6)],
        env=env,
    )  # fmt: skip
    assert [d.code for d in done] == [0] * 6, [d.stderr for d in done]
    assert len({json.loads(d.stdout)["digest"] for d in done}) == 1
    index = json.loads((layout / "index.json").read_text())
    tags = {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}
    assert tags == {f"b{n}" for n in range(6)}
    cached = [p for p in xdg.rglob("*") if p.is_file()]
    assert [p.read_bytes() == body for p in cached if p.name == sha256] == [True], cached
    assert temporaries(xdg) == [] and temporaries(layout) == []


# -- init: a set of files that belong together ----------------------------------------------


def test_parallel_inits_write_one_consistent_set(tmp_path: Path) -> None:
    """Eight ``init`` of one project at once, four for ``--runtime scratch`` and four for
    ``distroless``, none with ``--force``: one writes its files; every other one says they
    exist (exit 2) and writes none, so the Dockerfile and compose.yaml left are one run's
    (every run found no file, all wrote, and the set left could mix two runs' files)."""
    import shutil

    from helpers import ROOT

    project = tmp_path / "greeter"
    shutil.copytree(ROOT / "examples/init/go-greeter", project)
    runtimes = ["scratch", "distroless"] * (WRITERS // 2)
    done = together([["init", project, "--no-pin", "--runtime", runtime] for runtime in runtimes])
    winners = [runtimes[n] for n, d in enumerate(done) if d.code == 0]
    assert len(winners) == 1, [d.stderr for d in done]
    for lost in (d for d in done if d.code != 0):
        lines = lost.stderr.strip().splitlines()
        assert lost.code == 2 and len(lines) == 1 and "--force" in lines[0], lost.stderr
    for name in ("Dockerfile", ".dockerignore", "compose.yaml"):
        printed = run_cli("init", project, "--no-pin", "--runtime", winners[0], "--stdout")
        assert (project / name).read_text() in printed.stdout, name
    assert temporaries(project) == []


def test_parallel_forced_inits_leave_one_runs_files(tmp_path: Path) -> None:
    """Eight ``init --force`` of one project at once, half for port 8081 and half for 8082
    (EXPOSE in the Dockerfile, the mapping in compose.yaml), 4 trials: every run succeeds and
    the files left are one run's, both naming the same port (each run replaced the files one
    by one, and the set left could hold two runs' files)."""
    import re
    import shutil

    from helpers import ROOT

    project = tmp_path / "greeter"
    shutil.copytree(ROOT / "examples/init/go-greeter", project)
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    ports = ["8081", "8082"] * (WRITERS // 2)
    for _trial in range(4):
        done = together(
            [["init", project, "--no-pin", "--force", "--port", port] for port in ports], env=env
        )
        assert [d.code for d in done] == [0] * WRITERS, [d.stderr for d in done]
        exposed = re.findall(r"^EXPOSE (\d+)", (project / "Dockerfile").read_text(), re.M)
        composed = re.findall(r"(808[12])", (project / "compose.yaml").read_text())
        assert len(set(exposed)) == 1 and set(composed) == set(exposed), (exposed, composed)
        assert temporaries(project) == []


# -- lint --fix: a read-modify-write of the user's Dockerfile --------------------------------


def test_parallel_fixes_of_one_dockerfile_keep_every_fix(tmp_path: Path) -> None:
    """Four ``lint --fix --unsafe-fixes --ignore SP201`` (adds --no-install-recommends) and
    four ``lint --fix --ignore SP200`` (removes the apt lists) of one Dockerfile at once: as
    run one after another, both fixes are in the file (each fixed the text it had read, and
    a replace from the original text dropped the other group's fix), 3 trials."""
    project = tmp_path / "p"
    project.mkdir()
    dockerfile = project / "Dockerfile"
    original = f"FROM debian:12@sha256:{'a' * 64}\nRUN apt-get update && apt-get install -y curl\n"
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "SCRATCHPACK_LINT_SERVER": "0"}
    group: list[list[str | Path]] = [
        ["lint", "--fix", "--unsafe-fixes", "--ignore", "SP201", dockerfile],
        ["lint", "--fix", "--ignore", "SP200", dockerfile],
    ]
    for _trial in range(3):
        dockerfile.write_text(original)
        done = together(group * (WRITERS // 2), env=env)
        assert all(d.code in (0, 1) for d in done), [d.stderr for d in done]
        run = dockerfile.read_text().splitlines()[1]
        assert run == (
            "RUN apt-get update && apt-get install --no-install-recommends -y curl"
            " && rm -rf /var/lib/apt/lists/*"
        ), run
        assert temporaries(project) == []
