"""What every kind of ``pack`` shares: the options and the result, ``--add`` paths, layer
blobs written once into a staging directory beside the output, the platform and compression
choices, the package records (``status.d``) of the files copied in, and the assembly of an
image from a config and its layers.

Layer entries always carry mtime 0, and ``SOURCE_DATE_EPOCH`` sets only the config's
``created`` times (and the ``created`` annotation). This is the choice ko makes: CI usually
sets ``SOURCE_DATE_EPOCH`` to the commit time, and stamping it into layers would change the
essentials layer on every commit and defeat the reuse above.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field  # PackOptions (dataclasses.replace by its users)
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, cast

from scratchpack import progress
from scratchpack.debian.installed import DpkgDatabase, owned_files, write_records
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import describe_os_error
from scratchpack.layers.compress import CompressedBlob, CompressingWriter
from scratchpack.layers.tarwriter import LayerContents, normalize_path, write_tar
from scratchpack.model import mediatypes as mt
from scratchpack.model.config import ImageConfig
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest, VerifyingReader
from scratchpack.model.image import Image, Layer
from scratchpack.model.manifest import Manifest, canonical_json
from scratchpack.operations.elf import ElfInfo
from scratchpack.operations.essentials import (
    DEFAULT_CA_BUNDLE,
    DEFAULT_ZONEINFO,
    EssentialsReport,
    RunUser,
)
from scratchpack.transports.dispatch import WriteResult, stores_uncompressed, write_image
from scratchpack.transports.names import ArchiveName, ImageName, OciName

if TYPE_CHECKING:  # a static binary's pack loads none of these (tests/test_startup.py)
    from scratchpack.operations.pack.libraries import LibraryReport
    from scratchpack.operations.probe import ProbeResult, ProbeSpec
    from scratchpack.operations.provenance import Input
    from scratchpack.transports.registry.transport import RegistryOptions

LAYER_MTIME = 0
# The packages whose lists an owner search of the essentials' and app's files reads first.
HOST_HINTS = ("ca-certificates", "tzdata")
DEFAULT_PATH_ENV = "PATH=/usr/local/bin:/usr/bin:/bin"


class AddSpec(NamedTuple):
    """``--add SRC:DEST[:MODE]``.
    (A NamedTuple, not a dataclass: on every ``pack``'s path; see ``operations/elf.py``.)"""

    source: Path
    dest: str
    mode: int | None = None

    @classmethod
    def parse(cls, text: str) -> AddSpec:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise UsageError(f"invalid --add {text!r}: expected SRC:DEST[:MODE]")
        if not parts[1].startswith("/"):
            raise UsageError(f"invalid --add {text!r}: DEST must be an absolute path")
        mode = None
        if len(parts) == 3:
            try:
                mode = int(parts[2], 8)
            except ValueError:
                raise UsageError(f"invalid --add {text!r}: MODE must be octal, e.g. 0444") from None
            if not 0 <= mode <= 0o7777:
                raise UsageError(f"invalid --add {text!r}: MODE out of range")
        normalize_path(parts[1])
        return cls(Path(parts[0]), parts[1], mode)


@dataclass
class PackOptions:
    binary: Path
    destination: ImageName
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    user: RunUser = field(default_factory=lambda: RunUser("nonroot", 65532, 65532))
    workdir: str | None = None
    binary_dest: str | None = None
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    expose: list[str] = field(default_factory=list)
    adds: list[AddSpec] = field(default_factory=list)
    tz: str = "all"
    certs: bool = True
    ca_bundle: Path = DEFAULT_CA_BUNDLE
    zoneinfo: Path = DEFAULT_ZONEINFO
    platform: Platform | None = None
    compression: str | None = None
    level: int | None = None
    allow_dynamic: bool = False  # a dynamic binary alone, without its libraries
    root: Path = Path("/")  # where a dynamic binary's loader and libraries come from
    from_image: ImageName | None = None  # or an image, unpacked in the scratch dir (--from)
    add_libs: list[str] = field(default_factory=list)  # sonames it dlopens (plugins)
    gconv: str = "auto"  # iconv's modules: auto, all, none or CHARSET,...
    locales: list[str] = field(default_factory=list)  # e.g. de_DE.UTF-8; the first sets LANG
    strip: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    force: bool = False
    registry: RegistryOptions | None = None
    base: ImageName | None = None
    dpkg_root: Path = Path("/")  # whose dpkg database says which packages the files are from
    record_inputs: bool = False  # hash every input for the provenance (PackResult.inputs)
    check: ProbeSpec | None = None  # --check: run in the image before it is written
    kind: str | None = None  # --kind binary|python|node; None: from what `binary` is
    # --test: the app's tests, run in a test variant first (Node and Python), killed at
    # --check-timeout (the spec's timeout) as a probe is
    test: ProbeSpec | None = None
    allow_scripts: bool = False  # --allow-scripts: npm install scripts may run
    icu_locales: tuple[str, ...] = ()  # --icu-locales: a Node image's ICU data cut to these


class LayerSummary(NamedTuple):
    """One layer of pack's result.
    (A NamedTuple, not a dataclass: on every ``pack``'s path; see ``operations/elf.py``.)"""

    name: str
    digest: str
    diff_id: str
    size: int
    uncompressed_size: int
    files: int


class PackResult(NamedTuple):
    """What pack wrote, for its report.
    (A NamedTuple, not a dataclass: on every ``pack``'s path; see ``operations/elf.py``.)"""

    destination: str
    digest: Digest  # the manifest digest at the destination (README, "Digests")
    config_digest: Digest  # the image id
    platform: str
    compression: str
    binary: str
    binary_size: int
    linkage: str
    layers: tuple[LayerSummary, ...]
    stored_size: int
    uncompressed_size: int
    essentials: EssentialsReport
    daemon_message: str = ""
    base: str | None = None  # pack --base: the image under the binary (no essentials layer)
    libraries: LibraryReport | None = None  # a dynamic binary's libraries layer
    inputs: tuple[Input, ...] = ()  # with record_inputs: what went in, with digests
    app: dict[str, Any] | None = None  # pack DIR of a project: what its kind reports
    check: ProbeResult | None = None  # --check's run, which passed (or nothing is written)

    @property
    def essentials_layer(self) -> LayerSummary:
        return self.layers[0]

    @property
    def app_layer(self) -> LayerSummary:
        return self.layers[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "manifest_digest": str(self.digest),
            "image_id": str(self.config_digest),
            # the names before manifest_digest and image_id, kept for scripts that read them
            "digest": str(self.digest),
            "config_digest": str(self.config_digest),
            "platform": self.platform,
            "compression": self.compression,
            "binary": {"path": self.binary, "size": self.binary_size, "linkage": self.linkage},
            "layers": [layer._asdict() for layer in self.layers],
            "size": {"stored": self.stored_size, "uncompressed": self.uncompressed_size},
            **({"base": self.base, "packages": self.essentials.packages} if self.base else {}),
            "essentials": None
            if self.base
            else {
                "stored": self.essentials_layer.size,
                "uncompressed": self.essentials_layer.uncompressed_size,
                "files": self.essentials_layer.files,
                "zones": self.essentials.zones,
                "ca_bundle": self.essentials.ca_bundle,
                "packages": self.essentials.packages,
            },
            "libraries": None
            if self.libraries is None
            else {
                "root": self.libraries.root,
                "loader": self.libraries.loader,
                "sonames": list(self.libraries.libraries),
                "files": self.libraries.files,
                "unavailable": list(self.libraries.unavailable),
                "gconv_modules": self.libraries.gconv_modules,
                "locales": list(self.libraries.locales),
                "stored": self.layers[1].size,
                "uncompressed": self.layers[1].uncompressed_size,
            },
            **({"app": self.app} if self.app is not None else {}),
            "check": None if self.check is None else self.check.to_json(),
            "binary_share": round(self.app_layer.size / self.stored_size, 4)
            if self.stored_size
            else 0,
        }


class StagedBlobs:
    """Blobs written by pack into a scratch directory, named by their hex digest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return self.root / descriptor.digest.hex

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        handle = (self.root / descriptor.digest.hex).open("rb")
        reader = VerifyingReader(handle, descriptor.digest, descriptor.size, "staged blob")
        return cast(BinaryIO, reader)


def parse_command(text: str, what: str) -> list[str]:
    """A JSON array (exec form) or a shell-like string split into words."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise UsageError(f"invalid {what}: not a JSON array: {exc}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"invalid {what}: must be a JSON array of strings")
        return value
    import shlex  # only for a command given as words (issue 17: a static pack's imports)

    try:
        return shlex.split(stripped)
    except ValueError as exc:
        raise UsageError(f"invalid {what}: {exc}") from None


def rfc3339(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_overlap(layer: LayerContents, essentials: LayerContents, what: str) -> None:
    """A path in two layers must be a directory in both: otherwise the later one hides the
    essential file (a library named like /etc/passwd, a root with odd symlinks)."""
    for entry in layer.entries():
        found = essentials.get(entry.path)
        if found is not None and (found.kind != "dir" or entry.kind != "dir"):
            raise UsageError(f"/{entry.path} is both {what} and an essential file")


def record_host_packages(
    essentials: LayerContents,
    app: LayerContents,
    db: DpkgDatabase,
    libs: LayerContents | None = None,
    libs_db: DpkgDatabase | None = None,
) -> dict[str, str]:
    """Record the host's Debian packages the copied files come from (``status.d``, as
    distroless does) beside those files: the essentials' in the essentials layer, a dynamic
    binary's libraries' (from ``libs_db``, the root they came from) in the libraries layer,
    the other ``--add`` ones in the app layer; ``/etc/os-release`` goes with the first record
    unless ``--add`` brings one. Name -> version of every package recorded."""
    hints = HOST_HINTS
    base = owned_files(essentials, db, hints)
    libraries = (
        owned_files(libs, libs_db or db, ("libc6", "libgcc-s1", "libstdc++6"))
        if libs is not None
        else None
    )
    added = owned_files(app, db, hints)
    for name in base.packages:
        added.packages.pop(name, None)
        if libraries is not None:
            libraries.packages.pop(name, None)
    if libraries is not None:
        for name in libraries.packages:
            added.packages.pop(name, None)
    user_release = any(path in app for path in ("etc/os-release", "usr/lib/os-release"))
    release = None if user_release else db.os_release()
    write_records(essentials, base, os_release=release)
    if base.packages:
        release = None
    if libs is not None and libraries is not None:
        write_records(libs, libraries, os_release=release if libraries.packages else None)
        if libraries.packages:
            release = None
    write_records(app, added, os_release=release)
    every = {**base.packages, **added.packages, **(libraries.packages if libraries else {})}
    return {name: p.version for name, p in sorted(every.items())}


def staging_near(name: ImageName) -> Path:
    """Where to stage blobs: beside the output, so that finishing is a rename, not a copy."""
    if isinstance(name, OciName):
        return name.directory.parent if not name.directory.is_dir() else name.directory
    if isinstance(name, ArchiveName):
        return name.file.parent
    return Path(tempfile.gettempdir())


def platform_for(info: ElfInfo, wanted: Platform | None) -> Platform:
    actual = Platform("linux", info.architecture, info.variant)
    if wanted is None:
        return actual
    if wanted.os != "linux" or wanted.architecture != info.architecture:
        raise UsageError(
            f"--platform {wanted} does not match the binary, which is built for {actual}"
        )
    return Platform("linux", info.architecture, wanted.variant or info.variant)


def compression_for(options: PackOptions) -> str:
    uncompressed_dest = stores_uncompressed(options.destination)
    if options.compression is None:
        return "none" if uncompressed_dest else "gzip"
    if uncompressed_dest and options.compression != "none":
        raise UsageError(
            f"{options.destination} stores uncompressed layers (the docker save format); "
            "--compression applies to oci: outputs"
        )
    return options.compression


def add_path(layer: LayerContents, spec: AddSpec, essentials: LayerContents) -> None:
    source = spec.source
    if not source.exists() and not source.is_symlink():
        raise UsageError(f"--add {source}: no such file or directory")
    dest = normalize_path(spec.dest)
    if source.is_symlink() or source.is_file():
        _add_one(layer, source, dest, spec.mode)
        return
    if not source.is_dir():
        raise UsageError(f"--add {source}: not a regular file or directory")
    layer.add_dir(dest)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source).as_posix()
        target = f"{dest}/{rel}"
        if path.is_dir() and not path.is_symlink():
            layer.add_dir(target)
        else:
            _add_one(layer, path, target, spec.mode)


def _add_one(layer: LayerContents, path: Path, dest: str, mode: int | None) -> None:
    try:
        if path.is_symlink():
            layer.add_symlink(dest, str(path.readlink()))
            return
        st_mode = path.stat().st_mode
    except OSError as exc:
        raise ScratchpackError(f"cannot read {path}: {describe_os_error(exc)}") from exc
    if not path.is_file():
        raise UsageError(f"--add {path}: only regular files, directories and symlinks can be added")
    default = 0o555 if st_mode & 0o111 else 0o444
    layer.add_file(
        dest, source=path, mode=default if mode is None else mode, origin=f"--add {path}"
    )


def layer_summaries(
    contents: list[tuple[str, LayerContents]], blobs: list[CompressedBlob]
) -> tuple[LayerSummary, ...]:
    """Each named layer's digests, sizes and entry count, for the result."""
    return tuple(
        LayerSummary(name, str(blob.digest), str(blob.diff_id), blob.size,
                     blob.uncompressed_size, len(layer.entries()))
        for (name, layer), blob in zip(contents, blobs, strict=True)
    )  # fmt: skip


def write_layer_blob(
    contents: LayerContents,
    blob_dir: Path,
    compression: str,
    level: int | None,
    what: str = "writing the layer",
) -> CompressedBlob:
    """Tar and compress ``contents`` into ``blob_dir``, as one progress step over the bytes
    of its files (known before it starts; the tar's headers are not counted)."""
    total = sum(entry.size for entry in contents.entries())
    with progress.step(what, total) as task:
        return _layer_blob(contents, blob_dir, "layer.tmp", compression, level, task.advance)


def _layer_blob(
    contents: LayerContents,
    blob_dir: Path,
    tmp_name: str,
    compression: str,
    level: int | None,
    count: Callable[[int], None],
) -> CompressedBlob:
    tmp = blob_dir / tmp_name
    try:
        with (
            tmp.open("wb") as out,
            CompressingWriter(out, compression, level) as writer,
        ):
            counted = progress.CountedWriter(cast(BinaryIO, writer), count)
            write_tar(contents, cast(BinaryIO, counted), LAYER_MTIME)
            blob = writer.finish()
    except OSError as exc:
        raise ScratchpackError(f"cannot write layer: {describe_os_error(exc)}") from exc
    tmp.rename(blob_dir / blob.digest.hex)
    return blob


class _Cancelled(Exception):
    """Raised inside a background layer's writer to stop it (never seen by callers)."""


class BackgroundLayer:
    """A layer blob written on a thread of its own while the caller goes on with work that
    holds the GIL (issue 17): pack starts the app layer as soon as its files are known, and
    compresses it (zlib-ng, GIL released) while the essentials, the libraries and the
    package records are made in Python, instead of after them.

    It writes a snapshot of the contents: :meth:`finish` keeps the blob only if the contents
    are still equal to it (pack's records may add ``status.d`` files to the app layer: then
    the blob is discarded and the layer written again, as before). As a context manager, an
    error in the caller's block stops the writer and joins its thread before the staging
    directory goes. Progress is reported from the caller's thread only, when it reaches the
    layer's step: the bytes already done at once, the rest as they come."""

    def __init__(
        self,
        contents: LayerContents,
        blob_dir: Path,
        compression: str,
        level: int | None,
        tmp_name: str,
    ) -> None:
        self._snapshot = contents.copy()
        self._args = (blob_dir, compression, level)
        self._done = 0
        self._cancelled = False
        self._blob: CompressedBlob | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(tmp_name,), name="layer", daemon=True
        )
        self._thread.start()

    def _run(self, tmp_name: str) -> None:
        blob_dir, compression, level = self._args
        try:
            self._blob = _layer_blob(
                self._snapshot, blob_dir, tmp_name, compression, level, self._count
            )
        except BaseException as exc:  # handed to the caller by finish()
            self._error = exc

    def _count(self, n: int) -> None:
        if self._cancelled:
            raise _Cancelled
        self._done += n

    def still(self, contents: LayerContents) -> bool:
        """Whether ``contents`` is what is being written."""
        return contents.entries() == self._snapshot.entries()

    def finish(self, contents: LayerContents, what: str) -> CompressedBlob:
        """The blob of ``contents``: the one written here if they did not change since the
        start, else a new one (after this one is stopped)."""
        blob_dir, compression, level = self._args
        if self._cancelled or not self.still(contents):
            # (a blob it may have finished stays unnamed by the manifest in the staging
            # directory, which goes at the end: removing it could remove an equal layer's)
            self.cancel()
            return write_layer_blob(contents, blob_dir, compression, level, what)
        total = sum(entry.size for entry in self._snapshot.entries())
        with progress.step(what, total) as task:
            reported = 0
            while self._thread.is_alive():
                self._thread.join(0.1)
                done = self._done
                task.advance(done - reported)
                reported = done
            task.advance(self._done - reported)
        if self._error is not None:
            raise self._error
        assert self._blob is not None
        return self._blob

    def cancel(self) -> None:
        """Stop the writer (at its next write) and wait for its thread."""
        self._cancelled = True
        self._thread.join()

    def __enter__(self) -> BackgroundLayer:
        return self

    def __exit__(self, *_: object) -> None:
        self.cancel()


def assemble_image(
    config: dict[str, Any],
    layers: list[CompressedBlob],
    blob_dir: Path,
    created: str,
    annotations: dict[str, str],
) -> Image:
    """The OCI image of ``config`` over ``layers`` (blobs staged in ``blob_dir`` by
    ``write_layer_blob``), with the ``created`` annotation and the user's annotations."""
    config_bytes = canonical_json(config)
    config_desc = Descriptor(mt.OCI_CONFIG, Digest.of(config_bytes), len(config_bytes))
    manifest = Manifest(
        config=config_desc,
        layers=tuple(
            Descriptor(mt.oci_layer_type(blob.compression), blob.digest, blob.size)
            for blob in layers
        ),
        media_type=mt.OCI_MANIFEST,
        annotations={mt.ANNOTATION_CREATED: created, **annotations},
    )
    # Built, not parsed back with the checking decoder: both documents are ours, and msgspec
    # was ~15 ms of a static pack's start-up (issue 17). The config as its bytes read back (a
    # copy in JSON's own types, whatever the caller does with its dict afterwards).
    staged = StagedBlobs(blob_dir)
    return Image(
        manifest,
        manifest.to_bytes(),
        ImageConfig.of(json.loads(config_bytes)),
        config_bytes,
        tuple(
            Layer(d, blob.diff_id, staged) for d, blob in zip(manifest.layers, layers, strict=True)
        ),
    )


def deliver(
    options: PackOptions, image: Image, scratch: Path
) -> tuple[WriteResult, ProbeResult | None]:
    """Write the finished ``image`` to the destination, after ``--check``'s probe (as the
    run user) passed in it: every kind of pack ends here, so none writes an image whose probe
    failed (``ProbeFailed``: nothing is written)."""
    probed = None
    if options.check is not None:
        from scratchpack.operations.probe import check_or_refuse

        spec = options.check
        if spec.user is None:
            spec = dataclasses.replace(spec, user=f"{options.user.uid}:{options.user.gid}")
        probed = check_or_refuse(image, spec, scratch, f"{options.destination} was not written")
    written = write_image(
        options.destination, image, force=options.force, registry_options=options.registry
    )
    return written, probed


def result_of(
    written: WriteResult,
    image: Image,
    layers: tuple[LayerSummary, ...],
    probed: ProbeResult | None,
    *,
    platform: str,
    compression: str,
    binary: str,
    binary_size: int,
    linkage: str,
    essentials: EssentialsReport,
    base: str | None = None,
    libraries: LibraryReport | None = None,
    inputs: tuple[Input, ...] = (),
    app: dict[str, Any] | None = None,
) -> PackResult:
    """The result of a ``deliver``: where and as what the image was written, from one place
    for every kind, so that none reports its digests or sizes differently. The uncompressed
    size is the layers' (``pack --base`` counts its base as one)."""
    return PackResult(
        destination=written.destination,
        digest=written.manifest_digest,
        config_digest=image.config_digest,
        platform=platform,
        compression=compression,
        binary=binary,
        binary_size=binary_size,
        linkage=linkage,
        layers=layers,
        stored_size=image.total_size(),
        uncompressed_size=sum(layer.uncompressed_size for layer in layers),
        essentials=essentials,
        daemon_message=written.detail,
        base=base,
        libraries=libraries,
        inputs=inputs,
        app=app,
        check=probed,
    )
