"""``read_elf``, what pack knows of a local binary: a static executable is told from its ELF
and program headers alone (no pyelftools, issue 17), everything else as pyelftools reads it,
and the answers are the same either way."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from helpers import EXAMPLES, static_cc
from scratchpack.errors import UsageError
from scratchpack.operations.elf import ElfInfo, dynamic_needs, read_elf

HELLO = EXAMPLES / "hello/hello.c"


def by_pyelftools(path: Path) -> ElfInfo:
    """What pyelftools says of the file: the reference the header path must agree with."""
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        interpreter, needed = dynamic_needs(elf)
        assert elf.header["e_machine"] == "EM_X86_64"  # the machine these tests build for
        return ElfInfo(path, "amd64", None, elf.header["e_type"], interpreter, tuple(needed))


def compile_hello(tmp_path: Path, name: str, *flags: str) -> Path:
    out = tmp_path / name
    subprocess.run([*flags, "-o", str(out), str(HELLO)], check=True)
    return out


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("gcc") is None:  # the machines this project runs on have gcc
        pytest.fail("gcc is needed to build the test binaries")
    tmp = tmp_path_factory.mktemp("elf")
    return {
        "static": compile_hello(tmp, "static", *static_cc()),
        "static-pie": compile_hello(tmp, "static-pie", "gcc", "-static-pie", "-Os"),
        "dynamic": compile_hello(tmp, "dynamic", "gcc", "-Os"),
    }


@pytest.mark.parametrize("kind", ["static", "static-pie", "dynamic"])
def test_read_elf_agrees_with_pyelftools(kind: str, binaries: dict[str, Path]) -> None:
    info = read_elf(binaries[kind])
    assert info == by_pyelftools(binaries[kind])
    assert info.linkage == kind
    assert info.architecture == "amd64"


def test_a_static_binary_is_read_without_pyelftools(binaries: dict[str, Path]) -> None:
    """In a fresh interpreter: the static one loads no pyelftools, the dynamic one does."""
    code = (
        "import sys; from pathlib import Path\n"
        "from scratchpack.operations.elf import read_elf\n"
        "print(read_elf(Path(sys.argv[1])).linkage, 'elftools' in sys.modules)\n"
    )
    for kind, expected in (("static", "static False"), ("dynamic", "dynamic True")):
        proc = subprocess.run([sys.executable, "-c", code, str(binaries[kind])],
                              capture_output=True, text=True, check=True)  # fmt: skip
        assert proc.stdout.strip() == expected


def test_damaged_and_non_executable_files_are_refused(
    binaries: dict[str, Path], tmp_path: Path
) -> None:
    """Headers cut short, segments past the end, an object file, another machine's header:
    the header path gives up and pyelftools' verdict stands, a one-line usage error."""
    static = binaries["static"].read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(static[:40])  # the ELF header itself is cut
    with pytest.raises(UsageError, match=r"damaged ELF file|not an executable"):
        read_elf(cut)
    short = tmp_path / "short"
    short.write_bytes(static[:4096])  # whole headers, segments past the end of the file
    with pytest.raises(UsageError, match="damaged ELF file"):
        read_elf(short)
    obj = tmp_path / "hello.o"
    subprocess.run(["gcc", "-c", "-o", str(obj), str(HELLO)], check=True)
    with pytest.raises(UsageError, match="ELF ET_REL, not an executable"):
        read_elf(obj)
    script = tmp_path / "script"
    script.write_bytes(b"#!/bin/sh\necho hi\n")
    with pytest.raises(UsageError, match="not an ELF executable"):
        read_elf(script)


def test_an_unknown_machine_is_left_to_pyelftools(
    binaries: dict[str, Path], tmp_path: Path
) -> None:
    """e_machine 2 (SPARC) is in no table here: pyelftools names it, as before."""
    data = bytearray(binaries["static"].read_bytes())
    data[18:20] = (2).to_bytes(2, "little")
    sparc = tmp_path / "sparc"
    sparc.write_bytes(bytes(data))
    assert read_elf(sparc).architecture == "EM_SPARC"
