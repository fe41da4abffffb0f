"""What packages an image holds, read from the files package managers and compilers leave.

Sources: dpkg (``/var/lib/dpkg/status``, and distroless' one-file-per-package
``/var/lib/dpkg/status.d/``, parsed with python-debian), apk (``/lib/apk/db/installed``),
Python (``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO``), npm
(``node_modules/**/package.json``), Go binaries (the build info the linker embeds), and Rust
binaries built with cargo-auditable (the ``.dep-v0`` section). Each package gets a purl
(packageurl-python) so scanners can match it against vulnerability databases.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from packageurl import PackageURL

from scratchpack.debian.control import paragraphs

GO_MAGIC = b"\xff Go buildinf:"
_GO_SENTINEL = 16  # modinfo is wrapped in 16-byte markers


@dataclass(frozen=True, order=True)
class Package:
    type: str  # deb, apk, pypi, npm, golang, cargo
    name: str
    version: str
    path: str  # where it was found, image-absolute
    purl: str
    license: str = ""
    arch: str = ""
    supplier: str = ""  # who distributes it: dpkg's Maintainer ("Name <email>")
    # dpkg's source package and its version when they differ from the binary's (``Source:
    # glibc``, ``Source: gcc-12 (12.2.0-14)``): Debian's advisories name source packages
    source: str = ""
    source_version: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "type": self.type,
            "name": self.name,
            "version": self.version,
            "purl": self.purl,
            "path": self.path,
            "license": self.license,
            "arch": self.arch,
            "supplier": self.supplier,
            "source": self.source,
            "source_version": self.source_version,
        }


def is_package_file(path: str) -> bool:
    """The files whose content the package readers need (captured during the scan)."""
    if path in ("var/lib/dpkg/status", "lib/apk/db/installed"):
        return True
    if path.startswith("var/lib/dpkg/status.d/"):
        return not path.endswith(".md5sums")
    directory, name = posixpath.split(path)
    if name == "METADATA" and directory.endswith(".dist-info"):
        return True
    if name == "PKG-INFO" and directory.endswith(".egg-info"):
        return True
    return name == "package.json" and "node_modules/" in path and _npm_package_dir(directory)


# How much of each package file is read. A database (dpkg's status, apk's installed) of a
# large distribution is a few MB; a package's own METADATA is read for its headers only (the
# description follows them), a package.json is rarely 100 KB. An image's file can be any size:
# 64 MiB of METADATA headers took the email parser 1.4 GB, a 64 MiB package.json 330 MB.
PACKAGE_DB_LIMIT = 32 << 20
_OWN_FILE_LIMIT = {"METADATA": 1 << 20, "PKG-INFO": 1 << 20, "package.json": 4 << 20}
# A name or version longer than this is no package's (Debian's longest versions are ~100
# characters, npm names are at most 214): such an entry is skipped, not copied into the SBOM.
MAX_FIELD = 512
_MAX_LINE = 64 << 10  # a database line longer than this holds no field read here


def package_file_limit(path: str) -> int:
    """How many bytes of the package file at ``path`` are read (see PACKAGE_DB_LIMIT)."""
    return _OWN_FILE_LIMIT.get(posixpath.basename(path), PACKAGE_DB_LIMIT)


def _plausible(name: str, version: str) -> bool:
    return bool(name) and len(name) <= MAX_FIELD and len(version) <= MAX_FIELD


def _npm_package_dir(directory: str) -> bool:
    """``.../node_modules/NAME`` or ``.../node_modules/@scope/NAME``: a package's own
    package.json, not one of the stubs some packages keep in subdirectories."""
    parent, _ = posixpath.split(directory)
    if posixpath.basename(parent) == "node_modules":
        return True
    grand, scope = posixpath.split(parent)
    return scope.startswith("@") and posixpath.basename(grand) == "node_modules"


def _purl(kind: str, name: str, version: str, namespace: str | None = None,
          qualifiers: dict[str, str] | None = None) -> str:  # fmt: skip
    """The package URL, or "" when packageurl refuses the image's strings for one (an empty
    name after normalising, say): the package is still listed, without a purl."""
    try:
        return str(
            PackageURL(type=kind, namespace=namespace, name=name, version=version or None,
                       qualifiers=qualifiers or None).to_string()
        )  # fmt: skip
    except ValueError:
        return ""


def distro(os_release: bytes | None) -> tuple[str, str]:
    """(ID, VERSION_ID) from os-release, for deb/apk purl namespaces and qualifiers."""
    values: dict[str, str] = {}
    for line in (os_release or b"").decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return values.get("ID", ""), values.get("VERSION_ID", "")


def dpkg_packages(data: bytes, path: str, os_release: bytes | None) -> list[Package]:
    """The packages dpkg's ``status`` lists as installed. Read with
    :func:`scratchpack.debian.control.paragraphs`, which gives python-debian's values for the
    same text (``tests/test_debian_control.py``): importing ``debian.deb822`` for it cost
    ``audit`` of a Debian image 0.05-0.07 s of CPU, and its parse of 95 packages 0.03 s more
    (docs/benchmarks.md, "## audit", 2026-12-03 12:00)."""
    distro_id, version_id = distro(os_release)
    namespace = distro_id or "debian"
    found = []
    # Lines one at a time (a list of them took 3.3 GB for 64 MiB of one-character lines), and
    # none of the continuation lines: the fields read here are single-line ones
    lines = (
        line.decode("utf-8", "replace").rstrip("\r\n")
        for line in io.BytesIO(data)
        if len(line) <= _MAX_LINE and not (line[:1] in (b" ", b"\t") and line.strip())
    )
    for para in paragraphs(lines):
        name, version = para.get("package", ""), para.get("version", "")
        status = para.get("status", "install ok installed")
        if not _plausible(name, version) or not status.endswith(" installed"):
            continue
        arch = para.get("architecture", "")
        qualifiers = {"arch": arch} if arch else {}
        source, source_version = dpkg_source(para.get("source", ""))
        source = "" if source == name else source
        if source or source_version:
            # syft's qualifier: scanners map the binary to the source advisories name
            upstream = source or name
            qualifiers["upstream"] = f"{upstream}@{source_version}" if source_version else upstream
        if distro_id and version_id:
            qualifiers["distro"] = f"{distro_id}-{version_id}"
        found.append(
            Package("deb", name, version, "/" + path,
                    _purl("deb", name, version, namespace, qualifiers), arch=arch,
                    supplier=" ".join(para.get("maintainer", "").split()),
                    source=source, source_version=source_version)
        )  # fmt: skip
    return found


def dpkg_source(field: str) -> tuple[str, str]:
    """dpkg's ``Source:`` field, ``NAME`` or ``NAME (VERSION)`` (the latter when the binary's
    version differs, as after a binNMU) -> (name, version); ('', '') when absent."""
    name, _, rest = field.strip().partition(" ")
    version = rest.strip()
    if version.startswith("(") and version.endswith(")"):
        return name, version[1:-1].strip()
    return name, ""


def apk_packages(data: bytes, path: str, os_release: bytes | None) -> list[Package]:
    """apk's installed database: ``P:name``, ``V:version``, ``A:arch``, ``L:license`` lines,
    a blank line between packages. No library reads it; the format is this simple."""
    distro_id, version_id = distro(os_release)
    found = []
    for fields in _apk_blocks(data):
        name, version = fields.get("P", ""), fields.get("V", "")
        if not _plausible(name, version):
            continue
        qualifiers = {"arch": fields["A"]} if fields.get("A") else {}
        if distro_id and version_id:
            qualifiers["distro"] = f"{distro_id}-{version_id}"
        found.append(
            Package("apk", name, version, "/" + path,
                    _purl("apk", name, version, distro_id or "alpine", qualifiers),
                    license=fields.get("L", ""), arch=fields.get("A", ""))
        )  # fmt: skip
    return found


def _apk_blocks(data: bytes) -> Iterator[dict[str, str]]:
    """Each package's ``X:value`` lines, read one line at a time (splitting the whole text
    made copies of it: 350 MB for one 64 MiB line)."""
    fields: dict[str, str] = {}
    for raw in io.BytesIO(data):
        line = raw.rstrip(b"\r\n")
        if not line:
            if fields:
                yield fields
            fields = {}
            continue
        if len(line) > _MAX_LINE or line[1:2] != b":":
            continue
        key = chr(line[0])
        if key not in fields:
            fields[key] = line[2:].decode("utf-8", "replace")
    if fields:
        yield fields


def python_package(data: bytes, path: str) -> list[Package]:
    from email.parser import BytesHeaderParser  # (slow to import; only Python images need it)

    headers = BytesHeaderParser().parsebytes(data.split(b"\n\n", 1)[0])
    name, version = str(headers.get("Name", "")), str(headers.get("Version", ""))
    if not _plausible(name, version):
        return []
    normalised = re.sub(r"[-_.]+", "-", name).lower()
    license_ = str(headers.get("License-Expression") or headers.get("License") or "")
    supplier = next(
        (" ".join(str(headers[key]).split()) for key in ("Maintainer-email", "Author-email",
         "Maintainer", "Author") if headers.get(key)), "")  # fmt: skip
    return [Package("pypi", normalised, version, "/" + path, _purl("pypi", normalised, version),
                    license=license_ if len(license_) < 100 else "",
                    supplier=supplier.split(",")[0] if len(supplier) < 200 else "")]  # fmt: skip


def npm_package(data: bytes, path: str) -> list[Package]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # a hostile image's package.json
        return []
    if not isinstance(doc, dict):
        return []
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not _plausible(name, version):
        return []
    namespace, _, bare = name.rpartition("/")
    if not bare:
        return []  # "@scope/" or "x/": not a name npm would install
    license_ = doc.get("license") if isinstance(doc.get("license"), str) else ""
    purl = _purl("npm", bare, version, namespace or None)
    return [Package("npm", name, version, "/" + path, purl, license=str(license_),
                    supplier=_npm_person(doc.get("author")))]  # fmt: skip


def _npm_person(value: object) -> str:
    """package.json's ``author``: ``"Name <email> (url)"`` or ``{"name", "email"}``."""
    if isinstance(value, dict):
        name, email = value.get("name"), value.get("email")
        name = name if isinstance(name, str) else ""
        return f"{name} <{email}>" if isinstance(email, str) and email else name
    if isinstance(value, str) and len(value) < 200:
        return " ".join(value.partition("(")[0].split())
    return ""


# -- Go build info ---------------------------------------------------------------------------


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


def go_build_info(blob: bytes) -> tuple[str, str] | None:
    """(Go version, modinfo) from the bytes at the build info magic: the 32-byte header, then
    (Go 1.18+, inline flag) two varint-prefixed strings. Older pointer-based build info is not
    read (it needs the binary's address map); None then."""
    if not blob.startswith(GO_MAGIC) or len(blob) < 32:
        return None
    if not blob[15] & 0x2:
        return None
    try:
        length, at = _uvarint(blob, 32)
        version = blob[at : at + length].decode("utf-8", "replace")
        length, at = _uvarint(blob, at + length)
        modinfo = blob[at : at + length]
    except ValueError:
        return None
    if len(modinfo) >= 2 * _GO_SENTINEL:
        modinfo = modinfo[_GO_SENTINEL:-_GO_SENTINEL]
    return version, modinfo.decode("utf-8", "replace")


def go_packages(version: str, modinfo: str, path: str) -> list[Package]:
    """The main module and every dependency (``mod``/``dep`` lines, ``=>`` replacements)."""
    found: list[Package] = [
        Package("golang", "stdlib", version.removeprefix("go"), "/" + path,
                _purl("golang", "stdlib", version.removeprefix("go")))
    ]  # fmt: skip
    lines = modinfo.splitlines()
    for n, line in enumerate(lines):
        fields = line.split("\t")
        if fields[0] not in ("mod", "dep") or len(fields) < 3:
            continue
        module, mod_version = fields[1], fields[2]
        if n + 1 < len(lines) and lines[n + 1].startswith("=>\t"):
            replaced = lines[n + 1].split("\t")
            if len(replaced) >= 3:
                module, mod_version = replaced[1], replaced[2]
        if mod_version == "(devel)":
            mod_version = ""
        namespace, _, name = module.rpartition("/")
        found.append(
            Package("golang", module, mod_version, "/" + path,
                    _purl("golang", name, mod_version, namespace or None))
        )  # fmt: skip
    return found


# -- Rust (cargo-auditable) ------------------------------------------------------------------


_AUDITABLE_LIMIT = 16 << 20  # compressed and uncompressed: a large tree's list is ~100 KB


def rust_packages(binary: IO[bytes], path: str) -> list[Package]:
    """The dependency list cargo-auditable embeds: zlib-compressed JSON in ``.dep-v0``."""
    from elftools.elf.elffile import ELFFile

    from scratchpack.operations.elf import pyelftools_errors

    unreadable: tuple[type[BaseException], ...] = (zlib.error, RecursionError, *pyelftools_errors())
    try:
        section = ELFFile(binary).get_section_by_name(".dep-v0")
        if section is None or section["sh_size"] > _AUDITABLE_LIMIT:
            return []
        inflate = zlib.decompressobj()
        text = inflate.decompress(section.data(), _AUDITABLE_LIMIT)
        if inflate.unconsumed_tail:
            return []  # more than any dependency list: a decompression bomb
        doc = json.loads(text)
    except unreadable:
        return []
    found = []
    for item in doc.get("packages", []) if isinstance(doc, dict) else []:
        name, version = str(item.get("name", "")), str(item.get("version", ""))
        if name:
            found.append(Package("cargo", name, version, "/" + path, _purl("cargo", name, version)))
    return found
