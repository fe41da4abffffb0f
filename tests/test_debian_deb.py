"""Unpacking real Debian packages into layers: merged /usr, dropped docs, hostile archives,
the CA bundle and reproducible output (scratchpack.debian.deb and .certificates)."""

from __future__ import annotations

import dataclasses
import io
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from debian.deb822 import Deb822

from debgen import ar, codec_deb, compress, tar_gz, tar_stream
from realtools import unavailable
from scratchpack.debian import deb as deb_module
from scratchpack.debian.certificates import BUNDLE_PATH, add_ca_bundle, ca_bundle
from scratchpack.debian.deb import (
    SPOOL_IN_MEMORY,
    UNPACK_FLOOR,
    UNPACK_RATIO,
    DebContents,
    Spool,
    add_merged_usr_links,
    read_deb,
    status_entry,
    unpack_into,
    unpack_limit,
)
from scratchpack.errors import FormatError, ScratchpackError, UsageError
from scratchpack.layers.tarwriter import LayerContents, write_tar

PACKAGES = ("ca-certificates", "libc6", "libstdc++6", "tzdata", "base-files", "netbase")


def _host_arch() -> str:
    if shutil.which("dpkg") is None:
        return ""
    proc = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip()


def _apt_download(dest: Path, *specs: str) -> dict[str, Path]:
    """``apt-get download`` into ``dest``; skips the test module when apt cannot fetch."""
    if shutil.which("apt-get") is None:
        unavailable("apt-get is not available")
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["apt-get", "download", *specs],
        cwd=dest,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        unavailable(f"apt-get download {' '.join(specs)} failed: {proc.stderr.strip()[-300:]}")
    found: dict[str, Path] = {}
    for deb in dest.glob("*.deb"):
        found[deb.name.split("_", 1)[0]] = deb
    return found


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    found = _apt_download(tmp_path_factory.mktemp("debs"), *PACKAGES)
    assert set(PACKAGES) <= set(found), found
    return found


@pytest.fixture(scope="module")
def amd64() -> None:
    if _host_arch() != "amd64":
        pytest.skip("the libc6 layout checks name amd64 paths")


def _fresh(*debs: Path, keep_docs: bool = False, drop: tuple[str, ...] = ()) -> LayerContents:
    layer = LayerContents()
    add_merged_usr_links(layer, "amd64")
    for deb in debs:
        unpack_into(layer, deb, keep_docs=keep_docs, drop=drop)
    return layer


def _resolve(layer: LayerContents, path: str) -> str:
    """Follow symlinks in the layer like the kernel would; the final path (or AssertionError)."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        current = "/".join([*done, name])
        entry = layer.get(current)
        assert entry is not None, f"{path}: /{current} does not exist"
        if entry.kind == "symlink":
            hops += 1
            assert hops < 40, f"{path}: symlink loop"
            target = entry.linkname
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
        else:
            done.append(name)
    return "/".join(done)


def _error_of(call: Callable[[], object]) -> ScratchpackError:
    """The project error a call raises (what the CLI would print as one line)."""
    with pytest.raises(ScratchpackError) as caught:
        call()
    return caught.value


# --- real packages ----------------------------------------------------------------------


def test_libc6_lands_in_merged_usr(debs: dict[str, Path], amd64: None) -> None:
    layer = _fresh(debs["libc6"])
    libc = layer.get("usr/lib/x86_64-linux-gnu/libc.so.6")
    assert libc is not None and libc.kind == "file"
    assert libc.data is not None and libc.data[:4] == b"\x7fELF"
    assert libc.mode & 0o111, oct(libc.mode)
    loader = layer.get("usr/lib64/ld-linux-x86-64.so.2")
    assert loader is not None and loader.kind == "symlink"
    # The absolute target still works through the lib -> usr/lib link.
    assert _resolve(layer, "lib64/ld-linux-x86-64.so.2") == (
        "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    )
    for top in ("bin", "sbin", "lib", "lib64"):
        entry = layer.get(top)
        assert entry is not None and entry.kind == "symlink" and entry.linkname == f"usr/{top}"
    # Nothing outside the links is left under the old top-level directories.
    assert not [p for p in layer.paths() if p.split("/")[0] in ("lib", "lib64") and "/" in p]


def test_docs_are_dropped_but_copyright_stays(debs: dict[str, Path]) -> None:
    layer = _fresh(debs["libc6"], debs["ca-certificates"], debs["tzdata"])
    docs = [p for p in layer.paths() if p.startswith("usr/share/doc/")]
    leftovers = [p for p in docs if p.count("/") > 3 and not p.endswith("/copyright")]
    assert not leftovers, leftovers
    assert "usr/share/doc/libc6/copyright" in layer
    assert "usr/share/doc/ca-certificates/copyright" in layer
    for tree in ("usr/share/man/", "usr/share/locale/", "usr/share/lintian/", "usr/share/info/"):
        assert not [p for p in layer.paths() if p.startswith(tree)], tree


def test_keep_docs_keeps_them(debs: dict[str, Path]) -> None:
    layer = _fresh(debs["libc6"], debs["ca-certificates"], keep_docs=True)
    assert "usr/share/doc/libc6/changelog.Debian.gz" in layer
    assert "usr/share/man/man8/update-ca-certificates.8.gz" in layer
    assert "usr/share/doc/ca-certificates/README.Debian" in layer


def test_drop_globs(debs: dict[str, Path]) -> None:
    layer = _fresh(debs["tzdata"], drop=("usr/share/zoneinfo/right", "/usr/share/zoneinfo/*.tab"))
    paths = list(layer.paths())
    assert not [p for p in paths if p.startswith("usr/share/zoneinfo/right")]
    assert not [p for p in paths if p.endswith(".tab")]
    assert "usr/share/zoneinfo/Europe/Paris" in layer
    contents = unpack_into(LayerContents(), debs["tzdata"], drop=("usr/share/zoneinfo/*",))
    assert not [p for p in contents.files if p.startswith("usr/share/zoneinfo/")]


def test_contents_and_status_entry(debs: dict[str, Path]) -> None:
    contents = unpack_into(LayerContents(), debs["libc6"])
    assert isinstance(contents, DebContents)
    assert contents.package == "libc6"
    assert contents.architecture == _host_arch() or not _host_arch()
    assert "usr/share/doc/libc6/copyright" in contents.files
    assert "./" not in contents.md5sums and "libc.so.6" in contents.md5sums
    text = status_entry(contents)
    assert text.endswith("\n") and not text.endswith("\n\n")
    para = Deb822(text.splitlines())
    assert para["Package"] == "libc6"
    assert para["Version"] == contents.version
    assert para["Architecture"] == contents.architecture
    assert "Description" in para and "Maintainer" in para
    # distroless's layout: the control file, every field in its order, and no Status line
    control_fields = list(Deb822(contents.control.splitlines()).keys())
    assert list(para) == control_fields and "Status" not in para
    # a Status line a control file carries (a deinstall would hide the package) is dropped
    odd = dataclasses.replace(contents, control=contents.control + "Status: deinstall ok\n")
    assert status_entry(odd) == text


def test_libstdcxx_relative_symlink_kept(debs: dict[str, Path]) -> None:
    layer = _fresh(debs["libc6"], debs["libstdc++6"])
    link = layer.get("usr/lib/x86_64-linux-gnu/libstdc++.so.6")
    assert link is not None and link.kind == "symlink"
    assert link.linkname == "libstdc++.so.6.0.30"
    assert "usr/share/doc/libstdc++6" not in layer


def test_all_packages_together(debs: dict[str, Path]) -> None:
    layer = _fresh(*(debs[name] for name in PACKAGES))
    assert "etc/services" in layer  # netbase
    assert "etc/debian_version" in layer  # base-files
    assert _resolve(layer, "usr/share/zoneinfo/UTC") == "usr/share/zoneinfo/Etc/UTC"


def test_unpacking_is_reproducible(debs: dict[str, Path]) -> None:
    outputs = []
    for _ in range(2):
        layer = _fresh(*(debs[name] for name in PACKAGES))
        add_ca_bundle(layer)
        out = io.BytesIO()
        write_tar(layer, out, mtime=0)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    with tarfile.open(fileobj=io.BytesIO(outputs[0])) as tar:
        members = tar.getmembers()
    assert {m.mtime for m in members} == {0}
    assert not [m for m in members if m.uname or m.gname]


# --- the CA bundle ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_ca_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ca-certificates .deb of exactly the version installed on this machine."""
    if shutil.which("dpkg-query") is None:
        unavailable("not a Debian host")
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", "ca-certificates"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.startswith("install ok installed"):
        unavailable("ca-certificates is not installed on this machine")
    version = proc.stdout.split()[-1]
    found = _apt_download(tmp_path_factory.mktemp("ca"), f"ca-certificates={version}")
    deb = found["ca-certificates"]
    assert read_deb(deb)[0].version == version
    return deb


def test_ca_bundle_matches_update_ca_certificates(host_ca_deb: Path) -> None:
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    conf = Path("/etc/ca-certificates.conf")
    if not host_bundle.is_file() or not conf.is_file():
        unavailable("no host CA bundle to compare with")
    if any(line.startswith("!") for line in conf.read_text().splitlines()):
        pytest.skip("the host deselected certificates in /etc/ca-certificates.conf")
    layer = LayerContents()
    unpack_into(layer, host_ca_deb)
    ours = ca_bundle(layer)
    theirs = host_bundle.read_bytes()
    local = Path("/usr/local/share/ca-certificates")
    if local.is_dir() and any(local.rglob("*.crt")):
        # Local certificates come after the Debian ones; compare only the Debian part.
        assert theirs.startswith(ours)
    else:
        assert ours == theirs
    assert ours.count(b"-----BEGIN CERTIFICATE-----") > 100


def test_add_ca_bundle(debs: dict[str, Path]) -> None:
    layer = _fresh(debs["ca-certificates"])
    entry = add_ca_bundle(layer)
    assert entry.path == BUNDLE_PATH and entry.mode == 0o444 and entry.uid == 0
    assert entry.data is not None and entry.data.endswith(b"-----END CERTIFICATE-----\n")
    error = _error_of(lambda: add_ca_bundle(LayerContents()))
    assert isinstance(error, UsageError)
    assert "install the ca-certificates package" in str(error)


def test_ca_bundle_adds_missing_newlines() -> None:
    layer = LayerContents()
    layer.add_file("usr/share/ca-certificates/b/z.crt", data=b"Z")
    layer.add_file("usr/share/ca-certificates/a/y.crt", data=b"Y\n")
    layer.add_file("usr/share/ca-certificates/B/x.crt", data=b"X")
    layer.add_symlink("usr/share/ca-certificates/a/link.crt", "y.crt")
    layer.add_file("usr/share/ca-certificates/a/readme.txt", data=b"no")
    # Byte order, as sort(1) in the C locale: "B/" < "a/" < "b/".
    assert ca_bundle(layer) == b"X\nY\nZ\n"


# --- broken and hostile packages --------------------------------------------------------


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    return info


def _make_deb(
    path: Path,
    data: list[tuple[tarfile.TarInfo, bytes | None]],
    package: str = "crafted",
) -> Path:
    control = (
        f"Package: {package}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: Nobody <nobody@example.org>\nDescription: a crafted package\n"
    ).encode()
    control_tar = tar_gz([(_info("./control"), control)])
    path.write_bytes(
        ar(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", control_tar),
                ("data.tar.gz", tar_gz(data)),
            ]
        )
    )
    return path


def test_crafted_deb_is_readable(tmp_path: Path) -> None:
    deb = _make_deb(
        tmp_path / "ok.deb",
        [
            (_info("./", tarfile.DIRTYPE, 0o755), None),
            (_info("./bin/", tarfile.DIRTYPE, 0o755), None),
            (_info("./bin/tool", mode=0o4755), b"#!tool\n"),
            (_info("./bin/same", tarfile.LNKTYPE, link="./bin/tool"), None),
            (_info("./lib/data", tarfile.SYMTYPE, link="../usr/share/data"), None),
            (_info("./dev/null", tarfile.CHRTYPE, 0o666), None),
            (_info("./usr/share/data", mode=0o600), b"data"),
        ],
    )
    layer = LayerContents()
    contents = unpack_into(layer, deb)
    tool = layer.get("usr/bin/tool")
    assert tool is not None and tool.mode == 0o4755 and tool.origin == "crafted"
    same = layer.get("usr/bin/same")
    assert same is not None and same.kind == "hardlink" and same.linkname == "usr/bin/tool"
    # A relative link moved from lib/ to usr/lib/ is rewritten to reach the same file.
    assert _resolve(layer, "usr/lib/data") == "usr/share/data"
    assert _resolve(layer, "lib/data") == "usr/share/data"
    assert "dev/null" not in layer and "dev/null" not in contents.files
    # The links were made on demand, since the layer had none.
    bin_link = layer.get("bin")
    assert bin_link is not None and bin_link.kind == "symlink"


def test_hardlink_to_dropped_file_becomes_a_copy(tmp_path: Path) -> None:
    deb = _make_deb(
        tmp_path / "hl.deb",
        [
            (_info("./usr/share/doc/crafted/NEWS"), b"news"),
            (_info("./usr/bin/news", tarfile.LNKTYPE, link="./usr/share/doc/crafted/NEWS"), None),
        ],
    )
    layer = LayerContents()
    unpack_into(layer, deb)
    copy = layer.get("usr/bin/news")
    assert copy is not None and copy.kind == "file" and copy.data == b"news"
    assert "usr/share/doc/crafted/NEWS" not in layer


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "./../etc/passwd", "./usr/../../etc/passwd", "/etc/passwd"],
)
def test_hostile_member_is_refused(tmp_path: Path, name: str) -> None:
    deb = _make_deb(tmp_path / "evil.deb", [(_info(name), b"root::0:0::/:/bin/sh\n")])
    layer = LayerContents()
    error = _error_of(lambda: unpack_into(layer, deb))
    assert isinstance(error, FormatError)
    assert "evil.deb" in str(error) and "etc/passwd" in str(error)
    assert len(layer) == 0


def test_hostile_hardlink_target_is_refused(tmp_path: Path) -> None:
    deb = _make_deb(
        tmp_path / "evil.deb", [(_info("./x", tarfile.LNKTYPE, link="../../etc/shadow"), None)]
    )
    error = _error_of(lambda: read_deb(deb))
    assert isinstance(error, FormatError) and "etc/shadow" in str(error)


def test_truncated_deb(debs: dict[str, Path], tmp_path: Path) -> None:
    data = debs["netbase"].read_bytes()
    for size in (7, 100, len(data) // 2, len(data) - 4):
        broken = tmp_path / f"netbase-cut-{size}.deb"
        broken.write_bytes(data[:size])
        error = _error_of(partial(read_deb, broken))
        assert isinstance(error, FormatError), (size, error)
        assert broken.name in str(error)


def test_random_bytes_are_not_a_deb(tmp_path: Path) -> None:
    junk = tmp_path / "junk.deb"
    junk.write_bytes(os.urandom(4096))
    error = _error_of(lambda: unpack_into(LayerContents(), junk))
    assert isinstance(error, FormatError) and "junk.deb" in str(error)
    missing = _error_of(lambda: read_deb(tmp_path / "missing.deb"))
    assert isinstance(missing, UsageError) and "missing.deb" in str(missing)


def test_file_directory_conflict_names_both_packages(tmp_path: Path) -> None:
    first = _make_deb(tmp_path / "a.deb", [(_info("./etc/thing"), b"file")], package="alpha")
    second = _make_deb(
        tmp_path / "b.deb", [(_info("./etc/thing/", tarfile.DIRTYPE, 0o755), None)], "beta"
    )
    layer = LayerContents()
    unpack_into(layer, first)
    error = _error_of(lambda: unpack_into(layer, second))
    assert isinstance(error, FormatError)
    assert "alpha" in str(error) and "beta" in str(error) and "/etc/thing" in str(error)


def test_later_package_wins_a_file(tmp_path: Path) -> None:
    first = _make_deb(tmp_path / "a.deb", [(_info("./etc/conf"), b"one")], package="alpha")
    second = _make_deb(tmp_path / "b.deb", [(_info("./etc/conf"), b"two")], package="beta")
    layer = LayerContents()
    unpack_into(layer, first)
    unpack_into(layer, second)
    entry = layer.get("etc/conf")
    assert entry is not None and entry.data == b"two" and entry.origin == "beta"


def test_merged_usr_link_conflict(tmp_path: Path) -> None:
    layer = LayerContents()
    layer.add_dir("lib")
    layer.add_file("lib/keep", data=b"x")
    deb = _make_deb(tmp_path / "c.deb", [(_info("./lib/libz.so"), b"elf")])
    error = _error_of(lambda: unpack_into(layer, deb))
    assert isinstance(error, FormatError) and "/lib" in str(error)


def test_package_shipping_the_merged_link_itself(tmp_path: Path) -> None:
    deb = _make_deb(
        tmp_path / "links.deb",
        [
            (_info("./bin", tarfile.SYMTYPE, link="usr/bin"), None),
            (_info("./usr/bin/sh"), b"sh"),
        ],
    )
    layer = LayerContents()
    add_merged_usr_links(layer, "amd64")
    unpack_into(layer, deb)
    assert _resolve(layer, "bin/sh") == "usr/bin/sh"
    assert "usr/usr" not in " ".join(layer.paths())


def test_merged_usr_links_by_arch() -> None:
    arm = LayerContents()
    add_merged_usr_links(arm, "arm64")
    assert sorted(arm.paths()) == ["bin", "lib", "sbin"]
    amd = LayerContents()
    add_merged_usr_links(amd, "amd64")
    add_merged_usr_links(amd, "amd64")  # idempotent
    assert sorted(amd.paths()) == ["bin", "lib", "lib64", "sbin"]
    lib64 = amd.get("lib64")
    assert lib64 is not None
    assert posixpath.normpath("/" + lib64.linkname) == "/usr/lib64"


# --- bounded memory: spooled bodies, streamed members, the unpack-bomb guard ------------


def test_spooled_unpack_writes_the_same_layer(debs: dict[str, Path], tmp_path: Path) -> None:
    """Bodies spooled to disk make byte-for-byte the layer the in-memory path makes."""
    outputs = []
    for spool in (None, Spool(tmp_path / "spool")):
        if spool is not None:
            spool.directory.mkdir()
        layer = LayerContents()
        add_merged_usr_links(layer, "amd64")
        for name in PACKAGES:
            unpack_into(layer, debs[name], spool=spool)
        add_ca_bundle(layer)
        out = io.BytesIO()
        write_tar(layer, out, mtime=0)
        outputs.append(out.getvalue())
        if spool is not None:
            spooled = [e for e in layer.entries() if e.source is not None]
            assert spooled and all(e.data is None and e.size > SPOOL_IN_MEMORY for e in spooled)
            assert all(spool.directory in e.source.parents for e in spooled if e.source)
            small = [e for e in layer.entries() if e.kind == "file" and e.data is not None]
            assert small  # the small files stayed in memory
    assert outputs[0] == outputs[1]


def test_unpack_limit() -> None:
    assert unpack_limit(10_000) == UNPACK_FLOOR == 1 << 30
    assert unpack_limit(20 << 20) == UNPACK_RATIO * (20 << 20) == 2000 << 20


@pytest.mark.parametrize("codec", ["gz", "xz", "zst"])
def test_codecs_are_read_and_spooled(codec: str, tmp_path: Path) -> None:
    body = os.urandom(3 * SPOOL_IN_MEMORY) + bytes(100_000)
    deb = codec_deb(tmp_path / f"ok-{codec}.deb", codec,
                     [("./usr/bin/tool", body), ("./etc/small", b"x\n")])  # fmt: skip
    (tmp_path / "spool").mkdir()
    _, members = read_deb(deb, Spool(tmp_path / "spool"))
    tool, small = members
    assert tool.data is None and tool.source is not None and tool.source.read_bytes() == body
    assert small.data == b"x\n" and small.source is None
    _, in_memory = read_deb(deb)
    assert in_memory[0].data == body


@pytest.mark.parametrize("codec", ["gz", "xz", "zst"])
def test_truncated_or_corrupt_codec_members(codec: str, tmp_path: Path) -> None:
    members: list[tuple[str, bytes | int]] = [("./usr/bin/tool", os.urandom(200_000))]
    # cuts 1-4 leave every byte of data: zstd's stream_reader alone ends quietly inside the
    # frame's checksum there, layers/zstdstream.py notices
    for cut in (1, 2, 3, 4, 30, 5_000, 150_000):
        deb = codec_deb(tmp_path / f"cut-{codec}-{cut}.deb", codec, members, cut=cut)
        error = _error_of(partial(read_deb, deb))
        assert isinstance(error, FormatError) and deb.name in str(error), (cut, error)
        if codec == "zst" and cut <= 4:
            assert "inside the frame's content checksum" in str(error), error
    good = codec_deb(tmp_path / f"flip-{codec}.deb", codec, members).read_bytes()
    flipped = tmp_path / f"flipped-{codec}.deb"
    middle = len(good) // 2
    flipped.write_bytes(good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :])
    error = _error_of(partial(read_deb, flipped))
    assert isinstance(error, FormatError) and flipped.name in str(error)


@pytest.mark.parametrize("codec", ["gz", "xz", "zst"])
def test_unpack_bomb_is_refused(
    codec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few kB that expand past the limit are refused, naming the package, with nothing
    beyond the limit spooled; many small members count together. (The floor is lowered to
    8 MiB so that xz need not compress a gigabyte; the real floor is tested with zstd below.)"""
    monkeypatch.setattr(deb_module, "UNPACK_FLOOR", 8 << 20)
    one = codec_deb(tmp_path / f"one-{codec}.deb", codec, [("./big", 9 << 20)])
    many = codec_deb(tmp_path / f"many-{codec}.deb", codec,
                      [(f"./f{n}", 1 << 20) for n in range(12)])  # fmt: skip
    trailing = tmp_path / f"trailing-{codec}.deb"  # zeros after the end of the archive
    trailing.write_bytes(
        ar([
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", tar_gz([(_info("./control"), b"Package: bomb\nVersion: 1\n"
                                          b"Architecture: all\n")])),
            (f"data.tar.{codec}", compress(codec, [*tar_stream([("./a", b"a")]),
                                                    *[bytes(1 << 20)] * 10])),
        ])
    )  # fmt: skip
    for deb in (one, many, trailing):
        assert deb.stat().st_size < 200_000
        spool = tmp_path / f"spool-{deb.stem}"
        spool.mkdir()
        error = _error_of(partial(read_deb, deb, Spool(spool)))
        assert isinstance(error, FormatError), error
        assert deb.name in str(error) and "package bomb" in str(error)
        assert "unpack bomb" in str(error) and "8.4 MB" in str(error)
        spooled = sum(f.stat().st_size for f in spool.iterdir())
        assert spooled == 0 if deb is one else spooled <= 8 << 20  # one: refused by its header


def test_zstd_bomb_at_the_real_floor_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """A zstd data.tar of a few kB declaring 1 GiB and 1 MiB: streamed (never decompressed
    whole), refused at the 1 GiB floor, the child's peak RSS far below the gigabyte."""
    deb = codec_deb(tmp_path / "giga.deb", "zst", [("./usr/lib/giga", (1 << 30) + (1 << 20))])
    assert deb.stat().st_size < 200_000
    code = (
        "import sys; from pathlib import Path; "
        "from scratchpack.debian.deb import read_deb, Spool; "
        "from scratchpack.errors import FormatError\n"
        "try:\n read_deb(Path(sys.argv[1]), Spool(Path(sys.argv[2])))\n"
        "except FormatError as e:\n print(e, file=sys.stderr)\n"
        # VmHWM: this process's own peak since exec (getrusage's maxrss also counts the pages
        # of the forking parent, a big pytest worker, at the fork)
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    (tmp_path / "spool").mkdir()
    proc = subprocess.run([sys.executable, "-c", code, str(deb), str(tmp_path / "spool")],
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "giga.deb" in proc.stderr and "unpack bomb" in proc.stderr, proc.stderr
    assert int(proc.stdout) < 96 << 10, proc.stdout  # KiB; decompressed whole it was > 1 GiB


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_packs_runtimes_spool_the_bodies_and_move_them_into_their_root(
    runtime: str, tmp_path: Path
) -> None:
    """pack's Node (debroot) and Python (pyruntime) runtimes unpack through build's Spool:
    a 128 MiB file goes through a scratch file moved into the root, never whole in memory
    (before, each held every body of a package: libnode alone is 70 MB), spool left empty."""
    size = 128 << 20
    deb = codec_deb(tmp_path / "big.deb", "zst", [("./usr/lib/big", size), ("./etc/small", b"x")])
    code = (
        "import sys; from pathlib import Path\n"
        "from scratchpack.debian.deb import Spool, unpack_into\n"
        "from scratchpack.layers.tarwriter import LayerContents\n"
        "deb, work = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "(work / 'spool').mkdir()\n"
        "if sys.argv[3] == 'node':\n"
        " from scratchpack.operations.pack.debroot import unpack_deb\n"
        " root = work / 'root'; (root / 'usr').mkdir(parents=True)\n"
        " print(unpack_deb(deb, root, {}, Spool(work / 'spool')).package, file=sys.stderr)\n"
        "else:\n"
        " from scratchpack.operations.pack.pyruntime import materialize\n"
        " layer = LayerContents()\n"
        " unpack_into(layer, deb, spool=Spool(work / 'spool'))\n"
        " materialize(layer, work / 'root')\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(deb), str(tmp_path), runtime],
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    big = tmp_path / "root/usr/lib/big"
    assert big.stat().st_size == size and (tmp_path / "root/etc/small").read_bytes() == b"x"
    with big.open("rb") as handle:
        assert handle.read(1 << 20) == bytes(1 << 20)
    assert list((tmp_path / "spool").iterdir()) == []  # moved, not copied
    assert int(proc.stdout) < 96 << 10, proc.stdout  # KiB; the body alone is 128 MiB


def test_control_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deb_module, "UNPACK_FLOOR", 8 << 20)
    deb = tmp_path / "control-bomb.deb"
    deb.write_bytes(
        ar([
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", compress("xz", tar_stream([("./postinst", 9 << 20)]))),
            ("data.tar.gz", tar_gz([])),
        ])
    )  # fmt: skip
    error = _error_of(partial(read_deb, deb))
    assert isinstance(error, FormatError) and "control-bomb.deb" in str(error)
    assert "unpack bomb" in str(error)
