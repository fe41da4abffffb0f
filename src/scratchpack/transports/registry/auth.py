"""Registry credentials and authentication challenges.

Credentials are looked up the way Docker and skopeo do: an explicit ``--creds USER:PASS``,
then ``--authfile FILE`` (else ``REGISTRY_AUTH_FILE``, as skopeo and podman), then
``$DOCKER_CONFIG/config.json`` (``~/.docker/config.json``) with
its ``credHelpers`` (per registry), ``credsStore`` (default helper) and ``auths`` entries.
Helpers are the ``docker-credential-NAME`` programs of the credential-helper protocol.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import atomic_write, exclusive_lock, open_regular

if TYPE_CHECKING:
    import subprocess

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __post_init__(self) -> None:
        # a name or password from argv, stdin or a JSON "\\udcff" that is no UTF-8 text (a
        # lone surrogate) cannot be sent: "unexpected UnicodeEncodeError" at the first request
        for what, text in (("username", self.username), ("password", self.password)):
            try:
                text.encode()
            except UnicodeEncodeError:
                raise UsageError(f"the {what} is not valid UTF-8 text") from None

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


# A name starts only where no word character precedes it: without the look-behind, a 90 KB
# word with no ``=`` was tried from each of its characters, quadratic (20 KB took 4 s, and a
# hostile registry's 401 can carry 100 KB of header; red team 2026-12-03).
_PARAM_RE = re.compile(r'(?<!\w)(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
MAX_CHALLENGE = 16 << 10  # Docker Hub's is 150 bytes; the scope list of a big mount, a few kB


def parse_challenge(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` value (``Bearer realm="...",service="..."``); one
    longer than ``MAX_CHALLENGE`` keeps its scheme and no parameters (no realm to ask)."""
    header = header.strip()
    if not header:
        return None
    if len(header) > MAX_CHALLENGE:
        return Challenge(header.partition(" ")[0].lower()[:20], {})
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM_RE.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def _auth_file(auth_file: Path | None) -> Path | None:
    """``--authfile`` when given, else ``REGISTRY_AUTH_FILE`` (its default in skopeo and
    podman), else None."""
    if auth_file is not None:
        return auth_file
    from_env = os.environ.get("REGISTRY_AUTH_FILE")
    return Path(from_env) if from_env else None


def config_paths(auth_file: Path | None = None) -> list[Path]:
    """The files credentials are read from, in order: the auth file, then Docker's."""
    paths = []
    chosen = _auth_file(auth_file)
    if chosen is not None:
        paths.append(chosen)
    docker_config = os.environ.get("DOCKER_CONFIG")
    base = Path(docker_config) if docker_config else Path.home() / ".docker"
    paths.append(base / "config.json")
    return paths


MAX_CONFIG_BYTES = 16 << 20  # a config.json with hundreds of registries is a few kB


def _load(path: Path) -> dict[str, Any]:
    """The JSON object in a credentials file; {} when there is none. Read only if regular and
    bounded: ``REGISTRY_AUTH_FILE=/dev/zero`` read without end and a FIFO blocked ``login``
    for ever (and ``login`` would then have renamed its new file over the device)."""
    try:
        with open_regular(path) as stream:
            raw = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ScratchpackError(
            f"cannot read credentials from {path}: {exc.strerror or exc}"
        ) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ScratchpackError(
            f"cannot read credentials from {path}: larger than {MAX_CONFIG_BYTES >> 20} MiB"
        )
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ScratchpackError(f"cannot read credentials from {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _keys_for(host: str) -> tuple[str, ...]:
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        return DOCKER_HUB_KEYS
    return (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/")


def _helper_program(helper: str, host: str) -> str:
    """The helper's program on PATH. A name with a path separator (or empty, or a NUL) is
    refused: ``shutil.which`` would take ``docker-credential-x/../../bin/y`` as a path relative
    to the working directory, so a checkout's files could run as the "helper"."""
    if not helper or "/" in helper or "\\" in helper or "\0" in helper:
        raise ScratchpackError(
            f"credential helper name {helper!r} (configured for {host}) is not a program name"
        )
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise ScratchpackError(
            f"credential helper docker-credential-{helper} (configured for {host}) is not on PATH"
        )
    return program


def _run_helper(helper: str, host: str, action: str, data: str) -> subprocess.CompletedProcess[str]:
    """Run ``docker-credential-HELPER ACTION`` with ``data`` on stdin (the credential-helper
    protocol); a helper that cannot run or hangs is an error naming it, not a traceback."""
    import subprocess  # only for a credential helper: not part of every registry start-up

    program = _helper_program(helper, host)
    try:
        return subprocess.run(
            [program, action], input=data, capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ScratchpackError(f"docker-credential-{helper} {action} took more than 30 s") from exc
    except OSError as exc:
        raise ScratchpackError(
            f"cannot run docker-credential-{helper}: {exc.strerror or exc}"
        ) from exc


def _helper_said(proc: subprocess.CompletedProcess[str], secret: str = "") -> str:
    """What a failing helper said, one line: the protocol puts the message on stdout; else
    the last line of its stderr (a crash's last line names the exception). A secret it
    echoes is masked."""
    lines = [line.strip() for line in (proc.stderr or "").splitlines() if line.strip()]
    text = " ".join(proc.stdout.split()) or (lines[-1] if lines else "")
    if secret:
        text = text.replace(secret, "***")
    return text[:200] or f"exit status {proc.returncode}"


def _from_helper(helper: str, host: str) -> Credentials | None:
    for key in _keys_for(host):
        proc = _run_helper(helper, host, "get", key)
        if proc.returncode == 0:
            try:
                data = json.loads(proc.stdout)
                return Credentials(str(data["Username"]), str(data["Secret"]))
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise ScratchpackError(
                    f"docker-credential-{helper} returned malformed credentials for {host}"
                ) from exc
    return None


def _from_auths(auths: Any, host: str) -> Credentials | None:
    if not isinstance(auths, dict):  # a hand-edited file's "auths": [...]: no entries
        return None
    for key in _keys_for(host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, TypeError) as exc:  # not base64, not UTF-8, not a string
                raise ScratchpackError(f"malformed 'auth' entry for {key}") from exc
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None


def lookup(
    host: str, explicit: Credentials | None = None, auth_file: Path | None = None
) -> Credentials | None:
    """Credentials for ``host`` (a registry ``HOST[:PORT]``), or None for anonymous access."""
    if explicit is not None:
        return explicit
    for path in config_paths(auth_file):
        config = _load(path)
        helpers = config.get("credHelpers") or {}
        for key in _keys_for(host):
            if isinstance(helpers, dict) and key in helpers:
                if not helpers[key]:
                    # docker's getConfiguredCredentialStore: an empty helper means the
                    # file's own ``auths``, not the default store
                    return _from_auths(config.get("auths") or {}, host)
                return _from_helper(str(helpers[key]), host)
        # Docker's order: with a default store, its helper answers first (an ``auths`` entry
        # left from before the store was set up is stale); the file's own entry only when the
        # helper knows nothing of the host.
        if config.get("credsStore"):
            found = _from_helper(str(config["credsStore"]), host)
            if found:
                return found
        found = _from_auths(config.get("auths") or {}, host)
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


def login_path(auth_file: Path | None = None) -> Path:
    """The file ``login`` and ``logout`` change: ``--authfile``, else ``REGISTRY_AUTH_FILE``
    when set (as podman and skopeo do), else Docker's ``config.json``."""
    return config_paths(auth_file)[0]


def _store_key(host: str) -> str:
    return DOCKER_HUB_KEYS[0] if host == "docker.io" else host


def helper_for(config: dict[str, Any], host: str) -> str | None:
    """The credential helper ``config`` names for ``host``: its ``credHelpers`` entry, else
    the default ``credsStore``; None when passwords go in ``auths``."""
    helpers = config.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for key in _keys_for(host):
            if helpers.get(key):
                return str(helpers[key])
    store = config.get("credsStore")
    return str(store) if store else None


@contextmanager
def _locked_config(path: Path) -> Iterator[dict[str, Any]]:
    """The config at ``path`` under an exclusive lock on ``PATH.lock``, for read-modify-write:
    two logins at once must not lose each other's entries. The caller writes it back."""
    try:
        _private_directory(path.parent)
    except OSError as exc:
        raise ScratchpackError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
    with exclusive_lock(path.with_name(path.name + ".lock")):
        yield _load(path)


def _write_config(path: Path, config: dict[str, Any]) -> None:
    atomic_write(path, (json.dumps(config, indent=2) + "\n").encode(), 0o600)


def _drop_secrets(auths: Any, host: str) -> bool:
    """Remove every ``auths`` entry for ``host`` that holds a secret; True if any did."""
    if not isinstance(auths, dict):
        return False
    dropped = False
    for key in _keys_for(host):
        entry = auths.get(key)
        if isinstance(entry, dict) and (entry.get("auth") or entry.get("password")):
            del auths[key]
            dropped = True
    return dropped


def store(host: str, credentials: Credentials, auth_file: Path | None = None) -> Path:
    """Save credentials as Docker does without a helper (``auths`` in config.json): the file
    0600 and a directory we create 0700, whatever the umask."""
    path = login_path(auth_file)
    with _locked_config(path) as config:
        auths = config.setdefault("auths", {})
        if not isinstance(auths, dict):  # rewriting it would lose what the user put there
            raise ScratchpackError(
                f'cannot save credentials in {path}: its "auths" is not an object'
            )
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode())
        auths[_store_key(host)] = {"auth": token.decode()}
        _write_config(path, config)
    return path


def save_login(host: str, credentials: Credentials, auth_file: Path | None = None) -> str:
    """Save credentials where the config says: through its credential helper's ``store``
    (the password never touches config.json, and an old copy there is removed), else in
    ``auths``. Returns where, for the user."""
    path = login_path(auth_file)
    helper = helper_for(_load(path), host)
    if helper is None:
        return str(store(host, credentials, path))
    payload = json.dumps(
        {
            "ServerURL": _store_key(host),
            "Username": credentials.username,
            "Secret": credentials.password,
        }
    )
    proc = _run_helper(helper, host, "store", payload)
    if proc.returncode != 0:
        raise ScratchpackError(
            f"docker-credential-{helper} could not store credentials for {host}: "
            f"{_helper_said(proc, credentials.password)}"
        )
    with _locked_config(path) as config:
        if _drop_secrets(config.get("auths"), host):
            _write_config(path, config)
    return f"docker-credential-{helper}"


def remove_login(host: str, auth_file: Path | None = None) -> str | None:
    """Forget ``host``'s credentials: the helper's ``erase`` and any ``auths`` entry with a
    secret. Returns where they were, or None when there were none."""
    path = login_path(auth_file)
    removed: list[str] = []
    helper = helper_for(_load(path), host)
    if helper is not None:
        for key in dict.fromkeys((_store_key(host), *_keys_for(host))):
            if _run_helper(helper, host, "get", key).returncode != 0:
                continue
            proc = _run_helper(helper, host, "erase", key)
            if proc.returncode != 0:
                raise ScratchpackError(
                    f"docker-credential-{helper} could not erase credentials for {host}: "
                    f"{_helper_said(proc)}"
                )
            if f"docker-credential-{helper}" not in removed:
                removed.append(f"docker-credential-{helper}")
    if path.exists():
        with _locked_config(path) as config:
            if _drop_secrets(config.get("auths"), host):
                _write_config(path, config)
                removed.append(str(path))
    return " and ".join(removed) or None
