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


def test_a_layout_of_thousands_of_tags_is_named_in_a_short_line(tmp_path: Path) -> None:
    """Found 2026-12-03: ``oci:DIR:nope`` (or no tag) listed every tag of ``index.json``
    in its error, and a multi-platform index every platform: one line of hundreds of KB."""
    import json

    import hostile

    case = hostile.Case("ok", hostile._bytes(hostile.member("ok", b"x"), hostile.END), "clean")
    name = hostile.write_oci(case, tmp_path / "img")
    index = json.loads((tmp_path / "img/index.json").read_text())
    entry = index["manifests"][0]
    index["manifests"] = [{**entry, "annotations": {"org.opencontainers.image.ref.name": f"t{n}"},
                           "platform": {"os": "linux", "architecture": f"a{n}"}}
                          for n in range(5000)]  # fmt: skip
    (tmp_path / "img/index.json").write_text(json.dumps(index))
    for image, fragment in ((name.replace(":t", ":nope"), "t1005 and 4990 more)"),
                            (name.rpartition(":")[0], "t1005 and 4990 more)")):  # fmt: skip
        result = run_cli("inspect", image)
        assert result.code in (1, 2), result.stderr
        [line] = result.stderr.splitlines()
        assert fragment in line and len(line) < 1000, line
