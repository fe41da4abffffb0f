"""OCI layouts whose files are not files: a FIFO, a device or a directory under a blob's or
index.json's name (a layout unpacked from someone else's tar can hold any of them).

Found by the session-8 red team: ``audit``, ``sbom``, ``compare`` and ``copy`` of a layout
whose layer blob was a FIFO hung forever in ``open()``, the copy leaving its staging directory
behind. Each must be one error line, at once, with nothing written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import assert_clean_error, layout_manifest, run_cli


def _layer_path(layout: Path) -> Path:
    digest = str(layout_manifest(layout, "v1")["layers"][-1]["digest"])
    return layout / "blobs" / "sha256" / digest.split(":")[1]


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (_fifo, "not a regular file"),
    "device": (_dev_zero, "not a regular file"),
    "directory": (_directory, "Is a directory"),
}
COMMANDS: dict[str, tuple[list[str], int]] = {
    "audit": (["audit", "IMAGE"], 2),
    "sbom": (["sbom", "IMAGE"], 2),
    "inspect": (["inspect", "IMAGE"], 2),
    "copy": (["copy", "IMAGE", "oci:OUT:1"], 1),
}


CASES = [
    (command, kind, where)
    for command in sorted(COMMANDS)
    for kind in sorted(KINDS)
    for where in ("layer", "index")
    if not (command == "inspect" and where == "layer")  # inspect reads no layer
]


@pytest.mark.parametrize(("command", "kind", "where"), CASES)
def test_a_layout_file_that_is_not_a_file_is_refused_at_once(
    layout: Path, tmp_path: Path, kind: str, where: str, command: str
) -> None:
    hostile = tmp_path / "hostile"
    shutil.copytree(layout, hostile)
    target = hostile / "index.json" if where == "index" else _layer_path(hostile)
    make, message = KINDS[kind]
    make(target)
    out = tmp_path / "out"
    args, code = COMMANDS[command]
    argv = [a.replace("IMAGE", f"oci:{hostile}:v1").replace("OUT", str(out)) for a in args]
    # run_cli's own timeout (300 s) turns a hang into a failure; the FIFO had no writer
    result = run_cli(*argv)
    if where == "index" and command in ("copy", "inspect"):
        code = 1  # README: 1 a failure; audit and sbom say 2 for any image they cannot read
    assert_clean_error(result, code, message, f"cannot read {target}:")
    assert not out.exists(), sorted(p.name for p in out.iterdir())
