"""``pack`` of an ELF program into an image ``FROM scratch``: a static binary plus its
essentials, or a dynamic one with its loader and libraries (``libraries.py``).

Two layers, three for a dynamic binary: the essentials first, the libraries next, the
application last. The essentials layer depends only on the essentials' content and the run
user, so rebuilding with a new binary reuses it byte for byte and registries and engines keep
it cached.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack import progress
from scratchpack.debian.installed import DpkgDatabase, owned_files
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import scratch_directory
from scratchpack.layers.compress import CompressedBlob
from scratchpack.layers.tarwriter import LayerContents, normalize_path, source_date_epoch
from scratchpack.model.descriptor import Platform
from scratchpack.model.digest import Digest
from scratchpack.operations.elf import read_elf
from scratchpack.operations.essentials import (
    CA_PATH,
    NSSWITCH,
    EssentialsReport,
    add_essentials,
)
from scratchpack.operations.pack.core import (
    DEFAULT_PATH_ENV,
    HOST_HINTS,
    BackgroundLayer,
    PackOptions,
    PackResult,
    add_path,
    assemble_image,
    check_overlap,
    compression_for,
    deliver,
    layer_summaries,
    platform_for,
    record_host_packages,
    result_of,
    rfc3339,
    staging_near,
    write_layer_blob,
)
from scratchpack.transports.preflight import check_destination

if TYPE_CHECKING:  # the libraries, provenance and registry modules only when they are used
    from scratchpack.operations.pack.libraries import LibraryReport
    from scratchpack.operations.provenance import Input
    from scratchpack.transports.names import ImageName
    from scratchpack.transports.registry.transport import RegistryOptions


def pack_binary(options: PackOptions) -> PackResult:
    """Pack ``options.binary`` (static, or dynamic with its libraries) into scratch."""
    check_destination(options.destination, force=options.force)
    binary = options.binary
    if not binary.exists():
        raise UsageError(f"{binary}: no such file")
    info = read_elf(binary)
    with_libraries = info.is_dynamic and not options.allow_dynamic
    if (options.locales or options.gconv != "auto") and not with_libraries:
        raise UsageError("--locale and --gconv go with a dynamic binary (glibc's data files)")
    if options.from_image is not None:
        if options.root != Path("/"):
            raise UsageError("--from and --root exclude each other: the libraries come from one")
        if options.allow_dynamic:
            raise UsageError("--from and --allow-dynamic exclude each other: --from brings the "
                             "libraries --allow-dynamic leaves out")  # fmt: skip
        if not with_libraries:
            raise UsageError(
                f"--from {options.from_image}: {binary} is {info.linkage}, and only a dynamic "
                "binary takes its loader and libraries from an image"
            )
    if options.locales and not any(e.startswith("LANG=") for e in options.env):
        options = dataclasses.replace(options, env=[*options.env, f"LANG={options.locales[0]}"])
    platform = platform_for(info, options.platform)
    compression = compression_for(options)
    epoch = source_date_epoch()
    created = rfc3339(epoch)
    with (
        scratch_directory(staging_near(options.destination)) as scratch,
        contextlib.ExitStack() as stack,  # exits first: the app layer's thread stopped
    ):
        if options.strip:
            binary = _strip(binary, scratch)
        binary_size = binary.stat().st_size
        binary_dest = options.binary_dest or f"/usr/local/bin/{options.binary.name}"
        workdir = options.workdir or ("/" if options.user.is_root else options.user.home)

        essentials = LayerContents()
        app = LayerContents()
        app.add_file(binary_dest, source=binary, mode=0o555, origin="the binary")
        for spec in options.adds:
            add_path(app, spec, essentials)
        blob_dir = scratch / "blobs"
        blob_dir.mkdir()
        # The app layer compresses on other cores while the rest below runs (issue 17). If a
        # package owns one of its files, the records will add to it: written after them.
        app_blob = stack.enter_context(
            BackgroundLayer(app, blob_dir, compression, options.level, "app.tmp")
        )
        db = DpkgDatabase(options.dpkg_root)
        if owned_files(app, db, HOST_HINTS).packages:
            app_blob.cancel()
        report = add_essentials(
            essentials,
            options.user,
            workdir,
            certs=options.certs,
            ca_bundle=options.ca_bundle,
            tz=options.tz,
            zoneinfo=options.zoneinfo,
        )
        libraries: LibraryReport | None = None
        contents = [("essentials", essentials)]
        root = options.root
        inputs: list[Input] = []
        if options.from_image is not None:
            from scratchpack.operations.provenance import image_input

            root, from_digest = unpack_root(options.from_image, platform, options.registry, scratch)
            inputs.append(image_input(str(options.from_image), from_digest))
        if with_libraries:
            from scratchpack.operations.pack.libraries import library_layer

            libs, libraries = library_layer(
                root, binary, binary_dest, NSSWITCH, options.add_libs,
                options.gconv, tuple(options.locales),
                root_name=None if options.from_image is None else str(options.from_image),
            )  # fmt: skip
            check_overlap(libs, essentials, "a library")
            contents.append(("libraries", libs))
        report.packages = record_host_packages(
            essentials,
            app,
            db,
            libs if with_libraries else None,
            DpkgDatabase(root),
        )
        for path in app.paths():
            found = essentials.get(path)
            if found is not None and found.kind != "dir":
                raise UsageError(
                    f"/{path} is an essential file; use --no-certs/--tz none to drop it"
                )

        if options.record_inputs:
            from scratchpack.operations.provenance import file_input, host_package, layer_inputs

            inputs.insert(0, file_input(options.binary, binary_dest))
            inputs += layer_inputs(app, skip=normalize_path(binary_dest))
            if with_libraries:
                inputs += layer_inputs(libs, host_files=options.from_image is None)
            if report.ca_bundle:
                inputs.append(file_input(Path(report.ca_bundle), "/" + CA_PATH))
            inputs += [host_package(n, v) for n, v in report.packages.items()]
        contents.append(("app", app))
        layers = []
        for n, (name, layer) in enumerate(contents, start=1):
            what = f"writing layer {n}/{len(contents)} "
            if name == "app":
                layers.append(app_blob.finish(layer, what + f"({options.binary.name})"))
                continue
            what += f"({name})"
            layers.append(write_layer_blob(layer, blob_dir, compression, options.level, what))
        config = _config(options, platform, created, layers, binary_dest, workdir, report)
        image = assemble_image(config, layers, blob_dir, created, options.annotations)
        written, probed = deliver(options, image, scratch)
    return result_of(
        written,
        image,
        layer_summaries(contents, layers),
        probed,
        platform=str(platform),
        compression=compression,
        binary=str(options.binary),
        binary_size=binary_size,
        linkage=info.linkage,
        essentials=report,
        libraries=libraries,
        inputs=tuple(inputs),
    )


def unpack_root(
    name: ImageName, platform: Platform, registry: RegistryOptions | None, scratch: Path
) -> tuple[Path, Digest]:
    """``--from IMAGE``: the image for the binary's platform, unpacked safely (see
    ``layers/extract.py``) into ``scratch/root``, which goes when the scratch directory does;
    and the manifest digest it was unpacked from."""
    from scratchpack.layers.extract import extract_image
    from scratchpack.transports.dispatch import open_image

    root = scratch / "root"
    root.mkdir()
    with open_image(name, platform, registry) as image:
        total = sum(layer.descriptor.size for layer in image.layers)
        with progress.step(f"unpacking {name}", total) as task:
            extract_image(image, root, where=f"--from {name}", count=task.advance)
        return root, image.manifest_digest


def _strip(binary: Path, scratch: Path) -> Path:
    import shutil
    import subprocess

    tool = shutil.which("strip")
    if tool is None:
        raise ScratchpackError("--strip needs the strip tool: apt-get install binutils")
    out = scratch / binary.name
    proc = subprocess.run(
        [tool, "--strip-all", "-o", str(out), str(binary)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ScratchpackError(f"strip failed on {binary}: {proc.stderr.strip()}")
    return out


def _config(
    options: PackOptions,
    platform: Platform,
    created: str,
    layers: list[CompressedBlob],
    binary_dest: str,
    workdir: str,
    report: EssentialsReport,
) -> dict[str, Any]:
    container: dict[str, Any] = {"User": options.user.spec}
    for item in options.expose:
        container.setdefault("ExposedPorts", {})[item] = {}
    env = [DEFAULT_PATH_ENV] + [e for e in options.env if not e.startswith("PATH=")]
    if any(e.startswith("PATH=") for e in options.env):
        env = options.env
    container["Env"] = env
    container["Entrypoint"] = (
        options.entrypoint if options.entrypoint is not None else [binary_dest]
    )
    if options.cmd:
        container["Cmd"] = options.cmd
    container["WorkingDir"] = "/" + normalize_path(workdir)
    if options.labels:
        container["Labels"] = dict(sorted(options.labels.items()))
    essentials_desc = ["passwd", "group", "nsswitch.conf", "/tmp"]
    if report.ca_bundle:
        essentials_desc.insert(0, "ca-certificates")
    if report.zones:
        essentials_desc.insert(1 if report.ca_bundle else 0, f"zoneinfo ({report.zones} zones)")
    config: dict[str, Any] = {
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
    }
    if platform.variant:
        config["variant"] = platform.variant
    config["config"] = container
    config["rootfs"] = {"type": "layers", "diff_ids": [str(blob.diff_id) for blob in layers]}
    config["history"] = [
        {
            "created": created,
            "created_by": "scratchpack pack: essentials (" + ", ".join(essentials_desc) + ")",
        },
        {
            "created": created,
            "created_by": f"scratchpack pack: {options.binary.name} -> {binary_dest}"
            + (f" + {len(options.adds)} added path(s)" if options.adds else ""),
        },
    ]
    return config
