"""``scratchpack lint``: every rule fires on its bad example and not on its good one; syntax
corner cases; pragmas; bad input; output formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import ROOT, assert_clean_error, run_cli
from scratchpack.dockerfile.config import load_config
from scratchpack.dockerfile.parser import DockerfileError, parse, substitute
from scratchpack.dockerfile.ruledocs import DOCS, render_index, render_page
from scratchpack.dockerfile.rules import RULES, Finding
from scratchpack.operations.lint import lint_dockerfile, lint_file


def codes(text: str) -> set[str]:
    return {f.code for f in lint_dockerfile(parse(text))}


def _on_disk(
    directory: Path, dockerfile: str, context: tuple[tuple[str, str], ...], config: str = ""
) -> set[str]:
    """Lint the example as a file in its own build context (a .dockerignore by default), with
    the example's configuration when it has one."""
    directory.mkdir()
    (directory / ".dockerignore").write_text(".git\n")
    for name, content in context:
        (directory / name).write_text(content)
    (directory / "Dockerfile").write_text(dockerfile)
    settings = None
    if config:
        (directory / ".scratchpack.toml").write_text(config)
        settings = load_config(directory / ".scratchpack.toml")
    return {f.code for f in lint_file(directory / "Dockerfile", config=settings).findings}


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_fires_on_bad_and_not_on_good(code: str, tmp_path: Path) -> None:
    doc = DOCS[code]
    bad_context = doc.bad_context
    # a rule that is off by default is on once the configuration gives it a severity
    config = doc.config or ("" if RULES[code].default else f'[severity]\n{code} = "info"\n')
    if code == "SP356":  # it judges a registry's answers (lint --lookup-bases): without one,
        # nothing; test_lint_base_platform.py lints these examples with the answers the page
        # states, and real images on the test registry
        assert code not in _on_disk(tmp_path / "bad", doc.bad, bad_context, config), doc.bad
    elif code == "SP208":  # the bad case is the context without a .dockerignore
        bad = tmp_path / "bad"
        bad.mkdir()
        for name, content in bad_context:
            (bad / name).write_text(content)
        (bad / "Dockerfile").write_text(doc.bad)
        assert code in {f.code for f in lint_file(bad / "Dockerfile").findings}
    else:
        assert code in _on_disk(tmp_path / "bad", doc.bad, bad_context, config), doc.bad
    assert code not in _on_disk(tmp_path / "good", doc.good, doc.good_context, config), doc.good


def test_every_rule_is_documented_and_the_pages_are_current() -> None:
    for code in RULES:
        page = ROOT / "docs" / "rules" / f"{code}.md"
        assert page.read_text() == render_page(code), f"{page} is stale: run scripts/gen-rule-docs"
    from scratchpack.operations.audit import docs as audit_docs

    index = render_index() + audit_docs.render_index()
    assert (ROOT / "docs/rules/README.md").read_text() == index


PINNED = "debian:12-slim@sha256:" + "a" * 64


def test_heredoc_and_sh_c_bodies_are_linted() -> None:
    heredoc = f"FROM {PINNED}\nRUN <<EOF\nset -e\napt-get update\napt-get install -y curl\nEOF\n"
    assert {"SP200", "SP201"} <= codes(heredoc)
    sh_c = f"FROM {PINNED}\nRUN sh -c 'apt-get install -y curl'\n"
    assert "SP200" in codes(sh_c)
    exec_form = f'FROM {PINNED}\nRUN ["/bin/sh", "-c", "pip install flask"]\n'
    assert "SP205" in codes(exec_form)


def test_escape_directive_and_continuation_comments() -> None:
    text = (
        "# escape=`\n"
        f"FROM {PINNED}\n"
        "RUN apt-get update && `\n"
        "    # a comment inside the continued line\n"
        "    apt-get install -y --no-install-recommends curl && `\n"
        "    rm -rf /var/lib/apt/lists/*\n"
    )
    dockerfile = parse(text)
    assert dockerfile.directives == {"escape": "`"}
    run = dockerfile.final.of("RUN")[0]
    assert (run.line, run.end_line) == (3, 6)
    found = codes(text)
    assert not {"SP200", "SP201", "SP202"} & found


def test_arg_before_from_is_substituted() -> None:
    assert substitute("${BASE:-debian}:${TAG}", {"TAG": "12"}) == "debian:12"
    assert substitute("x${FLAG:+-on}", {"FLAG": "1"}) == "x-on"
    # without the colon: whether it is set, not whether it is empty
    assert substitute("a${E-b}${E+c}${U-d}${U+e}", {"E": ""}) == "acd"
    dockerfile = parse("ARG BASE=debian\nARG TAG=12\nFROM ${BASE}:${TAG} AS build\nFROM scratch\n")
    assert dockerfile.stages[0].base == "debian:12"
    assert dockerfile.stages[0].name == "build"
    assert "SP102" not in {f.code for f in lint_dockerfile(dockerfile) if f.line == 3}


def test_stage_awareness() -> None:
    text = (
        f"FROM {PINNED} AS build\nRUN touch /app\n"
        "FROM build AS test\nRUN true\n"
        "FROM scratch\nCOPY --from=build /app /app\nCOPY --from=0 /app /app2\n"
        "COPY --from=docker.io/library/busybox:1.36 /bin/busybox /busybox\n"
        'USER 65532:65532\nWORKDIR /\nENTRYPOINT ["/app"]\n'
    )
    found = lint_dockerfile(parse(text))
    assert not [f for f in found if f.code in ("SP300", "SP101", "SP102", "SP100")], found
    later = "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\n"
    messages = [f.message for f in lint_dockerfile(parse(later)) if f.code == "SP300"]
    assert messages == ["COPY --from=b names a stage defined later"]


def test_pragmas() -> None:
    base = f"FROM {PINNED}\nUSER 65532:65532\nWORKDIR /app\n"
    bad = "RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n"
    assert "SP200" in codes(base + bad)
    assert "SP200" not in codes(base + "# scratchpack ignore=SP200\n" + bad)
    assert "SP200" not in codes(base + "# hadolint ignore=DL3015\n" + bad)
    assert "SP200" not in codes(base + "# why: vendor needs it\n# hadolint ignore=DL3015\n" + bad)
    assert "SP200" in codes(base + "# scratchpack ignore=SP201\n" + bad)
    assert "SP200" not in codes("# scratchpack global ignore=SP200,SP101\n" + base + bad)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "no instructions"),
        (b"\x7fELF\x00\x01\x02", "binary"),
        (b"# only a comment\n", "no instructions"),
        (b"FROM debian\nFROBNICATE x\n", ":2: unknown instruction FROBNICATE"),
        (b"FROM debian\nRUN <<EOF\necho hi\n", ":2: unterminated heredoc"),
        (b"RUN echo before from\nFROM debian\n", ":1: RUN before the first FROM"),
        (b"FROM\n", "FROM"),
        (b"FROM a b c d\n", ":1: FROM needs IMAGE [AS NAME]"),
        (b"\xff\xfeFROM x\n", "UTF-8"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(content)
    result = run_cli("lint", path)
    assert_clean_error(result, 2, fragment)


def test_missing_file_and_unknown_rule(tmp_path: Path) -> None:
    assert_clean_error(run_cli("lint", tmp_path / "nope"), 2, "no such file")
    assert_clean_error(run_cli("lint", "--explain", "SP999"), 2, "unknown rule")
    explained = run_cli("lint", "--explain", "sp303")
    assert explained.code == 0 and "exec (JSON) form" in explained.stdout


def test_parse_error_type() -> None:
    with pytest.raises(DockerfileError):
        parse("")


def test_cli_formats_thresholds_and_many_files(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    clean = tmp_path / "clean.Dockerfile"
    clean.write_text(DOCS["SP100"].good)
    risky = tmp_path / "risky.Dockerfile"
    risky.write_text(DOCS["SP200"].bad + DOCS["SP103"].bad.split("\n", 1)[1])
    assert run_cli("lint", clean).code == 0
    text = run_cli("lint", clean, risky)
    assert text.code == 1
    assert f"{risky}:2: SP200 warning:" in text.stdout
    assert "    RUN apt-get update" in text.stdout and "    ^" in text.stdout
    as_json = run_cli("lint", "--format", "json", clean, risky)
    findings = json.loads(as_json.stdout)
    assert {f["code"] for f in findings} >= {"SP200"}
    assert all(f["file"] == str(risky) for f in findings)
    sp200 = next(f for f in findings if f["code"] == "SP200")
    assert sp200["hadolint"] == ["DL3015"] and sp200["severity"] == "warning"
    assert run_cli("lint", "--failure-threshold", "error", risky).code == 0
    assert run_cli("lint", "--failure-threshold", "none", risky).code == 0
    assert run_cli("lint", "--failure-threshold", "info", clean).code == 0
    assert run_cli("lint", "--ignore", "SP200", "--ignore", "SP201,SP206,SP214", risky).code == 0
    broken = tmp_path / "broken.Dockerfile"
    broken.write_text("FROM debian\nNOPE x\n")
    mixed = run_cli("lint", risky, broken)
    assert mixed.code == 2
    assert "SP200" in mixed.stdout  # the readable file is still reported
    assert "broken.Dockerfile:2: unknown instruction NOPE" in mixed.stderr


def test_default_file_is_dockerfile_in_cwd(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "Dockerfile").write_text(DOCS["SP100"].good)
    assert run_cli("lint", cwd=tmp_path).code == 0


def test_dockerignore_checks(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text("[package]\n")
    (tmp_path / "Dockerfile").write_text(DOCS["SP100"].good)
    (tmp_path / ".dockerignore").write_text("# nothing useful\n*.md\n")
    messages = [f.message for f in lint_file(tmp_path / "Dockerfile").findings if f.code == "SP208"]
    assert messages == [".dockerignore does not exclude .git, target"]
    (tmp_path / ".dockerignore").write_text(".git/\n**/target\n")
    assert "SP208" not in {f.code for f in lint_file(tmp_path / "Dockerfile").findings}


def test_static_build_rules_follow_the_stages_copied_into_scratch() -> None:
    go = "golang:1.23@sha256:" + "d" * 64
    env_form = (
        f"FROM {go} AS base\nENV CGO_ENABLED=0\nFROM base AS build\nRUN go build -o /app .\n"
        "FROM scratch\nCOPY --from=build /app /app\n"
    )
    assert "SP500" not in codes(env_form)  # inherited through FROM base
    not_copied = (
        f"FROM {go} AS tools\nRUN go build -o /tool .\nFROM {go} AS build\n"
        "RUN CGO_ENABLED=0 go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\n"
    )
    assert "SP500" not in codes(not_copied)  # the dynamic tool never reaches scratch
    distroless_base = (
        f"FROM {go} AS build\nRUN go build -o /app .\n"
        "FROM gcr.io/distroless/base-debian12\nCOPY --from=build /app /app\n"
    )
    assert "SP500" not in codes(distroless_base)  # base has libc: dynamic is fine
    rust_flags = (
        "FROM rust:1.83 AS build\nENV RUSTFLAGS='-C target-feature=+crt-static'\n"
        "RUN cargo build --release --target x86_64-unknown-linux-gnu\n"
        "FROM scratch\nCOPY --from=build /t/app /app\n"
    )
    assert "SP501" not in codes(rust_flags)


@pytest.mark.parametrize(
    ("mode", "flagged"),
    [("777", True), ("0777", True), ("666", True), ("o+w", True), ("a+rwx", True),
     ("1777", False), ("755", False), ("0644", False), ("u+w", False), ("g+w", False)],
)  # fmt: skip
def test_world_writable_modes(mode: str, flagged: bool) -> None:
    text = f"FROM {PINNED}\nRUN chmod {mode} /data\n"
    assert ("SP404" in codes(text)) is flagged


def test_cache_order_is_right_when_dependencies_come_first() -> None:
    go = "golang:1.23@sha256:" + "d" * 64
    right = (
        f"FROM {go} AS build\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\n"
        "RUN CGO_ENABLED=0 go build -o /app .\n"
    )
    assert "SP207" not in codes(right)
    wrong = f"FROM {go} AS build\nCOPY . .\nRUN go mod download\n"
    assert "SP207" in codes(wrong)


def test_config_file_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {PINNED}\nRUN mkdir /a\nRUN mkdir /b\n{'USER 65532:65532'}\n")
    assert "SP206" in run_cli("lint", dockerfile, cwd=tmp_path).stdout
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.scratchpack]\nignore = ["DL3059"]\n'
        'failure-threshold = "info"\n[tool.scratchpack.severity]\nSP103 = "error"\n'
    )
    result = run_cli("lint", "--format", "json", dockerfile, cwd=tmp_path)
    found = {f["code"]: f["severity"] for f in json.loads(result.stdout)}
    assert "SP206" not in found  # ignored through its hadolint code
    assert found["SP103"] == "error"
    assert result.code == 1
    # a .scratchpack.toml nearer to the working directory wins
    (tmp_path / ".scratchpack.toml").write_text('failure-threshold = "none"\n')
    assert run_cli("lint", dockerfile, cwd=tmp_path).code == 0
    # an explicit --config, and bad configurations
    strict = tmp_path / "strict.toml"
    strict.write_text('trusted-registries = ["ghcr.io"]\n')
    untrusted = run_cli("lint", "--config", strict, "--format", "json", dockerfile)
    assert "SP108" in {f["code"] for f in json.loads(untrusted.stdout)}
    strict.write_text('colour = "blue"\n')
    assert_clean_error(run_cli("lint", "--config", strict, dockerfile), 2, "unknown key")
    strict.write_text("[severity]\nSP999 = 'error'\n")
    assert_clean_error(run_cli("lint", "--config", strict, dockerfile), 2, "unknown rule SP999")
    strict.write_text("not = [toml\n")
    assert_clean_error(run_cli("lint", "--config", strict, dockerfile), 2, "configuration")


def test_typosquat_and_registry_checks() -> None:
    assert "SP108" in codes(f"FROM pyhton:3.12@sha256:{'a' * 64}\n")
    assert "SP108" in codes(f"FROM ubunut:24.04@sha256:{'a' * 64}\n")
    assert "SP108" not in codes(f"FROM python:3.12@sha256:{'a' * 64}\n")
    assert "SP108" not in codes(f"FROM myorg/pyhton:1@sha256:{'a' * 64}\n")  # not an official name
    assert "SP108" not in codes(f"FROM ghcr.io/org/app:1@sha256:{'a' * 64}\n")  # no allow-list set


def test_github_annotations(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(".git\n")
    path = tmp_path / "Dockerfile"
    path.write_text(DOCS["SP400"].bad)
    result = run_cli("lint", "--format", "github", path)
    assert result.code == 1
    assert f"::error file={path},line=2,col=5,title=SP400::ENV API_TOKEN puts a secret" in (
        result.stdout
    )


NODE = "node:22-slim@sha256:" + "9" * 64


def test_npm_ci_and_dev_dependencies() -> None:
    head = f"FROM {NODE}\nWORKDIR /app\nCOPY package*.json ./\n"
    assert "SP209" in codes(head + "RUN npm install --omit=dev\n")
    assert "SP209" in codes(head + "RUN set -e; npm i\n")
    # a named package is not "install the manifest"; no lock file copied: nothing to ci from
    assert "SP209" not in codes(head + "RUN npm install -g pm2@5.4.0\n")
    assert "SP209" not in codes(f"FROM {NODE}\nCOPY package.json ./\nRUN npm install\n")
    # dev dependencies: only where the final image gets them
    assert "SP210" in codes(head + "RUN npm ci\n")
    assert "SP210" not in codes(head + "RUN npm ci --omit=dev\n")
    assert "SP210" not in codes(head + "ENV NODE_ENV=production\nRUN npm ci\n")
    assert "SP210" not in codes(head + "RUN NODE_ENV=production npm ci\n")
    builder = f"FROM {NODE} AS build\nCOPY package*.json ./\nRUN npm ci && npm run build\n"
    assert "SP210" not in codes(builder + f"FROM {NODE}\nCOPY --from=build /dist /dist\n")
    # inherited through FROM <stage>
    assert "SP210" in codes(builder + "FROM build\nUSER 1000\n")
    python = f"FROM {PINNED}\n"
    assert "SP210" in codes(python + "RUN pip install --no-cache-dir -r requirements-dev.txt\n")
    assert "SP210" not in codes(python + "RUN pip install --no-cache-dir -r requirements.txt\n")
    assert "SP210" in codes(python + "RUN poetry install\n")
    assert "SP210" not in codes(python + "RUN poetry install --only main --no-root\n")
    assert "SP210" in codes(python + "RUN composer install --optimize-autoloader\n")
    assert "SP210" not in codes(python + "RUN composer install --no-dev\n")
    assert "SP210" in codes(python + "RUN <<EOF\nbundle install\nEOF\n")
    assert "SP210" not in codes(
        python + "ENV BUNDLE_WITHOUT=development:test\nRUN bundle install\n"
    )


def test_files_deleted_in_a_later_layer() -> None:
    base = f"FROM {PINNED}\n"
    copied = (
        base
        + "COPY big.tar.gz /tmp/\nRUN tar -xzf /tmp/big.tar.gz -C /opt\nRUN rm /tmp/big.tar.gz\n"
    )
    [finding] = [f for f in lint_dockerfile(parse(copied)) if f.code == "SP211"]
    assert (finding.line, "/tmp/big.tar.gz was added by the layer at line 2") == (
        4,
        finding.message.split(":")[0],
    )
    # same RUN: fine
    same = base + "RUN curl -fsSLo /tmp/x.tgz https://example.com/x.tgz && rm /tmp/x.tgz\n"
    assert "SP211" not in codes(same)
    # relative to WORKDIR, wget's default name, a glob, a directory
    assert "SP211" in codes(base + "WORKDIR /src\nRUN wget https://e.com/a.zip\nRUN rm -f a.zip\n")
    assert "SP211" in codes(
        base + "COPY a.deb /pkgs/a.deb\nRUN dpkg -i /pkgs/*.deb\nRUN rm /pkgs/*.deb\n"
    )
    assert "SP211" in codes(base + "COPY vendor /build/vendor\nRUN make\nRUN rm -rf /build\n")
    # apt lists from an earlier RUN
    lists = base + "RUN apt-get update && apt-get install -y --no-install-recommends curl\n"
    assert "SP211" in codes(lists + "RUN rm -rf /var/lib/apt/lists/*\n")
    # another stage's files are not this layer's
    other = f"FROM {PINNED} AS a\nCOPY x /x\nFROM {PINNED}\nRUN rm -f /x\n"
    assert "SP211" not in codes(other)


def test_add_where_copy_fits() -> None:
    base = f"FROM {PINNED}\n"
    assert "SP212" in codes(base + "ADD app.py /app/\n")
    assert "SP212" in codes(base + "ADD --chown=1:1 src/ /app/src/\n")
    assert "SP212" in codes(base + "ADD release.tar.gz /opt/release.tar.gz\n")
    assert "SP212" not in codes(base + "ADD rootfs.tar.xz /\n")
    assert "SP212" not in codes(
        base + "ADD --checksum=sha256:" + "1" * 64 + " https://e.com/a /a\n"
    )
    assert "SP212" not in codes(base + "ADD https://github.com/o/r.git#v1 /src\n")
    assert "SP212" not in codes(base + "ADD <<EOF /etc/motd\nhello\nEOF\n")


def test_insecure_run_options() -> None:
    base = f"FROM {PINNED}\n"
    assert "SP406" in codes(base + "RUN --security=insecure mount -t proc none /mnt\n")
    assert "SP406" in codes(base + "RUN --network=host curl -fsS http://127.0.0.1:8080/\n")
    assert "SP406" in codes(base + "RUN --mount=type=bind,source=.,target=/src,rw make\n")
    assert "SP406" not in codes(base + "RUN --network=none --mount=type=bind,target=/src make\n")
    assert "SP406" not in codes(base + "RUN --security=sandbox true\n")


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("ENV AWS_KEY_ID=AKIAIOSFODNN7EXAMPLE", True),
        ("ARG GH=ghp_" + "a" * 36, True),
        ("RUN git clone https://bot:s3cret@git.example.com/r.git", True),
        ("ENV DATABASE_URL=postgres://app:pw@db:5432/app", True),
        ("RUN <<EOF\necho '-----BEGIN OPENSSH PRIVATE KEY-----' > /k\nEOF", True),
        ("LABEL slack=xoxb-1234567890-abcdefghij", True),
        ("RUN git clone https://${TOKEN}@git.example.com/r.git", False),
        ("RUN curl -fsSL https://example.com/install.sh -o /tmp/i.sh", False),
        ("ENV URL=https://user@example.com/", False),
        ("COPY id_ed25519.pub /keys/", False),
    ],
)
def test_secret_values(line: str, flagged: bool) -> None:
    assert ("SP407" in codes(f"FROM {PINNED}\n{line}\n")) is flagged


def test_rust_release_profile(tmp_path: Path) -> None:
    doc = DOCS["SP503"]
    tuned = doc.good_context
    partial = (("Cargo.toml", '[package]\nname = "a"\n[profile.release]\nlto = "thin"\n'),)
    found = lint_file_with_context(tmp_path / "partial", doc.bad, partial)
    [message] = [f.message for f in found if f.code == "SP503"]
    assert "codegen-units = 1, strip = true" in message and "lto" not in message.split(":")[0]
    assert "SP503" not in {f.code for f in lint_file_with_context(tmp_path / "ok", doc.bad, tuned)}
    # no Cargo.toml beside the Dockerfile, or not built into scratch: nothing to say
    assert "SP503" not in {f.code for f in lint_file_with_context(tmp_path / "none", doc.bad, ())}
    dynamic = doc.bad.replace("FROM scratch", f"FROM {PINNED}")
    assert "SP503" not in {
        f.code for f in lint_file_with_context(tmp_path / "dyn", dynamic, partial)
    }
    env = doc.bad.replace(
        "RUN cargo",
        "ENV CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 "
        "CARGO_PROFILE_RELEASE_STRIP=true\nRUN cargo",
    )
    assert "SP503" not in {f.code for f in lint_file_with_context(tmp_path / "env", env, partial)}


def lint_file_with_context(
    directory: Path, dockerfile: str, context: tuple[tuple[str, str], ...]
) -> list[Finding]:
    directory.mkdir()
    for name, content in context:
        (directory / name).write_text(content)
    (directory / "Dockerfile").write_text(dockerfile)
    return lint_file(directory / "Dockerfile").findings


def test_sarif_is_valid_against_the_schema(tmp_path: Path) -> None:
    import jsonschema

    schema = json.loads((ROOT / "tests/data/schemas/sarif-2.1.0-rtm.5.json").read_text())
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCS["SP200"].bad + "RUN --network=host pip install flask\n")
    broken = tmp_path / "broken.Dockerfile"
    broken.write_text("FROM debian:12\nFROBNICATE now\n")
    result = run_cli("lint", "--format", "sarif", str(bad), str(broken), "missing.Dockerfile")
    assert result.code == 2, result.stderr
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(schema).validate(log)
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(RULES)
    assert all(r["helpUri"].endswith(f"/docs/rules/{r['id']}.md") for r in rules)
    assert all(r["help"]["markdown"].startswith(f"# {r['id']}: ") for r in rules)
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["SP200"]["level"] == "warning"
    assert by_rule["SP205"]["level"] == "note"
    assert rules[by_rule["SP200"]["ruleIndex"]]["id"] == "SP200"
    region = by_rule["SP406"]["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == bad.as_uri()
    assert region["region"]["startLine"] == len(DOCS["SP200"].bad.splitlines()) + 1
    assert rules[by_rule["SP406"]["ruleIndex"]]["properties"]["security-severity"] == "5.0"
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    failed = {n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: n["message"]["text"]
              for n in invocation["toolExecutionNotifications"]}  # fmt: skip
    assert "unknown instruction FROBNICATE" in failed[broken.as_uri()]
    assert "no such file" in failed["missing.Dockerfile"]
    # a clean file: an empty result list, still a valid log
    clean = tmp_path / "clean.Dockerfile"
    clean.write_text(DOCS["SP100"].good)
    (tmp_path / ".dockerignore").write_text(".git\n")
    log = json.loads(run_cli("lint", "--format", "sarif", str(clean), cwd=tmp_path).stdout)
    jsonschema.Draft4Validator(schema).validate(log)
    assert log["runs"][0]["results"] == []


@pytest.mark.parametrize(
    ("workdir", "flagged"),
    [("app", True), ("./app", True), ("C:app", True), ("/app", False), ("$HOME/app", False),
     ('"C:\\Program Files\\App"', False), ("C:\\src", False), ("c:/src", False),
     ("\\app", False)],
)  # fmt: skip
def test_relative_workdir_knows_windows_paths(workdir: str, flagged: bool) -> None:
    assert ("SP301" in codes(f"FROM {PINNED}\nWORKDIR {workdir}\n")) is flagged
