"""Docker image references (``[HOST[:PORT]/]PATH[:TAG][@DIGEST]``), normalised as Docker does.

Follows the grammar of the distribution project's reference package: a domain is recognised
only if the first component contains a ``.`` or a ``:`` or is ``localhost``; otherwise the
name lives on Docker Hub and one-component names get the ``library/`` prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scratchpack.errors import ReferenceError_
from scratchpack.model.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN_RE = re.compile(
    r"^(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$"
)
MAX_NAME_LENGTH = 255


def valid_tag(tag: str) -> bool:
    return bool(_TAG_RE.match(tag))


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str, default_tag: bool = True) -> Reference:
        """Parse and normalise; a bare name gets ``:latest`` unless ``default_tag`` is off."""
        original = text
        if not text or text != text.strip():
            raise ReferenceError_(f"invalid image reference {original!r}: empty or padded")
        digest: Digest | None = None
        if "@" in text:
            text, _, digest_text = text.partition("@")
            try:
                digest = Digest.parse(digest_text)
            except Exception:
                raise ReferenceError_(
                    f"invalid image reference {original!r}: bad digest {digest_text!r}"
                ) from None
        tag: str | None = None
        last_slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > last_slash:
            text, tag = text[:colon], text[colon + 1 :]
            if not valid_tag(tag):
                raise ReferenceError_(f"invalid image reference {original!r}: bad tag {tag!r}")
        domain, path = _split_domain(text)
        if not domain or not _DOMAIN_RE.match(domain):
            raise ReferenceError_(f"invalid image reference {original!r}: bad registry {domain!r}")
        if not _valid_port(domain):
            raise ReferenceError_(
                f"invalid image reference {original!r}: port of {domain!r} not in 1-65535"
            )
        if path != path.lower() and not _PATH_RE.match(path):
            raise ReferenceError_(
                f"invalid image reference {original!r}: repository names must be lowercase"
            )
        if not _PATH_RE.match(path):
            raise ReferenceError_(f"invalid image reference {original!r}: bad repository {path!r}")
        if len(domain) + 1 + len(path) > MAX_NAME_LENGTH:
            raise ReferenceError_(f"invalid image reference {original!r}: name too long")
        if tag is None and digest is None and default_tag:
            tag = DEFAULT_TAG
        return cls(domain, path, tag, digest)

    @property
    def name(self) -> str:
        """Fully qualified repository name, e.g. ``docker.io/library/alpine``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """Short name as ``docker images`` shows it, e.g. ``alpine``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix("library/")
        return self.name

    def _with_tag_and_digest(self, name: str) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{name}{tag}{digest}"

    def __str__(self) -> str:
        return self._with_tag_and_digest(self.name)

    def familiar(self) -> str:
        """The short form ``docker images`` shows, e.g. ``alpine:3.21``."""
        return self._with_tag_and_digest(self.familiar_name)


def _valid_port(domain: str) -> bool:
    """A ``:PORT`` the grammar admits is any digit run; a socket takes 1-65535 only, so a
    larger or zero port is refused here rather than as an obscure error at connect time."""
    host_end = domain.rfind("]")
    colon = domain.rfind(":")
    if colon <= host_end:
        return True
    port = domain[colon + 1 :]
    return len(port) <= 5 and 0 < int(port) <= 65535


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return domain, path
