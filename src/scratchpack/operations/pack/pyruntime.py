"""The CPython runtime of ``pack DIR`` for a Python project: Debian's interpreter and
standard library, unpacked into a scratch root, run there, and cut down to what the app uses.

The packages come through the same ``debian/`` machinery as ``build`` (signed indexes, sha256
checked downloads, one cache). Everything their ``Depends`` name is unpacked into the scratch
root, but the image gets only what an ELF closure (``closure.py``, inside that root) of the
interpreter and of the kept extension modules reaches, and only the standard library modules
the app imports (``pyimports.py``) or CPython imports at start-up, the latter read from the
root's own interpreter run with ``-X importtime`` rather than from a list that would age.

The root's interpreter is run through the root's own loader (``ld.so --library-path``), so
that what runs is exactly the image's CPython, whatever Python the host has: it reports its
start-up imports and byte-compiles the kept modules, so the ``.pyc`` files always carry the
image's magic number (a host Python of the same minor version would do, but a host of
another version would write files the image ignores, and checking for that buys nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from scratchpack import progress
from scratchpack.debian.deb import Spool, add_merged_usr_links, status_entry, unpack_into
from scratchpack.debian.index import Fetcher
from scratchpack.debian.spec import ImageSpec
from scratchpack.errors import ScratchpackError
from scratchpack.layers.tarwriter import LayerContents
from scratchpack.operations.build import Locked, download_all, host_arch, plan
from scratchpack.operations.closure import ClosureFinder

PY_VERSION = "3.11"
INTERPRETER = f"/usr/bin/python{PY_VERSION}"
STDLIB = f"usr/lib/python{PY_VERSION}"
SITE_PACKAGES = f"usr/local/lib/python{PY_VERSION}/dist-packages"  # on Debian's sys.path
PACKAGES = (
    f"python{PY_VERSION}-minimal",
    f"libpython{PY_VERSION}-minimal",
    f"libpython{PY_VERSION}-stdlib",
)
# only maintainer scripts or tools the image never runs need these
EXCLUDE = ("debconf", "openssl", "awk", "readline-common", "media-types", "mailcap", "tzdata")
# never in an image, whatever imports them: installers, tests, GUIs, the 2to3 tool
NEVER = frozenset(
    {
        "pip",
        "setuptools",
        "ensurepip",
        "test",
        "idlelib",
        "tkinter",
        "turtle",
        "turtledemo",
        "lib2to3",
        "pydoc_data",
        "distutils",
        "venv",
        "sitecustomize",
        "usercustomize",
        "apport_python_hook",
    }
)
_NOT_MODULES = ("config-", "lib-dynload", "site-packages", "dist-packages", "__pycache__")


@dataclass
class Runtime:
    """The unpacked packages: a root to run in and to close over, and who owns each file."""

    root: Path
    owners: dict[str, str] = field(default_factory=dict)  # path in the root -> package
    status: dict[str, str] = field(default_factory=dict)  # package -> status.d paragraph
    versions: dict[str, str] = field(default_factory=dict)
    loader: str = ""
    library_dirs: tuple[str, ...] = ()
    planned: tuple[Locked, ...] = ()  # the resolved packages, with their .debs' sha256

    def run(self, args: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The root's interpreter through the root's loader, with a clean environment."""
        paths = ":".join(str(self.root / d.lstrip("/")) for d in self.library_dirs)
        command = [
            str(self.root / self.loader.lstrip("/")),
            "--library-path",
            paths,
            str(self.root / INTERPRETER.lstrip("/")),
            *args,
        ]
        # a fixed hash seed (marshal writes sets in hash order), and no .pyc written by the
        # imports of compileall itself (timestamp-based: they would carry today's mtimes)
        env = {
            "PYTHONHOME": str(self.root / "usr"),
            "PATH": "/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        try:
            return subprocess.run(
                command,
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ScratchpackError(f"cannot run the image's Python in {self.root}: {exc}") from exc

    def startup_modules(self) -> set[str]:
        """The top-level modules CPython imports before the first line of a program."""
        proc = self.run(["-X", "importtime", "-c", "pass"])
        if proc.returncode != 0:
            raise ScratchpackError(f"the image's Python does not start: {proc.stderr.strip()}")
        names = set()
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                name = line.rsplit("|", 1)[1].strip()
                if name and not name.startswith("import"):
                    names.add(name.split(".")[0])
        return names - NEVER

    def compile(self, files: Iterable[Path], legacy: bool) -> None:
        """Byte-compile ``files`` (in the root) with the image's interpreter, hash-based and
        unchecked so the ``.pyc`` do not depend on mtimes; ``legacy`` writes them beside the
        source (``--no-sources``: a sourceless import reads only those)."""
        listing = "".join(f"{path}\n" for path in files)
        args = [
            "-m",
            "compileall",
            "-q",
            "-i",
            "-",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(self.root),
            "-p",
            "/",
        ]
        if legacy:
            args.append("-b")
        proc = self.run(args, stdin=listing)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise ScratchpackError("byte-compiling failed: " + " | ".join(tail))


def fetch_runtime(scratch: Path, cache_note: str = "") -> Runtime:
    """Resolve, download (checked, cached) and unpack the CPython packages into
    ``scratch/root``."""
    spec = ImageSpec(packages=PACKAGES, exclude=EXCLUDE)
    fetcher = Fetcher()
    try:
        the_plan = plan(spec, fetcher, host_arch())
        debs = download_all(fetcher, the_plan)
    finally:
        fetcher.close()
    layer = LayerContents()
    add_merged_usr_links(layer, the_plan.arch)
    runtime = Runtime(scratch / "root", planned=tuple(the_plan.packages))
    # build's spool: the bodies wait on disk (moved into the root), not in memory
    (scratch / "spool").mkdir()
    spool = Spool(scratch / "spool")
    with progress.step(f"unpacking {len(debs)} packages", len(debs), unit="packages") as task:
        for deb in debs:
            contents = unpack_into(layer, deb, spool=spool)
            for path in contents.files:
                runtime.owners[path] = contents.package
            runtime.status[contents.package] = status_entry(contents)
            runtime.versions[contents.package] = contents.version
            task.advance(1)
        materialize(layer, runtime.root)
    closure = ClosureFinder(runtime.root).find(INTERPRETER)
    if closure.loader is None or closure.missing:
        raise ScratchpackError(
            f"the CPython packages lack what {INTERPRETER} needs: "
            f"{', '.join(sorted(closure.missing)) or 'its loader'}"
        )
    runtime.loader = closure.loader
    runtime.library_dirs = tuple(sorted({p.rpartition("/")[0] for p in closure.libraries.values()}))
    return runtime


def materialize(layer: LayerContents, root: Path) -> None:
    """Write ``layer`` out as a directory tree (the scratch root), files readable and
    writable by us whatever their mode in the package. A spooled body is moved into place
    (the spool is on the same file system), copied only when a second entry shares it."""
    root.mkdir()
    placed: dict[Path, Path] = {}  # spool file -> where it went
    for entry in layer.entries():
        target = root / entry.path
        if entry.kind == "dir":
            target.mkdir(exist_ok=True)
        elif entry.kind == "symlink":
            target.symlink_to(entry.linkname)
        elif entry.kind == "hardlink":
            os.link(root / entry.linkname, target)
        elif entry.source is not None:
            if entry.source in placed:
                shutil.copyfile(placed[entry.source], target)
            else:
                entry.source.rename(target)
                placed[entry.source] = target
            target.chmod((entry.mode & 0o755) | 0o600)
        elif entry.data is not None:
            target.write_bytes(entry.data)
            target.chmod((entry.mode & 0o755) | 0o600)


@dataclass(frozen=True)
class Stdlib:
    """The standard library in the root, by top-level name: each name's files (a module,
    a package's tree, its extension modules in ``lib-dynload``)."""

    root: Path
    modules: dict[str, list[str]]  # top-level name -> paths in the root

    @classmethod
    def scan(cls, root: Path) -> Stdlib:
        base = root / STDLIB
        modules: dict[str, list[str]] = {}
        for item in sorted(base.iterdir()):
            name = item.name
            if name.startswith(_NOT_MODULES) or name.startswith("_sysconfigdata"):
                continue
            if item.is_dir() and not item.is_symlink() and (item / "__init__.py").exists():
                files = [
                    p
                    for p in sorted(item.rglob("*"))
                    if not p.is_dir() and "__pycache__" not in p.parts
                ]
                modules[name] = [f"{STDLIB}/{p.relative_to(base).as_posix()}" for p in files]
            elif name.endswith(".py") and item.is_file() and not item.is_symlink():
                modules[name[:-3]] = [f"{STDLIB}/{name}"]
        for item in sorted((base / "lib-dynload").glob("*.so")):
            name = item.name.split(".", 1)[0]
            modules.setdefault(name, []).append(f"{STDLIB}/lib-dynload/{item.name}")
        sysconfig = [f"{STDLIB}/{p.name}" for p in sorted(base.glob("_sysconfigdata*.py"))]
        if "sysconfig" in modules:
            modules["sysconfig"] += sysconfig  # imported by a name it computes
        return cls(root, modules)

    def sources(self, name: str) -> list[Path]:
        return [self.root / p for p in self.modules.get(name, ()) if p.endswith(".py")]

    def extensions(self, names: Iterable[str]) -> list[str]:
        return ["/" + p for name in names for p in self.modules.get(name, ()) if p.endswith(".so")]
