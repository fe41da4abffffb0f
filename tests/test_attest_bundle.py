"""attest --new-bundle-format and verify-attestation over Sigstore bundle referrers (cosign 2.4+'s
layout), on the real registry (distribution 2.8: the referrers tag fallback) and OCI layouts:
what is stored, both kinds on one image, the type filter, every way a bundle must not count;
pack --sign --sbom --provenance --new-bundle-format end to end; and copy --with-signatures
carrying attestation bundles to another repository and to a layout."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import COSIGN_PASSWORD, Examples, assert_clean_error, blob, generate_key_pair, run_cli
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.model.manifest import canonical_json
from scratchpack.signing import bundle, current, dsse, keys, referrers, statement
from scratchpack.transports.names import OciName

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
NO_TLS = "--tls-verify=false"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@pytest.fixture(scope="module")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_key_pair(tmp_path_factory.mktemp("other-keys"))


def _run(*args: str | Path) -> Any:
    return run_cli(*args, env=COSIGN_PASSWORD)


def _ok(*args: str | Path) -> str:
    result = _run(*args)
    assert result.code == 0, result.stderr
    return str(result.stdout)


def _push(examples: Examples, target: str) -> str:
    out = _ok("pack", examples.hello, "-o", target, NO_TLS, "--format", "json")
    return str(json.loads(out)["digest"])


def _attest(image: str, key: Path, predicate: Path, kind: str, *extra: str) -> dict[str, Any]:
    out = _ok("attest", image, "--key", key, "--predicate", predicate, "--type", kind, NO_TLS,
              "--new-bundle-format", "--format", "json", *extra)  # fmt: skip
    return dict(json.loads(out))


def _statements(image: str, pub: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    result = run_cli("verify-attestation", image, "--key", pub, NO_TLS, *extra)
    assert result.code == 0, result.stderr
    assert "no transparency log was consulted" in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], str(result.stderr)


def _raw(skopeo: Run, image: str) -> dict[str, Any]:
    return dict(json.loads(skopeo("inspect", NO_TLS, "--raw", image).stdout))


def test_registry_attestation_bundle_through_the_tag_fallback(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    predicates: dict[str, Path], skopeo: Run,
) -> None:  # fmt: skip
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = _push(examples, image)
    hexdigest = digest.removeprefix("sha256:")
    done = _attest(image, key, predicates["slsaprovenance1"], "slsaprovenance1")
    assert done["manifest_digest"] == digest
    assert done["listed"] == f"referrers tag sha256-{hexdigest}"
    assert done["predicate_type"] == statement.SLSA_V1
    # stored as cosign --new-bundle-format stores it: no .att tag, a referrer in the tag index
    tags = run_cli("tags", f"docker://{registry}/{unique_name}", NO_TLS).stdout.split()
    assert sorted(tags) == sorted(["v1", f"sha256-{hexdigest}"])
    index = _raw(skopeo, f"docker://{registry}/{unique_name}:sha256-{hexdigest}")
    [entry] = index["manifests"]
    assert entry["digest"] == done["referrer"] and entry["artifactType"] == BUNDLE_TYPE
    assert entry["annotations"]["dev.sigstore.bundle.predicateType"] == statement.SLSA_V1
    manifest = _raw(skopeo, f"docker://{registry}/{unique_name}@{done['referrer']}")
    assert manifest["subject"]["digest"] == digest
    assert manifest["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == BUNDLE_TYPE
    # a legacy .att attestation beside it: verify-attestation finds both kinds
    _ok("attest", image, "--key", key, "--predicate", predicates["cyclonedx"], "--type",
        "cyclonedx", NO_TLS, "-q")  # fmt: skip
    found, stderr = _statements(image, pub)
    assert {s["predicateType"] for s in found} == {statement.SLSA_V1, statement.CYCLONEDX}
    assert "2 of 2 attestations verified" in stderr and "bundle via referrers tag" in stderr
    [slsa], _ = _statements(image, pub, "--type", "slsaprovenance1")
    assert slsa["subject"] == [{"name": f"{registry}/{unique_name}",
                                "digest": {"sha256": hexdigest}}]  # fmt: skip
    assert slsa["predicate"] == json.loads(predicates["slsaprovenance1"].read_text())
    # the attestation bundle is no signature: verify finds none
    assert_clean_error(run_cli("verify", image, "--key", pub, NO_TLS), 1, "no signatures found")


def test_bundle_only_type_filter_and_wrong_key(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path],
    other_keypair: tuple[Path, Path], predicates: dict[str, Path],
) -> None:  # fmt: skip
    key, pub = keypair
    image = f"oci:{tmp_path / 'app'}:v1"
    digest = _push(examples, image)
    done = _attest(image, key, predicates["cyclonedx"], "cyclonedx")
    assert done["listed"] == "index.json"
    [doc], stderr = _statements(image, pub, "--type", "cyclonedx")
    assert doc["subject"][0] == {"name": "app", "digest": {"sha256": digest[7:]}}
    assert "bundle via index.json" in stderr
    result = run_cli("verify-attestation", image, "--key", pub, "--type", "slsaprovenance1")
    assert_clean_error(result, 1, "none of the 1 verified attestations is of type")
    result = run_cli("verify-attestation", image, "--key", other_keypair[1])
    assert_clean_error(result, 1, "does not verify with this key")
    # a signature bundle is not an attestation: verify-attestation does not count it
    bare = f"oci:{tmp_path / 'bare'}:v1"
    _push(examples, bare)
    _ok("sign", bare, "--key", key, "--new-bundle-format", "-q")
    result = run_cli("verify-attestation", bare, "--key", pub)
    assert_clean_error(result, 1, "no attestations found")


def _attach(layout: Path, data: bytes, predicate_type: str) -> None:
    """Attach ``data`` as a bundle referrer of ``oci:layout:v1`` annotated ``predicate_type``."""
    store = referrers.LayoutReferrers(OciName(layout, "v1"))
    subject = store.subject()
    layer = Descriptor(BUNDLE_TYPE, Digest.of(data), len(data))
    annotations = {current.PREDICATE_ANNOTATION: predicate_type}
    manifest = referrers.referrer_manifest(subject, BUNDLE_TYPE, [layer], annotations)
    blobs = {layer.digest: data, referrers.EMPTY.digest: referrers.EMPTY_DATA}
    store.attach(subject, manifest, [referrers.EMPTY, layer], referrers.bytes_opener(blobs))


def _fresh(examples: Examples, tmp_path: Path, name: str) -> tuple[Path, Digest]:
    layout = tmp_path / name
    return layout, Digest.parse(_push(examples, f"oci:{layout}:v1"))


def test_bundles_that_must_not_count(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    private = keys.load_private_key(key.read_bytes(), COSIGN_PASSWORD["COSIGN_PASSWORD"].encode(),
                                    "k")  # fmt: skip

    def failing(layout: Path, *reasons: str) -> None:
        result = run_cli("verify-attestation", f"oci:{layout}:v1", "--key", pub)
        assert_clean_error(result, 1, "no attestation verifies", *reasons)

    # a statement about another image, properly signed
    layout, _ = _fresh(examples, tmp_path, "other")
    other = Digest.of(b"another image")
    data = statement.to_bytes("app", other, statement.SLSA_V1, {})
    _attach(layout, bundle.make(private, data), statement.SLSA_V1)
    failing(layout, f"the statement is about sha256:{other.hex}")
    # the (unsigned) annotation says one type, the signed statement another
    layout, digest = _fresh(examples, tmp_path, "relabelled")
    data = statement.to_bytes("app", digest, statement.SLSA_V1, {})
    _attach(layout, bundle.make(private, data), statement.CYCLONEDX)
    failing(layout, "annotated 'https://cyclonedx.org/bom'")
    # a payload changed after signing
    layout, digest = _fresh(examples, tmp_path, "tampered")
    doc = json.loads(bundle.make(private, statement.to_bytes("app", digest, statement.SLSA_V1, {})))
    forged = statement.to_bytes("app", digest, statement.SLSA_V1, {"forged": True})
    doc["dsseEnvelope"]["payload"] = base64.b64encode(forged).decode()
    _attach(layout, canonical_json(doc), statement.SLSA_V1)
    failing(layout, "does not verify with this key")
    # hostile or broken bundles are reasons, not crashes
    layout, digest = _fresh(examples, tmp_path, "hostile")
    for junk in (b"not json", b"[]", json.dumps({"mediaType": BUNDLE_TYPE}).encode(),
                 b'{"a":' * 100_000):  # fmt: skip
        _attach(layout, junk, statement.SLSA_V1)
    signed = keys.sign(private, dsse.pae(dsse.INTOTO_PAYLOAD_TYPE, b'{"_type": 1}'))
    doc = json.loads(bundle.make(private, statement.to_bytes("app", digest, statement.SLSA_V1, {})))
    doc["dsseEnvelope"]["payload"] = base64.b64encode(b'{"_type": 1}').decode()
    doc["dsseEnvelope"]["signatures"] = [{"sig": base64.b64encode(signed).decode()}]
    _attach(layout, canonical_json(doc), statement.SLSA_V1)
    failing(layout, "not JSON", "not an in-toto Statement")


def test_pack_signs_and_attests_with_bundles_end_to_end(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    tmp_path: Path, skopeo: Run,
) -> None:  # fmt: skip
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    out = _ok("pack", examples.hello, "-o", image, NO_TLS, "--sign", key, "--sbom",
              "--provenance", "--new-bundle-format", "--format", "json")  # fmt: skip
    packed = json.loads(out)
    digest, hexdigest = packed["digest"], packed["digest"].removeprefix("sha256:")
    signing = packed["signing"]
    assert signing["signature_tag"] is None and signing["attestation_tag"] is None
    assert signing["attestations"] == [statement.CYCLONEDX, statement.SLSA_V1]
    assert (
        len(signing["referrers"]) == 3 and signing["listed"] == f"referrers tag sha256-{hexdigest}"
    )
    tags = run_cli("tags", f"docker://{registry}/{unique_name}", NO_TLS).stdout.split()
    assert sorted(tags) == sorted(["v1", f"sha256-{hexdigest}"])  # no .sig, no .att
    index = _raw(skopeo, f"docker://{registry}/{unique_name}:sha256-{hexdigest}")
    assert [e["digest"] for e in index["manifests"]] == signing["referrers"]
    assert [e["annotations"]["dev.sigstore.bundle.predicateType"] for e in index["manifests"]] == [
        bundle.SIGN_PREDICATE_TYPE, statement.CYCLONEDX, statement.SLSA_V1]  # fmt: skip
    verified = json.loads(_ok("verify", image, "--key", pub, NO_TLS))
    assert [s["subject"][0]["digest"] for s in verified] == [{"sha256": hexdigest}]
    [sbom], _ = _statements(image, pub, "--type", "cyclonedx")
    assert sbom["predicate"]["bomFormat"] == "CycloneDX"
    [provenance], _ = _statements(image, pub, "--type", "slsaprovenance1")
    inputs = {d["name"] for d in provenance["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert "/usr/local/bin/hello" in inputs
    assert (
        "new_bundle_format" not in provenance["predicate"]["buildDefinition"]["externalParameters"]
    )

    # copy --with-signatures carries the three bundles: to another repository, to a layout
    moved = f"docker://{registry}/{unique_name}-moved:v1"
    copied = json.loads(_ok("copy", "--with-signatures", image, moved, NO_TLS, "--format", "json"))
    assert copied["signatures"] == {"tags": [], "referrers": signing["referrers"]}
    layout = tmp_path / "mirror"
    _ok("copy", "--with-signatures", image, f"oci:{layout}:v1", NO_TLS, "-q")
    for target in (moved, f"oci:{layout}:v1"):
        found, stderr = _statements(target, pub)
        assert {s["predicateType"] for s in found} == {statement.CYCLONEDX, statement.SLSA_V1}
        assert "2 of 2 attestations verified" in stderr
        assert [s["subject"][0]["digest"]["sha256"] for s in found] == [hexdigest] * 2
        _ok("verify", target, "--key", pub, NO_TLS)
    assert str(Digest.of(blob(layout, digest))) == digest  # the manifest moved as it is


def test_bundle_format_needs_sign(examples: Examples, tmp_path: Path) -> None:
    result = run_cli("pack", examples.hello, "-o", f"oci:{tmp_path / 'x'}", "--new-bundle-format")
    assert_clean_error(result, 2, "--new-bundle-format", "--sign")
    assert not (tmp_path / "x").exists()


def test_copy_signs_its_destination_with_bundles(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    source = f"oci:{tmp_path / 'src'}:v1"
    digest = _push(examples, source)
    target = f"oci:{tmp_path / 'dst'}:v1"
    out = json.loads(_ok("copy", source, target, "--sign", key, "--provenance",
                         "--new-bundle-format", "--format", "json"))  # fmt: skip
    assert out["signing"]["listed"] == "index.json" and len(out["signing"]["referrers"]) == 2
    [signed] = json.loads(_ok("verify", target, "--key", pub))
    assert signed["subject"][0]["digest"] == {"sha256": digest[7:]}
    [provenance], _ = _statements(target, pub, "--type", "slsaprovenance1")
    [source_input] = provenance["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert source_input["digest"] == {"sha256": digest[7:]}
    # the source was not signed: nothing was written beside it
    result = run_cli("verify", source, "--key", pub)
    assert_clean_error(result, 1, "no signatures found")
