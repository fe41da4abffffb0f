"""The table of what a dynamic glibc program reads or loads at run time that no DT_NEEDED
entry names, and the condition for each: one place that ``pack`` and ``init`` both read.

``pack`` (``glibc.py``, ``pack/libraries.py``) applies it to a root it can look into: an
unpacked image, a sysroot. ``init`` cannot: the libraries are the builder image's, known only
inside the ``docker build``, so ``dockerfile/generate.py`` turns the same entries into shell
the build stage runs with the builder's own tools. Keeping the file names, directories and
triggers here (no logic that needs a root, no imports beyond the standard library, so init's
start-up stays small) is what stops the two from drifting apart. The measurements behind each
entry are in ../shared/notes/glibc-runtime.md (Debian 12, glibc 2.36).
"""

from __future__ import annotations

import re

# -- NSS and libgcc_s: loaded with dlopen by name ------------------------------------------

# Since glibc 2.34 nss_files and nss_dns live inside libc.so.6 (libnss_files.so.2 is a stub);
# before, each was a module, and dns needed libresolv.so.2 beside it.
BUILTIN_SINCE = (2, 34)
BEFORE_BUILTIN = (2, 33)  # a version the old rule applies to, for "what an old glibc loads"
NSS_HELPERS = {"dns": ("libresolv.so.2",)}  # what a service's module needs beyond its own file
# pthread_cancel/pthread_exit and unwinding (C++ exceptions, Rust panics) dlopen it; without it
# the program aborts: "libgcc_s.so.1 must be installed for pthread_cancel to work".
LIBGCC_S = "libgcc_s.so.1"
# nsswitch.conf databases a program in an image may look up; services outside the reach of
# a file in the image (nis, db) still get their module copied if the file names them.
NSS_DATABASES = frozenset({
    "passwd", "group", "shadow", "gshadow", "hosts", "networks", "protocols", "services",
    "ethers", "rpc", "netgroup", "aliases", "initgroups", "publickey", "automount",
})  # fmt: skip

# -- iconv: gconv modules, loaded with dlopen by charset -------------------------------------

# The dynamic symbol whose presence in an object other than libc (which defines it) means the
# program converts charsets. Which charsets is a run-time string, so when it is there every
# module goes in (deciding per charset needs the charset names: pack's --gconv takes them).
ICONV_SYMBOLS = ("iconv_open",)
GCONV_SUBDIR = "gconv"  # beside libc.so.6: glibc's default GCONV_PATH
GCONV_CONFIGS = ("gconv-modules", "gconv-modules.cache")
GCONV_CONFIG_DIR = "gconv-modules.d"  # *.conf: more modules (Debian: the rarer charsets)

# -- locales ----------------------------------------------------------------------------------

LOCALE_DIR = "/usr/lib/locale"  # one directory per locale (locales-all, `localedef DIR`)
LOCALE_ARCHIVE = f"{LOCALE_DIR}/locale-archive"  # what `locale-gen` writes; not split here
# A locale name scratchpack copies or compiles: language[_TERRITORY].CODESET[@modifier]. A
# codeset is required (a locale without one is the legacy 8-bit charset), and the strict
# alphabet keeps the name safe inside the shell of a generated Dockerfile.
LOCALE_NAME = re.compile(r"(C|[a-z]{2,3}(_[A-Z]{2}|_[0-9]{3})?)\.[A-Za-z0-9-]{1,20}(@[a-z]{1,20})?")

# -- data files -------------------------------------------------------------------------------

ZONEINFO_DIR = "/usr/share/zoneinfo"
# Duplicate trees of every zone (leap-second and POSIX variants) nobody's TZ names by default.
ZONEINFO_SKIP = ("right", "posix")
DATA_MODE = 0o444  # data a program reads (zoneinfo, locale, gconv config): never written
EXEC_MODE = 0o555  # the loader and libraries that carry an execute bit


def normalized_locale(name: str) -> str:
    """glibc's directory name for a locale: the codeset lower-cased, without punctuation
    (``de_DE.UTF-8`` -> ``de_DE.utf8``), the modifier kept."""
    base, _, modifier = name.partition("@")
    language, dot, codeset = base.partition(".")
    if dot:
        codeset = re.sub(r"[^0-9a-z]", "", codeset.lower())
        base = f"{language}.{codeset}"
    return f"{base}@{modifier}" if modifier else base


def nss_services(nsswitch: str) -> list[str]:
    """The service names of an nsswitch.conf, in order of first mention, actions left out."""
    services: list[str] = []
    for raw in nsswitch.splitlines():
        line = raw.split("#", 1)[0]
        database, colon, rest = line.partition(":")
        if not colon or database.strip() not in NSS_DATABASES:
            continue
        for word in re.sub(r"\[[^\]]*\]", " ", rest).split():
            if re.fullmatch(r"[A-Za-z0-9_]+", word) and word not in services:
                services.append(word)
    return services


def nss_sonames(nsswitch: str, version: tuple[int, int]) -> list[str]:
    """The NSS module sonames glibc ``version`` will ``dlopen`` for this nsswitch.conf."""
    sonames: list[str] = []
    for service in nss_services(nsswitch):
        builtin = service in ("files", "dns") and version >= BUILTIN_SINCE
        if builtin:
            continue
        sonames.append(f"libnss_{service}.so.2")
        sonames += NSS_HELPERS.get(service, ())
    return sonames
