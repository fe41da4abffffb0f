"""Read just enough of an ELF file to know whether it can start in an empty image."""

from __future__ import annotations

import os
import re
import struct
from collections import deque
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import describe_os_error, open_regular
from scratchpack.operations.glibcfiles import ICONV_SYMBOLS

if TYPE_CHECKING:  # pyelftools is loaded by pack, which reads a local binary; audit streams
    from elftools.elf.elffile import ELFFile

# What pyelftools raises on a damaged file besides its own ELFError: it trusts the header's
# fields (a seek to an offset no file has, a struct unpack of a short read, a lookup of an
# unknown tag value). Found by the ``elf`` fuzz target (tests/fuzz/targets.py).
# (OSError: a seek to a negative offset of a real file is EINVAL.)
PYELFTOOLS_ERRORS: tuple[type[Exception], ...] = (
    ValueError, struct.error, KeyError, IndexError, OverflowError, EOFError, OSError,
)  # fmt: skip


def pyelftools_errors() -> tuple[type[BaseException], ...]:
    """ELFError and PYELFTOOLS_ERRORS, for an ``except`` around pyelftools (imported here,
    when an exception is being matched: only pack loads pyelftools)."""
    from elftools.common.exceptions import ELFError

    return (ELFError, *PYELFTOOLS_ERRORS)


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


class ElfInfo(NamedTuple):
    """What pack needs of a binary (NamedTuple, not a dataclass: see ``StartupNeeds``)."""

    path: Path
    architecture: str
    variant: str | None
    elf_type: str
    interpreter: str | None
    needed: tuple[str, ...] = ()

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
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.segments import InterpSegment

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
    """What pack needs to know of a local binary: its platform, its type, and whether it is
    dynamic (its loader and DT_NEEDED libraries)."""
    try:
        handle = open_regular(path)  # a FIFO blocked the open for ever, a device read on
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
        static = _static_info(path, handle)
        if static is not None:
            return static
        from elftools.elf.elffile import ELFFile

        handle.seek(0)
        try:
            elf = ELFFile(handle)
            machine = elf.header["e_machine"]
            elf_type = elf.header["e_type"]
            if elf_type not in ("ET_EXEC", "ET_DYN"):
                raise UsageError(f"{path} is an ELF {elf_type}, not an executable")
            interpreter, needed = dynamic_needs(elf)
            is_le = elf.little_endian
        except pyelftools_errors() as exc:
            raise UsageError(f"{path} is a damaged ELF file: {exc}") from exc
    arch, variant = _ARCHES.get(str(machine), (str(machine), None))
    if arch == "ppc64le" and not is_le:
        arch = "ppc64"
    if arch == "mips64le" and not is_le:
        arch = "mips64"
    return ElfInfo(path, arch, variant, str(elf_type), interpreter, tuple(needed))


def _static_info(path: Path, handle: IO[bytes]) -> ElfInfo | None:
    """A static executable's :class:`ElfInfo` from its ELF and program headers alone, or None
    when pyelftools is to read the file (a dynamic or static-pie binary, a machine the tables
    here do not name, headers the probe cannot read): importing pyelftools and parsing every
    section took ~50 ms of a 0.3 s pack of a static binary (issue 17), which needs only to
    know that no PT_INTERP and no PT_DYNAMIC are there. :class:`ElfProbe` already reads
    those headers (for audit's streams), so nothing new is hand-written here."""
    head = handle.read(HEAD_LIMIT)
    try:
        probe = ElfProbe(head)
    except (DamagedElf, struct.error):
        return None
    if probe.links_at_run_time or probe.machine not in _ARCHES:
        return None
    if not probe.loaded_end or probe.loaded_end > os.fstat(handle.fileno()).st_size:
        return None  # nothing to load, or cut short: pyelftools' verdict, as before
    (e_type,) = struct.unpack_from(f"{probe.byte_order}H", head, 16)
    elf_type = _ELF_TYPES.get(e_type)
    if elf_type is None:
        return None  # pyelftools names the type in its error
    arch, variant = _ARCHES[probe.machine]
    if arch == "ppc64le" and probe.byte_order == ">":
        arch = "ppc64"
    if arch == "mips64le" and probe.byte_order == ">":
        arch = "mips64"
    return ElfInfo(path, arch, variant, elf_type, None, ())


# -- what start-up needs, read front to back -------------------------------------------------

# e_machine numbers -> pyelftools' names (the ones the tables above and startup.py use)
_MACHINES = {62: "EM_X86_64", 183: "EM_AARCH64", 40: "EM_ARM", 3: "EM_386", 21: "EM_PPC64",
             22: "EM_S390", 243: "EM_RISCV", 258: "EM_LOONGARCH", 8: "EM_MIPS"}  # fmt: skip
HEAD_LIMIT = 1 << 20  # the ELF and program headers must lie in the first MiB
_INTERP_LIMIT = 4096
_DYNAMIC_LIMIT = 1 << 20
_STRTAB_LIMIT = 16 << 20
# The last bytes fed, kept (by reference) so that a string table that went by just before the
# dynamic section (Go puts .dynstr right before .dynamic) is found without a second pass.
RECENT_LIMIT = 8 << 20
_NEEDED_LIMIT = 1024
# Byte strings that betray TLS code in a binary: Go's and Rust's TLS stacks, OpenSSL, BoringSSL,
# GnuTLS, NSS, mbed TLS, wolfSSL (statically linked, they leave their names in .rodata).
TLS_MARKERS = re.compile(
    rb"crypto/tls\.|rustls|OpenSSL \d|BoringSSL|GnuTLS|libssl\.so|libgnutls|libnss3|mbedtls|"
    rb"wolfSSL|libcurl\.so"
)
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_ELF_TYPES = {2: "ET_EXEC", 3: "ET_DYN"}  # the executable ones, by pyelftools' names
_DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 1, 5, 10, 14, 15, 29
WATCHED_SYMBOLS = ICONV_SYMBOLS  # what glibcfiles.py says makes glibc load more files


class DamagedElf(ValueError):
    """An ELF file whose headers do not hold together (or exceed the bounds read)."""


class StartupNeeds(NamedTuple):
    """What the loader needs to start an ELF file: PT_INTERP, DT_NEEDED, RUNPATH/RPATH.

    A NamedTuple, not a dataclass: this module is on the path of every ``pack``, where
    ``dataclasses`` (with ``inspect``) and building each class cost ~25 ms (issue 17)."""

    machine: str
    interpreter: str | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]  # RUNPATH and RPATH entries together, for a quick "is it there"
    # Apart, for a search with ld.so's semantics (RPATH is inherited, RUNPATH is not):
    dt_rpath: tuple[str, ...] = ()
    dt_runpath: tuple[str, ...] = ()
    soname: str | None = None
    wide: bool = True  # ELFCLASS64
    # Which of WATCHED_SYMBOLS its dynamic string table names (imported or defined): the
    # hint that it calls iconv and needs gconv modules at run time.
    mentions: frozenset[str] = frozenset()


class ElfProbe:
    """Reads what start-up needs of an ELF file (the ELF and program headers, PT_INTERP, the
    dynamic section and its string table) from a stream going front to back, each piece
    capped, never the whole file.

    Hand-written because pyelftools needs random access to the whole file (it reads the
    section headers at the end first): a layer's content streams by once, and a binary of
    any size must cost a bounded amount of memory and no disk. Feed it the chunks that follow
    ``head``; when the string table lies behind the dynamic section and outside ``head`` (it
    went by before the probe knew it was needed), :attr:`behind` names the range to read on a
    second pass (``extra``)."""

    def __init__(self, head: bytes, extra: tuple[tuple[int, int], ...] = ()) -> None:
        if (
            head[:4] != b"\x7fELF"
            or len(head) < 52
            or head[4] not in (1, 2)
            or head[5] not in (1, 2)
        ):
            raise DamagedElf("not an ELF file, or an unknown ELF class or byte order")
        self._wide = head[4] == 2
        self._order = "<" if head[5] == 1 else ">"
        e = self._order
        if self._wide:
            fields = struct.unpack_from(f"{e}HHIQQQIHHHHHH", head, 16)
        else:
            fields = struct.unpack_from(f"{e}HHIIIIIHHHHHH", head, 16)
        machine, phoff, phentsize, phnum = fields[1], fields[4], fields[8], fields[9]
        self.machine = _MACHINES.get(machine, f"EM_{machine}")
        expected = 56 if self._wide else 32
        if phnum and phentsize < expected:
            raise DamagedElf(f"program header entries of {phentsize} bytes")
        if phoff + phnum * phentsize > min(len(head), HEAD_LIMIT):
            raise DamagedElf("program headers beyond the first MiB")
        self._loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
        self._interp: tuple[int, int] | None = None
        self._dynamic: tuple[int, int] | None = None
        for n in range(phnum):
            at = phoff + n * phentsize
            if self._wide:
                kind, _, offset, vaddr, _, filesz = struct.unpack_from(f"{e}IIQQQQ", head, at)
            else:
                kind, offset, vaddr, _, filesz = struct.unpack_from(f"{e}IIIII", head, at)
            if kind == _PT_LOAD:
                self._loads.append((vaddr, offset, filesz))
            elif kind == _PT_INTERP:
                self._interp = (offset, min(filesz, _INTERP_LIMIT))
            elif kind == _PT_DYNAMIC:
                if filesz > _DYNAMIC_LIMIT:
                    raise DamagedElf(f"a dynamic section of {filesz} bytes")
                self._dynamic = (offset, filesz)
        self._pieces: dict[tuple[int, int], bytearray] = {}
        self._head = head
        self._pos = len(head)
        self._recent: deque[tuple[int, bytes]] = deque([(0, head)])
        self._recent_size = len(head)
        self._strtab: tuple[int, int] | None = None
        self.behind: tuple[int, int] | None = None
        for wanted in (self._interp, self._dynamic, *extra):
            if wanted is not None:
                self._want(wanted)
        self._after_dynamic()

    @property
    def byte_order(self) -> str:
        """``<`` or ``>``, as ``struct`` spells little and big endian."""
        return self._order

    @property
    def links_at_run_time(self) -> bool:
        """Whether the program headers have a PT_INTERP or a PT_DYNAMIC (a dynamic or a
        static-pie file): without either, nothing is loaded or relocated at start."""
        return self._interp is not None or self._dynamic is not None

    @property
    def loaded_end(self) -> int:
        """Where the last PT_LOAD segment's bytes end in the file (0 without one)."""
        return max((offset + size for _, offset, size in self._loads), default=0)

    def _want(self, wanted: tuple[int, int]) -> None:
        offset, size = wanted
        if offset + size <= len(self._head) or wanted in self._pieces:
            return
        self._pieces[wanted] = bytearray()

    def _get(self, wanted: tuple[int, int]) -> bytes | None:
        offset, size = wanted
        if offset + size <= len(self._head):
            return self._head[offset : offset + size]
        piece = self._pieces.get(wanted)
        return bytes(piece) if piece is not None and len(piece) == size else None

    def _after_dynamic(self) -> None:
        """Once the dynamic section is in, where its string table is."""
        if self._strtab is not None or self._dynamic is None:
            return
        data = self._get(self._dynamic)
        if data is None:
            return
        entries = self._dynamic_entries(data)
        address = next((v for t, v in entries if t == _DT_STRTAB), None)
        size = next((v for t, v in entries if t == _DT_STRSZ), 0)
        if address is None:
            self._strtab = (0, 0)
            return
        if size > _STRTAB_LIMIT:
            raise DamagedElf(f"a dynamic string table of {size} bytes")
        offset = next((o + address - v for v, o, s in self._loads if v <= address < v + s), None)
        if offset is None:
            raise DamagedElf("the dynamic string table is in no loaded segment")
        self._strtab = (offset, size)
        if self._get(self._strtab) is None:
            if offset >= self._pos:
                self._want(self._strtab)
            elif (recent := self._from_recent(offset, size)) is not None:
                self._pieces[self._strtab] = bytearray(recent)
            else:
                self.behind = self._strtab

    def _from_recent(self, offset: int, size: int) -> bytes | None:
        """``size`` bytes from ``offset`` out of the last bytes fed, if they are all there."""
        end = min(offset + size, self._pos)
        if not self._recent or self._recent[0][0] > offset:
            return None
        out = bytearray()
        for start, chunk in self._recent:
            lo, hi = max(offset + len(out), start), min(end, start + len(chunk))
            if lo < hi:
                out += chunk[lo - start : hi - start]
        return bytes(out) if len(out) == size else None

    def _dynamic_entries(self, data: bytes) -> list[tuple[int, int]]:
        layout = f"{self._order}qQ" if self._wide else f"{self._order}iI"
        step = struct.calcsize(layout)
        entries = []
        for at in range(0, len(data) - step + 1, step):
            tag, value = struct.unpack_from(layout, data, at)
            if tag == 0:
                break
            entries.append((tag, value))
        return entries

    @property
    def done(self) -> bool:
        return all(len(p) == size for (_, size), p in self._pieces.items())

    def feed(self, chunk: bytes) -> None:
        """The next bytes of the file, after ``head`` and what was fed before."""
        start, end = self._pos, self._pos + len(chunk)
        for (offset, size), piece in self._pieces.items():
            lo, hi = max(start, offset + len(piece)), min(end, offset + size)
            if lo < hi and lo == offset + len(piece):
                piece.extend(chunk[lo - start : hi - start])
        self._pos = end
        self._recent.append((start, chunk))
        self._recent_size += len(chunk)
        while self._recent_size - len(self._recent[0][1]) >= RECENT_LIMIT:
            self._recent_size -= len(self._recent.popleft()[1])
        self._after_dynamic()

    def needs(self) -> StartupNeeds:
        """What the pieces say (call when :attr:`done`, or at the end of the file)."""
        interpreter = None
        if self._interp is not None:
            data = self._get(self._interp)
            if data is None:
                raise DamagedElf("PT_INTERP lies beyond the end of the file")
            interpreter = data.split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")
        if self._dynamic is None:
            return StartupNeeds(self.machine, interpreter, (), (), wide=self._wide)
        data = self._get(self._dynamic)
        if data is None:
            raise DamagedElf("the dynamic section lies beyond the end of the file")
        entries = self._dynamic_entries(data)
        table = self._get(self._strtab) if self._strtab is not None else None
        if table is None and self.behind is not None:
            raise DamagedElf("the dynamic string table went by before the dynamic section")
        if table is None:
            raise DamagedElf("the dynamic string table lies beyond the end of the file")

        def string(at: int) -> str:
            end = table.find(b"\x00", at)
            if at >= len(table) or end < 0:
                raise DamagedElf("a dynamic string outside its table")
            return table[at:end].decode("utf-8", "backslashreplace")

        needed = [string(v) for t, v in entries if t == _DT_NEEDED]
        if len(needed) > _NEEDED_LIMIT:
            raise DamagedElf(f"{len(needed)} DT_NEEDED entries")
        runpath = [string(v) for t, v in entries if t in (_DT_RUNPATH, _DT_RPATH)]
        rpath = tuple(string(v) for t, v in entries if t == _DT_RPATH)
        own = tuple(string(v) for t, v in entries if t == _DT_RUNPATH)
        soname = next((string(v) for t, v in entries if t == _DT_SONAME), None)
        mentions = frozenset(
            name for name in WATCHED_SYMBOLS if b"\x00" + name.encode() + b"\x00" in table
        )
        return StartupNeeds(
            self.machine, interpreter, tuple(needed), tuple(runpath), rpath, own, soname,
            self._wide, mentions,
        )  # fmt: skip


def probe_stream(head: bytes, rest: IO[bytes], extra: tuple[tuple[int, int], ...] = ()) -> ElfProbe:
    """An :class:`ElfProbe` fed from ``rest`` until it has what it wants (or the file ends)."""
    probe = ElfProbe(head, extra)
    while not probe.done:
        chunk = rest.read(1 << 20)
        if not chunk:
            break
        probe.feed(chunk)
    return probe


def probe_file(handle: IO[bytes]) -> StartupNeeds:
    """What start-up needs of a local ELF file (read again from the start for a string table
    that lies behind the dynamic section)."""
    probe = probe_stream(handle.read(HEAD_LIMIT), handle)
    if probe.behind is not None:
        handle.seek(0)
        probe = probe_stream(handle.read(HEAD_LIMIT), handle, (probe.behind,))
    return probe.needs()
