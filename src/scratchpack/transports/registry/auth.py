"""Registry credentials and authentication challenges.

Credentials are looked up the way Docker and skopeo do: an explicit ``--creds USER:PASS``,
then ``REGISTRY_AUTH_FILE``, then ``$DOCKER_CONFIG/config.json`` (``~/.docker/config.json``) with
its ``credHelpers`` (per registry), ``credsStore`` (default helper) and ``auths`` entries.
Helpers are the ``docker-credential-NAME`` programs of the credential-helper protocol.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import atomic_write

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    @classmethod
    def parse(cls, text: str) -> Credentials:
        user, sep, password = text.partition(":")
        if not sep or not user:
            raise UsageError("--creds must be USER:PASSWORD")
        return cls(user, password)

    def basic_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str]


_PARAM_RE = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` value (``Bearer realm="...",service="..."``)."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM_RE.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def config_paths() -> list[Path]:
    paths = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    docker_config = os.environ.get("DOCKER_CONFIG")
    base = Path(docker_config) if docker_config else Path.home() / ".docker"
    paths.append(base / "config.json")
    return paths


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ScratchpackError(f"cannot read credentials from {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _keys_for(host: str) -> tuple[str, ...]:
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        return DOCKER_HUB_KEYS
    return (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/")


def _from_helper(helper: str, host: str) -> Credentials | None:
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise ScratchpackError(
            f"credential helper docker-credential-{helper} (configured for {host}) is not on PATH"
        )
    for key in _keys_for(host):
        proc = subprocess.run(
            [program, "get"], input=key, capture_output=True, text=True, timeout=30, check=False
        )
        if proc.returncode == 0:
            try:
                data = json.loads(proc.stdout)
                return Credentials(str(data["Username"]), str(data["Secret"]))
            except (ValueError, KeyError) as exc:
                raise ScratchpackError(
                    f"docker-credential-{helper} returned malformed credentials for {host}"
                ) from exc
    return None


def _from_auths(auths: dict[str, Any], host: str) -> Credentials | None:
    for key in _keys_for(host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise ScratchpackError(f"malformed 'auth' entry for {key}") from exc
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None


def lookup(host: str, explicit: Credentials | None = None) -> Credentials | None:
    """Credentials for ``host`` (a registry ``HOST[:PORT]``), or None for anonymous access."""
    if explicit is not None:
        return explicit
    for path in config_paths():
        config = _load(path)
        helpers = config.get("credHelpers") or {}
        for key in _keys_for(host):
            if isinstance(helpers, dict) and key in helpers:
                return _from_helper(str(helpers[key]), host)
        found = _from_auths(config.get("auths") or {}, host)
        if found:
            return found
        if config.get("credsStore"):
            found = _from_helper(str(config["credsStore"]), host)
            if found:
                return found
    return None


def _private_directory(directory: Path) -> None:
    """Create ``directory`` and any missing parents as 0700 whatever the umask (``mkdir -p``
    would make the parents 0777 under umask 000); an existing directory is left alone."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        path.chmod(0o700)


def store(host: str, credentials: Credentials) -> Path:
    """Save credentials as Docker does without a helper (``auths`` in config.json): the file
    0600 and a directory we create 0700, whatever the umask."""
    path = config_paths()[0] if os.environ.get("REGISTRY_AUTH_FILE") else config_paths()[-1]
    try:
        _private_directory(path.parent)
    except OSError as exc:
        raise ScratchpackError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
    config = _load(path)
    auths = config.setdefault("auths", {})
    key = DOCKER_HUB_KEYS[0] if host == "docker.io" else host
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    auths[key] = {"auth": token}
    atomic_write(path, (json.dumps(config, indent=2) + "\n").encode(), 0o600)
    return path
