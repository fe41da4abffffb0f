"""Will the image start? Resolve the command as the runtime would and check what it needs.

The runtime execs ``ENTRYPOINT + CMD``: a bare name is looked up in the image's ``PATH``, a
relative one from ``WORKDIR``, symlinks are followed. A script needs its ``#!`` interpreter; a
dynamic ELF needs its loader (``PT_INTERP``) and every ``DT_NEEDED`` library in the loader's
search path (``RUNPATH``/``RPATH``, ``LD_LIBRARY_PATH``, ``/etc/ld.so.conf``, the default
directories). Anything missing means "exec format error" or "no such file or directory" at
``docker run``, which this names before anyone ships it.
"""

from __future__ import annotations

import posixpath
import struct
from dataclasses import dataclass, field
from typing import IO

from scratchpack.operations.contents.scan import Scan
from scratchpack.operations.elf import TLS_MARKERS, DamagedElf, StartupNeeds, probe_file

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_LIB_DIRS = ("lib", "usr/lib", "lib64", "usr/lib64", "usr/local/lib")
_MULTIARCH = {
    "EM_X86_64": "x86_64-linux-gnu",
    "EM_AARCH64": "aarch64-linux-gnu",
    "EM_ARM": "arm-linux-gnueabihf",
    "EM_386": "i386-linux-gnu",
    "EM_PPC64": "powerpc64le-linux-gnu",
    "EM_S390": "s390x-linux-gnu",
    "EM_RISCV": "riscv64-linux-gnu",
}


@dataclass
class Startup:
    argv: list[str]
    path: str | None = None  # the resolved file, image-relative
    kind: str = "none"  # none, missing, not-executable, script, elf-static, elf-dynamic, other
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    uses_tls: bool = False
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "argv": self.argv,
            "path": "/" + self.path if self.path is not None else None,
            "kind": self.kind,
            "interpreter": self.interpreter,
            "needed": self.needed,
            "missing": self.missing,
            "uses_tls": self.uses_tls,
            "note": self.note,
        }


def command_line(entrypoint: list[str], cmd: list[str]) -> list[str]:
    return [*entrypoint, *cmd] if entrypoint else list(cmd)


def env_value(env: list[str], name: str) -> str | None:
    for item in env:
        key, sep, value = item.partition("=")
        if sep and key == name:
            return value
    return None


def candidate_names(argv: list[str]) -> frozenset[str]:
    """Base names worth capturing while the layers stream by."""
    return frozenset({posixpath.basename(argv[0])} if argv and argv[0] else set())


def _lookup(scan: Scan, name: str, env: list[str], workdir: str) -> tuple[str | None, str]:
    """The file the runtime would exec for ``name``, or None and why not."""
    fs = scan.filesystem
    if "/" in name:
        path = name if name.startswith("/") else posixpath.join(workdir or "/", name)
        found = fs.lookup(path)
        return found.path, found.why
    why = ""
    for directory in (env_value(env, "PATH") or DEFAULT_PATH).split(":")[:64]:
        found = fs.lookup(posixpath.join(directory or ".", name))
        if found.path is not None and fs.nodes[found.path].kind == "file":
            return found.path, ""
        if "symbolic links" in found.why:
            why = found.why
    return None, why


def analyse(
    scan: Scan, entrypoint: list[str], cmd: list[str], env: list[str], workdir: str
) -> Startup:
    argv = command_line(entrypoint, cmd)
    result = Startup(argv)
    if not argv or not argv[0]:
        result.note = "the image has neither ENTRYPOINT nor CMD: it runs only with a command"
        return result
    path, why = _lookup(scan, argv[0], env, workdir)
    if path is None:
        result.kind = "missing"
        loop = "symbolic links" in why
        result.note = f"{argv[0]}: {why}" if loop else f"{argv[0]} is not in the image"
        return result
    result.path = path
    node = scan.filesystem.nodes[path]
    if node.kind != "file":
        result.kind = "other"
        result.note = f"/{path} is a {node.kind}, not a file"
        return result
    if not (node.mode & 0o7777) & 0o111:
        result.kind = "not-executable"
        result.note = f"/{path} has mode {(node.mode & 0o7777):04o}: no execute permission"
        return result
    found = scan.binary(path)
    if found is None or found.behind is not None:
        result.kind = "unread"
        result.note = f"/{path} was reached through a link under another name; not inspected"
        return result
    head = found.head
    if head.startswith(b"#!"):
        _script(scan, result, head, env, workdir)
    elif head.startswith(b"\x7fELF"):
        if found.needs is None:
            result.kind = "other"
            result.note = f"damaged ELF file: {found.damage}"
            return result
        _elf(scan, result, found.needs, env, workdir)
        result.uses_tls = result.uses_tls or found.uses_tls
    else:
        result.kind = "other"
        result.note = f"/{path} is neither an ELF binary nor a script"
    return result


def _script(scan: Scan, result: Startup, head: bytes, env: list[str], workdir: str) -> None:
    result.kind = "script"
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    interpreter = line.split()[0] if line else ""
    result.interpreter = interpreter
    # as PT_INTERP, a relative interpreter is opened from the working directory
    found = (
        scan.filesystem.resolve(posixpath.join(workdir or "/", interpreter))
        if interpreter
        else None
    )
    if found is None:
        result.missing.append(interpreter or "(empty #! line)")
        return
    if found == result.path:  # the kernel rewrites the exec 5 times at most, then ELOOP
        result.kind = "other"
        result.note = (
            f"/{result.path} names itself as its #! interpreter (exec fails: too many levels "
            "of symbolic links)"
        )
        return
    if posixpath.basename(interpreter) == "env" and len(line.split()) > 1:
        program = line.split()[-1]
        if _lookup(scan, program, env, workdir)[0] is None:
            result.missing.append(program)


def _search_dirs(scan: Scan, needs: StartupNeeds, origin: str, env: list[str]) -> list[str]:
    dirs: list[str] = []
    runpath = [d for text in needs.runpath for d in text.split(":")]
    dirs += [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for d in runpath if d]
    dirs += [d for d in (env_value(env, "LD_LIBRARY_PATH") or "").split(":") if d]
    conf = [scan.config_file("etc/ld.so.conf") or b""]
    conf += [
        scan.config_file(p) or b""
        for p in sorted(p for p, _ in scan.filesystem.find(under="etc/ld.so.conf.d"))
    ]
    for raw in conf:
        for line in raw.decode("utf-8", "replace").splitlines():
            directory = line.split("#", 1)[0].strip()
            if directory.startswith("/"):
                dirs.append(directory)
    triple = _MULTIARCH.get(needs.machine)
    for base in _LIB_DIRS:
        if triple:
            dirs.append(f"/{base}/{triple}")
        dirs.append(f"/{base}")
    return list(dict.fromkeys(dirs))[:256]


def _elf(
    scan: Scan, result: Startup, needs: StartupNeeds, env: list[str], workdir: str = "/"
) -> None:
    interpreter, needed = needs.interpreter, list(needs.needed)
    origin = "/" + posixpath.dirname(result.path or "")
    dirs = _search_dirs(scan, needs, origin, env) if needed else []
    if interpreter == "":  # a PT_INTERP of no name: the kernel refuses the exec (EACCES)
        interpreter = "(empty PT_INTERP)"
    result.interpreter = interpreter
    result.needed = needed
    result.kind = "elf-dynamic" if interpreter is not None or needed else "elf-static"
    fs = scan.filesystem
    # the kernel opens PT_INTERP as it is: a relative one from the process's working directory
    if interpreter is not None and fs.resolve(posixpath.join(workdir or "/", interpreter)) is None:
        result.missing.append(interpreter)
    for library in needed:
        if "/" in library:
            found = fs.resolve(library) is not None
        else:
            found = any(fs.resolve(posixpath.join(d, library)) is not None for d in dirs)
        if not found:
            result.missing.append(library)
    result.uses_tls = any(TLS_MARKERS.search(n.encode()) for n in needed)


def check_binary(scan: Scan, content: IO[bytes], path: str, env: list[str]) -> Startup:
    """What an ELF file placed at ``path`` would need from the scanned image to start (its
    loader and libraries, searched as the loader would), as ``Startup.missing``."""
    result = Startup([path], path=path.lstrip("/"))
    try:
        needs = probe_file(content)
    except (DamagedElf, struct.error) as exc:
        result.kind = "other"
        result.note = f"damaged ELF file: {exc}"
        return result
    _elf(scan, result, needs, env)
    return result
