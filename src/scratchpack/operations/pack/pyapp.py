"""A Python project as ``pack DIR`` sees it: what it is, how it starts, and its wheels
installed with pip from PyPI for the image's CPython, as users install them.

pip runs as a subprocess of the Python running scratchpack, with a clean environment (no
``PYTHONPATH``, no user site, only ``PATH``, ``HOME``, proxies and ``PIP_*``: the user's
pip configuration, index and certificates are honoured, as when they run pip): ``pip wheel
--no-deps`` builds a copy of the project (its build backend in pip's isolated build
environment), then ``pip install --target`` with
``--only-binary=:all:`` and the image's platform, version, implementation and ABI resolves the
wheels for the image, not for the host. A dependency with no such wheel is an error naming
it: building a source distribution would run its ``setup.py`` for the host's Python and
compiler, which neither matches the image nor is safe to do silently. Downloads are cached in
``$XDG_CACHE_HOME/scratchpack/pip`` (pip's own cache, which pip locks).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.operations.pack.pyruntime import PY_VERSION

MARKERS = ("pyproject.toml", "requirements.txt", "setup.py")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
_PASSED_ENV = (
    "PATH",
    "HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SOURCE_DATE_EPOCH",
)
_DIST_INFO_DROPPED = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
_DROPPED_DIRS = frozenset({"tests", "test", "docs", "__pycache__"})
_DROPPED_SUFFIXES = (".pyi", ".pyc", ".pyo")
# not part of a project's source: VCS, virtual environments, caches, earlier builds
LEFTOVERS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        "build",
        "dist",
        ".tox",
        ".nox",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        "node_modules",
    }
)
_SCRIPT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_python_project(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in MARKERS)


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    scripts: dict[str, str]  # console script name -> MODULE:FUNC
    buildable: bool  # pyproject.toml or setup.py: pip can build it as a wheel
    requirements: Path | None

    @classmethod
    def read(cls, directory: Path) -> Project:
        pyproject = directory / "pyproject.toml"
        name, scripts = directory.name, {}
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError, RecursionError) as exc:
                raise UsageError(f"{pyproject}: not valid TOML: {exc}") from None
            project = data.get("project", {})
            if not isinstance(project, dict):
                raise UsageError(f"{pyproject}: [project] must be a table")
            name = str(project.get("name", name))
            found = project.get("scripts", {})
            if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
                raise UsageError(f"{pyproject}: [project.scripts] must map names to MODULE:FUNC")
            scripts = {str(k): v.strip() for k, v in sorted(found.items())}
        requirements = directory / "requirements.txt"
        return cls(
            directory,
            name,
            scripts,
            pyproject.is_file() or (directory / "setup.py").is_file(),
            requirements if requirements.is_file() else None,
        )


@dataclass(frozen=True)
class EntryPoint:
    """How the image starts the app: a console script (``MODULE:FUNC``, run by a launcher
    file) or ``-m MODULE``."""

    module: str
    function: str | None
    name: str

    def launcher(self) -> bytes:
        """The script ``/usr/local/bin/NAME``, run by the interpreter (no shell)."""
        assert self.function is not None
        obj, _, attr = self.function.partition(".")
        call = f"{obj}.{attr}" if attr else obj
        return (f"import sys\nfrom {self.module} import {obj}\nsys.exit({call}())\n").encode()


def entry_point(project: Project, given: list[str] | None) -> EntryPoint:
    """``--entrypoint MODULE:FUNC`` or ``--entrypoint '-m MODULE'``, else the project's one
    console script; none, or several without a choice, is a usage error."""
    if given:
        if given[0] == "-m" and len(given) == 2:
            return EntryPoint(given[1], None, given[1].rpartition(".")[2])
        if len(given) == 1 and _SCRIPT.match(given[0]):
            module, _, function = given[0].partition(":")
            return EntryPoint(module, function, _scripts_name(project, given[0]))
        if len(given) == 1 and given[0] in project.scripts:
            return _script(project, given[0])
        raise UsageError(
            f"--entrypoint {' '.join(given)!r}: for a Python project say "
            "MODULE:FUNC, '-m MODULE' or a console script's name"
        )
    if not project.scripts:
        raise UsageError(
            f"{project.directory}: no entry point: add [project.scripts] to "
            "pyproject.toml or pass --entrypoint MODULE:FUNC or '-m MODULE'"
        )
    if len(project.scripts) > 1:
        raise UsageError(
            f"{project.directory} has {len(project.scripts)} console scripts "
            f"({', '.join(project.scripts)}): pick one with --entrypoint NAME"
        )
    return _script(project, next(iter(project.scripts)))


def _script(project: Project, name: str) -> EntryPoint:
    target = project.scripts[name].split("[", 1)[0].strip()  # extras are pip's business
    if not _SCRIPT.match(target):
        raise UsageError(f"console script {name} = {target!r} is not MODULE:FUNC")
    module, _, function = target.partition(":")
    return EntryPoint(module, function, name)


def _scripts_name(project: Project, target: str) -> str:
    for name, value in project.scripts.items():
        if value == target:
            return name
    return target.partition(":")[0].rpartition(".")[2]


def pip_environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _PASSED_ENV or k.startswith("PIP_")}
    env.update(
        {
            "PIP_CACHE_DIR": str(cache),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PYTHONNOUSERSITE": "1",
            "LC_ALL": "C.UTF-8",
        }
    )
    return env


def _pip(args: list[str], cache: Path, what: str, cwd: Path | None = None) -> str:
    command = [sys.executable, "-m", "pip", *args]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            env=pip_environment(cache),
            timeout=1800,
            cwd=cwd,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScratchpackError(f"{what}: cannot run pip: {exc}") from exc
    if proc.returncode == 0:
        return proc.stdout
    text = proc.stderr + proc.stdout
    if "No module named pip" in text:
        raise ScratchpackError(
            f"{what}: packing a Python project needs pip beside scratchpack "
            f"({sys.executable} -m ensurepip)"
        )
    unreachable = re.search(r"Could not fetch URL (\S+): (.*)", text)
    if unreachable and "(from versions: none)" in text:
        raise ScratchpackError(
            f"{what}: cannot reach the package index ({unreachable.group(1)}): "
            f"{unreachable.group(2)[:200]}"
        )
    wanted = re.search(r"Could not find a version that satisfies the requirement (\S+)", text)
    if wanted:
        raise ScratchpackError(
            f"{what}: {wanted.group(1)} has no wheel for CPython {PY_VERSION} on "
            f"manylinux x86_64 (only a source distribution, or no such version): pack installs "
            "wheels only; pin a version that publishes wheels or build one and list it"
        )
    if ("hash" in text.lower() and "require-hashes" in text.lower()) or "DO NOT MATCH" in text:
        lines = [line for line in text.splitlines() if line.strip()]
        raise ScratchpackError(f"{what}: hash check failed: {' | '.join(lines[-3:])}")
    last = [line.strip() for line in text.splitlines() if line.strip()][-3:]
    raise ScratchpackError(f"{what}: pip failed: {' | '.join(last)}")


def _for_image(target: Path) -> list[str]:
    """pip's options that pick wheels for the image's CPython and platform, into ``target``."""
    args = ["--only-binary=:all:", "--python-version", PY_VERSION, "--implementation", "cp",
            "--abi", f"cp{PY_VERSION.replace('.', '')}", "--no-compile",
            "--no-warn-script-location", "--target", str(target)]  # fmt: skip
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


def install(project: Project, target: Path, wheels: Path, cache: Path) -> list[Path]:
    """The project's wheels for the image into ``target`` (``pip install --target``); the
    installation reports pip wrote (``--report``: what it resolved, with each archive's
    hash), for the provenance."""
    binary = _for_image(target)
    reports: list[Path] = []

    def report() -> list[str]:
        reports.append(wheels.parent / f"pip-report-{len(reports)}.json")
        return ["--report", str(reports[-1])]

    if project.requirements is not None:
        args = ["install", *binary, *report(), "-r", str(project.requirements)]
        if "--hash=" in project.requirements.read_text(encoding="utf-8", errors="replace"):
            args.append("--require-hashes")
        # from the project's directory, as `pip install -r requirements.txt` is run there: a
        # relative path in it (./wheels/x.whl) is the project's, never the caller's cwd's
        _pip(args, cache, f"installing {project.requirements.name}", cwd=project.directory)
    if not project.buildable:  # requirements.txt alone: the app is the tree's modules
        _copy_modules(project.directory, target)
        return reports
    # a copy: setuptools writes build/ and *.egg-info into the tree it builds
    tree = wheels.parent / "project"
    shutil.copytree(project.directory, tree, symlinks=True, ignore=_copied(project.directory))
    what = f"building {project.name} as a wheel"
    _pip(["wheel", "--no-deps", "-q", "-w", str(wheels), str(tree)], cache, what)
    built = sorted(wheels.glob("*.whl"))
    if not built:
        raise ScratchpackError(f"{what}: pip made no wheel")
    deps = ["--no-deps"] if project.requirements is not None else []
    _pip(["install", *binary, *report(), *deps, *map(str, built)], cache,
         f"installing {project.name}")  # fmt: skip
    return reports


LOCK_FILES = ("requirements.txt", "pylock.toml", "uv.lock", "poetry.lock", "Pipfile.lock")


def lock_files(directory: Path) -> list[Path]:
    """The project's lock (or pinned requirements) files present, for the provenance."""
    return [directory / name for name in LOCK_FILES if (directory / name).is_file()]


def _copy_modules(directory: Path, target: Path) -> None:
    """The top-level modules and packages of a project without a build: beside its wheels."""
    for path in sorted(directory.iterdir()):
        if path.name in LEFTOVERS or path.name in ("tests", "test") or path.is_symlink():
            continue
        if path.is_file() and path.suffix == ".py":
            shutil.copy2(path, target / path.name)
        elif path.is_dir() and (path / "__init__.py").is_file():
            shutil.copytree(path, target / path.name, ignore=_copied(directory))


def _copied(project: Path) -> Callable[[str, list[str]], list[str]]:
    """copytree's ``ignore`` for a copy of ``project``: build leftovers left out, and a
    symlink to outside the project (``app/key -> ~/.ssh/id_rsa``, ``-> /``) or to a
    directory holding it (a loop) refused: a copy that follows links would put the host's
    file in the image, one that keeps them would hand it to the build backend, which
    follows them into the wheel."""
    root = project.resolve()

    def ignore(directory: str, names: list[str]) -> list[str]:
        left_out = [n for n in names if n in LEFTOVERS or n.endswith(".egg-info")]
        for name in sorted(set(names) - set(left_out)):
            link = Path(directory, name)
            if not link.is_symlink():
                continue
            try:
                target = link.resolve()
                inside = target.is_relative_to(root)
                loop = target.is_dir() and link.parent.resolve().is_relative_to(target)
            except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
                target, inside, loop = link.readlink(), False, True
            if not inside or loop:
                raise UsageError(
                    f"{link}: a symlink to {target}, outside the project or around it; "
                    "pack copies only the project's own files"
                )
        return left_out

    return ignore


def install_packages(names: list[str], target: Path, cache: Path) -> None:
    """Extra packages (the test variant's pytest) for the image into ``target``."""
    _pip(["install", *_for_image(target), *names], cache, f"installing {', '.join(names)}")


def prune(site: Path) -> None:
    """What pip leaves that an image does not run: its scripts (written for the host's
    Python), caches, tests and docs inside packages, type stubs, and the install records
    (``RECORD``...); ``METADATA`` stays, so scanners and ``sbom`` see every package."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for path in sorted(site.rglob("*"), key=lambda p: -len(p.parts)):
        rel = path.relative_to(site).parts
        if path.is_dir() and not path.is_symlink():
            if path.name in _DROPPED_DIRS and (len(rel) > 1 or path.name == "__pycache__"):
                shutil.rmtree(path)
        elif (
            path.suffix in _DROPPED_SUFFIXES
            or path.name == "py.typed"
            or (path.parent.name.endswith(".dist-info") and path.name in _DIST_INFO_DROPPED)
        ):
            path.unlink()
