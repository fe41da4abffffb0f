"""The loader and library closure of a dynamic program, found inside a root as ld.so finds it.

Checked against the real thing: ``ldd`` (the host's loader) for programs on this machine, and
programs run with ``chroot`` in a root that holds nothing but the closure — RPATH, RUNPATH and
$ORIGIN semantics included, where the real loader's success or failure is the oracle.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import materialize
from realtools import unavailable
from scratchpack.errors import FormatError
from scratchpack.operations.closure import RootResolver, find_closure, ld_so_conf_dirs

HOST_PROGRAMS = [p for p in ("/bin/ls", "/usr/bin/curl", "/usr/bin/git", "/usr/bin/python3")
                 if Path(p).exists()]  # fmt: skip


def ldd(program: str) -> dict[str, str]:
    """soname -> real path, as the host's loader resolves them."""
    out = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        match = re.match(r"^\s*(\S+) => (\S+) \(0x", line)
        if match:
            found[match[1]] = os.path.realpath(match[2])
    return found


@pytest.mark.parametrize("program", HOST_PROGRAMS)
def test_host_programs_resolve_as_ldd_resolves_them(program: str) -> None:
    closure = find_closure(Path("/"), program)
    assert closure.complete, closure.missing
    ours = {name: os.path.realpath(path) for name, path in closure.libraries.items()}
    assert ours == ldd(program)
    assert closure.loader is not None
    assert os.path.realpath(closure.loader) in {os.path.realpath(p) for p in closure.files}


def test_a_program_runs_in_a_root_holding_only_its_closure(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        unavailable("chroot needs root")
    bare = tmp_path / "bare"
    (bare / "bin").mkdir(parents=True)
    shutil.copy2("/bin/ls", bare / "bin/ls")
    failed = subprocess.run(["chroot", str(bare), "/bin/ls", "/"], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert failed.returncode == 127  # the trap: "no such file or directory" of a missing loader

    dest = tmp_path / "closure"
    materialize(find_closure(Path("/"), "/bin/ls"), Path("/"), dest)
    ran = subprocess.run(["chroot", str(dest), "/bin/ls", "/"], capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "bin" in ran.stdout.split()


def _cc(*args: str | Path) -> None:
    subprocess.run(["gcc", *map(str, args)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def app_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with libc's closure and /opt/app: prog-runpath and prog-rpath need libfoo (in
    $ORIGIN/../lib), which needs libbar (in /opt/app/lib2, which only the programs name)."""
    root = tmp_path_factory.mktemp("approot")
    materialize(find_closure(Path("/"), "/bin/true"), Path("/"), root)
    src = tmp_path_factory.mktemp("appsrc")
    (src / "bar.c").write_text('const char *bar(void) { return "bar"; }\n')
    (src / "foo.c").write_text("const char *bar(void);\nconst char *foo(void) { return bar(); }\n")
    (src / "prog.c").write_text(
        "#include <stdio.h>\nconst char *foo(void);\nint main(void) { puts(foo()); return 0; }\n"
    )
    lib, lib2, bin_ = root / "opt/app/lib", root / "opt/app/lib2", root / "opt/app/bin"
    for d in (lib, lib2, bin_):
        d.mkdir(parents=True)
    _cc("-shared", "-fPIC", "-o", lib2 / "libbar.so", src / "bar.c")
    _cc("-shared", "-fPIC", "-o", lib / "libfoo.so", src / "foo.c", "-L", lib2, "-lbar")
    for name, dtags in (
        ("prog-runpath", "--enable-new-dtags"),
        ("prog-rpath", "--disable-new-dtags"),
    ):
        _cc("-o", bin_ / name, src / "prog.c", "-Wl,--no-as-needed", "-L", lib, "-L", lib2,
            "-lfoo", "-lbar", f"-Wl,{dtags},-rpath,$ORIGIN/../lib:/opt/app/lib2")  # fmt: skip
    # libfoo alone names libbar; the programs' own DT_NEEDED must not, to test inheritance.
    for name, dtags in (
        ("prog-runpath-only-foo", "--enable-new-dtags"),
        ("prog-rpath-only-foo", "--disable-new-dtags"),
    ):
        _cc("-o", bin_ / name, src / "prog.c", "-Wl,--as-needed,--allow-shlib-undefined",
            "-L", lib, "-lfoo", f"-Wl,-rpath-link,{lib2}",
            f"-Wl,{dtags},-rpath,$ORIGIN/../lib:/opt/app/lib2")  # fmt: skip
    return root


def _runs(root: Path, program: str) -> bool:
    """Run ``program`` chrooted in ``root`` with a /proc of its own, as in a container: ld.so
    expands the main program's $ORIGIN from /proc/self/exe, and drops the entry without it."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        unavailable("chroot and mount need root and unshare")
    (root / "proc").mkdir(exist_ok=True)
    script = f'mount -t proc proc "{root}/proc" && exec chroot "{root}" "{program}"'
    done = subprocess.run(["unshare", "-m", "-p", "-f", "sh", "-c", script],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.returncode == 0 and done.stdout == "bar\n"


@pytest.mark.parametrize("program", ["prog-runpath", "prog-rpath"])
def test_origin_expands_to_the_programs_directory(app_root: Path, program: str) -> None:
    closure = find_closure(app_root, f"/opt/app/bin/{program}")
    assert closure.libraries["libfoo.so"] == "/opt/app/bin/../lib/libfoo.so"
    assert closure.complete
    assert _runs(app_root, f"/opt/app/bin/{program}")


def test_rpath_is_inherited_by_libraries_and_runpath_is_not(app_root: Path) -> None:
    """libfoo has no search path of its own: libbar is found through the program's RPATH, never
    through its RUNPATH — and the real loader agrees in both directions."""
    with_rpath = find_closure(app_root, "/opt/app/bin/prog-rpath-only-foo")
    with_runpath = find_closure(app_root, "/opt/app/bin/prog-runpath-only-foo")
    assert with_rpath.libraries.get("libbar.so") == "/opt/app/lib2/libbar.so"
    assert with_runpath.missing == {"libbar.so": "/opt/app/bin/../lib/libfoo.so"}
    assert _runs(app_root, "/opt/app/bin/prog-rpath-only-foo")
    assert not _runs(app_root, "/opt/app/bin/prog-runpath-only-foo")


def test_ld_so_conf_directories_are_searched_inside_the_root(
    app_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(app_root, root, symlinks=True)
    # libbar moves to a directory that only ld.so.conf (through an include) names
    (root / "srv/libs").mkdir(parents=True)
    (root / "opt/app/lib2/libbar.so").rename(root / "srv/libs/libbar.so")
    (root / "etc/ld.so.conf.d").mkdir(parents=True)
    (root / "etc/ld.so.conf").write_text("# comment\ninclude ld.so.conf.d/*.conf\n")
    (root / "etc/ld.so.conf.d/app.conf").write_text("/srv/libs\n")
    assert "/srv/libs" in ld_so_conf_dirs(RootResolver(root))
    closure = find_closure(root, "/opt/app/bin/prog-runpath-only-foo")
    assert closure.libraries["libbar.so"] == "/srv/libs/libbar.so"
    assert closure.complete


def test_absolute_symlinks_and_dot_dot_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("inside\n")
    (root / "usr/lib/escape").symlink_to("/../../../../etc/passwd")
    (root / "usr/lib/up").symlink_to("../../../../../../etc")
    resolver = RootResolver(root)
    assert resolver.resolve("/usr/lib/escape") == (
        "/etc/passwd",
        [("/usr/lib/escape", "/../../../../etc/passwd")],
    )
    final, _ = resolver.resolve("/usr/lib/up/passwd") or ("", [])
    assert final == "/etc/passwd"
    assert (root / final.lstrip("/")).read_text() == "inside\n"


def test_a_symlink_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin/a").symlink_to("b")
    (root / "bin/b").symlink_to("a")
    with pytest.raises(FormatError, match="too many levels of symbolic links"):
        find_closure(root, "/bin/a")


def test_a_non_elf_file_under_a_library_name_is_skipped(app_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(app_root, root, symlinks=True)
    decoy = root / "opt/app/lib/libbar.so"  # first in RUNPATH order, but not an ELF file
    decoy.write_text("not a library\n")
    closure = find_closure(root, "/opt/app/bin/prog-runpath")
    assert closure.libraries["libbar.so"] == "/opt/app/lib2/libbar.so"


def test_missing_program_and_non_elf_program_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file in the root"):
        find_closure(tmp_path, "/bin/nothing")
    (tmp_path / "script").write_text("#!/bin/sh\n")
    with pytest.raises(FormatError, match="not an ELF executable"):
        find_closure(tmp_path, "/script")


def test_a_damaged_library_is_a_clear_error(app_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(app_root, root, symlinks=True)
    damaged = root / "opt/app/lib/libfoo.so"
    damaged.write_bytes(damaged.read_bytes()[:64])  # headers that point past the end
    with pytest.raises(FormatError, match="damaged ELF file"):
        find_closure(root, "/opt/app/bin/prog-runpath")
