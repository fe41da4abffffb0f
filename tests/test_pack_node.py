"""``pack DIR`` of a Node project (tests/data/apps/node-app: express + bufferutil's prebuilt
native addon) on real npm, real Debian packages and real podman: the app's own tests pass in
the image before it is written, the HTTP route answers in a running container, the image has
node and no npm or shell, node_modules is pruned (docs, tests, other platforms' binaries)
without breaking the app, the Debian and npm packages are visible to sbom, two packs give one
digest; a missing lock, a failing test and a pruned file the app needs fail clearly and write
nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import (
    CliResult,
    assert_clean_error,
    blob,
    dpkg_ownership,
    layer_members,
    layout_manifest,
    run_cli,
)
from realtools import CACHE, Runner, need, wait_http

APP = Path(__file__).parent / "data" / "apps" / "node-app"
# .debs, indexes and npm's cache, kept across runs
ENV = {"XDG_CACHE_HOME": str(CACHE / "xdg"), "SOURCE_DATE_EPOCH": "1700000000"}
TEST = "node --test test/"


def pack(project: Path, dest: str, *extra: str) -> CliResult:
    # a generous probe timeout: 2 cores shared by a whole CI run
    return run_cli("pack", project, "-o", dest, "--format", "json", "--check-timeout", "300",
                   *extra, env=ENV, timeout=900)  # fmt: skip


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, podman: Runner) -> dict[str, Any]:
    need("npm", "pack of a Node project runs npm ci")
    out = tmp_path_factory.mktemp("node") / "app"
    result = pack(APP, f"oci:{out}:v1", "--test", TEST, "--check-entrypoint", "/usr/bin/node",
                  "--check", '["-e", "require(\\"/app/src/app.js\\"); console.log(\\"ok\\")"]',
                  "--expose", "8080")  # fmt: skip
    assert result.code == 0, result.stderr
    report: dict[str, Any] = result.json()
    report["layout"] = out
    return report


def _files(layout: Path) -> dict[str, Any]:
    manifest = layout_manifest(layout, "v1")
    found: dict[str, Any] = {}
    for layer in manifest["layers"]:
        for member in layer_members(layout, layer["digest"]):
            found[member.name.removeprefix("./")] = member
    return found


def test_the_image_runs_the_app_as_nonroot_and_the_route_answers(
    packed: dict[str, Any], podman: Runner, free_port: int, unique_name: str
) -> None:
    assert packed["check"]["passed"] is True and packed["check"]["stdout_tail"] == "ok\n"
    config = json.loads(
        blob(packed["layout"], layout_manifest(packed["layout"], "v1")["config"]["digest"])
    )
    container = config["config"]
    assert container["Entrypoint"] == ["/usr/bin/node", "/app/src/server.js"]
    assert "NODE_ENV=production" in container["Env"]
    assert container["User"] == "65532:65532"
    podman("run", "-d", "--rm", "--name", unique_name, "--read-only", "--cap-drop", "ALL",
           "-p", f"127.0.0.1:{free_port}:8080", f"oci:{packed['layout']}:v1")  # fmt: skip
    try:
        body = json.loads(wait_http(f"http://127.0.0.1:{free_port}/", timeout=30))
        assert body["node"].startswith("v18.")
        masked = httpx.get(f"http://127.0.0.1:{free_port}/mask/abcd", timeout=5).json()
        assert masked == {"masked": "60606060", "native": True}  # the addon, not the fallback
    finally:
        podman("rm", "--force", unique_name, check=False)


def test_node_without_npm_shell_or_docs_and_node_modules_pruned(packed: dict[str, Any]) -> None:
    files = _files(packed["layout"])
    assert "usr/bin/node" in files
    assert any(name.startswith("usr/lib/x86_64-linux-gnu/libnode.so") for name in files)
    assert "usr/share/nodejs/undici/undici-fetch.js" in files  # a built-in Debian's node loads
    for absent in ("bin/sh", "usr/bin/sh", "usr/bin/npm", "usr/bin/corepack", "usr/bin/bash"):
        assert absent not in files, absent
    assert not any(name.startswith(("usr/share/doc/", "usr/share/man/", "usr/include/"))
                   for name in files)  # fmt: skip
    modules = "app/node_modules/"
    assert f"{modules}express/package.json" in files
    assert f"{modules}bufferutil/prebuilds/linux-x64/node.napi.node" in files
    for pruned in ("bufferutil/prebuilds/win32-x64/node.napi.node",
                   "bufferutil/prebuilds/darwin-x64+arm64/node.napi.node",
                   "bufferutil/README.md", "express/Readme.md", "express/History.md"):  # fmt: skip
        assert modules + pruned not in files, pruned
    left = [
        name
        for name in files
        if name.startswith(modules)
        and name.endswith((".md", ".d.ts", ".map"))
        and "license" not in name.lower()
    ]
    assert left == []  # licences stay
    assert "app/test/server.test.js" not in files  # the tests are the test variant's only
    assert not any(name.startswith(f"{modules}is-number") for name in files)  # a devDependency
    assert "app/src/server.js" in files
    assert files["app/src/server.js"].uid == 0 and files["app/src/server.js"].mode == 0o444


def test_sbom_lists_the_debian_and_the_npm_packages(packed: dict[str, Any]) -> None:
    result = run_cli("sbom", f"oci:{packed['layout']}:v1", "-o", "json")
    assert result.code == 0, result.stderr
    names = {package["name"] for package in json.loads(result.stdout)}
    for name in ("nodejs", "libnode108", "libuv1", "libssl3", "libicu72", "express", "bufferutil"):
        assert name in names, name
    assert "npm" not in names  # npm itself is not in the image
    owners, _ = dpkg_ownership(packed["layout"], "v1")  # md5sums of the kept files
    assert owners["usr/bin/node"] == "nodejs.md5sums"
    assert owners["usr/lib/x86_64-linux-gnu/libuv.so.1.0.0"] == "libuv1.md5sums"


def test_two_packs_give_the_same_digest(packed: dict[str, Any], tmp_path: Path) -> None:
    again = pack(APP, f"oci:{tmp_path / 'again'}:v1", "--expose", "8080")
    assert again.code == 0, again.stderr
    assert again.json()["manifest_digest"] == packed["manifest_digest"]


def test_a_pruned_file_the_app_needs_fails_the_tests_and_nothing_is_written(
    tmp_path: Path, podman: Runner
) -> None:
    need("npm", "pack of a Node project runs npm ci")
    project = tmp_path / "needs-docs"
    shutil.copytree(APP, project)
    (project / "test" / "readme.test.js").write_text(
        "'use strict';\nconst test = require('node:test');\nconst fs = require('node:fs');\n"
        "const path = require('node:path');\n"
        "test('reads express docs at run time', () => {\n"
        "  fs.readFileSync(path.join(path.dirname(require.resolve('express')), 'Readme.md'));\n"
        "});\n"
    )
    result = pack(project, f"oci:{tmp_path / 'out'}:v1", "--test", TEST)
    assert_clean_error(result, 1, "--check failed", "the tests failed in the image",
                       "was not written")  # fmt: skip
    assert "stdout| # fail 1" in result.stderr  # node's test report, from inside the image
    assert not (tmp_path / "out").exists()


def test_a_project_without_a_lock_is_a_clear_error(tmp_path: Path) -> None:
    project = tmp_path / "nolock"
    project.mkdir()
    shutil.copy(APP / "package.json", project)
    result = pack(project, f"oci:{tmp_path / 'out'}:v1")
    assert_clean_error(result, 2, "no package-lock.json", "npm install --package-lock-only")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("files", "flags", "fragment"),
    [
        ({"package.json": "{", "package-lock.json": "{}"}, [], "not valid JSON"),
        ({"package.json": "[]", "package-lock.json": "{}"}, [], "must hold a JSON object"),
        ({"package.json": "{}", "package-lock.json": "{}"}, [], "names no entry point"),
        ({"package.json": '{"main": "gone.js"}', "package-lock.json": "{}"}, [], "does not exist"),
        ({"package.json": "{}", "pyproject.toml": ""}, [], "--kind python|node"),
        (
            {"package.json": '{"main": "a.js"}', "package-lock.json": "{}", "a.js": ""},
            ["--base", "oci:/nonexistent:x"],
            "--base goes with a binary",
        ),
        (
            {"package.json": '{"main": "../../../../../../etc/passwd"}', "package-lock.json": "{}"},
            [],
            "is outside the project",
        ),
        ({"package.json": "{}", "pyproject.toml": ""}, ["--kind", "node"], "no package-lock.json"),
        ({"package.json": "{}", "package-lock.json": "{}"}, ["--strip"], "go with a binary"),
        (
            {"package.json": '{"main": "a.js"}', "package-lock.json": "{}", "a.js": ""},
            ["--root", "/tmp"],
            "--root and --from go with a binary",
        ),
    ],
)
def test_bad_projects_are_usage_errors(
    tmp_path: Path, files: dict[str, str], flags: list[str], fragment: str
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    result = pack(project, f"oci:{tmp_path / 'out'}:v1", *flags)
    assert_clean_error(result, 2, fragment)
    assert not (tmp_path / "out").exists()


def test_test_and_allow_scripts_go_with_projects(tmp_path: Path) -> None:
    result = run_cli("pack", "/bin/true", "-o", f"oci:{tmp_path / 'o'}:v1", "--test", "x")
    assert_clean_error(result, 2, "--test and --allow-scripts go with")


def test_npm_is_never_given_the_projects_npmrc(tmp_path: Path) -> None:
    """A .npmrc (often a registry token) stays out of the scratch copy, hence the image."""
    project = tmp_path / "p"
    shutil.copytree(APP, project)
    (project / ".npmrc").write_text("registry=http://127.0.0.1:9/\n")  # would fail npm ci
    need("npm", "pack of a Node project runs npm ci")
    config = tmp_path / "config.json"
    config.write_text("{}")
    result = pack(project, f"oci:{tmp_path / 'out'}:v1", "--add", f"{config}:/etc/app/config.json")
    assert result.code == 0, result.stderr
    files = _files(tmp_path / "out")
    assert ".npmrc" not in "".join(files)
    assert files["etc/app/config.json"].mode == 0o444  # --add works as for a binary


def test_install_scripts_run_only_with_allow_scripts(tmp_path: Path) -> None:
    """A dependency's install script (a local ``file:`` package, so no registry) does not run
    by default (``npm ci --ignore-scripts``) and does with ``--allow-scripts``: what it wrote
    is in the image then, and only then."""
    need("npm", "pack of a Node project runs npm ci")
    project = tmp_path / "scripted"
    marker = project / "marker"
    marker.mkdir(parents=True)
    script = "node -e \"require('fs').writeFileSync('ran', 'the install script ran')\""
    (marker / "package.json").write_text(json.dumps(
        {"name": "marker", "version": "1.0.0", "scripts": {"install": script}}
    ))  # fmt: skip
    (project / "package.json").write_text(json.dumps(
        {"name": "scripted", "version": "1.0.0", "main": "index.js",
         "dependencies": {"marker": "file:./marker"}}
    ))  # fmt: skip
    (project / "index.js").write_text("console.log('hi')\n")
    subprocess.run(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit",
                    "--no-fund"], cwd=project, check=True, capture_output=True, timeout=300,
                   env={**os.environ, **ENV})  # fmt: skip
    assert not (marker / "ran").exists()

    def ran(layout: Path) -> list[str]:
        return [name for name in _files(layout) if name.endswith("marker/ran")]

    default = pack(project, f"oci:{tmp_path / 'default'}:v1")
    assert default.code == 0, default.stderr
    assert ran(tmp_path / "default") == []
    allowed = pack(project, f"oci:{tmp_path / 'allowed'}:v1", "--allow-scripts")
    assert allowed.code == 0, allowed.stderr
    assert ran(tmp_path / "allowed"), sorted(_files(tmp_path / "allowed"))
    assert not (marker / "ran").exists()  # it ran in pack's scratch copy, not in the project
    assert allowed.json()["manifest_digest"] != default.json()["manifest_digest"]


def _package(root: Path, name: str, manifest: object, files: dict[str, bytes]) -> Path:
    package = root / "node_modules" / name
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps(manifest) if manifest is not None else "{")
    for rel, data in files.items():
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_bytes(data)
    return package


def _shared_object(path: Path, compiler: list[str]) -> bytes:
    source = path.with_suffix(".c")
    source.write_text("int answer(void) { return 42; }\n")
    subprocess.run([*compiler, "-shared", "-fPIC", "-o", str(path), str(source)], check=True)
    return path.read_bytes()


def test_prune_keeps_what_package_json_declares_and_this_platforms_binaries(
    tmp_path: Path,
) -> None:
    from scratchpack.operations.pack.prune import prune_modules

    need("musl-gcc", "a musl-built addon to prune")
    glibc = _shared_object(tmp_path / "glibc.node", ["gcc"])
    musl = _shared_object(tmp_path / "musl.node", ["musl-gcc"])
    odd = _package(tmp_path, "odd", {"main": "test/index.js", "files": ["examples"]}, {
        "test/index.js": b"module.exports = 1", "examples/a.js": b"", "README.md": b"docs",
        "lib/x.spec.js": b"", "lib/x.js.map": b"{}", "index.d.ts": b"", "LICENSE.md": b"MIT",
    })  # fmt: skip
    native = _package(tmp_path, "native", {"main": "index.js"}, {
        "index.js": b"", "prebuilds/linux-x64/node.napi.node": glibc,
        "prebuilds/linux-arm64/node.napi.node": glibc, "prebuilds/darwin-x64/node.napi.node": b"",
        "build/Release/glibc.node": glibc, "build/Release/musl.node": musl,
        "build/Release/text.node": b"not an ELF", ".github/workflows/ci.yml": b"",
    })  # fmt: skip
    broken = _package(tmp_path, "broken", None, {"README.md": b"", "test/a.js": b""})
    report = prune_modules(tmp_path / "node_modules")
    left = sorted(p.relative_to(tmp_path / "node_modules").as_posix()
                  for p in (tmp_path / "node_modules").rglob("*") if p.is_file())  # fmt: skip
    assert left == [
        "broken/README.md", "broken/package.json", "broken/test/a.js",  # unreadable: kept whole
        "native/build/Release/glibc.node", "native/index.js", "native/package.json",
        "native/prebuilds/linux-x64/node.napi.node",
        "odd/LICENSE.md", "odd/examples/a.js", "odd/package.json", "odd/test/index.js",
    ]  # fmt: skip
    assert report.removed["other platforms' binaries"] == 4  # arm64, darwin, musl, not-ELF
    assert report.removed["docs"] == 1 and report.removed["source maps and types"] == 2
    assert odd.is_dir() and native.is_dir() and broken.is_dir()


def test_prune_does_not_follow_symlinks_out_of_node_modules(tmp_path: Path) -> None:
    from scratchpack.operations.pack.prune import prune_modules

    outside = tmp_path / "outside"
    (outside / "test").mkdir(parents=True)
    (outside / "test" / "keep.js").write_text("")
    (outside / "README.md").write_text("mine")
    (outside / "package.json").write_text('{"main": "index.js"}')  # a package, if followed
    package = _package(tmp_path, "linked", {"main": "index.js"}, {"index.js": b""})
    (package / "test").symlink_to(outside / "test")
    (package / "README.md").symlink_to(outside / "README.md")
    (tmp_path / "node_modules" / "elsewhere").symlink_to(outside)
    prune_modules(tmp_path / "node_modules")
    assert (outside / "test" / "keep.js").exists() and (outside / "README.md").read_text() == "mine"


@pytest.mark.parametrize("spec", ["file:../shared", "file:{outside}"])
def test_a_file_dependency_outside_the_project_is_refused(tmp_path: Path, spec: str) -> None:
    """npm installs a ``file:`` directory as a link to it: to a sibling (``../shared``, a
    monorepo's usual layout) or an absolute path, the image would hold a link to nothing and
    the app fail at ``require``. Refused in one line naming the dependency; nothing written;
    the project untouched. (A ``file:./marker`` inside the project packs: the test above.)"""
    need("npm", "pack of a Node project runs npm ci")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "package.json").write_text('{"name": "shared", "version": "1.0.0"}')
    (shared / "index.js").write_text("module.exports = 'hi'\n")
    project = tmp_path / "app"
    project.mkdir()
    dependency = spec.format(outside=shared)
    (project / "package.json").write_text(json.dumps(
        {"name": "app", "version": "1.0.0", "main": "index.js",
         "dependencies": {"shared": dependency}}
    ))  # fmt: skip
    (project / "index.js").write_text("console.log(require('shared'))\n")
    subprocess.run(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit",
                    "--no-fund"], cwd=project, check=True, capture_output=True, timeout=300,
                   env={**os.environ, **ENV})  # fmt: skip
    before = sorted(p.name for p in project.iterdir())
    result = pack(project, f"oci:{tmp_path / 'out'}:v1")
    assert_clean_error(result, 2, "node_modules/shared", "outside the project", "npm pack")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in project.iterdir()) == before


def test_a_link_npm_made_out_of_the_copy_is_refused(tmp_path: Path) -> None:
    """The check after npm ci, for a link the lock did not announce: one out of the copy is
    refused (said relative to the project); links inside it (``.bin``, workspaces) pass."""
    from scratchpack.errors import UsageError
    from scratchpack.operations.pack import node

    work = tmp_path / "project"
    (work / "node_modules/.bin").mkdir(parents=True)
    (work / "packages/inner").mkdir(parents=True)
    (work / "node_modules/inner").symlink_to("../packages/inner")
    (work / "node_modules/.bin/tool").symlink_to("../inner/tool.js")
    node._refuse_links_out(work)
    (work / "node_modules/@scope").mkdir()
    (work / "node_modules/@scope/lib").symlink_to("../../../lib")
    with pytest.raises(UsageError, match=r"node_modules/@scope/lib .* \(\.\./lib\)"):
        node._refuse_links_out(work)


def test_npm_errors_are_told_in_npms_words(tmp_path: Path) -> None:
    """A lock out of step with package.json: npm ci's own reason reaches the one error line,
    not its pointers to a log file and to `npm help`."""
    need("npm", "pack of a Node project runs npm ci")
    project = tmp_path / "app"
    project.mkdir()
    (project / "package.json").write_text('{"name": "app", "version": "1.0.0", "main": "i.js"}')
    (project / "i.js").write_text("console.log(1)\n")
    subprocess.run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"],
                   cwd=project, check=True, capture_output=True, timeout=300,
                   env={**os.environ, **ENV})  # fmt: skip
    (project / "package.json").write_text(json.dumps(
        {"name": "app", "version": "1.0.0", "main": "i.js", "dependencies": {"left-pad": "1.3.0"}}
    ))  # fmt: skip
    result = pack(project, f"oci:{tmp_path / 'out'}:v1")
    assert_clean_error(result, 1, "npm ci failed:", "in sync", "Missing: left-pad@1.3.0")
    assert "complete log" not in result.stderr and "npm help" not in result.stderr
    assert not (tmp_path / "out").exists()
