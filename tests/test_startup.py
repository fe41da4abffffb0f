"""Start-up cost of a ``scratchpack`` process (issue 17): each command imports what it uses.

Wall time is not asserted (it moves with the machine's load); the import set is, which is what
the time is made of. Each test runs a real ``python -X importtime -m scratchpack ...`` and reads
the modules it imported from its ``-X importtime`` report on stderr, minus what the bare
interpreter imports (``site``, ``.pth`` hooks): a new import on a path fails here, naming it.
bench/bench_startup.py measures the time itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import uuid
from functools import cache
from pathlib import Path

import pytest

from helpers import run_cli, static_cc
from scratchpack.cli.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent

# Third-party packages each command may import; any other one fails the test. argcomplete (shell
# completion, issue 14) may hook into the parser of every command but `--version`.
VERSION: frozenset[str] = frozenset()
PARSER = frozenset({"argcomplete"})
HELP = PARSER
LINT = PARSER | {"dockerfile", "tree_sitter", "tree_sitter_bash"}
# (not python-debian: pack reads the host's dpkg status with debian/control.py)
LOCAL_PACK_AND_COPY = PARSER | {"elftools", "msgspec", "typing_extensions", "zstandard",
                                "zlib_ng"}  # fmt: skip

# The scratchpack modules `--version` may load: the entry point only, not the CLI's parser.
VERSION_MODULES = frozenset({"scratchpack", "scratchpack.cli", "scratchpack.cli.entry"})
# ... nor what the parser needs (`--help` may).
PARSER_STDLIB = frozenset({"argparse", "pathlib", "json", "typing", "re", "gettext", "shutil"})
# Standard-library modules that cost milliseconds and that `--help` does not need ...
HEAVY_STDLIB = frozenset({
    "dataclasses", "inspect", "ast", "tomllib", "tarfile", "hashlib", "ssl", "socket", "email",
    "http", "logging",
})  # fmt: skip
# ... nor `--version`, which does not run even a completion hook.
VERSION_STDLIB = HEAVY_STDLIB | {"subprocess", "threading", "tempfile", "traceback"}


def imported(*args: str, cwd: Path | None = None) -> list[str]:
    """Every module a real ``python -X importtime`` process imports, in order (its report)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    names = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    assert names, f"no -X importtime report on stderr: {proc.stderr[-500:]}"
    return names


@cache
def interpreter_baseline() -> frozenset[str]:
    """What any Python process of this venv imports before our code runs."""
    return frozenset(imported("-c", "pass"))


def scratchpack_imports(*args: str, cwd: Path | None = None) -> set[str]:
    return set(imported("-m", "scratchpack", *args, cwd=cwd)) - interpreter_baseline()


def third_party(modules: set[str]) -> set[str]:
    """Top-level packages that are neither the standard library nor scratchpack. The report
    also lists imports that failed (the standard library's ``copy`` probes Jython's ``org``):
    a name that cannot be found here was not loaded there."""
    tops = {m.split(".")[0] for m in modules}
    others = {t for t in tops if t not in sys.stdlib_module_names and t != "scratchpack"}
    return {t for t in others if importlib.util.find_spec(t) is not None}


def test_the_report_is_read() -> None:
    """The parser of the -X importtime report sees a third-party import (the check can fail)."""
    modules = set(imported("-c", "import zstandard")) - interpreter_baseline()
    assert third_party(modules) == {"zstandard"}


def console_script() -> list[str]:
    """What pip's ``scratchpack`` wrapper runs: the entry point pyproject.toml declares."""
    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = target["scratchpack"].partition(":")
    return ["-c", f"import sys; from {module} import {function}; sys.exit({function}())"]


@pytest.mark.parametrize("how", ["console script", "python -m"])
def test_version_imports_only_the_entry_point(how: str) -> None:
    args = console_script() if how == "console script" else ["-m", "scratchpack"]
    modules = set(imported(*args, "--version")) - interpreter_baseline()
    assert third_party(modules) - VERSION == set()
    ours = {m for m in modules if m.split(".")[0] == "scratchpack"}
    assert "scratchpack.cli.entry" in ours
    assert ours - VERSION_MODULES == set()
    assert modules & (VERSION_STDLIB | PARSER_STDLIB) == set()


def test_version_prints_what_argparse_printed() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scratchpack", "--version"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    from scratchpack import __version__

    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"scratchpack {__version__}\n", "")


def test_version_after_another_flag_still_goes_through_argparse() -> None:
    """Only the exact ``scratchpack --version`` skips the parser: argparse still answers the
    other spellings, and what follows the flag is still checked for the rest."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scratchpack", *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    from scratchpack import __version__

    for args in (("--debug", "--version"), ("--version", "lint")):
        proc = run(*args)
        assert (proc.returncode, proc.stdout) == (0, f"scratchpack {__version__}\n"), args
    proc = run("--versio")  # argparse's prefix matching, not ours
    assert (proc.returncode, proc.stdout) == (0, f"scratchpack {__version__}\n")
    proc = run("--version=1")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_help_imports_no_third_party_package() -> None:
    modules = scratchpack_imports("--help")
    assert third_party(modules) - HELP == set()
    assert modules & HEAVY_STDLIB == set()
    for command in ("pack", "lint", "audit"):
        modules = scratchpack_imports(command, "--help")
        assert third_party(modules) - HELP == set(), command


def test_lint_of_one_file_imports_only_the_parsers(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:12\nRUN apt-get update && apt-get install -y curl\nUSER nobody\n"
    )
    modules = scratchpack_imports("lint", "Dockerfile", cwd=tmp_path)
    assert "scratchpack.dockerfile.rules" in modules
    assert third_party(modules) - LINT == set()


# The scratchpack modules `lint FILE` may load (issue 17: one process per file, as pre-commit
# and editors run it): the lint command alone (cli/lint.py), its parser built without every
# other command's, no image model (not even its media types: pack's --compression choices),
# transports or progress; ShellCheck's runner, but not the fixer or the docs.
LINT_MODULES = frozenset({
    # lintserver: the entry point asks a lint server first (an lstat when none runs)
    "scratchpack", "scratchpack.cli", "scratchpack.cli.entry", "scratchpack.cli.visible",
    "scratchpack.cli.lintserver",
    "scratchpack.cli.main", "scratchpack.cli.commands", "scratchpack.cli.flags",
    "scratchpack.cli.lint", "scratchpack.cli.helptext", "scratchpack.cli.options",
    "scratchpack.cli.output", "scratchpack.errors", "scratchpack.credentials",
    "scratchpack.reports", "scratchpack.reports.severity", "scratchpack.operations",
    "scratchpack.operations.lint", "scratchpack.dockerfile", "scratchpack.dockerfile.config",
    "scratchpack.dockerfile.model", "scratchpack.dockerfile.parser",
    "scratchpack.dockerfile.shell", "scratchpack.dockerfile.locations",
    "scratchpack.dockerfile.shellcheck", "scratchpack.dockerfile.shellcheck_cache",
    "scratchpack.cachefiles", "scratchpack.lazyre", "scratchpack.dockerfile.rules",
    "scratchpack.dockerfile.rules.examples",  # the examples of the docs beside the rules
    # regularfile: Dockerfiles and configurations opened only if regular (a FIFO hung lint)
    "scratchpack.regularfile",
    *(f"scratchpack.dockerfile.rules.{family}" for family in (
        "core", "bases", "buildkit", "cache", "correctness", "metadata", "packages",
        "security", "shell", "static",
    )),
})  # fmt: skip
# ... and the standard-library modules it must not (re, subprocess, tempfile and json it needs:
# the rules, the shell grammar and ShellCheck's runner; dataclasses and inspect cost 15-30 ms)
LINT_NOT_STDLIB = frozenset({"dataclasses", "inspect", "hashlib", "ssl", "socket", "http", "email",
                             "logging", "tarfile", "zipfile", "getpass", "traceback",
                             "urllib.request", "tomllib", "concurrent.futures"})  # fmt: skip


def test_lint_of_one_file_loads_only_the_lint_command(tmp_path: Path) -> None:
    """A real `python -X importtime -m scratchpack lint Dockerfile`: no module of another
    command (audit, build, login, signing, progress bars...), no image model, and none of the
    standard library that only they need; a new import on this path fails here, naming it."""
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:12 AS build\n"
        "RUN apt-get update && apt-get install -y curl && echo $x\n"
        "FROM scratch\nCOPY --from=build /usr/bin/curl /curl\nUSER 1\n"
    )
    (tmp_path / ".dockerignore").write_text(".git\n")
    modules = scratchpack_imports("lint", "Dockerfile", cwd=tmp_path)
    assert "scratchpack.dockerfile.shellcheck" in modules  # the check observes the whole path
    ours = {m for m in modules if m.split(".")[0] == "scratchpack"}
    assert ours - LINT_MODULES == set()
    assert {
        m for m in modules if m.split(".")[0] in LINT_NOT_STDLIB or m in LINT_NOT_STDLIB
    } == set()


# command -> the module that adds its parser and holds its handler (cli/commands.py)
COMMAND_MODULES = {name: f"scratchpack.cli.{module}" for name, (module, _) in COMMANDS.items()}
# ... and the other commands' modules a command may load: the shared flags that live in one
# (pack, copy and build take sign's --sign/--sbom/--provenance; compare, scan's --db), not
# their parsers
BORROWED = {"pack": {"signing"}, "copy": {"signing"}, "build": {"signing"}, "compare": {"scan"}}


def others(command: str) -> set[str]:
    """The modules of the commands ``command`` has nothing to do with."""
    own = {COMMAND_MODULES[command]} | {f"scratchpack.cli.{m}" for m in BORROWED.get(command, ())}
    return set(COMMAND_MODULES.values()) - own


def test_lint_of_one_file_imports_no_other_commands_module(tmp_path: Path) -> None:
    """Whatever modules commands are added in later: a one-file lint loads lint's own module
    (the check can fail: it is seen) and none of another command's."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY app /app\nUSER 1\n")
    modules = scratchpack_imports("lint", "Dockerfile", cwd=tmp_path)
    assert "scratchpack.cli.lint" in modules
    assert modules & others("lint") == set()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_imports_its_own_module_alone(command: str) -> None:
    """``scratchpack CMD --help`` builds CMD's parser only, from CMD's module only."""
    modules = scratchpack_imports(command, "--help")
    assert COMMAND_MODULES[command] in modules
    assert modules & others(command) == set()


def test_help_imports_every_command_and_lists_it() -> None:
    """The whole parser for ``--help``: every command's module, every command listed once."""
    modules = scratchpack_imports("--help")
    assert set(COMMAND_MODULES.values()) <= modules
    listed = run_cli("--help").stdout
    for command in COMMANDS:
        assert len(re.findall(rf"^  {re.escape(command)} ", listed, re.MULTILINE)) == 1, command


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("bin") / "hello"
    source = ROOT / "examples/hello/hello.c"
    subprocess.run([*static_cc(), "-o", str(binary), str(source)], check=True)
    return binary


def test_pack_and_copy_to_oci_do_not_import_the_http_stack(hello: Path, tmp_path: Path) -> None:
    """Neither httpx (nor, through httpx's CLI, click, pygments and rich) for local work."""
    modules = scratchpack_imports(
        "pack", str(hello), "-o", f"oci:{tmp_path}/a:1", "--format", "json", cwd=tmp_path
    )
    assert "scratchpack.operations.pack" in modules
    assert third_party(modules) - LOCAL_PACK_AND_COPY == set()
    modules = scratchpack_imports(
        "copy", f"oci:{tmp_path}/a:1", f"oci:{tmp_path}/b:1", "-q", cwd=tmp_path
    )
    assert "scratchpack.operations.copy" in modules
    assert third_party(modules) - LOCAL_PACK_AND_COPY == set()
    assert (tmp_path / "b/index.json").is_file()


def test_httpx_is_imported_without_its_command_line_client() -> None:
    """The registry path loads httpx but not httpx._main (click, pygments, rich) nor the
    zstandard decoder httpx would load."""
    code = (
        "import sys\n"
        "from scratchpack.transports.registry.client import RegistryClient\n"
        "assert 'httpx' in sys.modules\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}\n"
        "             & {'click', 'pygments', 'rich', 'zstandard'}))\n"
        # the guard is gone once httpx is imported: httpx._main stays importable by others
        "assert sys.modules.get('httpx._main', 'absent') == 'absent'\n"
        "import zstandard\n"  # and zstd layers still work
        "assert zstandard.ZstdCompressor is not None\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_a_bare_static_pack_imports_no_package_database_reader(hello: Path, tmp_path: Path) -> None:
    """With nothing from the host to record (``--tz none --no-certs``), a static ``pack``
    reads no dpkg status: python-debian and the charset_normalizer it loads (0.2 s of a
    0.5 s pack, issue 17) stay out, as does the HTTP stack."""
    modules = scratchpack_imports(
        "pack", str(hello), "-o", f"oci:{tmp_path}/bare:1", "--tz", "none", "--no-certs", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert "scratchpack.operations.pack" in modules
    assert (tmp_path / "bare/index.json").is_file()
    assert third_party(modules) - LOCAL_PACK_AND_COPY == set()


# The scratchpack modules a `copy oci: docker://` may load (issue 17: a no-op re-push is almost
# all start-up): the copy command's parser alone (cli.signing, which cmd_copy imports), the image
# model, the two transports and the registry client; no other command, no progress renderer
# with -q, not the other transports' dispatch nor the layer reader's read-ahead thread (both
# imported where they are used, 2026-12-02). What the HTTP stack needs is allowed (httpx and
# what it loads), nothing else.
REGISTRY_COPY_MODULES = frozenset({
    "scratchpack", "scratchpack.cli", "scratchpack.cli.entry", "scratchpack.cli.visible",
    "scratchpack.cli.main",
    "scratchpack.cli.commands", "scratchpack.cli.flags", "scratchpack.cli.buildflags",
    "scratchpack.cli.copy",
    "scratchpack.cli.format", "scratchpack.cli.helptext", "scratchpack.cli.options",
    "scratchpack.cli.output", "scratchpack.cli.signing", "scratchpack.errors",
    "scratchpack.units", "scratchpack.progress", "scratchpack.fsutil", "scratchpack.httpclient",
    "scratchpack.regularfile",  # fsutil's readers of named files
    "scratchpack.model", "scratchpack.model.mediatypes", "scratchpack.model.digest",
    "scratchpack.model.descriptor", "scratchpack.model.limits", "scratchpack.model.manifest",
    "scratchpack.model.config", "scratchpack.model.image", "scratchpack.model.reference",
    "scratchpack.model.decoding", "scratchpack.operations", "scratchpack.operations.copy",
    "scratchpack.transports", "scratchpack.transports.oci_layout", "scratchpack.transports.names",
    "scratchpack.transports.preflight",
    "scratchpack.transports.registry", "scratchpack.transports.registry.auth",
    "scratchpack.transports.registry.transport", "scratchpack.transports.registry.client",
    "scratchpack.transports.registry.repository",
})  # fmt: skip
REGISTRY_COPY = PARSER | {"msgspec", "typing_extensions", "httpx", "httpcore", "h11", "idna",
                          "certifi", "anyio", "sniffio",
                          # reported as a failed import: httpclient keeps httpx from loading it
                          # (test_httpx_is_imported_without_its_command_line_client)
                          "zstandard"}  # fmt: skip
# ... and the standard-library modules a re-push does not need: a thread pool (with logging's
# start-up, were httpx not loading it) only when blobs move, a subprocess only for a credential
# helper, getpass only to open a signing key, queue only to read a layer's content ahead
REGISTRY_COPY_NOT_STDLIB = frozenset({"concurrent", "subprocess", "getpass", "tarfile", "zipfile",
                                      "tomllib", "asyncio", "gzip", "zlib_ng",
                                      "queue"})  # fmt: skip


def test_a_repush_to_a_registry_loads_only_the_copy_path(
    hello: Path, tmp_path: Path, registry: str
) -> None:
    """A real `python -X importtime -m scratchpack copy -q oci:... docker://...` to a
    repository that holds the image already (the no-op re-push of issue 17): a new import on
    this path, a module of another command or the whole parser, fails here, naming it."""
    layout = f"oci:{tmp_path}/a:1"
    subprocess.run(
        [sys.executable, "-m", "scratchpack", "pack", str(hello), "-o", layout, "-q"],
        cwd=tmp_path, check=True,
    )  # fmt: skip
    dest = f"docker://{registry}/startup/repush-{uuid.uuid4().hex[:12]}:1"  # a new one
    first = scratchpack_imports("copy", "-q", layout, dest, cwd=tmp_path)
    assert "concurrent.futures" in first  # the check can fail: a first push needs the pool
    modules = scratchpack_imports("copy", "-q", layout, dest, cwd=tmp_path)
    assert "scratchpack.transports.registry.repository" in modules  # the whole path was seen
    ours = {m for m in modules if m.split(".")[0] == "scratchpack"}
    assert ours - REGISTRY_COPY_MODULES == set()
    assert third_party(modules) - REGISTRY_COPY == set()
    assert {m for m in modules if m.split(".")[0] in REGISTRY_COPY_NOT_STDLIB} == set()


QUICK_EXIT_WRAPPER = (
    "import atexit, sys\n"
    "class Probe:\n"
    "    def __del__(self): sys.stderr.write('torn down\\n')\n"
    "probe = Probe()\n"
    "atexit.register(lambda: print('atexit handler ran', file=sys.stderr))\n"
    "sys.argv[0] = 'scratchpack'\n"
    "from scratchpack.cli.entry import run\n"
    "run()\n"
)


def test_a_copy_ends_without_teardown_but_with_its_output_and_exit_handlers(
    hello: Path, tmp_path: Path
) -> None:
    """After ``copy`` the process ends with ``os._exit`` (the interpreter's teardown was a
    quarter of a no-op re-push, issue 17): no module is torn down (a global's ``__del__``
    never runs, as it does after ``--version``), yet its JSON summary still arrives whole
    through a pipe, an ``atexit`` handler still runs (and what it prints arrives), the exit
    code is the command's, and the layout is complete; a failing copy keeps its message and
    code."""
    layout = f"oci:{tmp_path}/a:1"
    subprocess.run(
        [sys.executable, "-m", "scratchpack", "pack", str(hello), "-o", layout, "-q"],
        cwd=tmp_path, check=True,
    )  # fmt: skip
    wrapped = [sys.executable, "-c", QUICK_EXIT_WRAPPER]
    done = subprocess.run(
        [*wrapped, "copy", "-q", "--format", "json", layout, f"oci:{tmp_path}/b:1"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["digest"].startswith("sha256:")
    assert done.stderr.strip() == "atexit handler ran"
    assert (tmp_path / "b/index.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    failed = subprocess.run(
        [*wrapped, "copy", "-q", f"oci:{tmp_path}/missing:1", f"oci:{tmp_path}/c:1"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert failed.returncode != 0
    assert "missing" in failed.stderr and failed.stderr.endswith("atexit handler ran\n")
    other = subprocess.run([*wrapped, "--version"], capture_output=True, text=True, check=False)
    assert other.returncode == 0 and "torn down" in other.stderr  # the ordinary exit
    # `python -m scratchpack` takes the same way out
    main = (Path(__file__).parents[1] / "src/scratchpack/__main__.py").read_text()
    assert "run()" in main


ORDINARY_EXIT_WRAPPER = (
    "import sys\n"
    "sys.argv[0] = 'scratchpack'\n"
    "from scratchpack.cli.entry import main\n"
    "raise SystemExit(main())\n"
)


def _verified_layout(layout: Path) -> str:
    """The layout's manifest digest, once every blob it names hashed to its digest and size."""
    index = json.loads((layout / "index.json").read_bytes())
    (top,) = index["manifests"]

    def read(descriptor: dict[str, object]) -> bytes:
        algorithm, _, hexdigest = str(descriptor["digest"]).partition(":")
        data = (layout / "blobs" / algorithm / hexdigest).read_bytes()
        assert hashlib.sha256(data).hexdigest() == hexdigest and len(data) == descriptor["size"]
        return data

    manifest = json.loads(read(top))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        read(descriptor)
    return str(top["digest"])


def test_a_pack_ends_without_teardown_and_its_images_are_whole(
    big_static: Path, tmp_path: Path
) -> None:
    """After ``pack`` too the process ends with ``os._exit`` (the teardown was ~8% of a 5 MB
    static pack's CPU, issue 17): no module torn down, the ``atexit`` handler run, the JSON
    summary whole; and what it wrote is complete: every blob of the oci: layout hashes to its
    digest, which is the digest an ordinary exit's pack of the same input gives (the layer's
    compression threads, the background layer and the fsyncs were all joined: else the exit
    would have been the ordinary one), a docker-archive:'s layers are its config's diff_ids,
    --digestfile holds the digest, no staging is left; a failing pack keeps its message."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
    wrapped = [sys.executable, "-c", QUICK_EXIT_WRAPPER]
    done = subprocess.run(
        [*wrapped, "pack", str(big_static), "-o", f"oci:{tmp_path}/quick:1", "--format", "json",
         "--digestfile", str(tmp_path / "digest"), "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "atexit handler ran"  # no "torn down": the quick exit
    digest = json.loads(done.stdout)["digest"]
    assert _verified_layout(tmp_path / "quick") == digest == (tmp_path / "digest").read_text()
    subprocess.run(
        [sys.executable, "-c", ORDINARY_EXIT_WRAPPER, "pack", str(big_static),
         "-o", f"oci:{tmp_path}/ordinary:1", "-q"],
        cwd=tmp_path, env=env, check=True,
    )  # fmt: skip
    assert _verified_layout(tmp_path / "ordinary") == digest

    archive = tmp_path / "big.tar"
    done = subprocess.run(
        [*wrapped, "pack", str(big_static), "-o", f"docker-archive:{archive}:big:1", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr.strip() == "atexit handler ran", done.stderr
    with tarfile.open(archive) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        layers = [tar.extractfile(name).read() for name in entry["Layers"]]  # type: ignore[union-attr]
    assert entry["RepoTags"] == ["big:1"]
    diff_ids = config["rootfs"]["diff_ids"]
    assert [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers] == diff_ids
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left

    failed = subprocess.run(
        [*wrapped, "pack", str(tmp_path / "missing"), "-o", f"oci:{tmp_path}/c:1", "-q"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert failed.returncode != 0
    assert "missing" in failed.stderr and failed.stderr.endswith("atexit handler ran\n")
    assert not (tmp_path / "c").exists()


# What `pack` of a static binary to oci: may import (issue 17: a 5 MB static pack at buildah's
# speed, where process start-up is most of the time): the pack command's own parser and
# modules, the image model (not its decoder), the oci: writer, the essentials, dpkg's lists;
# not the ELF library (the headers say "static"), the dynamic path (libraries, closure,
# glibc), the probe, the provenance, the registry client or any other command's modules.
# glibcfiles is the constants table essentials (zoneinfo) and elf (the watched symbols) read:
# standard library only, no logic of the dynamic path.
STATIC_PACK_MODULES = frozenset({
    "scratchpack", "scratchpack.cli", "scratchpack.cli.entry", "scratchpack.cli.visible",
    "scratchpack.cli.format",
    "scratchpack.cli.commands", "scratchpack.cli.flags", "scratchpack.cli.pack",
    "scratchpack.cli.helptext", "scratchpack.cli.main", "scratchpack.cli.options",
    "scratchpack.cli.output", "scratchpack.cli.probe", "scratchpack.cli.progress",
    "scratchpack.cli.buildflags", "scratchpack.debian", "scratchpack.debian.control",
    "scratchpack.debian.installed", "scratchpack.debian.unowned", "scratchpack.cachefiles",
    "scratchpack.errors", "scratchpack.fsutil", "scratchpack.regularfile", "scratchpack.layers",
    "scratchpack.layers.compress", "scratchpack.layers.readahead", "scratchpack.layers.tarwriter",
    "scratchpack.model", "scratchpack.model.config", "scratchpack.model.descriptor",
    "scratchpack.model.digest", "scratchpack.model.image",
    "scratchpack.model.limits", "scratchpack.model.manifest", "scratchpack.model.mediatypes",
    "scratchpack.model.reference", "scratchpack.operations", "scratchpack.operations.elf",
    "scratchpack.operations.essentials", "scratchpack.operations.glibcfiles",
    "scratchpack.operations.pack", "scratchpack.operations.pack.binary",
    "scratchpack.operations.pack.core",
    "scratchpack.operations.pack.pyoptions", "scratchpack.progress", "scratchpack.transports",
    "scratchpack.transports.dispatch", "scratchpack.transports.names",
    "scratchpack.transports.oci_layout", "scratchpack.transports.preflight", "scratchpack.units",
})  # fmt: skip
# zlib-ng compresses; msgspec is not loaded: pack decodes no document (it builds its own)
STATIC_PACK = frozenset({"zlib_ng"})
# ... and the same with the default essentials: the host's dpkg status is read by
# debian/control.py, not python-debian (42 ms with charset_normalizer and email, issue 17)
STATIC_PACK_RECORDED = STATIC_PACK
# The standard library a static pack must not load: the thread pool (and its logging),
# subprocess (only --strip and --check run programs), the network and e-mail parsing.
STATIC_PACK_NOT_STDLIB = frozenset({"concurrent.futures", "logging", "subprocess", "socket",
                                    "ssl", "http", "email", "zipfile", "tomllib"})  # fmt: skip


@pytest.fixture(scope="module")
def big_static(hello: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static hello with 5 MB appended: still a static ELF that runs, and a layer of
    twenty gzip chunks (the threaded path of layers/compress.py)."""
    binary = tmp_path_factory.mktemp("big") / "big"
    binary.write_bytes(hello.read_bytes() + bytes(range(256)) * (5_000_000 // 256))
    binary.chmod(0o755)
    assert subprocess.run([str(binary)], capture_output=True, check=False).returncode == 0
    return binary


@pytest.mark.parametrize("which", ["hello", "big"])
@pytest.mark.parametrize("essentials", ["bare", "default"])
def test_a_static_pack_imports_only_what_it_uses(
    which: str, essentials: str, hello: Path, big_static: Path, tmp_path: Path
) -> None:
    """A real `python -X importtime -m scratchpack pack STATIC -o oci:...`: exactly the
    modules above may load, so a new import on this path fails here, naming it."""
    binary = hello if which == "hello" else big_static
    bare = ["--tz", "none", "--no-certs"] if essentials == "bare" else []
    modules = scratchpack_imports(
        "pack", str(binary), "-o", f"oci:{tmp_path}/img:1", "-q", *bare, cwd=tmp_path
    )
    assert (tmp_path / "img/index.json").is_file()  # the check observed a whole pack
    ours = {m for m in modules if m.split(".")[0] == "scratchpack"}
    assert "scratchpack.operations.pack.binary" in ours
    assert ours - STATIC_PACK_MODULES == set()
    allowed = STATIC_PACK if essentials == "bare" else STATIC_PACK_RECORDED
    assert third_party(modules) - allowed == set()
    found = {m for m in modules if m in STATIC_PACK_NOT_STDLIB or
             any(m.startswith(f"{name}.") for name in STATIC_PACK_NOT_STDLIB)}  # fmt: skip
    assert found == set()


@pytest.mark.parametrize("essentials", ["bare", "default"])
def test_a_static_gzip_pack_loads_no_control_file_library_nor_zstd(
    essentials: str, big_static: Path, tmp_path: Path
) -> None:
    """Issue 17's case (a 5 MB static binary to oci:, gzip), with and without the essentials'
    dpkg records: python-debian's deb822 and what it drags in (charset_normalizer, email), and
    zstandard (only for --compression zstd), stay out (tests/test_pack_records.py checks the
    records themselves)."""
    bare = ["--tz", "none", "--no-certs"] if essentials == "bare" else []
    modules = scratchpack_imports(
        "pack", str(big_static), "-o", f"oci:{tmp_path}/img:1", "-q", *bare, cwd=tmp_path
    )
    assert (tmp_path / "img/index.json").is_file()  # a whole gzip pack was observed
    assert {"scratchpack.layers.compress", "scratchpack.debian.control"} <= modules
    tops = {m.split(".")[0] for m in modules}
    assert tops & {"debian", "charset_normalizer", "email", "zstandard"} == set()


# The dataclasses a static pack still builds at import (issue 17: ~0.5 ms each, and the
# `dataclasses` + `inspect` import they need, ~8 ms): the image model's, shared by every
# command, the layer entry and pack's options (`dataclasses.replace` by their callers). The
# rest of the path uses NamedTuples and plain classes; a new dataclass there fails here.
STATIC_PACK_DATACLASSES = frozenset({
    "scratchpack.model.digest.Digest", "scratchpack.model.descriptor.Platform",
    "scratchpack.model.descriptor.Descriptor", "scratchpack.model.manifest.Manifest",
    "scratchpack.model.manifest.Index", "scratchpack.model.config.HistoryEntry",
    "scratchpack.model.config.ImageConfig", "scratchpack.model.image.Layer",
    "scratchpack.model.image.Image", "scratchpack.model.reference.Reference",
    "scratchpack.layers.tarwriter.Entry", "scratchpack.operations.pack.core.PackOptions",
})  # fmt: skip


def test_a_static_pack_builds_only_the_known_dataclasses() -> None:
    """Every class ``@dataclass`` processes while the static pack's modules are imported
    (those of the bench's import floor): only the ones above."""
    code = (
        "import dataclasses\n"
        "seen = []\n"
        "real = dataclasses._process_class\n"
        "def spy(cls, *args):\n"
        "    seen.append(f'{cls.__module__}.{cls.__qualname__}')\n"
        "    return real(cls, *args)\n"
        "dataclasses._process_class = spy\n"
        "import scratchpack.cli.main, scratchpack.cli.progress, scratchpack.cli.pack\n"
        "import scratchpack.operations.pack.binary, scratchpack.transports.oci_layout\n"
        "print('\\n'.join(seen))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    built = set(proc.stdout.split())
    assert "scratchpack.model.digest.Digest" in built  # the spy saw the path
    assert built - STATIC_PACK_DATACLASSES == set()
