"""Hostile ``docker save`` archives: the outer tar, not the layers inside it.

A docker-archive is a tar of tars that anyone can hand us (``docker-archive:`` and, through
it, ``docker-daemon:`` and ``containers-storage:``). Its members are indexed once with the
layer reader's bounded tar parser and read by offset, so the attacks ``tarfile`` fell for on
this level are refused with one line: link loops between members (legacy archives link shared
layers), GNU sparse members, names that are not UTF-8, huge PAX records, a member declared
past the end of the file, millions of members, and names that climb out of the root (nothing
is ever extracted, but they must not find a file either). Every run is a fresh process
(``tests/test_hostile_images.run_measured``): exit code, one error line, no traceback, peak
RSS under the same bound as the layer suite, a canary tree untouched.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

import hostile
from test_hostile_images import RSS_LIMIT_MB, run_measured


def _layer() -> bytes:
    """A tiny, valid layer tar: one file."""
    return hostile.member("hello.txt", b"hello\n") + hostile.END


def _config(layer: bytes) -> bytes:
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()


def _manifest(layer_path: str = "layer/layer.tar", config: str = "config.json") -> bytes:
    return json.dumps([{"Config": config, "RepoTags": ["evil:1"], "Layers": [layer_path]}]).encode()


def _archive(*members: bytes) -> bytes:
    return b"".join(members) + hostile.END


def _good() -> bytes:
    layer = _layer()
    return _archive(
        hostile.member("manifest.json", _manifest()),
        hostile.member("config.json", _config(layer)),
        hostile.member("layer/layer.tar", layer),
    )


def _link_loop() -> bytes:
    layer = _layer()
    return _archive(
        hostile.member("manifest.json", _manifest("a/layer.tar")),
        hostile.member("config.json", _config(layer)),
        hostile.header("a/layer.tar", kind=b"2", link="../b/layer.tar"),
        hostile.header("b/layer.tar", kind=b"2", link="../a/layer.tar"),
    )


def _legacy_link() -> bytes:
    """The legacy layout's shared layer: ``<id>/layer.tar -> ../<other>/layer.tar``."""
    layer = _layer()
    return _archive(
        hostile.member("manifest.json", _manifest("a/layer.tar")),
        hostile.member("config.json", _config(layer)),
        hostile.member("b/layer.tar", layer),
        hostile.header("a/layer.tar", kind=b"2", link="../b/layer.tar"),
    )


def _sparse_manifest() -> bytes:
    records: dict[str, str | bytes] = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.realsize": "99",
    }
    return _archive(hostile.pax(records), hostile.member("manifest.json", _manifest()))


def _not_utf8() -> bytes:
    layer = _layer()
    return _archive(
        hostile.member("manifest.json", _manifest()),
        hostile.member("config.json", _config(layer)),
        hostile.pax({"path": b"layer/\xff\xfe.tar"}),
        hostile.member("layer/layer.tar", layer),
    )


def _huge_pax() -> bytes:
    # declares 1 GiB of PAX records: tarfile read all of it into memory
    return hostile.header("./PaxHeaders/x", kind=b"x", size=1 << 30) + b"\x00" * 4096


def _past_the_end() -> bytes:
    head = hostile.member("manifest.json", _manifest())
    return head + hostile.header("layer/layer.tar", size=8 << 30) + b"\x00" * 1024


def _truncated() -> bytes:
    return _good()[:2000]


def _escape() -> bytes:
    layer = _layer()
    return _archive(
        hostile.member("manifest.json", _manifest("../../../../etc/passwd")),
        hostile.member("config.json", _config(layer)),
        hostile.member("layer/layer.tar", layer),
    )


def _manifest_is_a_device() -> bytes:
    return _archive(hostile.header("manifest.json", kind=b"3", devmajor=1, devminor=3))


def _bad_checksum() -> bytes:
    good = _good()
    return good[:512] + hostile.header("config.json", size=10, corrupt_checksum=True) + good[1024:]


def _many_members(count: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as out:
            out.write(hostile.member("manifest.json", _manifest()))
            block = hostile.header("x", kind=b"5")
            for _ in range(count):
                out.write(block)
            out.write(hostile.END)

    return write


def _bytes(data: Callable[[], bytes]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data())

    return write


def _many_tags() -> bytes:
    """One image under 20,000 tags, each entry of manifest.json its own image."""
    layer = _layer()
    images = [{"Config": "config.json", "RepoTags": [f"evil:{n}"], "Layers": ["l/layer.tar"]}
              for n in range(20_000)]  # fmt: skip
    return _archive(
        hostile.member("manifest.json", json.dumps(images).encode()),
        hostile.member("config.json", _config(layer)),
        hostile.member("l/layer.tar", layer),
    )


# name -> (writer, expected error fragment)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "link-loop": (_bytes(_link_loop), "links (a loop?)"),
    "sparse": (_bytes(_sparse_manifest), "sparse"),
    "not-utf8-name": (_bytes(_not_utf8), "missing from the archive"),
    "huge-pax": (_bytes(_huge_pax), "at most"),
    "past-the-end": (_bytes(_past_the_end), "truncated"),
    "truncated": (_bytes(_truncated), "truncated"),
    "escape": (_bytes(_escape), "missing from the archive"),
    "device-manifest": (_bytes(_manifest_is_a_device), "not a regular file"),
    "bad-checksum": (_bytes(_bad_checksum), "checksum"),
    "many-members": (_many_members(150_000), "members"),
    "gzip-garbage": (_bytes(lambda: b"\x1f\x8b" + b"\x00" * 100), "decompress"),
    # found 2026-12-03: the error listed every tag, a line of 430 KB for 50,000
    "many-tags": (_bytes(_many_tags), "evil:9 and 19990 more): name one"),
}

COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "inspect": lambda image, out: ["inspect", image],
    "audit": lambda image, out: ["audit", image],
    "copy": lambda image, out: ["copy", image, f"oci:{out}/copied:t"],
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archives")
    (root / "canary").mkdir()
    (root / "canary/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "work").mkdir()
    return root


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_archive_is_one_clean_error(
    world: Path, name: str, command: str, tmp_path: Path
) -> None:
    write, fragment = CASES[name]
    archive = world / f"{name}.tar"
    if not archive.exists():
        write(archive)
    before = list(hostile.iter_tree(world / "canary"))
    run = run_measured(*COMMANDS[command](f"docker-archive:{archive}", tmp_path), cwd=world)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("scratchpack: error:")]
    assert run.code in (1, 2) and len(errors) == 1, (run.code, run.stderr)
    assert fragment in errors[0], errors[0]
    assert len(errors[0]) < 1000, f"{len(errors[0])} characters"
    assert "--debug" not in errors[0], errors[0]  # understood, not a crash caught at the top
    assert run.rss_mb <= RSS_LIMIT_MB, f"{run.rss_mb:.0f} MB"
    assert list(hostile.iter_tree(world / "canary")) == before
    assert not (tmp_path / "copied").exists()


@pytest.mark.parametrize(
    "archive",
    [
        pytest.param(_good, id="plain"),
        pytest.param(_legacy_link, id="legacy-symlinked-layer"),
        pytest.param(lambda: gzip.compress(_good(), mtime=0), id="gzip"),
    ],
)
def test_well_formed_archives_still_read(
    archive: Callable[[], bytes], world: Path, tmp_path: Path
) -> None:
    """The control: the same reader takes real layouts (links between members, a gzipped
    archive, ``./`` prefixes) and the image comes out whole."""
    path = tmp_path / "ok.tar"
    path.write_bytes(archive())
    run = run_measured("copy", f"docker-archive:{path}", f"oci:{tmp_path}/out:t", cwd=world)
    assert run.code == 0, run.stderr
    index = json.loads((tmp_path / "out/index.json").read_text())
    assert len(index["manifests"]) == 1


def test_dot_slash_names_and_tarfile_archives_read(tmp_path: Path, world: Path) -> None:
    """An archive written by ``tarfile`` with ``./`` names (as some tools write them) reads."""
    layer = _layer()
    path = tmp_path / "dots.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            ("./manifest.json", _manifest("./layer/layer.tar")),
            ("./config.json", _config(layer)),
            ("./layer/layer.tar", layer),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    run = run_measured("inspect", f"docker-archive:{path}", cwd=world)
    assert run.code == 0, run.stderr
