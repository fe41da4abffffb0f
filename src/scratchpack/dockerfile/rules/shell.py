"""Rules on the shell scripts of RUN instructions."""

from __future__ import annotations

from collections.abc import Iterator

from scratchpack.dockerfile.model import Dockerfile
from scratchpack.dockerfile.rules.core import (
    Finding,
    Rule,
    rule,
    runs,
    shell_of,
)
from scratchpack.reports.severity import Severity


@rule("SP302", Severity.INFO, "maintainability", "cd in RUN instead of WORKDIR",
      hadolint=("DL3003",))  # fmt: skip
def cd_in_run(dockerfile: Dockerfile, meta: Rule) -> Iterator[Finding]:
    for _, run in runs(dockerfile):
        if any(cmd.name == "cd" for cmd in shell_of(run)):
            yield meta.finding("cd in RUN: use WORKDIR to change directory", run.line)
