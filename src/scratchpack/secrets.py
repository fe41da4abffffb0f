"""What a credential looks like, by name and by value.

Shared by ``lint`` (ENV, ARG and RUN lines of a Dockerfile) and ``audit`` (file contents,
environment variables and history of a built image), so both tools agree on what a secret is.
"""

from __future__ import annotations

import re

# A variable name that announces a secret (PASSWORD, API_KEY, ...).
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASS$|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?)", re.I
)

# (what, pattern) for values that are credentials whatever they are called.
SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("a Slack token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b")),
    ("a Stripe key", re.compile(r"\b[rs]k_live_[A-Za-z0-9]{16,}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@$]+@")),
)

# The same patterns over bytes, for file contents. Each has literal anchors that any match
# contains: bytes.find skips through megabytes of binaries at memchr speed, and the expression
# runs only on a window around each anchor (a regular expression over every file of an image
# was 10 s for a Debian base; this is a few hundred ms).
_ANCHORS: dict[str, tuple[bytes, ...]] = {
    "an AWS access key": (b"AKIA", b"ASIA"),
    "a GitHub token": (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
    "a GitLab token": (b"glpat-",),
    "a Slack token": (b"xoxb-", b"xoxa-", b"xoxp-", b"xoxr-", b"xoxs-"),
    "a Stripe key": (b"k_live_",),
    "a Google API key": (b"AIza",),
    "a private key": (b"PRIVATE KEY-----",),
    "a password in a URL": (b"://",),
}
SECRET_BYTES: tuple[tuple[str, tuple[bytes, ...], re.Pattern[bytes]], ...] = tuple(
    (what, _ANCHORS[what], re.compile(pattern.pattern.encode())) for what, pattern in SECRET_VALUES
)
_BEFORE, _AFTER, _MAX_ANCHORS = 64, 512, 256


def secret_in_text(text: str) -> str | None:
    """What kind of credential ``text`` holds, or None."""
    for what, pattern in SECRET_VALUES:
        if pattern.search(text):
            return what
    return None


def secret_in_bytes(data: bytes) -> str | None:
    """What kind of credential ``data`` holds, or None (looked for around each anchor, at most
    256 anchors of a kind per file)."""
    for what, anchors, pattern in SECRET_BYTES:
        for anchor in anchors:
            at, seen = data.find(anchor), 0
            while at != -1 and seen < _MAX_ANCHORS:
                if pattern.search(data, max(0, at - _BEFORE), at + len(anchor) + _AFTER):
                    return what
                at, seen = data.find(anchor, at + 1), seen + 1
    return None
