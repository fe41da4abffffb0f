"""``pack DIR`` of a Node project: Debian's node with its ELF closure, the app's production
dependencies from ``npm ci``, pruned, in three layers over scratch.

* **Runtime** (one layer, reused by every app): ``/usr/bin/node`` from Debian bookworm's
  ``nodejs`` (fetched by ``debroot.py``: signatures and hashes checked, cached), its loader and
  ``DT_NEEDED`` closure (libnode, libuv, OpenSSL, ICU, c-ares, brotli, nghttp2, zlib... as
  ``closure.py`` finds them in the unpacked root) and the few JavaScript files Debian's libnode
  loads as built-ins (``/usr/share/nodejs/...``, named in libnode itself). Nothing of npm,
  corepack, headers, docs or man pages. Each Debian package a file comes from is recorded in
  ``status.d``.
* **App**: the project under ``/app`` (never ``.git``, ``.npmrc``, its tests) and
  ``node_modules`` from ``npm ci --omit=dev --ignore-scripts`` run in a scratch copy with a
  clean environment (install scripts run only with ``--allow-scripts``: they are code from
  every dependency, run on this machine), then pruned (``prune.py``). Native addons left
  (``*.node``) have their ``DT_NEEDED`` closed over in the runtime's root.
* ``ENTRYPOINT ["/usr/bin/node", "/app/<main>"]``, ``NODE_ENV=production``, the run user
  (65532), root-owned read-only files: the image runs with ``--read-only``.

``--test CMD`` runs the app's tests inside the image before anything is written: a test
variant (the same layers plus one with the project's tests and the lock's dev-only packages,
from a second ``npm ci``) runs CMD under podman like ``--check``; the production image is
written only if it passes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scratchpack.debian.index import cache_dir
from scratchpack.debian.installed import DpkgDatabase, owned_files, write_records
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import scratch_directory
from scratchpack.layers.compress import CompressedBlob
from scratchpack.layers.tarwriter import Entry, LayerContents, source_date_epoch
from scratchpack.model.descriptor import Platform
from scratchpack.operations.essentials import NSSWITCH, add_essentials
from scratchpack.operations.pack.core import (
    DEFAULT_PATH_ENV,
    PackOptions,
    PackResult,
    add_path,
    assemble_image,
    check_overlap,
    compression_for,
    deliver,
    layer_summaries,
    result_of,
    rfc3339,
    staging_near,
    write_layer_blob,
)
from scratchpack.operations.pack.debroot import DebRoot, unpack_packages
from scratchpack.operations.pack.icudata import TOOL_PACKAGES, ReducedIcu, reduce_icu
from scratchpack.operations.pack.libraries import library_layer
from scratchpack.operations.pack.prune import PruneReport, is_test_path, prune_modules
from scratchpack.operations.probe import ProbeSpec, check_or_refuse
from scratchpack.operations.provenance import Input, deb_inputs, file_input, npm_inputs
from scratchpack.transports.preflight import check_destination

NODE = "/usr/bin/node"
APP = "app"  # the project's directory in the image
LOCKS = ("package-lock.json", "npm-shrinkwrap.json")
NEVER_COPIED = frozenset({".git", ".npmrc", "node_modules", ".env"})  # credentials, history
_BUILTIN_JS = re.compile(rb"/usr/share/nodejs/[A-Za-z0-9@._/-]+\.js")
NPM_TIMEOUT = 900.0
# what npm needs from the caller's environment to reach its registry, nothing else
_PASSED_ENV = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
               "npm_config_registry", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")  # fmt: skip


@dataclass(frozen=True)
class NodeProject:
    directory: Path
    manifest: dict[str, Any]
    lock: str
    entry: str  # relative to the project

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.directory.resolve().name)


def read_project(directory: Path, entrypoint: list[str] | None) -> NodeProject:
    """The project's package.json, its lock file and its entry point (``main``, else the one
    ``bin``; ``--entrypoint`` replaces the whole command)."""
    manifest_path = directory / "package.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{directory}: no package.json, not a Node project") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"{manifest_path}: not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise UsageError(f"{manifest_path}: must hold a JSON object")
    lock = next((name for name in LOCKS if (directory / name).is_file()), None)
    if lock is None:
        raise UsageError(
            f"{directory} has no package-lock.json (or npm-shrinkwrap.json): pack installs "
            "exactly a lock's versions; make one with `npm install --package-lock-only`"
        )
    _refuse_locked_links_out(directory, lock)
    entry = _entry(manifest)
    if entry is not None and (entry == ".." or entry.startswith("../")):
        raise UsageError(f"{manifest_path}: its entry point {entry} is outside the project")
    if entrypoint is None:
        if entry is None:
            raise UsageError(
                f"{manifest_path} names no entry point (main, or a single bin): give "
                '--entrypoint \'["/usr/bin/node", "/app/server.js"]\''
            )
        if not (directory / entry).is_file() and not (directory / f"{entry}.js").is_file():
            raise UsageError(f"{manifest_path}: its entry point {entry} does not exist")
    return NodeProject(directory, manifest, lock, entry or "")


def _entry(manifest: dict[str, Any]) -> str | None:
    main = manifest.get("main")
    if isinstance(main, str) and main.strip():
        return os.path.normpath(main).lstrip("/")
    binaries = manifest.get("bin")
    if isinstance(binaries, str):
        return os.path.normpath(binaries).lstrip("/")
    if isinstance(binaries, dict) and len(binaries) == 1:
        (value,) = binaries.values()
        if isinstance(value, str):
            return os.path.normpath(value).lstrip("/")
    return None


def pack_node(options: PackOptions) -> PackResult:
    check_destination(options.destination, force=options.force)
    project = read_project(options.binary, options.entrypoint)
    if options.platform is not None and (options.platform.os, options.platform.architecture) != (
        "linux",
        "amd64",
    ):
        raise UsageError("pack of a Node project makes linux/amd64 images (the host's npm)")
    platform = Platform("linux", "amd64")
    compression = compression_for(options)
    created = rfc3339(source_date_epoch())
    workdir = f"/{APP}"
    with scratch_directory(staging_near(options.destination)) as scratch:
        # --icu-locales: ICU's and binutils' tools join the scratch root, never the image
        tools = TOOL_PACKAGES if options.icu_locales else ()
        runtime = unpack_packages(("nodejs", *tools), scratch)
        # gconv: node converts text with ICU, never iconv; only libstdc++'s codecvt names
        # iconv_open, which `auto` would answer with all 247 modules (8 MB). --gconv still
        # brings them for an addon that needs them.
        gconv = "none" if options.gconv == "auto" else options.gconv
        libs, libraries = library_layer(
            runtime.root, runtime.root / NODE.lstrip("/"), NODE, NSSWITCH, options.add_libs,
            gconv, tuple(options.locales), root_name="Debian nodejs",
        )  # fmt: skip
        _add_node(libs, runtime)
        icu = None
        if options.icu_locales:
            icu = reduce_icu(runtime.root, scratch / "icu", options.icu_locales)
            _use_reduced_icu(libs, icu)
        essentials = LayerContents()
        report = add_essentials(essentials, options.user, workdir, certs=options.certs,
                                ca_bundle=options.ca_bundle, tz=options.tz,
                                zoneinfo=options.zoneinfo)  # fmt: skip
        app, tests, pruned = _app_layers(project, scratch, options.allow_scripts)
        inputs: list[Input] = []
        if options.record_inputs:
            lock = project.directory / project.lock
            inputs = [file_input(lock, project.lock), *npm_inputs(lock),
                      *deb_inputs(runtime.plan.packages)]  # fmt: skip
        if options.test is not None:
            _add_dev_dependencies(tests, project, scratch, options.allow_scripts)
        for spec in options.adds:
            add_path(app, spec, essentials)
        _close_addons(app, libs, runtime)
        check_overlap(libs, essentials, "a runtime file")
        check_overlap(app, essentials, "an app file")
        host = DpkgDatabase(options.dpkg_root)
        recorded = owned_files(essentials, host, ("ca-certificates", "tzdata"))
        write_records(essentials, recorded, os_release=host.os_release())
        debian = runtime.record(libs)
        report.packages = {n: p.version for n, p in sorted(recorded.packages.items())}
        report.packages.update({n: runtime.packages[n].version for n in debian})
        contents = [("essentials", essentials), ("node runtime", libs), ("app", app)]
        blob_dir = scratch / "blobs"
        blob_dir.mkdir()
        layers = [
            write_layer_blob(
                layer,
                blob_dir,
                compression,
                options.level,
                f"writing layer {n}/{len(contents)} ({name})",
            )
            for n, (name, layer) in enumerate(contents, start=1)
        ]
        entrypoint = options.entrypoint or [NODE, f"/{APP}/{project.entry}"]
        config = _config(options, platform, created, layers, entrypoint, workdir, project)
        image = assemble_image(config, layers, blob_dir, created, options.annotations)
        if options.test is not None:
            _run_tests(options, options.test, config, layers, tests, blob_dir, created, scratch)
        written, probed = deliver(options, image, scratch)
    return result_of(
        written,
        image,
        layer_summaries(contents, layers),
        probed,
        platform=str(platform),
        compression=compression,
        binary=str(options.binary),
        binary_size=layers[-1].uncompressed_size,
        linkage=f"node project {project.name} ({pruned.summary()}{_icu_note(icu)})",
        essentials=report,
        libraries=replace(libraries, files=len(libs.entries())),
        inputs=tuple(inputs),
    )


def _add_node(layer: LayerContents, runtime: DebRoot) -> None:
    """The node binary and the JavaScript built-ins Debian's libnode reads from
    /usr/share/nodejs (their paths are compiled into libnode: read them from there)."""
    root = runtime.root
    layer.add_file(NODE, source=root / NODE.lstrip("/"), mode=0o555, origin="Debian nodejs")
    libnode = next(root.glob("usr/lib/*/libnode.so.*"), None)
    if libnode is None:
        raise ScratchpackError("Debian's nodejs has no libnode.so: the package set changed")
    for match in sorted(set(_BUILTIN_JS.findall(libnode.read_bytes()))):
        path = match.decode()
        source = root / path.lstrip("/")
        if source.is_file() and path.lstrip("/") not in layer:
            layer.add_file(path, source=source, mode=0o444, origin="Debian nodejs (built-in)")


def _use_reduced_icu(layer: LayerContents, icu: ReducedIcu) -> None:
    """The rebuilt ICU data library in place of Debian's (same path, same soname link); the
    file stays recorded as libicu72's, as the rest of that package is unchanged."""
    path = f"usr/lib/x86_64-linux-gnu/{icu.library.name}"
    old = layer.get(path)
    if old is None or old.kind != "file":
        raise ScratchpackError(f"node's closure has no /{path} to replace with reduced ICU data")
    origin = f"{old.origin}, ICU data for {','.join(icu.kept)} only"
    layer.replace(Entry(path, "file", old.mode, source=icu.library, size=icu.size, origin=origin))


def _icu_note(icu: ReducedIcu | None) -> str:
    if icu is None:
        return ""
    return (f"; ICU data for {','.join(icu.kept)} only: {icu.original_size} -> {icu.size} "
            f"bytes, {icu.dropped_items} locale bundles dropped")  # fmt: skip


def _app_layers(
    project: NodeProject, scratch: Path, allow_scripts: bool
) -> tuple[LayerContents, LayerContents, PruneReport]:
    """The app layer (project + pruned production node_modules) and the tests layer."""
    work = scratch / "project"
    _copy_project(project.directory, work)
    _npm_ci(work, scratch, allow_scripts)
    _refuse_links_out(work)
    modules = work / "node_modules"
    pruned = prune_modules(modules) if modules.is_dir() else PruneReport()
    app, tests = LayerContents(), LayerContents()
    app.add_dir(APP, mode=0o555)
    tests.add_dir(APP, mode=0o555)
    for path in _walk(work):
        rel = path.relative_to(work).as_posix()
        in_modules = rel == "node_modules" or rel.startswith("node_modules/")
        layer = tests if not in_modules and is_test_path(rel) else app
        dest = f"{APP}/{rel}"
        if layer is tests and path.is_dir() and not path.is_symlink():
            tests.add_dir(dest, mode=0o555)
            continue
        if path.is_symlink():
            layer.add_symlink(dest, str(path.readlink()))
        elif path.is_dir():
            layer.add_dir(dest, mode=0o555)
        elif path.is_file():
            executable = path.stat().st_mode & 0o111
            layer.add_file(dest, source=path, mode=0o555 if executable else 0o444,
                           origin=f"the project {project.name}")  # fmt: skip
    return app, tests, pruned


def _walk(top: Path) -> list[Path]:
    """Every path under ``top``, sorted, never following a symlink (a link to ``/`` in a
    project goes in as the link it is)."""
    found: list[Path] = []
    for current, dirs, files in os.walk(top):
        here = Path(current)
        found.extend(here / name for name in (*dirs, *files))
    return sorted(found)


def _copy_project(source: Path, dest: Path) -> None:
    """The project without what must never reach an image or npm's view of it."""

    def ignored(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if name in NEVER_COPIED}

    try:
        shutil.copytree(source, dest, symlinks=True, ignore=ignored)
    except (OSError, shutil.Error) as exc:
        raise ScratchpackError(f"cannot copy {source}: {exc}") from exc


def _refuse_locked_links_out(directory: Path, lock: str) -> None:
    """The lock's links (``"link": true``, a ``file:`` directory) that leave the project,
    refused before anything is fetched: npm ci in pack's scratch copy could not find them, and
    the image could not hold them (:func:`_refuse_links_out` checks what npm made, after)."""
    try:
        packages = json.loads((directory / lock).read_text(encoding="utf-8")).get("packages")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, RecursionError):
        return  # npm ci reports a broken lock in its own words
    for key, value in (packages if isinstance(packages, dict) else {}).items():
        if not (isinstance(value, dict) and value.get("link") is True):
            continue
        resolved = str(value.get("resolved", ""))
        if resolved and not _lexically_inside(directory.absolute() / resolved, directory):
            raise UsageError(_link_out_message(str(key), resolved))


def _lexically_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with ``..`` folded as a link's target is (no link followed), lies in
    ``root``."""
    return Path(os.path.normpath(path)).is_relative_to(Path(os.path.normpath(root.absolute())))


def _link_out_message(rel: str, target: str) -> str:
    return (
        f"{rel} is npm's link to a file: dependency outside the project ({target}): the image "
        "would hold a link to nothing; move the package into the project (a workspace), or "
        "`npm pack` it and depend on the .tgz inside the project"
    )


def _refuse_links_out(work: Path) -> None:
    """npm installs a ``file:`` dependency on a directory as a symbolic link to it. One inside
    the project (a workspace package) is in the image with it; one outside (``file:../lib``)
    would be a link to nothing there, and the app fails at its first ``require``: refused, with
    what to do instead, before any image is written."""
    modules = work / "node_modules"
    for current, dirs, files in os.walk(modules):  # lists links to directories, never enters
        for name in (*dirs, *files):
            path = Path(current, name)
            if not path.is_symlink():
                continue
            target = Path(current) / path.readlink()
            if not _lexically_inside(target, work):
                rel = path.relative_to(work).as_posix()
                # said relative to the project: the copy stands where the project did
                outside = os.path.relpath(os.path.normpath(target), work)
                raise UsageError(_link_out_message(rel, outside))


def npm_cache() -> Path:
    """npm's download cache, beside the Debian one (XDG_CACHE_HOME/scratchpack/npm)."""
    return cache_dir().parent / "npm"


def _add_dev_dependencies(
    tests: LayerContents, project: NodeProject, scratch: Path, allow_scripts: bool
) -> None:
    """``--test``: the lock's dev-only packages (``"dev": true``: test runners, assertion
    libraries), from a second ``npm ci`` with them, into the tests layer; the production
    layers never see them."""
    try:
        lock = json.loads((project.directory / project.lock).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"{project.directory / project.lock}: not valid JSON: {exc}") from None
    packages = lock.get("packages") if isinstance(lock, dict) else None
    dev = sorted(
        key
        for key, value in (packages or {}).items()
        if isinstance(value, dict) and value.get("dev") is True and key.startswith("node_modules/")
    )
    if not dev:
        return
    work = scratch / "project-dev"
    _copy_project(project.directory, work)
    _npm_ci(work, scratch, allow_scripts, dev=True)
    _refuse_links_out(work)
    for key in dev:
        top = work / key
        if not top.is_dir() or top.is_symlink() or ".." in key.split("/"):
            continue
        for path in [top, *_walk(top)]:
            dest = f"{APP}/{path.relative_to(work).as_posix()}"
            if path.is_symlink():
                tests.add_symlink(dest, str(path.readlink()))
            elif path.is_dir():
                tests.add_dir(dest, mode=0o555)
            elif path.is_file() and dest not in tests:
                tests.add_file(dest, source=path, mode=0o444, origin="a devDependency")


def _npm_ci(work: Path, scratch: Path, allow_scripts: bool, dev: bool = False) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ScratchpackError("pack of a Node project runs `npm ci`: install npm (and node)")
    home = scratch / "npm-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "npm_config_cache": str(npm_cache()),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_userconfig": str(home / ".npmrc"),
        "NODE_ENV": "development" if dev else "production",
    }
    for key in _PASSED_ENV:
        if key in os.environ:
            env[key] = os.environ[key]
    argv = [npm, "ci", "--include=dev" if dev else "--omit=dev", "--no-audit", "--no-fund"]
    if not allow_scripts:
        argv.append("--ignore-scripts")
    try:
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ScratchpackError(f"npm ci did not finish in {NPM_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        raise ScratchpackError(f"npm ci failed: {npm_error(proc.stderr, proc.returncode)}")


_NPM_BOILERPLATE = ("A complete log of this run", 'Run "npm help', "code ")


def npm_error(stderr: str, code: int) -> str:
    """What npm said went wrong, in one line: its ``npm error`` lines up to the usage text
    it appends (``Clean install a project``...), without the log-file and help pointers,
    which were all the last lines showed."""
    said: list[str] = []
    for line in stderr.splitlines():
        text = line.removeprefix("npm error").removeprefix("npm ERR!").strip()
        if text in ("Clean install a project", "Usage:"):
            break
        if text and not text.startswith(_NPM_BOILERPLATE):
            said.append(text)
    return "; ".join(said[:4]) or f"exit {code}"


def _close_addons(app: LayerContents, libs: LayerContents, runtime: DebRoot) -> None:
    """Each native addon's libraries, from the runtime's root, into the runtime layer."""
    for entry in app.entries():
        if entry.kind != "file" or not entry.path.endswith(".node") or entry.source is None:
            continue
        layer, _ = library_layer(runtime.root, Path(entry.source), f"/{entry.path}", NSSWITCH, [],
                                 gconv="none", root_name="Debian nodejs")  # fmt: skip
        for found in layer.entries():
            if found.path not in libs:
                libs.add(Entry(found.path, found.kind, found.mode, found.uid, found.gid,
                               source=found.source, size=found.size, linkname=found.linkname,
                               origin=f"{found.origin} for {entry.path}"))  # fmt: skip


def _config(
    options: PackOptions,
    platform: Platform,
    created: str,
    layers: list[CompressedBlob],
    entrypoint: list[str],
    workdir: str,
    project: NodeProject,
) -> dict[str, Any]:
    env = {"PATH": DEFAULT_PATH_ENV.split("=", 1)[1], "NODE_ENV": "production"}
    for item in options.env:
        key, _, value = item.partition("=")
        env[key] = value
    container: dict[str, Any] = {
        "User": options.user.spec,
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Entrypoint": entrypoint,
        "WorkingDir": options.workdir or workdir,
    }
    if options.cmd:
        container["Cmd"] = options.cmd
    for item in options.expose:
        container.setdefault("ExposedPorts", {})[item] = {}
    if options.labels:
        container["Labels"] = dict(sorted(options.labels.items()))
    history = ["scratchpack pack: essentials", "scratchpack pack: node runtime (Debian nodejs)",
               f"scratchpack pack: node project {project.name} -> /{APP}"]  # fmt: skip
    return {
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": container,
        "rootfs": {"type": "layers", "diff_ids": [str(blob.diff_id) for blob in layers]},
        "history": [{"created": created, "created_by": text} for text in history],
    }


def _run_tests(
    options: PackOptions,
    spec: ProbeSpec,
    config: dict[str, Any],
    layers: list[CompressedBlob],
    tests: LayerContents,
    blob_dir: Path,
    created: str,
    scratch: Path,
) -> None:
    """The production image plus the tests layer, run with ``--test``'s command (``node``
    means the image's node) as the run user; a failure writes nothing."""
    test_blob = write_layer_blob(tests, blob_dir, "gzip", 1, "writing the test layer")
    test_config = json.loads(json.dumps(config))
    test_config["rootfs"]["diff_ids"].append(str(test_blob.diff_id))
    test_config["history"].append({"created": created, "created_by": "scratchpack pack: tests"})
    command = list(spec.command)
    if command and command[0] == "node":
        command[0] = NODE
    if spec.entrypoint is None and not command:
        raise UsageError("--test needs a command, e.g. 'node --test test/'")
    program = spec.entrypoint or command[:1]
    args = command if spec.entrypoint else command[1:]
    variant = assemble_image(test_config, [*layers, test_blob], blob_dir, created, {})
    user = f"{options.user.uid}:{options.user.gid}"
    refusal = f"the tests failed in the image; {options.destination} was not written"
    check_or_refuse(variant, ProbeSpec(args, program, spec.timeout, user), scratch, refusal)
