"""The rules package and individual rules beyond their documented examples: the package's
structure (family modules that import only the core), and the cases each rule must get
right, many taken from the kinds of case hadolint's own spec checks (our own examples)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import run_cli
from scratchpack.dockerfile.config import LintConfig
from scratchpack.dockerfile.parser import DockerfileError, parse
from scratchpack.dockerfile.rules import DOC_SOURCES, RULES, Finding
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
    """No family imports another (no cycle, no hidden coupling) nor a private helper: only the
    core and the examples their docs share, which import no family."""
    shared = ("__init__.py", "core.py", "examples.py")
    families = sorted(p for p in RULES_DIR.glob("*.py") if p.name not in shared)
    assert len(families) >= 7
    for path in families:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "scratchpack.dockerfile.rules"
            ):
                assert node.module in (
                    "scratchpack.dockerfile.rules.core",
                    "scratchpack.dockerfile.rules.examples",
                ), (path.name, node.module)
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, (path.name, node.module, private)
    for name in ("core.py", "examples.py"):
        tree = ast.parse((RULES_DIR / name).read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in imported if (m or "").startswith("scratchpack.dockerfile.rules")]


def test_each_rule_has_its_doc_beside_it_in_its_family() -> None:
    """Issue 13: a rule and its doc source (why, bad and good examples, fix) are one unit in
    one module: the doc of every code a family registers is defined in that family."""
    registered: dict[str, str] = {}
    for path in RULES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "rule"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                registered[node.args[0].value] = f"scratchpack.dockerfile.rules.{path.stem}"
    assert set(registered) == set(RULES) == set(DOC_SOURCES)
    for code, module in registered.items():
        assert DOC_SOURCES[code].__module__ == module, code


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


def test_apt_lists_count_only_in_the_stages_that_ship() -> None:
    install = "RUN apt-get update && apt-get install -y --no-install-recommends curl\n"
    # a build stage the final one only copies from: its lists never reach the image
    copied_from = f"FROM {PINNED} AS build\n{install}FROM scratch\nCOPY --from=build /x /x\n"
    assert not fires(copied_from, "SP201")
    # a stage the final one is built FROM (through another one): they do
    built_on = f"FROM {PINNED} AS a\n{install}FROM a AS b\nRUN true\nFROM b\n"
    assert [f.line for f in findings(built_on, "SP201")] == [2]
    assert [f.line for f in findings(PIP + install, "SP201")] == [PIP.count("\n") + 1]


def test_consecutive_runs_are_one_command_each_with_the_same_flags() -> None:
    assert [f.line for f in findings(PIP + "RUN a\n# why\nRUN b\n", "SP206")] == [
        PIP.count("\n") + 3
    ]
    secret = "RUN --mount=type=secret,id=foo /foo.sh\n"
    assert fires(PIP + secret + secret.replace("foo.sh", "bar.sh"), "SP206")
    assert not fires(PIP + secret + secret.replace("id=foo /foo", "id=bar /bar"), "SP206")
    assert not fires(PIP + secret + "RUN /bar.sh\n", "SP206")
    # a RUN that chains commands was kept apart on purpose
    assert not fires(PIP + "RUN a && b\nRUN c\n", "SP206")
    assert not fires(PIP + "RUN c\nRUN a; b\n", "SP206")
    assert [f.line for f in findings(PIP + "RUN a && b\nRUN c\nRUN d\n", "SP206")] == [
        PIP.count("\n") + 3
    ]
    assert not fires(PIP + "RUN a\nWORKDIR /\nRUN b\n", "SP206")


def test_add_of_a_compressed_file_may_unpack_so_it_is_not_a_plain_file() -> None:
    for name in ("file.gz", "file.bz2", "file.xz", "rootfs.tar.zst", "app.tbz", "old.Z"):
        assert not fires(PIP + f"ADD {name} /usr/src/app/\n", "SP212"), name
    assert fires(PIP + "ADD file.gzip /usr/src/app/\n", "SP212")
    assert fires(PIP + "ADD file.tar.gz notes.txt /usr/src/app/\n", "SP212")


def test_healthcheck_cmd_in_shell_form_needs_a_shell() -> None:
    tail = 'CMD ["/app"]\n'
    assert fires(PIP + tail + "HEALTHCHECK CMD curl -f http://localhost/\n", "SP303")
    assert fires(PIP + tail + "HEALTHCHECK --interval=5s cmd /probe\n", "SP303")
    assert not fires(PIP + tail + 'HEALTHCHECK CMD ["/probe"]\n', "SP303")
    assert not fires(PIP + tail + "HEALTHCHECK NONE\n", "SP303")
    shell = 'SHELL ["/bin/bash", "-c"]\n'
    assert not fires(PIP + shell + tail + "HEALTHCHECK CMD /probe\n", "SP303")
    build = "FROM alpine:3 AS build\nHEALTHCHECK CMD /probe\n"
    assert not fires(build + PIP + tail, "SP303")


def test_copy_to_a_partly_quoted_variable_is_not_relative() -> None:
    copy = 'COPY binder/README.ipynb "${HOME}"/README.ipynb\n'
    assert not fires(PIP + copy, "SP316")
    assert not fires(PIP + "COPY a '/opt'/a\n", "SP316")
    assert fires(PIP + 'COPY a "rel"/a\n', "SP316")


def test_user_from_a_variable_is_judged_by_its_value() -> None:
    assert fires(PIP + "ENV MSF_USER msf\nUSER $MSF_USER\n", "SP408")
    assert fires(PIP + "ARG APP=app\nUSER ${APP}:${APP}\n", "SP408")
    assert not fires(PIP + "ENV UID=1000\nUSER ${UID}\n", "SP408")
    assert not fires(PIP + "USER ${NB_UID}\n", "SP408")  # set by the base image: unknown


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


# -- the public corpus (docs/benchmarks.md): each failed before the fix ---------------------


def test_apt_get_update_before_a_purge_keeps_the_lists() -> None:
    """devcontainers' python image: an update, then only a purge, and no cleanup: the lists
    the update fetched ship in the layer as after an install (hadolint's DL3009 agrees)."""
    purge = (
        "RUN apt-get update && export DEBIAN_FRONTEND=noninteractive \\\n"
        "    # the CVE note\n"
        "    && apt-get purge -y imagemagick imagemagick-6-common\n"
    )
    assert [f.line for f in findings(PIP + purge, "SP201")] == [2]
    assert not fires(PIP + purge.replace("common\n", "common && rm -rf /var/lib/apt/lists/*\n"),
                     "SP201")  # fmt: skip
    assert fires(PIP + "RUN apt-get update && apt-get upgrade -y\n", "SP201")
    assert not fires(PIP + "RUN apt-get update && apt-get dist-clean\n", "SP201")
    # an update alone is SP202's finding, not both
    lone = lint_dockerfile(parse(PIP + "RUN apt-get update\n"))
    assert [f.code for f in lone if f.code in ("SP201", "SP202")] == ["SP202"]
    assert not fires(PIP + "RUN apt-get purge -y imagemagick\n", "SP201")  # no lists fetched


def test_packages_named_by_a_variable_the_stage_sets_are_judged() -> None:
    """vimagick's shadowsocks and dante: ``ENV SS_DEP autoconf ...`` then ``apk add $SS_DEP``
    installs those names unpinned; the variable was taken for a list the file cannot see."""
    apk = f"FROM {ALPINE}\nENV SS_DEP autoconf build-base curl\nRUN apk add --update $SS_DEP\n"
    [finding] = findings(apk, "SP213")
    assert "autoconf, build-base, curl" in finding.message and finding.line == 3
    apt = f'FROM {PINNED}\nARG DANTE_DEPS="build-essential curl"\n'
    apt += "RUN apt-get install -y ${DANTE_DEPS}\n"
    assert "build-essential, curl" in findings(apt, "SP214")[0].message
    for quiet in (
        f'FROM {ALPINE}\nENV SS_DEP="autoconf=2.72-r0 curl~8.11"\nRUN apk add $SS_DEP\n',
        f"FROM {ALPINE}\nARG SS_DEP\nRUN apk add $SS_DEP\n",  # its value comes with --build-arg
        f"FROM {ALPINE}\nRUN apk add $SS_DEP\n",  # nothing in the file sets it
        # the RUN assigns it: the shell's value, not the ENV's
        f'FROM {ALPINE}\nENV SS_DEP curl\nRUN SS_DEP="curl=8.11.1-r0" && apk add $SS_DEP\n',
        f"FROM {ALPINE} AS a\nENV SS_DEP curl\nFROM {ALPINE}\nRUN apk add $SS_DEP\n",
        # options in the value: which word is a package would be a guess
        f'FROM {ALPINE}\nENV ADD_OPTS="-X https://example.com/edge"\nRUN apk add $ADD_OPTS\n',
    ):
        assert not fires(quiet, "SP213"), quiet


def test_a_negated_pipeline_is_still_a_pipe() -> None:
    """devcontainers' javascript-node image: tree-sitter-bash puts the ``!`` of ``! cat | grep``
    on cat, and the pipe into grep was lost."""
    negated = (
        'RUN if ! cat /etc/group | grep -e "^npm:" > /dev/null 2>&1; then groupadd -r npm; fi\n'
    )
    [finding] = findings(PIP + negated, "SP307")
    assert finding.message.startswith("cat | grep")
    assert fires(PIP + "RUN ! curl -fsS https://example.com/x | grep -q ok\n", "SP307")
    assert not fires(PIP + "RUN ! grep -q x /etc/group\n", "SP307")


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


# -- hadolint's DL rules without an equivalent before (issue 13) ------------------------------

ROCKY = "rockylinux:9@sha256:" + "7" * 64
SUSE = "opensuse/leap:15.6@sha256:" + "6" * 64

# code -> (base, RUN scripts it must fire on, RUN scripts it must not fire on); each script is
# the text after RUN, linted as FROM base + RUN script
COMMAND_RULES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "SP221": (PINNED, (
        "apt-get install python",
        "apt-get install -q python",
        "apt-get install --quiet python",
        "apt-get update; apt-get install curl",
        "sh -c 'apt-get install curl'",
        "apt install curl",
    ), (
        "apt-get install -yq python",
        "apt-get install -y python",
        "apt-get -y install python",
        "apt-get --yes install python",
        "apt-get --assume-yes install python",
        "apt-get install -qq python",
        "apt-get install -q -q python",
        "apt-get install -q=2 python",
        "apt-get install --quiet --quiet python",
        "apt-get -o APT::Get::Assume-Yes=true install python",
        "apt-get update",
        "echo apt-get install x",
    )),
    "SP222": (PINNED, (
        "apt install python",
        "apt update && apt-get install -y x",
        "sudo apt list --installed",
    ), (
        "apt-get install -y python",
        "apt-cache policy python",
        "echo apt",
        "aptitude install -y x",
    )),
    "SP223": (ROCKY, (
        "yum install httpd-2.4.24 && yum clean all",
        "yum groupinstall 'Development Tools'",
        "yum --setopt=tsflags=nodocs localinstall /tmp/x.rpm",
    ), (
        "yum install -y httpd-2.4.24 && yum clean all",
        "yum -y install httpd",
        "yum install --assumeyes httpd",
        "yum clean all",
        "bash -c `# not even a yum command`",
    )),
    "SP224": (ROCKY, (
        "dnf install httpd-2.4.24 && dnf clean all",
        "microdnf install httpd-2.4.24 && microdnf clean all",
        "dnf5 groupinstall x",
    ), (
        "dnf install -y httpd-2.4.24 && dnf clean all",
        "microdnf -y install httpd",
        "notdnf install httpd",
        "dnf makecache",
    )),
    "SP225": (SUSE, (
        "zypper install httpd=2.4.24 && zypper clean",
        "zypper rm vim",
        "zypper patch",
    ), (
        "zypper install -n httpd=2.4.24 && zypper clean",
        "zypper --non-interactive install httpd=2.4.24",
        "zypper install -y httpd=2.4.24",
        "zypper -n in httpd",
        "zypper install --no-confirm httpd=2.4.24",
        "zypper refresh",
    )),
    "SP226": (PINNED, (
        "go install example.com/pkg",
        "go install example.com/pkg@latest",
        "go get example.com/pkg",
        "go get -tool foobar@latest",
        "go run example.com/pkg@latest",
        "CGO_ENABLED=0 go install -ldflags '-s -w' golang.org/x/tools/gopls@master",
    ), (
        "go install example.com/pkg@v1.2.3",
        "go install /go/app/foobar",
        "go install ./app/foobar",
        "go install .",
        "go get example.com/pkg@v1.2.3",
        "go run example.com/pkg@v1.2.3 --foo bar",
        "go run main.go",
        "go build -o /app .",
        "go install std",
        "go mod download",
    )),
    "SP227": (ROCKY, (
        "yum install -y mariadb-10.4",
        "yum clean all && yum install -y mariadb-10.4",
        "yum install -y a-1 && yum clean all && yum install -y b-1",
    ), (
        "yum install -y mariadb-10.4 && yum clean all",
        "yum install -y mariadb-10.4 && rm -rf /var/cache/yum/*",
        "yum install -y mariadb-10.4 && yum -q clean all",
        "yum clean all",
        "bash -c `# not even a yum command`",
    )),
    "SP228": (ROCKY, (
        "dnf install -y mariadb-10.4",
        "microdnf install -y mariadb-10.4",
        "dnf -y upgrade",
        "dnf -y up-min",
        "microdnf clean all && dnf install -y mariadb-10.4",
        "rm -rf /var/cache/libdnf5 && dnf in -y mariadb-10.4",
    ), (
        "dnf install -y mariadb-10.4 && dnf clean all",
        "microdnf install -y mariadb-10.4 && microdnf clean all",
        "dnf in -y mariadb-10.4 && rm -rf /var/cache/yum/*",
        "dnf install -y x-1 && rm -rf /var/cache/libdnf5",
        "notdnf install mariadb",
        "dnf makecache",
    )),
    "SP229": (SUSE, (
        "zypper install -y mariadb=10.4",
        "zypper clean && zypper install -y mariadb=10.4",
    ), (
        "zypper install -y mariadb=10.4 && zypper clean",
        "zypper install -y mariadb=10.4 && zypper cc",
        "zypper -n in mariadb=10.4 && zypper clean --all",
        "zypper refresh",
    )),
    "SP231": (PINNED, (
        "useradd -u 123456 luser",
        "useradd --uid=1000000 -m app",
        "groupadd -g 123456 g && useradd -u123456 -g g luser",
    ), (
        "useradd luser",
        "useradd -u 12345 luser",
        "useradd -l -u 123456 luser",
        "useradd --no-log-init -u 123456 luser",
        "useradd -lu 123456 luser",
        "useradd -u $UID luser",
    )),
    "SP308": (PINNED, (
        "top",
        "service nginx start",
        "apt-get update && ps aux",
        "sudo kill -9 1",
        "ssh git@example.com",
    ), (
        "apt-get install -y ssh vim",
        "echo top",
        "pkill nginx",
    )),
    "SP309": (PINNED, (
        "wget my.xyz",
        "wget -O /tmp/x https://example.com/x",
        "cd /tmp && wget https://example.com/x",
    ), (
        "wget --progress=dot:giga my.xyz",
        "wget -q my.xyz",
        "wget -qO- my.xyz",
        "wget --quiet my.xyz",
        "wget -nv my.xyz",
        "wget --no-verbose my.xyz",
        "wget --output-file=/tmp/wget.log my.xyz",
        "wget -o /tmp/wget.log my.xyz",
        "wget --append-output=/tmp/wget.log my.xyz",
        "wget -a /tmp/wget.log my.xyz",
        "curl -fsSLO my.xyz",
    )),
    "SP311": (PINNED, (
        "ln -sfv /bin/bash /bin/sh",
        "ln -sf bash /bin/sh && echo",
    ), (
        "ln -sf /bin/true /sbin/initctl",
        "ln -s foo bar && unrelated && something_with /bin/sh",
        "ln -s /bin/sh /usr/local/bin/sh2",
    )),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(COMMAND_RULES))
def test_command_rules_fire_and_do_not_fire(code: str) -> None:
    base, bad, good = COMMAND_RULES[code]
    assert _loose(code, base, bad) == list(bad)
    assert _loose(code, base, good) == []


@pytest.mark.parametrize(
    ("code", "script", "column"),
    [
        ("SP221", "echo a && \\\n    apt-get install curl", 5),
        ("SP223", "true; \\\n  yum install httpd", 3),
        ("SP227", "set -e \\\n && yum install -y x-1", 5),
        ("SP309", "true \\\n  && wget my.xyz", 6),
        ("SP311", "true && \\\n   ln -sf /bin/bash /bin/sh", 4),
        ("SP231", "true && \\\n useradd -u 123456 a", 2),
    ],
)
def test_command_rules_point_at_the_command_on_its_continuation_line(
    code: str, script: str, column: int
) -> None:
    [finding] = findings(f"FROM {PINNED}\nRUN {script}\n", code)
    assert (finding.line, finding.column, finding.instruction_start) == (3, column, 2)


def test_command_rules_read_heredocs_and_exec_form() -> None:
    heredoc = f"FROM {PINNED}\nRUN <<EOF\nset -e\napt-get install curl\nEOF\n"
    [finding] = findings(heredoc, "SP221")
    assert (finding.line, finding.column) == (4, 1)
    assert fires(f'FROM {PINNED}\nRUN ["/bin/sh", "-c", "apt-get install curl"]\n', "SP221")
    assert fires(f'FROM {PINNED}\nRUN ["wget", "https://example.com/x"]\n', "SP309")


def test_yarn_cache_only_in_the_stages_the_image_ships() -> None:
    node = "node:22-slim@sha256:" + "9" * 64
    assert fires(f"FROM {node}\nRUN yarn install foo\n", "SP230")
    assert fires(f"FROM {node}\nRUN yarn cache clean && yarn install foo\n", "SP230")
    assert not fires(f"FROM {node}\nRUN yarn install bar && yarn cache clean\n", "SP230")
    for mount in ("cache", "tmpfs"):
        ok = f"FROM {node}\nRUN --mount=type={mount},target=/root/.cache/yarn yarn install x\n"
        assert not fires(ok, "SP230")
        wrong = f"FROM {node}\nRUN --mount=type={mount},target=/var/lib/foobar yarn install x\n"
        assert fires(wrong, "SP230")
    inherited = f"FROM {node} AS foo\nRUN yarn install\nFROM foo\nRUN echo\n"
    assert [f.line for f in findings(inherited, "SP230")] == [2]
    copied_from = f"FROM {node} AS foo\nRUN yarn install foo\nFROM scratch\nRUN hey\n"
    assert not fires(copied_from, "SP230")
    assert not fires(f"FROM {node}\nRUN yarn build\n", "SP230")


def test_cache_rules_accept_a_cache_or_tmpfs_mount() -> None:
    for code, base, target, script in (
        ("SP227", ROCKY, "/var/cache/yum", "yum install -y x-1"),
        ("SP228", ROCKY, "/var/cache/libdnf5", "dnf install -y x-1"),
        ("SP228", ROCKY, "/root/.cache/libdnf5", "microdnf install -y x-1"),
        ("SP229", SUSE, "/var/cache/zypp", "zypper install -y x=1"),
    ):
        for kind in ("cache", "tmpfs"):
            run = f"FROM {base}\nRUN --mount=type={kind},target={target} {script}\n"
            assert not fires(run, code), run
        assert fires(f"FROM {base}\nRUN --mount=type=cache,target=/other {script}\n", code)


def test_wget_and_curl_in_one_stage() -> None:
    both = f"FROM {PINNED}\nRUN wget my.xyz\nRUN curl my.xyz\nRUN echo hello\nRUN wget foo.com\n"
    assert [(f.line, f.column) for f in findings(both, "SP310")] == [(3, 5), (5, 5)]
    one_run = f"FROM {PINNED}\nRUN wget my.xyz && curl localhost\n"
    assert [(f.line, f.column) for f in findings(one_run, "SP310")] == [(2, 20)]
    stages = f"FROM {PINNED} AS a\nRUN wget my.xyz\nFROM scratch\nRUN curl localhost\n"
    assert not fires(stages, "SP310")
    assert not fires(f"FROM {PINNED}\nRUN wget -q x && wget -q y\n", "SP310")


def _lint(text: str, code: str) -> list[tuple[int, int]]:
    return [(f.line, f.column) for f in findings(text, code)]


def test_copy_then_extract_is_an_add_and_add_of_an_archive_is_fine_for_sp212() -> None:
    base = f"FROM {PINNED}\n"
    assert _lint(base + "COPY packaged-app.tar /usr/src/app\n"
                 "RUN tar -xf /usr/src/app/packaged-app.tar\n", "SP312") == [(2, 6)]  # fmt: skip
    workdir = "COPY packaged-app.tar /usr/src/app\nWORKDIR /usr/src/app\n"
    assert fires(base + workdir + "RUN foo && echo x && tar -xf packaged-app.tar\n", "SP312")
    assert fires(base + "COPY foo/bar/packaged-app.tar /foo.tar\nRUN tar -xf /foo.tar\n", "SP312")
    assert fires(base + "COPY app.tgz /opt/\nRUN cd /opt && tar xzf app.tgz\n", "SP312")
    assert fires(base + 'COPY "app.tar.gz" /opt/\nRUN gunzip /opt/app.tar.gz\n', "SP312")
    windows = (
        'COPY build\\foo\\bar.tar.gz "C:\\Program Files\\foo.tar.gz"\nRUN tar -xf foo.tar.gz\n'
    )
    assert fires(base + windows, "SP312")
    for fine in (
        "COPY packaged-app.tar /usr/src/app\nFROM debian:11 AS newstage\n",
        "COPY package.json /usr/src/app\n",
        "COPY --from=builder /usr/local/share/some.tar /opt/some.tar\nRUN tar -xf /opt/some.tar\n",
        "COPY app.zip /opt/\nRUN unzip /opt/app.zip\n",  # ADD does not unpack a zip
        "COPY app.tar /opt/\nRUN tar -tf /opt/app.tar\n",  # listing, not extracting
        "COPY app.tar /opt/\nRUN tar -xf /opt/other.tar\n",
    ):
        assert not fires(base + fine, "SP312"), fine
    # what SP312 asks for, SP212 accepts; and SP212's archive-to-a-file case is no SP312
    assert not fires(base + "ADD app.tar.gz /opt/\n", "SP212")
    assert fires(base + "ADD app.tar.gz /opt/app.tar.gz\n", "SP212")
    assert not fires(base + "ADD app.tar.gz /opt/\n", "SP312")


def test_expose_ports() -> None:
    assert _lint(f"FROM {PINNED}\nEXPOSE 80 80000\n", "SP313") == [(2, 11)]
    for bad in ("80000", "40000-80000/tcp", "80/http", "http", "-1"):
        assert fires(f"FROM {PINNED}\nEXPOSE {bad}\n", "SP313"), bad
    for good in ("60000", "${FOOBAR}", "40000-60000/tcp", "40000-${FOOBAR}", "53/udp", "0",
                 "65535", "8080/TCP", "$PORT/tcp"):  # fmt: skip
        assert not fires(f"FROM {PINNED}\nEXPOSE {good}\n", "SP313"), good


def test_copy_of_several_sources_needs_a_directory() -> None:
    assert _lint(f"FROM {PINNED}\nCOPY foo bar baz\n", "SP314") == [(2, 14)]
    assert fires(f'FROM {PINNED}\nCOPY foo bar "baz"\n', "SP314")
    assert fires(f"FROM {PINNED}\nADD a b /opt\n", "SP314")
    for good in ("COPY foo bar", "COPY foo bar baz/", 'COPY foo bar "baz/"',
                 "COPY a b $DEST", "COPY --from=x a b c/", 'COPY ["a", "b", "/c/"]'):  # fmt: skip
        assert not fires(f"FROM {PINNED}\n{good}\n", "SP314"), good
    assert fires(f'FROM {PINNED}\nCOPY ["a", "b", "/c"]\n', "SP314")


def test_env_that_reads_a_variable_it_sets() -> None:
    for bad in ('ENV BLA="blubb" BLUBB="${BLA}/blubb"', 'ENV BLA="blubb" BLUBB="$BLA/blubb"',
                'ENV BLA="blubb" BLUBB="$BLA/$BLAFOO/blubb"', "ENV PATH=/a:${PATH} PATH=/b:${PATH}",
                'ENV A=1 B="${A:-x}"'):  # fmt: skip
        assert fires(f"FROM {PINNED}\n{bad}\n", "SP315"), bad
    for good in ('ENV BLA="blubb"\nENV BLUBB="${BLA}/blubb"', 'ENV BLA="blubb" BLUBB="${FOOBLA}"',
                 'ENV BLA="blubb" BLUBB="$BLAFOO/blubb"', 'ENV BLA="blubb" BLUBB="BLA/x/BLA"',
                 "ARG BLA\nENV BLA=${BLA}", "ENV PATH=/bla:${PATH}", "ENV A=1 B='$A'",
                 "ENV BLA blubb"):  # fmt: skip
        assert not fires(f"FROM {PINNED}\n{good}\n", "SP315"), good
    assert _lint(f"FROM {PINNED}\nENV A=1 \\\n    B=$A\n", "SP315") == [(3, 5)]


def test_copy_to_a_relative_destination_without_workdir() -> None:
    assert _lint(f"FROM {PINNED}\nCOPY bla.sh blubb.sh\n", "SP316") == [(2, 13)]
    assert fires(f'FROM {PINNED}\nCOPY bla.sh "blubb.sh"\n', "SP316")
    assert fires(f"FROM {PINNED}\nCOPY a b\n", "SP316")
    assert fires(f"FROM {PINNED}\nCOPY . .\nWORKDIR /app\n", "SP316")  # WORKDIR comes after
    for good in ("COPY bla.sh /usr/local/bin/blubb.sh", 'COPY bla.sh "/usr/local/bin/b.sh"',
                 "COPY bla.sh c:\\system32\\blubb.sh", "COPY bla.sh c:/system32/blubb.sh",
                 "WORKDIR /usr\nCOPY bla.sh blubb.sh", "COPY src.sh ${SRC_BASE_ENV}",
                 'COPY src.sh "$SRC_BASE_ENV"'):  # fmt: skip
        assert not fires(f"FROM {PINNED}\n{good}\n", "SP316"), good
    not_inherited = f"FROM {PINNED} AS stage1\nWORKDIR /usr\nFROM {PINNED}\nCOPY foo bar\n"
    assert fires(not_inherited, "SP316")
    deep = (f"FROM {PINNED} AS base1\nWORKDIR /usr\nFROM base1 AS base2\nRUN foo\n"
            "FROM base2\nCOPY foo bar\n")  # fmt: skip
    assert not fires(deep, "SP316")


def test_from_platform() -> None:
    assert _lint(f"FROM --platform=linux {PINNED}\n", "SP317") == [(1, 17)]
    for good in ("$BUILDPLATFORM", '"$BUILDPLATFORM"', "${BUILDPLATFORM}", "${BUILDPLATFORM:-}",
                 "$TARGETPLATFORM"):  # fmt: skip
        assert not fires(f"FROM --platform={good} {PINNED}\n", "SP317"), good
    assert not fires(f"FROM {PINNED}\n", "SP317")


def test_reserved_stage_names_and_whole_file_systems() -> None:
    assert _lint(f"FROM {PINNED} AS scratch\n", "SP318") == [(1, len(f"FROM {PINNED} AS ") + 1)]
    assert fires(f"FROM {PINNED} AS context\n", "SP318")
    assert not fires(f"FROM {PINNED} AS foobar\n", "SP318")
    build = f"FROM {PINNED} AS build\nRUN make\nFROM scratch\n"
    assert _lint(build + "COPY --from=build / /\n", "SP319") == [(4, 19)]
    assert fires(build + 'COPY --from=build "/" "/"\n', "SP319")
    for good in ("COPY / /", "COPY --from=build /app /", "COPY --from=build / /app"):
        assert not fires(build + good + "\n", "SP319"), good
    # a build stage that takes a helper image's whole tree ships none of it
    helper = f"FROM {PINNED} AS build\nCOPY --from=tonistiigi/xx / /\nRUN make\nFROM scratch\n"
    assert not fires(helper + "COPY --from=build /out/app /app\n", "SP319")


def test_inline_pragmas_are_off_by_default_and_on_with_a_severity() -> None:
    text = f"FROM {PINNED}\n# hadolint ignore=DL3003\nRUN cd /tmp\n"
    assert not fires(text, "SP320")
    on = LintConfig(severity={"SP320": "info"})
    found = [f for f in lint_dockerfile(parse(text), config=on) if f.code == "SP320"]
    assert [(f.line, f.column) for f in found] == [(2, 1)]
    for other in ("# hadolint shell=powershell", "# foobar", "# scratchpack global ignore=SP302"):
        quiet = f"FROM {PINNED}\n{other}\nRUN cd /tmp\n"
        assert not [f for f in lint_dockerfile(parse(quiet), config=on) if f.code == "SP320"]
    also = f"FROM {PINNED}\n  # scratchpack ignore=SP302\nRUN cd /tmp\n"
    assert [f.column for f in lint_dockerfile(parse(also), config=on) if f.code == "SP320"] == [3]


def test_hadolint_override_turns_dl1001_on(tmp_path: Path) -> None:
    from scratchpack.dockerfile.config import parse_hadolint

    config = parse_hadolint({"override": {"info": ["DL1001"]}}, tmp_path / ".hadolint.yaml")
    assert config.severity == {"SP320": "info"}
    text = f"FROM {PINNED}\n# hadolint ignore=DL3003\nRUN cd /tmp\n"
    assert [f.code for f in lint_dockerfile(parse(text), config=config)].count("SP320") == 1


def test_user_by_name() -> None:
    assert _lint(f"FROM {PINNED}\nUSER foobar\n", "SP408") == [(2, 6)]
    assert fires(f"FROM {PINNED}\nUSER foobar:barfoo\n", "SP408")
    assert fires(f"FROM {PINNED}\nUSER 1000:staff\n", "SP408")
    for good in ("USER 12345", "USER 1234:5678", "ARG APP_UID\nUSER ${APP_UID}", "USER $U:$G"):
        assert not fires(f"FROM {PINNED}\n{good}\n", "SP408"), good


def test_trusted_registries_take_wildcards_and_judge_copy_and_mount_images() -> None:
    def untrusted(text: str, *allowed: str) -> list[int]:
        config = LintConfig(trusted_registries=frozenset(allowed))
        return [f.line for f in lint_dockerfile(parse(text), config=config) if f.code == "SP108"]

    assert untrusted("FROM random.com/debian:12\n", "docker.io") == [1]
    assert untrusted("FROM random.com/debian:12\n", "x.com", "random.com") == []
    assert untrusted("FROM x.com/debian:12\n", "*.random.com") == [1]
    assert untrusted("FROM foo.random.com/debian:12\n", "x.com", "*.random.com") == []
    assert untrusted("FROM random.com/debian:12\n", "*") == []
    docker_io = "FROM ubuntu:24.04 AS a\nFROM zemanlx/ubuntu:18.04 AS b\nFROM docker.io/z/u:1\n"
    assert untrusted(docker_io, "docker.io") == []
    assert untrusted("FROM random.com/foo:1 AS b1\nFROM b1 AS b2\n", "random.com") == []
    pulls = (
        "FROM trusted.com/base:1\nCOPY --from=untrusted.com/repo/image:tag /foo /bar\n"
        "RUN --mount=type=bind,from=untrusted.com/repo/image:tag,target=/foo foobar\n"
        "COPY --from=trusted.com/repo/image:tag /foo /bar\n"
    )
    assert untrusted(pulls, "trusted.com") == [2, 3]
    [finding] = [
        f
        for f in lint_dockerfile(
            parse(pulls), config=LintConfig(trusted_registries=frozenset({"trusted.com"}))
        )
        if f.code == "SP108" and f.line == 2
    ]
    assert finding.column == len("COPY --from=") + 1
    [mount] = [
        f
        for f in lint_dockerfile(
            parse(pulls), config=LintConfig(trusted_registries=frozenset({"trusted.com"}))
        )
        if f.code == "SP108" and f.line == 3
    ]
    assert mount.column == len("RUN --mount=type=bind,from=") + 1


def test_zypper_dist_upgrade_is_an_upgrade() -> None:
    for bad in ("zypper dist-upgrade", "zypper dup", "zypper -n dup", "apt-get upgrade -y"):
        assert fires(f"FROM {SUSE}\nRUN {bad}\n", "SP203"), bad
    assert not fires(f"FROM {SUSE}\nRUN zypper install -y x=1 && zypper clean\n", "SP203")
    assert RULES["SP203"].hadolint == ("DL3035",)


def test_arg_without_a_default_with_a_secret_name() -> None:
    """A name alone is SP430's (BuildKit's SecretsUsedInArgOrEnv, hadolint's DL3064), a
    warning; a secret value is SP400's error; never both for one word."""
    assert _lint(f"FROM {PINNED}\nARG AWS_ACCESS_KEY_ID\n", "SP430") == [(2, 5)]
    assert not fires(f"FROM {PINNED}\nARG AWS_ACCESS_KEY_ID\n", "SP400")
    assert fires(f"FROM {PINNED}\nARG openai_api_key\n", "SP430")
    assert not fires(f"FROM {PINNED}\nARG foobar\nENV foobar=barfoo\n", "SP430")
    assert not fires(f'FROM {PINNED}\nARG API_TOKEN=""\n', "SP400")  # declared empty
    assert RULES["SP430"].hadolint == ("DL3064",) == RULES["SP400"].hadolint
    # before the first FROM only FROM lines see it: not recorded anywhere (deliberate)
    assert not fires(f"ARG AWS_ACCESS_KEY_ID\nFROM {PINNED}\n", "SP430")


def test_instruction_before_from_is_a_parse_error_like_dl3061() -> None:
    with pytest.raises(DockerfileError, match="LABEL before the first FROM"):
        parse("LABEL foo=bar\nFROM foo\n")
    parse("# syntax = docker/dockerfile:1\nARG A=B\nFROM foo\nLABEL foo=bar\n")


def test_every_hadolint_code_is_covered_or_explained() -> None:
    from scratchpack.dockerfile.ruledocs import HADOLINT

    declared = {c for r in RULES.values() for c in r.hadolint}
    assert declared <= set(HADOLINT), declared - set(HADOLINT)
    for code, (_, why) in HADOLINT.items():
        assert code in declared or why, code
    mine = {"DL1001", "DL3001", "DL3010", "DL3011", "DL3014", "DL3021", "DL3026", "DL3027",
            "DL3029", "DL3030", "DL3032", "DL3034", "DL3035", "DL3036", "DL3038", "DL3040",
            "DL3044", "DL3045", "DL3046", "DL3047", "DL3060", "DL3062", "DL3063", "DL3064",
            "DL3066", "DL3067", "DL4001", "DL4005"}  # fmt: skip
    assert mine <= declared, mine - declared


@pytest.mark.parametrize("dl", ["DL3014", "DL1001", "DL3026", "DL3035", "DL4005"])
def test_explain_takes_the_new_hadolint_codes(dl: str) -> None:
    result = run_cli("lint", "--explain", dl)
    assert result.code == 0, result.stderr
    [sp] = [c for c, r in RULES.items() if dl in r.hadolint]
    assert result.stdout.startswith(sp) and dl in result.stdout.splitlines()[0]


def test_explain_of_a_hadolint_code_with_no_rule_says_why() -> None:
    result = run_cli("lint", "--explain", "DL3061")
    assert result.code == 2
    assert "no scratchpack equivalent: a parse error in scratchpack (SP000)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_version_variable_nothing_sets_is_no_pin() -> None:
    fedora = "fedora:42@sha256:" + "5" * 64
    other_stage = f"FROM {fedora} AS build\nENV version=2.51.0\nFROM {fedora}\n"
    assert fires(other_stage + "RUN dnf -y install git-core-${version}\n", "SP220")
    assert fires(other_stage + "RUN yum -y install git-core-$version\n", "SP218")
    for sets in ("ENV version=2.51.0\n", "ARG version\n"):
        assert not fires(
            f"FROM {fedora}\n{sets}RUN dnf -y install git-core-${{version}}\n", "SP220"
        )
    inherited = f"FROM {fedora} AS base\nENV version=2.51.0\nFROM base\n"
    assert not fires(inherited + "RUN dnf -y install git-core-${version}\n", "SP220")
    inline = f"FROM {fedora}\nRUN v=1 dnf -y install git-core-$v\n"
    assert not fires(inline, "SP220")
    # an ARG of another stage counts as set, as for hadolint
    arg_elsewhere = f"FROM {fedora} AS build\nARG version=2.51.0\nFROM {fedora}\n"
    assert not fires(arg_elsewhere + "RUN dnf -y install git-core-${version}\n", "SP220")


def test_one_finding_per_env_or_expose_however_many_words_it_has() -> None:
    """Locating a word costs a pass over its instruction: thousands of findings in one
    instruction would be quadratic (an ENV of 4,900 continued pairs took 12 s). One finding
    per instruction, naming how many more there are, is what keeps it linear, and
    what this asserts (unit tests assert no times: the house rule)."""
    pairs = " \\\n ".join(f"A{i}=$A{i - 1}" for i in range(1, 4900))
    ports = " ".join(str(70000 + i) for i in range(4900))
    text = f"FROM {PINNED}\nENV {pairs}\nEXPOSE {ports}\n"
    env, expose = findings(text, "SP315"), findings(text, "SP313")
    assert [(f.line, f.column) for f in env] == [(3, 2)]
    assert "and 4897 more" in env[0].message
    assert [f.line for f in expose] == [4900 + 1]  # the EXPOSE line, after 4,899 pairs


def test_huge_numbers_are_no_crash() -> None:
    """Python refuses int() of more than 4,300 digits; a word may have 16 KiB of them."""
    digits = "9" * 10_000
    assert fires(f"FROM {PINNED}\nEXPOSE {digits}\n", "SP313")
    assert fires(f"FROM {PINNED}\nEXPOSE 0{digits}-1\n", "SP313")
    assert not fires(f"FROM {PINNED}\nEXPOSE 000080\n", "SP313")
    assert not fires(f"FROM {PINNED}\nRUN apt-get install -q={digits} curl\n", "SP221")
    assert fires(f"FROM {PINNED}\nRUN useradd -u {digits} app\n", "SP231")
