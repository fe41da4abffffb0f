"""``pack DIR --sign --provenance``: the SLSA provenance of a Python or Node project lists what
went in, with digests checked here against independent sources: the runtime's Debian packages
(the sha256 of each ``.deb`` in the download cache), the wheels (the hash ``requirements.txt``
pins, which pip enforced), the npm packages (npm's own content cache, addressed by the
integrity), and the project's lock file. The parsers of pip's report and of package-lock.json
are tested on what is hostile or odd too."""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import COSIGN_PASSWORD, run_cli
from realtools import CACHE, need
from scratchpack.errors import ScratchpackError
from scratchpack.model.digest import Digest
from scratchpack.operations.provenance import npm_inputs, wheel_inputs

NODE_APP = Path(__file__).parent / "data" / "apps" / "node-app"
XDG = CACHE / "xdg"
ENV = {"XDG_CACHE_HOME": str(XDG), "SOURCE_DATE_EPOCH": "1700000000", **COSIGN_PASSWORD}
SIX_SHA256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"  # PyPI's


def _sri(data: bytes, algorithm: str = "sha512") -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def test_npm_inputs_from_a_lock(tmp_path: Path) -> None:
    lock = tmp_path / "package-lock.json"
    packages = {
        "": {"name": "app", "version": "1.0.0"},
        "node_modules/express": {"version": "4.19.2", "resolved": "https://r/express.tgz",
                                 "integrity": _sri(b"express")},
        "node_modules/@scope/pkg": {"version": "2.0.0", "integrity": _sri(b"scoped", "sha256")},
        "node_modules/a/node_modules/b": {"version": "0.1.0",
                                          "integrity": f"sha1-AAAA {_sri(b'b')}"},
        "node_modules/mocha": {"version": "10.0.0", "dev": True, "integrity": _sri(b"m")},
        "node_modules/linked": {"resolved": "../linked", "link": True},
        "node_modules/old": {"version": "0.0.1", "integrity": "sha1-" + "A" * 27 + "="},
        "node_modules/broken": {"version": "1.0.0", "integrity": "sha512-not*base64"},
        "node_modules/noversion": {"integrity": _sri(b"x")},
    }  # fmt: skip
    lock.write_text(json.dumps({"lockfileVersion": 3, "packages": packages}))
    found = {i.name: i.to_json() for i in npm_inputs(lock)}
    assert sorted(found) == ["@scope/pkg@2.0.0", "b@0.1.0", "broken@1.0.0", "express@4.19.2",
                             "old@0.0.1"]  # fmt: skip
    assert found["express@4.19.2"] == {
        "name": "express@4.19.2",
        "uri": "pkg:npm/express@4.19.2",
        "digest": {"sha512": hashlib.sha512(b"express").hexdigest()},
        "downloadLocation": "https://r/express.tgz",
    }
    assert found["@scope/pkg@2.0.0"]["uri"] == "pkg:npm/%40scope/pkg@2.0.0"
    assert found["@scope/pkg@2.0.0"]["digest"] == {"sha256": hashlib.sha256(b"scoped").hexdigest()}
    assert found["b@0.1.0"]["digest"] == {"sha512": hashlib.sha512(b"b").hexdigest()}
    assert "digest" not in found["old@0.0.1"] and "digest" not in found["broken@1.0.0"]
    for junk in ("not json", "[]", '{"packages": []}', '{"packages": {"node_modules/x": 1}}'):
        lock.write_text(junk)
        if junk == "not json":
            with pytest.raises(ScratchpackError, match="cannot read"):
                npm_inputs(lock)
        else:
            assert npm_inputs(lock) == []


def test_wheel_inputs_from_pips_report(tmp_path: Path) -> None:
    built = tmp_path / "wheels" / "app-0.1.0-py3-none-any.whl"
    built.parent.mkdir()
    built.write_bytes(b"a wheel built here")
    report = {
        "version": "1",
        "install": [
            {"metadata": {"name": "Six", "version": "1.16.0"},
             "download_info": {"url": "https://files/six-1.16.0-py2.py3-none-any.whl",
                               "archive_info": {"hashes": {"sha256": SIX_SHA256.upper()}}}},
            {"metadata": {"name": "app", "version": "0.1.0"},
             "download_info": {"url": built.as_uri(), "archive_info": {}}},
            {"metadata": {"name": "odd"}, "download_info": {"url": "https://x/odd.whl"}},
            "junk",
            {"metadata": [], "download_info": {}},
        ],
    }  # fmt: skip
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    found = {i.name: i.to_json() for i in wheel_inputs([path])}
    assert sorted(found) == ["app-0.1.0-py3-none-any.whl", "six-1.16.0-py2.py3-none-any.whl"]
    six = found["six-1.16.0-py2.py3-none-any.whl"]
    assert six["digest"] == {"sha256": SIX_SHA256} and six["uri"] == "pkg:pypi/six@1.16.0"
    assert six["downloadLocation"].startswith("https://files/")
    app = found["app-0.1.0-py3-none-any.whl"]
    assert app["digest"] == {"sha256": hashlib.sha256(b"a wheel built here").hexdigest()}
    assert "downloadLocation" not in app  # the scratch path means nothing to a reader
    path.write_text("{truncated")
    with pytest.raises(ScratchpackError, match="cannot read pip's report"):
        wheel_inputs([path])


def _provenance(image: str, pub: Path) -> dict[str, dict[str, Any]]:
    result = run_cli("verify-attestation", image, "--key", pub, "--type", "slsaprovenance1")
    assert result.code == 0, result.stderr
    [line] = result.stdout.splitlines()
    deps = json.loads(line)["predicate"]["buildDefinition"]["resolvedDependencies"]
    names = [d["name"] for d in deps]
    assert len(names) == len(set(names)), "each input once"
    return {d["name"]: d for d in deps}


def _check_debs(inputs: dict[str, dict[str, Any]], *expected: str) -> None:
    """Each named package is an input whose digest is the sha256 of the .deb downloaded."""
    for name in expected:
        deb = inputs[name]
        assert deb["uri"].startswith(f"pkg:deb/debian/{name}@")
        hexdigest = deb["digest"]["sha256"]
        cached = XDG / "scratchpack" / "debian" / "by-hash" / hexdigest[:2] / hexdigest
        assert cached.is_file(), f"{name}: no .deb with that sha256 was downloaded"
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == hexdigest
        assert deb["downloadLocation"].endswith(".deb")


def test_python_project_provenance_lists_wheels_debs_and_lock(
    tmp_path: Path, keypair: tuple[Path, Path], tool_env: dict[str, str]
) -> None:
    key, pub = keypair
    project = tmp_path / "provapp"
    (project / "provapp").mkdir(parents=True)
    code = "import six\n\n\ndef main():\n    print(six.__version__)\n"
    (project / "provapp" / "__init__.py").write_text(code)
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "provapp"
        version = "0.1.0"
        dependencies = ["six==1.16.0"]

        [project.scripts]
        provapp = "provapp:main"
        """))  # fmt: skip
    (project / "requirements.txt").write_text(f"six==1.16.0 --hash=sha256:{SIX_SHA256}\n")
    image = f"oci:{tmp_path / 'layout'}:v1"
    result = run_cli("pack", project, "-o", image, "--sign", key, "--provenance",
                     env={**tool_env, **ENV})  # fmt: skip
    assert result.code == 0, result.stderr
    inputs = _provenance(image, pub)
    lock = inputs["requirements.txt"]
    assert lock["digest"] == {"sha256": hashlib.sha256(
        (project / "requirements.txt").read_bytes()).hexdigest()}  # fmt: skip
    six = inputs["six-1.16.0-py2.py3-none-any.whl"]
    assert six["digest"] == {"sha256": SIX_SHA256} and six["uri"] == "pkg:pypi/six@1.16.0"
    assert six["downloadLocation"].startswith("http")
    own = inputs["provapp-0.1.0-py3-none-any.whl"]
    assert own["uri"] == "pkg:pypi/provapp@0.1.0" and len(own["digest"]["sha256"]) == 64
    _check_debs(inputs, "python3.11-minimal", "libpython3.11-minimal", "libc6")


def test_node_project_provenance_lists_npm_packages_debs_and_lock(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    need("npm", "pack of a Node project runs npm ci")
    key, pub = keypair
    image = f"oci:{tmp_path / 'layout'}:v1"
    result = run_cli("pack", NODE_APP, "-o", image, "--sign", key, "--provenance", env=ENV)
    assert result.code == 0, result.stderr
    inputs = _provenance(image, pub)
    lock_path = NODE_APP / "package-lock.json"
    assert inputs["package-lock.json"]["digest"] == {
        "sha256": hashlib.sha256(lock_path.read_bytes()).hexdigest()
    }
    lock = json.loads(lock_path.read_text())["packages"]
    express = next(v for k, v in lock.items() if k == "node_modules/express")
    entry = inputs[f"express@{express['version']}"]
    assert entry["uri"] == f"pkg:npm/express@{express['version']}"
    sri = base64.b64decode(express["integrity"].removeprefix("sha512-")).hex()
    assert entry["digest"] == {"sha512": sri}
    assert entry.get("downloadLocation") == express.get("resolved")  # this lock records none
    # npm's content cache holds the tarball it installed at the path the digest names
    npm_content = XDG / "scratchpack" / "npm" / "_cacache" / "content-v2"
    checked = 0
    for name, dep in inputs.items():
        if not dep.get("uri", "").startswith("pkg:npm/"):
            continue
        [(algorithm, hexdigest)] = dep["digest"].items()
        tarball = npm_content / algorithm / hexdigest[:2] / hexdigest[2:4] / hexdigest[4:]
        assert tarball.is_file(), f"{name}: npm has no tarball of that integrity"
        assert str(Digest(algorithm, hashlib.new(algorithm, tarball.read_bytes()).hexdigest())) \
            == f"{algorithm}:{hexdigest}"  # fmt: skip
        checked += 1
    production = [k for k, v in lock.items() if k and not v.get("dev") and not v.get("link")]
    assert checked == len(production) > 0
    _check_debs(inputs, "nodejs", "libc6")
