"""Flags users already know (issue 14, item 5), each run through the real CLI and, where the
tool is here, checked against skopeo doing the same: --src-/--dest-creds and -tls-verify,
--authfile and REGISTRY_AUTH_FILE, --digestfile, syft's -o, one threshold flag for lint and
audit, -q, --tls-verify never swallowing the image, and --platform the image lacks."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultproxy import FaultProxy
from helpers import Examples, assert_clean_error, run_cli
from realtools import CACHE, Runner
from registryserver import PASSWORD, USER, htpasswd_yaml, non_loopback_address, running_registry

CREDS = f"{USER}:{PASSWORD}"


@pytest.fixture(scope="module")
def pushed(registry: str, layout: Path) -> str:
    """The layout on the shared test registry: ``HOST/REPO:v1``."""
    reference = f"{registry}/flags/{uuid.uuid4().hex[:12]}:v1"
    result = run_cli("copy", f"oci:{layout}:v1", f"docker://{reference}")
    assert result.code == 0, result.stderr
    return reference


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("basic-registry")
    with running_registry(root, htpasswd_yaml(root)) as address:
        yield address


@pytest.fixture
def no_creds(tmp_path: Path) -> dict[str, str]:
    """No credentials from the machine: only what the test gives counts."""
    return {"DOCKER_CONFIG": str(tmp_path / "no-docker"), "REGISTRY_AUTH_FILE": ""}


def _auth_json(path: Path, host: str) -> Path:
    token = base64.b64encode(CREDS.encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


# -- --tls-verify takes a boolean or nothing, never the image -------------------------------


def test_tls_verify_never_swallows_the_image(pushed: str, skopeo: Runner) -> None:
    expected = skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                      f"docker://{pushed}").stdout.decode().strip()  # fmt: skip
    for flags in (
        ["--tls-verify"],
        ["--tls-verify=false"],
        ["--tls-verify", "false"],
        ["--tls-verify", "true"],
        ["--tls-verify", "0"],
    ):
        result = run_cli("digest", *flags, f"docker://{pushed}")
        assert result.code == 0, (flags, result.stderr)
        assert result.stdout.strip() == expected, flags
    # the flag last, with nothing after it: true
    assert run_cli("digest", f"docker://{pushed}", "--tls-verify").stdout.strip() == expected
    # a bad value after = is still an error naming it, not a silent true
    bad = run_cli("digest", "--tls-verify=maybe", f"docker://{pushed}")
    assert_clean_error(bad, 2, "expected true or false")
    # and on copy, two positionals after the flag both stay positionals
    copied = run_cli("copy", "--tls-verify", f"docker://{pushed}", f"docker://{pushed}-again")
    assert copied.code == 0, copied.stderr


def test_login_tls_verify_keeps_the_registry(basic_registry: str, tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    login = run_cli(
        "login", "--tls-verify", basic_registry, "-u", USER, "--password-stdin",
        "--authfile", auth, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert login.code == 0, login.stderr
    assert basic_registry in json.loads(auth.read_text())["auths"]


def test_lint_and_init_tls_verify_keep_their_argument(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY app /app\n")
    linted = run_cli("lint", "--no-shellcheck", "--tls-verify", dockerfile)
    assert linted.code in (0, 1) and linted.stderr == "", linted.stderr
    assert f"{dockerfile}:1: SP" in linted.stdout  # the file was linted
    project = tmp_path / "project"
    project.mkdir()
    (project / "go.mod").write_text("module example.com/app\n\ngo 1.19\n")
    (project / "main.go").write_text("package main\n\nfunc main() {}\n")
    made = run_cli("init", "--no-pin", "--stdout", "--tls-verify", project)
    assert made.code == 0, made.stderr
    assert "FROM scratch" in made.stdout


# -- --src-* / --dest-* ------------------------------------------------------------------------


def test_src_and_dest_creds_apply_to_their_side(
    basic_registry: str, registry: str, layout: Path, no_creds: dict[str, str], skopeo: Runner,
    tmp_path: Path,
) -> None:  # fmt: skip
    private = f"docker://{basic_registry}/side/app:v1"
    assert run_cli("copy", f"oci:{layout}:v1", private, "--dest-creds", CREDS,
                   env=no_creds).code == 0  # fmt: skip
    public = f"docker://{registry}/side/{uuid.uuid4().hex[:12]}:v1"
    # the destination's credentials do not go to the source
    wrong_side = run_cli("copy", private, public, "--dest-creds", CREDS, env=no_creds)
    assert_clean_error(wrong_side, 1, "requires authentication")
    ours = run_cli(
        "copy", private, public, "--src-creds", CREDS, "--digestfile", tmp_path / "ours",
        env=no_creds,
    )  # fmt: skip
    assert ours.code == 0, ours.stderr
    # skopeo with the same flags copies the same manifest
    theirs = skopeo(
        "copy", "-q", "--src-creds", CREDS, "--src-tls-verify=false", "--dest-tls-verify=false",
        "--digestfile", str(tmp_path / "theirs"), private, f"{public}-skopeo",
    )  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr
    assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes()
    # --src-creds wins over --creds for the source; a wrong one fails
    refused = run_cli("copy", private, public, "--creds", CREDS, "--src-creds", "alice:no",
                      env=no_creds)  # fmt: skip
    assert_clean_error(refused, 1, "invalid username or password")


def test_src_and_dest_tls_verify_apply_to_their_side(
    registry: str, pushed: str, tmp_path: Path, skopeo: Runner
) -> None:
    """A plain-HTTP registry on a non-loopback address needs --tls-verify=false; the flag for
    the other side does not count."""
    repository = pushed.split("/", 1)[1]
    with FaultProxy(registry, bind=non_loopback_address()) as plain:
        source = f"docker://{plain.address}/{repository}"
        refused = run_cli("copy", source, f"oci:{tmp_path / 'a'}:v1", "--dest-tls-verify=false")
        assert_clean_error(refused, 1, "--tls-verify=false")
        ours = run_cli(
            "copy", "--src-tls-verify", "false", source, f"oci:{tmp_path / 'b'}:v1",
            "--digestfile", tmp_path / "ours",
        )  # fmt: skip
        assert ours.code == 0, ours.stderr
        # skopeo 1.9 cannot read OCI manifests through this proxy (its Accept headers): the
        # same image straight from the registry, with the same flag
        theirs = skopeo("copy", "-q", "--src-tls-verify=false", "--digestfile",
                        str(tmp_path / "theirs"), f"docker://{pushed}",
                        f"oci:{tmp_path / 'c'}:v1")  # fmt: skip
        assert theirs.returncode == 0, theirs.stderr
        assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes()
        # and pushing to it: --dest-tls-verify=false, while --src-tls-verify=false is no help
        dest = f"docker://{plain.address}/flags/pushed-{uuid.uuid4().hex[:8]}:v1"
        wrong = run_cli("copy", f"oci:{tmp_path / 'b'}:v1", dest, "--src-tls-verify=false")
        assert_clean_error(wrong, 1, "--tls-verify=false")
        right = run_cli("copy", f"oci:{tmp_path / 'b'}:v1", dest, "--dest-tls-verify=false")
        assert right.code == 0, right.stderr


# -- --authfile and REGISTRY_AUTH_FILE ------------------------------------------------------


def test_authfile_on_reading_commands_copy_login_logout(
    basic_registry: str, layout: Path, no_creds: dict[str, str], tmp_path: Path, skopeo: Runner
) -> None:
    auth = _auth_json(tmp_path / "auth.json", basic_registry)
    image = f"docker://{basic_registry}/authfile/app:v1"
    anonymous = run_cli("copy", f"oci:{layout}:v1", image, env=no_creds)
    assert_clean_error(anonymous, 1, "requires authentication")
    assert run_cli("copy", f"oci:{layout}:v1", image, "--authfile", auth, env=no_creds).code == 0
    # every command that reads a registry takes it
    for argv in (
        ["inspect", image], ["digest", image], ["tags", f"docker://{basic_registry}/authfile/app"],
        ["audit", image, "-q"], ["sbom", image, "-o", f"json={tmp_path / 's.json'}"],
        ["compare", image, image],
    ):  # fmt: skip
        denied = run_cli(*argv, env=no_creds)
        assert denied.code != 0, argv
        allowed = run_cli(*argv, "--authfile", auth, env=no_creds)
        assert allowed.code == 0, (argv, allowed.stderr)
    # REGISTRY_AUTH_FILE, as skopeo and podman read it, does the same
    env = {**no_creds, "REGISTRY_AUTH_FILE": str(auth)}
    assert run_cli("digest", image, env=env).code == 0
    ours = run_cli("digest", image, "--authfile", auth, env=no_creds).stdout.strip()
    theirs = skopeo("inspect", "--tls-verify=false", "--authfile", str(auth), "--format",
                    "{{.Digest}}", image).stdout.decode().strip()  # fmt: skip
    assert ours == theirs
    # login writes the file --authfile names (not Docker's config), logout empties it
    written = tmp_path / "login.json"
    login = run_cli("login", basic_registry, "-u", USER, "--password-stdin", "--authfile",
                    written, env=no_creds, stdin=PASSWORD + "\n")  # fmt: skip
    assert login.code == 0, login.stderr
    assert str(written) in login.stdout
    assert not (tmp_path / "no-docker").exists()
    assert run_cli("digest", image, "--authfile", written, env=no_creds).code == 0
    # skopeo reads the file we wrote
    assert skopeo("inspect", "--tls-verify=false", "--authfile", str(written),
                  image, check=False).returncode == 0  # fmt: skip
    logout = run_cli("logout", basic_registry, "--authfile", written, env=no_creds)
    assert logout.code == 0, logout.stderr
    assert json.loads(written.read_text())["auths"] == {}
    assert run_cli("digest", image, "--authfile", written, env=no_creds).code != 0


def test_authfile_that_is_not_json_is_one_clear_line(
    basic_registry: str, no_creds: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run_cli("digest", f"docker://{basic_registry}/x/y:v1", "--authfile", broken,
                     env=no_creds)  # fmt: skip
    assert_clean_error(result, 1, "cannot read credentials", str(broken))


# -- --digestfile ------------------------------------------------------------------------------


def test_digestfile_matches_skopeo(
    examples: Examples, layout: Path, registry: str, tmp_path: Path, skopeo: Runner
) -> None:
    packed = run_cli("pack", examples.hello, "-o", f"oci:{tmp_path / 'p'}:v1", "-q",
                     "--digestfile", tmp_path / "pack.digest")  # fmt: skip
    assert packed.code == 0 and packed.stdout == "", packed.stderr
    manifest = skopeo("inspect", "--format", "{{.Digest}}",
                      f"oci:{tmp_path / 'p'}:v1").stdout.decode().strip()  # fmt: skip
    assert (tmp_path / "pack.digest").read_text() == manifest  # no newline, as skopeo's
    dest = f"docker://{registry}/flags/digestfile-{uuid.uuid4().hex[:8]}:v1"
    ours = run_cli("copy", f"oci:{layout}:v1", dest, "--digestfile", tmp_path / "ours", "-q")
    assert ours.code == 0 and ours.stdout == "", ours.stderr
    theirs = skopeo("copy", "-q", "--dest-tls-verify=false", "--digestfile",
                    str(tmp_path / "theirs"), f"oci:{layout}:v1", f"{dest}-skopeo")  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr
    assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes()
    # a copy that fails writes no digest file
    failed = run_cli("copy", f"oci:{tmp_path / 'missing'}:v1", f"oci:{tmp_path / 'x'}:v1",
                     "--digestfile", tmp_path / "none")  # fmt: skip
    assert failed.code != 0
    assert not (tmp_path / "none").exists()


# -- sbom -o as syft ---------------------------------------------------------------------------


def test_sbom_outputs_as_syft(layout: Path, tmp_path: Path) -> None:
    image = f"oci:{layout}:v1"
    to_stdout = run_cli("sbom", image, "-o", "spdx-json", cwd=tmp_path)
    assert to_stdout.code == 0, to_stdout.stderr
    assert to_stdout.json()["spdxVersion"] == "SPDX-2.3"
    assert not (tmp_path / "spdx-json").exists()  # the old bug: a file named after the format
    many = run_cli(
        "sbom", image, "-o", "cyclonedx-json=c.json", "-o", "spdx-json=s.json", "-o", "text",
        cwd=tmp_path,
    )  # fmt: skip
    assert many.code == 0, many.stderr
    assert json.loads((tmp_path / "c.json").read_text())["bomFormat"] == "CycloneDX"
    assert json.loads((tmp_path / "s.json").read_text())["spdxVersion"] == "SPDX-2.3"
    assert not many.stdout.lstrip().startswith("{")  # text went to stdout
    # the old spelling: -o PATH writes --format's format there
    old = run_cli("sbom", image, "--format", "spdx", "-o", "old.json", cwd=tmp_path)
    assert old.code == 0, old.stderr
    assert json.loads((tmp_path / "old.json").read_text())["spdxVersion"] == "SPDX-2.3"


@pytest.mark.parametrize(
    ("outputs", "fragment"),
    [
        (["cyclonedx-jsn"], "not a format"),
        (["xml=out.xml"], "unknown format 'xml'"),
        (["spdx-json="], "give the file"),
        (["spdx-json", "text"], "only one -o FORMAT can go to standard output"),
        (["json=a.json", "text=a.json"], "the same file twice"),
    ],
)
def test_sbom_output_mistakes_are_usage_errors_before_any_work(
    tmp_path: Path, outputs: list[str], fragment: str
) -> None:
    flags = [word for item in outputs for word in ("-o", item)]
    # the image does not exist: the -o error must come first, and nothing is written
    result = run_cli("sbom", f"oci:{tmp_path / 'absent'}:v1", *flags, cwd=tmp_path)
    assert_clean_error(result, 2, fragment)
    assert list(tmp_path.iterdir()) == []


def test_sbom_format_given_twice_is_refused(layout: Path, tmp_path: Path) -> None:
    result = run_cli("sbom", f"oci:{layout}:v1", "--format", "spdx", "-o", "cyclonedx-json")
    assert_clean_error(result, 2, "give the format once")


# -- one threshold flag for lint and audit --------------------------------------------------


def test_one_threshold_flag_for_lint_and_audit(layout: Path, tmp_path: Path) -> None:
    image = f"oci:{layout}:v1"
    findings = run_cli("audit", image, "--format", "json").json()["findings"]
    severities = {f["severity"] for f in findings}
    assert "info" in severities and not severities & {"critical", "error"}, severities
    for flag in ("-t", "--failure-threshold", "--fail-on"):
        assert run_cli("audit", image, flag, "error", "-q").code == 0, flag
        assert run_cli("audit", image, flag, "info", "-q").code == 1, flag
        assert run_cli("audit", image, flag, "style", "-q").code == 1, flag  # hadolint's name
    assert run_cli("audit", image, "-t", "none", "-q").code == 0
    bad = run_cli("audit", image, "-t", "loud")
    assert_clean_error(bad, 2, "invalid choice")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian:bookworm\nRUN apt-get update\n")
    for flag in ("-t", "--failure-threshold", "--fail-on"):
        strict = run_cli("lint", "--no-shellcheck", flag, "info", dockerfile)
        lax = run_cli("lint", "--no-shellcheck", flag, "none", dockerfile)
        assert (strict.code, lax.code) == (1, 0), (flag, strict.stdout, lax.stdout)


# -- -q means quiet ------------------------------------------------------------------------


def test_quiet_everywhere_it_is_offered(examples: Examples, layout: Path, tmp_path: Path) -> None:
    image = f"oci:{layout}:v1"
    for argv in (
        ["pack", examples.hello, "-o", f"oci:{tmp_path / 'q'}:v1"],
        ["copy", image, f"oci:{tmp_path / 'c'}:v1"],
        ["audit", image],
    ):
        loud = run_cli(*argv, "--force") if argv[0] != "audit" else run_cli(*argv)
        quiet = run_cli(*argv, "-q", "--force") if argv[0] != "audit" else run_cli(*argv, "-q")
        assert loud.stdout.strip(), argv
        assert (quiet.code, quiet.stdout, quiet.stderr) == (loud.code, "", ""), argv
    # --format json is what a script asked for: -q does not take it away
    data = run_cli("audit", image, "-q", "--format", "json")
    assert data.json()["image"] == image


def test_build_quiet(tmp_path: Path) -> None:
    """`build -q` prints nothing on success (the lock and the image are still written); a
    failing build still says why on stderr."""
    env = {"XDG_CACHE_HOME": str(CACHE / "xdg"), "SOURCE_DATE_EPOCH": "1700000000"}
    loud = run_cli("build", "--preset", "static", "-o", f"oci:{tmp_path / 'a'}:v1",
                   env=env, cwd=tmp_path)  # fmt: skip
    assert loud.code == 0, loud.stderr
    assert "Built oci:" in loud.stdout
    quiet = run_cli("build", "--preset", "static", "-o", f"oci:{tmp_path / 'b'}:v1", "-q",
                    "--locked", env=env, cwd=tmp_path)  # fmt: skip
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert (tmp_path / "b" / "index.json").exists()
    absent = tmp_path / "absent.json"
    failed = run_cli("build", "--preset", "static", "-o", f"oci:{tmp_path / 'c'}:v1", "-q",
                     "--locked", "--lock", absent, env=env, cwd=tmp_path)  # fmt: skip
    assert failed.code != 0 and failed.stdout == ""
    assert "scratchpack: error:" in failed.stderr


# -- --platform the image does not have -------------------------------------------------------


def test_missing_platform_is_an_error_listing_what_there_is(
    layout: Path, pushed: str, tmp_path: Path
) -> None:
    for argv in (
        ["inspect", f"oci:{layout}:v1"],
        ["inspect", f"docker://{pushed}"],
        ["audit", f"oci:{layout}:v1"],
        ["sbom", f"oci:{layout}:v1"],
        ["copy", f"oci:{layout}:v1", f"oci:{tmp_path / 'out'}:v1"],
        ["copy", f"docker://{pushed}", f"docker-archive:{tmp_path / 'a.tar'}"],
        ["digest", f"oci:{layout}:v1", "--image-id"],
    ):
        result = run_cli(*argv, "--platform", "linux/arm64")
        assert_clean_error(result, 2, "no image for linux/arm64", "available: linux/amd64")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "a.tar").exists()
    # the platform it has is fine
    assert run_cli("inspect", f"oci:{layout}:v1", "--platform", "linux/amd64").code == 0


def test_missing_platform_in_an_index(layout: Path, tmp_path: Path) -> None:
    """An index without the platform: exit 2 and the list of platforms it has."""
    index_dir = tmp_path / "index"
    shutil.copytree(layout, index_dir)
    idx = json.loads((index_dir / "index.json").read_text())
    entry = idx["manifests"][0]
    entry_platform = {"architecture": "amd64", "os": "linux"}
    nested = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{**{k: entry[k] for k in ("mediaType", "digest", "size")},
                       "platform": entry_platform}],
    }  # fmt: skip
    data = json.dumps(nested).encode()
    digest = hashlib.sha256(data).hexdigest()
    (index_dir / "blobs" / "sha256" / digest).write_bytes(data)
    entry.update(mediaType=nested["mediaType"], digest=f"sha256:{digest}", size=len(data))
    (index_dir / "index.json").write_text(json.dumps(idx))
    result = run_cli("inspect", f"oci:{index_dir}:v1", "--platform", "linux/s390x")
    assert_clean_error(result, 2, "no image for linux/s390x", "available: linux/amd64")
    assert run_cli("inspect", f"oci:{index_dir}:v1", "--platform", "linux/amd64").code == 0
