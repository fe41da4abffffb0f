"""The rules package and individual rules beyond their documented examples: the package's
structure (family modules that import only the core), and the cases each rule must get
right, many taken from the kinds of case hadolint's own spec checks (our own examples)."""

from __future__ import annotations

import ast
from pathlib import Path

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
