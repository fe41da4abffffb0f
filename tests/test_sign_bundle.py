"""sign --new-bundle-format and verify in cosign's current layout (a Sigstore bundle as an OCI
1.1 referrer), on the real registry (distribution 2.8: the referrers tag fallback) and on OCI
layouts; both layouts on one image; what must not count; copy --with-signatures; and an
independent verifier (sigstore-js) accepting our bundle and rejecting a tampered one."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from faultproxy import FaultProxy
from helpers import (
    COSIGN_PASSWORD,
    NO_TLS,
    Examples,
    assert_clean_error,
    cli_ok,
    generate_key_pair,
    private_key,
    push_example,
    raw_manifest,
    run_cli,
    sign_at_once,
)
from realtools import need
from scratchpack.model import mediatypes as mt
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import Index, canonical_json
from scratchpack.model.reference import Reference
from scratchpack.signing import bundle, dsse, keys, referrers
from scratchpack.transports.names import OciName, RegistryName
from scratchpack.transports.registry.transport import RegistryOptions, push_blob

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
Completed = subprocess.CompletedProcess[str]
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
SIGSTORE_JS = Path(__file__).parent / "data" / "sigstore-js"


@pytest.fixture(scope="module")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_key_pair(tmp_path_factory.mktemp("other-keys"))


def _sign_bundle(image: str, key: Path, *extra: str) -> dict[str, Any]:
    out = cli_ok("sign", image, "--key", key, NO_TLS, "--new-bundle-format", "--format", "json",
                 *extra)  # fmt: skip
    return dict(json.loads(out))


def _verify(image: str, pub: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    result = run_cli("verify", image, "--key", pub, NO_TLS, *extra)
    assert result.code == 0, result.stderr
    assert "no transparency log was consulted" in result.stderr
    return list(json.loads(result.stdout)), result.stderr


def _blob(registry: str, repo: str, digest: str) -> bytes:
    import httpx

    response = httpx.get(f"http://{registry}/v2/{repo}/blobs/{digest}", follow_redirects=True)
    assert response.status_code == 200
    return response.content


def _statement(digest: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    subject: dict[str, Any] = {"digest": {"sha256": digest.removeprefix("sha256:")}}
    if annotations:
        subject["annotations"] = annotations
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [subject],
        "predicateType": "https://sigstore.dev/cosign/sign/v1",
        "predicate": {},
    }


def test_registry_bundle_through_the_tag_fallback(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path], skopeo: Run
) -> None:
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = push_example(examples, image)
    tag = "sha256-" + digest.removeprefix("sha256:")
    # distribution 2.8 has no referrers API: the referrer is listed in the tag index
    assert run_cli("tags", f"docker://{registry}/{unique_name}", NO_TLS).stdout.split() == ["v1"]
    signed = _sign_bundle(image, key, "-a", "release=1.0")
    assert signed["manifest_digest"] == digest and signed["listed"] == f"referrers tag {tag}"
    index = raw_manifest(skopeo, f"docker://{registry}/{unique_name}:{tag}")
    assert index["mediaType"] == mt.OCI_INDEX
    [entry] = index["manifests"]
    assert entry["digest"] == signed["referrer"] and entry["artifactType"] == BUNDLE_TYPE
    assert entry["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    assert entry["annotations"]["dev.sigstore.bundle.predicateType"] == (
        "https://sigstore.dev/cosign/sign/v1"
    )
    # the referrer manifest is cosign's: artifactType, the empty config, the subject
    manifest = raw_manifest(skopeo, f"docker://{registry}/{unique_name}@{signed['referrer']}")
    assert manifest["artifactType"] == BUNDLE_TYPE
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["config"]["digest"] == EMPTY_DIGEST and manifest["config"]["size"] == 2
    assert _blob(registry, unique_name, EMPTY_DIGEST) == b"{}"
    assert manifest["subject"]["digest"] == digest
    assert manifest["subject"]["mediaType"] == mt.OCI_MANIFEST
    [layer] = manifest["layers"]
    assert layer["mediaType"] == BUNDLE_TYPE
    stored = json.loads(_blob(registry, unique_name, layer["digest"]))
    assert stored["mediaType"] == BUNDLE_TYPE
    pem = pub.read_bytes()
    assert stored["verificationMaterial"]["publicKey"]["hint"] == bundle.key_hint(
        keys.load_public_key(pem, str(pub))
    )
    envelope = stored["dsseEnvelope"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(envelope["payload"])) == _statement(
        digest, {"release": "1.0"}
    )

    statements, stderr = _verify(image, pub)
    assert statements == [_statement(digest, {"release": "1.0"})]
    assert f"bundle via referrers tag {tag}" in stderr and "verified" in stderr
    assert len(_verify(f"docker://{registry}/{unique_name}@{digest}", pub)[0]) == 1
    assert len(_verify(image, pub, "-a", "release=1.0")[0]) == 1
    wrong = run_cli("verify", image, "--key", pub, NO_TLS, "-a", "release=2.0")
    assert_clean_error(wrong, 1, "no signature verifies", "lacks the annotations release=2.0")

    # a second signer adds a second referrer; the first stays listed
    second = _sign_bundle(image, key)
    index = raw_manifest(skopeo, f"docker://{registry}/{unique_name}:{tag}")
    assert [e["digest"] for e in index["manifests"]] == [signed["referrer"], second["referrer"]]
    assert len(_verify(image, pub)[0]) == 2
    # the signed image is still an image every tool copies
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", image,
           f"docker://{registry}/{unique_name}-plain:v1")  # fmt: skip
    assert skopeo("inspect", NO_TLS, f"docker://{registry}/{unique_name}-plain:v1").returncode == 0


def test_both_layouts_on_one_image_and_wrong_key(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    other_keypair: tuple[Path, Path],
) -> None:  # fmt: skip
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = push_example(examples, image)
    cli_ok("sign", image, "--key", key, NO_TLS, "-q")  # legacy .sig
    _sign_bundle(image, key)
    verified, stderr = _verify(image, pub)
    assert len(verified) == 2
    assert verified[0]["critical"]["image"]["docker-manifest-digest"] == digest  # legacy payload
    assert verified[1] == _statement(digest)  # the bundle's statement
    assert f"legacy sha256-{digest.removeprefix('sha256:')}.sig" in stderr
    assert "bundle via referrers tag" in stderr
    assert "2 of 2 signatures verified" in stderr
    # another key verifies neither, and says why for each layout
    wrong = run_cli("verify", image, "--key", other_keypair[1], NO_TLS)
    assert_clean_error(wrong, 1, "no signature verifies", "2 checked", "legacy", "bundle via",
                       "does not verify with this key")  # fmt: skip
    # --identity is the legacy payload's; a bundle has none to sign (refused before the
    # password is needed: none is given here)
    refused = run_cli("sign", image, "--key", key, NO_TLS, "--new-bundle-format",
                      "--identity", "elsewhere/app")  # fmt: skip
    assert_clean_error(refused, 2, "--identity", "by digest only")


def test_unrelated_entries_kept_and_other_subjects_not_counted(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path], skopeo: Run
) -> None:
    key, pub = keypair
    first = f"docker://{registry}/{unique_name}:a"
    second = f"docker://{registry}/{unique_name}:b"
    digest_a = push_example(examples, first, "hello")
    digest_b = push_example(examples, second, "httpd")
    tag_a = "sha256-" + digest_a.removeprefix("sha256:")
    # B is signed; its (valid, same-key) bundle referrer is then listed in A's tag index,
    # beside an unrelated SBOM-like entry another tool put there
    signed_b = _sign_bundle(second, key)
    store = referrers.RegistryReferrers(
        RegistryName(Reference.parse(f"{registry}/{unique_name}:a")),
        RegistryOptions(tls_verify=False),
        pushing=True,
    )
    spdx = b'{"spdxVersion": "SPDX-2.3"}'
    layer = Descriptor("application/spdx+json", Digest.of(spdx), len(spdx))
    sbom_manifest = referrers.referrer_manifest(
        store.subject(), "application/spdx+json", [layer], {"org.example": "kept"}
    )
    for blob, data in ((referrers.EMPTY, referrers.EMPTY_DATA), (layer, spdx)):
        push_blob(store.repo, blob, functools.partial(io.BytesIO, data), store.options)
    store.repo.put_manifest(str(Digest.of(sbom_manifest)), sbom_manifest, mt.OCI_MANIFEST)
    sbom = referrers.descriptor_of(sbom_manifest)
    stolen = Descriptor(mt.OCI_MANIFEST, Digest.parse(signed_b["referrer"]),
                        _manifest_size(skopeo, registry, unique_name, signed_b["referrer"]),
                        artifact_type=BUNDLE_TYPE)  # fmt: skip
    store.repo.put_manifest(tag_a, Index((sbom, stolen)).to_bytes(), mt.OCI_INDEX)
    # B's signature is not A's: the referrer names B as its subject
    none = run_cli("verify", first, "--key", pub, NO_TLS)
    assert_clean_error(none, 1, "no signature verifies", f"refers to {digest_b}, not this image")
    # signing A keeps both entries already in its index, and appends its own
    signed_a = _sign_bundle(first, key)
    index = raw_manifest(skopeo, f"docker://{registry}/{unique_name}:{tag_a}")
    assert [e["digest"] for e in index["manifests"]] == [
        str(sbom.digest),
        signed_b["referrer"],
        signed_a["referrer"],
    ]
    assert index["manifests"][0]["annotations"] == {"org.example": "kept"}
    assert index["manifests"][0]["artifactType"] == "application/spdx+json"
    verified, stderr = _verify(first, pub)
    assert verified == [_statement(digest_a)]
    assert "1 of 2 signatures verified" in stderr  # the SBOM is no signature: not checked
    store.options.close()


def _manifest_size(skopeo: Run, registry: str, repo: str, digest: str) -> int:
    out = skopeo("inspect", NO_TLS, "--raw", f"docker://{registry}/{repo}@{digest}").stdout
    return len(out)


def test_layout_bundle_index_json_and_other_tools(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], skopeo: Run, umoci: Run
) -> None:
    key, pub = keypair
    layout = tmp_path / "app"
    digest = push_example(examples, f"oci:{layout}:v1")
    push_example(examples, f"oci:{layout}:other", "httpd")
    signed = _sign_bundle(f"oci:{layout}:v1", key)
    assert signed["listed"] == "index.json"
    cli_ok("sign", f"oci:{layout}:other", "--key", key, "--new-bundle-format", "-q")
    cli_ok("sign", f"oci:{layout}:v1", "--key", key, "-q")  # and the legacy layout beside it
    index = json.loads((layout / "index.json").read_text())
    untagged = [
        e for e in index["manifests"] if mt.ANNOTATION_REF_NAME not in e.get("annotations", {})
    ]
    assert len(untagged) == 2  # one referrer per image, no name, listed with its artifact type
    ours = next(e for e in untagged if e["digest"] == signed["referrer"])
    assert ours["artifactType"] == BUNDLE_TYPE
    assert ours["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    manifest = json.loads((layout / "blobs/sha256" / signed["referrer"][7:]).read_text())
    assert manifest["subject"]["digest"] == digest
    # the other image's referrer is not this image's, and is not reported as a failure
    verified, stderr = _verify(f"oci:{layout}:v1", pub)
    assert len(verified) == 2 and verified[1] == _statement(digest)
    assert "bundle via index.json" in stderr and "2 of 2 signatures verified" in stderr
    # the layout is still one skopeo and umoci read: the image copies and unpacks
    skopeo("copy", f"oci:{layout}:v1", f"oci:{tmp_path / 'plain'}:v1")
    umoci("unpack", "--rootless", "--image", f"{layout}:v1", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs").is_dir()
    assert sorted(umoci("ls", "--layout", str(layout)).stdout.decode().split()) == sorted(
        ["v1", "other", f"sha256-{digest.removeprefix('sha256:')}.sig"]
    )
    # an altered bundle blob counts for nothing
    layer = manifest["layers"][0]["digest"][7:]
    blob = layout / "blobs/sha256" / layer
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b'"sig":"M', b'"sig":"N', 1))
    verified, stderr = _verify(f"oci:{layout}:v1", pub)
    assert len(verified) == 1 and "1 of 2 signatures verified" in stderr
    assert "digest mismatch" in stderr


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"mediaType": "application/json"}', "not a Sigstore bundle"),
        (
            b'{"mediaType": "' + BUNDLE_TYPE.encode() + b'", "verificationMaterial": '
            b'{"certificate": {"rawBytes": "AA=="}}, "dsseEnvelope": {}}',
            "certificate (keyless)",
        ),
        (
            b'{"mediaType": "' + BUNDLE_TYPE.encode() + b'", "verificationMaterial": '
            b'{"publicKey": {"hint": "x"}}, "messageSignature": {}}',
            "a message signature",
        ),
        (b'{"x": "' + b"y" * (2 << 20) + b'"}', "bytes is too large"),  # refused unread
    ],
)
def test_hostile_bundles_are_reasons_not_crashes(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], doc: bytes, reason: str
) -> None:
    _, pub = keypair
    layout = tmp_path / "app"
    push_example(examples, f"oci:{layout}:v1")
    _attach(layout, doc)
    result = run_cli("verify", f"oci:{layout}:v1", "--key", pub)
    assert_clean_error(result, 1, "no signature verifies", reason)


def test_statement_for_another_digest_or_type_does_not_count(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    layout = tmp_path / "app"
    digest = Digest.parse(push_example(examples, f"oci:{layout}:v1"))
    private = private_key(key)
    other = Digest.of(b"another image")
    _attach(layout, bundle.make(private, bundle.statement(other, {})))
    result = run_cli("verify", f"oci:{layout}:v1", "--key", pub)
    assert_clean_error(result, 1, f"signed for {other}, the image is {digest}")
    # a properly signed statement of another predicate is an attestation, not a signature
    payload = json.loads(bundle.statement(digest, {}))
    payload["predicateType"] = "https://slsa.dev/provenance/v1"
    data = canonical_json(payload)
    signature = keys.sign(private, dsse.pae(bundle.PAYLOAD_TYPE, data))
    doc = json.loads(bundle.make(private, bundle.statement(digest, {})))
    doc["dsseEnvelope"]["payload"] = base64.b64encode(data).decode()
    doc["dsseEnvelope"]["signatures"] = [{"sig": base64.b64encode(signature).decode()}]
    _attach(layout, canonical_json(doc))
    result = run_cli("verify", f"oci:{layout}:v1", "--key", pub)
    assert_clean_error(result, 1, "is no signature")


def _attach(layout: Path, data: bytes) -> None:
    """Attach ``data`` as a bundle referrer of ``oci:layout:v1`` (whatever it holds)."""
    store = referrers.LayoutReferrers(OciName(layout, "v1"))
    subject = store.subject()
    layer = Descriptor(BUNDLE_TYPE, Digest.of(data), len(data))
    manifest = referrers.referrer_manifest(subject, BUNDLE_TYPE, [layer], {})
    blobs = {layer.digest: data, referrers.EMPTY.digest: referrers.EMPTY_DATA}
    store.attach(subject, manifest, [referrers.EMPTY, layer], referrers.bytes_opener(blobs))


def test_copy_with_signatures_registry_and_layout(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    tmp_path: Path, skopeo: Run,
) -> None:  # fmt: skip
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = push_example(examples, image)
    hexdigest = digest.removeprefix("sha256:")
    cli_ok("sign", image, "--key", key, NO_TLS, "-q")
    signed = _sign_bundle(image, key)
    # without the flag only the image moves
    plain = f"docker://{registry}/{unique_name}-plain:v1"
    cli_ok("copy", image, plain, NO_TLS, "-q")
    assert run_cli("tags", plain.rsplit(":", 1)[0], NO_TLS).stdout.split() == ["v1"]
    assert_clean_error(run_cli("verify", plain, "--key", pub, NO_TLS), 1, "no signatures found")
    # registry -> registry: both layouts follow, and verify there
    moved = f"docker://{registry}/{unique_name}-moved:v1"
    out = json.loads(cli_ok("copy", "--with-signatures", image, moved, NO_TLS, "--format", "json"))
    assert out["signatures"] == {"tags": [f"sha256-{hexdigest}.sig"],
                                 "referrers": [signed["referrer"]]}  # fmt: skip
    assert sorted(run_cli("tags", moved.rsplit(":", 1)[0], NO_TLS).stdout.split()) == sorted(
        ["v1", f"sha256-{hexdigest}", f"sha256-{hexdigest}.sig"]
    )
    verified, stderr = _verify(moved, pub, "--identity", f"{registry}/{unique_name}")
    assert len(verified) == 2 and "2 of 2 signatures verified" in stderr
    # the bundle names the digest only: it verifies in the new repository as it is
    verified, stderr = _verify(moved, pub)
    assert verified == [_statement(digest)] and "1 of 2 signatures verified" in stderr
    # registry -> oci: and back again
    layout = tmp_path / "mirror"
    cli_ok("copy", "--with-signatures", image, f"oci:{layout}:v1", NO_TLS, "-q")
    verified, stderr = _verify(f"oci:{layout}:v1", pub, "--identity", f"{registry}/{unique_name}")
    assert len(verified) == 2 and "bundle via index.json" in stderr
    back = f"docker://{registry}/{unique_name}-back:v1"
    cli_ok("copy", "--with-signatures", f"oci:{layout}:v1", back, NO_TLS, "-q")
    assert len(_verify(back, pub, "--identity", f"{registry}/{unique_name}")[0]) == 2
    # copying again changes nothing: the tag index keeps one entry per referrer
    cli_ok("copy", "--with-signatures", image, moved, NO_TLS, "-q")
    index = raw_manifest(skopeo, f"docker://{registry}/{unique_name}-moved:sha256-{hexdigest}")
    assert [e["digest"] for e in index["manifests"]] == [signed["referrer"]]


def test_copy_with_signatures_refusals(
    examples: Examples, registry: str, unique_name: str, tmp_path: Path
) -> None:
    image = f"docker://{registry}/{unique_name}:v1"
    push_example(examples, image)
    archive = tmp_path / "app.tar"
    result = run_cli("copy", "--with-signatures", image, f"docker-archive:{archive}:app:1", NO_TLS)
    assert_clean_error(result, 2, "cannot hold them")
    assert not archive.exists()  # refused before anything was copied
    # an unsigned image copies with the flag: nothing to carry is no error
    out = json.loads(cli_ok("copy", "--with-signatures", image, f"oci:{tmp_path / 'l'}:v1",
                         NO_TLS, "--format", "json"))  # fmt: skip
    assert out["signatures"] == {"tags": [], "referrers": []}


# -- an independent verifier: sigstore-js ---------------------------------------------------


@pytest.fixture(scope="module")
def sigstore_js() -> Path:
    """@sigstore/verify and its dependencies at the versions of package-lock.json, installed
    once per lock into a cache directory (installed beside it, renamed into place)."""
    need("node", "sigstore-js verifies our bundles")
    need("npm", "sigstore-js is installed from npm")
    lock = (SIGSTORE_JS / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "scratchpack-tests" / f"sigstore-js-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (target / "node_modules" / "@sigstore" / "verify").is_dir():
        staging = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SIGSTORE_JS / name, staging / name)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        subprocess.run(["npm", "ci", "--prefix", str(staging), "--no-audit", "--no-fund",
                        "--loglevel=error"], check=True, env=env, capture_output=True)  # fmt: skip
        try:
            staging.rename(target)
        except OSError:  # another run installed it first: use that one
            shutil.rmtree(staging, ignore_errors=True)
    shutil.copy(SIGSTORE_JS / "verify.js", target / "verify.js")
    return target


def _js(
    verifier: Path, bundle_file: Path, pub: Path, digest: str, predicate_type: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(verifier / "verify.js"), str(bundle_file), str(pub),
         digest.removeprefix("sha256:"), *([predicate_type] if predicate_type else [])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_sigstore_js_verifies_our_bundle(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path],
    other_keypair: tuple[Path, Path], sigstore_js: Path,
) -> None:  # fmt: skip
    key, pub = keypair
    layout = tmp_path / "app"
    digest = push_example(examples, f"oci:{layout}:v1")
    signed = _sign_bundle(f"oci:{layout}:v1", key, "-a", "release=1.0")
    manifest = json.loads((layout / "blobs/sha256" / signed["referrer"][7:]).read_text())
    stored = layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    ok = _js(sigstore_js, stored, pub, digest)
    assert ok.returncode == 0 and ok.stdout == "verified\n", ok.stderr
    # sigstore-js rejects: another key (its hint finds no key), a changed payload, a
    # changed signature, and a statement for another digest
    assert _js(sigstore_js, stored, other_keypair[1], digest).returncode == 1
    doc = json.loads(stored.read_bytes())
    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload["subject"][0]["annotations"]["release"] = "2.0"
    tampered = json.loads(json.dumps(doc))
    tampered["dsseEnvelope"]["payload"] = base64.b64encode(canonical_json(payload)).decode()
    (tmp_path / "payload.json").write_bytes(canonical_json(tampered))
    rejected = _js(sigstore_js, tmp_path / "payload.json", pub, digest)
    assert rejected.returncode == 1 and "signature" in rejected.stderr, rejected.stderr
    sig = base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"])
    flipped = sig[:-1] + bytes([sig[-1] ^ 1])
    tampered = json.loads(json.dumps(doc))
    tampered["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(flipped).decode()
    (tmp_path / "sig.json").write_bytes(canonical_json(tampered))
    assert _js(sigstore_js, tmp_path / "sig.json", pub, digest).returncode == 1
    assert _js(sigstore_js, stored, pub, str(Digest.of(b"other"))).returncode == 1
    # and the tampered payload fails our verify too, for the same reason
    assert "does not verify" in _bundle_problem(tmp_path / "payload.json", pub)


def test_sigstore_js_verifies_our_attestation_bundle(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], sigstore_js: Path
) -> None:
    """``attest --new-bundle-format``: the same DSSE-with-a-public-key bundle, around an SLSA
    statement; sigstore-js accepts it for that type and rejects it tampered."""
    key, pub = keypair
    layout = tmp_path / "app"
    digest = push_example(examples, f"oci:{layout}:v1")
    predicate = tmp_path / "prov.json"
    predicate.write_text(json.dumps({"buildDefinition": {"buildType": "https://example/t"}}))
    out = cli_ok("attest", f"oci:{layout}:v1", "--key", key, "--predicate", predicate, "--type",
              "slsaprovenance1", "--new-bundle-format", "--format", "json")  # fmt: skip
    referrer = json.loads(out)["referrer"]
    manifest = json.loads((layout / "blobs/sha256" / referrer[7:]).read_text())
    stored = layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    slsa = "https://slsa.dev/provenance/v1"
    ok = _js(sigstore_js, stored, pub, digest, slsa)
    assert ok.returncode == 0 and ok.stdout == "verified\n", ok.stderr
    wrong_type = _js(sigstore_js, stored, pub, digest, "https://sigstore.dev/cosign/sign/v1")
    assert wrong_type.returncode == 1 and "is of type" in wrong_type.stderr
    doc = json.loads(stored.read_bytes())
    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload["predicate"]["buildDefinition"]["buildType"] = "https://example/forged"
    doc["dsseEnvelope"]["payload"] = base64.b64encode(canonical_json(payload)).decode()
    (tmp_path / "forged.json").write_bytes(canonical_json(doc))
    rejected = _js(sigstore_js, tmp_path / "forged.json", pub, digest, slsa)
    assert rejected.returncode == 1 and "signature" in rejected.stderr, rejected.stderr
    assert "does not verify" in _bundle_problem(tmp_path / "forged.json", pub)


def _bundle_problem(path: Path, pub: Path) -> str:
    try:
        bundle.verify(path.read_bytes(), keys.load_public_key(pub.read_bytes(), "pub"), "b")
    except bundle.BundleError as exc:
        return str(exc)
    return ""


# -- the referrers API path ---------------------------------------------------------------


class ReferrersProxy(FaultProxy):
    """The test registry with distribution spec 1.1's referrers API in front: a manifest
    with a ``subject`` PUT through this proxy is listed at ``GET /v2/<name>/referrers/
    <digest>``, as a registry with the API lists it; every other request goes to
    distribution 2.8 unchanged. A real HTTP server: scratchpack's client is not touched."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.listed: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        found = re.fullmatch(r"/v2/(.+)/referrers/(sha256:[0-9a-f]{64})", path)
        if h.command == "GET" and found:
            self.requests[f"GET {path}"] += 1
            entries = self.listed.get((found[1], found[2]), [])
            data = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                   "manifests": entries})  # fmt: skip
            h.send_response(200)
            h.send_header("Content-Type", mt.OCI_INDEX)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        put = re.fullmatch(r"/v2/(.+)/manifests/[^/]+", path)
        if h.command == "PUT" and put:
            doc = json.loads(body)
            if isinstance(doc.get("subject"), dict):
                entry = referrers.descriptor_of(body).to_json()
                key = (put[1], doc["subject"]["digest"])
                self.listed.setdefault(key, []).append(entry)
        h.rfile = io.BytesIO(body)
        super().handle(h)


def test_referrers_api_when_the_registry_has_one(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    with ReferrersProxy(registry) as proxy:
        image = f"docker://{proxy.address}/{unique_name}:v1"
        digest = push_example(examples, image)
        signed = _sign_bundle(image, key)
        assert signed["listed"] == "referrers API"
        assert proxy.requests[f"GET /v2/{unique_name}/referrers/{digest}"] >= 1
        # no tag index is written where the API lists the referrer
        tags = run_cli("tags", f"docker://{registry}/{unique_name}", NO_TLS).stdout.split()
        assert tags == ["v1"]
        statements, stderr = _verify(image, pub)
        assert statements == [_statement(digest)] and "bundle via referrers API" in stderr
        # the same repository without the API (no tag index there) has no bundle to find
        direct = f"docker://{registry}/{unique_name}:v1"
        assert_clean_error(run_cli("verify", direct, "--key", pub, NO_TLS), 1,
                           "no signatures found")  # fmt: skip
        # copied from the API to a registry without one, the referrer goes into its tag index
        moved = f"docker://{registry}/{unique_name}-moved:v1"
        cli_ok("copy", "--with-signatures", image, moved, NO_TLS, "-q")
        statements, stderr = _verify(moved, pub)
        assert statements == [_statement(digest)] and "bundle via referrers tag" in stderr


def test_a_tag_index_that_is_an_image_is_never_overwritten(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = push_example(examples, image)
    # someone's image already holds the tag the fallback would use
    squatter = f"docker://{registry}/{unique_name}:sha256-{digest.removeprefix('sha256:')}"
    squatted = push_example(examples, squatter, "httpd")
    refused = run_cli(
        "sign", image, "--key", key, NO_TLS, "--new-bundle-format", env=COSIGN_PASSWORD
    )
    assert_clean_error(refused, 1, "is no referrers index", "left as it is")
    assert run_cli("digest", squatter, NO_TLS).stdout.strip() == squatted
    # the legacy layout still verifies, and the unreadable index is one reason beside it
    cli_ok("sign", image, "--key", key, NO_TLS, "-q")
    verified, stderr = _verify(image, pub)
    assert len(verified) == 1 and "1 of 2 signatures verified" in stderr
    assert "is no referrers index" in stderr


def test_copy_carries_att_tags_and_skips_absent_referrers(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    key, pub = keypair
    layout = tmp_path / "app"
    digest = Digest.parse(push_example(examples, f"oci:{layout}:v1"))
    _sign_bundle(f"oci:{layout}:v1", key)
    # an attestation in cosign's legacy .att tag (a DSSE envelope layer), as `attest` stores it
    store = referrers.LayoutReferrers(OciName(layout, "v1"))
    envelope = b'{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}'
    layer = Descriptor("application/vnd.dsse.envelope.v1+json", Digest.of(envelope), len(envelope))
    rootfs = {"type": "layers", "diff_ids": [str(layer.digest)]}
    config = canonical_json({"architecture": "", "os": "", "config": {}, "rootfs": rootfs})
    config_desc = Descriptor(mt.OCI_CONFIG, Digest.of(config), len(config))
    att = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                          "config": config_desc.to_json(),
                          "layers": [layer.to_json()]})  # fmt: skip
    att_tag = f"sha256-{digest.hex}.att"
    blobs = {layer.digest: envelope, config_desc.digest: config}
    store.put_tagged(att_tag, att, [config_desc, layer], referrers.bytes_opener(blobs))
    # and a referrer listed in index.json whose manifest is gone
    index = json.loads((layout / "index.json").read_text())
    gone = Descriptor(mt.OCI_MANIFEST, Digest.of(b"gone"), 4, artifact_type=BUNDLE_TYPE)
    index["manifests"].append(gone.to_json())
    (layout / "index.json").write_text(json.dumps(index))
    target = f"docker://{registry}/{unique_name}:v1"
    result = run_cli("copy", "--with-signatures", f"oci:{layout}:v1", target, NO_TLS,
                     "--format", "json")  # fmt: skip
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["signatures"]["tags"] == [att_tag]
    assert "is listed but absent" in result.stderr
    # the .att manifest arrived byte for byte
    copied = run_cli("digest", f"docker://{registry}/{unique_name}:{att_tag}", NO_TLS)
    assert copied.stdout.strip() == str(Digest.of(att)), copied.stderr
    assert _verify(target, pub)[0] == [_statement(str(digest))]


def test_parallel_bundle_signers_on_a_layout_keep_every_referrer(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    layout = tmp_path / "app"
    push_example(examples, f"oci:{layout}:v1")
    sign_at_once(f"oci:{layout}:v1", key, 3, "--new-bundle-format")
    statements, _ = _verify(f"oci:{layout}:v1", pub)
    signers = sorted(s["subject"][0]["annotations"]["signer"] for s in statements)
    assert signers == ["0", "1", "2"]
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 4  # the image and three referrers


def test_dsse_pae_matches_the_specification_vector() -> None:
    """DSSE v1's own example (protocol.md): what is signed binds the payload type."""
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "


def test_copy_that_converts_the_manifest_cannot_carry_signatures(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    tmp_path: Path, skopeo: Run,
) -> None:  # fmt: skip
    key, _ = keypair
    layout = tmp_path / "app"
    push_example(examples, f"oci:{layout}:v1")
    # a Docker schema 2 manifest in the registry: an OCI layout gets it converted (new digest)
    image = f"docker://{registry}/{unique_name}:v2s2"
    skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{layout}:v1", image)
    _sign_bundle(image, key)
    target = tmp_path / "converted"
    result = run_cli("copy", "--with-signatures", image, f"oci:{target}:v1", NO_TLS)
    assert_clean_error(result, 1, "manifest was converted", "signatures not copied")
    index = json.loads((target / "index.json").read_text())
    assert len(index["manifests"]) == 1  # the image only: nothing half-carried
