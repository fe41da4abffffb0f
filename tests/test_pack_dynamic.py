"""pack of a dynamically linked program: its loader, library closure and what glibc loads at
run time go into a libraries layer, and the image starts — proven by running it in podman with
no shell, no package manager, read-only, as the non-root default user."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from helpers import (
    Examples,
    assert_clean_error,
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
    # no shell and no package manager: only the program, its closure and the essentials
    members = [m for layer in summary["layers"] for m in layer_members(layout, layer["digest"])]
    names = {m.name.removeprefix("./").rstrip("/") for m in members}
    shells = {f"{d}/{s}" for d in ("bin", "usr/bin") for s in ("sh", "bash", "dash", "busybox")}
    managers = {f"usr/bin/{tool}" for tool in ("apt", "apt-get", "dpkg", "pip", "pip3")}
    assert any(n.endswith("/libc.so.6") for n in names)  # the check reads every layer
    assert not names & (shells | managers | {"var/lib/dpkg/status"}), names & (shells | managers)
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


ICONV = r"""
#include <iconv.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    iconv_t cd = iconv_open("ISO-8859-1", "UTF-8");
    if (cd == (iconv_t)-1) { perror("iconv_open"); return 1; }
    char in[] = "caf\xc3\xa9", out[16] = {0};
    char *ip = in, *op = out;
    size_t il = strlen(in), ol = sizeof out;
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) { perror("iconv"); return 1; }
    for (char *p = out; p < op; p++) printf("%02x", (unsigned char)*p);
    printf("\n");
    return 0;
}
"""

LOCALE = r"""
#include <locale.h>
#include <stdio.h>
#include <time.h>
int main(void) {
    if (!setlocale(LC_ALL, "")) { printf("no locale\n"); return 1; }
    struct tm day = {.tm_year = 126, .tm_mon = 11, .tm_mday = 3, .tm_wday = 4};
    char text[64];
    strftime(text, sizeof text, "%A %B", &day);
    printf("%s\n", text);
    return 0;
}
"""


def _cc(source: str, out: Path) -> Path:
    subprocess.run(["gcc", "-O1", "-o", str(out), "-x", "c", "-"], input=source.encode(),
                   check=True)  # fmt: skip
    return out


def test_iconv_to_latin1_gets_its_gconv_module(tmp_path: Path, podman: Runner) -> None:
    program = _cc(ICONV, tmp_path / "conv")
    summary = _pack(program, f"oci:{tmp_path / 'auto'}:v1", "--tz", "none")
    assert summary["libraries"]["gconv_modules"] > 200  # auto: iconv is called, all of them
    only = _pack(program, f"oci:{tmp_path / 'one'}:v1", "--tz", "none", "--gconv", "latin1")
    assert only["libraries"]["gconv_modules"] == 1
    assert only["layers"][1]["uncompressed_size"] < summary["layers"][1]["uncompressed_size"]
    for image in ("auto", "one"):
        ran = _run(podman, f"oci:{tmp_path / image}:v1")
        assert ran.returncode == 0, ran.stderr.decode()
        assert ran.stdout == b"636166e9\n"  # "café" in ISO-8859-1
    none = _pack(program, f"oci:{tmp_path / 'none'}:v1", "--tz", "none", "--gconv", "none")
    assert none["libraries"]["gconv_modules"] == 0
    failed = _run(podman, f"oci:{tmp_path / 'none'}:v1")
    assert failed.returncode == 1 and b"iconv_open" in failed.stderr  # what --gconv prevents
    unknown = run_cli("pack", program, "-o", f"oci:{tmp_path / 'x'}:v1", "--gconv", "NOPE-1")
    assert_clean_error(unknown, 2, "--gconv NOPE-1: no gconv module")


def test_a_locale_from_the_root_is_used_and_sets_lang(
    examples: Examples, tmp_path: Path, podman: Runner
) -> None:
    program = _cc(LOCALE, tmp_path / "day")
    root = tmp_path / "root"
    materialize(find_closure(Path("/"), str(program)), Path("/"), root)
    (root / "usr/lib/locale").mkdir(parents=True, exist_ok=True)
    subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8",
                    str(root / "usr/lib/locale/de_DE.utf8")], check=True)  # fmt: skip
    summary = _pack(program, f"oci:{tmp_path / 'out'}:v1", "--root", str(root),
                    "--locale", "de_DE.UTF-8", "--tz", "none")  # fmt: skip
    assert summary["libraries"]["locales"] == ["de_DE.UTF-8"]
    ran = _run(podman, f"oci:{tmp_path / 'out'}:v1")
    assert ran.returncode == 0, ran.stderr.decode()
    assert ran.stdout.decode() == "Donnerstag Dezember\n"  # not C's silent "Thursday December"
    missing = run_cli("pack", program, "-o", f"oci:{tmp_path / 'x'}:v1", "--root", str(root),
                      "--locale", "fr_FR.UTF-8")  # fmt: skip
    assert_clean_error(missing, 2, "--locale fr_FR.UTF-8: no /usr/lib/locale/fr_FR.utf8")
    static = run_cli(
        "pack", examples.hello, "-o", f"oci:{tmp_path / 'y'}:v1", "--locale", "C.UTF-8"
    )
    assert_clean_error(static, 2, "--locale and --gconv go with a dynamic binary")


def test_the_libraries_packages_are_recorded_for_scanners(
    examples: Examples, tmp_path: Path
) -> None:
    _pack(examples.dynamic, f"oci:{tmp_path / 'out'}:v1")
    listed = run_cli("sbom", f"oci:{tmp_path / 'out'}:v1", "-o", "json")
    assert listed.code == 0, listed.stderr
    versions = {p["name"]: p["version"] for p in listed.json()}
    for package in ("libc6", "libgcc-s1"):
        host = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", f"{package}:amd64"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert versions[package] == host


THROWER = r"""
#include <stdexcept>
void throw_from_the_library() { throw std::runtime_error("from libthrower.so"); }
"""

CATCHER = r"""
#include <iostream>
#include <stdexcept>
void throw_from_the_library();
int main() {
    try { throw_from_the_library(); }
    catch (const std::runtime_error &e) { std::cout << "caught " << e.what() << "\n"; }
    return 0;
}
"""


def test_an_exception_thrown_in_a_shared_library_is_caught_in_the_program(
    tmp_path: Path, podman: Runner
) -> None:
    """The unwinder crosses from the user's own library into the program: libgcc_s, the
    libstdc++ of the root and the library found through the program's RPATH, all in scratch."""
    root = tmp_path / "root"
    lib = root / "opt/thrower/lib"
    lib.mkdir(parents=True)
    subprocess.run(["g++", "-shared", "-fPIC", "-O1", "-o", str(lib / "libthrower.so"), "-x",
                    "c++", "-"], input=THROWER.encode(), check=True)  # fmt: skip
    program = tmp_path / "catcher"
    subprocess.run(["g++", "-O1", "-o", str(program), "-x", "c++", "-", "-L", str(lib),
                    "-lthrower", "-Wl,--disable-new-dtags,-rpath,/opt/thrower/lib"],
                   input=CATCHER.encode(), check=True)  # fmt: skip
    # the root: what the host gives a C++ program, plus the library at its RPATH
    host_closure = find_closure(Path("/"), "/usr/local/bin/catcher", host_file=program)
    materialize(host_closure, Path("/"), root)
    summary = _pack(program, f"oci:{tmp_path / 'out'}:v1", "--root", str(root), "--tz", "none",
                    "--no-certs")  # fmt: skip
    assert "libthrower.so" in summary["libraries"]["sonames"]
    ran = _run(podman, f"oci:{tmp_path / 'out'}:v1")
    assert ran.returncode == 0, ran.stderr.decode()
    assert ran.stdout == b"caught from libthrower.so\n"
