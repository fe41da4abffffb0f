"""``build``: a distroless-style image from Debian packages, declared in a spec, no daemon.

Steps: resolve the spec's packages against the sources' indexes (or take the lock file as
is with ``--locked``), download each ``.deb`` checked against its sha256 (cached by hash),
unpack the data archives into one layer without running maintainer scripts, add what those
scripts would have made that a container needs (``/etc/passwd``, ``/etc/group``, a sticky
``/tmp``, the CA bundle, ``nsswitch.conf``, ``os-release``) and a ``status.d`` entry per package
so scanners (and ``scratchpack sbom``) see every one, with a ``<package>.md5sums`` of the files
it ships (Syft's file ownership), then write the image to any transport.

Same lock + same ``SOURCE_DATE_EPOCH`` = same digest: entries are sorted, mtimes are 0,
owners come from the packages, and nothing from the host goes in.
"""

from __future__ import annotations

import json
import platform as host_platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack import progress
from scratchpack.debian.certificates import add_ca_bundle
from scratchpack.debian.deb import Spool, add_merged_usr_links, status_entry, unpack_into
from scratchpack.debian.index import Fetcher, PackageRecord, download, is_cached, read_index
from scratchpack.debian.installed import write_md5sums
from scratchpack.debian.resolve import Resolution, Universe, resolve
from scratchpack.debian.sources import Source, system_sources
from scratchpack.debian.spec import ImageSpec
from scratchpack.errors import FormatError, UsageError
from scratchpack.fsutil import atomic_write, scratch_directory
from scratchpack.layers.tarwriter import Entry, LayerContents, source_date_epoch
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.model.image import Image
from scratchpack.model.manifest import Manifest, canonical_json
from scratchpack.operations.essentials import NSSWITCH, RunUser, group_text, passwd_text
from scratchpack.operations.pack.core import StagedBlobs, rfc3339, staging_near, write_layer_blob
from scratchpack.transports.dispatch import write_image
from scratchpack.transports.names import ImageName
from scratchpack.transports.preflight import check_destination

if TYPE_CHECKING:
    from scratchpack.transports.registry.transport import RegistryOptions

LOCK_VERSION = 1
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "ppc64le": "ppc64el",
           "s390x": "s390x", "riscv64": "riscv64", "i686": "i386"}  # fmt: skip
_OCI_ARCH = {"armhf": "arm", "ppc64el": "ppc64le", "i386": "386"}


def host_arch() -> str:
    return _ARCHES.get(host_platform.machine(), host_platform.machine())


@dataclass(frozen=True)
class Locked:
    """One package of a lock file: exactly what to download and where it came from."""

    name: str
    version: str
    architecture: str
    url: str
    sha256: str
    size: int
    reason: str

    def record(self) -> PackageRecord:
        uri, _, filename = self.url.partition("/pool/")
        source = Source(uri, "", ())
        return PackageRecord(self.name, self.version, self.architecture, "", "", "", False, "",
                             "pool/" + filename, self.size, self.sha256, source)  # fmt: skip


@dataclass
class Plan:
    arch: str
    packages: list[Locked]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = {
            "version": LOCK_VERSION,
            "architecture": self.arch,
            "packages": [p.__dict__ for p in self.packages],
            "skipped": [{"name": n, "why": w} for n, w in self.skipped],
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Plan:
        try:
            data = json.loads(text)
            if data.get("version") != LOCK_VERSION:
                raise UsageError(
                    f"{where}: lock file version {data.get('version')} is not {LOCK_VERSION}"
                )
            packages = [Locked(**item) for item in data["packages"]]
            skipped = [(item["name"], item["why"]) for item in data.get("skipped", [])]
            return cls(str(data["architecture"]), packages, skipped)
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{where}: not a scratchpack lock file: {exc}") from exc


def _sources(spec: ImageSpec) -> list[Source]:
    sources = list(spec.sources) or system_sources()
    suite = spec.suite or sources[0].suite
    # the suite and its companions (bookworm-updates, bookworm-security), as apt would
    chosen = [s for s in sources if s.suite == suite or s.suite.startswith(f"{suite}-")]
    if not chosen:
        raise UsageError(f"no source serves suite {suite!r}: have {', '.join(map(str, sources))}")
    return chosen


def plan(spec: ImageSpec, fetcher: Fetcher, arch: str | None = None) -> Plan:
    """Resolve the spec against its sources' indexes."""
    arch = arch or spec.architecture or host_arch()
    sources = _sources(spec)
    with progress.step(f"resolving {len(spec.packages)} packages against {len(sources)} "
                       f"sources ({arch})", unit="packages"):  # fmt: skip
        records = [r for source in sources for r in read_index(fetcher, source, arch)]
        result: Resolution = resolve(Universe.of(records, arch), list(spec.packages),
                                     spec.exclude, spec.essential)  # fmt: skip
    packages = [
        Locked(c.record.name, c.record.version, c.record.architecture, c.record.url,
               c.record.sha256, c.record.size, c.reason)
        for c in result.chosen
    ]  # fmt: skip
    return Plan(arch, packages, result.skipped, result.notes)


def check_lock(spec: ImageSpec, locked: Plan, where: str) -> None:
    """A lock that no longer covers the spec's packages is stale: say so, never guess."""
    have = {p.name for p in locked.packages}
    missing = [name for name in spec.packages if name not in have]
    if missing:
        raise UsageError(
            f"{where} does not hold {', '.join(missing)} that the spec asks for: it is stale; "
            "build without --locked to resolve again"
        )


@dataclass(frozen=True)
class BuildOptions:
    spec: ImageSpec
    destination: ImageName
    lock: Path
    locked: bool = False
    force: bool = False
    compression: str = "gzip"
    registry: RegistryOptions | None = None


@dataclass(frozen=True)
class BuildResult:
    destination: str
    digest: Digest
    plan: Plan
    stored_size: int
    uncompressed_size: int
    files: int


def download_all(fetcher: Fetcher, plan: Plan) -> list[Path]:
    """Each package's ``.deb`` (checked by sha256, cached by it), in the plan's order: one
    progress step over the bytes of those not cached, whose sizes the index gave. One at a
    time: four in parallel measured no faster here (the mirror is near) and each download is
    held in memory until checked, which raised the peak RSS of a cold ``build`` by 10 MB."""
    missing = [p for p in plan.packages if not is_cached(p.sha256)]
    if missing:
        size = sum(p.size for p in missing)
        cached = len(plan.packages) - len(missing)
        what = f"downloading {len(missing)} packages" + (f", {cached} cached" if cached else "")
        with progress.step(what, size) as task:
            return [download(fetcher, p.record(), task.advance) for p in plan.packages]
    return [download(fetcher, p.record()) for p in plan.packages]


def assemble(
    spec: ImageSpec,
    plan: Plan,
    debs: list[Path],
    user: RunUser,
    unpacked: Callable[[int], None] | None = None,
    spool: Spool | None = None,
) -> LayerContents:
    """The image's one layer. With ``spool`` (as ``build`` does), the packages' file bodies
    wait in its directory, not in memory, so peak RSS does not grow with the image."""
    layer = LayerContents()
    add_merged_usr_links(layer, plan.arch)
    names = set()
    for locked, deb in zip(plan.packages, debs, strict=True):
        try:
            contents = unpack_into(layer, deb, keep_docs=spec.keep_docs, drop=spec.drop,
                                   spool=spool)  # fmt: skip
        except FormatError as exc:
            # The .deb is a cache file named by its sha256: name the package it was meant to be.
            named = f"{locked.name} {locked.version} ({locked.url.rpartition('/')[2]})"
            raise FormatError(str(exc).replace(str(deb), named)) from None
        if unpacked is not None:
            unpacked(1)
        names.add(contents.package)
        _ensure_dirs(layer, "var/lib/dpkg/status.d")
        layer.add_file(f"var/lib/dpkg/status.d/{contents.package}",
                       data=status_entry(contents).encode(), mode=0o644)  # fmt: skip
    if "ca-certificates" in names:
        add_ca_bundle(layer)
    if names & {"busybox", "busybox-static"}:
        _busybox_applets(layer)
    _ensure_dirs(layer, "etc")
    for path, text in (("etc/passwd", passwd_text(user)), ("etc/group", group_text(user))):
        data = text.encode()  # ours, whatever a package shipped (base-passwd's are templates)
        layer.replace(Entry(path, "file", 0o644, data=data, size=len(data), origin="build"))
    if "etc/nsswitch.conf" not in layer:
        layer.add_file("etc/nsswitch.conf", data=NSSWITCH.encode(), mode=0o644)
    if "etc/os-release" not in layer and "usr/lib/os-release" not in layer:
        layer.add_file("etc/os-release", data=_os_release(plan).encode(), mode=0o644)
    layer.add_dir("tmp", mode=0o1777)
    layer.add_dir("root", mode=0o700)
    if not user.is_root:
        _ensure_dirs(layer, "home")
        layer.add_dir(user.home.lstrip("/"), mode=0o700, uid=user.uid, gid=user.gid)
    for item in spec.files:
        if not item.src.is_file():
            raise UsageError(f"[[file]] {item.src}: no such file")
        parent = item.dest.lstrip("/").rpartition("/")[0]
        if parent:
            _ensure_dirs(layer, parent)
        mode = item.mode if item.mode is not None else 0o444
        layer.add_file(item.dest, source=item.src, mode=mode, origin=str(item.src))
    # last: a later package (or ours, /etc/passwd) may have replaced an earlier one's file
    write_md5sums(layer, lambda entry: entry.origin if entry.origin in names else None, 0o644)
    return layer


# The applets a debugging shell needs, linked in /busybox as distroless' :debug images do
# (busybox --install would need to run the image's binary at build time).
BUSYBOX_APPLETS = (
    "awk", "cat", "chmod", "cp", "cut", "date", "df", "du", "echo", "env", "find", "grep",
    "head", "hostname", "id", "ip", "kill", "less", "ln", "ls", "mkdir", "mv", "nc",
    "netstat", "nslookup", "ping", "ps", "pwd", "rm", "sed", "sh", "sleep", "sort", "stat",
    "tail", "tar", "top", "touch", "tr", "uname", "vi", "wc", "wget", "which", "whoami",
)  # fmt: skip


def _busybox_applets(layer: LayerContents) -> None:
    layer.add_dir("busybox")
    for applet in BUSYBOX_APPLETS:
        layer.add_symlink(f"busybox/{applet}", "/usr/bin/busybox")


def _ensure_dirs(layer: LayerContents, path: str) -> None:
    parts = path.split("/")
    for n in range(1, len(parts) + 1):
        prefix = "/".join(parts[:n])
        if prefix not in layer:
            layer.add_dir(prefix)


def _os_release(plan: Plan) -> str:
    return 'PRETTY_NAME="Distroless-style (scratchpack build)"\nID=debian\n'


def build(options: BuildOptions) -> BuildResult:
    spec = options.spec
    check_destination(options.destination, force=options.force)
    user = RunUser.parse(spec.user)
    fetcher = Fetcher()
    try:
        if options.locked:
            try:
                the_plan = Plan.from_json(options.lock.read_text(), str(options.lock))
            except FileNotFoundError:
                raise UsageError(
                    f"--locked: {options.lock} does not exist; build once without it"
                ) from None
            check_lock(spec, the_plan, str(options.lock))
        else:
            the_plan = plan(spec, fetcher)
        debs = download_all(fetcher, the_plan)
    finally:
        fetcher.close()
    created = rfc3339(source_date_epoch())
    with scratch_directory(staging_near(options.destination)) as scratch:
        spool = scratch / "spool"
        spool.mkdir()
        with progress.step(f"unpacking {len(debs)} packages", len(debs), unit="packages") as task:
            layer = assemble(spec, the_plan, debs, user, task.advance, Spool(spool))
        blob_dir = scratch / "blobs"
        blob_dir.mkdir()
        blob = write_layer_blob(layer, blob_dir, options.compression, None,
                                f"writing the layer ({options.compression})")  # fmt: skip
        config = _config(spec, the_plan, user, created, str(blob.diff_id))
        config_bytes = canonical_json(config)
        manifest = Manifest(
            config=Descriptor(mt.OCI_CONFIG, Digest.of(config_bytes), len(config_bytes)),
            layers=(Descriptor(mt.oci_layer_type(blob.compression), blob.digest, blob.size),),
            media_type=mt.OCI_MANIFEST,
            annotations={mt.ANNOTATION_CREATED: created},
        )
        image = Image.assemble(manifest.to_bytes(), config_bytes, StagedBlobs(blob_dir))
        written = write_image(options.destination, image, force=options.force,
                              registry_options=options.registry)  # fmt: skip
    if not options.locked:
        atomic_write(options.lock, the_plan.to_json().encode())
    return BuildResult(written.destination, written.manifest_digest, the_plan, image.total_size(),
                       blob.uncompressed_size, len(layer.entries()))  # fmt: skip


def _config(
    spec: ImageSpec, plan: Plan, user: RunUser, created: str, diff_id: str
) -> dict[str, Any]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    if any(p.name in ("busybox", "busybox-static") for p in plan.packages):
        env["PATH"] += ":/busybox"
    if any(p.name == "ca-certificates" for p in plan.packages):
        env["SSL_CERT_FILE"] = "/etc/ssl/certs/ca-certificates.crt"
    env.update(spec.env)
    container: dict[str, Any] = {
        "User": f"{user.uid}:{user.gid}",
        "Env": [f"{k}={v}" for k, v in env.items()],
        "WorkingDir": spec.workdir or (user.home if not user.is_root else "/"),
    }
    if spec.entrypoint:
        container["Entrypoint"] = list(spec.entrypoint)
    if spec.cmd:
        container["Cmd"] = list(spec.cmd)
    if spec.labels:
        container["Labels"] = dict(sorted(spec.labels.items()))
    names = ", ".join(p.name for p in plan.packages)
    return {
        "created": created,
        "architecture": _OCI_ARCH.get(plan.arch, plan.arch),
        "os": "linux",
        "config": container,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": f"scratchpack build: {names}"}],
    }
