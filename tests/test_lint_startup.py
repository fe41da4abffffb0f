"""``scratchpack lint FILE`` start-up: pre-commit hooks and editors run one process per file, so
the lint path must not load what only other commands need (the image model, transports, the
registry client, rich, a TOML parser for a pyproject.toml that configures nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Modules the lint command must not import: each is a start-up cost for nothing.
NOT_ON_THE_LINT_PATH = (
    "httpx",
    "rich",
    "msgspec",
    "zstandard",
    "elftools",
    "scratchpack.transports",
    "scratchpack.model.image",
    "scratchpack.dockerfile.fix",
    "scratchpack.dockerfile.ruledocs",
    "scratchpack.secrets",  # file-content rules: audit only (lint uses scratchpack.credentials)
    "tomllib",
    "traceback",
    "dataclasses",  # and inspect with it: 15-30 ms, the lint records are NamedTuple and slots
    "inspect",
    "importlib.resources",  # tree-sitter-bash's __init__ imports it (and tempfile): not loaded
    "tree_sitter_bash",
)


def loaded_by_lint(cwd: Path, *args: str) -> set[str]:
    """The modules a real ``scratchpack lint`` process has loaded when it ends."""
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "from scratchpack.cli.main import main\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert proc.returncode in (0, 1), proc.stderr
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules for h in NOT_ON_THE_LINT_PATH if m == h or m.startswith(h + ".")}


def test_lint_loads_only_the_lint_path(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n')
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM alpine:3.20\nRUN apk add --no-cache curl && echo $unset_var\nUSER nobody\n"
    )
    modules = loaded_by_lint(tmp_path, "lint", "Dockerfile")
    assert "scratchpack.dockerfile.rules" in modules  # the check does observe the lint path
    assert _heavy(modules) == set()


def test_a_lint_builds_no_rule_doc(tmp_path: Path) -> None:
    """Each rule's doc is written beside the rule, as a function: a lint loads the text with
    the bytecode but builds no RuleDoc; SARIF, which describes every rule, builds them all
    (so the count does observe them)."""
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20\nRUN apk add curl\nUSER nobody\n")
    code = (
        "import atexit, gc, sys\n"
        "def count():\n"
        "    from scratchpack.dockerfile.rules import RuleDoc\n"
        "    print(sum(isinstance(o, RuleDoc) for o in gc.get_objects()), file=sys.stderr)\n"
        "atexit.register(count)\n"
        "from scratchpack.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "SCRATCHPACK_LINT_SERVER": "0"}
    built = {}
    for output in ("text", "json", "sarif"):
        proc = subprocess.run(
            [sys.executable, "-c", code, "lint", "--no-shellcheck", "-f", output, "Dockerfile"],
            cwd=tmp_path, capture_output=True, text=True, check=False, env=env,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr  # findings: SP101, SP204...
        built[output] = int(proc.stderr.strip().splitlines()[-1])
    assert built["text"] == built["json"] == 0
    assert built["sarif"] >= 100


def test_a_pyproject_that_configures_scratchpack_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.scratchpack]\nignore = ["SP101"]\n')
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20\n")
    modules = loaded_by_lint(tmp_path, "lint", "--format", "json", "Dockerfile")
    assert "tomllib" in modules
    proc = subprocess.run(
        [sys.executable, "-m", "scratchpack", "lint", "--format", "json", "Dockerfile"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "SP101" not in {f["code"] for f in json.loads(proc.stdout)}


def test_with_no_lint_server_the_client_costs_one_lstat(tmp_path: Path) -> None:
    """Through the console script's entry point, as pre-commit runs it, with the lint server
    client on and no server: no socket module is loaded (the client looked for a socket file
    and found none), and the lint runs in this process."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20\nUSER nobody\n")
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "sys.argv = ['scratchpack', 'lint', 'Dockerfile']\n"
        "from scratchpack.cli.entry import main\n"
        "sys.exit(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHPACK_LINT_SERVER"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        check=False, env={**env, "XDG_RUNTIME_DIR": str(runtime)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    modules = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "scratchpack.cli.lintserver" in modules  # the client did look
    assert "scratchpack.dockerfile.rules" in modules  # and linted here
    assert {"socket", "_socket"} & modules == set()


def test_a_warm_shellcheck_cache_runs_no_process_and_loads_no_runner(tmp_path: Path) -> None:
    """The second lint of an unchanged file finds ShellCheck's results in the cache: no
    ``subprocess`` or ``tempfile`` is imported (no ShellCheck process, no scripts written),
    and the findings, ShellCheck's among them, are the first run's."""
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM alpine:3.20\nRUN apk add --no-cache curl && echo $unset_var\nUSER nobody\n"
    )
    env = {**os.environ, "SCRATCHPACK_SHELLCHECK_CACHE": str(tmp_path / "cache")}
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "from scratchpack.cli.main import main\n"
        "sys.exit(main(['lint', '-f', 'json', 'Dockerfile']))\n"
    )
    command = [sys.executable, "-c", code]
    runs = [
        subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, env=env)
        for _ in range(2)
    ]
    cold, warm = ({*json.loads(p.stderr.strip().splitlines()[-1])} for p in runs)
    assert {"subprocess", "tempfile"} <= cold  # the first run did start ShellCheck
    assert {"subprocess", "tempfile"} & warm == set()
    assert runs[0].stdout == runs[1].stdout and '"SC2154"' in runs[1].stdout
