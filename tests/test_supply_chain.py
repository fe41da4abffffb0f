"""One command, a signed image with its SBOM and provenance: ``pack``, ``build`` and ``copy``
with ``--sign KEY --sbom --provenance``, to the real registry and to OCI layouts, then checked
with ``verify`` and ``verify-attestation`` as a user would; the provenance's inputs against
digests computed here; reproducible payloads under SOURCE_DATE_EPOCH; refusals before work."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import (
    COSIGN_PASSWORD,
    Examples,
    assert_clean_error,
    layout_manifest,
    run_cli,
)
from realtools import CACHE, unavailable
from scratchpack import __version__
from scratchpack.signing import dsse, statement

Run = Callable[..., "subprocess.CompletedProcess[bytes]"]
NO_TLS = "--tls-verify=false"
PASSWORD = COSIGN_PASSWORD
EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}
XDG = {"XDG_CACHE_HOME": str(CACHE / "xdg")}  # build's indexes and .debs, as test_build's


def _ok(*args: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_cli(*args, "--format", "json", env={**PASSWORD, **(env or {})})
    assert result.code == 0, result.stderr
    return dict(json.loads(result.stdout))


def _statement(image: str, pub: Path, kind: str) -> dict[str, Any]:
    result = run_cli("verify-attestation", image, "--key", pub, NO_TLS, "--type", kind)
    assert result.code == 0, result.stderr
    assert "no transparency log was consulted" in result.stderr
    [line] = result.stdout.splitlines()
    return dict(json.loads(line))


def _verified(image: str, pub: Path) -> None:
    result = run_cli("verify", image, "--key", pub, NO_TLS)
    assert result.code == 0, result.stderr


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inputs(provenance: dict[str, Any]) -> dict[str, dict[str, Any]]:
    definition = provenance["predicate"]["buildDefinition"]
    return {d["name"]: d for d in definition["resolvedDependencies"]}


def test_pack_to_the_registry_signed_with_sbom_and_provenance(
    examples: Examples, registry: str, unique_name: str, keypair: tuple[Path, Path], skopeo: Run
) -> None:
    key, pub = keypair
    image = f"docker://{registry}/{unique_name}:v1"
    packed = _ok("pack", examples.hello, "-o", image, NO_TLS, "--creds", "user:s3cret-pw",
                 "--label", "team=a", "--sign", key, "--sbom", "--provenance")  # fmt: skip
    digest = packed["digest"]
    hexdigest = digest.removeprefix("sha256:")
    assert packed["signing"] == {
        "signature_tag": f"sha256-{hexdigest}.sig",
        "attestation_tag": f"sha256-{hexdigest}.att",
        "attestations": [statement.CYCLONEDX, statement.SLSA_V1],
        "sbom_packages": 2,
    }
    _verified(image, pub)
    sbom = _statement(image, pub, "cyclonedx")
    assert sbom["subject"][0]["digest"] == {"sha256": hexdigest}
    names = {c["name"] for c in sbom["predicate"]["components"]}
    assert names == {"ca-certificates", "tzdata"}  # the host packages pack recorded
    assert sbom["predicate"]["bomFormat"] == "CycloneDX"

    provenance = _statement(image, pub, "slsaprovenance1")
    assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
    predicate = provenance["predicate"]
    run = predicate["runDetails"]
    assert run["builder"] == {
        "id": f"https://scratchpack.invalid/builder/scratchpack@{__version__}",
        "version": {"scratchpack": __version__},
    }
    assert set(run["metadata"]) == {"startedOn", "finishedOn"}  # no SOURCE_DATE_EPOCH here
    definition = predicate["buildDefinition"]
    assert definition["buildType"] == "https://scratchpack.invalid/buildtypes/pack/v1"
    parameters = definition["externalParameters"]
    assert parameters["output"] == image and parameters["label"] == ["team=a"]
    assert parameters["binary"] == str(examples.hello)
    assert "creds" not in parameters and "s3cret-pw" not in json.dumps(provenance)
    inputs = _inputs(provenance)
    binary = inputs["/usr/local/bin/hello"]
    assert binary["digest"] == {"sha256": _sha256(examples.hello)}
    assert binary["uri"] == examples.hello.resolve().as_uri()
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    assert inputs["/etc/ssl/certs/ca-certificates.crt"]["digest"] == {"sha256": _sha256(bundle)}
    assert inputs["ca-certificates"]["uri"].startswith("pkg:deb/debian/ca-certificates@")

    # skopeo still copies the image, its signature and its attestations
    for ref in ("v1", f"sha256-{hexdigest}.sig", f"sha256-{hexdigest}.att"):
        skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
               f"docker://{registry}/{unique_name}:{ref}",
               f"docker://{registry}/{unique_name}-copy:{ref}")  # fmt: skip
    copied = f"docker://{registry}/{unique_name}-copy:v1"
    assert _statement(copied, pub, "slsaprovenance1") == provenance


def test_reproducible_attestations_on_a_layout(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    """Built twice with SOURCE_DATE_EPOCH: the same image, and the same statement bytes (the
    envelopes differ only by ECDSA's random signatures); no build times in the provenance."""
    key, pub = keypair
    layout = tmp_path / "app"
    image = f"oci:{layout}:v1"
    args = ("pack", examples.dynamic, "-o", image, "--sign", key, "--sbom", "--provenance")
    first = _ok(*args, env=EPOCH)
    second = _ok(*args, "--force", env=EPOCH)
    assert first["digest"] == second["digest"]
    digest = first["digest"]
    _verified(image, pub)
    tag = "sha256-" + digest.removeprefix("sha256:") + ".att"
    manifest = layout_manifest(layout, tag)
    payloads: dict[str, list[bytes]] = {}
    for layer in manifest["layers"]:
        data = (layout / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
        envelope = dsse.parse(data, "test")
        payloads.setdefault(layer["annotations"]["predicateType"], []).append(envelope.payload)
    assert sorted(payloads) == [statement.CYCLONEDX, statement.SLSA_V1]
    for kind, found in payloads.items():
        assert len(found) == 2 and found[0] == found[1], kind
    provenance = json.loads(payloads[statement.SLSA_V1][0])
    assert "metadata" not in provenance["predicate"]["runDetails"]
    # the dynamic binary's libraries are inputs, by their digests on this machine
    inputs = _inputs(provenance)
    libc = [i for name, i in inputs.items() if name.endswith("/libc.so.6")]
    assert libc, sorted(inputs)
    host = Path(libc[0]["uri"].removeprefix("file://"))
    assert libc[0]["digest"] == {"sha256": _sha256(host)}
    # both builds' attestations are kept, as cosign keeps them (it dedupes signatures only)
    shown = run_cli("verify-attestation", image, "--key", pub, "--type", "slsaprovenance1")
    assert [json.loads(line) for line in shown.stdout.splitlines()] == [provenance] * 2


def test_refused_before_any_work(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, _ = keypair
    out = tmp_path / "out"
    cases = [
        (("pack", examples.hello, "-o", f"oci:{out}:v1", "--sbom"), PASSWORD, 2,
         "need --sign KEY"),
        (("pack", examples.hello, "-o", f"docker-archive:{out}.tar", "--sign", key), PASSWORD, 2,
         "cannot hold signatures"),
        (("pack", examples.hello, "-o", "docker-daemon:app:v1", "--sign", key, "--provenance"),
         {"COSIGN_PASSWORD": "wrong"}, 2, "cannot hold signatures"),
        (("pack", examples.hello, "-o", f"oci:{out}:v1", "--sign", key, "--sbom"),
         {"COSIGN_PASSWORD": "wrong"}, 1, str(key)),
        (("copy", "--all", f"oci:{out}:v1", f"oci:{out}2:v1", "--sign", key, "--sbom"),
         PASSWORD, 2, "not --all"),
        (("build", "--preset", "static", "-o", f"docker-archive:{out}.tar", "--provenance"),
         PASSWORD, 2, "need --sign KEY"),
    ]  # fmt: skip
    for args, env, code, fragment in cases:
        result = run_cli(*args, env=env)
        assert_clean_error(result, code, fragment)
        assert not out.exists() and not Path(f"{out}.tar").exists()


def test_copy_signs_the_destination(
    examples: Examples, registry: str, unique_name: str, tmp_path: Path,
    keypair: tuple[Path, Path],
) -> None:  # fmt: skip
    key, pub = keypair
    source = f"oci:{tmp_path / 'src'}:v1"
    digest = _ok("pack", examples.hello, "-o", source, "--sign", key, "--sbom")["digest"]
    image = f"docker://{registry}/{unique_name}:v1"
    # the source's signature and SBOM come along (--with-signatures), this copy's are added
    copied = _ok("copy", source, image, NO_TLS, "--with-signatures", "--sign", key,
                 "--provenance")  # fmt: skip
    assert copied["manifest_digest"] == digest and copied["signing"]["attestations"] == [
        statement.SLSA_V1
    ]
    _verified(image, pub)
    assert _statement(image, pub, "cyclonedx")["subject"][0]["name"] == "src"  # the source's
    provenance = _statement(image, pub, "slsaprovenance1")
    assert provenance["subject"][0]["name"] == f"{registry}/{unique_name}"
    definition = provenance["predicate"]["buildDefinition"]
    assert definition["buildType"].endswith("/buildtypes/copy/v1")
    assert definition["resolvedDependencies"] == [
        {"name": source, "uri": source, "digest": {"sha256": digest.removeprefix("sha256:")}}
    ]


def test_build_and_pack_on_it_list_packages_and_base(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    base = f"oci:{tmp_path / 'base'}:latest"
    lock = tmp_path / "base.lock.json"
    built = _ok("build", "--preset", "base", "-o", base, "--lock", lock, "--sign", key,
                "--sbom", "--provenance", env={**XDG, **EPOCH})  # fmt: skip
    _verified(base, pub)
    locked = json.loads(lock.read_text())["packages"]
    provenance = _statement(base, pub, "slsaprovenance1")
    assert provenance["predicate"]["buildDefinition"]["buildType"].endswith("/build/v1")
    inputs = _inputs(provenance)
    for package in locked:
        found = inputs[package["name"]]
        assert found["digest"] == {"sha256": package["sha256"]}
        assert found["uri"] == (
            f"pkg:deb/debian/{package['name']}@{package['version']}?arch={package['architecture']}"
        )
        assert found["downloadLocation"] == package["url"]
    sbom = _statement(base, pub, "cyclonedx")
    assert {c["name"] for c in sbom["predicate"]["components"]} == {p["name"] for p in locked}

    # pack onto it: the base is an input by the manifest digest its layers came from
    image = f"oci:{tmp_path / 'app'}:v1"
    _ok("pack", examples.hello, "--base", base, "-o", image, "--sign", key, "--provenance")
    inputs = _inputs(_statement(image, pub, "slsaprovenance1"))
    assert inputs[base]["digest"] == {"sha256": built["digest"].removeprefix("sha256:")}
    assert inputs["/usr/local/bin/hello"]["digest"] == {"sha256": _sha256(examples.hello)}

    # a dynamic binary's libraries --from it: the image by digest, its files by their paths
    # in it (the scratch directory they were unpacked in means nothing to a reader)
    image = f"oci:{tmp_path / 'dyn'}:v1"
    _ok("pack", examples.dynamic, "--from", base, "-o", image, "--sign", key, "--provenance")
    inputs = _inputs(_statement(image, pub, "slsaprovenance1"))
    assert inputs[base]["digest"] == {"sha256": built["digest"].removeprefix("sha256:")}
    [libc] = [i for name, i in inputs.items() if name.endswith("/libc.so.6")]
    assert "uri" not in libc and len(libc["digest"]["sha256"]) == 64


def test_in_toto_bindings_parse_our_statement_and_slsa_predicate(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    """in-toto-attestation (the in-toto project's Python bindings, generated from the same
    protos cosign parses ``slsaprovenance1`` with, strictly: an unknown field is an error)
    reads our statement and SLSA v1 predicate, and their own validate() accepts them."""
    try:
        from google.protobuf import json_format
        from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
        from in_toto_attestation.v1 import statement_pb2
        from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
        from in_toto_attestation.v1.statement import Statement
    except ImportError:
        unavailable("in-toto-attestation is not installed (requirements-dev.lock)")
    key, pub = keypair
    image = f"oci:{tmp_path / 'app'}:v1"
    _ok("pack", examples.dynamic, "-o", image, "--sign", key, "--provenance", "--sbom",
        "--add", f"{examples.hello}:/opt/hello")  # fmt: skip
    for kind in ("slsaprovenance1", "cyclonedx"):
        found = _statement(image, pub, kind)
        parsed = json_format.ParseDict(found, statement_pb2.Statement())
        Statement.copy_from_pb(parsed).validate()
        assert parsed.subject[0].digest["sha256"] == found["subject"][0]["digest"]["sha256"]
    provenance = _statement(image, pub, "slsaprovenance1")["predicate"]
    typed = json_format.ParseDict(provenance, provenance_pb2.Provenance())
    assert typed.run_details.metadata.started_on.seconds > 0  # times as Timestamps
    assert typed.build_definition.build_type.endswith("/buildtypes/pack/v1")
    names = []
    for dependency in typed.build_definition.resolved_dependencies:
        ResourceDescriptor.copy_from_pb(dependency).validate()
        names.append(dependency.name)
    assert f"/usr/local/bin/{examples.dynamic.name}" in names and "/opt/hello" in names


def test_untagged_layout_output_in_a_shared_layout(
    examples: Examples, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    """``-o oci:DIR`` writes the tag ``latest``: that is what is read back and signed, even
    when the layout holds other images (whose tags would make ``oci:DIR`` ambiguous)."""
    key, pub = keypair
    layout = tmp_path / "shared"
    _ok("pack", examples.httpd, "-o", f"oci:{layout}:other", "--sign", key, "--sbom")
    _ok("pack", examples.hello, "-o", f"oci:{layout}", "--sign", key, "--sbom")
    _verified(f"oci:{layout}:latest", pub)
    sbom = _statement(f"oci:{layout}:latest", pub, "cyclonedx")
    other = _statement(f"oci:{layout}:other", pub, "cyclonedx")
    assert sbom["subject"] != other["subject"]
