"""The files a dynamic ELF program needs to start, found inside a root the way ld.so finds them.

A dynamic program in an empty image fails with "no such file or directory" because its loader
(``PT_INTERP``) and the libraries its ``DT_NEEDED`` entries name are not there. This module
computes that closure from a root directory (``/``, a sysroot, an unpacked builder image), so
``pack`` can copy exactly those files, with their symlink chains, into the image.

The search follows ld.so(8), for each object that needs a library:

1. a name with a slash is a path;
2. ``DT_RPATH`` of the object, then of the objects that loaded it up to the executable, but
   only when the object has no ``DT_RUNPATH`` (the old, inherited semantics);
3. (``LD_LIBRARY_PATH``: not part of an image, ignored);
4. ``DT_RUNPATH`` of that object alone;
5. the directories of the root's ``/etc/ld.so.conf`` (with its ``include`` globs) — what
   ``ldconfig`` puts in the cache;
6. the default directories (Debian's multiarch ones, then ``/lib64``, ``/usr/lib64``, ``/lib``,
   ``/usr/lib``).

``$ORIGIN``, ``$LIB`` and ``$PLATFORM`` are expanded in RPATH/RUNPATH. A candidate counts only
if it is an ELF shared object of the same class and machine (ld.so skips the others and goes on).
Every path is resolved inside the root, as if the root were ``/``: an absolute symlink target
points into the root, ``..`` stops at it, and a symlink loop is an error, so a hostile root
cannot make us read outside it. Written by hand because no library resolves sonames inside
another root (pyelftools reads one ELF file; ``ldd`` runs the host's loader on the host).
"""

from __future__ import annotations

import fnmatch
import os
import stat
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.fsutil import describe_os_error
from scratchpack.operations.elf import DamagedElf, StartupNeeds, probe_file

MAX_SYMLINKS = 40  # as the kernel's path walk: more is a loop
MAX_OBJECTS = 4096  # libraries in one closure; far above any real program's
MAX_CONF_FILES = 256  # ld.so.conf includes followed

# e_machine -> the multiarch triplet Debian's loader searches, and what $PLATFORM expands to.
_MULTIARCH: dict[str, tuple[str, str]] = {
    "EM_X86_64": ("x86_64-linux-gnu", "x86_64"),
    "EM_AARCH64": ("aarch64-linux-gnu", "aarch64"),
    "EM_ARM": ("arm-linux-gnueabihf", "v7l"),
    "EM_386": ("i386-linux-gnu", "i686"),
    "EM_PPC64": ("powerpc64le-linux-gnu", "ppc64le"),
    "EM_S390": ("s390x-linux-gnu", "s390x"),
    "EM_RISCV": ("riscv64-linux-gnu", "riscv64"),
}


@dataclass(frozen=True)
class ElfObject:
    """What the search needs from one ELF file."""

    path: str  # inside the root, as found (the directory $ORIGIN expands to)
    elf_class: int
    machine: str
    interpreter: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    soname: str | None
    mentions: frozenset[str] = frozenset()


@dataclass
class Closure:
    """The loader and libraries of one program, as paths inside the root."""

    program: str
    loader: str | None = None
    libraries: dict[str, str] = field(default_factory=dict)  # soname -> path as found
    missing: dict[str, str] = field(default_factory=dict)  # soname -> the object needing it
    # Every path to copy: each symlink on the way (to recreate it) and each file it reaches.
    files: set[str] = field(default_factory=set)
    symlinks: dict[str, str] = field(default_factory=dict)  # path -> its link text
    # Libraries glibc would dlopen (NSS modules, libgcc_s) that the root does not have:
    # the program starts without them, a lookup or pthread_cancel fails later.
    unavailable: dict[str, str] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)  # sonames answered (as ld.so dedupes them)
    # WATCHED_SYMBOLS named by the program or a library other than libc (which defines them)
    mentions: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return not self.missing and (self.loader is not None)

    def entries(self) -> list[tuple[str, str | None]]:
        """What to put in an image, parents first: ``(path, None)`` for a file to copy from
        the same path in the root, ``(path, target)`` for a symlink to recreate as it is."""
        found: dict[str, str | None] = {path: None for path in self.files}
        found.update(self.symlinks)
        return sorted(found.items(), key=lambda item: (item[0].count("/"), item[0]))


class RootResolver:
    """Resolves paths inside ``root`` as the kernel would after ``chroot(root)``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def host_path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def resolve(self, inside: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The final path inside the root and the symlinks crossed ``(path, target)``, or None
        when a component does not exist. Raises on a loop."""
        pending = list(reversed(PurePosixPath("/" + inside.lstrip("/")).parts[1:]))  # a stack
        current: list[str] = []
        crossed: list[tuple[str, str]] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if current:
                    current.pop()
                continue
            candidate = "/" + "/".join([*current, part])
            try:
                info = os.lstat(self.host_path(candidate))
            except FileNotFoundError:
                return None
            except NotADirectoryError:
                return None
            except OSError as exc:
                raise ScratchpackError(
                    f"cannot read {self.host_path(candidate)}: {describe_os_error(exc)}"
                ) from exc
            if stat.S_ISLNK(info.st_mode):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise FormatError(f"{inside}: too many levels of symbolic links in the root")
                target = str(self.host_path(candidate).readlink())
                crossed.append((candidate, target))
                parts = PurePosixPath(target).parts
                if target.startswith("/"):
                    current, parts = [], parts[1:]
                pending.extend(reversed(parts))
                continue
            current.append(part)
        return "/" + "/".join(current), crossed


def read_host_object(host_file: Path, inside: str) -> ElfObject:
    """The ELF facts of a file outside the root, as if it were at ``inside``."""
    try:
        with host_file.open("rb") as handle:
            needs = probe_file(handle)
    except (DamagedElf, struct.error) as exc:
        raise FormatError(f"{host_file} is a damaged ELF file: {exc}") from exc
    except OSError as exc:
        raise ScratchpackError(f"cannot read {host_file}: {describe_os_error(exc)}") from exc
    return _facts(needs, inside)


def _facts(needs: StartupNeeds, inside: str) -> ElfObject:
    rpath = tuple(p for entry in needs.dt_rpath for p in entry.split(":"))
    runpath = tuple(p for entry in needs.dt_runpath for p in entry.split(":"))
    return ElfObject(
        inside, 64 if needs.wide else 32, needs.machine, needs.interpreter, needs.needed, rpath,
        runpath, needs.soname, needs.mentions,
    )  # fmt: skip


def read_object(resolver: RootResolver, inside: str, final: str) -> ElfObject | None:
    """The ELF facts of ``final`` (a resolved path inside the root), or None if it is not an
    ELF file that could be loaded. Read with the bounded probe (headers, PT_INTERP, the dynamic
    section and its strings, each capped), never the whole file: a root may be a hostile
    image's."""
    host = resolver.host_path(final)
    try:
        with host.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                return None
            handle.seek(0)
            try:
                needs = probe_file(handle)
            except (DamagedElf, struct.error) as exc:
                raise FormatError(f"{final} in the root is a damaged ELF file: {exc}") from exc
    except (IsADirectoryError, FileNotFoundError):
        return None
    except OSError as exc:
        raise ScratchpackError(f"cannot read {host}: {describe_os_error(exc)}") from exc
    return _facts(needs, inside)


def ld_so_conf_dirs(resolver: RootResolver) -> list[str]:
    """The directories ``/etc/ld.so.conf`` of the root lists, includes followed (inside it)."""
    dirs: list[str] = []
    seen: set[str] = set()
    queue = ["/etc/ld.so.conf"]
    while queue and len(seen) < MAX_CONF_FILES:
        conf = queue.pop(0)
        if conf in seen:
            continue
        seen.add(conf)
        resolved = resolver.resolve(conf)
        if resolved is None:
            continue
        try:
            text = resolver.host_path(resolved[0]).read_text(errors="replace")
        except OSError:
            continue
        for raw in text.splitlines()[:10_000]:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include"):
                pattern = line.split(None, 1)[1] if " " in line or "\t" in line else ""
                for word in pattern.split():
                    queue.extend(_include_matches(resolver, conf, word))
            elif line.startswith("hwcap"):
                continue
            else:
                dirs.extend(d for d in line.replace(",", " ").split() if d.startswith("/"))
    return dirs


def _include_matches(resolver: RootResolver, conf: str, word: str) -> list[str]:
    """The files an ``include`` glob names: its directory resolved inside the root first (a
    symlinked directory must not list the host's), then the last component matched there."""
    absolute = PurePosixPath(
        word if word.startswith("/") else f"{PurePosixPath(conf).parent}/{word}"
    )
    directory = resolver.resolve(str(absolute.parent))
    if directory is None:
        return []
    try:
        names = sorted(entry.name for entry in resolver.host_path(directory[0]).iterdir())
    except OSError:
        return []
    return [
        f"{directory[0].rstrip('/')}/{name}"
        for name in names[:MAX_CONF_FILES]
        if fnmatch.fnmatchcase(name, absolute.name)
    ]


def default_dirs(machine: str) -> list[str]:
    triplet = _MULTIARCH.get(machine, ("", ""))[0]
    multiarch = [f"/lib/{triplet}", f"/usr/lib/{triplet}"] if triplet else []
    return [*multiarch, "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def expand(entry: str, origin: str, machine: str, elf_class: int) -> str:
    triplet, platform = _MULTIARCH.get(machine, ("", ""))
    lib = "lib64" if elf_class == 64 and not triplet else (f"lib/{triplet}" if triplet else "lib")
    for name, value in (("ORIGIN", origin), ("LIB", lib), ("PLATFORM", platform)):
        entry = entry.replace("${" + name + "}", value).replace("$" + name, value)
    return entry


class ClosureFinder:
    """Breadth-first over DT_NEEDED, each soname resolved once, as ld.so loads it once."""

    def __init__(self, root: Path) -> None:
        self.resolver = RootResolver(root)
        self._conf: list[str] | None = None

    def find(self, program: str, host_file: Path | None = None) -> Closure:
        """The closure of ``program``: a path inside the root, or, with ``host_file``, the
        path the program will have in the image, read from ``host_file`` (a binary built
        outside the root: its ``$ORIGIN`` is where it will live, and it is not one of
        :attr:`Closure.files`, the caller places it)."""
        closure = Closure(program)
        if host_file is None:
            resolved = self.resolver.resolve(program)
            if resolved is None:
                raise FormatError(f"{program}: no such file in the root")
            final, crossed = resolved
            main = read_object(self.resolver, program, final)
            if main is None:
                raise FormatError(f"{program} in the root is not an ELF executable")
            self._add(closure, final, crossed)
        else:
            main = read_host_object(host_file, program)
        loaded: set[str] = set()
        if main.interpreter:
            loader = self.resolver.resolve(main.interpreter)
            if loader is not None:
                closure.loader = main.interpreter
                self._add(closure, *loader)
                # libc names the loader in DT_NEEDED; ld.so is loaded already and answers it
                loaded.add(PurePosixPath(main.interpreter).name)
                facts = read_object(self.resolver, main.interpreter, loader[0])
                if facts is not None and facts.soname:
                    loaded.add(facts.soname)
            else:
                closure.missing[main.interpreter] = program
        closure.loaded |= loaded
        closure.mentions |= main.mentions
        self._load(closure, deque([(main, ())]))
        return closure

    def add_file(self, closure: Closure, path: str) -> bool:
        """A plain file the program reads at run time (gconv configuration, locale data),
        with its symlink chain; False when the root has no such file."""
        resolved = self.resolver.resolve(path)
        if resolved is None or not self.resolver.host_path(resolved[0]).is_file():
            return False
        self._add(closure, *resolved)
        return True

    def add_dlopened(self, closure: Closure, sonames: list[str], by: str = "libc.so.6") -> None:
        """Load ``sonames`` as ``by`` would ``dlopen`` them (its search path; libc has none of
        its own, so the root's ld.so.conf and default directories), with their own needs. A
        name found nowhere goes to :attr:`Closure.unavailable`, not :attr:`Closure.missing`:
        glibc skips an NSS module it cannot open, the program still starts."""
        opener_path = closure.libraries.get(by, closure.program)
        resolved = self.resolver.resolve(opener_path)
        opener = read_object(self.resolver, opener_path, resolved[0]) if resolved else None
        if opener is None:
            closure.unavailable.update({name: by for name in sonames})
            return
        chain = ((opener.path, opener),)
        queue: deque[tuple[ElfObject, tuple[tuple[str, ElfObject], ...]]] = deque()
        for name in sonames:
            if name in closure.loaded:
                continue
            found = self._search(name, opener, chain)
            if found is None:
                closure.unavailable[name] = by
                continue
            path, final, crossed, lib = found
            closure.loaded.add(name)
            closure.libraries[name] = path
            self._add(closure, final, crossed)
            queue.append((lib, chain))
        self._load(closure, queue)

    def _load(
        self, closure: Closure, queue: deque[tuple[ElfObject, tuple[tuple[str, ElfObject], ...]]]
    ) -> None:
        """Breadth first over DT_NEEDED; ``queue`` holds each object with the chain of the
        objects that loaded it (whose RPATHs it inherits)."""
        while queue:
            obj, loaders = queue.popleft()
            chain = ((obj.path, obj), *loaders)
            for name in obj.needed:
                if name in closure.loaded or name in closure.missing:
                    continue
                found = self._search(name, obj, chain)
                if found is None:
                    closure.missing[name] = obj.path
                    continue
                path, final, crossed, lib = found
                closure.loaded.add(name)
                closure.libraries[name] = path
                self._add(closure, final, crossed)
                if lib.soname != "libc.so.6":
                    closure.mentions |= lib.mentions
                if len(closure.libraries) > MAX_OBJECTS:
                    raise FormatError(f"{closure.program}: more than {MAX_OBJECTS} libraries")
                queue.append((lib, chain))

    def _add(self, closure: Closure, final: str, crossed: list[tuple[str, str]]) -> None:
        closure.files.add(final)
        for link, target in crossed:
            closure.symlinks[link] = target

    def _search(
        self, name: str, obj: ElfObject, chain: tuple[tuple[str, ElfObject], ...]
    ) -> tuple[str, str, list[tuple[str, str]], ElfObject] | None:
        if "/" in name:
            return self._candidate(name, obj)
        dirs: list[str] = []
        if not obj.runpath:
            for _, loader in chain:
                dirs += [self._expand(d, loader) for d in loader.rpath if d]
        dirs += [self._expand(d, obj) for d in obj.runpath if d]
        if self._conf is None:
            self._conf = ld_so_conf_dirs(self.resolver)
        dirs += self._conf
        dirs += default_dirs(obj.machine)
        seen: set[str] = set()
        for directory in dirs:
            if directory in seen:
                continue
            seen.add(directory)
            found = self._candidate(str(PurePosixPath(directory) / name), obj)
            if found is not None:
                return found
        return None

    def _expand(self, entry: str, obj: ElfObject) -> str:
        origin = str(PurePosixPath(obj.path).parent)
        return expand(entry, origin, obj.machine, obj.elf_class)

    def _candidate(
        self, path: str, wanted: ElfObject
    ) -> tuple[str, str, list[tuple[str, str]], ElfObject] | None:
        resolved = self.resolver.resolve(path)
        if resolved is None:
            return None
        final, crossed = resolved
        lib = read_object(self.resolver, path, final)
        if lib is None or lib.elf_class != wanted.elf_class or lib.machine != wanted.machine:
            return None  # ld.so skips a file of another class or machine and searches on
        return path, final, crossed, lib


def find_closure(root: Path, program: str, host_file: Path | None = None) -> Closure:
    """The loader and shared libraries ``program`` needs, resolved inside ``root``."""
    return ClosureFinder(root).find(program, host_file)
