"""sign and verify in cosign's legacy layout, on the real registry and on OCI layouts: what is
stored (checked with skopeo), appending, and every way verification must fail."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import test_signing_keys
from helpers import (
    COSIGN_PASSWORD,
    NO_TLS,
    Examples,
    assert_clean_error,
    cli_ok,
    generate_key_pair,
    push_example,
    raw_manifest,
    run_cli,
    sign_at_once,
)
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Manifest
from scratchpack.model.reference import Reference
from scratchpack.signing import legacy
from scratchpack.signing.payload import MEDIA_TYPE, Payload
from scratchpack.transports.names import RegistryName
from scratchpack.transports.registry.transport import RegistryOptions

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
keytool = test_signing_keys.keytool  # the Go implementation (fixture), built once per module
go = test_signing_keys.go


def _sign(image: str, key: Path, *extra: str) -> dict[str, Any]:
    return dict(json.loads(cli_ok("sign", image, "--key", key, NO_TLS, "--format", "json", *extra)))


def _verify(image: str, pub: Path, *extra: str) -> list[dict[str, Any]]:
    result = run_cli("verify", image, "--key", pub, NO_TLS, *extra)
    assert result.code == 0, result.stderr
    assert "no transparency log was consulted" in result.stderr
    return list(json.loads(result.stdout))


def test_registry_sign_verify_and_append(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path], skopeo: Run
) -> None:
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = push_example(examples, image)
    first = _sign(image, key)
    tag = "sha256-" + digest.removeprefix("sha256:") + ".sig"
    assert first["signature_tag"] == tag and first["signatures"] == 1
    payloads = _verify(image, pub)
    assert payloads == [{
        "critical": {
            "identity": {"docker-reference": f"{registry}/{unique_name}"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }]  # fmt: skip

    second = _sign(image, key, "-a", "release=1.0", "-a", "git=abc")
    assert second["signatures"] == 2
    # skopeo reads what is stored: an OCI manifest, one simple signing layer per signature,
    # the base64 DER signature in cosign's annotation
    stored = raw_manifest(skopeo, f"docker://{registry}/{unique_name}:{tag}")
    assert stored["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["mediaType"] for layer in stored["layers"]] == [MEDIA_TYPE, MEDIA_TYPE]
    for layer in stored["layers"]:
        signature = base64.b64decode(layer["annotations"][legacy.SIGNATURE_ANNOTATION])
        assert signature[0] == 0x30  # an ASN.1 SEQUENCE (r, s)
    assert len(_verify(image, pub)) == 2
    assert len(_verify(f"docker://{registry}/{unique_name}@{digest}", pub)) == 2  # by digest
    annotated = _verify(image, pub, "-a", "release=1.0")
    assert [p["optional"] for p in annotated] == [{"git": "abc", "release": "1.0"}]
    wrong = run_cli("verify", image, "--key", pub, NO_TLS, "-a", "release=2.0")
    assert_clean_error(wrong, 1, "no signature verifies", "lacks the annotations release=2.0")
    # the signature manifest and the image copy on with skopeo, annotations intact
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{registry}/{unique_name}:{tag}",
           f"docker://{registry}/{unique_name}-copy:{tag}")  # fmt: skip
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", image,
           f"docker://{registry}/{unique_name}-copy:v1")  # fmt: skip
    assert raw_manifest(skopeo, f"docker://{registry}/{unique_name}-copy:{tag}") == stored
    copied = f"docker://{registry}/{unique_name}-copy:v1"
    # the copy is another repository: the signed docker-reference no longer matches...
    moved = run_cli("verify", copied, "--key", pub, NO_TLS)
    assert_clean_error(moved, 1, "signed as", f"{registry}/{unique_name}-copy")
    # ...unless the identity it was signed under is what the verifier expects
    assert len(_verify(copied, pub, "--identity", f"{registry}/{unique_name}")) == 2


def test_registry_refusals(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = push_example(examples, image)
    unsigned = run_cli("verify", image, "--key", pub, NO_TLS)
    assert_clean_error(unsigned, 1, "no signatures found", "sha256-")
    _sign(image, key)
    _, other_pub = generate_key_pair(tmp_path)
    other = run_cli("verify", image, "--key", other_pub, NO_TLS)
    assert_clean_error(other, 1, "does not verify with this key")

    # the tag moved to another image: its digest has no signature, the old one proves nothing
    push_example(examples, image, "httpd")
    retagged = run_cli("verify", image, "--key", pub, NO_TLS)
    assert_clean_error(retagged, 1, "no signatures found")
    # ...and the old image's valid signature manifest put under the new digest's tag: the
    # signature verifies but names the other digest
    options = RegistryOptions(tls_verify=False)
    try:
        name = RegistryName(Reference.parse(f"{registry}/{unique_name}:v1"))
        store = legacy.RegistryStore(name, options, pushing=True)
        new_digest = store.image_digest()
        found = store.read(legacy.signature_tag(Digest.parse(digest)))
        assert found is not None
        old_manifest, _ = found
        old_layer = old_manifest.layers[0]
        old_payload = store.blob(old_layer)
        store.write(legacy.signature_tag(new_digest), None, old_manifest.to_bytes(), [])
        replayed = run_cli("verify", image, "--key", pub, NO_TLS)
        assert_clean_error(replayed, 1, f"signed for {digest}")

        # a payload edited to name the new digest, keeping the old signature: the signature
        # no longer matches the bytes
        forged = Payload(f"{registry}/{unique_name}", new_digest).to_bytes()
        assert forged != old_payload
        layer = Descriptor(MEDIA_TYPE, Digest.of(forged), len(forged),
                           annotations=dict(old_layer.annotations))  # fmt: skip
        manifest = Manifest(old_manifest.config, (layer,))
        store.write(legacy.signature_tag(new_digest), None, manifest.to_bytes(), [forged])
        tampered = run_cli("verify", image, "--key", pub, NO_TLS)
        assert_clean_error(tampered, 1, "does not verify with this key")
    finally:
        options.close()


def test_layout_sign_verify_append_and_skopeo(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], skopeo: Run
) -> None:
    key, pub = keypair
    layout = tmp_path / "app"
    image = f"oci:{layout}:v1"
    digest = push_example(examples, image)
    first = _sign(image, key, "--identity", "registry.example/app")
    tag = first["signature_tag"]
    second = _sign(image, key, "--identity", "registry.example/app", "-a", "n=2")
    assert (first["signatures"], second["signatures"]) == (1, 2)
    # the default identity of a layout is its directory's name: this one was signed otherwise
    default = run_cli("verify", image, "--key", pub)
    assert_clean_error(default, 1, "signed as 'registry.example/app'", "'app'")
    payloads = _verify(image, pub, "--identity", "registry.example/app")
    assert {p["critical"]["image"]["docker-manifest-digest"] for p in payloads} == {digest}
    stored = raw_manifest(skopeo, f"oci:{layout}:{tag}")
    assert len(stored["layers"]) == 2
    assert all(legacy.SIGNATURE_ANNOTATION in la["annotations"] for la in stored["layers"])
    # the image tag is untouched, and skopeo still copies both out of the layout
    skopeo("copy", f"oci:{layout}:v1", f"oci:{tmp_path / 'out'}:v1")
    skopeo("copy", f"oci:{layout}:{tag}", f"oci:{tmp_path / 'out'}:{tag}")
    assert raw_manifest(skopeo, f"oci:{tmp_path / 'out'}:{tag}") == stored
    assert (
        len(_verify(f"oci:{tmp_path / 'out'}:v1", pub, "--identity", "registry.example/app")) == 2
    )
    _, other_pub = generate_key_pair(tmp_path)
    other = run_cli("verify", image, "--key", other_pub, "--identity", "registry.example/app")
    assert_clean_error(other, 1, "does not verify with this key")


def test_parallel_signers_on_a_layout_keep_every_signature(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    image = f"oci:{tmp_path / 'app'}:v1"
    push_example(examples, image)
    sign_at_once(image, key, 3)
    payloads = _verify(image, pub)
    assert sorted(p["optional"]["signer"] for p in payloads) == ["0", "1", "2"]


def test_transports_that_cannot_hold_signatures(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    archive = tmp_path / "app.tar"
    cli_ok("pack", examples.hello, "-o", f"docker-archive:{archive}:app:v1")
    result = run_cli("sign", f"docker-archive:{archive}", "--key", key, env=COSIGN_PASSWORD)
    assert_clean_error(result, 2, "cannot hold them")
    # said before the key is opened (with this wrong password that would fail first)
    daemon = run_cli("sign", "docker-daemon:app:v1", "--key", key, env={"COSIGN_PASSWORD": ""})
    assert_clean_error(daemon, 2, "cannot hold them")
    bad = run_cli(
        "sign", f"oci:{tmp_path}/x:v1", "--key", key, "-a", "novalue", env=COSIGN_PASSWORD
    )
    assert_clean_error(bad, 2, "expected KEY=VALUE")
    missing = run_cli("verify", f"oci:{tmp_path / 'absent'}:v1", "--key", pub)
    assert missing.code != 0 and "Traceback" not in missing.stderr


def test_hostile_signature_manifest(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    """Layers that are not signatures are reported, never trusted nor crashed on."""
    key, pub = keypair
    layout = tmp_path / "app"
    image = f"oci:{layout}:v1"
    push_example(examples, image)
    _sign(image, key)
    from scratchpack.transports.names import OciName

    store = legacy.LayoutStore(OciName(layout, "v1"), None)
    tag = legacy.signature_tag(store.image_digest())
    found = store.read(tag)
    assert found is not None
    manifest, previous = found
    good = manifest.layers[0]
    junk = b"not json at all"
    absent = b"never stored"
    layers = (
        Descriptor("application/octet-stream", Digest.of(junk), len(junk)),
        Descriptor(MEDIA_TYPE, Digest.of(absent), len(absent), annotations=dict(good.annotations)),
        Descriptor(MEDIA_TYPE, Digest.of(junk), len(junk)),
        Descriptor(
            MEDIA_TYPE,
            Digest.of(junk),
            len(junk),
            annotations={legacy.SIGNATURE_ANNOTATION: "@@not base64@@"},
        ),
        good,
    )
    store.write(tag, previous, Manifest(manifest.config, layers).to_bytes(), [junk])
    result = run_cli("verify", image, "--key", pub)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 1  # only the real one
    again = store.read(tag)
    assert again is not None
    store.write(tag, again[1], Manifest(manifest.config, layers[:4]).to_bytes(), [])
    none = run_cli("verify", image, "--key", pub)
    assert_clean_error(
        none, 1, "not a simple signing payload", "cannot read the payload",
        "no dev.cosignproject.cosign/signature", "base64",
    )  # fmt: skip


def test_layout_commit_is_a_compare_and_swap(tmp_path: Path) -> None:
    """What lets parallel signers append without losing a signature: a commit that expected
    the tag elsewhere publishes nothing."""
    from scratchpack.model import mediatypes as mt
    from scratchpack.transports import oci_layout

    layout = tmp_path / "lay"

    def put(data: bytes, tag: str, expect: tuple[Digest | None] | None) -> Descriptor:
        entry = Descriptor(mt.OCI_MANIFEST, Digest.of(data), len(data))
        with oci_layout.LayoutWriter(layout) as writer:
            writer.put_bytes(entry, data)
            writer.commit(tag, entry, force=True, expect=expect)
        return entry

    first = put(b'{"a":1}', "t", None)
    put(b'{"other":1}', "u", (None,))  # absent, as expected
    second = put(b'{"a":2}', "t", (first.digest,))
    with pytest.raises(oci_layout.TagMovedError):
        put(b'{"a":3}', "t", (first.digest,))  # stale: t moved to second meanwhile
    with pytest.raises(oci_layout.TagMovedError):
        put(b'{"a":4}', "u", (None,))
    assert oci_layout.find_entry(layout, "t").digest == second.digest
    assert not (layout / "blobs" / "sha256" / Digest.of(b'{"a":3}').hex).exists()


def test_go_verifies_the_stored_signature(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], keytool: Path
) -> None:
    """The payload blob and the annotation as stored, checked by Go's crypto/ecdsa."""
    key, pub = keypair
    layout = tmp_path / "app"
    image = f"oci:{layout}:v1"
    push_example(examples, image)
    tag = _sign(image, key, "-a", "k=v")["signature_tag"]
    from scratchpack.transports import oci_layout

    blobs = oci_layout.LayoutBlobs(layout)
    manifest = Manifest.parse(blobs.read_bytes(oci_layout.find_entry(layout, tag)))
    (layer,) = manifest.layers
    stored = tmp_path / "payload.json"
    stored.write_bytes(blobs.read_bytes(layer))
    signature = layer.annotations[legacy.SIGNATURE_ANNOTATION]
    assert go(keytool, "verify", pub, stored, signature).strip() == "verified"
    stored.write_bytes(stored.read_bytes().replace(b'"k":"v"', b'"k":"w"'))
    failed = subprocess.run([str(keytool), "verify", str(pub), str(stored), signature],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert failed.returncode == 1 and "does not verify" in failed.stderr
