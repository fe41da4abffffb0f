"""``scratchpack init``: detect the project, pin its base images, write the files.

Base images are pinned to the digest their registry serves now (through the registry
transport); when a registry cannot be reached the reference stays a tag, with a notice and a
comment in the Dockerfile saying how to pin it later. ``--registry`` points every base image
at a mirror (``HOST/library/golang:...``), which is also how an air-gapped site resolves them.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scratchpack.dockerfile import generate
from scratchpack.dockerfile.project import Project, detect
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import AlreadyExists, atomic_write

FILES = ("Dockerfile", ".dockerignore", "compose.yaml", "pack.sh")
EXECUTABLE = frozenset({"pack.sh"})
DigestResolver = Callable[[str], str]


@dataclass
class InitResult:
    project: Project
    runtime: str
    files: dict[str, str]
    images: list[generate.BaseImage]
    notices: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def mirror(reference: str, registry: str | None) -> str:
    """``golang:1.23`` -> ``HOST/library/golang:1.23``; ``gcr.io/distroless/x`` ->
    ``HOST/distroless/x``: the layout registry mirrors use."""
    if not registry:
        return reference
    first, sep, rest = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{registry}/{rest}"
    return f"{registry}/{reference if sep else 'library/' + reference}"


def init(
    root: Path,
    language: str | None,
    options: generate.Options,
    resolve: DigestResolver | None,
    registry: str | None = None,
) -> InitResult:
    project = detect(root, language)
    plan = generate.plan(project, options)
    notices = list(plan.notices)
    for image in plan.images.values():
        image.reference = mirror(image.reference, registry)
        if resolve is None:
            image.why = "digest lookup was off"
            continue
        try:
            image.digest = resolve(image.reference)
        except ScratchpackError as exc:
            image.why = "its registry could not be reached"
            notices.append(f"{image.arg}={image.reference} not pinned: {exc}")
    files = {
        "Dockerfile": generate.dockerfile(plan),
        ".dockerignore": generate.dockerignore(plan),
        "compose.yaml": generate.compose(plan),
    }
    script = generate.pack_script(plan)
    if script is not None:
        files["pack.sh"] = script
    return InitResult(project, plan.runtime, files, list(plan.images.values()), notices)


def write(result: InitResult, root: Path, force: bool) -> None:
    """All or nothing: every file is checked before any is written. A name that is a
    symlink is replaced by the file, with ``--force`` (never written through: a project
    cloned from someone else can link ``compose.yaml`` to a FIFO or device outside it); a
    directory, FIFO or device there is refused, ``--force`` or not."""
    existing: list[str] = []
    for name in FILES:
        if name not in result.files:
            continue
        try:
            mode = (root / name).lstat().st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot write {root / name}: {exc.strerror}") from None
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise UsageError(
                f"{root / name} is {what}: init writes a file there; move it away, or use "
                "--stdout to print"
            )
        existing.append(name)
    if existing and not force:
        raise _exist(existing, root)
    if force:
        from scratchpack.cachefiles import path_lock

        # --force replaces: two runs at once would each replace some files, and the set left
        # could mix them; one writer at a time per project
        with path_lock("init", root):
            _publish(result, root, force)
    else:
        _publish(result, root, force)


def _publish(result: InitResult, root: Path, force: bool) -> None:
    for name in FILES:
        if name in result.files:
            mode = 0o755 if name in EXECUTABLE else 0o644
            try:
                # without --force a file is published only under a free name: another init
                # of the project at the same moment (the check above passed for both) must
                # not leave a set of files mixing two runs
                atomic_write(
                    root / name,
                    result.files[name].encode(),
                    mode,
                    replace=force,
                    write_through=False,
                )
            except AlreadyExists:
                for path in result.written:  # ours, made just now: all or nothing
                    path.unlink(missing_ok=True)
                result.written.clear()
                raise _exist([name], root) from None
            result.written.append(root / name)


def _exist(names: list[str], root: Path) -> UsageError:
    return UsageError(
        f"{', '.join(names)} already exist{'s' if len(names) == 1 else ''} in {root}: "
        "use --force to overwrite, or --stdout to print"
    )
