"""Checks made before any work, so that a doomed write fails in milliseconds."""

from __future__ import annotations

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import check_parent_writable
from scratchpack.model import mediatypes as mt
from scratchpack.transports import oci_layout
from scratchpack.transports.names import ArchiveName, ImageName, OciName, StorageName


def check_destination(name: ImageName, *, force: bool) -> None:
    if isinstance(name, OciName):
        directory = name.directory
        if directory.exists() and not directory.is_dir():
            raise ScratchpackError(f"cannot write {name}: {directory} is not a directory")
        if directory.is_dir() and oci_layout.is_layout(directory):
            tag = name.tag or oci_layout.DEFAULT_TAG
            index = oci_layout.read_index(directory)
            if not force and any(
                d.annotations.get(mt.ANNOTATION_REF_NAME) == tag for d in index.manifests
            ):
                raise ScratchpackError(
                    f"oci:{directory}:{tag} already exists; use --force to replace it"
                )
        elif (
            directory.is_dir()
            and any(directory.iterdir())
            and not oci_layout.is_layout(directory)  # not one a parallel writer just created
        ):
            raise ScratchpackError(
                f"cannot write {name}: {directory} exists and is not an OCI layout"
            )
        elif not directory.exists():
            parent = directory.parent
            while not parent.exists():
                parent = parent.parent
            check_parent_writable(parent / "x")
    elif isinstance(name, ArchiveName):
        if name.file.is_dir():
            raise ScratchpackError(f"cannot write {name}: {name.file} is a directory")
        if name.file.exists() and not force:
            raise ScratchpackError(f"{name.file} already exists; use --force to replace it")
        check_parent_writable(name.file)
    elif isinstance(name, StorageName):
        raise UsageError(
            f"cannot write to {name}: containers-storage: is read-only here; write "
            "docker-archive:FILE and `podman load -i FILE`"
        )
