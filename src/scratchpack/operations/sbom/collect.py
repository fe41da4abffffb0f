"""The packages of an image, from the scan of its layers.

The packages come out of the same single pass over the layers as the audit
(``operations/contents/scan.py`` captures package databases and reads Go build info as the
layers stream by); only what the final file system still holds is listed.
"""

from __future__ import annotations

import posixpath
from contextlib import ExitStack

from scratchpack.model.image import Image
from scratchpack.operations.contents.scan import Scan, fetch_file, scan_image
from scratchpack.operations.sbom.packages import (
    Package,
    apk_packages,
    dpkg_packages,
    go_packages,
    npm_package,
    python_package,
    rust_packages,
)


def packages_of(image: Image, scan: Scan, stack: ExitStack) -> list[Package]:
    """Every package the final file system holds, sorted, duplicates (same purl and path)
    removed."""
    os_release = scan.config_file("etc/os-release") or scan.config_file("usr/lib/os-release")
    found: list[Package] = []
    for (path, layer), data in sorted(scan.package_files.items()):
        if not scan.present(path, layer):
            continue
        if path == "var/lib/dpkg/status" or path.startswith("var/lib/dpkg/status.d/"):
            found += dpkg_packages(data, path, os_release)
        elif path == "lib/apk/db/installed":
            found += apk_packages(data, path, os_release)
        elif posixpath.basename(path) in ("METADATA", "PKG-INFO"):
            found += python_package(data, path)
        else:
            found += npm_package(data, path)
    for (path, layer), (version, modinfo) in sorted(scan.go_binaries.items()):
        if scan.present(path, layer):
            found += go_packages(version, modinfo, path)
    for path, layer in sorted(scan.rust_candidates):
        if not scan.present(path, layer):
            continue
        if (path, layer) not in scan.spooled:
            fetch_file(image, scan, path, stack, whole=True)
        binary = scan.spooled.get((path, layer))
        if binary is not None:
            binary.seek(0)
            found += rust_packages(binary, path)
    return sorted(set(found))


def image_packages(image: Image, name: str = "") -> list[Package]:
    with ExitStack() as stack:
        scan = scan_image(image, frozenset(), stack, secrets=False, name=name)  # not in an SBOM
        return packages_of(image, scan, stack)
