"""What a credential looks like, by name and by value.

Used by ``audit`` on the files of a built image; what a credential looks like by its name or
on one line of text (ENV, ARG, RUN, an image's history) is :mod:`scratchpack.credentials`,
shared with ``lint``.

File contents are searched with :data:`RULES`, rules of the kinds gitleaks publishes (its
``config/gitleaks.toml``, MIT licence, read for the kinds of rule and the token formats the
vendors document; no rule text is copied): each rule has literal *keywords* that any match
contains, a full expression, and for tokens a minimum Shannon entropy of the secret part, so
that ``AKIAXXXXXXXXXXXXXXXX`` or ``ghp_`` followed by 36 ``x`` is not a finding. One
Aho-Corasick automaton (``ahocorasick-rs``, Rust) finds every keyword in one pass over the
bytes; the full expression then runs only on a window around each keyword. Measured on the
12,800 files of a Debian golang-go layer (277 MB of file heads): the earlier alternation of
17 anchors in one ``re`` took 2.17 s, ``bytes.find`` per anchor 3.44 s, ``pyahocorasick``
(which needs a decode to ``str``) 1.78 s, ``ahocorasick-rs`` on the bytes 0.69 s.

A finding in a file under a test, test-data, documentation or example path
(:func:`is_sample_path`) is a sample more often than a leak (5 of 7 findings on the official
Go image were): the audit reports it as information, not as an error.
"""

from __future__ import annotations

import functools
import math
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One kind of credential in file contents. ``pattern``'s group ``secret`` (or the whole
    match) is what the entropy and the placeholder words are measured on."""

    id: str
    what: str
    keywords: tuple[bytes, ...]
    pattern: re.Pattern[bytes]
    entropy: float = 0.0  # bits per character, at least
    # how far a match reaches before and after a keyword (the window searched around it)
    before: int = 64
    after: int = 256

    def secret_of(self, match: re.Match[bytes]) -> bytes:
        return match.group("secret") if "secret" in self.pattern.groupindex else match.group()


def _rule(
    id: str,
    what: str,
    keywords: tuple[str, ...],
    pattern: str,
    entropy: float = 0.0,
    before: int = 64,
    after: int = 256,
) -> Rule:
    return Rule(
        id, what, tuple(k.encode() for k in keywords), re.compile(pattern.encode()), entropy,
        before, after,
    )  # fmt: skip


# In reporting order: when a file holds several kinds, the first rule here names it.
RULES: tuple[Rule, ...] = (
    _rule("aws-access-key-id", "an AWS access key", ("AKIA", "ASIA", "ABIA", "ACCA"),
          r"\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b", 3.0),
    _rule("aws-secret-access-key", "an AWS secret key",
          ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
          r"(?i:aws_secret_access_key|SecretAccessKey)[\"']?\s*[:=]\s*[\"']?"
          r"(?P<secret>[A-Za-z0-9/+]{40})\b", 4.0),
    _rule("github-token", "a GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
          r"\b(?P<secret>gh[pousr]_[A-Za-z0-9]{36,255})\b", 3.0),
    _rule("github-fine-grained-token", "a GitHub token", ("github_pat_",),
          r"\b(?P<secret>github_pat_[A-Za-z0-9_]{82})\b", 3.0),
    _rule("gitlab-token", "a GitLab token", ("glpat-",),
          r"\b(?P<secret>glpat-[A-Za-z0-9_-]{20,})\b", 3.0),
    _rule("slack-token", "a Slack token", ("xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"),
          r"\b(?P<secret>xox[baprs]-[A-Za-z0-9-]{10,})\b", 2.5),
    _rule("slack-webhook", "a Slack webhook", ("hooks.slack.com/",),
          r"hooks\.slack\.com/(?:services|workflows)/(?P<secret>[A-Za-z0-9+/]{43,56}|"
          r"T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24})", 3.0),
    _rule("stripe-key", "a Stripe key", ("k_live_",),
          r"\b(?P<secret>[rs]k_live_[A-Za-z0-9]{16,})\b", 3.0),
    _rule("google-api-key", "a Google API key", ("AIza",),
          r"\b(?P<secret>AIza[0-9A-Za-z_-]{35})", 3.0),
    _rule("npm-token", "an npm token", ("npm_",), r"\b(?P<secret>npm_[A-Za-z0-9]{36})\b", 3.0),
    _rule("pypi-token", "a PyPI token", ("pypi-AgEIcHlwaS5vcmc",),
          r"(?P<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})", 3.0),
    _rule("docker-hub-token", "a Docker Hub token", ("dckr_pat_",),
          r"\b(?P<secret>dckr_pat_[A-Za-z0-9_-]{27})", 3.0),
    _rule("sendgrid-key", "a SendGrid key", ("SG.",),
          r"\b(?P<secret>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})\b", 3.0),
    _rule("openai-key", "an OpenAI key", ("T3BlbkFJ", "sk-proj-"),
          r"\b(?P<secret>sk-(?:proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|"
          r"sk-proj-[A-Za-z0-9_-]{80,})", 3.0),
    _rule("anthropic-key", "an Anthropic key", ("sk-ant-",),
          r"\b(?P<secret>sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,})", 3.0),
    # the marker alone is in every TLS library's source: a key has a base64 body after it
    _rule("private-key", "a private key", ("PRIVATE KEY-----",),
          r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[ \t]*\r?\n"
          r"(?:[A-Za-z-]+:[^\n]*\n)*\s*(?P<secret>[A-Za-z0-9+/=]{12,})", 0.0, 120, 1024),
    _rule("password-in-url", "a password in a URL", ("://",),
          r"\b[a-z][a-z0-9+.-]{1,20}://[^/\s:@\"'<>]{1,64}:(?P<secret>[^/\s@$\"'<>{}%*]{1,128})@"
          r"[A-Za-z0-9.-]+", 0.0, 22, 200),
)  # fmt: skip

# Words that make a match an illustration, not a credential (``AKIAIOSFODNN7EXAMPLE`` is the
# key in AWS's documentation; ``user:password@host`` is in every manual).
_PLACEHOLDERS = re.compile(
    rb"example|sample|dummy|placeholder|changeme|your|xxxx|\.\.\.|^(?:pass(?:word|wd)?|secret|"
    rb"pwd|token|test|foo|bar|\*+|x+)$",
    re.IGNORECASE,
)
_KEYWORDS: tuple[bytes, ...] = tuple(dict.fromkeys(k for rule in RULES for k in rule.keywords))
_RULES_OF: tuple[tuple[int, ...], ...] = tuple(
    tuple(n for n, rule in enumerate(RULES) if keyword in rule.keywords) for keyword in _KEYWORDS
)


@functools.cache
def _automaton() -> Any:
    """Built at the first file search: lint reads the names and values above, never this."""
    import ahocorasick_rs

    return ahocorasick_rs.BytesAhoCorasick(list(_KEYWORDS))


_MAX_TRIES = 256


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte."""
    if not data:
        return 0.0
    total = len(data)
    return -sum(c / total * math.log2(c / total) for c in Counter(data).values())


def _real(rule: Rule, match: re.Match[bytes]) -> bool:
    secret = rule.secret_of(match)
    if _PLACEHOLDERS.search(secret):
        return False
    return rule.entropy <= 0 or entropy(secret) >= rule.entropy


def find_secrets(data: bytes, starts: list[int]) -> dict[int, Rule]:
    """For a batch of files joined into ``data`` (file ``i`` from ``starts[i]`` up to the
    next start, each followed by one separating newline), the first rule (in :data:`RULES`
    order) each file holds a credential of, by file index; files without one are absent.

    One pass of the automaton over the whole batch (Rust, without the GIL): the Python work
    is per keyword found, not per file, so 100,000 small files cost what one large one does.
    A keyword or a match never reaches across a file's end; each rule's expression is tried
    around at most 256 of its keywords per file."""
    found: dict[int, set[int]] = {}
    tries: dict[tuple[int, int], int] = {}
    ends = [*starts[1:], len(data) + 1]
    for keyword, start, end in _automaton().find_matches_as_indexes(data):
        index = bisect_right(starts, start) - 1
        stop = ends[index] - 1  # the separator
        if end > stop:
            continue  # across the end of a file
        kinds = found.setdefault(index, set())
        if 0 in kinds:
            continue
        for n in _RULES_OF[keyword]:
            if n in kinds or tries.get((index, n), 0) >= _MAX_TRIES:
                continue
            tries[index, n] = tries.get((index, n), 0) + 1
            rule = RULES[n]
            window = rule.pattern.finditer(
                data, max(starts[index], start - rule.before), min(stop, end + rule.after)
            )
            for match in window:
                if match.start() <= start < match.end() and _real(rule, match):
                    kinds.add(n)
                    break
    return {index: RULES[min(kinds)] for index, kinds in found.items() if kinds}


def find_secret(data: bytes) -> Rule | None:
    """The first rule (in :data:`RULES` order) that ``data`` holds a credential of, or None."""
    if not data:
        return None
    return find_secrets(data + b"\n", [0]).get(0)


def secret_in_bytes(data: bytes) -> str | None:
    """What kind of credential ``data`` holds (see :func:`find_secret`), or None."""
    rule = find_secret(data)
    return None if rule is None else rule.what


# Where a credential is a sample: test suites and their data, documentation, examples.
_SAMPLE_DIRS = re.compile(
    r"(?:^|/)(?:tests?|testdata|testing|__tests__|spec|fixtures?|examples?|samples?|docs?|"
    r"demos?)(?:/|$)|^usr/share/(?:doc|man|info|gtk-doc|help)/|^usr/(?:local/)?go/(?:misc|test)/"
)
_SAMPLE_FILES = re.compile(
    r"(?:_test\.go|_test\.py|(?:^|/)test_[^/]*\.py|(?:^|/)conftest\.py|\.(?:test|spec)\.[jt]sx?|"
    r"_spec\.rb|Test\.java|\.example|\.sample)$"
)


def is_sample_path(path: str) -> bool:
    """Whether ``path`` (normalised, no leading ``/``) is a test, test data, documentation or
    an example, where a credential is far more often an illustration than a leak."""
    return _SAMPLE_DIRS.search(path) is not None or _SAMPLE_FILES.search(path) is not None
