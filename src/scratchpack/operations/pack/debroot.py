"""A runtime's Debian packages, resolved, fetched and unpacked into a scratch root directory.

A packed interpreter (Node's ``nodejs``) comes from Debian, not from the host: the packages are
resolved against the machine's apt sources and downloaded with ``build``'s machinery (InRelease
signatures checked with gpgv, every index and ``.deb`` against its sha256, cached by hash), then
unpacked, without maintainer scripts, into a directory on disk with merged /usr, so that
``closure.py`` can follow the interpreter's ``DT_NEEDED`` the way ld.so would in that root. The
image takes only what the closure and the kind's own list pick from it; every package that
contributed a file is recorded (``status.d``) with its Debian control paragraph.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from scratchpack import progress
from scratchpack.debian.deb import MERGED_DIRS, DebContents, Spool, merged_usr_path, read_deb
from scratchpack.debian.index import Fetcher, download, is_cached
from scratchpack.debian.spec import ImageSpec
from scratchpack.errors import FormatError
from scratchpack.layers.tarwriter import LayerContents
from scratchpack.operations.build import Plan, plan


@dataclass
class DebRoot:
    """The unpacked packages: ``root`` on disk, each package's control data, and which
    package put each path (image-relative, merged /usr) there."""

    root: Path
    plan: Plan
    packages: dict[str, DebContents] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def record(self, layer: LayerContents) -> list[str]:
        """Add a ``status.d`` paragraph and ``.md5sums`` (of the files kept) for each
        package that owns a file of ``layer`` (symlinks and directories do not count); the
        names recorded, sorted."""
        from scratchpack.debian.deb import status_entry
        from scratchpack.debian.installed import write_md5sums

        names = sorted(
            {
                self.owners[entry.path]
                for entry in layer.entries()
                if entry.kind == "file" and entry.path in self.owners
            }
        )
        for part in ("var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/status.d"):
            if part not in layer:
                layer.add_dir(part)
        for name in names:
            text = status_entry(self.packages[name]).encode()
            layer.add_file(f"var/lib/dpkg/status.d/{name}", data=text, mode=0o444)
        write_md5sums(layer, lambda entry: self.owners.get(entry.path) if entry.kind == "file"
                      else None)  # fmt: skip
        return names


def unpack_packages(
    packages: tuple[str, ...], scratch: Path, exclude: tuple[str, ...] = ()
) -> DebRoot:
    """Resolve ``packages`` (and their dependencies, less ``exclude``), download each (checked,
    cached) and unpack them into ``scratch/debroot``."""
    fetcher = Fetcher()
    try:
        spec = ImageSpec(packages=packages, exclude=exclude)
        the_plan = plan(spec, fetcher)
        missing = [p for p in the_plan.packages if not is_cached(p.sha256)]
        with progress.step(
            f"downloading {len(missing)} Debian packages", sum(p.size for p in missing)
        ) as task:
            debs = [download(fetcher, p.record(), task.advance) for p in the_plan.packages]
    finally:
        fetcher.close()
    root = scratch / "debroot"
    root.mkdir()
    (root / "usr").mkdir()
    for top in MERGED_DIRS:
        (root / "usr" / top).mkdir(exist_ok=True)
        (root / top).symlink_to(f"usr/{top}")
    result = DebRoot(root, the_plan)
    # build's spool: bodies over its threshold go through a scratch file, moved into the
    # root, instead of being held in memory (nodejs's libnode alone is 70 MB)
    (scratch / "spool").mkdir()
    spool = Spool(scratch / "spool")
    with progress.step(f"unpacking {len(debs)} packages", len(debs), unit="packages") as task:
        for deb in debs:
            contents = unpack_deb(deb, root, result.owners, spool)
            result.packages[contents.package] = contents
            task.advance(1)
    return result


def unpack_deb(deb: Path, root: Path, owners: dict[str, str], spool: Spool) -> DebContents:
    """One .deb unpacked into ``root`` (merged /usr, nothing written outside it), each file's
    package recorded in ``owners``; bodies over the spool's threshold moved in from ``spool``."""
    contents, members = read_deb(deb, spool)
    placed: dict[str, Path] = {}  # a file member's name -> where it was written
    top_links = set(MERGED_DIRS)
    real_root = root.resolve()
    for member in members:
        path = merged_usr_path(member.name)
        if member.kind == "special" or path in top_links:
            continue
        target = root / path
        parent = target.parent.resolve()
        if parent != real_root and real_root not in parent.parents:
            raise FormatError(f"{deb.name}: /{path} would be written outside the root")
        if member.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            if target.is_dir() and not target.is_symlink():
                raise FormatError(f"{deb.name}: /{path} is a directory, the package a file")
            target.unlink()
        if member.kind == "symlink":
            target.symlink_to(member.linkname)
            continue
        if member.kind == "hardlink":  # a copy of the file it names, written before it
            if member.linkname not in placed or not placed[member.linkname].is_file():
                raise FormatError(f"{deb.name}: hardlink /{path} lost its target")
            shutil.copyfile(placed[member.linkname], target)
        elif member.source is not None:
            member.source.rename(target)
        else:
            target.write_bytes(member.data or b"")
        placed[member.name] = target
        target.chmod(member.mode & 0o755 | 0o600)
        owners[path] = contents.package
    return contents
