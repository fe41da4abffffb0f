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

# The same patterns over bytes, for file contents (one pass of the combined expression finds
# whether anything matches; the named patterns then say what).
SECRET_BYTES: tuple[tuple[str, re.Pattern[bytes]], ...] = tuple(
    (what, re.compile(pattern.pattern.encode())) for what, pattern in SECRET_VALUES
)
ANY_SECRET_BYTES = re.compile(b"|".join(b"(?:" + p.pattern + b")" for _, p in SECRET_BYTES))


def secret_in_text(text: str) -> str | None:
    """What kind of credential ``text`` holds, or None."""
    for what, pattern in SECRET_VALUES:
        if pattern.search(text):
            return what
    return None


def secret_in_bytes(data: bytes) -> str | None:
    if ANY_SECRET_BYTES.search(data) is None:
        return None
    for what, pattern in SECRET_BYTES:
        if pattern.search(data):
            return what
    return None
