"""Lint rules: each finds one thing that makes an image big, unsafe, unreproducible or wrong.

A rule is a function from a parsed Dockerfile to findings, registered with a stable code
(``SP`` + number), a severity, a category, and the hadolint/dockle code it matches, if any.
Codes are grouped: SP1xx bases and the final stage, SP2xx size, SP3xx correctness,
SP4xx security, SP5xx static builds, SP6xx metadata (labels, HEALTHCHECK); SP341-SP355 are
BuildKit's ``docker build --check`` rules, each declaring BuildKit's name. Each has a page at
``docs/rules/SPxxx.md``.

One module per family (``bases``, ``packages``, ``cache``, ``correctness``, ``shell``,
``security``, ``static``, ``metadata`` for labels and HEALTHCHECK, ``buildkit`` for BuildKit's
own checks), each importing only :mod:`.core` and :mod:`.examples`; importing this package
registers every rule, so ``from scratchpack.dockerfile.rules import RULES`` sees them all.

Each rule is one unit with its doc source, as hadolint keeps a rule with its spec: right above
the ``@rule`` a function returns its :class:`RuleDoc` (why, a bad and a good Dockerfile, the
fix), passed as ``doc=`` and kept in ``DOC_SOURCES``. The bad and good examples are the rule's
fires / does-not-fire tests (``tests/test_lint.py``); the pages, ``--explain`` and SARIF help
are rendered from them by ``dockerfile/ruledocs.py``. A lint never calls these functions.
"""

from __future__ import annotations

from scratchpack.dockerfile.rules import (  # noqa: F401  (imported to register their rules)
    bases,
    buildkit,
    cache,
    correctness,
    metadata,
    packages,
    security,
    shell,
    static,
)
from scratchpack.dockerfile.rules.bases import OFFICIAL_NAMES
from scratchpack.dockerfile.rules.cache import GLOB_COMPARISONS
from scratchpack.dockerfile.rules.core import (
    DOC_SOURCES,
    RULES,
    Check,
    Finding,
    Rule,
    RuleDoc,
    apt_command,
    cache_mount,
    env_pairs,
    image_parts,
    is_stage_reference,
    rule,
    runs,
    shell_of,
    stage_env,
)
from scratchpack.dockerfile.rules.static import copied_into_final

# The order the rules run in and are listed in (``lint --explain``'s list of codes) stays the
# order they were written in before the rules became a package, so splitting them into family
# modules changes nothing observable; rules added since follow, in the order of the imports.
_WRITTEN = (
    "SP100", "SP101", "SP102", "SP103", "SP200", "SP201", "SP202", "SP203", "SP204", "SP205",
    "SP206", "SP300", "SP301", "SP302", "SP303", "SP304", "SP305", "SP400", "SP401", "SP402",
    "SP403", "SP404", "SP405", "SP104", "SP105", "SP106", "SP107", "SP207", "SP208", "SP500",
    "SP501", "SP502", "SP108", "SP209", "SP210", "SP211", "SP212", "SP406", "SP407", "SP503",
)  # fmt: skip
_ordered = {code: RULES[code] for code in _WRITTEN} | RULES
RULES.clear()
RULES.update(_ordered)

__all__ = [
    "DOC_SOURCES",
    "GLOB_COMPARISONS",
    "OFFICIAL_NAMES",
    "RULES",
    "Check",
    "Finding",
    "Rule",
    "RuleDoc",
    "apt_command",
    "cache_mount",
    "copied_into_final",
    "env_pairs",
    "image_parts",
    "is_stage_reference",
    "rule",
    "runs",
    "shell_of",
    "stage_env",
]
