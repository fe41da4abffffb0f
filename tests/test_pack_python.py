"""``pack DIR`` of a Python project: a Flask app with real dependencies from PyPI on a minimal
CPython from Debian packages, its own tests passing inside the image before it is written.

Real everything: Debian's packages (signed indexes, cached under the test cache), pip from
PyPI (its cache there too), podman running the test variant and the image. The app loads a
converter module by a name from a table (``colorsys``), which no import graph sees: without
``--keep-module`` or ``--trace`` the in-image test fails and nothing is written.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    CliResult,
    assert_clean_error,
    decompress,
    dpkg_ownership,
    layout_manifest,
    run_cli,
)
from realtools import CACHE, Runner, free_tcp_port, wait_http

APP = Path(__file__).parent / "data" / "apps" / "flask-app"
XDG = {"XDG_CACHE_HOME": str(CACHE / "xdg"), "SOURCE_DATE_EPOCH": "1700000000"}
TEST = "python3 -m pytest -q tests"
LIMIT = 25_000_000  # bytes, compressed: the target for a Flask app


def pack(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    # --test runs within --check-timeout: a generous one, 2 cores shared by a whole CI run (a
    # later --check-timeout in args wins)
    # the whole pack (pip, the runtime, the probe and the tests) may take longer than one check
    return run_cli("pack", "--check-timeout", "300", *args, env={**(env or {}), **XDG}, timeout=900)


def layer_files(layout: Path, tag: str) -> dict[str, tarfile.TarInfo]:
    """Every path of the image (later layers win) with its tar header."""
    found: dict[str, tarfile.TarInfo] = {}
    for layer in layout_manifest(layout, tag)["layers"]:
        blob = layout / "blobs" / "sha256" / layer["digest"].split(":")[1]
        with tarfile.open(fileobj=io.BytesIO(decompress(blob.read_bytes()))) as tar:
            for member in tar.getmembers():
                found[member.name.removeprefix("./")] = member
    return found


def config_of(layout: Path, tag: str) -> dict[str, Any]:
    digest = layout_manifest(layout, tag)["config"]["digest"].split(":")[1]
    data: dict[str, Any] = json.loads((layout / "blobs" / "sha256" / digest).read_bytes())
    return data


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> Path:
    """The Flask app, tested inside the image, with the module its table names kept."""
    out = tmp_path_factory.mktemp("flask") / "layout"
    result = pack(APP, "-o", f"oci:{out}:1", "--keep-module", "colorsys", "--test", TEST,
                  "--expose", "8080", "--format", "json", env=tool_env)  # fmt: skip
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["app"]["tested"] == TEST
    assert "colorsys" in data["app"]["stdlib_modules"]
    return out


def test_the_image_is_small_minimal_and_non_root(packed: Path) -> None:
    manifest = layout_manifest(packed, "1")
    stored = sum(layer["size"] for layer in manifest["layers"])
    assert stored <= LIMIT, stored
    files = layer_files(packed, "1")
    names = set(files)
    for absent in ("usr/bin/pip", "bin/sh", "usr/bin/sh", "usr/bin/dash", "usr/bin/bash"):
        assert absent not in names
    tops = {
        n.split("/")[4] for n in names if n.startswith("usr/lib/python3.11/") and n.count("/") > 3
    }
    for dropped in ("ensurepip", "idlelib", "tkinter", "lib2to3", "test", "pydoc_data"):
        assert dropped not in tops, dropped
    site = "usr/local/lib/python3.11/dist-packages"
    assert not any(n.startswith((f"{site}/pip/", f"{site}/setuptools/")) for n in names)
    assert not any(n.endswith((".a", ".h", ".pyi", "/RECORD")) for n in names)
    assert f"{site}/flask/__init__.py" in names
    assert f"{site}/flask/__pycache__/__init__.cpython-311.pyc" in names
    assert "usr/lib/python3.11/__pycache__/os.cpython-311.pyc" in names
    # the modules the app never imports stay out, their caches too
    assert not any(n.startswith("usr/lib/python3.11/sqlite3/") for n in names)
    assert "var/lib/dpkg/status.d/libpython3.11-stdlib" in names
    assert "var/lib/dpkg/status.d/libsqlite3-0" not in names  # no kept file needs it
    owners, _ = dpkg_ownership(packed, "1")  # md5sums of the kept files (Syft's ownership)
    assert owners["usr/lib/python3.11/os.py"] == "libpython3.11-minimal.md5sums"
    assert owners["usr/lib/python3.11/json/__init__.py"] == "libpython3.11-stdlib.md5sums"
    assert owners["usr/bin/python3.11"] == "python3.11-minimal.md5sums"
    assert "usr/lib/python3.11/__pycache__/os.cpython-311.pyc" not in owners  # compiled here
    # everything root-owned and read-only, but the run user's home
    writable = [n for n, m in files.items() if m.mode & 0o022 and not m.issym() and n != "tmp"]
    assert writable == []
    config = config_of(packed, "1")["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/usr/bin/python3.11", "/usr/local/bin/flask-app"]
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]
    assert "PYTHONUNBUFFERED=1" in config["Env"]


def test_the_route_answers_when_the_container_runs(packed: Path, podman: Runner) -> None:
    port = free_tcp_port()
    started = podman("run", "-d", "--rm", "--read-only", "--cap-drop", "ALL",
                     "-p", f"127.0.0.1:{port}:8080", f"oci:{packed}:1")  # fmt: skip
    container = started.stdout.decode().strip()
    try:
        body = wait_http(f"http://127.0.0.1:{port}/hello", timeout=30)
        assert json.loads(body) == {"message": "hello", "requests": "2.32.3"}
        color = wait_http(f"http://127.0.0.1:{port}/color?to=hsv&r=0&g=255&b=0")
        assert json.loads(color) == [0.333, 1.0, 1.0]
        user = podman("exec", container, "/usr/bin/python3.11", "-c",
                      "import os; print(os.getuid())")  # fmt: skip
        assert user.stdout.decode().strip() == "65532"
    finally:
        image = podman("inspect", "--format", "{{.Image}}", container, check=False)
        podman("rm", "-f", container, check=False)
        if image.returncode == 0:  # the copy podman made of the layout in its storage
            podman("rmi", "-f", image.stdout.decode().strip(), check=False)


def test_sbom_lists_the_wheels_and_the_debian_packages(packed: Path) -> None:
    result = run_cli("sbom", f"oci:{packed}:1", "-o", "json")
    assert result.code == 0, result.stderr
    text = result.stdout
    for name, version in (("flask", "3.0.3"), ("requests", "2.32.3"), ("flask-app", "0.1.0")):
        assert name in text.lower() and version in text, name
    assert "libpython3.11-stdlib" in text


def test_a_module_only_a_table_names_fails_the_test_and_nothing_is_written(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    out = tmp_path / "layout"
    result = pack(APP, "-o", f"oci:{out}:1", "--test", TEST, env=tool_env)
    # the test's own output (its traceback included) first, then our one error line
    assert result.code == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert [line for line in lines if line.startswith("scratchpack: error:")] == [lines[-1]]
    assert "--test failed" in lines[-1] and "not written" in lines[-1]
    assert "No module named 'colorsys'" in result.stderr
    assert "1 failed, 1 passed" in result.stderr
    assert "site-packages/scratchpack" not in result.stderr  # no traceback of ours
    assert not (out / "index.json").exists()
    assert list(tmp_path.iterdir()) == []  # no layout, no scratch directory left behind


def test_test_is_killed_at_check_timeout_and_nothing_is_written(
    tmp_path: Path, tool_env: dict[str, str], podman: Runner
) -> None:
    """--check-timeout bounds a Python --test as it bounds Node's and every probe (it was a
    fixed 30 minutes): the hanging run is killed, its container removed, nothing written."""
    out = tmp_path / "layout"
    hang = "python3 -c 'import time; time.sleep(3600)'"
    result = pack(APP, "-o", f"oci:{out}:1", "--test", hang, "--check-timeout", "3",
                  env=tool_env)  # fmt: skip
    assert_clean_error(result, 1, "--test failed (exit 124)", "not written")
    assert "ran for more than 3 s (--check-timeout)" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # other runs may share the engine: only this test's command tells its container apart
    left = podman("ps", "-a", "--filter", "name=scratchpack-test-", "--format", "{{.Command}}")
    assert b"time.sleep(3600)" not in left.stdout, left.stdout


def test_trace_keeps_the_dynamic_import_and_packing_is_reproducible(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    first = pack(APP, "-o", f"oci:{tmp_path / 'a'}:1", "--test", TEST, "--trace",
                 "--format", "json", env=tool_env)  # fmt: skip
    assert first.code == 0, first.stderr
    assert "colorsys" in first.json()["app"]["stdlib_modules"]
    keep = [arg for m in first.json()["app"]["stdlib_modules"] for arg in ("--keep-module", m)]
    again = pack(APP, "-o", f"oci:{tmp_path / 'b'}:1", *keep, "--format", "json")
    assert again.code == 0, again.stderr
    assert again.json()["manifest_digest"] == first.json()["manifest_digest"]


def _project(tmp_path: Path, pyproject: str, **files: str) -> Path:
    project = tmp_path / "proj"
    (project / "src" / "proj").mkdir(parents=True)
    (project / "src" / "proj" / "__init__.py").write_text("def main() -> None:\n    print('hi')\n")
    (project / "pyproject.toml").write_text(textwrap.dedent(pyproject))
    for name, text in files.items():
        (project / name).write_text(text)
    return project


MINIMAL = """\
    [build-system]
    requires = ["setuptools>=68"]
    build-backend = "setuptools.build_meta"
    [project]
    name = "proj"
    version = "1.0"
"""


def test_a_project_without_an_entry_point_is_a_usage_error(tmp_path: Path) -> None:
    result = pack(_project(tmp_path, MINIMAL), "-o", f"oci:{tmp_path / 'out'}:1")
    assert_clean_error(result, 2, "no entry point", "--entrypoint")
    assert not (tmp_path / "out").exists()


def test_a_project_that_is_python_and_node_asks_for_kind(tmp_path: Path) -> None:
    project = _project(tmp_path, MINIMAL, **{"package.json": "{}"})
    result = pack(project, "-o", f"oci:{tmp_path / 'out'}:1")
    assert_clean_error(result, 2, "--kind python|node")


def test_bad_pyproject_and_unknown_module_are_usage_errors(tmp_path: Path) -> None:
    broken = _project(tmp_path, "[project\nname = ")
    assert_clean_error(pack(broken, "-o", f"oci:{tmp_path / 'o'}:1"), 2, "not valid TOML")
    other = tmp_path / "other"
    other.mkdir()
    (other / "empty").write_text("")
    assert_clean_error(
        pack(other, "-o", f"oci:{tmp_path / 'o'}:1"), 2, "not a program or a project"
    )
    result = pack(APP, "-o", f"oci:{tmp_path / 'o'}:1", "--keep-module", "no_such_mod")
    assert_clean_error(result, 2, "--keep-module no_such_mod")
    result = pack(APP, "-o", f"oci:{tmp_path / 'o'}:1", "--trace")
    assert_clean_error(result, 2, "--trace", "--test")
    result = pack(APP, "-o", f"oci:{tmp_path / 'o'}:1", "--strip", "--add-lib", "libfoo.so")
    assert_clean_error(result, 2, "--add-lib, --strip", "not a Python project")
    result = pack(APP / "pyproject.toml", "-o", f"oci:{tmp_path / 'o'}:1", "--kind", "python")
    assert_clean_error(result, 2, "--kind python goes with a project directory")
    result = pack(APP, "-o", f"oci:{tmp_path / 'o'}:1", "--entrypoint", "not a module!")
    assert_clean_error(result, 2, "--entrypoint", "MODULE:FUNC")
    assert not (tmp_path / "o").exists()


def test_a_dependency_with_only_an_sdist_is_a_clear_error(tmp_path: Path) -> None:
    """docopt 0.6.2 is published as a source distribution only: pack installs wheels only
    (building it would run its setup.py for the host), and says which one lacks a wheel."""
    project = tmp_path / "req"
    project.mkdir()
    (project / "requirements.txt").write_text("docopt==0.6.2\n")
    (project / "app.py").write_text("import docopt\n")
    result = pack(project, "-o", f"oci:{tmp_path / 'out'}:1", "--entrypoint=-m app")
    assert_clean_error(result, 1, "docopt==0.6.2", "no wheel")
    assert not (tmp_path / "out").exists()


def test_the_import_graph_sees_every_literal_import_and_survives_bad_source() -> None:
    from scratchpack.operations.pack.pyimports import imported_names

    source = textwrap.dedent("""\
        import os.path, json as j
        from email.mime import text
        from . import sibling
        from .pkg import other
        def later():
            import sqlite3
            importlib.import_module("csv")
            __import__("zlib.x")
            importlib.import_module(name)
            importlib.import_module(".relative", "pkg")
        try:
            import tomllib
        except ImportError:
            pass
    """).encode()
    assert imported_names(source) == {"os", "json", "email", "sqlite3", "csv", "zlib", "tomllib"}
    assert imported_names(b"print 'python 2'\n") == set()
    assert imported_names(b"\x00\xff not python") == set()
    assert imported_names(b"import (\n" * 10_000) == set()  # deep nonsense, no RecursionError


def test_no_sources_keeps_only_the_bytecode_and_still_runs(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    out = tmp_path / "layout"
    probe = '["-c", "import flask, requests; print(flask.__name__)"]'
    result = pack(APP, "-o", f"oci:{out}:1", "--no-sources", "--keep-module", "colorsys",
                  "--test", TEST, "--check-entrypoint", "/usr/bin/python3.11", "--check", probe,
                  "--format", "json", env=tool_env)  # fmt: skip
    assert result.code == 0, result.stderr
    check = result.json()["check"]  # the production image itself ran, read-only, before written
    assert check["passed"] and check["argv"][0] == "/usr/bin/python3.11", check
    assert "flask" in check["stdout_tail"]
    names = set(layer_files(out, "1"))
    site = "usr/local/lib/python3.11/dist-packages"
    assert "usr/lib/python3.11/os.pyc" in names and "usr/lib/python3.11/os.py" not in names
    assert f"{site}/flask/app.pyc" in names and f"{site}/flask/app.py" not in names
    assert not any("__pycache__" in n for n in names)


def test_prune_drops_what_pip_leaves_and_keeps_what_runs_and_what_scanners_read(
    tmp_path: Path,
) -> None:
    """The issue asks for no pip, tests, docs or caches in the image: pip's scripts, package
    tests and docs, caches, stubs and install records go; the code, its data, a top-level
    package that happens to be named ``tests`` and the METADATA scanners read stay."""
    from scratchpack.operations.pack.pyapp import prune

    site = tmp_path / "site"
    files = [
        "bin/flask", "pkg/__init__.py", "pkg/data.json", "pkg/py.typed", "pkg/__init__.pyi",
        "pkg/tests/test_pkg.py", "pkg/test/conftest.py", "pkg/docs/index.rst",
        "pkg/__pycache__/__init__.cpython-311.pyc", "pkg/sub/mod.py", "pkg/sub/mod.pyc",
        "pkg/sub/tests/data.txt", "tests/__init__.py",
        "pkg-1.0.dist-info/METADATA", "pkg-1.0.dist-info/RECORD",
        "pkg-1.0.dist-info/INSTALLER", "pkg-1.0.dist-info/REQUESTED",
        "pkg-1.0.dist-info/direct_url.json", "pkg-1.0.dist-info/entry_points.txt",
    ]  # fmt: skip
    for name in files:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(name)
    prune(site)
    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert left == [
        "pkg-1.0.dist-info/METADATA", "pkg-1.0.dist-info/entry_points.txt",
        "pkg/__init__.py", "pkg/data.json", "pkg/sub/mod.py", "tests/__init__.py",
    ]  # fmt: skip


def test_a_requirements_txt_project_without_a_build_runs_from_the_image(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """No pyproject.toml: requirements.txt names the wheels, the tree's modules are the app
    (its tests left out), ``--entrypoint '-m MODULE'`` starts it; ``--check`` runs the image
    itself, read-only, before it is written."""
    project = tmp_path / "req"
    (project / "tests").mkdir(parents=True)
    (project / "requirements.txt").write_text("six==1.16.0\n")
    (project / "app.py").write_text(
        "import sys\n\nimport six\n\nprint('six', six.__version__, *sys.argv[1:])\n"
    )
    (project / "tests" / "test_app.py").write_text("def test_nothing():\n    pass\n")
    out = tmp_path / "layout"
    result = pack(project, "-o", f"oci:{out}:1", "--entrypoint=-m app", "--check", "hello",
                  "--format", "json", env=tool_env)  # fmt: skip
    assert result.code == 0, result.stderr
    check = result.json()["check"]
    assert check["passed"] and check["stdout_tail"] == "six 1.16.0 hello\n", check
    config = config_of(out, "1")["config"]
    assert config["Entrypoint"] == ["/usr/bin/python3.11", "-m", "app"]
    names = set(layer_files(out, "1"))
    site = "usr/local/lib/python3.11/dist-packages"
    assert f"{site}/six.py" in names and f"{site}/app.py" in names, sorted(names)[-20:]
    assert not any(n.endswith("test_app.py") for n in names)


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("app/leak.txt", "{secret}"),  # a host file, absolute
        ("app/data/leak.txt", "../../../secret.txt"),  # relative, climbing out
        ("app/root", "/"),  # a directory: the whole host
        ("app/up", ".."),  # around itself: a copy that follows it never ends
    ],
)
def test_a_symlink_out_of_the_project_is_refused_and_nothing_is_written(
    tmp_path: Path, tool_env: dict[str, str], link: str, target: str
) -> None:
    """A hostile project's symlink must not carry a host file into the image: the copy of a
    project without a build followed links (``app/leak.txt -> /etc/shadow`` was in the
    image, with the file's bytes), and a build backend follows the ones a copy keeps."""
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    project = tmp_path / "proj"
    (project / "app" / "data").mkdir(parents=True)
    (project / "requirements.txt").write_text("\n")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "__main__.py").write_text("print('hi')\n")
    (project / link).symlink_to(target.format(secret=secret))
    out = tmp_path / "layout"
    result = pack(project, "-o", f"oci:{out}:1", "--entrypoint=-m app", env=tool_env)
    assert_clean_error(result, 2, f"{project / link}: a symlink to", "outside the project")
    assert not out.exists()
    # with pyproject.toml the copy keeps links for the build backend: refused all the same
    (project / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\n')
    result = pack(project, "-o", f"oci:{out}:1", "--entrypoint=-m app", env=tool_env)
    assert_clean_error(result, 2, f"{project / link}: a symlink to")
    assert not out.exists()


def test_a_symlink_inside_the_project_is_followed(tmp_path: Path, tool_env: dict[str, str]) -> None:
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "shared.txt").write_text("shared\n")
    (project / "requirements.txt").write_text("\n")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "__main__.py").write_text("print('hi')\n")
    (project / "app" / "shared.txt").symlink_to("../shared.txt")
    out = tmp_path / "layout"
    result = pack(project, "-o", f"oci:{out}:1", "--entrypoint=-m app", env=tool_env)
    assert result.code == 0, result.stderr
    assert "usr/local/lib/python3.11/dist-packages/app/shared.txt" in layer_files(out, "1")


def _wheel(path: Path, name: str, module: str) -> None:
    """A pure-Python wheel of one module, made by hand (no build backend, no index)."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": module,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }

    def digest(text: str) -> str:
        raw = hashlib.sha256(text.encode()).digest()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    record = "".join(f"{n},sha256={digest(t)},{len(t.encode())}\n" for n, t in files.items())
    with zipfile.ZipFile(path, "w") as archive:
        for entry, text in {**files, f"{info}/RECORD": record + f"{info}/RECORD,,\n"}.items():
            archive.writestr(entry, text)


def test_a_relative_path_in_requirements_is_the_projects_not_the_callers_cwd(
    tmp_path: Path, tool_env: dict[str, str]
) -> None:
    """``./wheels/x.whl`` in requirements.txt means the project's wheels directory, as for
    `pip install -r requirements.txt` run in the project: pip ran in the caller's directory,
    so the same command found another file, or none, depending on where it was typed."""
    project = tmp_path / "proj"
    (project / "wheels").mkdir(parents=True)
    _wheel(project / "wheels" / "greet-1.0-py3-none-any.whl", "greet", "WORD = 'project'\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "wheels").mkdir(parents=True)
    _wheel(elsewhere / "wheels" / "greet-1.0-py3-none-any.whl", "greet", "WORD = 'caller'\n")
    (project / "requirements.txt").write_text("./wheels/greet-1.0-py3-none-any.whl\n")
    (project / "app.py").write_text("import greet\n\nprint(greet.WORD)\n")
    out = tmp_path / "layout"
    result = run_cli("pack", "--check-timeout", "300", project, "-o", f"oci:{out}:1",
                     "--entrypoint=-m app", "--check", "hi", "--format", "json",
                     env={**tool_env, **XDG}, cwd=elsewhere, timeout=900)  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.json()["check"]["stdout_tail"] == "project\n"
