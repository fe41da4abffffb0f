"""What glibc loads at run time that no DT_NEEDED names: NSS modules and libgcc_s.

A dynamic program's closure (``closure.py``) is not enough for glibc programs: glibc
``dlopen``s NSS modules for the services ``/etc/nsswitch.conf`` names, and ``libgcc_s.so.1``
for ``pthread_cancel``/``pthread_exit`` and for unwinding; without them a lookup fails silently
or the program aborts ("libgcc_s.so.1 must be installed for pthread_cancel to work"). Which
NSS modules exist as files depends on the glibc version: since 2.34 ``files`` and ``dns`` are
built into ``libc.so.6`` (the ``libnss_files.so.2`` file is a stub), before they were modules
(with ``libresolv.so.2`` for dns). See ../shared/notes/glibc-runtime.md for the measurements.
The names, directories and conditions are ``glibcfiles.py``'s table, which ``init``'s
Dockerfile reads too; this module applies them to a root it can look into.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import describe_os_error
from scratchpack.operations.closure import Closure, RootResolver
from scratchpack.operations.glibcfiles import (
    BUILTIN_SINCE,
    GCONV_CONFIG_DIR,
    GCONV_CONFIGS,
    GCONV_SUBDIR,
    LIBGCC_S,
    LOCALE_ARCHIVE,
    LOCALE_DIR,
    normalized_locale,
    nss_services,
    nss_sonames,
)

# Re-exported: callers and tests import them from here, the rules' home for a root.
__all__ = [
    "BUILTIN_SINCE", "LIBGCC_S", "Gconv", "find_gconv", "glibc_version", "locale_files",
    "normalized_locale", "nss_services", "nss_sonames", "runtime_sonames",
]  # fmt: skip

# The banner glibc carries ("... stable release version 2.36."), read from libc.so.6.
_BANNER = re.compile(rb"release version (\d+)\.(\d+)")
_SCAN_LIMIT = 16 << 20  # bytes of libc.so.6 searched for it: real ones are about 2 MB
_SCAN_PIECE = 1 << 20


def glibc_version(resolver: RootResolver, libc_path: str) -> tuple[int, int] | None:
    """The version of the glibc whose ``libc.so.6`` is at ``libc_path`` inside the root, from
    its banner; None when the file carries none (musl, or not glibc at all)."""
    resolved = resolver.resolve(libc_path)
    if resolved is None:
        return None
    host = resolver.host_path(resolved[0])
    try:
        with host.open("rb") as handle:
            tail = b""
            read = 0
            while read < _SCAN_LIMIT:
                piece = handle.read(_SCAN_PIECE)
                if not piece:
                    break
                read += len(piece)
                match = _BANNER.search(tail + piece)
                if match:
                    return int(match[1]), int(match[2])
                tail = piece[-64:]
    except OSError as exc:
        raise ScratchpackError(f"cannot read {host}: {describe_os_error(exc)}") from exc
    return None


def runtime_sonames(closure: Closure, resolver: RootResolver, nsswitch: str) -> list[str]:
    """What glibc loads behind the program's back, for a closure that holds glibc's libc:
    the NSS modules for ``nsswitch`` and ``libgcc_s.so.1``. Empty for a non-glibc program."""
    libc = closure.libraries.get("libc.so.6")
    if libc is None:
        return []
    version = glibc_version(resolver, libc)
    if version is None:
        return []
    return [*nss_sonames(nsswitch, version), LIBGCC_S]


# -- gconv: the modules iconv loads ---------------------------------------------------------

_CONF_LIMIT = 1 << 20  # bytes of one gconv configuration file read


@dataclass(frozen=True)
class Gconv:
    """A root's gconv directory: its configuration files and which module file serves which
    charset (from ``gconv-modules`` and ``gconv-modules.d/*.conf``)."""

    directory: str
    configs: tuple[str, ...]
    aliases: dict[str, str]
    modules: dict[str, set[str]]  # charset (upper case, no //) -> module files (no .so)

    def module_paths(self, charsets: list[str] | None) -> list[str]:
        """The module files for ``charsets`` (their aliases resolved), or all of them."""
        if charsets is None:
            names = {name for files in self.modules.values() for name in files}
        else:
            names = set()
            for charset in charsets:
                key = charset.upper().rstrip("/")
                key = self.aliases.get(key, key)
                if key not in self.modules:
                    raise UsageError(
                        f"--gconv {charset}: no gconv module converts it (a built-in "
                        "charset such as UTF-8 needs none)"
                    )
                names |= self.modules[key]
        return sorted(
            name if name.startswith("/") else f"{self.directory}/{name}.so" for name in names
        )


def find_gconv(resolver: RootResolver, libc_path: str) -> Gconv | None:
    """The gconv directory beside a root's ``libc.so.6`` (glibc's GCONV_PATH default)."""
    resolved = resolver.resolve(libc_path)
    if resolved is None:
        return None
    directory = f"{PurePosixPath(resolved[0]).parent}/{GCONV_SUBDIR}"
    found = resolver.resolve(directory)
    if found is None or not resolver.host_path(found[0]).is_dir():
        return None
    configs = [f"{directory}/{name}" for name in GCONV_CONFIGS]
    extra = resolver.resolve(f"{directory}/{GCONV_CONFIG_DIR}")
    if extra is not None and resolver.host_path(extra[0]).is_dir():
        configs += sorted(
            f"{directory}/{GCONV_CONFIG_DIR}/{entry.name}"
            for entry in resolver.host_path(extra[0]).iterdir()
            if entry.name.endswith(".conf")
        )
    aliases: dict[str, str] = {}
    modules: dict[str, set[str]] = {}
    for config in configs:
        if config.endswith(".cache"):
            continue
        text = _read_small(resolver, config)
        for raw in text.splitlines():
            words = raw.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "alias":
                aliases[words[1].upper().rstrip("/")] = words[2].upper().rstrip("/")
            elif len(words) >= 4 and words[0] == "module":
                for charset in (words[1], words[2]):
                    key = charset.upper().rstrip("/")
                    if key != "INTERNAL":
                        modules.setdefault(key, set()).add(words[3])
    present = tuple(c for c in configs if resolver.resolve(c) is not None)
    return Gconv(directory, present, aliases, modules)


def _read_small(resolver: RootResolver, path: str) -> str:
    resolved = resolver.resolve(path)
    if resolved is None:
        return ""
    try:
        with resolver.host_path(resolved[0]).open("rb") as handle:
            return handle.read(_CONF_LIMIT).decode("utf-8", "replace")
    except OSError:
        return ""


# -- locales ----------------------------------------------------------------------------------


def locale_files(resolver: RootResolver, name: str) -> list[str]:
    """The files of locale ``name`` in the root's /usr/lib/locale (one directory per locale,
    as ``locales-all`` or ``localedef DIR`` make them)."""
    for candidate in dict.fromkeys((normalized_locale(name), name)):
        directory = f"{LOCALE_DIR}/{candidate}"
        found = resolver.resolve(directory)
        if found is not None and resolver.host_path(found[0]).is_dir():
            host = resolver.host_path(found[0])
            files: list[str] = []
            for top, _dirs, names in os.walk(host):  # symlinked directories not followed
                relative = Path(top).relative_to(host).as_posix()
                prefix = directory if relative == "." else f"{directory}/{relative}"
                files += [f"{prefix}/{name}" for name in names]
            return sorted(files)
    archive = resolver.resolve(LOCALE_ARCHIVE)
    hint = (
        " (it may be inside locale-archive, which scratchpack does not split: install "
        "locales-all, or compile it with `localedef -i LANG -f CHARSET "
        f"{LOCALE_DIR}/{normalized_locale(name)}` in the root)"
        if archive is not None
        else " (install locales-all, or compile it with localedef into that directory)"
    )
    raise UsageError(
        f"--locale {name}: no {LOCALE_DIR}/{normalized_locale(name)} in the root{hint}"
    )
