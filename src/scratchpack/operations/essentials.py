"""The few files a static binary needs at run time, taken from the host's Debian packages.

CA certificates (``ca-certificates``), the zoneinfo database (``tzdata``), ``/etc/passwd`` and
``/etc/group`` with root and the run user, ``/etc/nsswitch.conf`` and a sticky ``/tmp``.
Files are owned by root and read-only (0444), so a compromised process cannot rewrite them.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from pathlib import Path
from typing import NamedTuple

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.layers.tarwriter import LayerContents, normalize_path
from scratchpack.operations.glibcfiles import ZONEINFO_DIR, ZONEINFO_SKIP

DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_ZONEINFO = Path(ZONEINFO_DIR)
CA_PATH = "etc/ssl/certs/ca-certificates.crt"
ZONEINFO_PATH = "usr/share/zoneinfo"
TZIF_MAGIC = b"TZif"
# Metadata files kept beside the zones: small, and read by some runtimes to list zones.
_ZONE_TABLES = frozenset({"zone.tab", "zone1970.tab", "iso3166.tab"})
# Trees that duplicate the main one: right/ (leap-second variants) and posix/ (aliases).
_SKIPPED_DIRS = frozenset(ZONEINFO_SKIP)

_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class RunUser(NamedTuple):
    """The user the image runs as.
    (A NamedTuple, not a dataclass: on every ``pack``'s path; see ``operations/elf.py``.)"""

    name: str
    uid: int
    gid: int

    @classmethod
    def parse(cls, text: str) -> RunUser:
        parts = text.split(":")
        if parts == ["root"]:
            return cls("root", 0, 0)
        if len(parts) not in (2, 3):
            raise UsageError(f"invalid --user {text!r}: expected NAME:UID[:GID] (or root)")
        name = parts[0]
        if not _USER_RE.match(name):
            raise UsageError(f"invalid --user {text!r}: bad user name {name!r}")
        try:
            uid = int(parts[1])
            gid = int(parts[2]) if len(parts) == 3 else uid
        except ValueError:
            raise UsageError(f"invalid --user {text!r}: UID and GID must be numbers") from None
        if not (0 <= uid < 2**31 and 0 <= gid < 2**31):
            raise UsageError(f"invalid --user {text!r}: UID/GID out of range")
        if uid == 0 and name != "root":
            raise UsageError(
                f"invalid --user {text!r}: UID 0 is root; say --user root to run as root"
            )
        return cls(name, uid, gid)

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    @property
    def home(self) -> str:
        return "/root" if self.is_root else f"/home/{self.name}"

    @property
    def spec(self) -> str:
        """The config's ``User`` field: numeric, so it works without a passwd lookup."""
        return f"{self.uid}:{self.gid}"


class EssentialsReport:
    """What the essentials layer holds, for pack's report (filled in as it is made; a plain
    class, not a dataclass: on every ``pack``'s path, see ``operations/elf.py``)."""

    __slots__ = ("ca_bundle", "files", "packages", "zones")

    def __init__(
        self,
        files: list[str] | None = None,
        zones: int = 0,
        ca_bundle: str | None = None,
        packages: dict[str, str] | None = None,  # host packages recorded: version
    ) -> None:
        self.files = [] if files is None else files
        self.zones = zones
        self.ca_bundle = ca_bundle
        self.packages = {} if packages is None else packages

    def __eq__(self, other: object) -> bool:
        if type(other) is not EssentialsReport:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return (f"EssentialsReport(files={self.files!r}, zones={self.zones!r}, "
                f"ca_bundle={self.ca_bundle!r}, packages={self.packages!r})")  # fmt: skip


def passwd_text(user: RunUser) -> str:
    lines = ["root:x:0:0:root:/root:/sbin/nologin"]
    if not user.is_root:
        lines.append(f"{user.name}:x:{user.uid}:{user.gid}:{user.name}:{user.home}:/sbin/nologin")
    return "\n".join(lines) + "\n"


def group_text(user: RunUser) -> str:
    lines = ["root:x:0:"]
    if not user.is_root and user.gid != 0:
        lines.append(f"{user.name}:x:{user.gid}:")
    return "\n".join(lines) + "\n"


NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"


def add_essentials(
    layer: LayerContents,
    user: RunUser,
    workdir: str,
    *,
    certs: bool = True,
    ca_bundle: Path = DEFAULT_CA_BUNDLE,
    tz: str = "all",
    zoneinfo: Path = DEFAULT_ZONEINFO,
) -> EssentialsReport:
    report = EssentialsReport()
    origin = "essentials"
    layer.add_dir("etc")
    layer.add_file("etc/passwd", data=passwd_text(user).encode(), origin=origin)
    layer.add_file("etc/group", data=group_text(user).encode(), origin=origin)
    layer.add_file("etc/nsswitch.conf", data=NSSWITCH.encode(), origin=origin)
    layer.add_dir("tmp", mode=0o1777)
    if certs:
        _check_readable(
            ca_bundle,
            "CA bundle",
            "install the Debian package ca-certificates (apt-get install ca-certificates), "
            "point --ca-bundle at a PEM bundle, or pass --no-certs",
        )
        layer.add_file(CA_PATH, source=ca_bundle, origin=origin)
        report.ca_bundle = str(ca_bundle)
    if tz != "none":
        report.zones = _add_zoneinfo(layer, tz, zoneinfo)
    workdir_path = normalize_path(workdir)
    if workdir_path:
        owner = (user.uid, user.gid) if workdir_path == user.home.lstrip("/") else (0, 0)
        layer.add_dir(workdir_path, mode=0o755, uid=owner[0], gid=owner[1])
    report.files = sorted(layer.paths())
    return report


def _check_readable(path: Path, what: str, how: str) -> None:
    if not path.exists():
        raise ScratchpackError(f"{what} {path} not found: {how}")
    if not os.access(path, os.R_OK):
        raise ScratchpackError(f"{what} {path} is not readable")


def _is_tzif(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == TZIF_MAGIC
    except OSError:
        return False


def _add_zoneinfo(layer: LayerContents, tz: str, root: Path) -> int:
    how = "install the Debian package tzdata (apt-get install tzdata), or pass --tz none"
    if not root.is_dir():
        raise ScratchpackError(f"zoneinfo directory {root} not found: {how}")
    if tz == "all":
        return _add_all_zones(layer, root)
    return _add_selected_zones(layer, [z.strip() for z in tz.split(",") if z.strip()], root)


def _add_selected_zones(layer: LayerContents, zones: list[str], root: Path) -> int:
    if not zones:
        raise UsageError("--tz needs 'all', 'none' or a comma-separated list of zones")
    seen: dict[str, str] = {}
    real_root = root.resolve()
    for zone in sorted(set(zones)):
        if zone.startswith("/") or ".." in zone.split("/"):
            raise UsageError(f"invalid time zone {zone!r}")
        host = (root / zone).resolve()
        if not host.is_relative_to(real_root) or not host.is_file() or not _is_tzif(host):
            raise UsageError(f"unknown time zone {zone!r} (not found in {root})")
        digest = hashlib.sha256(host.read_bytes()).hexdigest()
        path = f"{ZONEINFO_PATH}/{zone}"
        if digest in seen:
            layer.add_hardlink(path, seen[digest])
        else:
            layer.add_file(path, source=host, origin="zoneinfo")
            seen[digest] = path
    return len(zones)


def _add_all_zones(layer: LayerContents, root: Path) -> int:
    """Every zone once: identical files become hard links; right/ and posix/ are dropped."""
    files: list[tuple[str, Path]] = []
    links: list[tuple[str, str]] = []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS]
            rel_dir = ""
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
            host = Path(dirpath) / name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if host.is_symlink():
                target = host.resolve()
                if target.is_relative_to(real_root) and target.is_file() and _is_tzif(target):
                    links.append((rel, os.path.relpath(target, host.parent.resolve())))
                continue
            if (name in _ZONE_TABLES and not rel_dir) or (host.is_file() and _is_tzif(host)):
                files.append((rel, host))
    seen: dict[str, str] = {}
    zones = 0
    for rel, host in sorted(files):
        path = f"{ZONEINFO_PATH}/{rel}"
        digest = hashlib.sha256(host.read_bytes()).hexdigest()
        if rel not in _ZONE_TABLES:
            zones += 1
        if digest in seen:
            layer.add_hardlink(path, seen[digest])
        else:
            layer.add_file(path, source=host, origin="zoneinfo")
            seen[digest] = path
    kept = {rel for rel, _ in files}
    for rel, link_target in sorted(links):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link_target))
        if resolved in kept:
            layer.add_symlink(f"{ZONEINFO_PATH}/{rel}", link_target)
            zones += 1
    # Old paths such as posix/Europe/Paris keep working without a second copy of the tree.
    layer.add_symlink(f"{ZONEINFO_PATH}/posix", ".")
    return zones
