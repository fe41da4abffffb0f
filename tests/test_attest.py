"""attest and verify-attestation in cosign's layout, on the real registry and OCI layouts: what
is stored (read back with skopeo), appending, the type filter and every way verification must
fail; the DSSE reference test vector; an independent DSSE implementation (securesystemslib)
verifying our envelopes and signing ones we verify."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    NO_TLS,
    Examples,
    assert_clean_error,
    cli_ok,
    generate_key_pair,
    layout_manifest,
    private_key,
    push_example,
    raw_manifest,
    run_cli,
)
from realtools import unavailable
from scratchpack.model.descriptor import Descriptor
from scratchpack.model.digest import Digest
from scratchpack.signing import dsse, legacy, statement
from scratchpack.signing.attestations import PREDICATE_ANNOTATION, attestation_tag
from scratchpack.transports.names import OciName

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]


def _attest(image: str, key: Path, predicate: Path, kind: str) -> dict[str, Any]:
    out = cli_ok("attest", image, "--key", key, "--predicate", predicate, "--type", kind, NO_TLS,
              "--format", "json")  # fmt: skip
    return dict(json.loads(out))


def _statements(image: str, pub: Path, *extra: str) -> list[dict[str, Any]]:
    result = run_cli("verify-attestation", image, "--key", pub, NO_TLS, *extra)
    assert result.code == 0, result.stderr
    assert "no transparency log was consulted" in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- the DSSE format -----------------------------------------------------------------------


def test_pae_and_the_published_dsse_test_vector() -> None:
    """protocol.md's example: PAE bytes, and its ECDSA P-256 signature (raw r||s) verifies
    with our envelope code against its public key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    kind, body = "http://example.com/HelloWorld", b"hello world"
    assert dsse.pae(kind, body) == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "
    assert dsse.pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"  # lengths in bytes
    x = 46950820868899156662930047687818585632848591499744589407958293238635476079160
    y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    published = {
        "payload": "aGVsbG8gd29ybGQ=",
        "payloadType": kind,
        "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJ"
                                "PcIAriEGAHTVeCUjW2JIZA=="}],
    }  # fmt: skip
    raw = dsse.parse(json.dumps(published).encode(), "vector")
    assert raw.payload == body and raw.signatures[0].keyid == ""
    rs = raw.signatures[0].sig
    der = encode_dss_signature(int.from_bytes(rs[:32]), int.from_bytes(rs[32:]))
    vector = dsse.Envelope(raw.payload_type, raw.payload, (dsse.Signature("", der),))
    assert vector.verifies(public)
    # the signature is over PAE, so the same bytes under another type do not verify
    assert not dsse.Envelope("http://example.com/Other", body, vector.signatures).verifies(public)
    assert not dsse.Envelope(kind, b"hello world!", vector.signatures).verifies(public)
    # URL-safe base64 without padding is accepted, as the spec requires
    urlsafe = {**published, "payload": "aGVsbG8gd29ybGQ"}
    assert dsse.parse(json.dumps(urlsafe).encode(), "v").payload == body


def test_envelope_parsing_refuses_what_is_not_one() -> None:
    from scratchpack.errors import FormatError

    for bad, fragment in [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"payloadType":"t","signatures":[{"sig":"AA=="}]}', "lacks payloadType or payload"),
        (b'{"payloadType":"t","payload":"AA==","signatures":[]}', "no signatures"),
        (b'{"payloadType":"t","payload":"!!","signatures":[{"sig":"AA=="}]}', "not base64"),
        (b'{"payloadType":"t","payload":"AA==","signatures":[{"keyid":"k"}]}', "lacks its 'sig'"),
    ]:
        with pytest.raises(FormatError, match=fragment):
            dsse.parse(bad, "x")
    with pytest.raises(FormatError, match="more than"):
        dsse.parse(b" " * (dsse.MAX_ENVELOPE_BYTES + 1), "x")


def test_statement_types_are_cosigns() -> None:
    from scratchpack.errors import UsageError

    assert statement.predicate_type("slsaprovenance") == "https://slsa.dev/provenance/v0.2"
    assert statement.predicate_type("slsaprovenance1") == "https://slsa.dev/provenance/v1"
    assert statement.predicate_type("cyclonedx") == "https://cyclonedx.org/bom"
    assert statement.predicate_type("spdx") == statement.predicate_type("spdxjson")
    assert statement.predicate_type("spdx") == "https://spdx.dev/Document"
    assert statement.predicate_type("custom") == "https://cosign.sigstore.dev/attestation/v1"
    assert statement.predicate_type("https://example.com/p/v1") == "https://example.com/p/v1"
    with pytest.raises(UsageError, match="absolute URI"):
        statement.predicate_type("provenance")
    assert statement.predicate("custom", b"x", "T", "f") == {"Data": "x", "Timestamp": "T"}
    tag_value = "SPDXVersion: SPDX-2.3"
    assert statement.predicate("spdx", tag_value.encode(), "T", "f") == tag_value
    with pytest.raises(UsageError, match="needs a JSON object"):
        statement.predicate("cyclonedx", b"[1]", "T", "f")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b'{"a": [Infinity]}', "Infinity is not a JSON value"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_a_predicate_that_is_not_json_is_refused(data: bytes, message: str) -> None:
    """Python's json reads NaN and Infinity, and the statement was signed with them: JSON that
    cosign and every Go verifier refuse, an attestation only we could read. 100,000 levels
    were an "unexpected RecursionError". Found by the session-8 red team."""
    from scratchpack.errors import UsageError

    with pytest.raises(UsageError, match=message):
        statement.predicate("cyclonedx", data, "T", "f")
    with pytest.raises(ValueError, match="Out of range float"):
        statement.to_bytes("s", Digest.of(b""), "k", {"a": float("nan")})


# -- attest / verify-attestation -------------------------------------------------------------


def test_registry_attest_verify_append_filter_and_skopeo(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path],
    predicates: dict[str, Path], skopeo: Run, tmp_path: Path,
) -> None:  # fmt: skip
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    digest = push_example(examples, image)
    unattested = run_cli("verify-attestation", image, "--key", pub, NO_TLS)
    assert_clean_error(unattested, 1, "no attestations found", ".att")
    first = _attest(image, key, predicates["cyclonedx"], "cyclonedx")
    tag = "sha256-" + digest.removeprefix("sha256:") + ".att"
    assert first["attestation_tag"] == tag and first["attestations"] == 1
    second = _attest(image, key, predicates["custom"], "custom")
    assert second["attestations"] == 2

    both = _statements(image, pub)
    assert [s["predicateType"] for s in both] == [statement.CYCLONEDX, statement.CUSTOM]
    for s in both:
        assert s["_type"] == "https://in-toto.io/Statement/v1"
        assert s["subject"] == [{"name": f"{registry}/{unique_name}",
                                 "digest": {"sha256": digest.removeprefix("sha256:")}}]  # fmt: skip
    assert both[0]["predicate"] == json.loads(predicates["cyclonedx"].read_text())
    assert both[1]["predicate"]["Data"] == "any text at all\n"
    only = _statements(image, pub, "--type", "cyclonedx")
    assert [s["predicateType"] for s in only] == [statement.CYCLONEDX]
    assert _statements(image, pub, "--type", statement.CUSTOM) == both[1:]
    absent = run_cli("verify-attestation", image, "--key", pub, NO_TLS, "--type", "spdx")
    assert_clean_error(absent, 1, "none of the 2 verified attestations", "spdx.dev/Document")

    # what is stored, as skopeo reads it: cosign's manifest, one DSSE layer per attestation
    stored = raw_manifest(skopeo, f"docker://{registry}/{unique_name}:{tag}")
    assert stored["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [la["mediaType"] for la in stored["layers"]] == [dsse.MEDIA_TYPE] * 2
    assert [la["annotations"] for la in stored["layers"]] == [
        {legacy.SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: statement.CYCLONEDX},
        {legacy.SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: statement.CUSTOM},
    ]
    envelope = json.loads(
        skopeo("inspect", NO_TLS, "--raw", f"docker://{registry}/{unique_name}:{tag}").stdout
    )
    assert envelope["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"

    # another key: nothing verifies
    _, other_pub = generate_key_pair(tmp_path)
    wrong = run_cli("verify-attestation", image, "--key", other_pub, NO_TLS)
    assert_clean_error(wrong, 1, "no attestation verifies", "no signature of the envelope")

    # skopeo copies the image and its .att tag; the statements still name the image's digest
    copy = f"docker://{registry}/{unique_name}-copy"
    for ref in ("v1", tag):
        skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
               f"docker://{registry}/{unique_name}:{ref}", f"{copy}:{ref}")  # fmt: skip
    assert raw_manifest(skopeo, f"{copy}:{tag}") == stored
    assert _statements(f"{copy}:v1", pub) == both


def test_layout_attest_and_every_way_it_must_fail(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], predicates: dict[str, Path]
) -> None:
    key, pub = keypair
    layout = tmp_path / "app"
    image = f"oci:{layout}:v1"
    digest = Digest.parse(push_example(examples, image))
    _attest(image, key, predicates["slsaprovenance1"], "slsaprovenance1")
    [good] = _statements(image, pub, "--type", "slsaprovenance1")
    assert good["predicate"] == json.loads(predicates["slsaprovenance1"].read_text())
    assert good["subject"][0]["name"] == "app"  # a layout's identity: its directory's name

    store = legacy.LayoutStore(OciName(layout, "v1"), None)
    tag = attestation_tag(digest)
    private = private_key(key)

    def replace(layers: list[tuple[Descriptor, bytes]]) -> None:
        """The .att manifest made to hold exactly these layers."""
        found = store.read(tag)
        assert found is not None
        previous = found[1]
        for n, (layer, data) in enumerate(layers):
            if n == 0:
                store.write(tag, previous, _manifest([layer]), [data, b"{}"])
            else:
                legacy.append_layer(store, tag, layer, data, "test")

    layer = _layer

    def failing(*fragments: str) -> None:
        result = run_cli("verify-attestation", image, "--key", pub)
        assert_clean_error(result, 1, "no attestation verifies", *fragments)

    other = Digest.of(b"another image")
    # a valid signature over a statement about another image
    about_other = statement.to_bytes("app", other, statement.SLSA_V1, {})
    replace([layer(dsse.sign(private, dsse.INTOTO_PAYLOAD_TYPE, about_other).to_bytes())])
    failing(f"the statement is about {other}", f"the image is {digest}")
    # a tampered payload: the statement edited after signing, the signature kept
    honest = statement.to_bytes("app", digest, statement.SLSA_V1, {"builder": "me"})
    signed = dsse.sign(private, dsse.INTOTO_PAYLOAD_TYPE, honest)
    forged = statement.to_bytes("app", digest, statement.SLSA_V1, {"builder": "mallory"})
    tampered = dsse.Envelope(signed.payload_type, forged, signed.signatures).to_bytes()
    replace([layer(tampered)])
    failing("no signature of the envelope verifies with this key")
    # a signed envelope of another payload type, a layer that is no envelope, a missing blob,
    # a statement of an unknown _type
    wrong_type = dsse.sign(private, "application/json", honest).to_bytes()
    not_envelope = b'{"hello": "world"}'
    bad_statement = json.dumps({"_type": "https://example/Statement", "subject": []}).encode()
    absent = dsse.sign(private, dsse.INTOTO_PAYLOAD_TYPE, honest).to_bytes()
    replace([
        layer(wrong_type),
        layer(not_envelope),
        layer(honest, media_type="application/vnd.in-toto+json"),
        layer(dsse.sign(private, dsse.INTOTO_PAYLOAD_TYPE, bad_statement).to_bytes()),
    ])  # fmt: skip
    missing_layer = Descriptor(dsse.MEDIA_TYPE, Digest.of(absent), len(absent))
    huge = Descriptor(dsse.MEDIA_TYPE, Digest.of(b"huge"), dsse.MAX_ENVELOPE_BYTES + 1)
    found = store.read(tag)
    assert found is not None
    layers = [*found[0].layers, missing_layer, huge]
    store.write(tag, found[1], _manifest(layers), [b"{}"])
    failing("payload type 'application/json' is not in-toto's", "lacks payloadType",
            "is not a DSSE envelope", "is not an in-toto Statement",
            "cannot read the envelope", "more than the 4 MiB")  # fmt: skip
    # one good attestation among them is enough (exit 0), and only it is printed
    legacy.append_layer(store, tag, *layer(signed.to_bytes()), "test")
    assert [s["predicate"] for s in _statements(image, pub)] == [{"builder": "me"}]


def _layer(
    envelope: bytes, kind: str = statement.SLSA_V1, media_type: str = dsse.MEDIA_TYPE
) -> tuple[Descriptor, bytes]:
    """An attestation layer as cosign annotates one, and its blob."""
    annotations = {legacy.SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: kind}
    descriptor = Descriptor(media_type, Digest.of(envelope), len(envelope),
                            annotations=annotations)  # fmt: skip
    return descriptor, envelope


def _manifest(layers: list[Descriptor]) -> bytes:
    from scratchpack.model import mediatypes as mt
    from scratchpack.model.manifest import Manifest

    config = b"{}"
    return Manifest(
        config=Descriptor(mt.OCI_CONFIG, Digest.of(config), len(config)),
        layers=tuple(layers),
        media_type=mt.OCI_MANIFEST,
    ).to_bytes()


def test_attest_usage_errors(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], predicates: dict[str, Path]
) -> None:
    key, pub = keypair
    archive = tmp_path / "app.tar"
    cli_ok("pack", examples.hello, "-o", f"docker-archive:{archive}:app:v1")
    cases: list[tuple[list[str | Path], str]] = [
        (["attest", f"docker-archive:{archive}", "--predicate", predicates["custom"]],
         "cannot hold them"),
        (["attest", f"oci:{tmp_path}/x:v1", "--predicate", predicates["custom"], "--type",
          "nonsense"], "absolute URI"),
        (["attest", f"oci:{tmp_path}/x:v1", "--predicate", predicates["custom"], "--type",
          "cyclonedx"], "needs a JSON object"),
        (["attest", f"oci:{tmp_path}/x:v1", "--predicate", tmp_path / "absent.json"],
         "cannot read --predicate"),
    ]  # fmt: skip
    for args, fragment in cases:
        # said before the key is opened (with this wrong password that would fail first)
        result = run_cli(*args, "--key", key, env={"COSIGN_PASSWORD": "wrong"})
        assert_clean_error(result, 2, fragment)
    daemon = run_cli("verify-attestation", "docker-daemon:app:v1", "--key", pub)
    assert_clean_error(daemon, 2, "cannot hold them")
    missing = run_cli("verify-attestation", f"oci:{tmp_path / 'absent'}:v1", "--key", pub)
    assert missing.code == 2 and "Traceback" not in missing.stderr


# -- an independent implementation ---------------------------------------------------------


def test_securesystemslib_verifies_ours_and_we_verify_its(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path], predicates: dict[str, Path]
) -> None:
    """securesystemslib (the DSSE reference authors' library, PyPI): its Envelope.verify with
    its ECDSA key accepts our stored envelope; an envelope its CryptoSigner makes, stored as
    an attestation, passes our verify-attestation."""
    try:
        from securesystemslib.dsse import Envelope
        from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]
    except ImportError:
        unavailable("securesystemslib is not installed (requirements-dev.lock)")
    from cryptography.hazmat.primitives import serialization

    key, pub = keypair
    layout = tmp_path / "app"
    image = f"oci:{layout}:v1"
    digest = Digest.parse(push_example(examples, image))
    _attest(image, key, predicates["cyclonedx"], "cyclonedx")
    manifest = layout_manifest(layout, attestation_tag(digest))
    layer = manifest["layers"][0]["digest"].split(":")[1]
    stored = (layout / "blobs" / "sha256" / layer).read_bytes()
    ours = json.loads(stored)

    public = serialization.load_pem_public_key(pub.read_bytes())
    derived = SSlibKey.from_crypto(public)
    theirs_key = SSlibKey("", derived.keytype, derived.scheme, derived.keyval)  # cosign's keyid
    envelope = Envelope.from_dict(json.loads(stored))  # from_dict takes its dict apart
    assert set(envelope.verify([theirs_key], 1)) == {""}
    assert Envelope.pae(envelope) == dsse.pae(ours["payloadType"],
                                              base64.b64decode(ours["payload"]))  # fmt: skip
    edited = dict(json.loads(stored), payload=base64.b64encode(b'{"_type":"x"}').decode())
    with pytest.raises(Exception, match="threshold"):
        Envelope.from_dict(edited).verify([theirs_key], 1)

    # the other way: securesystemslib signs a statement with our private key
    private = private_key(key)
    body = statement.to_bytes("app", digest, "https://example.com/theirs/v1", {"by": "sslib"})
    theirs = Envelope(body, dsse.INTOTO_PAYLOAD_TYPE, {})
    theirs.sign(CryptoSigner(private))
    data = json.dumps(theirs.to_dict()).encode()
    store = legacy.LayoutStore(OciName(layout, "v1"), None)
    legacy.append_layer(store, attestation_tag(digest), *_layer(data, "x"), "test")
    [found] = _statements(image, pub, "--type", "https://example.com/theirs/v1")
    assert found["predicate"] == {"by": "sslib"}


def test_cosigns_statement_v01_and_text_predicates_read(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    """What cosign writes today (Statement v0.1) verifies too; ``--type spdx`` keeps a
    tag-value document as a JSON string, as cosign does."""
    key, pub = keypair
    layout = tmp_path / "app"
    image = f"oci:{layout}:v1"
    digest = Digest.parse(push_example(examples, image))
    spdx = tmp_path / "sbom.spdx"
    spdx.write_text("SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n")
    _attest(image, key, spdx, "spdx")
    [found] = _statements(image, pub, "--type", "spdx")
    assert found["predicate"] == spdx.read_text()

    private = private_key(key)
    cosigns = json.dumps({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": statement.CYCLONEDX,
        "subject": [{"name": "app", "digest": {"sha256": digest.hex}}],
        "predicate": {"bomFormat": "CycloneDX"},
    }).encode()  # fmt: skip
    envelope = dsse.sign(private, dsse.INTOTO_PAYLOAD_TYPE, cosigns).to_bytes()
    store = legacy.LayoutStore(OciName(layout, "v1"), None)
    layer = _layer(envelope, statement.CYCLONEDX)
    legacy.append_layer(store, attestation_tag(digest), *layer, "test")
    [v01] = _statements(image, pub, "--type", "cyclonedx")
    assert v01 == json.loads(cosigns)
