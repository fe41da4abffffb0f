"""What glibc loads at run time that no DT_NEEDED names: NSS modules and libgcc_s.

A dynamic program's closure (``closure.py``) is not enough for glibc programs: glibc
``dlopen``s NSS modules for the services ``/etc/nsswitch.conf`` names, and ``libgcc_s.so.1``
for ``pthread_cancel``/``pthread_exit`` and for unwinding; without them a lookup fails silently
or the program aborts ("libgcc_s.so.1 must be installed for pthread_cancel to work"). Which
NSS modules exist as files depends on the glibc version: since 2.34 ``files`` and ``dns`` are
built into ``libc.so.6`` (the ``libnss_files.so.2`` file is a stub), before they were modules
(with ``libresolv.so.2`` for dns). See ../shared/notes/glibc-runtime.md for the measurements.
"""

from __future__ import annotations

import re

from scratchpack.errors import ScratchpackError
from scratchpack.fsutil import describe_os_error
from scratchpack.operations.closure import Closure, RootResolver

# The banner glibc carries ("... stable release version 2.36."), read from libc.so.6.
_BANNER = re.compile(rb"release version (\d+)\.(\d+)")
_SCAN_LIMIT = 16 << 20  # bytes of libc.so.6 searched for it: real ones are about 2 MB
_SCAN_PIECE = 1 << 20
BUILTIN_SINCE = (2, 34)  # files and dns inside libc.so.6 from this version on
LIBGCC_S = "libgcc_s.so.1"
# nsswitch.conf databases a program in an image may look up; services outside the reach of
# a file in the image (nis, db) still get their module copied if the file names them.
_DATABASES = {
    "passwd", "group", "shadow", "gshadow", "hosts", "networks", "protocols", "services",
    "ethers", "rpc", "netgroup", "aliases", "initgroups", "publickey", "automount",
}  # fmt: skip


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


def nss_services(nsswitch: str) -> list[str]:
    """The service names of an nsswitch.conf, in order of first mention, actions left out."""
    services: list[str] = []
    for raw in nsswitch.splitlines():
        line = raw.split("#", 1)[0]
        database, colon, rest = line.partition(":")
        if not colon or database.strip() not in _DATABASES:
            continue
        for word in re.sub(r"\[[^\]]*\]", " ", rest).split():
            if re.fullmatch(r"[A-Za-z0-9_]+", word) and word not in services:
                services.append(word)
    return services


def nss_sonames(nsswitch: str, version: tuple[int, int]) -> list[str]:
    """The NSS module sonames glibc ``version`` will ``dlopen`` for this nsswitch.conf."""
    sonames: list[str] = []
    for service in nss_services(nsswitch):
        if service in ("files", "dns") and version >= BUILTIN_SINCE:
            continue
        sonames.append(f"libnss_{service}.so.2")
        if service == "dns" and version < BUILTIN_SINCE:
            sonames.append("libresolv.so.2")
    return sonames


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
