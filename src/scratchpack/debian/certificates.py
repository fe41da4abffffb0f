"""The CA bundle ``update-ca-certificates`` would write, built without running it.

The ``ca-certificates`` package ships one PEM file per authority under
``/usr/share/ca-certificates``; its maintainer scripts list them all in
``/etc/ca-certificates.conf`` (``find -type f -name '*.crt' | sort``, every one enabled) and
``update-ca-certificates`` concatenates them in that order into
``/etc/ssl/certs/ca-certificates.crt``, adding a final newline where one is missing. Since no
maintainer script runs in an image build, this module does the same from the layer's entries,
so TLS clients find the bundle at the path OpenSSL, Go and curl look first.

The order is byte order (``sort`` in the C locale), which is what a package installed by
``debootstrap`` or in a ``docker build`` gets; a host whose locale collates differently would
order its own bundle differently, but the set of certificates is the same.
"""

from __future__ import annotations

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.layers.tarwriter import Entry, LayerContents

CERTS_DIR = "usr/share/ca-certificates"
BUNDLE_PATH = "etc/ssl/certs/ca-certificates.crt"


def ca_bundle(layer: LayerContents) -> bytes:
    """Every ``.crt`` the layer holds under ``usr/share/ca-certificates``, concatenated.

    Only regular files (and hardlinks to them) count: the maintainer script lists them with
    ``find -type f``, which skips symlinks.
    """
    found: list[tuple[bytes, Entry]] = []
    for path in layer.paths():
        if not (path.startswith(CERTS_DIR + "/") and path.endswith(".crt")):
            continue
        entry = layer.get(path)
        if entry is None:
            continue
        if entry.kind == "hardlink":
            entry = layer.get(entry.linkname)
        if entry is None or entry.kind != "file":
            continue
        relative = path[len(CERTS_DIR) + 1 :]
        found.append((relative.encode("utf-8", "surrogateescape"), entry))
    found.sort(key=lambda item: item[0])
    parts: list[bytes] = []
    for _, entry in found:
        pem = _entry_bytes(entry)
        # update-ca-certificates: sed -e '$a\' adds a missing final newline (#635570).
        if pem and not pem.endswith(b"\n"):
            pem += b"\n"
        parts.append(pem)
    return b"".join(parts)


def _entry_bytes(entry: Entry) -> bytes:
    if entry.data is not None:
        return entry.data
    assert entry.source is not None
    try:
        return entry.source.read_bytes()
    except OSError as exc:
        raise ScratchpackError(f"cannot read {entry.source}: {exc.strerror or exc}") from exc


def add_ca_bundle(layer: LayerContents) -> Entry:
    """Write the bundle at ``etc/ssl/certs/ca-certificates.crt`` (read-only, root's)."""
    bundle = ca_bundle(layer)
    if not bundle:
        raise UsageError(
            f"no CA certificates under /{CERTS_DIR} to build /{BUNDLE_PATH} from:"
            " install the ca-certificates package"
        )
    if BUNDLE_PATH in layer:
        raise UsageError(f"/{BUNDLE_PATH} is already in the layer; build the bundle only once")
    return layer.add_file(BUNDLE_PATH, data=bundle, mode=0o444, origin="ca-certificates")
