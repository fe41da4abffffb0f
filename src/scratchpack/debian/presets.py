"""Built-in specs equivalent to the distroless family (gcr.io/distroless/*-debian12).

``static``: CA certificates, time zones, /etc/services and protocols, os-release, passwd;
``base``: + glibc and OpenSSL; ``cc``: + the GCC runtime (libgcc, libstdc++, libgomp);
``python3``: + a minimal Python 3 interpreter and standard library. ``NAME:debug`` adds busybox
(a shell and the usual tools) and makes it the entrypoint, as distroless' ``:debug`` tags do.

Packages that only serve maintainer scripts (debconf) and the openssl command-line tool that
ca-certificates' scripts call are excluded: no script runs, and the images do not need them.
"""

from __future__ import annotations

from scratchpack.errors import UsageError

_STATIC = ["base-files", "netbase", "tzdata", "ca-certificates"]
_BASE = [*_STATIC, "libc6", "libssl3"]
_CC = [*_BASE, "libgcc-s1", "libstdc++6", "libgomp1"]
_PYTHON = [*_CC, "python3.11-minimal", "libpython3.11-stdlib", "python3-minimal"]
# needed only by maintainer scripts or tools the image never runs
_EXCLUDE = ["debconf", "openssl", "awk", "readline-common", "media-types", "mailcap"]

PRESETS: dict[str, tuple[list[str], list[str]]] = {
    "static": (_STATIC, []),
    "base": (_BASE, []),
    "cc": (_CC, []),
    "python3": (_PYTHON, ["/usr/bin/python3"]),
}


def preset_spec(name: str) -> str:
    """The TOML text of a preset (``scratchpack build --preset NAME --print-spec`` shows it)."""
    base, _, variant = name.partition(":")
    if base not in PRESETS or variant not in ("", "debug"):
        known = ", ".join(f"{p}, {p}:debug" for p in PRESETS)
        raise UsageError(f"unknown preset {name!r}; presets: {known}")
    packages, entrypoint = PRESETS[base]
    if variant == "debug":
        packages = [*packages, "busybox-static" if base == "static" else "busybox"]
        entrypoint = ["/busybox/sh"]
    lines = [
        f"# scratchpack preset {name}",
        "[image]",
        "packages = [" + ", ".join(f'"{p}"' for p in packages) + "]",
        "exclude = [" + ", ".join(f'"{p}"' for p in _EXCLUDE) + "]",
        'user = "nonroot:65532:65532"',
    ]
    if entrypoint:
        lines.append("entrypoint = [" + ", ".join(f'"{e}"' for e in entrypoint) + "]")
    return "\n".join(lines) + "\n"
