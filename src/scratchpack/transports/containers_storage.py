"""``containers-storage:NAME``: images in podman's (and buildah's) local storage, read through
``podman save``.

containers/storage is a set of on-disk layouts (overlay, vfs, btrfs...) with locking rules
that only its Go library implements; asking podman for a ``docker save`` archive in a private
temporary directory is the supported way in, and the archive reader does the rest. Read-only:
to put an image into podman, write ``docker-archive:`` and ``podman load`` it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scratchpack import progress
from scratchpack.errors import NotFoundError, UsageError
from scratchpack.model.image import Image


@contextmanager
def open_storage_image(reference: str, timeout: float = 1800) -> Iterator[Image]:
    from scratchpack.transports import docker_archive

    podman = shutil.which("podman")
    if podman is None:
        raise UsageError("containers-storage: needs podman on PATH (it reads its storage)")
    with tempfile.TemporaryDirectory(prefix="scratchpack-podman-") as tmp:
        archive = Path(tmp) / "image.tar"
        try:
            with progress.step(f"exporting {reference} with podman save"):
                proc = subprocess.run(
                    [podman, "save", "--format", "docker-archive", "-o", str(archive),
                     reference],
                    capture_output=True, text=True, timeout=timeout, check=False,
                )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise NotFoundError(
                f"podman save {reference} took longer than {timeout:.0f} s"
            ) from None
        if proc.returncode != 0:
            why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise NotFoundError(f"containers-storage:{reference}: podman save failed: {why}")
        with docker_archive.open_archive(archive, None) as image:
            yield image
