"""What a credential looks like by its name, and by its value on one short line of text.

Shared by ``lint`` (ENV, ARG and RUN lines of a Dockerfile) and ``audit`` (an image config's
environment and history), so both tools agree on what a secret is. Apart from
:mod:`scratchpack.secrets` (file contents: keyword automaton, entropy, ~20 more expressions)
because lint, started once per file by pre-commit and editors, needs only these and should
not compile the others at every start (issue 13).
"""

from __future__ import annotations

import re

from scratchpack.lazyre import lazy

# A variable name that announces a secret (PASSWORD, API_KEY, ...).
SECRET_NAME = lazy(
    r"(PASSWORD|PASSWD|PASS$|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?)", re.I
)

# (what, pattern) for values that are credentials whatever they are called: one line of a
# Dockerfile or of an image's config, short text where a plain search is fast enough.
SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key", lazy(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", lazy(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a GitLab token", lazy(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("a Slack token", lazy(r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b")),
    ("a Stripe key", lazy(r"\b[rs]k_live_[A-Za-z0-9]{16,}\b")),
    ("a Google API key", lazy(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a private key", lazy(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a password in a URL", lazy(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@$]+@")),
)


def secret_in_text(text: str) -> str | None:
    """What kind of credential ``text`` holds, or None."""
    for what, pattern in SECRET_VALUES:
        if pattern.search(text):
            return what
    return None
