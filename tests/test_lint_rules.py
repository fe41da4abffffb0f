"""The rules package and individual rules beyond their documented examples: the package's
structure (family modules that import only the core), and the cases each rule must get
right, many taken from the kinds of case hadolint's own spec checks (our own examples)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.rules import RULES, Finding
from scratchpack.operations.lint import lint_dockerfile

RULES_DIR = Path(__file__).resolve().parent.parent / "src/scratchpack/dockerfile/rules"
PINNED = "debian:12-slim@sha256:" + "a" * 64


def findings(text: str, code: str) -> list[Finding]:
    return [f for f in lint_dockerfile(parse(text)) if f.code == code]


def fires(text: str, code: str) -> bool:
    return bool(findings(text, code))


# -- structure --------------------------------------------------------------------------------


def test_rules_keep_the_order_they_had_as_one_module() -> None:
    written = [
        "SP100", "SP101", "SP102", "SP103", "SP200", "SP201", "SP202", "SP203", "SP204",
        "SP205", "SP206", "SP300", "SP301", "SP302", "SP303", "SP304", "SP305", "SP400",
        "SP401", "SP402", "SP403", "SP404", "SP405", "SP104", "SP105", "SP106", "SP107",
        "SP207", "SP208", "SP500", "SP501", "SP502", "SP108", "SP209", "SP210", "SP211",
        "SP212", "SP406", "SP407", "SP503",
    ]  # fmt: skip
    assert list(RULES)[: len(written)] == written


def test_family_modules_import_only_public_names_of_the_core() -> None:
    """No family imports another (no cycle, no hidden coupling) nor a private helper."""
    families = sorted(p for p in RULES_DIR.glob("*.py") if p.name not in ("__init__.py", "core.py"))
    assert len(families) >= 7
    for path in families:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "scratchpack.dockerfile.rules"
            ):
                assert node.module == "scratchpack.dockerfile.rules.core", (path.name, node.module)
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, (path.name, node.module, private)
    core = ast.parse((RULES_DIR / "core.py").read_text())
    imported = [n.module for n in ast.walk(core) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if (m or "").startswith("scratchpack.dockerfile.rules")]


# -- agreement with hadolint's spec cases: each failed before the fix -------------------------

PIP = f"FROM {PINNED}\n"


def test_pip_no_cache_dir_set_inline_exported_inherited_or_in_env() -> None:
    for disabled in (
        "RUN PIP_NO_CACHE_DIR=1 pip install flask\n",
        "RUN export PIP_NO_CACHE_DIR=yes && pip install flask\n",
        "ENV PIP_NO_CACHE_DIR=on\nRUN pip install flask\n",
        "ARG PIP_NO_CACHE_DIR=true\nRUN pip install flask\n",
        "RUN env PIP_NO_CACHE_DIR=1 pip3 install flask\n",
    ):
        assert not fires(PIP + disabled, "SP205"), disabled
    inherited = f"FROM {PINNED} AS base\nENV PIP_NO_CACHE_DIR=1\nFROM base\nRUN pip install six\n"
    assert not fires(inherited, "SP205")
    other_base = (
        f"FROM {PINNED} AS base\nENV PIP_NO_CACHE_DIR=1\nFROM {PINNED}\nRUN pip install six\n"
    )
    assert [f.line for f in findings(other_base, "SP205")] == [4]


def test_pip_no_cache_dir_with_a_false_value_keeps_the_cache() -> None:
    for value in ("0", "off", "no", "false", "False"):
        for text in (
            f"ENV PIP_NO_CACHE_DIR={value}\nRUN pip install flask\n",
            f"RUN PIP_NO_CACHE_DIR={value} pip install flask\n",
            f"RUN export PIP_NO_CACHE_DIR={value} && pip install flask\n",
        ):
            assert fires(PIP + text, "SP205"), text


def test_env_after_the_run_does_not_turn_the_pip_cache_off_for_it() -> None:
    text = PIP + "RUN pip install flask\nENV PIP_NO_CACHE_DIR=1\nRUN pip install six\n"
    assert [f.line for f in findings(text, "SP205")] == [2]


def test_pip2_pip3_x_and_the_no_cache_abbreviation() -> None:
    assert fires(PIP + "RUN pip2 install MySQL_python\n", "SP205")
    assert fires(PIP + "RUN pip3.12 install flask\n", "SP205")
    assert fires(PIP + "RUN python3 -m pip install flask\n", "SP205")
    assert not fires(PIP + "RUN pip install --no-cache flask\n", "SP205")
    assert not fires(PIP + "RUN pip2 install flask --no-cache-dir\n", "SP205")
    assert not fires(PIP + "RUN pipx install black && pipenv install flask\n", "SP205")


def test_every_mount_is_read_and_tmpfs_counts_as_a_cache() -> None:
    pip = "RUN --mount=type=bind,source=.,target=/src --mount=type=cache,target=/root/.cache/pip "
    assert not fires(PIP + pip + "pip install flask\n", "SP205")
    assert not fires(PIP + "RUN --mount=type=tmpfs,target=/root/.cache pip install x\n", "SP205")
    apt = (
        "RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt "
        "apt-get update && apt-get install -y --no-install-recommends curl\n"
    )
    assert not fires(PIP + apt, "SP201")
    tmpfs = apt.replace("type=cache", "type=tmpfs")
    assert not fires(PIP + tmpfs, "SP201")
    only_archives = apt.replace(" --mount=type=cache,target=/var/lib/apt", "")
    assert fires(PIP + only_archives, "SP201")
    apk = "RUN --mount=type=secret,id=x --mount=type=cache,target=/var/cache/apk apk add curl\n"
    assert not fires(PIP + apk, "SP204")


def test_quotes_around_workdir_and_add_arguments() -> None:
    assert not fires(PIP + "WORKDIR '/usr/local'\n", "SP301")
    assert not fires(PIP + 'WORKDIR "C:\\\\"\n', "SP301")
    assert fires(PIP + "WORKDIR 'relative/dir'\n", "SP301")
    assert not fires(PIP + 'ADD "file.tgz" /usr/src/app/\n', "SP212")
    assert not fires(PIP + "ADD 'file.tar.gz' /usr/src/app/\n", "SP212")
    assert fires(PIP + 'ADD "file.zip" /usr/src/app/\n', "SP212")


def test_a_final_stage_from_a_stage_that_ends_as_root_runs_as_root() -> None:
    transitive = f"FROM {PINNED} AS base\nUSER root\nRUN true\nFROM base\nRUN true\n"
    assert [f.line for f in findings(transitive, "SP100")] == [4]
    two_levels = f"FROM {PINNED} AS a\nUSER 0:0\nFROM a AS b\nRUN true\nFROM b\n"
    assert [f.line for f in findings(two_levels, "SP100")] == [5]
    switched = f"FROM {PINNED} AS base\nUSER root\nRUN true\nUSER app\nFROM base\n"
    assert not fires(switched, "SP100")
    own_user = f"FROM {PINNED} AS base\nUSER root\nFROM base\nUSER app\n"
    assert not fires(own_user, "SP100")


def test_from_an_unset_build_argument_reports_no_empty_image_name() -> None:
    found = lint_dockerfile(parse("ARG BASE\nFROM ${BASE}\nUSER app\nWORKDIR /app\n"))
    assert not [f for f in found if f.code in ("SP101", "SP102", "SP108")], found
    assert not [f for f in found if f.message.startswith((" ", ":"))], found


def test_aptitude_and_apt_get_dist_clean() -> None:
    assert fires(PIP + "RUN aptitude update && aptitude install -y python3\n", "SP201")
    cleaned = "RUN aptitude update && aptitude install -y python3 && rm -rf /var/lib/apt/lists/*\n"
    assert not fires(PIP + cleaned, "SP201")
    assert fires(PIP + "RUN aptitude update\n", "SP202")
    dist_clean = (
        "RUN apt-get update && apt-get install -y --no-install-recommends curl "
        "&& apt-get dist-clean\n"
    )
    assert not fires(PIP + dist_clean, "SP201")
    assert fires(PIP + dist_clean.replace("dist-clean", "clean"), "SP201")


def test_an_empty_env_value_is_not_a_secret() -> None:
    assert not fires(PIP + "ENV PASSWORD=\n", "SP400")
    assert not fires(PIP + 'ENV DB_PASSWORD=""\n', "SP400")
    assert fires(PIP + "ENV PASSWORD=hunter2\n", "SP400")
    assert fires(PIP + "ARG TOKEN\nENV TOKEN=$TOKEN\n", "SP400")


def test_jruby_and_mono_are_official_images_not_typos() -> None:
    assert not fires("FROM jruby:9.4\n", "SP108")
    assert not fires("FROM mono:6.12\n", "SP108")
    assert fires("FROM rubyy:3.3\n", "SP108")


def test_a_wasm_cargo_target_links_no_glibc() -> None:
    def build(cargo: str) -> str:
        return (
            f"FROM rust:1.83 AS build\nRUN {cargo}\nFROM scratch\n"
            "COPY --from=build /app.wasm /app.wasm\n"
        )

    assert not fires(build("cargo build --release --target wasm32-wasip1"), "SP501")
    assert not fires(build("cargo build --release --target=wasm32-wasi"), "SP501")
    assert not fires(build("CARGO_BUILD_TARGET=wasm32-unknown-unknown cargo build"), "SP501")
    assert fires(build("cargo build --release --target x86_64-unknown-linux-gnu"), "SP501")
    assert not fires(build("cargo build --target x86_64-unknown-linux-musl"), "SP501")


def test_no_rule_claims_hadolint_dl3005_which_hadolint_removed() -> None:
    assert not [code for code, r in RULES.items() if "DL3005" in r.hadolint]
    assert (
        "DL3005" not in (RULES_DIR.parent.parent.parent.parent / "docs/rules/SP203.md").read_text()
    )


# -- new rules --------------------------------------------------------------------------------

ALPINE = "alpine:3.21@sha256:" + "8" * 64


def test_maintainer_is_deprecated() -> None:
    [finding] = findings(f"FROM {PINNED}\nMAINTAINER Jane <jane@example.com>\n", "SP306")
    assert finding.line == 2 and "org.opencontainers.image.authors" in finding.message
    assert not fires(f'FROM {PINNED}\nLABEL maintainer="Jane"\n', "SP306")
    assert "SP306" not in {
        f.code
        for f in lint_dockerfile(parse(f"FROM {PINNED}\n# hadolint ignore=DL4000\nMAINTAINER x\n"))
    }


def test_pipe_without_pipefail() -> None:
    pipe = "RUN wget -O - https://example.com | wc -l > /number\n"
    assert [f.line for f in findings(f"FROM {PINNED}\n{pipe}", "SP307")] == [2]
    assert not fires(f"FROM {PINNED}\nRUN wget -O /x https://example.com && wc -l /x\n", "SP307")
    for shell in (
        '["/bin/bash", "-o", "pipefail", "-c"]',
        '["/bin/bash", "-eo", "pipefail", "-c"]',
        '["/bin/bash", "-o", "errexit", "-o", "pipefail", "-c"]',
        '["/usr/local/bin/zsh", "-o", "pipefail", "-c"]',
        '["/bin/ash", "-o", "pipefail", "-c"]',
    ):
        assert not fires(f"FROM {PINNED}\nSHELL {shell}\n{pipe}", "SP307"), shell
    # plain sh may not know pipefail; a later SHELL without it turns it off again
    assert fires(f'FROM {PINNED}\nSHELL ["/bin/sh", "-o", "pipefail", "-c"]\n{pipe}', "SP307")
    bash = 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
    later = f'FROM {PINNED}\n{bash}{pipe}SHELL ["/bin/sh", "-c"]\n{pipe}'
    assert [f.line for f in findings(later, "SP307")] == [5]
    assert not fires(f"FROM {PINNED}\nRUN set -eo pipefail; {pipe[4:]}", "SP307")
    assert fires(f"FROM {PINNED}\nRUN {pipe[4:-1]}; set -o pipefail\n", "SP307")


def test_pipefail_follows_stages_and_skips_non_posix_shells() -> None:
    bash = 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
    pipe = "RUN curl -fsSL https://example.com/x | tar -xz\n"
    next_image = f"FROM {PINNED} AS a\n{bash}{pipe}FROM {PINNED}\n{pipe}"
    assert [f.line for f in findings(next_image, "SP307")] == [5]
    from_stage = f"FROM {PINNED} AS a\n{bash}FROM a\n{pipe}"
    assert not fires(from_stage, "SP307")
    for shell in ('["pwsh", "-c"]', '["powershell.exe"]', '["cmd.exe", "/c"]',
                  '["C:\\\\Program Files\\\\PowerShell\\\\pwsh.exe", "-Command"]'):  # fmt: skip
        text = (
            f"FROM {PINNED}\nSHELL {shell}\nRUN Get-Variable PSVersionTable | Select-Object Value\n"
        )
        assert not fires(text, "SP307"), shell


def test_apk_add_without_version_pins() -> None:
    def apk(args: str) -> list[Finding]:
        return findings(f"FROM {ALPINE}\nRUN apk add {args}\n", "SP213")

    [finding] = apk("--no-cache flex curl=8.11.1-r0 git")
    assert "flex, git" in finding.message and finding.line == 2
    for pinned in (
        "flex=2.6.4-r1",
        "--no-cache git~2.52.0",
        "--no-cache git~=2.52 curl=~8.11",
        '--no-cache "flex>=2.6.1-r1" "python3<3.13"',
        "--virtual .build-deps gcc=14.2.0-r4 musl-dev=1.2.5-r8",
        "--repository https://dl-cdn.alpinelinux.org/alpine/edge/testing flow=0.78.0-r0",
        "-X https://dl-cdn.alpinelinux.org/alpine/edge/testing flow=0.78.0-r0",
        "./mypackage-1.1.1.apk",
        "$PACKAGES",
    ):
        assert not apk(pinned), pinned
    assert apk("-t .build-deps gcc")  # the virtual name is no package, gcc is
    assert not findings(f"FROM {ALPINE}\nRUN apk del curl && apk --no-cache info\n", "SP213")


def test_apt_get_install_without_version_pins() -> None:
    def apt(script: str) -> list[Finding]:
        return findings(f"FROM {PINNED}\nRUN {script}\n", "SP214")

    assert apt("apt-get update && apt-get install -y python3")
    assert apt("apt install -y curl")
    for pinned in (
        "apt-get -yqq --no-install-recommends install nodejs=0.10",
        "apt-get install -y python-demjson=2.2.2* wget=1.16.1* git=1:2.5.0* ruby=1:2.1.*",
        "apt-get install -y --no-install-recommends -t bookworm-backports golang=2:1.23~1",
        "apt-get -o Dpkg::Options::=--force-confold install -y curl=7.88.1-10+deb12u8",
        "apt-get install -y ./wkhtmltox_0.12.5-1.bionic_amd64.deb",
        "apt-get install -y $(cat /tmp/packages)",
        "apt-get update && apt-get upgrade -y",
    ):
        assert not apt(pinned), pinned
    [finding] = apt("apt-get install -y a b=1 c d e")
    assert "a, c, d and 1 more" in finding.message


def test_pinning_rules_are_warnings_and_honour_both_pragmas() -> None:
    assert RULES["SP213"].severity == RULES["SP214"].severity == RULES["SP307"].severity
    assert str(RULES["SP214"].severity) == "warning"
    install = "RUN apt-get update && apt-get install -y curl\n"
    for pragma in ("# scratchpack ignore=SP214\n", "# hadolint ignore=DL3008\n"):
        assert not fires(f"FROM {PINNED}\n{pragma}{install}", "SP214"), pragma
    assert fires(f"FROM {PINNED}\n# hadolint ignore=DL3018\n{install}", "SP214")


def _loose(code: str, base: str, scripts: tuple[str, ...]) -> list[str]:
    """The scripts among ``scripts`` on which ``code`` fires."""
    return [s for s in scripts if fires(f"FROM {base}\nRUN {s}\n", code)]


# rule -> (commands it must fire on, commands it must not fire on)
PINNING = {
    "SP215": (
        (
            "pip install flask",
            "pip2 install MySQL_python",
            "python3 -m pip install --index-url https://example.com/simple example",
            "pip install --root-user-action=ignore mypkg",
            "pip install git+https://github.com/org/repo.git#egg=repo",
            "pipx install black",
            "pip install -r requirements.txt extra",
        ),
        (
            "pip install MySQL_python==1.2.2 --no-cache-dir",
            "pip install 'alabaster>=0.7' 'sphinx<8' 'docutils!=0.21' 'six~=1.16' 'a===1'",
            "pip3 install --target /opt/yamllint yamllint==1.20.0",
            "pip install --no-cache-dir --root-user-action ignore poetry==1.8.5",
            "pip install -r requirements.txt",
            "pip install --requirement requirements.txt",
            "pip install . ./pkg foo/bar mypkg.whl mypkg.tar.gz https://example.com/x.zip",
            "pip install git+https://user@github.com/org/repo.git@0.6-alpha#egg=repo",
            "pip install pykafka -c constraints.txt",
            "pip install 'requests[socks] @ https://example.com/requests.whl'",
            'pipx install --python "$(which python3)" "poetry==1.8.5"',
            "pipenv install flask",
        ),
    ),
    "SP216": (
        (
            "npm install express",
            "npm install @myorg/private",
            "npm install express sax@0.1.1",
            "npm i --global typescript",
            "npm install git+ssh://git@github.com:npm/npm.git",
        ),
        (
            "npm install",
            "npm install --progress=false",
            "npm ci",
            'npm install express@4.21.2 @myorg/private@">=0.1.0 <0.2.0"',
            "npm install -g express@4.1.1",
            "npm install --omit dev",
            "npm install ./folder ../other /abs ~/home pkg-1.2.3.tgz pkg.tar.gz",
            "npm install git+https://github.com/npm/npm.git#v1.0.27",
            "npm run --silent install",
        ),
    ),
    "SP217": (
        (
            "gem install bundler",
            "gem i bundler:1 nokogiri",
        ),
        (
            "gem install bundler:2.5.23",
            "gem install bundler -v '2.0.1'",
            "gem install bundler --version=2.0.1",
            "gem install nokogiri:1.16.0 -- --use-system-libraries=true",
            "gem install nokogiri:1.16.0 --use-system-libraries true",
            "gem update --system",
        ),
    ),
}


@pytest.mark.parametrize("code", sorted(PINNING))
def test_pip_npm_and_gem_installs_without_version_pins(code: str) -> None:
    unpinned, pinned = PINNING[code]
    assert _loose(code, PINNED, unpinned) == list(unpinned)
    assert _loose(code, PINNED, pinned) == []


def test_yum_dnf_and_zypper_install_without_version_pins() -> None:
    rocky = "rockylinux:9@sha256:" + "7" * 64
    yum = ("yum install -y tomcat && yum clean all", "yum module install -y tomcat")
    assert _loose("SP218", rocky, yum) == list(yum)
    yum_pinned = (
        "yum install -y tomcat-9.2 openssl-1:1.1.1k rpm-sign-4.16.1.3 gcc-c++-1.1.1",
        "yum module install -y tomcat:9",
        "yum install -y /tmp/local.rpm https://example.com/x.rpm",
        "yum group install -y 'Development Tools'",
        "yum clean all",
    )
    assert _loose("SP218", rocky, yum_pinned) == []
    dnf = ("dnf install -y rpm-sign", "microdnf install -y tomcat", "dnf module install tomcat")
    assert _loose("SP220", rocky, dnf) == list(dnf)
    dnf_pinned = (
        "dnf install -y tomcat-9.0.1 && dnf clean all",
        "microdnf module install -y tomcat:9",
        'dnf -y --setopt=group_package_types="mandatory" group install "Development Tools"',
        "dnf install -y @development-tools",
        "notdnf install tomcat",
    )
    assert _loose("SP220", rocky, dnf_pinned) == []
    assert not _loose("SP218", rocky, dnf)  # yum's rule does not judge dnf, nor the reverse
    suse = "opensuse/leap:15.6@sha256:" + "6" * 64
    assert _loose("SP219", suse, ("zypper install -y tomcat", "zypper in -y curl")) == [
        "zypper install -y tomcat",
        "zypper in -y curl",
    ]
    zypper_pinned = (
        "zypper install -y tomcat=9.0.39 && zypper clean",
        "zypper install -y tomcat\\>=9.0 'curl<8.7'",
        "zypper install -y tomcat-9.0.39-1.rpm",
        "zypper refresh",
    )
    assert _loose("SP219", suse, zypper_pinned) == []
