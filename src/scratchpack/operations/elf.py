"""Read just enough of an ELF file to know whether it can start in an empty image."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import describe_os_error

# e_machine -> (OCI architecture, variant)
_ARCHES: dict[str, tuple[str, str | None]] = {
    "EM_X86_64": ("amd64", None),
    "EM_AARCH64": ("arm64", "v8"),
    "EM_ARM": ("arm", "v7"),
    "EM_386": ("386", None),
    "EM_PPC64": ("ppc64le", None),
    "EM_S390": ("s390x", None),
    "EM_RISCV": ("riscv64", None),
    "EM_LOONGARCH": ("loong64", None),
    "EM_MIPS": ("mips64le", None),
}


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    architecture: str
    variant: str | None
    elf_type: str
    interpreter: str | None
    needed: tuple[str, ...] = field(default=())
    stripped: bool = False

    @property
    def is_dynamic(self) -> bool:
        """Needs a dynamic loader and shared libraries at run time."""
        return self.interpreter is not None or bool(self.needed)

    @property
    def linkage(self) -> str:
        if self.is_dynamic:
            return "dynamic"
        return "static-pie" if self.elf_type == "ET_DYN" else "static"


def dynamic_needs(elf: ELFFile) -> tuple[str | None, list[str]]:
    """The loader (PT_INTERP) and the DT_NEEDED libraries: what must exist for it to start."""
    interpreter = None
    for segment in elf.iter_segments():
        if isinstance(segment, InterpSegment):
            interpreter = segment.get_interp_name()
    needed: list[str] = []
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            needed.extend(
                str(getattr(tag, "needed", ""))
                for tag in section.iter_tags()
                if tag.entry.d_tag == "DT_NEEDED"
            )
    return interpreter, needed


def read_elf(path: Path) -> ElfInfo:
    try:
        handle = path.open("rb")
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a binary") from None
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ScratchpackError(f"cannot read {path}: {describe_os_error(exc)}") from exc
    with handle:
        if handle.read(4) != b"\x7fELF":
            raise UsageError(
                f"{path} is not an ELF executable (a script or a file for another OS?): "
                "pack needs a compiled Linux binary"
            )
        handle.seek(0)
        try:
            elf = ELFFile(handle)
            machine = elf.header["e_machine"]
            elf_type = elf.header["e_type"]
            if elf_type not in ("ET_EXEC", "ET_DYN"):
                raise UsageError(f"{path} is an ELF {elf_type}, not an executable")
            interpreter, needed = dynamic_needs(elf)
            stripped = elf.get_section_by_name(".symtab") is None
            is_le = elf.little_endian
        except ELFError as exc:
            raise UsageError(f"{path} is a damaged ELF file: {exc}") from exc
    arch, variant = _ARCHES.get(str(machine), (str(machine), None))
    if arch == "ppc64le" and not is_le:
        arch = "ppc64"
    if arch == "mips64le" and not is_le:
        arch = "mips64"
    return ElfInfo(path, arch, variant, str(elf_type), interpreter, tuple(needed), stripped)


def dynamic_refusal(info: ElfInfo) -> str:
    """The message that explains why a dynamic binary cannot start in an empty image."""
    libs = ", ".join(info.needed) or "none listed"
    interp = info.interpreter or "none"
    return (
        f"{info.path} is dynamically linked (interpreter {interp}; needs {libs}): it cannot "
        "start in an empty image. Build it statically (Go: CGO_ENABLED=0; Rust: "
        "-C target-feature=+crt-static or a musl target; C: -static), or pass --allow-dynamic "
        "if you add the loader and libraries yourself with --add"
    )
