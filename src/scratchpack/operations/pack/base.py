"""``pack --base REF``: the binary onto an existing image instead of ``FROM scratch``.

The base is any image any transport reads (a ``scratchpack build`` preset, distroless, a
registry image). Its layers are kept byte for byte (same digests, so registries and engines
reuse them) and one layer with the binary (and ``--add`` files) goes on top. Before anything
is written the base's file system is read once: a dynamically linked binary must find its
loader and every library it needs there, or pack refuses and names what is missing. That is
the pre-flight check that makes a dynamic binary on ``build --preset cc`` safe, and one on
``static`` a clear error instead of "no such file or directory" at run time.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from scratchpack.debian.installed import (
    DPKG_STATUS,
    OS_RELEASE,
    STATUS_D,
    DpkgDatabase,
    owned_files,
    write_records,
)
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import scratch_directory
from scratchpack.layers.tarwriter import LayerContents, normalize_path, source_date_epoch
from scratchpack.model import mediatypes as mt
from scratchpack.model.config import ImageConfig
from scratchpack.model.descriptor import Descriptor, Platform
from scratchpack.model.digest import Digest
from scratchpack.model.image import Image, Layer
from scratchpack.model.manifest import Manifest, canonical_json
from scratchpack.operations.audit.startup import check_binary
from scratchpack.operations.contents.scan import Scan, scan_image
from scratchpack.operations.elf import read_elf
from scratchpack.operations.essentials import EssentialsReport
from scratchpack.operations.pack.core import (
    LayerSummary,
    PackOptions,
    PackResult,
    StagedBlobs,
    add_path,
    compression_for,
    deliver,
    platform_for,
    result_of,
    rfc3339,
    staging_near,
    write_layer_blob,
)
from scratchpack.operations.provenance import (
    Input,
    file_input,
    host_package,
    image_input,
    layer_inputs,
)
from scratchpack.operations.sbom.packages import dpkg_packages
from scratchpack.transports.dispatch import open_image
from scratchpack.transports.names import ImageName
from scratchpack.transports.preflight import check_destination


def pack_on_base(options: PackOptions, base: ImageName) -> PackResult:
    check_destination(options.destination, force=options.force)
    binary = options.binary
    if not binary.exists():
        raise UsageError(f"{binary}: no such file")
    info = read_elf(binary)
    platform = platform_for(info, options.platform)
    compression = compression_for(options)
    created = rfc3339(source_date_epoch())
    binary_dest = options.binary_dest or f"/usr/local/bin/{binary.name}"
    with ExitStack() as stack:
        image = stack.enter_context(open_image(base, Platform("linux", platform.architecture),
                                               options.registry))  # fmt: skip
        if image.config.platform.architecture != platform.architecture:
            raise UsageError(f"{base} is for {image.config.platform}, the binary for {platform}")
        _check_layers(image, str(base))
        scan = scan_image(image, frozenset(), stack, secrets=False, name=str(base))
        if scan.hostile:
            first = scan.hostile[0]
            raise ScratchpackError(
                f"{base} holds {scan.hostile_count} hostile tar member(s) (layer "
                f"{first.layer + 1}: {first.what}: {first.name}): pack will not build on it; "
                f"`scratchpack audit {base}` lists them"
            )
        if info.is_dynamic:
            env = image.config.env
            with binary.open("rb") as handle:
                needs = check_binary(scan, handle, binary_dest, env)
            if needs.missing:
                raise ScratchpackError(
                    f"{binary} is dynamically linked and {base} lacks "
                    f"{', '.join(needs.missing)}: it would not start there. Use a base that has "
                    "them (scratchpack build --preset cc has the C and C++ runtimes) or build "
                    "statically"
                )
        app = LayerContents()
        app.add_file(binary_dest, source=binary, mode=0o555, origin="the binary")
        for spec in options.adds:
            add_path(app, spec, LayerContents())
        packages = _record_host_packages(app, scan, DpkgDatabase(options.dpkg_root))
        inputs: list[Input] = []
        if options.record_inputs:  # the base by the manifest digest its layers came from
            inputs = [
                image_input(str(base), image.manifest_digest),
                file_input(binary, binary_dest),
                *layer_inputs(app, skip=normalize_path(binary_dest)),
                *(host_package(n, v) for n, v in packages.items()),
            ]
        scratch = stack.enter_context(scratch_directory(staging_near(options.destination)))
        blob_dir = scratch / "blobs"
        blob_dir.mkdir()
        blob = write_layer_blob(app, blob_dir, compression, options.level,
                                f"writing the layer of {binary.name}")  # fmt: skip
        config = _config(options, image.config, created, str(blob.diff_id), binary_dest, str(base))
        config_bytes = canonical_json(config)
        base_layers = tuple(
            Layer(
                Descriptor(mt.oci_layer_type(layer.compression), layer.descriptor.digest,
                           layer.descriptor.size),
                layer.diff_id,
                layer.source,
            )
            for layer in image.layers
        )  # fmt: skip
        new = Descriptor(mt.oci_layer_type(blob.compression), blob.digest, blob.size)
        manifest = Manifest(
            config=Descriptor(mt.OCI_CONFIG, Digest.of(config_bytes), len(config_bytes)),
            layers=(*(layer.descriptor for layer in base_layers), new),
            media_type=mt.OCI_MANIFEST,
            annotations={mt.ANNOTATION_CREATED: created, **options.annotations},
        )
        manifest_bytes = manifest.to_bytes()
        result = Image(
            manifest,
            manifest_bytes,
            ImageConfig.parse(config_bytes),
            config_bytes,
            (*base_layers, Layer(new, blob.diff_id, StagedBlobs(blob_dir))),
        )
        written, probed = deliver(options, result, scratch)
        base_stored = sum(layer.descriptor.size for layer in image.layers)
        base_raw = sum(scan.uncompressed_sizes)
    summaries = (
        LayerSummary(f"base {base}", "", "", base_stored, base_raw, scan.filesystem.file_count),
        LayerSummary("app", str(blob.digest), str(blob.diff_id), blob.size,
                     blob.uncompressed_size, len(app.entries())),
    )  # fmt: skip
    return result_of(
        written,
        result,
        summaries,
        probed,
        platform=str(platform),
        compression=compression,
        binary=str(binary),
        binary_size=binary.stat().st_size,
        linkage=info.linkage,
        essentials=EssentialsReport(packages=packages),
        base=str(base),
        inputs=tuple(inputs),
    )


def _record_host_packages(app: LayerContents, scan: Scan, db: DpkgDatabase) -> dict[str, str]:
    """``status.d`` records, in the app layer, of the host packages the binary and ``--add``
    files come from, as ``pack`` into scratch writes them: except a package the base records
    already (its record speaks for the base's files, which stay), and with the host's
    ``os-release`` only when the base has none. Name -> version of every package recorded."""
    recorded = owned_files(app, db)
    in_base = _recorded_by(scan)
    for name in list(recorded.packages):
        if name in in_base or scan.filesystem.exists(f"{STATUS_D}/{name}"):
            del recorded.packages[name]
    has_release = any(scan.filesystem.exists(p) for p in (OS_RELEASE, "usr/lib/os-release"))
    write_records(app, recorded, os_release=None if has_release else db.os_release())
    return {name: p.version for name, p in sorted(recorded.packages.items())}


def _recorded_by(scan: Scan) -> set[str]:
    """The packages the base's dpkg records say are installed, read as ``sbom`` reads them:
    distroless' ``status.d`` paragraphs and a full system's ``/var/lib/dpkg/status`` (a
    Debian or Ubuntu base has only the latter), as the final file system holds them. Both,
    since a package recorded in either and again in the new layer would be listed twice."""
    names: set[str] = set()
    for (path, layer), data in scan.package_files.items():
        dpkg = path == DPKG_STATUS or path.startswith(f"{STATUS_D}/")
        if dpkg and scan.present(path, layer):
            names.update(package.name for package in dpkg_packages(data, path, None))
    return names


def _check_layers(image: Image, base: str) -> None:
    """Only layers pack can read and keep byte for byte: tar, tar+gzip, tar+zstd, in the
    image (a foreign layer's bytes live elsewhere, at its ``urls``)."""
    for n, layer in enumerate(image.layers, 1):
        descriptor = layer.descriptor
        if descriptor.urls or "foreign" in descriptor.media_type:
            raise UsageError(
                f"{base}: layer {n} is a foreign layer ({descriptor.media_type}, fetched from "
                f"{', '.join(descriptor.urls) or 'elsewhere'}): pack --base keeps only layers "
                "the image itself holds"
            )
        if layer.compression not in mt.COMPRESSIONS:
            raise UsageError(
                f"{base}: layer {n} has media type {descriptor.media_type!r}: pack --base "
                "reads tar, tar+gzip and tar+zstd layers"
            )


def _config(
    options: PackOptions, base: ImageConfig, created: str, diff_id: str, binary_dest: str,
    base_name: str,
) -> dict[str, Any]:  # fmt: skip
    """The base's config with pack's settings on top (entrypoint, user, env, labels...)."""
    raw = dict(base.raw)
    container = dict(base.container_config)
    container["Entrypoint"] = (
        options.entrypoint if options.entrypoint is not None else [binary_dest]
    )
    if options.cmd:
        container["Cmd"] = options.cmd
    else:
        container.pop("Cmd", None)  # the base's command was for its own entrypoint
    container["User"] = options.user.spec
    if options.workdir:
        container["WorkingDir"] = options.workdir
    env = {e.split("=", 1)[0]: e for e in base.env}
    env.update({e.split("=", 1)[0]: e for e in options.env})
    container["Env"] = list(env.values())
    if options.labels:
        container["Labels"] = dict(sorted({**base.labels, **options.labels}.items()))
    if options.expose:  # the base's may be null: decoding reads null as empty
        ports: dict[str, dict[str, Any]] = {p: {} for p in [*base.exposed_ports, *options.expose]}
        container["ExposedPorts"] = ports
    raw["config"] = container
    raw["created"] = created
    raw["rootfs"] = {"type": "layers", "diff_ids": [*map(str, base.diff_ids), diff_id]}
    raw["history"] = [
        *(base.raw.get("history") or []),
        {"created": created,
         "created_by": f"scratchpack pack: {options.binary.name} -> {binary_dest} on {base_name}"},
    ]  # fmt: skip
    return raw
