"""layers/extract.py: an image unpacked into a scratch directory gives the same tree as
``tar -x`` (one layer) and ``umoci unpack`` (layers with whiteouts, a real Debian image), less
what is never written (devices, setuid bits); hostile layers are refused or kept inside."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

import pytest

from hostile import (
    END,
    OCI_TAR,
    Case,
    header,
    iter_tree,
    member,
    oci_with_canary,
    pax,
    put_blob,
    write_layout,
    write_oci,
)
from realtools import Runner
from scratchpack.errors import FormatError, ScratchpackError
from scratchpack.layers.extract import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    ExtractReport,
    extract_image,
)
from scratchpack.transports.dispatch import open_image
from scratchpack.transports.names import parse_image_name

Tree = dict[str, tuple[str, int, str]]  # path -> (kind, permission bits, link target or sha)


def tree(root: Path) -> Tree:
    """Every path below ``root`` with its kind, mode and link target (or content digest)."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                out[rel] = ("symlink", 0, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                out[rel] = ("dir", stat.S_IMODE(info.st_mode), "")
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = ("file", stat.S_IMODE(info.st_mode), digest)
            else:
                out[rel] = ("other", stat.S_IMODE(info.st_mode), "")
    return out


def as_we_write(theirs: Tree) -> Tree:
    """What another unpacker's tree becomes under our rules: no setuid/setgid/sticky bits,
    files readable and directories rwx by their owner (so the scratch dir can be removed)."""
    out: Tree = {}
    for path, (kind, mode, data) in theirs.items():
        extra = {"file": 0o400, "dir": 0o700}.get(kind)
        out[path] = (kind, mode if extra is None else mode & 0o777 | extra, data)
    return out


def layered(directory: Path, layers: list[bytes]) -> str:
    """An OCI layout of uncompressed ``layers``; its ``oci:`` name."""
    descriptors = [{"mediaType": OCI_TAR, **put_blob(directory, layer)} for layer in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers",
                   "diff_ids": [f"sha256:{hashlib.sha256(b).hexdigest()}" for b in layers]},
    }).encode()  # fmt: skip
    return write_layout(directory, descriptors, config)


def unpack(
    name: str,
    root: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> ExtractReport:
    root.mkdir()
    with open_image(parse_image_name(name)) as image:
        return extract_image(image, root, where=name, max_bytes=max_bytes, max_entries=max_entries)


def d(name: str, mode: int = 0o755) -> bytes:
    return header(name, kind=b"5", mode=mode)


LOWER = b"".join([
    d("etc"), member("etc/hostname", b"box\n"), member("etc/shadow", b"root:*:\n", mode=0o640),
    d("usr"), d("usr/bin"), member("usr/bin/tool", b"\x7fELF tool", mode=0o755),
    member("usr/bin/su", b"\x7fELF su", mode=0o4755),
    header("usr/bin/tool2", kind=b"1", link="usr/bin/tool"),
    header("bin", kind=b"2", link="usr/bin"), header("lib64", kind=b"2", link="/usr/lib"),
    d("usr/lib"), member("usr/lib/libx.so.1", b"lib", mode=0o644),
    header("usr/lib/libx.so", kind=b"2", link="libx.so.1"),
    d("opt"), member("opt/a", b"a"), d("opt/sub"), member("opt/sub/b", b"b"),
    d("var"), d("var/gone"), member("var/gone/x", b"x"), member("zeros", b"\x00" * 3_000_000),
    d("ro", 0o555), member("ro/inside", b"i", mode=0o444),
    END,
])  # fmt: skip
UPPER = b"".join([
    d("opt"), header("opt/.wh..wh..opq"), member("opt/new", b"new"),
    header("var/.wh.gone"), member("etc/hostname", b"other\n"),
    header("usr/lib/libx.so", kind=b"2", link="libx.so.2"),
    member("usr/lib/libx.so.2", b"lib2"), END,
])  # fmt: skip


def test_one_layer_unpacks_as_tar_x_does_less_setuid(tmp_path: Path) -> None:
    name = layered(tmp_path / "img", [LOWER])
    unpack(name, tmp_path / "ours")
    (tmp_path / "tar").mkdir()
    layer = tmp_path / "layer.tar"
    layer.write_bytes(LOWER)
    subprocess.run(["tar", "-x", "--no-same-owner", "-p", "-f", str(layer), "-C",
                    str(tmp_path / "tar")], check=True)  # fmt: skip
    theirs = tree(tmp_path / "tar")
    assert theirs["usr/bin/su"][1] == 0o4755 and theirs["ro"][1] == 0o555
    ours = tree(tmp_path / "ours")
    assert ours == as_we_write(theirs)
    assert ours["usr/bin/su"][1] == 0o755 and ours["ro"][1] == 0o755
    assert ours["lib64"] == ("symlink", 0, "/usr/lib")  # kept as data, not resolved
    assert (
        os.stat(tmp_path / "ours/usr/bin/tool").st_ino
        == os.stat(tmp_path / "ours/usr/bin/tool2").st_ino
    )  # a hard link stays one inode
    assert os.stat(tmp_path / "ours/zeros").st_blocks < 100  # a hole, not 3 MB of zeros


def test_layers_with_whiteouts_unpack_as_umoci_does(tmp_path: Path, umoci: Runner) -> None:
    name = layered(tmp_path / "img", [LOWER, UPPER])
    unpack(name, tmp_path / "ours")
    umoci("unpack", "--rootless", "--image", f"{tmp_path / 'img'}:t", str(tmp_path / "bundle"))
    theirs = tree(tmp_path / "bundle/rootfs")
    ours = tree(tmp_path / "ours")
    assert ours == as_we_write(theirs)
    assert "opt/a" not in ours and "opt/sub" not in ours and ours["opt/new"][0] == "file"
    assert "var/gone" not in ours
    assert (tmp_path / "ours/etc/hostname").read_bytes() == b"other\n"
    assert ours["usr/lib/libx.so"] == ("symlink", 0, "libx.so.2")


def test_a_real_debian_image_unpacks_as_umoci_does(
    tmp_path: Path, skopeo: Runner, umoci: Runner, debian_docker: str
) -> None:
    layout = tmp_path / "debian"
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    skopeo("copy", "--src-daemon-host", host, f"docker-daemon:{debian_docker}",
           f"oci:{layout}:t", timeout=600)  # fmt: skip
    report = unpack(f"oci:{layout}:t", tmp_path / "ours")
    umoci("unpack", "--rootless", "--image", f"{layout}:t", str(tmp_path / "bundle"))
    theirs = tree(tmp_path / "bundle/rootfs")
    ours = tree(tmp_path / "ours")
    empty = hashlib.sha256(b"").hexdigest()  # rootless umoci makes devices empty files
    devices = {path for path, (kind, _, data) in theirs.items()
               if kind == "other" or (path.startswith("dev/") and data == empty)}  # fmt: skip
    assert len(devices) >= 6  # the minbase's /dev/null, zero, full, random...
    assert report.skipped == len(devices) and report.layers == 1
    expected = {p: v for p, v in as_we_write(theirs).items() if p not in devices}
    assert ours == expected
    assert len(ours) > 5000
    assert ours["lib64"] == ("symlink", 0, "usr/lib64")  # merged /usr kept as links


@pytest.mark.parametrize(
    "case_name",
    ["traversal", "traversal-inner", "absolute", "symlink-escape", "hardlink-escape",
     "hardlink-missing", "hardlink-later", "devices", "nul-name", "unknown-type",
     "symlink-loop", "negative-mode", "sparse-gnu-0.1", "truncated-content",
     "whiteout-parent"],
)  # fmt: skip
def test_hostile_layers_are_refused_or_kept_inside_the_root(tmp_path: Path, case_name: str) -> None:
    name, canary = oci_with_canary(case_name, tmp_path)
    before = list(iter_tree(tmp_path))
    root = tmp_path / "root"
    try:
        unpack(name, root)
    except ScratchpackError as exc:
        assert isinstance(exc, FormatError) or "hard link" in str(exc), exc
        refused = True
    else:
        refused = False
    after = [item for item in iter_tree(tmp_path) if not item[0].startswith("root")]
    assert after == [item for item in before if not item[0].startswith("root")]
    expected_refusal = {"traversal", "traversal-inner", "hardlink-escape", "hardlink-missing",
                        "hardlink-later", "nul-name", "unknown-type", "sparse-gnu-0.1",
                        "truncated-content", "whiteout-parent"}  # fmt: skip
    assert refused == (case_name in expected_refusal)
    if case_name == "absolute":
        assert (root / str(canary).lstrip("/") / "abs").read_bytes() == b"x"
    if case_name == "symlink-escape":  # the file went below the root, through the link
        assert (root / "evil").is_symlink()
        assert list(root.rglob("pwned"))
    if case_name == "devices":
        assert not (root / "dev/mem").exists() and not (root / "dev/fifo").exists()


def test_a_symlink_to_etc_then_a_file_through_it_writes_inside(tmp_path: Path) -> None:
    outside = tmp_path / "etc-outside"
    outside.mkdir()
    layer = b"".join([
        header("conf", kind=b"2", link=str(outside)), member("conf/passwd", b"pwned"),
        header("up", kind=b"2", link="../../../../.."), member("up/escaped", b"pwned"),
        END,
    ])  # fmt: skip
    unpack(layered(tmp_path / "img", [layer]), tmp_path / "root")
    assert list(outside.iterdir()) == []
    assert (tmp_path / "root" / str(outside).lstrip("/") / "passwd").read_bytes() == b"pwned"
    assert (tmp_path / "root/escaped").read_bytes() == b"pwned"
    assert not (tmp_path / "escaped").exists()


def test_a_whiteout_of_the_parent_removes_nothing_above_its_directory(tmp_path: Path) -> None:
    """Found 2026-12-03: ``.wh...`` (a whiteout of "..") removed the directory above the
    root it was unpacked in (``rmtree("..")``), everything beside the root included."""
    layers = [member("keep", b"k") + member("d/f", b"x") + END,
              member(".wh...") + member("d/.wh...") + END]  # fmt: skip
    image = layered(tmp_path / "img", layers)
    beside = tmp_path / "scratch" / "beside"
    beside.parent.mkdir()
    beside.write_bytes(b"mine")
    with pytest.raises(FormatError, match=r"whiteout \.wh\.\.\. names no entry"):
        unpack(image, tmp_path / "scratch/root")
    assert beside.read_bytes() == b"mine"
    assert (tmp_path / "scratch/root/keep").read_bytes() == b"k"


def test_a_name_the_file_system_refuses_is_named_in_the_error(tmp_path: Path) -> None:
    """A component over NAME_MAX (255 bytes) fails in ``open``: the error names the member
    and the reason, not "layer X: cannot decompress" (the layer's stream took any OSError
    passing through it for its own)."""
    layer = member("ok", b"x") + pax({"path": "d" * 300}) + member("placeholder", b"x") + END
    image = layered(tmp_path / "img", [layer])
    with pytest.raises(ScratchpackError, match=r"cannot unpack /d{100}.*: File name too long"):
        unpack(image, tmp_path / "root")


def test_bombs_stop_at_the_limits_with_one_message(tmp_path: Path) -> None:
    big = layered(tmp_path / "big", [member("huge", b"\x00" * (4 << 20)) + END])
    with pytest.raises(ScratchpackError, match="would take the unpacked files over 1 MiB"):
        unpack(big, tmp_path / "a", max_bytes=1 << 20)
    assert not (tmp_path / "a/huge").exists()  # refused before writing it
    many = layered(tmp_path / "many", [b"".join(member(f"f{n}") for n in range(50)) + END])
    with pytest.raises(ScratchpackError, match="more than 20 entries"):
        unpack(many, tmp_path / "b", max_entries=20)


def test_a_large_file_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    """256 MiB of content (not zeros: no holes) through a gzip layer: the unpacking process
    stays far below the file's size (it would hold it if it buffered a member or a layer)."""
    size = 256 << 20

    def write(out: BinaryIO) -> None:
        out.write(header("big", size=size))
        block = b"scratchpack 0.1 " * (1 << 16)  # 1 MiB
        for _ in range(size // len(block)):
            out.write(block)
        out.write(END)

    name = write_oci(Case("large", write, "clean", gzip_layer=True), tmp_path / "img")
    code = (
        "import sys; from pathlib import Path; "
        "from scratchpack.transports.names import parse_image_name; "
        "from scratchpack.transports.dispatch import open_image; "
        "from scratchpack.layers.extract import extract_image; "
        "image = open_image(parse_image_name(sys.argv[1])).__enter__(); "
        "extract_image(image, Path(sys.argv[2])); "
        # VmHWM: this process's own peak since exec (getrusage's maxrss also counts the pages
        # of the forking parent, a big pytest worker, at the fork)
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    (tmp_path / "root").mkdir()
    proc = subprocess.run([sys.executable, "-c", code, name, str(tmp_path / "root")],
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "root/big").stat().st_size == size
    assert int(proc.stdout) < 96 << 10, proc.stdout  # KiB (measured: 33 MB; imports alone 20)
