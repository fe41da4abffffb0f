"""pack of a dynamically linked program: its loader, library closure and what glibc loads at
run time go into a libraries layer, and the image starts — proven by running it in podman with
no shell, no package manager, read-only, as the non-root default user."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    Examples,
    assert_clean_error,
    build_examples,
    layer_members,
    layout_manifest,
    materialize,
    run_cli,
)
from realtools import Runner
from scratchpack.operations.closure import find_closure

CPP = r"""
#include <iostream>
#include <stdexcept>
#include <thread>
int main() {
    try { throw std::runtime_error("thrown across libstdc++"); }
    catch (const std::exception &e) { std::cout << "caught: " << e.what() << "\n"; }
    std::thread t([] { std::cout << "thread ran\n"; });
    t.join();
    return 0;
}
"""


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    return build_examples(tmp_path_factory.mktemp("examples"))


def _pack(binary: Path, dest: str, *extra: str) -> dict[str, Any]:
    result = run_cli("pack", binary, "-o", dest, "--format", "json", *extra)
    assert result.code == 0, result.stderr
    return dict(result.json())


def _run(podman: Runner, image: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return podman("run", "--rm", "--network", "none", "--read-only", image, *args, check=False)


def test_a_dynamic_c_program_runs_in_scratch_with_its_libraries(
    examples: Examples, tmp_path: Path, podman: Runner
) -> None:
    layout = tmp_path / "out"
    summary = _pack(examples.dynamic, f"oci:{layout}:v1", "--tz", "UTC")
    assert summary["binary"]["linkage"] == "dynamic"
    libraries = summary["libraries"]
    assert libraries["root"] == "/"
    assert libraries["loader"] == "/lib64/ld-linux-x86-64.so.2"
    assert {"libc.so.6", "libgcc_s.so.1"} <= set(libraries["sonames"])
    assert [layer["name"] for layer in summary["layers"]] == ["essentials", "libraries", "app"]
    ran = _run(podman, f"oci:{layout}:v1")
    assert ran.returncode == 0, ran.stderr.decode()
    assert b"Hello from scratchpack! uid=65532 gid=65532" in ran.stdout


def test_the_same_inputs_give_the_same_digest_and_a_new_binary_keeps_the_libraries_layer(
    examples: Examples, tmp_path: Path
) -> None:
    first = _pack(examples.dynamic, f"oci:{tmp_path / 'a'}:v1")
    second = _pack(examples.dynamic, f"oci:{tmp_path / 'b'}:v1")
    assert first["manifest_digest"] == second["manifest_digest"]
    other = tmp_path / "other"
    subprocess.run(["gcc", "-O1", "-o", str(other), "-x", "c", "-"], check=True,
                   input=b"int main(void){return 0;}\n")  # fmt: skip
    third = _pack(other, f"oci:{tmp_path / 'c'}:v1")
    assert third["layers"][1]["digest"] == first["layers"][1]["digest"]


def test_a_cpp_program_with_exceptions_and_threads_runs(tmp_path: Path, podman: Runner) -> None:
    program = tmp_path / "cpp"
    subprocess.run(["g++", "-O2", "-pthread", "-o", str(program), "-x", "c++", "-"],
                   input=CPP.encode(), check=True)  # fmt: skip
    summary = _pack(program, f"oci:{tmp_path / 'out'}:v1", "--tz", "none", "--no-certs")
    assert {"libstdc++.so.6", "libgcc_s.so.1", "libm.so.6"} <= set(summary["libraries"]["sonames"])
    ran = _run(podman, f"oci:{tmp_path / 'out'}:v1")
    assert ran.returncode == 0, ran.stderr.decode()
    assert ran.stdout == b"caught: thrown across libstdc++\nthread ran\n"


def test_the_layer_holds_each_symlink_of_the_chain_and_read_only_files(
    examples: Examples, tmp_path: Path
) -> None:
    layout = tmp_path / "out"
    summary = _pack(examples.dynamic, f"oci:{layout}:v1")
    libs = summary["layers"][1]["digest"]
    members = {m.name.rstrip("/"): m for m in layer_members(layout, libs)}
    closure = find_closure(Path("/"), "/usr/local/bin/x", host_file=examples.dynamic)
    for path, target in closure.entries():
        member = members[path.lstrip("/")]
        if target is not None:
            assert member.issym() and member.linkname == target
        else:
            assert member.isfile() and member.mode in (0o444, 0o555)
            assert member.uid == 0 and member.gid == 0 and member.mtime == 0
    assert members[["lib64", "ld-linux-x86-64.so.2"][0]] is not None


def test_a_library_the_root_lacks_is_named_in_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "lib/libmine.so"), "-x", "c",
                    "-"], input=b"int mine(void){return 1;}\n", check=True)  # fmt: skip
    program = tmp_path / "prog"
    subprocess.run(["gcc", "-o", str(program), "-x", "c", "-", "-L", str(tmp_path / "lib"),
                    "-lmine"], input=b"int mine(void);int main(void){return mine();}\n",
                   check=True)  # fmt: skip
    result = run_cli("pack", program, "-o", f"oci:{tmp_path / 'out'}:v1")
    assert_clean_error(result, 1, "libmine.so (needed by /usr/local/bin/prog)", "--root")
    assert not (tmp_path / "out").exists()


def test_pack_from_another_root(examples: Examples, tmp_path: Path, podman: Runner) -> None:
    """A root holding only libc's closure (a sysroot, an unpacked builder image)."""
    root = tmp_path / "root"
    materialize(find_closure(Path("/"), "/bin/true"), Path("/"), root)
    summary = _pack(examples.dynamic, f"oci:{tmp_path / 'out'}:v1", "--root", str(root))
    assert summary["libraries"]["root"] == str(root)
    # libgcc_s is not in that root: glibc would dlopen it, the program still starts
    assert summary["libraries"]["unavailable"] == ["libgcc_s.so.1"]
    ran = _run(podman, f"oci:{tmp_path / 'out'}:v1")
    assert ran.returncode == 0 and b"Hello from scratchpack!" in ran.stdout


def test_add_lib_and_its_errors(examples: Examples, tmp_path: Path) -> None:
    summary = _pack(examples.dynamic, f"oci:{tmp_path / 'a'}:v1", "--add-lib", "libz.so.1")
    assert "libz.so.1" in summary["libraries"]["sonames"]
    missing = run_cli("pack", examples.dynamic, "-o", f"oci:{tmp_path / 'b'}:v1",
                      "--add-lib", "libnothing.so.9")  # fmt: skip
    assert_clean_error(missing, 1, "--add-lib: not found in /: libnothing.so.9")
    noroot = run_cli("pack", examples.dynamic, "-o", f"oci:{tmp_path / 'c'}:v1",
                     "--root", str(tmp_path / "nowhere"))  # fmt: skip
    assert_clean_error(noroot, 2, "not a directory")


def test_allow_dynamic_still_packs_the_binary_alone(examples: Examples, tmp_path: Path) -> None:
    summary = _pack(examples.dynamic, f"oci:{tmp_path / 'out'}", "--allow-dynamic")
    assert summary["libraries"] is None
    assert [layer["name"] for layer in summary["layers"]] == ["essentials", "app"]
    manifest = layout_manifest(tmp_path / "out")
    assert len(manifest["layers"]) == 2
    assert json.loads(json.dumps(summary))["binary"]["linkage"] == "dynamic"
