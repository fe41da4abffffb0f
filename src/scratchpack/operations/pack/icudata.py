"""``--icu-locales``: Debian's ICU data library rebuilt with only some languages' locale data.

Debian's node is built against the system ICU, so every ``Intl`` call, ``toLocale*String``
and ``String.prototype.normalize`` reads ``libicudata.so.72``: 31.3 MB (12.2 MB gzipped), the
biggest file of a Node image after libnode. 18.4 MB of it is locale data for about 800
locales in the main tree and in ``coll/``, ``curr/``, ``lang/``, ``region/``, ``unit/``,
``zone/``, ``rbnf/`` and ``brkitr/``. Keeping only the languages an app formats for is ICU's
own documented way to make the data small (the ICU Data Build Tool filters the same trees).

It is **opt-in** because it changes behaviour: a dropped locale is no longer available, so
``new Intl.DateTimeFormat('fr')`` resolves to the default locale (``en-US``) and formats in
English, ``supportedLocalesOf(['fr'])`` is empty, and French collation falls back to the root
order. Nothing else changes: ``root`` and ``en`` (the image's default locale) always stay, and
so does everything that is not per-locale data (the collation root table, normalization,
converters for ``TextDecoder``, break-iterator rules and dictionaries, time zones, plural and
supplemental data), so Unicode behaviour and ``en`` output are the same as with the full data.

The rebuild uses ICU's own tools from Debian's ``icu-devtools`` of the same ICU version
(``icupkg`` to list, extract and remove items, ``derb`` and ``genrb`` to rewrite each tree's
``res_index`` so the dropped locales are not advertised, ``genccode`` to turn the package into
an object file) and ``ld`` from Debian's binutils to link it as ``libicudata.so.72`` with the
same ``icudt72_dat`` symbol: the other ICU libraries load it unchanged. They are unpacked into
the scratch root beside node and run through that root's own loader (as ``pyruntime.py``
runs CPython), so the result depends on the Debian package versions only, not on the host's
tools, and two runs give the same bytes. The new library is read back (its symbol must hold
exactly the reduced package); that node formats with it is what ``--check``/``--test`` show.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scratchpack.errors import ScratchpackError, UsageError

TOOL_PACKAGES = ("icu-devtools", "binutils-x86-64-linux-gnu")
ALWAYS_KEPT = ("en",)  # the image's default locale (no LANG: ICU's en_US_POSIX -> en-US)
_LIBDIR = "usr/lib/x86_64-linux-gnu"
_LOADER = f"{_LIBDIR}/ld-linux-x86-64.so.2"
_LANGUAGE = re.compile(r"[a-z]{2,3}")
# a locale bundle: <tree>/<language>[_<script|region|variant>...].res ("es_" is a variant's
# parent); res_index is each tree's list of locales, rewritten rather than dropped
_LOCALE_ITEM = re.compile(r"(?:[a-z]+/)?([a-z]{2,3})(?:_[A-Za-z0-9]*)*\.res")
_DATA_SYMBOL = re.compile(r"icudt[0-9]+_dat")
_INDEX_LINE = re.compile(r"\s+([A-Za-z0-9_]+) \{ \"\" \}")
TIMEOUT = 300.0
_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


@dataclass(frozen=True)
class ReducedIcu:
    """The rebuilt library (``library``, a file in the scratch dir) and what it dropped."""

    library: Path
    kept: tuple[str, ...]
    dropped_items: int
    original_size: int
    size: int


def parse_languages(text: str) -> tuple[str, ...]:
    """``--icu-locales en,de``: ISO 639 language codes (every region and script of each is
    kept: de keeps de_AT and de_CH), sorted, with ``en`` added."""
    languages = {part.strip() for part in text.split(",") if part.strip()}
    bad = sorted(name for name in languages if not _LANGUAGE.fullmatch(name))
    if bad or not languages:
        which = f"; not a language code: {', '.join(bad)}" if bad else ""
        raise UsageError(f"--icu-locales {text!r}: give language codes separated by commas, "
                         f"e.g. en,de (de keeps de_AT and de_CH too){which}")  # fmt: skip
    return tuple(sorted(languages | set(ALWAYS_KEPT)))


class _Tools:
    """ICU's and binutils' programs from the scratch root, run through its own loader."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loader = root / _LOADER
        if not self.loader.is_file():
            raise ScratchpackError(f"{root}: no {_LOADER} to run ICU's tools with")

    def find(self, name: str) -> Path:
        for directory in ("usr/bin", "usr/sbin"):
            path = self.root / directory / name
            if path.is_file():
                return path.resolve() if path.is_symlink() else path
        raise ScratchpackError(f"Debian's {' and '.join(TOOL_PACKAGES)} have no {name}")

    def run(self, name: str, *args: str | Path, cwd: Path | None = None) -> str:
        program = self.find(name)
        if not program.resolve().is_relative_to(self.root.resolve()):
            raise ScratchpackError(f"{name} in the scratch root points outside it")
        command = [str(self.loader), "--library-path", str(self.root / _LIBDIR), str(program)]
        command += [str(arg) for arg in args]
        try:
            proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False,
                                  timeout=TIMEOUT, env=_ENV)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ScratchpackError(f"cannot run {name} from {self.root}: {exc}") from exc
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ScratchpackError(f"{name} failed while rebuilding ICU's data: "
                                   + ("; ".join(detail) or f"exit {proc.returncode}"))  # fmt: skip
        return proc.stdout


def find_library(root: Path) -> Path:
    """Debian's ``libicudata.so.NN.M`` in the root (the real file, not its soname link)."""
    found = sorted(p for p in (root / _LIBDIR).glob("libicudata.so.*.*") if not p.is_symlink())
    if not found:
        raise ScratchpackError("Debian's node root has no libicudata.so: the package set changed")
    return found[-1]


def extract_data(library: Path) -> tuple[str, bytes]:
    """The ICU common data package linked into ``library`` (the bytes of its exported
    ``icudtNN_dat`` symbol) and that symbol's name. Hand-written because no tool takes the
    package back out of the shared object: pyelftools reads the symbol, this finds its bytes."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        with library.open("rb") as handle:
            elf = ELFFile(handle)
            dynsym = elf.get_section_by_name(".dynsym")
            if not isinstance(dynsym, SymbolTableSection):
                raise ScratchpackError(f"{library.name} has no dynamic symbol table")
            symbols = [s for s in dynsym.iter_symbols()
                       if _DATA_SYMBOL.fullmatch(s.name) and s["st_size"] > 0]  # fmt: skip
            if len(symbols) != 1:
                raise ScratchpackError(f"{library.name}: no single icudtNN_dat symbol")
            symbol = symbols[0]
            address, size = symbol["st_value"], symbol["st_size"]
            for section in elf.iter_sections():
                start = section["sh_addr"]
                if (
                    section["sh_type"] != "SHT_NOBITS"
                    and start <= address < start + section["sh_size"]
                    and address + size <= start + section["sh_size"]
                ):
                    handle.seek(section["sh_offset"] + address - start)
                    data = handle.read(size)
                    if len(data) != size:
                        break
                    return symbol.name.removesuffix("_dat"), data
    except (OSError, ELFError) as exc:
        raise ScratchpackError(f"cannot read ICU's data from {library}: {exc}") from exc
    raise ScratchpackError(f"{library.name}: its data symbol lies outside its file's sections")


def dropped_items(items: list[str], keep: tuple[str, ...]) -> list[str]:
    """The locale bundles of languages not kept (``root``, ``res_index`` and every item that
    is not a locale bundle stay)."""
    dropped = []
    for item in items:
        if item.endswith("res_index.res"):
            continue
        match = _LOCALE_ITEM.fullmatch(item)
        if match and match.group(1) not in keep:
            dropped.append(item)
    return dropped


def filter_index(text: str, keep: tuple[str, ...]) -> str:
    """A tree's ``res_index`` as derb prints it, with the dropped locales' lines taken out of
    ``InstalledLocales`` and ``AliasLocales``, and the ``nofallback`` flag derb does not print
    put back (without it the index would fall back to a bundle named ``res``)."""
    lines = []
    for line in text.splitlines():
        match = _INDEX_LINE.fullmatch(line)
        if match and match.group(1).split("_")[0] not in keep:
            continue
        lines.append("res_index:table(nofallback){" if line.strip() == "res_index{" else line)
    return "\n".join(lines) + "\n"


def reduce_icu(root: Path, work: Path, keep: tuple[str, ...]) -> ReducedIcu:
    """Rebuild the root's ``libicudata`` in ``work`` with only ``keep``'s locale data."""
    tools = _Tools(root)
    original = find_library(root)
    entry, data = extract_data(original)
    name = f"{entry}l"  # the package name the items are filed under (little-endian)
    work.mkdir(parents=True, exist_ok=True)
    full = work / "full" / f"{name}.dat"
    full.parent.mkdir()
    full.write_bytes(data)
    items = tools.run("icupkg", "-l", full).split()
    available = {m.group(1) for item in items if (m := _LOCALE_ITEM.fullmatch(item))}
    missing = sorted(set(keep) - available)
    if missing:
        raise UsageError(f"--icu-locales: ICU {entry[5:]} has no locale data for "
                         f"{', '.join(missing)}")  # fmt: skip
    drop = dropped_items(items, keep)
    indexes = [item for item in items if item.endswith("res_index.res")]
    (work / "drop.txt").write_text("".join(f"{item}\n" for item in drop))
    (work / "indexes.txt").write_text("".join(f"{item}\n" for item in indexes))
    extracted, rebuilt = work / "extracted", work / "rebuilt"
    extracted.mkdir()
    tools.run("icupkg", "-x", work / "indexes.txt", "-d", extracted, full)
    for item in indexes:
        tree = item.rpartition("/")[0]
        text = tools.run("derb", "-c", "-s", extracted / tree, "res_index")
        source = work / "res_index.txt"
        source.write_text(filter_index(text, keep), encoding="utf-8")
        (rebuilt / tree).mkdir(parents=True, exist_ok=True)
        tools.run("genrb", "-q", "-e", "UTF-8", "-d", rebuilt / tree, source)
    small = work / "small" / f"{name}.dat"
    small.parent.mkdir()
    tools.run("icupkg", "-r", work / "drop.txt", full, small)
    tools.run("icupkg", "-a", work / "indexes.txt", "-s", rebuilt, small)
    objects = work / "objects"
    objects.mkdir()
    tools.run("genccode", "-q", "-o", "-m", original, "-e", entry, "-d", objects, small)
    (obj,) = objects.glob("*.o")
    soname = ".".join(original.name.split(".")[:3])  # libicudata.so.72
    library = work / original.name
    tools.run("x86_64-linux-gnu-ld.bfd", "-shared", "-soname", soname, "-z", "noexecstack",
              "--hash-style=gnu", "-o", library, obj)  # fmt: skip
    _check(library, entry, small)
    return ReducedIcu(library, keep, len(drop), original.stat().st_size, library.stat().st_size)


def _check(library: Path, entry: str, package: Path) -> None:
    """The linked library exports ``entry``'s symbol holding exactly the package icupkg wrote
    (icupkg itself refused a package with an item whose parent or dependency is gone)."""
    name, data = extract_data(library)
    if name != entry or data != package.read_bytes():
        raise ScratchpackError(f"the rebuilt {library.name} does not hold the reduced ICU data")
