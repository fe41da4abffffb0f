"""``pack DIR`` of a Python project: its wheels on a minimal CPython from Debian packages,
``FROM scratch``, proven by the app's own tests run inside before the image is written.

Three layers: the essentials (as every ``pack``), the runtime (the interpreter, the standard
library modules the app imports or CPython imports at start-up, byte-compiled, the ELF
closure of the interpreter and of every kept extension module, glibc's NSS modules, and a
``status.d`` record of each Debian package a kept file comes from), and the app (the
site-packages pip installed, pruned, plus a launcher for its console script). A new version
of the app changes only the last layer.

``--test CMD`` runs CMD in a *test variant* (the same layers plus one with pytest, the
standard library modules pytest needs and a copy of the project at ``/src``) under podman,
``--read-only --cap-drop ALL --network none`` as the run user; the image is written only if it
passes. ``--trace`` first runs the same command in a variant holding the whole standard library
with a ``sitecustomize`` that writes ``sys.modules`` at exit to a bind-mounted file, and keeps
every standard library module it saw that pytest itself does not explain.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scratchpack import progress
from scratchpack.debian.installed import DpkgDatabase, write_md5sums
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import scratch_directory
from scratchpack.layers.compress import CompressedBlob
from scratchpack.layers.tarwriter import LayerContents, normalize_path, source_date_epoch
from scratchpack.model.descriptor import Platform
from scratchpack.operations.build import host_arch
from scratchpack.operations.closure import ClosureFinder
from scratchpack.operations.essentials import NSSWITCH, EssentialsReport, add_essentials
from scratchpack.operations.pack.core import (
    DEFAULT_PATH_ENV,
    AddSpec,
    PackOptions,
    PackResult,
    add_path,
    assemble_image,
    compression_for,
    deliver,
    layer_summaries,
    record_host_packages,
    result_of,
    rfc3339,
    staging_near,
    write_layer_blob,
)
from scratchpack.operations.pack.libraries import library_layer
from scratchpack.operations.pack.pyapp import (
    LEFTOVERS,
    EntryPoint,
    Project,
    entry_point,
    install,
    install_packages,
    lock_files,
    prune,
)
from scratchpack.operations.pack.pyimports import names_in_files, python_files
from scratchpack.operations.pack.pyoptions import PythonOptions
from scratchpack.operations.pack.pyruntime import (
    INTERPRETER,
    NEVER,
    PY_VERSION,
    SITE_PACKAGES,
    Runtime,
    Stdlib,
    fetch_runtime,
)
from scratchpack.operations.provenance import Input, deb_inputs, file_input, wheel_inputs
from scratchpack.transports.dispatch import write_image
from scratchpack.transports.names import ImageName, parse_image_name
from scratchpack.transports.preflight import check_destination

PLATFORM = Platform("linux", "amd64")
LAUNCHERS = "usr/local/bin"
TEST_PACKAGES = ["pytest"]
_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
TRACE_HOOK = b"""\
import atexit, sys

def _scratchpack_trace():
    with open("/trace/modules", "w") as out:
        out.write("\\n".join(sorted(sys.modules)))

atexit.register(_scratchpack_trace)
"""


def pip_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scratchpack" / "pip"


def pack_python(options: PackOptions, extra: PythonOptions) -> PackResult:
    """Pack the Python project in ``options.binary`` (a directory) into scratch."""
    _refuse_binary_options(options)
    if extra.trace and options.test is None:
        raise UsageError("--trace runs the --test command: give --test CMD too")
    project = Project.read(options.binary)
    entry = entry_point(project, options.entrypoint)
    check_destination(options.destination, force=options.force)
    if options.platform is not None and options.platform != PLATFORM:
        raise UsageError(
            f"--platform {options.platform}: Python projects are packed for "
            f"{PLATFORM} (the machine's Debian architecture)"
        )
    if host_arch() != "amd64":
        raise UsageError(
            f"packing a Python project runs the image's interpreter here, so it "
            f"needs an amd64 machine (this one is {host_arch()})"
        )
    compression = compression_for(options)
    created = rfc3339(source_date_epoch())
    with scratch_directory(staging_near(options.destination)) as scratch:
        runtime = fetch_runtime(scratch)
        site = runtime.root / SITE_PACKAGES
        site.mkdir(parents=True)
        with progress.step(f"installing {project.name}'s wheels with pip", unit="steps"):
            (scratch / "wheels").mkdir()
            reports = install(project, site, scratch / "wheels", pip_cache())
            prune(site)
        inputs: list[Input] = []
        if options.record_inputs:  # while the reports and the built wheel still exist
            locks = [file_input(path, path.name) for path in lock_files(project.directory)]
            inputs = [*locks, *wheel_inputs(reports), *deb_inputs(runtime.planned)]
        _check_entry(site, entry)
        stdlib = Stdlib.scan(runtime.root)
        essentials, report_essentials = _essentials_layer(options)
        for name in extra.keep_modules:
            if name not in stdlib.modules:
                raise UsageError(
                    f"--keep-module {name}: no such module in Python "
                    f"{PY_VERSION}'s standard library"
                )
        seeds = runtime.startup_modules() | {entry.module.split(".")[0], "encodings"}
        seeds |= names_in_files(python_files(site))
        kept = _stdlib_closure(stdlib, seeds, set(extra.keep_modules))
        if options.test is not None:
            tests = _TestKit(runtime, stdlib, scratch, options, created, essentials)
            if extra.trace:
                kept = tests.trace(kept, entry, extra, project.directory)
            tests.run(kept, entry, extra, project.directory)
        layers = _production_layers(
            runtime, stdlib, kept, entry, essentials, extra.no_sources, options.adds
        )
        blob_dir = scratch / "blobs"
        blob_dir.mkdir()
        blobs = [
            write_layer_blob(
                layer,
                blob_dir,
                compression,
                options.level,
                f"writing layer {n}/{len(layers)} ({name})",
            )
            for n, (name, layer) in enumerate(layers, start=1)
        ]
        config = _config(options, entry, created, blobs, _workdir(options), layers)
        image = assemble_image(config, blobs, blob_dir, created, options.annotations)
        written, probed = deliver(options, image, scratch)
    summaries = layer_summaries(layers, blobs)
    report = {
        "python": PY_VERSION,
        "entrypoint": config["config"]["Entrypoint"],
        "stdlib_modules": sorted(kept),
        "stdlib_available": len(stdlib.modules),
        "packages": _distributions(layers[-1][1]),
        "tested": " ".join(options.test.command) if options.test is not None else None,
    }
    return result_of(
        written,
        image,
        summaries,
        probed,
        platform=str(PLATFORM),
        compression=compression,
        binary=str(options.binary),
        binary_size=summaries[-1].uncompressed_size,
        linkage="python",
        essentials=report_essentials,
        app=report,
        inputs=tuple(inputs),
    )


def _refuse_binary_options(options: PackOptions) -> None:
    given = [
        flag
        for flag, used in (
            ("--root", options.root != Path("/")),
            ("--from", options.from_image is not None),
            ("--add-lib", bool(options.add_libs)),
            ("--locale", bool(options.locales)),
            ("--allow-dynamic", options.allow_dynamic),
            ("--strip", options.strip),
            ("--binary-path", options.binary_dest is not None),
            ("--base", options.base is not None),
            ("--gconv", options.gconv != "auto"),
        )
        if used
    ]
    if given:
        raise UsageError(f"{', '.join(given)} go with packing a binary, not a Python project")


def _check_entry(site: Path, entry: EntryPoint) -> None:
    parts = entry.module.split(".")
    base = site.joinpath(*parts)
    if not (
        base.with_suffix(".py").is_file()
        or (base / "__init__.py").is_file()
        or base.is_dir()
        or any(base.parent.glob(f"{parts[-1]}.*.so"))
    ):
        raise UsageError(
            f"entry point module {entry.module} is not among the installed "
            "packages: is it part of the project's wheel?"
        )


def _stdlib_closure(stdlib: Stdlib, seeds: set[str], forced: set[str]) -> set[str]:
    """The standard library names reachable from ``seeds`` through imports; ``NEVER`` names
    only when ``--keep-module`` forces them."""
    kept: set[str] = set()
    queue = sorted(n for n in seeds | forced if n in stdlib.modules)
    while queue:
        name = queue.pop()
        if name in kept or (name in NEVER and name not in forced):
            continue
        kept.add(name)
        found = names_in_files(_without_tests(stdlib.sources(name)))
        queue.extend(n for n in found if n in stdlib.modules and n not in kept)
    return kept


def _without_tests(paths: Iterable[Path]) -> list[Path]:
    return [p for p in paths if not _TEST_DIRS & set(p.parts[-4:-1])]


def _stdlib_files(stdlib: Stdlib, names: Iterable[str]) -> list[str]:
    return [
        p
        for name in sorted(names)
        for p in stdlib.modules[name]
        if not _TEST_DIRS & set(p.split("/")[3:-1])
    ]


def _runtime_layer(
    runtime: Runtime, stdlib: Stdlib, names: set[str], no_sources: bool, site: Path | None
) -> LayerContents:
    """The interpreter, the kept modules (byte-compiled), the ELF closure of the interpreter
    and of every extension module (the kept ones, and the app's under ``site``), and a
    ``status.d`` record of each package a file comes from."""
    root = runtime.root
    layer, _report = library_layer(
        root,
        root / INTERPRETER.lstrip("/"),
        INTERPRETER,
        NSSWITCH,
        stdlib.extensions(names),
        root_name="the CPython packages",
    )
    layer.add_file(
        INTERPRETER,
        source=root / INTERPRETER.lstrip("/"),
        mode=0o555,
        origin="the CPython packages",
    )
    layer.add_symlink("usr/bin/python3", f"python{PY_VERSION}")
    if site is not None:
        _add_closure(layer, root, site)
    files = [p for p in _stdlib_files(stdlib, names) if not p.endswith(".so")]
    sources = [root / p for p in files if p.endswith(".py")]
    runtime.compile(sources, legacy=no_sources)
    for path in files:
        if path.endswith(".py"):
            compiled = _compiled(path, no_sources)
            _add_from_root(layer, root, compiled)
            if no_sources:
                continue
        _add_from_root(layer, root, path)
    _add_records(layer, runtime)
    return layer


def _compiled(path: str, legacy: bool) -> str:
    if legacy:
        return path + "c"
    parent, _, name = path.rpartition("/")
    return f"{parent}/__pycache__/{name[:-3]}.cpython-{PY_VERSION.replace('.', '')}.pyc"


def _add_from_root(layer: LayerContents, root: Path, path: str) -> None:
    source = root / path
    if path in layer:
        return
    if source.is_symlink():
        layer.add_symlink(path, str(source.readlink()))
    elif source.is_file():
        executable = source.stat().st_mode & 0o111 and not path.endswith((".py", ".pyc"))
        layer.add_file(
            path, source=source, mode=0o555 if executable else 0o444, origin="the CPython packages"
        )


def _add_closure(layer: LayerContents, root: Path, site: Path) -> None:
    """The system libraries the app's extension modules (and their vendored ``*.libs``)
    need, found in the runtime's root; one it lacks is an error naming it."""
    finder = ClosureFinder(root)
    inside = "/" + site.relative_to(root).as_posix()
    for so in sorted(site.rglob("*.so*")):
        if not so.is_file() or so.is_symlink() or ".so" not in so.name:
            continue
        closure = finder.find("/" + so.relative_to(root).as_posix())
        if closure.missing:
            missing = ", ".join(
                f"{n} (needed by {by})" for n, by in sorted(closure.missing.items())
            )
            raise ScratchpackError(
                f"{so.relative_to(site)}: the image's Debian runtime lacks {missing}"
            )
        for path, target in closure.entries():
            if path.startswith(inside + "/") or normalize_path(path) in layer:
                continue
            if target is not None:
                layer.add_symlink(path, target)
            else:
                _add_from_root(layer, root, normalize_path(path))


def _add_records(layer: LayerContents, runtime: Runtime) -> None:
    """A ``status.d`` paragraph and ``.md5sums`` (of the files kept) per package a kept file
    comes from; byte-compiled ``.pyc`` files are no package's."""
    packages = sorted({runtime.owners[p] for p in layer.paths() if p in runtime.owners})
    for name in packages:
        layer.add_file(
            f"var/lib/dpkg/status.d/{name}", data=runtime.status[name].encode(), mode=0o444
        )
    write_md5sums(layer, lambda entry: runtime.owners.get(entry.path))


def _app_layer(site: Path, entry: EntryPoint, no_sources: bool, runtime: Runtime) -> LayerContents:
    """The installed packages, byte-compiled, and the console script's launcher."""
    layer = LayerContents()
    runtime.compile(python_files(site), legacy=no_sources)
    add_site(layer, site, no_sources)
    if entry.function is not None:
        launcher = f"#!{INTERPRETER}\n".encode() + entry.launcher()
        layer.add_file(f"{LAUNCHERS}/{entry.name}", data=launcher, mode=0o555, origin="launcher")
    return layer


def add_site(layer: LayerContents, site: Path, no_sources: bool) -> None:
    """A site-packages tree staged at ``site`` into ``layer`` at :data:`SITE_PACKAGES`."""
    for path in sorted(site.rglob("*")):
        dest = f"{SITE_PACKAGES}/{path.relative_to(site).as_posix()}"
        if path.is_symlink():
            layer.add_symlink(dest, str(path.readlink()))
        elif path.is_dir():
            layer.add_dir(dest)
        elif no_sources and path.suffix == ".py" and path.with_suffix(".pyc").is_file():
            continue
        else:
            executable = path.stat().st_mode & 0o111 and ".so" in path.name
            layer.add_file(dest, source=path, mode=0o555 if executable else 0o444, origin="pip")


def _essentials_layer(options: PackOptions) -> tuple[LayerContents, EssentialsReport]:
    layer = LayerContents()
    report = add_essentials(
        layer,
        options.user,
        _workdir(options),
        certs=options.certs,
        ca_bundle=options.ca_bundle,
        tz=options.tz,
        zoneinfo=options.zoneinfo,
    )
    report.packages = record_host_packages(layer, LayerContents(), DpkgDatabase(options.dpkg_root))
    return layer, report


def _production_layers(
    runtime: Runtime,
    stdlib: Stdlib,
    kept: set[str],
    entry: EntryPoint,
    essentials: LayerContents,
    no_sources: bool,
    adds: list[AddSpec],
) -> list[tuple[str, LayerContents]]:
    site = runtime.root / SITE_PACKAGES
    app = _app_layer(site, entry, no_sources, runtime)
    for spec in adds:
        add_path(app, spec, essentials)
    return [
        ("essentials", essentials),
        (f"python {PY_VERSION}", _runtime_layer(runtime, stdlib, kept, no_sources, site)),
        ("app", app),
    ]


def _workdir(options: PackOptions) -> str:
    return options.workdir or ("/" if options.user.is_root else options.user.home)


def _entrypoint(entry: EntryPoint) -> list[str]:
    if entry.function is None:
        return [INTERPRETER, "-m", entry.module]
    return [INTERPRETER, f"/{LAUNCHERS}/{entry.name}"]


def _config(
    options: PackOptions,
    entry: EntryPoint,
    created: str,
    blobs: list[CompressedBlob],
    workdir: str,
    layers: list[tuple[str, LayerContents]],
    command: list[str] | None = None,
) -> dict[str, Any]:
    env = [DEFAULT_PATH_ENV, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "LANG=C.UTF-8"]
    given = {e.partition("=")[0] for e in options.env}
    env = [e for e in env if e.partition("=")[0] not in given] + options.env
    container: dict[str, Any] = {
        "User": options.user.spec,
        "Env": env,
        "Entrypoint": command or _entrypoint(entry),
        "WorkingDir": "/" + normalize_path(workdir),
    }
    if options.cmd and command is None:
        container["Cmd"] = options.cmd
    for item in options.expose:
        container.setdefault("ExposedPorts", {})[item] = {}
    if options.labels:
        container["Labels"] = dict(sorted(options.labels.items()))
    return {
        "created": created,
        "architecture": PLATFORM.architecture,
        "os": PLATFORM.os,
        "config": container,
        "rootfs": {"type": "layers", "diff_ids": [str(b.diff_id) for b in blobs]},
        "history": [
            {"created": created, "created_by": f"scratchpack pack: {name}"} for name, _ in layers
        ],
    }


def _distributions(layer: LayerContents) -> dict[str, str]:
    found = {}
    for path in layer.paths():
        directory = path.rpartition("/")[0].rpartition("/")[2]
        if path.endswith("/METADATA") and directory.endswith(".dist-info"):
            name, _, version = directory[: -len(".dist-info")].partition("-")
            found[name] = version
    return dict(sorted(found.items()))


class _TestKit:
    """The test variant: built, written to an OCI layout in the scratch directory, run."""

    def __init__(
        self,
        runtime: Runtime,
        stdlib: Stdlib,
        scratch: Path,
        options: PackOptions,
        created: str,
        essentials: LayerContents,
    ) -> None:
        self.runtime, self.stdlib, self.scratch = runtime, stdlib, scratch
        self.options, self.created, self.essentials = options, created, essentials
        assert options.test is not None  # a kit is made for --test only
        self.command = list(options.test.command)
        self.timeout = options.test.timeout  # --check-timeout, as for Node's --test and --check
        self.podman = shutil.which("podman")
        if self.podman is None:
            raise UsageError(
                "--test runs the app's tests in the image with podman: install "
                "podman (apt-get install podman) or leave --test out"
            )
        self.site = scratch / "test-site"
        with progress.step("installing pytest for the test variant", unit="steps"):
            install_packages(TEST_PACKAGES, self.site, pip_cache())
            prune(self.site)
        self.tool_names = names_in_files(python_files(self.site))
        self.runs = 0

    def trace(
        self, kept: set[str], entry: EntryPoint, extra: PythonOptions, project: Path
    ) -> set[str]:
        """Run the tests with the whole standard library and a tracing ``sitecustomize``;
        the kept set plus every standard module the run imported that pytest does not."""
        every = {n for n in self.stdlib.modules if n not in NEVER}
        trace_dir = self.scratch / "trace"
        trace_dir.mkdir()
        trace_dir.chmod(0o777)
        self._run(kept, every - kept, entry, extra, project, trace_dir)
        try:
            seen = (trace_dir / "modules").read_text().split()
        except OSError:
            raise ScratchpackError(
                "--trace: the traced run wrote no module list (did the test command run Python?)"
            ) from None
        tool = _stdlib_closure(self.stdlib, self.tool_names, set())
        found = {n.split(".")[0] for n in seen} & set(self.stdlib.modules)
        added = found - kept - tool - NEVER
        return _stdlib_closure(self.stdlib, kept | added, set(extra.keep_modules))

    def run(self, kept: set[str], entry: EntryPoint, extra: PythonOptions, project: Path) -> None:
        tool = _stdlib_closure(self.stdlib, self.tool_names, set())
        self._run(kept, tool - kept, entry, extra, project, None)

    def _run(
        self,
        kept: set[str],
        more: set[str],
        entry: EntryPoint,
        extra: PythonOptions,
        project: Path,
        trace_dir: Path | None,
    ) -> None:
        self.runs += 1
        layers = _production_layers(
            self.runtime,
            self.stdlib,
            kept,
            entry,
            self.essentials,
            extra.no_sources,
            self.options.adds,
        )
        test = LayerContents()
        add_site(test, self.site, no_sources=False)
        for path in _stdlib_files(self.stdlib, more):
            _add_from_root(test, self.runtime.root, path)
        finder_paths = self.stdlib.extensions(more)
        if finder_paths:
            libs, _ = library_layer(
                self.runtime.root,
                self.runtime.root / INTERPRETER.lstrip("/"),
                INTERPRETER,
                NSSWITCH,
                finder_paths,
            )
            present = {p for _, layer in layers for p in layer.paths()}
            for entry_ in libs.entries():
                if entry_.path not in present and entry_.path not in test:
                    test.add(entry_)
        _add_project(test, project)
        if trace_dir is not None:
            test.add_file(f"{SITE_PACKAGES}/sitecustomize.py", data=TRACE_HOOK, mode=0o444)
        layers.append(("test", test))
        blob_dir = self.scratch / f"test-blobs-{self.runs}"
        blob_dir.mkdir()
        blobs = [
            write_layer_blob(layer, blob_dir, "none", None, f"test variant: layer {name}")
            for name, layer in layers
        ]
        config = _config(
            self.options, entry, self.created, blobs, "/src", layers, command=self.command
        )
        config["config"]["Env"].append("PYTEST_ADDOPTS=-p no:cacheprovider")
        image = assemble_image(config, blobs, blob_dir, self.created, {})
        # an archive (podman's parser refuses an oci: path with a dot-directory in it)
        layout = parse_image_name(
            f"docker-archive:{self.scratch / f'test-{self.runs}.tar'}:"
            f"localhost/scratchpack-test:{self.runs}"
        )
        write_image(layout, image)
        what = "traced run" if trace_dir is not None else "test"
        with progress.step(
            f"--test: running {' '.join(self.command)} in the image ({what})", unit="steps"
        ):
            code, output = self._podman(layout, trace_dir)
        if code != 0:
            sys.stderr.write(output if output.endswith("\n") else output + "\n")
            raise ScratchpackError(
                f"--test failed (exit {code}) in the test variant of the "
                "image, so it was not written; its output is above"
            )

    def _podman(self, layout: ImageName, trace_dir: Path | None) -> tuple[int, str]:
        assert self.podman is not None
        pulled = subprocess.run(
            [self.podman, "pull", "-q", str(layout)], capture_output=True, text=True, check=False
        )
        if pulled.returncode != 0:
            raise ScratchpackError(
                f"--test: podman cannot load the test variant: {pulled.stderr.strip()}"
            )
        image_id = pulled.stdout.strip().splitlines()[-1]
        import secrets  # here: it loads random, which only a --test run needs

        name = f"scratchpack-test-{secrets.token_hex(6)}"
        args = [
            self.podman,
            "run",
            "--rm",
            "--name",
            name,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--network",
            "none",
            "--user",
            self.options.user.spec,
        ]
        if trace_dir is not None:
            args += ["-v", f"{trace_dir}:/trace:rw,z"]
        timeout = self.timeout
        try:
            proc = subprocess.run(
                [*args, image_id], capture_output=True, text=True, check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            # killed by name, as the probe does: the podman client dying leaves the container
            for command in (["kill", name], ["rm", "--force", name]):
                subprocess.run([self.podman, *command], capture_output=True, check=False,
                               timeout=120)  # fmt: skip
            return 124, f"--test: the command ran for more than {timeout:g} s (--check-timeout)\n"
        finally:
            subprocess.run([self.podman, "rmi", "-f", image_id], capture_output=True, check=False)
        return proc.returncode, proc.stdout + proc.stderr


def _add_project(layer: LayerContents, project: Path) -> None:
    """The project's tree at ``/src`` (its tests, their data), without VCS and build
    leftovers."""
    layer.add_dir("src")
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if LEFTOVERS & set(rel.parts) or any(p.endswith(".egg-info") for p in rel.parts):
            continue
        dest = f"src/{rel.as_posix()}"
        if path.is_symlink():
            continue
        if path.is_dir():
            layer.add_dir(dest)
        elif path.is_file():
            layer.add_file(dest, source=path, mode=0o444, origin="the project")
