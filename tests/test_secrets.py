"""The credential rules of ``scratchpack.secrets`` on file contents: what they find, what they
leave alone (placeholders, low entropy, markers without a key), batches of files searched in
one pass without a match reaching across files, hostile input in bounded time, and the paths
whose hits are samples."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any, cast

import pytest

from scratchpack import secrets
from scratchpack.secrets import RULES, find_secret, find_secrets, is_sample_path

# made up, real-looking, built from pieces (no scanner of this repository should flag them)
AWS = b"AKIA" + b"Q3ZLX7MV2RT5WNBH"
GITHUB = b"ghp_" + b"Zk3Qm9XbT2vLw7RcY4pN8sHd1FgJ6aE0uKoB"
SLACK = b"xoxb-" + b"2417305938-9nQ4kV7xP2mZ8cR5tW1yL6hB"
KEY = (
    b"-----BEGIN EC " + b"PRIVATE KEY-----\nMHcCAQEEIBk7x9Qm2Lz4Vr8Tn5Wp3Yc6Hd1Fg0Jk\n"
    b"-----END EC " + b"PRIVATE KEY-----\n"
)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"aws_access_key_id = " + AWS, "aws-access-key-id"),
        (
            b"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYzq3Lm9Tk2Q",
            "aws-secret-access-key",
        ),
        (b"GITHUB_TOKEN=" + GITHUB, "github-token"),
        (b"slack: " + SLACK, "slack-token"),
        (KEY, "private-key"),
        (b"DATABASE_URL=postgres://app:Vq7s9Lk2x@db.internal:5432/app", "password-in-url"),
        (b"npm_" + b"a8Zk3Qm9XbT2vLw7RcY4pN8sHd1FgJ6aE0uK", "npm-token"),
    ],
)
def test_real_looking_credentials_are_found(data: bytes, rule: str) -> None:
    found = find_secret(b"some text\n" + data + b"\nmore text\n")
    assert found is not None and found.id == rule


@pytest.mark.parametrize(
    "data",
    [
        b"AKIAIOSFODNN7EXAMPLE",  # AWS's documentation key
        b"AKIAAAAAAAAAAAAAAAAA",  # no entropy
        b"ghp_" + b"x" * 36,
        b'const pemHeader = "-----BEGIN RSA ' + b'PRIVATE KEY-----"',  # a marker, no key
        b"see https://user:password@example.com/ and ftp://${USER}:${PASS}@host/",
        b"AKIA" + b"Q3ZLX7MV2RT5WNB",  # one character short
    ],
)
def test_placeholders_and_markers_are_not_credentials(data: bytes) -> None:
    assert find_secret(data) is None


def test_a_batch_is_searched_per_file_and_keeps_the_rules_order() -> None:
    files = [b"url https://u:Vq7s9Lk2x@db.internal/ and " + AWS, AWS[:10], AWS[10:] + b" x",
             b"nothing", b"token " + GITHUB]  # fmt: skip
    starts, at = [], 0
    for data in files:
        starts.append(at)
        at += len(data) + 1
    found = find_secrets(b"\n".join(files) + b"\n", starts)
    # the AWS key split over files 1 and 2 is in neither; file 0's first rule is AWS
    assert {i: r.id for i, r in found.items()} == {0: "aws-access-key-id", 4: "github-token"}
    assert [r.id for r in RULES].index("aws-access-key-id") == 0


class _CountingPattern:
    """A rule's pattern that records the span of every search (the work a file costs)."""

    def __init__(self, pattern: re.Pattern[bytes], spans: list[int]) -> None:
        self.pattern, self.spans, self.groupindex = pattern, spans, pattern.groupindex

    def finditer(self, data: bytes, pos: int, endpos: int) -> Iterator[re.Match[bytes]]:
        self.spans.append(endpos - pos)
        return self.pattern.finditer(data, pos, endpos)


def test_hostile_contents_cost_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MiB of keywords: each rule's expression is tried around at most 256 of them per
    file, each time over a window of its own bounded size, so the work a file costs does not
    grow with how many keywords it holds (counted, not timed: house rule)."""
    spans: dict[str, list[int]] = {rule.id: [] for rule in secrets.RULES}
    counted = tuple(
        dataclasses.replace(rule, pattern=cast(Any, _CountingPattern(rule.pattern, spans[rule.id])))
        for rule in secrets.RULES
    )
    monkeypatch.setattr(secrets, "RULES", counted)
    for data in (b"://" * 350_000, b"AKIA" * 260_000, b"PRIVATE KEY-----" * 65_000,
                 b"x://" + b"a" * (1 << 20)):  # fmt: skip
        for tried in spans.values():
            tried.clear()
        assert find_secret(data) is None
        assert sum(map(len, spans.values())) > 0  # the keywords were seen
        for rule in counted:
            window = rule.before + rule.after + max(map(len, rule.keywords))
            assert len(spans[rule.id]) <= 256, rule.id
            assert all(span <= window for span in spans[rule.id]), rule.id


@pytest.mark.parametrize(
    ("path", "sample"),
    [
        ("app/config", False),
        ("etc/app/credentials.yaml", False),
        ("usr/local/go/src/crypto/tls/handshake_test.go", True),
        ("usr/local/go/src/net/http/testdata/key.pem", True),
        ("usr/share/doc/openssl/examples/key.pem", True),
        ("srv/app/tests/conftest.py", True),
        ("opt/app/node_modules/pkg/test/fixtures/key", True),
        ("home/dev/contest/key", False),  # not a test directory by its name
    ],
)
def test_sample_paths(path: str, sample: bool) -> None:
    assert is_sample_path(path) is sample
